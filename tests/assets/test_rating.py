"""timeseries_scores / timeseries_selected through Dagster on a temporary instance and a tiny
dataset."""

import json
from datetime import datetime, timedelta

import dagster as dg
import numpy as np
import polars as pl
import pytest

from assets.partitions import timeseries_datasets
from assets.resources import QualityThresholds, SieveSettings
from ops.contracts import PUBLISHED_WINDOWS, SCORES, WINDOWS
from ops.tables import read_rated_windows
from pipelines.definitions import defs


def _write_dataset(root, name="tiny"):
    rng = np.random.default_rng(0)
    t0 = datetime(2024, 1, 1)
    rows = []
    for s, kind in enumerate(["sine", "noise", "trend"]):
        n = 640
        t = np.arange(n)
        v = {
            "sine": 5 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.3, n),
            "noise": rng.normal(0, 1, n),
            "trend": 0.05 * t + rng.normal(0, np.linspace(0.1, 5, n)),
        }[kind]
        v[rng.choice(n, 5, replace=False)] += 30  # a few spikes
        if kind == "sine":
            v[200:300] = np.nan  # a gap: windows over it are > 50 % missing
        rows += [
            {
                "series_id": f"s{s}",
                "timestamp": (t0 + timedelta(hours=int(i))).isoformat(),
                "value": None if np.isnan(x) else float(x),
            }
            for i, x in zip(t, v, strict=True)
        ]
    folder = root / "raw" / "timeseries" / name
    folder.mkdir(parents=True)
    pl.DataFrame(rows).write_csv(folder / "series.csv")


def _run(root, instance, run_config):
    return defs.resolve_job_def("timeseries_job").execute_in_process(
        partition_key="tiny",
        instance=instance,
        run_config=run_config,
        raise_on_error=False,
        resources={
            "settings": SieveSettings(data_dir=str(root)),
            "thresholds": QualityThresholds(),
        },
    )


@pytest.fixture(scope="module")
def rated(tmp_path_factory):
    root = tmp_path_factory.mktemp("rating")
    _write_dataset(root)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(timeseries_datasets.name, ["tiny"])
        res = _run(
            root,
            instance,
            {
                "ops": {
                    "timeseries_windows": {"config": {"length": 128, "stride": 16}},
                    "timeseries_scores": {"config": {"ft_steps": 60, "max_ss_windows": 400}},
                    "timeseries_selected": {"config": {"top_percent": 30.0}},
                }
            },
        )
    return root, res


def test_scores_columns_ranges_and_metadata(rated):
    root, res = rated
    assert res.success
    checks = {e.check_name: e.passed for e in res.get_asset_check_evaluations()}
    assert checks and all(checks.values()), checks
    clean = root / "clean" / "timeseries" / "tiny"
    # each asset owns its table: windows without scores, scores keyed by window_id
    assert pl.read_parquet(clean / "windows.parquet").columns == list(WINDOWS.names)
    scores = pl.read_parquet(clean / "scores.parquet")
    assert scores.columns == list(SCORES.names)
    # consumers read the published windows: the two joined, in window order
    w = pl.read_parquet(root / "published" / "timeseries" / "tiny" / "windows.parquet")
    assert w.columns == list(PUBLISHED_WINDOWS.names)
    assert w["window_id"].to_list() == scores["window_id"].to_list()
    for c in (
        "window_id",
        "series_id",
        "start_index",
        "n_points",
        "mean",
        "run_id",
        "trend_score",
        "frequency_score",
        "amplitude_score",
        "pattern_score",
        "quality_score",
        "quality_rank",
        "is_low_quality_issue",
        "rater_version",
        "judge_model",
    ):
        assert c in w.columns, c
    for c in ("trend_score", "frequency_score", "amplitude_score", "pattern_score"):
        assert w[c].is_between(0, 1).all() and w[c].n_unique() > 1, c
    assert w["quality_score"].is_between(0, 1).all() and w["quality_score"].n_unique() > 1
    assert sorted(w["quality_rank"]) == list(range(1, w.height + 1))
    assert w.sort("quality_rank")["quality_score"].is_sorted(descending=True)
    # coverage rule: > 50 % missing -> score 0, flagged, never selectable
    sparse = w.filter(pl.col("missing_share") > 0.5)
    assert sparse.height >= 2
    assert sparse["is_low_quality_issue"].all() and not sparse["selectable"].any()
    assert (sparse["quality_score"] == 0).all()
    # calibrated flags: not a fixed share of the dataset
    assert w["is_low_quality_issue"].sum() < 0.5 * w.height
    assert w["judge_model"].unique().to_list() == ["rubric-v1"]
    assert w["judge_kind"].unique().to_list() == ["self-supervised"]
    j = pl.read_parquet(clean / "judgments.parquet")
    assert j["judge_kind"].unique().to_list() == ["rubric-surrogate"]
    meta = res.asset_materializations_for_node("timeseries_scores")[0].metadata
    assert meta["judge_kind"].value == "rubric-surrogate"
    assert meta["init"].value.startswith("quality-net-")
    assert "kept step" in meta["fine_tune"].value
    assert "0.25·checkpoint + 0.75·fine-tuned" in meta["fine_tune"].value
    thr = meta["calibration_threshold"].value
    finite = bool(np.isfinite(float(thr)))
    assert ("flag r <" if finite else "no quality threshold") in meta["calibration"].value
    assert int(meta["windows_over_max_missing"].value.replace(",", "")) == sparse.height
    report = json.loads((clean / "rater_report.json").read_text())
    for c in ("trend", "frequency", "amplitude", "pattern"):
        agree = report["judge_agreement"][c]
        assert agree["n_train"] >= 20 and agree["n_heldout_all"] >= 1, agree
        acc = agree["heldout_accuracy_confident"]  # window-disjoint held-out pairs: few here
        assert acc is None or 0.0 <= acc <= 1.0, agree
        if agree["n_heldout_confident"] >= 10:
            assert acc > 0.5, agree
    assert report["self_supervised"]["pairs"]["same_ctx"]["n"] > 0


def test_selected_is_exactly_the_points_of_the_top_windows(rated):
    root, res = rated
    clean = root / "clean" / "timeseries" / "tiny"
    w = read_rated_windows(clean)
    pts = pl.read_parquet(clean / "points.parquet")
    sel = pl.read_parquet(clean / "selected.parquet")
    assert sel.columns == pts.columns
    k = int(np.ceil(0.3 * w.height))
    top = w.sort("quality_rank").head(k).filter(pl.col("selectable"))
    ordered = pts.sort(["series_id", "timestamp"]).with_columns(
        pl.int_range(pl.len()).over("series_id").alias("i")
    )
    want = set()
    for sid, s, n in top.select("series_id", "start_index", "n_points").iter_rows():
        want |= {(sid, i) for i in range(s, s + n)}
    got = ordered.join(
        sel.select("series_id", "timestamp"), on=["series_id", "timestamp"], how="semi"
    )
    assert {(a, b) for a, b in got.select("series_id", "i").iter_rows()} == want
    assert sel.height == len(want)
    assert (root / "published" / "timeseries" / "tiny" / "selected.parquet").is_file()
