"""The one entry point the Dagster asset calls: :func:`clean_labels`."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import polars as pl

from ops.contracts import MANIFEST, MANIFEST_REQUIRED_COLUMNS, SPLITS
from ops.labels.backbones import BackboneConfig, load_embeddings
from ops.labels.detection import FILTER_BY
from ops.labels.images import ImageFileDataset, ImageSpec
from ops.labels.methods import METHODS, MethodContext, get_method
from ops.labels.rectify import DROPPED, KEPT, RELABELED, RectifyConfig, rectify
from ops.labels.rst import RSTConfig
from ops.labels.vri import VRIConfig

REQUIRED_COLUMNS = MANIFEST.polars_schema(MANIFEST_REQUIRED_COLUMNS)


@dataclass(frozen=True)
class LabelCleaningConfig:
    """Settings of :func:`clean_labels`.

    Attributes
    ----------
    method : str
        A registered method: ``cleanlab_oof`` (default; K-fold out-of-fold probabilities) or
        ``cleanlab_trusted`` (a model trained on the trusted set only scores the rest). OOF
        is the default because it never fell far below plain training in our benchmark,
        while the trusted model, best on pair noise for digits/USPS, was harmful on
        CIFAR-10N with 10 trusted images per class (benchmarks/README_labels.md). The
        trusted method falls back to ``cleanlab_oof`` (noted in the summary) when some
        class has fewer than ``min_trusted_per_class`` trusted rows. Experimental:
        ``vri`` (variational rectification, trusted rows as meta data; ``vri`` settings) and
        ``rst`` (robust self-training with label correction; ``rst`` settings); for both, a
        pool row is an issue when the final model's (VRI) or the corrected label's (RST) top
        class differs from the given label, then ``rectify`` relabels or drops it.
    min_trusted_per_class : int
        Fallback threshold (default 5).
    k_folds : int
        K of the stratified K-fold (default 5, >= 2).
    seed : int
        Seeds folds, initialisation, shuffling and augmentation.
    image : ImageSpec
        Size (default: the images' own side, clamped to [8, 32]), channels (default: 1 if every
        image is greyscale, else 3) and
        the decoded-image cache limit.
    backbone : BackboneConfig
        Model and training recipe (default: SmallCNN, 15 epochs, batch 128, SGD 0.05 cosine).
    rectify : RectifyConfig
        Relabel/drop thresholds.
    filter_by : str
        cleanlab ``find_label_issues`` filter (default ``prune_by_noise_rate``).
    embeddings_path : Path or None
        Parquet of precomputed vectors (``image`` + ``emb_*`` or ``embedding``), used when
        ``backbone.kind == "embeddings"``; relative paths are resolved against ``dataset_dir``.
    vri : VRIConfig
        Settings of method ``vri`` (``kl_mode``, ``lam``, meta-net sizes and Adam settings).
    rst : RSTConfig
        Settings of method ``rst`` (``lam``, warm-up/period fractions, ``convex``, corrector).
    """

    method: str = "cleanlab_oof"
    min_trusted_per_class: int = 5
    k_folds: int = 5
    seed: int = 0
    image: ImageSpec = field(default_factory=ImageSpec)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    rectify: RectifyConfig = field(default_factory=RectifyConfig)
    filter_by: str = "prune_by_noise_rate"
    embeddings_path: Path | None = None
    vri: VRIConfig = field(default_factory=VRIConfig)
    rst: RSTConfig = field(default_factory=RSTConfig)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(
                f"unknown label-cleaning method {self.method!r}; known: {sorted(METHODS)}"
            )
        if self.k_folds < 2:
            raise ValueError(f"k_folds must be >= 2, got {self.k_folds}")
        if self.min_trusted_per_class < 1:
            raise ValueError(
                f"min_trusted_per_class must be >= 1, got {self.min_trusted_per_class}"
            )
        if self.filter_by not in FILTER_BY:
            raise ValueError(f"filter_by must be one of {FILTER_BY}, got {self.filter_by!r}")
        if self.backbone.kind == "embeddings" and self.embeddings_path is None:
            raise ValueError("backbone kind 'embeddings' needs embeddings_path")

    @classmethod
    def tiny(cls, **overrides: object) -> LabelCleaningConfig:
        """A fast preset for tests and demos: 16 px, width-16 CNN, 3 folds, few steps."""
        base = cls(
            k_folds=3,
            image=ImageSpec(size=16),
            backbone=BackboneConfig(width=16, epochs=6, batch_size=64, min_steps=60, lr=0.05),
            vri=VRIConfig.tiny(),
            rst=RSTConfig.tiny(),
        )
        return replace(base, **overrides)  # type: ignore[arg-type]


def _validate_manifest(manifest: pl.DataFrame, classes: list[str]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in manifest.columns]
    if missing:
        raise ValueError(f"manifest is missing columns {missing}; needs {list(REQUIRED_COLUMNS)}")
    if len(classes) < 2:
        raise ValueError(f"need at least 2 classes, got {classes}")
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes contain duplicates: {classes}")
    if manifest.height == 0:
        raise ValueError("manifest is empty")
    for col in ("image", "label", "trusted", "split"):
        if manifest[col].null_count():
            raise ValueError(f"manifest column {col!r} has null values")
    bad = sorted(set(manifest["label"].to_list()) - set(classes))
    if bad:
        raise ValueError(f"labels not in classes: {bad[:10]}")
    bad_split = sorted(set(manifest["split"].to_list()) - set(SPLITS))
    if bad_split:
        raise ValueError(f"split must be one of {SPLITS}, got {bad_split}")
    train = manifest.filter(pl.col("split") == "train")
    counts = Counter(train["label"].to_list())
    empty = [c for c in classes if counts.get(c, 0) == 0]
    if empty:
        raise ValueError(
            f"classes with no train rows: {empty} (drop them from classes or add data)"
        )


def clean_labels(
    manifest: pl.DataFrame,
    dataset_dir: Path,
    classes: list[str],
    *,
    config: LabelCleaningConfig | None = None,
    cache_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[pl.DataFrame, dict]:
    """Find and rectify noisy labels of an image dataset.

    Parameters
    ----------
    manifest : polars DataFrame
        One row per readable image: ``image`` (path relative to ``dataset_dir``), ``label``
        (in ``classes``), ``trusted`` (bool), ``split`` (``train``/``test``).
    dataset_dir : Path
        Folder the image paths are relative to.
    classes : list of str
        Class names; ``prob_<class>`` columns follow this order.
    config : LabelCleaningConfig, optional
    cache_dir : Path, optional
        Where out-of-fold probabilities are cached (``.npz``).
    progress : callable, optional
        Receives human-readable progress lines.

    Returns
    -------
    frame : polars DataFrame
        Same rows and order as ``manifest``: ``image, given_label, clean_label,
        label_quality, is_label_issue, action, method, prob_<class>..., trusted, split``.
    summary : dict
        ``estimated_noise_rate, n_rows, n_scored, n_issues, n_kept, n_relabeled, n_dropped,
        confusion`` (records ``given_label, clean_label, action, count`` over train rows),
        ``method, requested_method, notes, wall_seconds, oof_cache_hit``, sizes.
    """
    t0 = time.perf_counter()
    cfg = config or LabelCleaningConfig()
    say = progress or (lambda _m: None)
    _validate_manifest(manifest, classes)
    dataset_dir = Path(dataset_dir)
    cidx = {c: i for i, c in enumerate(classes)}
    labels = np.asarray([cidx[x] for x in manifest["label"].to_list()], dtype=np.int64)
    trusted = manifest["trusted"].to_numpy().astype(bool)
    test = (manifest["split"] == "test").to_numpy().astype(bool)
    trusted_idx = np.flatnonzero(trusted & ~test)
    test_idx = np.flatnonzero(test)
    pool_idx = np.flatnonzero(~trusted & ~test)
    n_classes = len(classes)

    notes: list[str] = []
    method = cfg.method
    trusted_counts = np.bincount(labels[trusted_idx], minlength=n_classes)
    if method == "cleanlab_trusted" and trusted_counts.min() < cfg.min_trusted_per_class:
        worst = classes[int(trusted_counts.argmin())]
        notes.append(
            f"fell back from cleanlab_trusted to cleanlab_oof: class {worst!r} has "
            f"{int(trusted_counts.min())} trusted rows (< {cfg.min_trusted_per_class})"
        )
        say(notes[-1])
        method = "cleanlab_oof"

    images = manifest["image"].to_list()
    if cfg.backbone.kind == "embeddings":
        assert cfg.embeddings_path is not None
        ep = Path(cfg.embeddings_path)
        source = load_embeddings(ep if ep.is_absolute() else dataset_dir / ep, images)
        channels, size = None, None
    else:
        source = ImageFileDataset([dataset_dir / p for p in images], cfg.image)
        channels, size = source.channels, source.size
        say(
            f"{len(images)} images -> {size}x{size}x{channels}, "
            f"decoded-image cache {'on' if source.cache_enabled else 'off'}"
        )

    if len(pool_idx) == 0:
        notes.append("no untrusted train rows: nothing to score")
        probs = np.full((len(labels), n_classes), 1.0 / n_classes)
        from ops.labels.detection import quality_scores

        res_issue, res_quality, est, hit = (
            np.zeros(len(labels), bool),
            quality_scores(labels, probs),
            0.0,
            None,
        )
    else:
        ctx = MethodContext(
            source=source,
            labels=labels,
            pool_idx=pool_idx,
            trusted_idx=trusted_idx,
            test_idx=test_idx,
            n_classes=n_classes,
            backbone=cfg.backbone,
            k_folds=cfg.k_folds,
            seed=cfg.seed,
            filter_by=cfg.filter_by,
            cache_dir=cache_dir,
            progress=progress,
            options={"vri": cfg.vri, "rst": cfg.rst},
        )
        res = get_method(method)(ctx)
        notes.extend(res.notes)
        probs, res_issue, res_quality, est, hit = (
            res.probs,
            res.is_issue,
            res.quality,
            res.estimated_noise_rate,
            res.cache_hit,
        )

    protected = trusted | test
    is_issue = res_issue & ~protected
    actions, clean = rectify(labels, probs, is_issue, protected, res_quality, cfg.rectify)

    cols: dict[str, object] = {
        "image": images,
        "given_label": manifest["label"].to_list(),
        "clean_label": [classes[i] for i in clean],
        "label_quality": np.clip(res_quality, 0.0, 1.0).astype(np.float64),
        "is_label_issue": is_issue,
        "action": actions.astype(str).tolist(),
        "method": [method] * len(labels),
    }
    for j, c in enumerate(classes):
        cols[f"prob_{c}"] = probs[:, j].astype(np.float64)
    cols["trusted"] = trusted
    cols["split"] = manifest["split"].to_list()
    frame = pl.DataFrame(cols)

    train_rows = frame.filter(pl.col("split") == "train")
    confusion = (
        train_rows.group_by(["given_label", "clean_label", "action"])
        .len(name="count")
        .sort(["given_label", "clean_label", "action"])
        .to_dicts()
    )
    summary = {
        "method": method,
        "requested_method": cfg.method,
        "estimated_noise_rate": float(est),
        "n_rows": int(len(labels)),
        "n_scored": int(len(pool_idx)),
        "n_trusted": int(len(trusted_idx)),
        "n_test": int(len(test_idx)),
        "trusted_per_class": {c: int(n) for c, n in zip(classes, trusted_counts)},
        "n_issues": int(is_issue.sum()),
        "n_kept": int(np.sum(actions == KEPT)),
        "n_relabeled": int(np.sum(actions == RELABELED)),
        "n_dropped": int(np.sum(actions == DROPPED)),
        "confusion": confusion,
        "oof_cache_hit": hit,
        "image_size": size,
        "channels": channels,
        "notes": notes,
        "wall_seconds": round(time.perf_counter() - t0, 3),
    }
    say(
        f"{summary['n_issues']} issues: {summary['n_relabeled']} relabeled, {summary['n_dropped']} dropped "
        f"({summary['wall_seconds']} s)"
    )
    return frame, summary
