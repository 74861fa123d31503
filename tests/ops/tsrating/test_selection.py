"""Selection: top-k % windows by quality, and exactly the points they cover."""

from datetime import datetime, timedelta

import polars as pl
import pytest

from ops.tsrating.selection import points_of_windows, select_points, top_windows


def _points():
    t0 = datetime(2024, 1, 1)
    rows = [
        {"series_id": s, "timestamp": t0 + timedelta(hours=i), "value": float(i), "source_row": i}
        for s, n in (("a", 10), ("b", 6))
        for i in range(n)
    ]
    return pl.DataFrame(rows).sample(fraction=1.0, shuffle=True, seed=1)


def _windows():
    return pl.DataFrame(
        {
            "window_id": ["a#0", "a#4", "a#6", "b#0"],
            "series_id": ["a", "a", "a", "b"],
            "start_index": [0, 4, 6, 0],
            "n_points": [4, 4, 4, 6],
            "quality_score": [0.9, 0.1, 0.8, 0.5],
            "quality_rank": [1, 4, 2, 3],
        }
    )


def test_top_windows_ceil_and_validation():
    w = _windows()
    assert top_windows(w, 50)["window_id"].to_list() == ["a#0", "a#6"]
    assert top_windows(w, 1)["window_id"].to_list() == ["a#0"]
    assert top_windows(w, 0).height == 0 and top_windows(w, 100).height == 4
    with pytest.raises(ValueError):
        top_windows(w, 101)


def test_selected_points_are_exactly_the_top_windows_points():
    pts, w = _points(), _windows()
    sel, chosen = select_points(pts, w, 50)
    assert sel.columns == pts.columns
    got = sorted(zip(sel["series_id"], sel["source_row"], strict=True))
    assert got == [("a", i) for i in [0, 1, 2, 3, 6, 7, 8, 9]]
    # overlapping windows: each point once
    both = points_of_windows(pts, w.filter(pl.col("series_id") == "a"))
    assert both.height == 10 and both["source_row"].n_unique() == 10
    assert points_of_windows(pts, w.head(0)).height == 0
