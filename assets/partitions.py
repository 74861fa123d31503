"""Dynamic partitions: one key per dataset folder under ``raw/timeseries`` or ``raw/images``."""

import dagster as dg

from ops.contracts import IMAGES, TIMESERIES

timeseries_datasets = dg.DynamicPartitionsDefinition(name="timeseries_datasets")
image_datasets = dg.DynamicPartitionsDefinition(name="image_datasets")

PARTITIONS_BY_KIND = {TIMESERIES: timeseries_datasets, IMAGES: image_datasets}
