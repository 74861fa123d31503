"""The Dagster code location: ``dagster dev`` and ``dagster definitions validate`` load ``defs``."""

import dagster as dg

from assets import images, timeseries
from pipelines.jobs import images_job, timeseries_job
from pipelines.sensors import dataset_folder_sensor
from pipelines.settings import SieveSettings

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([timeseries, images]),
    jobs=[timeseries_job, images_job],
    sensors=[dataset_folder_sensor],
    resources={"settings": SieveSettings()},
)
