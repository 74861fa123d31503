"""Image assets: validate a labeled image folder, then clean its labels."""


import json

import dagster as dg
import polars as pl

from assets._common import column_schema, run_id, table_metadata
from ops.ingest.images import ingest_images
from ops.labels.labels_table import assemble_labels_table
from ops.parquet_io import write_parquet_atomic
from pipelines.partitions import image_datasets
from pipelines.settings import SieveSettings

GROUP = "images"


@dg.asset(
    partitions_def=image_datasets,
    group_name=GROUP,
    kinds={"polars", "parquet"},
    code_version="1",
    description="Every row of raw/images/<dataset>/ decoded and validated: manifest.parquet for "
    "readable images, quarantine.parquet (with reasons) for the rest.",
)
def image_manifest(context: dg.AssetExecutionContext, settings: SieveSettings) -> dg.MaterializeResult:
    paths = settings.dataset("images", context.partition_key)
    result = ingest_images(paths.raw, progress=context.log.info)
    rid = run_id(context)
    write_parquet_atomic(result.manifest.with_columns(run_id=pl.lit(rid)), paths.out("manifest.parquet"))
    write_parquet_atomic(result.quarantine.with_columns(run_id=pl.lit(rid)), paths.out("quarantine.parquet"))
    paths.out("classes.json").write_text(json.dumps(result.classes))
    summary = result.summary()
    context.log.info(f"{context.partition_key}: {summary}")
    return dg.MaterializeResult(
        metadata={
            **summary,
            "dagster/row_count": result.manifest.height,
            "class_names": result.classes,
            "path": dg.MetadataValue.path(str(paths.out("manifest.parquet"))),
            "quarantine": table_metadata(result.quarantine),
        }
    )


def passthrough_labels(manifest: pl.DataFrame, classes: list[str]) -> pl.DataFrame:
    return manifest.select(
        "image", "trusted", "split",
        given_label="label", clean_label="label",
        label_quality=pl.lit(None, pl.Float64), is_label_issue=pl.lit(False),
        action=pl.lit("kept"), method=pl.lit("passthrough"),
        **{f"prob_{c}": pl.lit(None, pl.Float64) for c in classes},
    )


@dg.asset(
    partitions_def=image_datasets,
    group_name=GROUP,
    kinds={"polars", "parquet"},
    deps=[image_manifest],
    code_version="1",
    description="labels.parquet: one row per input image with given and clean label, quality, action.",
)
def image_labels_clean(context: dg.AssetExecutionContext, settings: SieveSettings) -> dg.MaterializeResult:
    paths = settings.dataset("images", context.partition_key)
    manifest = pl.read_parquet(paths.out("manifest.parquet"))
    quarantine = pl.read_parquet(paths.out("quarantine.parquet"))
    classes = json.loads(paths.out("classes.json").read_text())
    cleaned = passthrough_labels(manifest, classes)
    table = assemble_labels_table(cleaned, quarantine, classes, run_id(context))
    write_parquet_atomic(table, paths.out("labels.parquet"))
    counts = dict(table.group_by("action").len().iter_rows())
    return dg.MaterializeResult(
        metadata={
            "rows": table.height,
            **{f"n_{a}": int(counts.get(a, 0)) for a in ("kept", "relabeled", "dropped", "quarantined")},
            "dagster/row_count": table.height,
            "dagster/column_schema": column_schema(table),
            "path": dg.MetadataValue.path(str(paths.out("labels.parquet"))),
        }
    )
