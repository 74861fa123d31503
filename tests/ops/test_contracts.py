"""ops.contracts: the specs describe the tables the writers produce, and catch what is off."""

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from ops.contracts import (
    LABELS,
    PUBLISHED,
    PUBLISHED_WINDOWS,
    RATING_COLUMNS,
    SCORE_COLUMNS,
    SCORES,
    SIDE_FILES,
    TABLES,
    WINDOWS,
)
from ops.tables import join_scores, read_rated_windows, write_table

REPO = Path(__file__).resolve().parents[2]


def test_importing_the_contract_imports_nothing_heavy():
    code = "import sys, ops.contracts; print([m for m in ('polars', 'numpy') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_every_column_is_described_and_typed():
    for table in TABLES + (PUBLISHED_WINDOWS,):
        assert table.file.endswith(".parquet") and table.description and table.writer
        for c in table.columns:
            assert c.description, f"{table.key}.{c.name}"
            c.polars_dtype()  # a known dtype
    assert all(f.file.endswith((".json", ".pt")) and f.description for f in SIDE_FILES)


def test_scores_and_published_windows_are_the_windows_split_and_joined():
    rating = tuple(c.name for c in RATING_COLUMNS)
    assert SCORES.names == ("window_id", *rating, "run_id")
    assert PUBLISHED_WINDOWS.names == (*WINDOWS.names, *rating)
    assert set(SCORE_COLUMNS) <= set(rating)
    assert PUBLISHED_WINDOWS in PUBLISHED["timeseries"] and LABELS in PUBLISHED["images"]


def _windows(n=3):
    return pl.DataFrame(
        {
            "window_id": [f"s#{i}" for i in range(n)],
            "series_id": ["s"] * n,
            "start_index": list(range(n)),
            "window_start": pl.Series([None] * n, dtype=pl.Datetime("us")),
            "window_end": pl.Series([None] * n, dtype=pl.Datetime("us")),
            "n_points": [2] * n,
            "n_missing": [0] * n,
            "mean": [0.0] * n,
            "std": [0.0] * n,
            "min": [0.0] * n,
            "max": [0.0] * n,
            "run_id": ["r"] * n,
        }
    )


def test_validate_names_what_is_off(tmp_path):
    w = _windows()
    assert WINDOWS.validate(w) is w
    with pytest.raises(ValueError, match="missing column mean"):
        WINDOWS.validate(w.drop("mean"))
    with pytest.raises(ValueError, match="n_points is String"):
        WINDOWS.validate(w.with_columns(pl.col("n_points").cast(pl.String)))
    with pytest.raises(ValueError, match="1 repeated window_id"):
        WINDOWS.validate(pl.concat([w, w.head(1)]))
    with pytest.raises(ValueError):
        write_table(w.drop("mean"), tmp_path, WINDOWS)
    assert not list(tmp_path.iterdir())  # nothing written


def test_rated_windows_join_keeps_window_order_and_run_id(tmp_path):
    w = _windows(4)
    scores = pl.DataFrame(
        {
            "window_id": ["s#2", "s#0", "s#3", "s#1"],
            **{c: [0.1, 0.2, 0.3, 0.4] for c in SCORE_COLUMNS},
            "quality_rank": [4, 3, 2, 1],
            "is_low_quality_issue": [True, False, False, False],
            "p_fault": [0.9, 0.1, 0.1, 0.1],
            "missing_share": [0.0] * 4,
            "selectable": [True] * 4,
            "rater_version": ["v"] * 4,
            "judge_model": ["m"] * 4,
            "judge_kind": ["self-supervised"] * 4,
            "run_id": ["other run"] * 4,
        }
    )
    write_table(w, tmp_path, WINDOWS)
    assert read_rated_windows(tmp_path).equals(w)  # not rated yet: the windows alone
    write_table(scores, tmp_path, SCORES)
    rated = read_rated_windows(tmp_path)
    assert rated.columns == list(PUBLISHED_WINDOWS.names)
    assert rated["window_id"].to_list() == w["window_id"].to_list()
    assert rated["run_id"].to_list() == ["r"] * 4
    assert rated["quality_rank"].to_list() == [3, 1, 4, 2]
    # windows written before the split carried the scores themselves: they are replaced
    assert join_scores(rated, scores).equals(rated)
