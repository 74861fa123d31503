"""Every writer honours the process umask (issue 15: Parquet files were 0600 under umask 022,
unreadable for a consumer in another account). ``make run`` end to end: the slow test in
test_make_run_hostile.py."""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager

import numpy as np
import polars as pl
import pytest

from ops.contracts import LABELS, SELECTED
from ops.fileio import write_json_atomic, write_parquet_atomic, write_text_atomic
from ops.publish import publish_tables
from ops.tsrating.cache import JudgmentCache


@contextmanager
def _umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize(
    "mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)]
)
def test_writers_honour_the_umask(tmp_path, mask, file_mode, dir_mode):
    with _umask(mask):
        clean = tmp_path / "clean"
        write_parquet_atomic(
            pl.DataFrame({"run_id": ["r"], "x": [1.0]}), clean / "selected.parquet"
        )
        write_parquet_atomic(pl.DataFrame({"run_id": ["r"]}), clean / "labels.parquet")
        write_json_atomic(clean / "summary.json", {"a": 1})
        write_text_atomic(clean / "r.html", "<p>")
        publish_tables(clean, tmp_path / "published" / "ds", (SELECTED, LABELS))
        cache = JudgmentCache(tmp_path / "cache" / "judgments.sqlite")
        cache.put_many({"k": {"prob_second": float(np.float64(0.5))}})
    checked = 0
    for p in tmp_path.rglob("*"):
        if p.is_symlink():
            continue
        mode = stat.S_IMODE(p.lstat().st_mode)
        expected = dir_mode if p.is_dir() else file_mode
        assert mode == expected, f"{p.relative_to(tmp_path)}: {oct(mode)} != {oct(expected)}"
        checked += 1
    assert checked >= 10
