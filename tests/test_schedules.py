from datetime import UTC, datetime

import dagster as dg

from assets.partitions import image_datasets, timeseries_datasets
from pipelines.definitions import defs
from pipelines.schedules import (
    nightly_images_refresh,
    nightly_quality_report,
    nightly_timeseries_refresh,
)

TICK = datetime(2026, 3, 5, 2, 0, tzinfo=UTC)


def test_report_schedule_ticks_with_the_night_in_run_config():
    with dg.instance_for_test() as instance:
        ctx = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=TICK,
            repository_def=defs.get_repository_def(),
        )
        request = nightly_quality_report.evaluate_tick(ctx).run_requests[0]
    assert request.run_key == "report:2026-03-05"
    assert request.run_config["ops"]["quality_report"]["config"]["night"] == "2026-03-05"
    assert nightly_quality_report.cron_schedule == "0 2 * * *"
    assert nightly_quality_report.job_name == "quality_report_job"


def test_refresh_schedules_request_every_registered_partition():
    with dg.instance_for_test() as instance:
        ctx = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=TICK,
            repository_def=defs.get_repository_def(),
        )
        assert nightly_timeseries_refresh.evaluate_tick(ctx).skip_message
        instance.add_dynamic_partitions(timeseries_datasets.name, ["a", "b"])
        instance.add_dynamic_partitions(image_datasets.name, ["imgs"])
        ts = nightly_timeseries_refresh.evaluate_tick(ctx).run_requests
        im = nightly_images_refresh.evaluate_tick(ctx).run_requests
    assert sorted((r.partition_key, r.run_key) for r in ts) == [
        ("a", "2026-03-05:a"),
        ("b", "2026-03-05:b"),
    ]
    assert [r.partition_key for r in im] == ["imgs"]


def test_schedules_are_registered_and_valid():
    names = {s.name for s in defs.schedules}
    assert names == {
        "nightly_timeseries_refresh",
        "nightly_images_refresh",
        "nightly_quality_report",
    }
    for schedule in defs.schedules:
        assert defs.resolve_schedule_def(schedule.name).execution_timezone
