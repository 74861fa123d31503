"""Image assets: validate a labeled image folder, then clean its labels."""

import enum
import json
from dataclasses import replace
from pathlib import Path
from typing import Literal

import dagster as dg
import polars as pl
from pydantic import Field

from assets._common import as_text, column_schema, run_id, table_metadata
from assets.partitions import image_datasets
from assets.resources import SieveSettings
from ops.contracts import (
    ACTIONS,
    CLASSES,
    EMBEDDINGS,
    IMAGES,
    IMAGES_QUARANTINE,
    LABELS,
    MANIFEST,
)
from ops.fileio import write_json_atomic
from ops.hashing import sha256_file
from ops.ingest.images import ingest_images, read_raw_manifest
from ops.labels.backbones import BackboneConfig, choose_backbone
from ops.labels.clean import LabelCleaningConfig, clean_labels
from ops.labels.embeddings import embed_files, encoder_for
from ops.labels.images import GREY_MODES
from ops.labels.labels_table import assemble_labels_table
from ops.labels.methods import METHODS
from ops.rates import label_issue_rate
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
        metadata=as_text(
            {
                **summary,
                "dagster/row_count": result.manifest.height,
                "class_names": result.classes,
                "path": dg.MetadataValue.path(str(paths.table(MANIFEST))),
                "quarantine": table_metadata(result.quarantine),
            }
        )
    )


BACKBONE_HELP = (
    "auto (pretrained encoder for colour images >= 32 px, else small_cnn), small_cnn, "
    "pretrained:<encoder> with lite0, lite1, lite2 or several joined by + (lite0+lite2, the "
    "default: both vectors side by side), embeddings (needs embeddings_path), or module:<name> "
    "(a torch module factory registered in the sieve.backbones entry-point group)"
)


def _image_stats(manifest: pl.DataFrame) -> tuple[int, int]:
    """``(channels, median larger side)`` from the manifest's mode/width/height columns."""
    if manifest.height == 0:
        return 3, 0
    grey = manifest["mode"].is_in(sorted(GREY_MODES)).all()
    side = manifest.select(pl.max_horizontal("width", "height").median()).item()
    return (1 if grey else 3), int(side)


class ImageEmbeddingsConfig(dg.Config):
    """Run config of ``image_embeddings``: which encoder, at what size, on which device."""

    backbone: str = Field("auto", description=BACKBONE_HELP)
    encoder_resolution: int = Field(128, ge=32, description="encoder input side in pixels")
    encoder_flip: bool = Field(
        False, description="average each vector with the mirror image's (twice the cost)"
    )
    batch_size: int = Field(32, ge=1, description="images per encoder forward pass")
    device: str = Field("", description="cpu, cuda, cuda:N or auto; empty = the settings'")


@dg.asset(
    partitions_def=image_datasets,
    group_name=GROUP,
    kinds={"polars", "parquet"},
    deps=[image_manifest],
    code_version="1",
    description="embeddings.parquet: a pretrained-encoder vector per image, cached by content "
    "hash and encoder version (a rerun embeds only new or changed images). With backbone auto "
    "it is skipped for greyscale or tiny images (the small CNN trains on pixels there).",
)
def image_embeddings(
    context: dg.AssetExecutionContext, config: ImageEmbeddingsConfig, settings: SieveSettings
) -> dg.MaterializeResult:
    paths = settings.dataset(IMAGES, context.partition_key)
    manifest = read_table(paths.clean, MANIFEST)
    backbone = BackboneConfig(
        encoder_resolution=config.encoder_resolution,
        encoder_flip=config.encoder_flip,
        encoder_batch_size=config.batch_size,
        device=config.device or settings.device,
    ).with_spec(config.backbone)
    kind, note = choose_backbone(backbone, *_image_stats(manifest))
    if kind != "pretrained":
        reason = note or f"backbone {config.backbone!r} trains on pixels or the user's vectors"
        context.log.info(f"{context.partition_key}: no embeddings needed: {reason}")
        return dg.MaterializeResult(metadata={"skipped": reason, "dagster/row_count": 0})
    if note:
        context.log.info(note)
    files = [paths.raw / p for p in manifest["image"].to_list()]
    hashes = [sha256_file(p) for p in files]
    encoder = encoder_for(backbone)
    vectors, stats = embed_files(
        files,
        encoder,
        label_cache_dir(settings, context.partition_key) / "embeddings",
        hashes=hashes,
        progress=context.log.info,
    )
    table = pl.DataFrame(
        {
            "image": manifest["image"],
            "sha256": pl.Series(hashes, dtype=pl.String),
            "encoder": [encoder.tag] * manifest.height,
            "embedding": pl.Series(vectors, dtype=pl.Array(pl.Float32, vectors.shape[1])).cast(
                pl.List(pl.Float32)
            ),
            "run_id": [run_id(context)] * manifest.height,
        }
    )
    write_table(table, paths.clean, EMBEDDINGS)
    return dg.MaterializeResult(
        metadata={
            **stats.to_dict(),
            **{k: v for k, v in encoder.describe().items() if k != "weights"},
            "dagster/row_count": table.height,
            "path": dg.MetadataValue.path(str(paths.table(EMBEDDINGS))),
        }
    )


def label_cache_dir(settings: SieveSettings, partition: str):
    """Where a partition's label caches live (OOF probabilities; embeddings/ below it)."""
    return settings.root() / "cache" / "labels" / partition


#: the registered label-cleaning methods, offered as a choice in the launchpad
LabelMethod = enum.Enum("LabelMethod", {name: name for name in sorted(METHODS)}, type=str)


class LabelCleaningRunConfig(dg.Config):
    """Run config of ``image_labels_clean``: a preset of ``LabelCleaningConfig`` (ops/labels/
    clean.py, where the meaning of each field is documented) and the fields of it a run may
    override. :data:`RUN_CONFIG_TARGETS` says where each field lands; an unset field keeps the
    preset's value."""

    method: LabelMethod = Field(
        LabelMethod(LabelCleaningConfig.method),
        description="label-cleaning method: cleanlab_oof (K-fold out-of-fold confident "
        "learning), cleanlab_trusted (a model trained on the trusted rows), vri or rst "
        "(meta-learned on the trusted set); docs/labels.md",
    )
    preset: Literal["default", "tiny"] = Field(
        "default", description="training recipe: default, or tiny (fast, for tests and smoke runs)"
    )
    epochs: int | None = Field(None, ge=1, description="training epochs (empty: the preset's)")
    image_size: int | None = Field(
        None, ge=1, description="side in pixels images are resized to (empty: the preset's)"
    )
    k_folds: int | None = Field(
        None, ge=2, description="folds of the out-of-fold training (empty: the preset's)"
    )
    relabel_threshold: float | None = Field(
        None,
        description="probability of another class above which a flagged row is relabeled "
        "instead of dropped (empty: the preset's)",
    )
    rectify_without_trusted: bool | None = Field(
        None,
        description="without trusted rows, change labels anyway (unverifiable: on clean "
        "photos it made labels worse); empty: the preset's (off: flag only)",
    )
    seed: int = Field(0, description="random seed of folds, initialisation and shuffling")
    backbone: str = Field("", description=BACKBONE_HELP + "; empty = the preset's (auto)")
    embeddings_path: str | None = Field(
        None, description="Parquet of vectors for backbone embeddings (image + embedding)"
    )
    encoder_resolution: int | None = Field(
        None, ge=32, description="encoder input side in pixels (empty: 128)"
    )
    encoder_flip: bool | None = Field(
        None,
        description="average each vector with the mirror image's; set it as in "
        "image_embeddings (empty: off)",
    )
    head: Literal["", "linear", "mlp"] = Field(
        "", description="classifier on vectors: linear or mlp (empty: the preset's)"
    )
    device: str = Field(
        "", description="cpu, cuda, cuda:N or auto (empty: the settings resource's device)"
    )


#: run-config field -> the (possibly nested) ``LabelCleaningConfig`` field it sets
RUN_CONFIG_TARGETS = {
    "method": "method",
    "seed": "seed",
    "epochs": "backbone.epochs",
    "image_size": "image.size",
    "k_folds": "k_folds",
    "relabel_threshold": "policy.relabel_threshold",
    "rectify_without_trusted": "policy.rectify_without_trusted",
    "encoder_resolution": "backbone.encoder_resolution",
    "encoder_flip": "backbone.encoder_flip",
    "head": "backbone.head",
    "device": "backbone.device",
}
#: run-config fields that are parsed rather than copied: the backbone string sets several
#: backbone fields (ops.labels.backbones.parse_backbone), the embeddings path becomes a Path
RUN_CONFIG_PARSED = ("backbone", "embeddings_path")
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
    if cfg.embeddings_path:
        out = replace(out, embeddings_path=Path(cfg.embeddings_path))
    if cfg.backbone:
        out = replace(out, backbone=out.backbone.with_spec(cfg.backbone))
    for name, target in RUN_CONFIG_TARGETS.items():
        value = getattr(cfg, name)
        if isinstance(value, enum.Enum):
            value = value.value
        if value is not None and value != "":
            out = _set(out, target, value)
    return replace(out)  # re-validated as a whole (e.g. embeddings needs a path)


@dg.asset(
    partitions_def=image_datasets,
    group_name=GROUP,
    kinds={"polars", "parquet"},
    deps=[image_manifest, image_embeddings],
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
        cache_dir=label_cache_dir(settings, context.partition_key),
        progress=context.log.debug,  # per-epoch lines; the bars log progress at INFO
    )
    raw = read_raw_manifest(paths.raw)[0]  # quarantined rows keep their given label
    table = assemble_labels_table(cleaned, quarantine, classes, run_id(context), raw)
    write_table(table, paths.clean, LABELS)
    counts = dict(table.group_by("action").len().iter_rows())
    if summary.policy["mode"] == "flag_only":  # say why no label changed, where users look
        context.log.warning(f"labels flagged, not changed: {summary.policy['reason']}")
    confusion = pl.DataFrame(summary.confusion) if summary.confusion else pl.DataFrame()
    return dg.MaterializeResult(
        metadata=as_text(
            {
                "rows": table.height,
                "method": summary.method,
                "requested_method": summary.requested_method,
                "notes": "; ".join(summary.notes) or "-",
                "estimated_noise_rate": float(summary.estimated_noise_rate),
                "n_issues": int(summary.n_issues),
                "label_issue_rate": label_issue_rate(table),
                "dropped_share": float(summary.dropped_share),
                "relabeled_share": float(summary.relabeled_share),
                "policy_mode": summary.policy["mode"],
                "policy_reason": summary.policy["reason"] or "-",
                "policy": dg.MetadataValue.json(summary.policy),
                "classes_without_train_rows": dg.MetadataValue.json(
                    summary.classes_without_train_rows
                ),
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
    )
