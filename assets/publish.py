"""``published_*`` assets: the gate consumers read, behind the blocking checks."""

import dagster as dg

from assets._common import table_schema
from assets.images import image_labels_clean
from assets.partitions import image_datasets, timeseries_datasets
from assets.rating import timeseries_selected
from assets.resources import SieveSettings
from ops.contracts import IMAGES, LABELS, PUBLISHED, PUBLISHED_WINDOWS, TIMESERIES
from ops.publish import publish_dataset

OWNERS = ["team:data-quality"]


def _definition_metadata(kind: str) -> dict:
    """The column schema of every published table, with each column's description: the main
    table as ``dagster/column_schema`` (the UI's Columns tab), each table under its file name."""
    tables = PUBLISHED[kind]
    main = PUBLISHED_WINDOWS if kind == TIMESERIES else LABELS
    return {
        "dagster/column_schema": table_schema(main),
        **{f"columns of {t.file}": table_schema(t) for t in tables},
        "tables": dg.MetadataValue.md("\n".join(f"- `{t.file}`: {t.description}" for t in tables)),
    }


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
    owners=OWNERS,
    tags={"layer": "published"},
    metadata=_definition_metadata(TIMESERIES),
    description="`published/timeseries/DATASET/`: the points and their quarantine, the rated "
    "windows (windows joined with their scores), the selection, judgments and series, once "
    "every blocking check on the time-series tables passed. Point consumers here.",
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
    owners=OWNERS,
    tags={"layer": "published"},
    metadata=_definition_metadata(IMAGES),
    description="`published/images/DATASET/`: labels.parquet (one row per input row) and "
    "quarantine.parquet, once every blocking check on image_labels_clean passed. Point "
    "consumers here.",
)
def published_image_labels(
    context: dg.AssetExecutionContext, settings: SieveSettings
) -> dg.MaterializeResult:
    return _publish(context, settings, IMAGES)
