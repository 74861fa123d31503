"""Atomic Parquet writes: a crash never leaves a half-written file behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import polars as pl


def write_parquet_atomic(frame: pl.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` to ``path`` through a temporary file in the same folder, then rename.

    ``os.replace`` is atomic on POSIX within one filesystem, so readers see either the old
    file or the complete new one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        frame.write_parquet(tmp_name)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target
