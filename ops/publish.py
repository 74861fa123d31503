"""Publishing: a dataset's checked tables, made available under ``published/<kind>/<dataset>/``.

Consumers read only ``published/``; a dataset whose blocking checks fail keeps its previous
published version (or none), while ``clean/`` always holds the latest attempt. The published
tables of each kind are :data:`ops.contracts.PUBLISHED`: the time-series ``windows.parquet`` is
the windows joined with their scores (the contract consumers have always read), the others are
copies. The mechanism is generic over the table list: :func:`publish_tables` publishes any
tuple of contract tables.

**Atomic per dataset.** A publish never writes into the folder readers use. It builds a new
*version* folder ``published/<kind>/.versions/<dataset>/<version>/`` (every table written
atomically, fsynced), then switches the pointer ``published/<kind>/<dataset>`` -- a relative
symlink -- to it with one ``rename(2)`` of a freshly made symlink over the old one. A reader
that opens ``published/<kind>/<dataset>/<file>`` therefore sees a file of the old set or of
the new set, never a half-written one; a reader that needs several files of *one* set resolves
the pointer once (:func:`resolve_published`, or ``os.path.realpath``) and reads under that
folder. A process killed mid-publish leaves the pointer on the old set and an unfinished
``.tmp-*`` folder, which the next publish of that dataset removes (under a per-dataset
``flock``, so two concurrent publishes never remove each other's work); temporary files of
killed atomic writes in the dataset's ``clean/`` folder older than an hour are removed too.
The newest :data:`KEEP_VERSIONS` versions are kept so that a reader still inside the previous
set is not cut off; older ones are deleted. A ``published/<kind>/<dataset>`` that is still a
plain folder (the layout before versioning) is moved into ``.versions`` as version ``legacy``
once.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from ops.contracts import PUBLISHED, PUBLISHED_WINDOWS, Table
from ops.fileio import copy_file_atomic, remove_stale_temp_files
from ops.tables import read_rated_windows, write_table

VERSIONS_DIR = ".versions"
TMP_PREFIX = ".tmp-"
KEEP_VERSIONS = 2  # the current set and the one before it
STALE_CLEAN_TEMP_S = 3600.0  # temp files in clean/ older than this belong to a killed writer


def versions_dir(published_dir: Path) -> Path:
    """``published/<kind>/.versions/<dataset>/``: every version of one dataset."""
    return published_dir.parent / VERSIONS_DIR / published_dir.name


def resolve_published(published_dir: str | os.PathLike) -> Path | None:
    """The version folder ``published_dir`` points to now (``None`` when nothing is
    published). Read every file of one consistent set under the returned folder."""
    path = Path(published_dir)
    if not path.exists():
        return None
    return path.resolve()


@contextmanager
def _dataset_lock(vdir: Path) -> Iterator[None]:
    vdir.mkdir(parents=True, exist_ok=True)
    with open(vdir / ".lock", "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _new_version_name() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}-{secrets.token_hex(3)}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _switch_pointer(published_dir: Path, target: Path) -> None:
    """Point ``published_dir`` (a symlink) at ``target`` with one atomic rename."""
    rel = os.path.relpath(target, published_dir.parent)
    tmp_link = published_dir.parent / f".{published_dir.name}.{secrets.token_hex(4)}.link.tmp"
    os.symlink(rel, tmp_link)
    try:
        os.replace(tmp_link, published_dir)
    except BaseException:
        tmp_link.unlink(missing_ok=True)
        raise
    _fsync_dir(published_dir.parent)


def _adopt_legacy_folder(published_dir: Path, vdir: Path) -> None:
    """Move a pre-versioning plain ``published/<kind>/<dataset>/`` folder into ``.versions``
    and point at it, so the next switch can be one rename."""
    if published_dir.is_symlink() or not published_dir.is_dir():
        return
    remove_stale_temp_files(published_dir)  # partial copies of a killed unversioned publish
    legacy = vdir / "legacy"
    if legacy.exists():
        shutil.rmtree(legacy)
    os.replace(published_dir, legacy)
    _switch_pointer(published_dir, legacy)


def _clean_versions(vdir: Path, current: Path) -> list[Path]:
    """Remove unfinished ``.tmp-*`` folders and all but the newest versions (never
    ``current``); returns what was removed."""
    removed = []
    for p in vdir.iterdir():
        if p.is_dir() and p.name.startswith(TMP_PREFIX):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    finished = sorted(
        (p for p in vdir.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: (p.stat().st_mtime, p.name),
        reverse=True,
    )
    for p in finished[KEEP_VERSIONS:]:
        if p.resolve() != current.resolve():
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    for p in published_dir_link_temps(vdir):
        p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def published_dir_link_temps(vdir: Path) -> list[Path]:
    """Leftover temporary pointer links of a killed switch for the dataset of ``vdir``."""
    kind_dir, name = vdir.parent.parent, vdir.name
    return [p for p in kind_dir.glob(f".{name}.*.link.tmp") if p.is_symlink() or p.is_file()]


def _write_tables(clean_dir: Path, dest: Path, tables: tuple[Table, ...]) -> list[str]:
    written = []
    for table in tables:
        if not (clean_dir / table.file).is_file():
            continue
        if table is PUBLISHED_WINDOWS:
            write_table(read_rated_windows(clean_dir), dest, table)
        else:
            copy_file_atomic(clean_dir / table.file, dest / table.file)
        written.append(table.file)
    return written


def publish_tables(clean_dir: Path, published_dir: Path, tables: tuple[Table, ...]) -> list[Path]:
    """Publish each of ``tables`` found in ``clean_dir`` as one new version of
    ``published_dir`` (see the module docstring); returns the published paths, under
    ``published_dir``."""
    clean_dir, published_dir = Path(clean_dir), Path(published_dir)
    remove_stale_temp_files(clean_dir, older_than_s=STALE_CLEAN_TEMP_S)
    vdir = versions_dir(published_dir)
    with _dataset_lock(vdir):
        if published_dir.is_symlink() or published_dir.exists():
            _adopt_legacy_folder(published_dir, vdir)
        current = resolve_published(published_dir)
        _clean_versions(vdir, current or vdir)
        name = _new_version_name()
        building = vdir / f"{TMP_PREFIX}{name}"
        building.mkdir(parents=True)
        try:
            written = _write_tables(clean_dir, building, tables)
            if not written:
                names = [t.file for t in tables]
                raise FileNotFoundError(f"nothing to publish: none of {names} in {clean_dir}")
            final = vdir / name
            os.replace(building, final)
            _fsync_dir(vdir)
            _switch_pointer(published_dir, final)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        _clean_versions(vdir, final)
    return [published_dir / f for f in written]


def publish_dataset(kind: str, clean_dir: Path, published_dir: Path) -> list[Path]:
    """Publish the contract's tables of a ``kind`` dataset (see :data:`PUBLISHED`)."""
    return publish_tables(clean_dir, published_dir, PUBLISHED[kind])
