"""``published_*`` assets: the gate consumers read, behind the blocking checks."""

import dagster as dg

from assets.images import image_labels_clean
from assets.partitions import image_datasets, timeseries_datasets
from assets.rating import timeseries_selected
from assets.resources import SieveSettings
from ops.contracts import IMAGES, TIMESERIES
from ops.publish import publish_dataset


def _publish(
    context: dg.AssetExecutionContext, settings: SieveSettings, kind: str
) -> dg.MaterializeResult:
    paths = settings.dataset(kind, context.partition_key)
    written = publish_dataset(kind, paths.clean, paths.published)
    return dg.MaterializeResult(
        metadata={
            "files": [p.name for p in written],
            "path": dg.MetadataValue.path(str(paths.published)),
        }
    )


@dg.asset(
    partitions_def=timeseries_datasets,
    group_name="timeseries",
    deps=[timeseries_selected],
    kinds={"parquet"},
    description="published/timeseries/<dataset>/: the rated windows (windows joined with their "
    "scores), the selection, judgments and series, once every blocking check on the "
    "time-series tables passed. Point consumers here.",
)
def published_timeseries(
    context: dg.AssetExecutionContext, settings: SieveSettings
) -> dg.MaterializeResult:
    return _publish(context, settings, TIMESERIES)


@dg.asset(
    partitions_def=image_datasets,
    group_name="images",
    deps=[image_labels_clean],
    kinds={"parquet"},
    description="published/images/<dataset>/labels.parquet once every blocking check on "
    "image_labels_clean passed. Point consumers here.",
)
def published_image_labels(
    context: dg.AssetExecutionContext, settings: SieveSettings
) -> dg.MaterializeResult:
    return _publish(context, settings, IMAGES)
