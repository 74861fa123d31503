"""A series reported at a coarser cadence than its table: empty cells between reports are
padding (quarantined by design), not missing data; irregular sparse series keep theirs."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from ops.ingest.timeseries import ingest_timeseries
from ops.tsrating.windows import make_windows


def _table(tmp_path, n=300):
    t0 = datetime(2023, 1, 1, 0, 52)
    rows = ["DATE,temp,tendency,gust"]
    rng = np.random.default_rng(0)
    for i in range(n):
        tendency = str(i % 7) if i % 3 == 2 and i != 98 else ""  # 3-hourly; one report missing
        gust = str(20 + i % 5) if rng.random() < 0.1 else ""  # only when gusty: irregular
        rows.append(f"{(t0 + timedelta(hours=i)).isoformat()},{i * 0.1:.1f},{tendency},{gust}")
    (tmp_path / "station.csv").write_text("\n".join(rows) + "\n")
    return ingest_timeseries(tmp_path)


def test_coarser_cadence_padding_is_quarantined_by_design(tmp_path):
    r = _table(tmp_path)
    assert r.records_in == r.points.height + r.quarantine.height == 900
    pad = r.quarantine.filter(pl.col("reason") == "cadence_padding")
    assert set(pad["item"]) == {"tendency"} and pad.height == 200  # 2 of every 3 hours
    tendency = r.points.filter(pl.col("series_id") == "tendency")
    assert tendency.height == 100 and tendency["value"].null_count() == 1  # the missed report
    gust = r.points.filter(pl.col("series_id") == "gust")
    assert gust.height == 300 and gust["value"].null_count() > 250  # irregular: still missing
    w = make_windows(tendency)
    assert w["n_missing"].sum() == 1  # windows of the 3-hourly series are not "mostly missing"


def test_padding_does_not_count_against_the_quarantine_check(tmp_path):
    from ops.checks import Thresholds, check_ts_quarantine
    from ops.contracts import FILES, TIMESERIES_QUARANTINE

    raw, clean = tmp_path / "raw", tmp_path / "clean"
    raw.mkdir()
    clean.mkdir()
    r = _table(raw)
    r.files_frame().write_parquet(clean / FILES.file)
    r.quarantine.write_parquet(clean / TIMESERIES_QUARANTINE.file)
    out = check_ts_quarantine(tmp_path / "raw", clean, Thresholds(max_quarantine_share=0.01))
    assert out.passed and out.metadata["quarantined"] == 0
