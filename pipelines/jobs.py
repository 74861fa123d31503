"""One job per dataset kind; each run materializes every asset of one dataset partition."""

import dagster as dg

from ops.contracts import IMAGES, TIMESERIES
from pipelines.console import CONSOLE_RUN_CONFIG

timeseries_job = dg.define_asset_job(
    "timeseries_job",
    selection=dg.AssetSelection.groups("timeseries"),
    description="Materialize every time-series asset for one dataset partition.",
    config=CONSOLE_RUN_CONFIG,
)
images_job = dg.define_asset_job(
    "images_job",
    selection=dg.AssetSelection.groups("images"),
    description="Materialize every image asset for one dataset partition.",
    config=CONSOLE_RUN_CONFIG,
)
JOB_BY_KIND = {TIMESERIES: timeseries_job, IMAGES: images_job}
