import shutil
from pathlib import Path

import polars as pl
import pytest

from ops.checks import CHECKS, Thresholds, run_check

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _check(kind, name):
    return next(c for c in CHECKS if c.kind == kind and c.name == name)


def _labels(**over):
    base = {
        "image": ["a.png", "b.png", "c.png"],
        "given_label": ["x", "y", "x"],
        "clean_label": ["x", "y", "y"],
        "label_quality": [0.9, 0.8, 0.1],
        "is_label_issue": [False, False, True],
        "action": ["kept", "kept", "relabeled"],
        "method": ["m"] * 3,
        "trusted": [True, False, False],
        "split": ["train", "test", "train"],
        "prob_x": [0.9, 0.2, 0.1],
        "prob_y": [0.1, 0.8, 0.9],
        "quarantine_reason": pl.Series([None] * 3, dtype=pl.String),
        "run_id": ["r"] * 3,
    }
    return pl.DataFrame(base | over)


def test_thresholds_validate():
    with pytest.raises(ValueError, match="max_quarantine_share"):
        Thresholds(max_quarantine_share=1.5)


def test_every_check_has_a_unique_name_per_kind():
    keys = [(c.kind, c.name) for c in CHECKS]
    assert len(keys) == len(set(keys))
    assert {c.kind for c in CHECKS} == {"timeseries", "images"}


def test_good_labels_pass_and_broken_ones_fail(tmp_path):
    _labels().write_parquet(tmp_path / "labels.parquet")
    for name in ("labels_schema", "score_ranges", "protected_rows_unchanged"):
        assert run_check(_check("images", name), tmp_path, tmp_path, Thresholds()).passed, name
    _labels(label_quality=[0.9, 1.7, 0.1]).write_parquet(tmp_path / "labels.parquet")
    out = run_check(_check("images", "score_ranges"), tmp_path, tmp_path, Thresholds())
    assert not out.passed and out.metadata["out_of_range"] == {"label_quality": 1}
    _labels(clean_label=["y", "y", "y"]).write_parquet(tmp_path / "labels.parquet")
    out = run_check(_check("images", "protected_rows_unchanged"), tmp_path, tmp_path, Thresholds())
    assert not out.passed and out.metadata["examples"] == ["a.png"]
    _labels().drop("method").write_parquet(tmp_path / "labels.parquet")
    out = run_check(_check("images", "labels_schema"), tmp_path, tmp_path, Thresholds())
    assert not out.passed and out.metadata["problems"] == ["missing column method"]


def test_label_issue_share_warns_over_threshold(tmp_path):
    _labels().write_parquet(tmp_path / "labels.parquet")  # the one pool row is flagged
    t = Thresholds(max_label_issue_share=1.0)
    assert run_check(_check("images", "label_issue_share"), tmp_path, tmp_path, t).passed
    assert not run_check(
        _check("images", "label_issue_share"),
        tmp_path,
        tmp_path,
        Thresholds(max_label_issue_share=0.2),
    ).passed


def test_label_shares_are_over_the_scored_pool_only(tmp_path):
    # issue 12: trusted and test rows used to be in the denominator, so a 40 % pool drop hid
    # behind them. Here 2 of 4 pool rows are dropped and 3 flagged; 6 protected rows are clean
    n_prot = 6
    _labels(
        image=[f"{i}.png" for i in range(10)],
        given_label=["x"] * 10,
        clean_label=["x"] * 10,
        label_quality=[0.5] * 10,
        is_label_issue=[False] * n_prot + [True, True, True, False],
        action=["kept"] * n_prot + ["dropped", "dropped", "kept", "kept"],
        method=["m"] * 10,
        trusted=[True] * 3 + [False] * 7,
        split=["train"] * 3 + ["test"] * 3 + ["train"] * 4,
        prob_x=[0.5] * 10,
        prob_y=[0.5] * 10,
        quarantine_reason=pl.Series([None] * 10, dtype=pl.String),
        run_id=["r"] * 10,
    ).write_parquet(tmp_path / "labels.parquet")
    issues = run_check(_check("images", "label_issue_share"), tmp_path, tmp_path, Thresholds())
    assert issues.metadata["label_issue_rate"] == 0.75 and issues.metadata["scored_rows"] == 4
    assert not issues.passed
    dropped = run_check(_check("images", "dropped_share"), tmp_path, tmp_path, Thresholds())
    assert dropped.metadata["dropped_share"] == 0.5 and not dropped.passed
    t = Thresholds(max_label_issue_share=0.8, max_dropped_share=0.5)
    assert run_check(_check("images", "dropped_share"), tmp_path, tmp_path, t).passed


def test_missing_table_is_a_failed_check_not_a_crash(tmp_path):
    out = run_check(_check("timeseries", "windows_schema"), tmp_path, tmp_path, Thresholds())
    assert not out.passed and "windows.parquet" in out.metadata["error"]


def test_timeseries_accounting_catches_lost_points(tmp_path):
    from ops.ingest.timeseries import ingest_timeseries

    raw = tmp_path / "raw"
    shutil.copytree(FIXTURES / "bad_timeseries", raw)
    res = ingest_timeseries(raw)
    clean = tmp_path / "clean"
    clean.mkdir()
    res.files_frame().write_parquet(clean / "files.parquet")
    res.quarantine.write_parquet(clean / "quarantine.parquet")
    res.points.write_parquet(clean / "points.parquet")
    check = _check("timeseries", "row_accounting")
    assert run_check(check, raw, clean, Thresholds()).passed
    res.points.slice(1).write_parquet(clean / "points.parquet")
    out = run_check(check, raw, clean, Thresholds())
    assert not out.passed and len(out.metadata["files_with_mismatch"]) == 1
    (raw / "late.csv").write_text("timestamp,value\n2024-01-01,1\n")
    assert run_check(check, raw, clean, Thresholds()).metadata["files_not_read"] == ["late.csv"]
