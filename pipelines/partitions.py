"""Dynamic partitions: one key per dataset folder under ``raw/timeseries`` or ``raw/images``."""

import dagster as dg

timeseries_datasets = dg.DynamicPartitionsDefinition(name="timeseries_datasets")
image_datasets = dg.DynamicPartitionsDefinition(name="image_datasets")

PARTITIONS_BY_KIND = {"timeseries": timeseries_datasets, "images": image_datasets}
