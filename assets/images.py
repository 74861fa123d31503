"""Image assets: validate a labeled image folder, then clean its labels."""

import json
from dataclasses import replace
from typing import Literal

import dagster as dg
import polars as pl
from pydantic import Field

from assets._common import column_schema, run_id, table_metadata
from assets.partitions import image_datasets
from assets.resources import SieveSettings
from ops.contracts import ACTIONS, CLASSES, IMAGES, IMAGES_QUARANTINE, LABELS, MANIFEST
from ops.fileio import write_json_atomic
from ops.ingest.images import ingest_images
from ops.labels.clean import LabelCleaningConfig, clean_labels
from ops.labels.labels_table import assemble_labels_table
from ops.tables import read_table, write_table

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
    paths = settings.dataset(IMAGES, context.partition_key)
    result = ingest_images(paths.raw, progress=context.log.info)
    rid = run_id(context)
    write_table(result.manifest.with_columns(run_id=pl.lit(rid)), paths.clean, MANIFEST)
    write_table(result.quarantine.with_columns(run_id=pl.lit(rid)), paths.clean, IMAGES_QUARANTINE)
    write_json_atomic(paths.clean / CLASSES.file, result.classes)
    summary = result.summary()
    context.log.info(f"{context.partition_key}: {summary}")
    return dg.MaterializeResult(
        metadata={
            **summary,
            "dagster/row_count": result.manifest.height,
            "class_names": result.classes,
            "path": dg.MetadataValue.path(str(paths.table(MANIFEST))),
            "quarantine": table_metadata(result.quarantine),
        }
    )


class LabelCleaningRunConfig(dg.Config):
    """Run config of ``image_labels_clean``: a preset of ``LabelCleaningConfig`` (ops/labels/
    clean.py, where the meaning of each field is documented) and the fields of it a run may
    override. :data:`RUN_CONFIG_TARGETS` says where each field lands; an unset field keeps the
    preset's value."""

    method: str = ""  # "" = the library default (LabelCleaningConfig.method)
    preset: Literal["default", "tiny"] = "default"  # "tiny": fast, for tests and smoke runs
    epochs: int | None = Field(None, ge=1)
    image_size: int | None = Field(None, ge=1)
    k_folds: int | None = Field(None, ge=2)
    relabel_threshold: float | None = None
    seed: int = 0


#: run-config field -> the (possibly nested) ``LabelCleaningConfig`` field it sets
RUN_CONFIG_TARGETS = {
    "method": "method",
    "seed": "seed",
    "epochs": "backbone.epochs",
    "image_size": "image.size",
    "k_folds": "k_folds",
    "relabel_threshold": "policy.relabel_threshold",
}
PRESETS = {"default": LabelCleaningConfig, "tiny": LabelCleaningConfig.tiny}


def _set(config, dotted: str, value):
    """``dataclasses.replace`` through nested frozen configs (``"backbone.epochs"``)."""
    head, _, rest = dotted.partition(".")
    if not rest:
        return replace(config, **{head: value})
    return replace(config, **{head: _set(getattr(config, head), rest, value)})


def build_cleaning_config(cfg: LabelCleaningRunConfig, device: str) -> LabelCleaningConfig:
    """The preset with every set run-config field applied, training on ``device``."""
    out = _set(PRESETS[cfg.preset](), "backbone.device", device)
    for name, target in RUN_CONFIG_TARGETS.items():
        value = getattr(cfg, name)
        if value is not None and value != "":
            out = _set(out, target, value)
    return out


@dg.asset(
    partitions_def=image_datasets,
    group_name=GROUP,
    kinds={"polars", "parquet"},
    deps=[image_manifest],
    code_version="1",
    description="labels.parquet: one row per input image with given and clean label, quality, "
    "action.",
)
def image_labels_clean(
    context: dg.AssetExecutionContext, config: LabelCleaningRunConfig, settings: SieveSettings
) -> dg.MaterializeResult:
    paths = settings.dataset(IMAGES, context.partition_key)
    manifest = read_table(paths.clean, MANIFEST)
    quarantine = read_table(paths.clean, IMAGES_QUARANTINE)
    classes = json.loads((paths.clean / CLASSES.file).read_text())
    cleaned, summary = clean_labels(
        manifest,
        paths.raw,
        classes,
        config=build_cleaning_config(config, settings.device),
        cache_dir=settings.root() / "cache" / "labels" / context.partition_key,
        progress=context.log.info,
    )
    table = assemble_labels_table(cleaned, quarantine, classes, run_id(context))
    write_table(table, paths.clean, LABELS)
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
            "label_issue_rate": float(summary.label_issue_share),
            "dropped_share": float(summary.dropped_share),
            "relabeled_share": float(summary.relabeled_share),
            "policy_mode": summary.policy["mode"],
            "policy_reason": summary.policy["reason"] or "-",
            "policy": dg.MetadataValue.json(summary.policy),
            "classes_without_train_rows": dg.MetadataValue.json(summary.classes_without_train_rows),
            "oof_cache_hit": bool(summary.oof_cache_hit),
            "wall_seconds": float(summary.wall_seconds),
            "confusion_given_vs_clean": table_metadata(
                confusion.sort("count", descending=True) if confusion.height else confusion, 30
            ),
            **{f"n_{a}": int(counts.get(a, 0)) for a in ACTIONS},
            "dagster/row_count": table.height,
            "dagster/column_schema": column_schema(table, LABELS),
            "path": dg.MetadataValue.path(str(paths.table(LABELS))),
        }
    )
