"""Nightly schedules: refresh every registered dataset partition, then build the quality report.

Cron expressions and the timezone come from the environment at load time:
``SIEVE_REFRESH_CRON`` (default ``0 1 * * *``), ``SIEVE_REPORT_CRON`` (default
``0 2 * * *``), ``SIEVE_TIMEZONE`` (default ``UTC``). A refresh re-materializes each
dataset; unchanged data costs no LLM calls (judgment cache) and no retraining (OOF cache).
"""

import os

import dagster as dg

from assets.partitions import image_datasets, timeseries_datasets
from pipelines.jobs import images_job, timeseries_job

REFRESH_CRON = os.environ.get("SIEVE_REFRESH_CRON", "0 1 * * *")
REPORT_CRON = os.environ.get("SIEVE_REPORT_CRON", "0 2 * * *")
TIMEZONE = os.environ.get("SIEVE_TIMEZONE", "UTC")

report_job = dg.define_asset_job(
    "quality_report_job",
    selection=dg.AssetSelection.assets("quality_report"),
    description="Build the nightly HTML quality report over every dataset partition.",
)


def _refresh_schedule(job, partitions: dg.DynamicPartitionsDefinition) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=f"nightly_{job.name.removesuffix('_job')}_refresh",
        cron_schedule=REFRESH_CRON,
        execution_timezone=TIMEZONE,
        job=job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Re-materialize every {partitions.name} partition each night.",
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        keys = context.instance.get_dynamic_partitions(partitions.name)
        if not keys:
            return dg.SkipReason(f"no {partitions.name} registered yet")
        night = context.scheduled_execution_time.date().isoformat()
        return [dg.RunRequest(run_key=f"{night}:{k}", partition_key=k) for k in keys]

    return _schedule


nightly_timeseries_refresh = _refresh_schedule(timeseries_job, timeseries_datasets)
nightly_images_refresh = _refresh_schedule(images_job, image_datasets)


@dg.schedule(
    name="nightly_quality_report",
    cron_schedule=REPORT_CRON,
    execution_timezone=TIMEZONE,
    job=report_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Build data/reports/<night>.html across all dataset partitions, diffed against "
    "the previous night.",
)
def nightly_quality_report(context: dg.ScheduleEvaluationContext):
    night = context.scheduled_execution_time.date().isoformat()
    return dg.RunRequest(
        run_key=f"report:{night}",
        run_config={"ops": {"quality_report": {"config": {"night": night, "timezone": TIMEZONE}}}},
        tags={"sieve/night": night},
    )


schedules = [nightly_timeseries_refresh, nightly_images_refresh, nightly_quality_report]
