from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from ops.tsrating.windows import WindowConfig, make_windows, window_starts, window_values


def _points(n, sid="s", drop=(), nulls=()):
    ts = [datetime(2024, 1, 1) + timedelta(hours=i) for i in range(n) if i not in drop]
    vals = [None if i in nulls else float(i) for i in range(n) if i not in drop]
    return pl.DataFrame({"series_id": sid, "timestamp": ts, "value": vals})


def test_starts_cover_every_point():
    cfg = WindowConfig(length=10, stride=4)
    assert window_starts(23, cfg) == [0, 4, 8, 12, 13]
    assert window_starts(10, cfg) == [0]
    assert window_starts(3, cfg) == [0]
    assert window_starts(0, cfg) == []


def test_windows_count_missing_values_and_gaps():
    points = _points(20, drop={5, 6}, nulls={2})
    w = make_windows(points, WindowConfig(length=8, stride=8))
    first = w.row(0, named=True)
    assert first["n_points"] == 8 and first["window_id"] == "s#0"
    assert first["n_missing"] == 1 + 2  # one null value, two absent hourly points
    assert w["n_points"].to_list() == [8, 8, 8]  # 18 points → starts 0, 8, 10


def test_window_values_shape_order_and_padding():
    points = pl.concat([_points(12, "a"), _points(5, "b")])
    w = make_windows(points, WindowConfig(length=8, stride=4))
    vals = window_values(points, w, 8)
    assert vals.shape == (w.height, 8)
    row_b = w["series_id"].to_list().index("b")
    assert np.isnan(vals[row_b, 5:]).all() and vals[row_b, :5].tolist() == [0, 1, 2, 3, 4]
    assert vals[1].tolist() == list(map(float, range(4, 12)))


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="stride"):
        WindowConfig(length=8, stride=9)
    with pytest.raises(ValueError, match="length"):
        WindowConfig(length=1, stride=1)


def _frame(ts, sid="s"):
    return pl.DataFrame(
        {"series_id": sid, "timestamp": ts, "value": np.arange(len(ts), dtype=float)}
    )


def test_schedule_gaps_are_not_missing_data():
    days = [datetime(2024, 1, 1) + timedelta(days=i) for i in range(400)]
    trading = [d for d in days if d.weekday() < 5]  # weekends closed: a schedule
    w = make_windows(_frame(trading), WindowConfig(length=64, stride=64))
    assert w["n_missing"].sum() == 0
    outage = [d for d in trading if not datetime(2024, 3, 4) <= d <= datetime(2024, 3, 6)]
    w = make_windows(_frame(outage), WindowConfig(length=64, stride=64))
    # a one-off Monday-Wednesday outage still counts, with the weekend its step spans (Fri→Thu)
    assert w["n_missing"].sum() == 5
    hours = [d + timedelta(hours=h) for d in trading for h in range(9, 18)]  # business hours
    assert make_windows(_frame(hours), WindowConfig(length=128, stride=64))["n_missing"].sum() == 0


def test_random_dropouts_stay_missing():
    rng = np.random.default_rng(0)
    hours = [datetime(2024, 1, 1) + timedelta(hours=i) for i in range(2000)]
    drop = set(rng.choice(np.arange(1, 1999), 100, replace=False).tolist())
    ts = [t for i, t in enumerate(hours) if i not in drop]
    w = make_windows(_frame(ts), WindowConfig(length=len(ts), stride=len(ts)))  # one window
    assert w["n_missing"].to_list() == [100]
