"""Materialize the assets through Dagster on a temporary instance, over the bundled samples
and the bad-input corpus, and check row accounting on what landed on disk."""

import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets.partitions import image_datasets, timeseries_datasets
from assets.resources import QualityThresholds, SieveSettings
from pipelines.definitions import defs

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "data" / "samples"
FIXTURES = REPO / "tests" / "fixtures"


@pytest.fixture(scope="module")
def materialized(tmp_path_factory):
    root = tmp_path_factory.mktemp("sieve_data")
    datasets = {
        "timeseries": ["noaa_lcd", "nab_traffic", "bad_timeseries"],
        "images": ["digits_noisy", "bad_images"],
    }
    for kind, names in datasets.items():
        for name in names:
            src = FIXTURES / name if name.startswith("bad_") else SAMPLES / kind / name
            shutil.copytree(src, root / "raw" / kind / name)
    results = {}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(timeseries_datasets.name, datasets["timeseries"])
        instance.add_dynamic_partitions(image_datasets.name, datasets["images"])
        for kind, job_name in (("timeseries", "timeseries_job"), ("images", "images_job")):
            job = defs.resolve_job_def(job_name)
            for name in datasets[kind]:
                run_config = (
                    {"ops": {"image_labels_clean": {"config": {"preset": "tiny"}}}}
                    if kind == "images"
                    else None
                )
                res = job.execute_in_process(
                    partition_key=name,
                    instance=instance,
                    raise_on_error=False,
                    run_config=run_config,
                    resources={
                        "settings": SieveSettings(data_dir=str(root)),
                        "thresholds": QualityThresholds(),
                    },
                )
                results[(kind, name)] = res
    return root, results


def _num(value) -> float:
    """A number of partitioned-asset metadata (shown as text: ``"15,444"``, ``"0.9532"``)."""
    return float(str(value.value).replace(",", ""))


def _checks(result):
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_clean_datasets_pass_every_check_and_publish(materialized):
    root, results = materialized
    for key in [
        ("timeseries", "noaa_lcd"),
        ("timeseries", "nab_traffic"),
        ("timeseries", "bad_timeseries"),
        ("images", "digits_noisy"),
    ]:
        assert results[key].success, key
        checks = _checks(results[key])
        assert checks and all(checks.values()), (key, checks)
    assert (root / "published" / "images" / "digits_noisy" / "labels.parquet").is_file()
    assert (root / "published" / "timeseries" / "noaa_lcd" / "windows.parquet").is_file()


def test_blocking_check_stops_publish_of_corrupted_dataset_only(materialized):
    """bad_images has 8 of 14 rows quarantined (57 % > 50 %): its quarantine_share check fails,
    so published_image_labels is skipped for it, while digits_noisy (another partition)
    publishes."""
    root, results = materialized
    bad = results[("images", "bad_images")]
    assert not bad.success
    checks = _checks(bad)
    assert checks["quarantine_share"] is False
    assert all(v for k, v in checks.items() if k != "quarantine_share"), checks
    materialized_assets = {
        e.asset_key.to_user_string() for e in bad.get_asset_materialization_events()
    }
    assert materialized_assets == {
        "image_manifest",
        "image_embeddings",  # skipped under backbone auto (8 px greyscale), but materialized
        "image_labels_clean",
    }  # published_image_labels skipped
    assert (root / "clean" / "images" / "bad_images" / "labels.parquet").is_file()
    assert not (root / "published" / "images" / "bad_images").exists()
    assert (root / "published" / "images" / "digits_noisy" / "labels.parquet").is_file()


@pytest.mark.parametrize("name", ["noaa_lcd", "nab_traffic", "bad_timeseries"])
def test_timeseries_rows_in_equal_rows_out_plus_quarantined(materialized, name):
    root, results = materialized
    clean = root / "clean" / "timeseries" / name
    points = pl.read_parquet(clean / "points.parquet")
    quarantine = pl.read_parquet(clean / "quarantine.parquet")
    mats = results[("timeseries", name)].asset_materializations_for_node("timeseries_points")
    meta = mats[0].metadata
    assert _num(meta["records_in"]) == points.height + quarantine.height
    windows = pl.read_parquet(clean / "windows.parquet")
    for col in ("series_id", "window_start", "window_end", "n_points", "n_missing", "run_id"):
        assert col in windows.columns
    assert windows["run_id"].unique().to_list() == [results[("timeseries", name)].run_id]
    assert set(windows["series_id"]) == set(points["series_id"])


@pytest.mark.parametrize("name", ["digits_noisy", "bad_images"])
def test_images_one_labels_row_per_input_row(materialized, name):
    root, _ = materialized
    raw_rows = pl.read_csv(root / "raw" / "images" / name / "labels.csv").height
    clean = root / "clean" / "images" / name
    labels = pl.read_parquet(clean / "labels.parquet")
    quarantine = pl.read_parquet(clean / "quarantine.parquet")
    assert labels.height == raw_rows
    assert labels.filter(pl.col("action") != "quarantined").height + quarantine.height == raw_rows
    assert set(labels["action"]) <= {"kept", "relabeled", "dropped", "quarantined"}
    for col in (
        "image",
        "given_label",
        "clean_label",
        "label_quality",
        "is_label_issue",
        "action",
        "method",
        "trusted",
        "run_id",
    ):
        assert col in labels.columns


def test_trusted_and_test_rows_unchanged(materialized):
    root, _ = materialized
    labels = pl.read_parquet(root / "clean" / "images" / "digits_noisy" / "labels.parquet")
    protected = labels.filter(pl.col("trusted") | (pl.col("split") == "test"))
    assert protected.height == 640
    assert (protected["given_label"] == protected["clean_label"]).all()
    assert set(protected["action"]) == {"kept"}


def test_rerun_on_unchanged_data_makes_no_judge_calls(materialized):
    root, results = materialized
    first = (
        results[("timeseries", "nab_traffic")]
        .asset_materializations_for_node("timeseries_judgments")[0]
        .metadata
    )
    assert _num(first["llm_calls"]) > 0 and _num(first["pairs"]) > 0
    clean = root / "clean" / "timeseries" / "nab_traffic"
    scores_before = pl.read_parquet(clean / "scores.parquet")
    assert (clean / "rater_state.pt").is_file()
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(timeseries_datasets.name, ["nab_traffic"])
        again = defs.resolve_job_def("timeseries_job").execute_in_process(
            partition_key="nab_traffic",
            instance=instance,
            resources={
                "settings": SieveSettings(data_dir=str(root)),
                "thresholds": QualityThresholds(),
            },
        )
    meta = again.asset_materializations_for_node("timeseries_judgments")[0].metadata
    assert _num(meta["llm_calls"]) == 0
    assert _num(meta["cache_hit_rate"]) == 1.0
    judgments = pl.read_parquet(root / "clean" / "timeseries" / "nab_traffic" / "judgments.parquet")
    assert judgments.height == first["dagster/row_count"].value
    # the rater fitted on the first run scores the rerun unchanged: same scores, same flags
    rater = again.asset_materializations_for_node("timeseries_scores")[0].metadata["rater"]
    assert str(rater.value).startswith("rater kept from")
    cols = ["window_id", "quality_score", "is_low_quality_issue", "rater_version"]
    after = pl.read_parquet(clean / "scores.parquet")
    assert after.select(cols).equals(scores_before.select(cols))


def test_published_holds_points_and_quarantine_and_quarantined_rows_keep_their_label(
    materialized,
):
    root, _ = materialized
    ts = root / "published" / "timeseries" / "noaa_lcd"
    clean = root / "clean" / "timeseries" / "noaa_lcd"
    for name in ("points.parquet", "quarantine.parquet"):
        assert pl.read_parquet(ts / name).equals(pl.read_parquet(clean / name)), name
    assert (root / "published" / "images" / "digits_noisy" / "quarantine.parquet").is_file()
    labels = pl.read_parquet(root / "clean" / "images" / "bad_images" / "labels.parquet")
    q = labels.filter(pl.col("action") == "quarantined").select("image", "given_label", "split")
    given = dict(q.select("image", "given_label").iter_rows())
    assert given["img/truncated.png"] == "cat" and given["img/weird_label.png"] == "giraffe"
    assert given["../outside.png"] == "cat"
    assert q.filter(pl.col("image") == "img/good_0.png")["given_label"].to_list() == [None]
    assert set(q["split"].drop_nulls()) == {"train"}


def test_run_summary_states_what_was_published(materialized):
    from ops.run_summary import format_table, summarize_dataset

    root, _ = materialized
    digits = summarize_dataset(root, "images", "digits_noisy")
    labels = pl.read_parquet(root / "published" / "images" / "digits_noisy" / "labels.parquet")
    usable = labels.filter(pl.col("action").is_in(["kept", "relabeled"])).height
    assert (digits.rows_in, digits.published) == (labels.height, f"{usable:,}")
    assert digits.flagged.endswith("%)") and "/" in digits.changed
    bad = summarize_dataset(root, "images", "bad_images")
    assert bad.published == "not published" and bad.quarantined == 8
    noaa = summarize_dataset(root, "timeseries", "noaa_lcd")
    points = pl.read_parquet(root / "clean" / "timeseries" / "noaa_lcd" / "points.parquet")
    assert noaa.published == f"{points.height:,}" and noaa.quarantined > 0
    table = format_table([digits, bad, noaa])
    assert table[0].split()[:3] == ["dataset", "rows", "in"] and len(table) == 4


def test_checks_of_a_kind_run_in_one_step(materialized):
    _, results = materialized
    result = results[("images", "digits_noisy")]
    steps = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}
    assert "images_checks" in steps
    assert not any(s.startswith("image_labels_clean_") for s in steps)  # no step per check
    from ops.checks import CHECKS

    assert len(_checks(result)) == sum(c.kind == "images" for c in CHECKS) >= 6
