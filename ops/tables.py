"""Read and write the contract's tables (:mod:`ops.contracts`) in a dataset folder.

Writers go through :func:`write_table`: the frame is checked against its spec, then written
atomically. The scores live in their own table; :func:`read_rated_windows` joins them onto the
windows for the readers that want both (selection, the report, publishing).
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from ops.contracts import RATING_COLUMNS, SCORES, WINDOWS, Table
from ops.fileio import write_parquet_atomic

RATING_NAMES = tuple(c.name for c in RATING_COLUMNS)


def table_path(folder: str | os.PathLike, table: Table) -> Path:
    return Path(folder) / table.file


def write_table(frame: pl.DataFrame, folder: str | os.PathLike, table: Table) -> Path:
    """Check ``frame`` against ``table`` (``ValueError`` if it falls short), then write it
    atomically."""
    return write_parquet_atomic(table.validate(frame), table_path(folder, table))


def read_table(
    folder: str | os.PathLike, table: Table, columns: list[str] | None = None
) -> pl.DataFrame:
    return pl.read_parquet(table_path(folder, table), columns=columns)


def join_scores(windows: pl.DataFrame, scores: pl.DataFrame) -> pl.DataFrame:
    """``windows`` with the rating columns of ``scores`` (left join on ``window_id``; the windows'
    row order and ``run_id`` are kept). Rating columns already in ``windows`` (files written
    before the scores had their own table) are replaced."""
    rating = [c for c in RATING_NAMES if c in scores.columns]
    return windows.drop(RATING_NAMES, strict=False).join(
        scores.select("window_id", *rating), on="window_id", how="left", maintain_order="left"
    )


def read_rated_windows(folder: str | os.PathLike) -> pl.DataFrame:
    """``windows.parquet`` joined with ``scores.parquet`` when the windows were rated."""
    windows = read_table(folder, WINDOWS)
    if not table_path(folder, SCORES).is_file():
        return windows
    return join_scores(windows, read_table(folder, SCORES))
