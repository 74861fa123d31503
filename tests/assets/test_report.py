"""Materialize ``quality_report`` through Dagster over two nights of small contract-shaped data."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from assets.partitions import image_datasets, timeseries_datasets
from assets.report import ReportConfig, quality_report
from assets.resources import SieveSettings
from tests.ops.report.sample_data import IMAGES, NEW_FLAGGED_IMAGE, TS_RATED, TS_RAW, write_night


def _materialize(instance, root, night: str):
    result = dg.materialize(
        [quality_report],
        instance=instance,
        resources={"settings": SieveSettings(data_dir=str(root))},
        run_config=dg.RunConfig(ops={"quality_report": ReportConfig(night=night)}),
    )
    assert result.success
    (mat,) = result.asset_materializations_for_node("quality_report")
    return mat.metadata


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("sieve_report")
    write_night(root, 1)
    with dg.instance_for_test() as instance:
        # "unregistered" has a clean folder but no partition;
        # "never_run" a partition but no clean folder
        (root / "clean" / "images" / "unregistered").mkdir(parents=True)
        instance.add_dynamic_partitions(timeseries_datasets.name, [TS_RATED, TS_RAW, "never_run"])
        instance.add_dynamic_partitions(image_datasets.name, [IMAGES])
        first = _materialize(instance, root, "2026-03-04")
        write_night(root, 2)
        second = _materialize(instance, root, "2026-03-05")
    return root, first, second


def test_metadata_and_files(two_runs):
    root, first, second = two_runs
    html = root / "reports" / "2026-03-04.html"
    assert first["path"].value == str(html) and html.is_file()
    assert (root / "reports" / "2026-03-04.json").is_file()
    assert first["summary_json"].value == str(root / "reports" / "2026-03-04.json")
    assert sorted(first["datasets"].value) == [
        f"images/{IMAGES}",
        f"timeseries/{TS_RATED}",
        f"timeseries/{TS_RAW}",
    ]
    assert (
        first["previous_night"].value == "none" and second["previous_night"].value == "2026-03-04"
    )
    assert "no previous report" in first["summary"].value
    assert isinstance(first["summary"], dg.MarkdownMetadataValue)
    assert isinstance(first["path"], dg.PathMetadataValue)


def test_numeric_metrics_per_dataset(two_runs):
    _, first, second = two_runs
    assert first[f"{IMAGES}/label_issue_rate"].value == pytest.approx(1 / 9)
    assert second[f"{IMAGES}/label_issue_rate"].value == pytest.approx(2 / 9)
    assert first[f"{TS_RATED}/low_quality_share"].value == pytest.approx(0.25)
    assert second[f"{TS_RATED}/low_quality_share"].value == pytest.approx(0.5)
    assert f"{TS_RAW}/low_quality_share" not in first  # not rated: no invented number
    assert first[f"{TS_RAW}/windows_missing_share"].value > 0
    assert second["total/new_flagged"].value == 2.0
    assert second[f"{IMAGES}/n_new_flagged"].value == 1.0
    for key in ("total/flagged", "total/quarantined", "total/datasets"):
        assert isinstance(second[key], dg.FloatMetadataValue)


def test_night_two_html_has_diff(two_runs):
    root, _, _ = two_runs
    html = (root / "reports" / "2026-03-05.html").read_text()
    assert NEW_FLAGGED_IMAGE in html and "Since 2026-03-04" in html


def test_empty_night_defaults_to_today_in_timezone():
    tz = "Pacific/Kiritimati"
    assert ReportConfig(timezone=tz).resolve_night() == datetime.now(ZoneInfo(tz)).date()
    assert ReportConfig(night="2026-01-02").resolve_night() == date(2026, 1, 2)
