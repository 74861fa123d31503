"""The Dagster code location: ``dagster dev`` and ``dagster definitions validate`` load ``defs``."""

import warnings

import dagster as dg

# partitioned asset checks are a 1.13 preview (docs/stack.md §6)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

from assets import images, publish, rating, report, timeseries  # noqa: E402
from assets.checks import asset_checks  # noqa: E402
from assets.resources import (  # noqa: E402
    QualityThresholds,
    SieveSettings,
    judge_resource_from_env,
)
from pipelines.celery_executor import executor_from_env  # noqa: E402
from pipelines.console import sieve_console  # noqa: E402
from pipelines.jobs import images_job, timeseries_job  # noqa: E402
from pipelines.reclaim import reclaim_dead_runs_sensor  # noqa: E402
from pipelines.schedules import report_job, schedules  # noqa: E402
from pipelines.sensors import dataset_folder_sensor  # noqa: E402

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([timeseries, rating, images, publish, report]),
    asset_checks=asset_checks,
    jobs=[timeseries_job, images_job, report_job],
    schedules=schedules,
    sensors=[dataset_folder_sensor, reclaim_dead_runs_sensor],
    loggers={"console": sieve_console},
    # SIEVE_EXECUTOR: in_process (default), multiprocess, celery, k8s. In-process by default: a
    # partition's assets form a chain, and one process running all its steps and checks beats a
    # process start per step (10-20 s each on a loaded machine; benchmarks/ui_run_time.py).
    executor=executor_from_env(),
    resources={
        "settings": SieveSettings(),
        "thresholds": QualityThresholds(),
        "judge": judge_resource_from_env(),
    },
)
