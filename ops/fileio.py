"""Atomic file writes: a crash never leaves a half-written file where a reader looks.

Every writer goes through :func:`atomic_write`: the content is written to a temporary file
in the target's folder, flushed, given the permissions a plain ``open()`` would have given it
(``0o666`` minus the process umask -- ``mkstemp`` alone makes ``0600`` files that other
accounts cannot read), then renamed over the target. ``os.replace`` is atomic on POSIX
within one filesystem, so readers see the old file or the complete new one. Temporary files
are named ``.<name>.<random>.tmp`` so that :func:`remove_stale_temp_files` can find leftovers
of a killed process.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

TEMP_SUFFIX = ".tmp"


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux ``/proc``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # portable fallback: read by setting, then restore at once
    os.umask(mask)
    return mask


def atomic_write(
    path: str | os.PathLike, write: Callable[[IO[Any]], None], *, binary: bool = True
) -> Path:
    """Create ``path`` atomically: ``write(fh)`` fills a temporary file that then replaces it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent)
    try:
        with os.fdopen(
            fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})
        ) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda fh: fh.write(data))


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda fh: fh.write(text), binary=False)


def write_json_atomic(path: str | os.PathLike, obj: object, **dumps_kwargs: Any) -> Path:
    """``json.dumps(obj, **dumps_kwargs)`` written atomically (``default=str`` unless given)."""
    dumps_kwargs.setdefault("default", str)
    return write_text_atomic(path, json.dumps(obj, **dumps_kwargs))


def write_parquet_atomic(frame: Any, path: str | os.PathLike) -> Path:
    """Write a polars DataFrame to ``path`` atomically."""
    return atomic_write(path, frame.write_parquet)


def copy_file_atomic(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy ``src`` to ``dst`` atomically (readers of ``dst`` never see a partial copy)."""

    def _copy(fh: IO[bytes]) -> None:
        with open(src, "rb") as inp:
            shutil.copyfileobj(inp, fh)

    return atomic_write(dst, _copy)


def remove_stale_temp_files(
    folder: str | os.PathLike, older_than_s: float | None = None
) -> list[Path]:
    """Delete ``.<name>.*.tmp`` leftovers of interrupted atomic writes in ``folder``; with
    ``older_than_s``, only those not modified for that long (a live writer's file is young)."""
    base = Path(folder)
    if not base.is_dir():
        return []
    cutoff = None if older_than_s is None else time.time() - older_than_s
    stale = [
        p
        for p in base.glob(f".*{TEMP_SUFFIX}")
        if p.is_file() and (cutoff is None or p.stat().st_mtime < cutoff)
    ]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale
