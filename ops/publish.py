"""Publishing: a dataset's checked tables, made available under ``published/<kind>/<dataset>/``.

Consumers read only ``published/``; a dataset whose blocking checks fail keeps its previous
published version (or none), while ``clean/`` always holds the latest attempt. Every table is
written atomically, one at a time. The published tables of each kind are
:data:`ops.contracts.PUBLISHED`: the time-series ``windows.parquet`` is the windows joined with
their scores (the contract consumers have always read), the others are copies.
"""

from __future__ import annotations

from pathlib import Path

from ops.contracts import PUBLISHED, PUBLISHED_WINDOWS, Table
from ops.fileio import copy_file_atomic
from ops.tables import read_rated_windows, write_table


def publish_tables(clean_dir: Path, published_dir: Path, tables: tuple[Table, ...]) -> list[Path]:
    """Publish each of ``tables`` found in ``clean_dir``; returns the published paths."""
    out = []
    for table in tables:
        if not (clean_dir / table.file).is_file():
            continue
        if table is PUBLISHED_WINDOWS:
            out.append(write_table(read_rated_windows(clean_dir), published_dir, table))
        else:
            out.append(copy_file_atomic(clean_dir / table.file, published_dir / table.file))
    if not out:
        names = [t.file for t in tables]
        raise FileNotFoundError(f"nothing to publish: none of {names} in {clean_dir}")
    return out


def publish_dataset(kind: str, clean_dir: Path, published_dir: Path) -> list[Path]:
    """Publish the contract's tables of a ``kind`` dataset (see :data:`PUBLISHED`)."""
    return publish_tables(clean_dir, published_dir, PUBLISHED[kind])
