"""One job per dataset kind; each run materializes every asset of one dataset partition."""

import dagster as dg

timeseries_job = dg.define_asset_job(
    "timeseries_job",
    selection=dg.AssetSelection.groups("timeseries"),
    description="Materialize every time-series asset for one dataset partition.",
)
images_job = dg.define_asset_job(
    "images_job",
    selection=dg.AssetSelection.groups("images"),
    description="Materialize every image asset for one dataset partition.",
)
JOB_BY_KIND = {"timeseries": timeseries_job, "images": images_job}
