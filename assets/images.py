"""Image assets: validate a labeled image folder, then clean its labels."""

import json
from dataclasses import replace

import dagster as dg
import polars as pl

from assets._common import column_schema, run_id, table_metadata
from ops.ingest.images import ingest_images
from ops.labels.clean import LabelCleaningConfig, clean_labels
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
    description="Every row of raw/images/{dataset}/ decoded and validated: manifest.parquet for "
    "readable images, quarantine.parquet (with reasons) for the rest.",
)
def image_manifest(
    context: dg.AssetExecutionContext, settings: SieveSettings
) -> dg.MaterializeResult:
    paths = settings.dataset("images", context.partition_key)
    result = ingest_images(paths.raw, progress=context.log.info)
    rid = run_id(context)
    write_parquet_atomic(
        result.manifest.with_columns(run_id=pl.lit(rid)), paths.out("manifest.parquet")
    )
    write_parquet_atomic(
        result.quarantine.with_columns(run_id=pl.lit(rid)), paths.out("quarantine.parquet")
    )
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


class LabelCleaningRunConfig(dg.Config):
    """Run config of ``image_labels_clean`` (see ops/labels/clean.py for the meaning)."""

    method: str = ""  # "" = the library default (ops/labels/clean.py LabelCleaningConfig.method)
    preset: str = "default"  # "default" or "tiny" (fast, for tests and smoke runs)
    epochs: int | None = None
    image_size: int | None = None
    k_folds: int | None = None
    relabel_threshold: float | None = None
    seed: int = 0


def build_cleaning_config(cfg: LabelCleaningRunConfig, device: str) -> LabelCleaningConfig:
    if cfg.preset not in ("default", "tiny"):
        raise ValueError(f"preset must be 'default' or 'tiny', got {cfg.preset!r}")
    base = LabelCleaningConfig.tiny() if cfg.preset == "tiny" else LabelCleaningConfig()
    backbone = replace(
        base.backbone, device=device, **({"epochs": cfg.epochs} if cfg.epochs else {})
    )
    image = replace(base.image, **({"size": cfg.image_size} if cfg.image_size else {}))
    rectify = replace(
        base.rectify,
        **(
            {"relabel_threshold": cfg.relabel_threshold}
            if cfg.relabel_threshold is not None
            else {}
        ),
    )
    return replace(
        base,
        method=cfg.method or base.method,
        seed=cfg.seed,
        backbone=backbone,
        image=image,
        rectify=rectify,
        **({"k_folds": cfg.k_folds} if cfg.k_folds else {}),
    )


@dg.asset(
    partitions_def=image_datasets,
    group_name=GROUP,
    kinds={"polars", "parquet"},
    deps=[image_manifest],
    code_version="1",
    description="labels.parquet: one row per input image with given and clean label, quality, action.",
)
def image_labels_clean(
    context: dg.AssetExecutionContext, config: LabelCleaningRunConfig, settings: SieveSettings
) -> dg.MaterializeResult:
    paths = settings.dataset("images", context.partition_key)
    manifest = pl.read_parquet(paths.out("manifest.parquet"))
    quarantine = pl.read_parquet(paths.out("quarantine.parquet"))
    classes = json.loads(paths.out("classes.json").read_text())
    cleaned, summary = clean_labels(
        manifest,
        paths.raw,
        classes,
        config=build_cleaning_config(config, settings.device),
        cache_dir=settings.root() / "cache" / "labels" / context.partition_key,
        progress=context.log.info,
    )
    table = assemble_labels_table(cleaned, quarantine, classes, run_id(context))
    write_parquet_atomic(table, paths.out("labels.parquet"))
    counts = dict(table.group_by("action").len().iter_rows())
    confusion = pl.DataFrame(summary.confusion) if summary.confusion else pl.DataFrame()
    return dg.MaterializeResult(
        metadata={
            "rows": table.height,
            "method": summary.method,
            "requested_method": summary.requested_method,
            "notes": "; ".join(summary.notes) or "-",
            "estimated_noise_rate": float(summary.estimated_noise_rate),
            "n_issues": int(summary.n_issues),
            "label_issue_rate": float(summary.n_issues) / max(1, int(summary.n_scored)),
            "oof_cache_hit": bool(summary.oof_cache_hit),
            "wall_seconds": float(summary.wall_seconds),
            "confusion_given_vs_clean": table_metadata(
                confusion.sort("count", descending=True) if confusion.height else confusion, 30
            ),
            **{
                f"n_{a}": int(counts.get(a, 0))
                for a in ("kept", "relabeled", "dropped", "quarantined")
            },
            "dagster/row_count": table.height,
            "dagster/column_schema": column_schema(table),
            "path": dg.MetadataValue.path(str(paths.out("labels.parquet"))),
        }
    )
