"""The one entry point the Dagster asset calls: :func:`clean_labels`.

It runs five named steps: :func:`split_rows` (manifest -> label ids and the pool / trusted /
test rows), :func:`choose_method` (the trusted-model fallback), :func:`open_source` (image files
or embeddings), :func:`score_rows` (the registered method) and :func:`build_frame` (rectified
labels, one row per manifest row), and returns the frame with a typed
:class:`LabelCleaningSummary`. The methods and the rectification policy are described in
docs/labels.md.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ops.contracts import DROPPED, KEPT, MANIFEST, MANIFEST_REQUIRED_COLUMNS, RELABELED, SPLITS
from ops.labels.backbones import (
    BackboneConfig,
    EmbeddingSource,
    Source,
    choose_backbone,
    load_embeddings,
)
from ops.labels.detection import FILTER_BY, quality_scores
from ops.labels.embeddings import pretrained_source
from ops.labels.images import ImageFileDataset, ImageSpec, scan_channels, scan_native_size
from ops.labels.methods import METHODS, MethodContext, MethodResult, get_method
from ops.labels.policy import PolicyConfig, PolicyReport, decide
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
        class differs from the given label; the same policy then decides (``policy``).
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
    policy : PolicyConfig
        The decision policy (docs/labels.md §4a): evidence-based relabel / keep / drop, a drop
        cap, the never-worse check and the minimum data below which labels are only flagged.
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
    policy: PolicyConfig = field(default_factory=PolicyConfig)
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


def classes_without_train_rows(manifest: pl.DataFrame, classes: list[str]) -> list[str]:
    """Classes with no row in the train split (e.g. every row of the class was quarantined):
    they cannot be learned, so they are reported and left out of scoring."""
    counts = Counter(manifest.filter(pl.col("split") == "train")["label"].to_list())
    return [c for c in classes if counts.get(c, 0) == 0]


@dataclass(frozen=True)
class Rows:
    """The manifest's rows as index sets: ``labels`` (N,) class ids, ``trusted``/``test`` (N,)
    masks, and the positions of the pool (untrusted train), trusted train and test rows."""

    labels: np.ndarray
    trusted: np.ndarray
    test: np.ndarray
    pool_idx: np.ndarray
    trusted_idx: np.ndarray
    test_idx: np.ndarray


@dataclass
class LabelCleaningSummary:
    """What :func:`clean_labels` did, besides the frame. ``to_dict()`` is the JSON-able form
    (the keys below, in this order); ``to_json()`` its JSON text.

    Attributes
    ----------
    method, requested_method : the method run, and the one asked for (they differ after the
        trusted-model fallback).
    estimated_noise_rate : the method's estimate of the pool's share of wrong labels.
    n_rows, n_scored, n_trusted, n_test : manifest rows; pool rows scored; trusted; test rows.
    trusted_per_class : trusted rows per class name.
    n_issues, n_kept, n_relabeled, n_dropped : flagged rows and the actions taken.
    confusion : records ``given_label, clean_label, action, count`` over train rows.
    oof_cache_hit : out-of-fold probabilities read from the cache (None: not applicable).
    image_size, channels : the images' training size and channels (None for embeddings).
    notes : remarks (fallbacks, method notes).
    wall_seconds : run time.
    label_issue_share, dropped_share, relabeled_share : flagged / dropped / relabeled rows as a
        share of the scored pool (trusted and test rows are never scored).
    classes_without_train_rows : classes that had no train row and were left out of scoring.
    policy : the decision policy's report (mode, evidence, calibration, chosen threshold,
        estimated accuracy of the given and the cleaned labels; docs/labels.md §4a).
    """

    method: str
    requested_method: str
    estimated_noise_rate: float
    n_rows: int
    n_scored: int
    n_trusted: int
    n_test: int
    trusted_per_class: dict[str, int]
    n_issues: int
    n_kept: int
    n_relabeled: int
    n_dropped: int
    confusion: list[dict[str, Any]]
    oof_cache_hit: bool | None
    image_size: int | None
    channels: int | None
    notes: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    label_issue_share: float = 0.0
    dropped_share: float = 0.0
    relabeled_share: float = 0.0
    classes_without_train_rows: list[str] = field(default_factory=list)
    policy: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


def split_rows(manifest: pl.DataFrame, classes: list[str]) -> Rows:
    """Class ids of the labels and the pool / trusted / test rows of a validated manifest."""
    cidx = {c: i for i, c in enumerate(classes)}
    labels = np.asarray([cidx[x] for x in manifest["label"].to_list()], dtype=np.int64)
    trusted = manifest["trusted"].to_numpy().astype(bool)
    test = (manifest["split"] == "test").to_numpy().astype(bool)
    return Rows(
        labels=labels,
        trusted=trusted,
        test=test,
        pool_idx=np.flatnonzero(~trusted & ~test),
        trusted_idx=np.flatnonzero(trusted & ~test),
        test_idx=np.flatnonzero(test),
    )


def choose_method(
    cfg: LabelCleaningConfig, rows: Rows, classes: list[str]
) -> tuple[str, list[str]]:
    """``(method to run, notes)``: ``cleanlab_trusted`` falls back to ``cleanlab_oof`` when some
    class has fewer than ``cfg.min_trusted_per_class`` trusted rows."""
    counts = np.bincount(rows.labels[rows.trusted_idx], minlength=len(classes))
    if cfg.method == "cleanlab_trusted" and counts.min() < cfg.min_trusted_per_class:
        worst = classes[int(counts.argmin())]
        note = (
            f"fell back from cleanlab_trusted to cleanlab_oof: class {worst!r} has "
            f"{int(counts.min())} trusted rows (< {cfg.min_trusted_per_class})"
        )
        return "cleanlab_oof", [note]
    return cfg.method, []


def open_source(
    manifest: pl.DataFrame,
    dataset_dir: Path,
    cfg: LabelCleaningConfig,
    *,
    cache_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[Source, int | None, int | None]:
    """``(source, channels, size)``: the images as files (decoded lazily, cached when small), or
    vectors (channels, size None): the user's when ``cfg.backbone.kind == "embeddings"``, the
    pretrained encoder's (cached under ``cache_dir/embeddings``) when the kind is
    ``pretrained`` or ``auto`` chose it (:func:`~ops.labels.backbones.choose_backbone`; the
    choice is in the source's ``notes``)."""
    images = manifest["image"].to_list()
    if cfg.backbone.kind == "embeddings":
        if cfg.embeddings_path is None:  # the config refuses this; kept for type checkers
            raise ValueError("backbone kind 'embeddings' needs embeddings_path")
        ep = Path(cfg.embeddings_path)
        return load_embeddings(ep if ep.is_absolute() else dataset_dir / ep, images), None, None
    files = [dataset_dir / p for p in images]
    kind, note = cfg.backbone.kind, None
    if kind == "auto" and files:
        kind, note = choose_backbone(
            cfg.backbone, scan_channels(files), scan_native_size(files, max_size=1 << 30)
        )
    if kind == "pretrained":
        emb_cache = cache_dir / "embeddings" if cache_dir is not None else None
        source, stats = pretrained_source(files, cfg.backbone, emb_cache, progress)
        source.notes = [n for n in (note, f"embeddings: {stats.to_dict()}") if n]
        return source, None, None
    source = ImageFileDataset(files, cfg.image)
    source.notes = [note] if note else []
    return source, source.channels, source.size


def score_rows(
    method: str,
    source: Source,
    rows: Rows,
    n_classes: int,
    cfg: LabelCleaningConfig,
    *,
    cache_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> MethodResult:
    """Run the registered ``method`` on the pool; with no pool rows, uniform probabilities and
    no flags (noted)."""
    n = len(rows.labels)
    if len(rows.pool_idx) == 0:
        probs = np.full((n, n_classes), 1.0 / n_classes)
        return MethodResult(
            probs,
            np.zeros(n, bool),
            quality_scores(rows.labels, probs),
            0.0,
            None,
            ["no untrusted train rows: nothing to score"],
        )
    ctx = MethodContext(
        source=source,
        labels=rows.labels,
        pool_idx=rows.pool_idx,
        trusted_idx=rows.trusted_idx,
        test_idx=rows.test_idx,
        n_classes=n_classes,
        backbone=cfg.backbone,
        k_folds=cfg.k_folds,
        seed=cfg.seed,
        filter_by=cfg.filter_by,
        cache_dir=cache_dir,
        progress=progress,
        options={"vri": cfg.vri, "rst": cfg.rst, "policy": cfg.policy},
    )
    return get_method(method)(ctx)


def build_frame(
    manifest: pl.DataFrame,
    classes: list[str],
    method: str,
    rows: Rows,
    res: MethodResult,
    policy: PolicyConfig,
) -> tuple[pl.DataFrame, PolicyReport]:
    """Apply the decision policy (docs/labels.md §4a) to the method's probabilities and flags
    (protected rows are never flagged or changed) and lay out the output: ``image, given_label,
    clean_label, label_quality, is_label_issue, action, method, prob_<class>..., trusted,
    split`` in manifest order; with the policy's report."""
    protected = rows.trusted | rows.test
    actions, clean, is_issue, report = decide(
        rows.labels,
        res.probs,
        res.is_issue & ~protected,
        ~protected,
        config=policy,
        **res.policy_inputs(),
    )
    report.refinement = res.refinement
    cols: dict[str, object] = {
        "image": manifest["image"].to_list(),
        "given_label": manifest["label"].to_list(),
        "clean_label": [classes[i] for i in clean],
        "label_quality": np.clip(res.quality, 0.0, 1.0).astype(np.float64),
        "is_label_issue": is_issue,
        "action": actions.astype(str).tolist(),
        "method": [method] * len(rows.labels),
    }
    for j, c in enumerate(classes):
        cols[f"prob_{c}"] = res.probs[:, j].astype(np.float64)
    cols["trusted"] = rows.trusted
    cols["split"] = manifest["split"].to_list()
    return pl.DataFrame(cols), report


def confusion_records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """``given_label, clean_label, action, count`` records over the frame's train rows."""
    return (
        frame.filter(pl.col("split") == "train")
        .group_by(["given_label", "clean_label", "action"])
        .len(name="count")
        .sort(["given_label", "clean_label", "action"])
        .to_dicts()
    )


def clean_labels(
    manifest: pl.DataFrame,
    dataset_dir: Path,
    classes: list[str],
    *,
    config: LabelCleaningConfig | None = None,
    cache_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[pl.DataFrame, LabelCleaningSummary]:
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
    summary : LabelCleaningSummary
        Method, noise estimate, counts of issues and actions, the confusion records, notes,
        wall time (``summary.to_dict()`` for the JSON-able form).
    """
    t0 = time.perf_counter()
    cfg = config or LabelCleaningConfig()
    say = progress or (lambda _m: None)
    _validate_manifest(manifest, classes)
    dataset_dir = Path(dataset_dir)
    empty = classes_without_train_rows(manifest, classes)
    active = [c for c in classes if c not in empty]
    notes: list[str] = []
    if empty:
        notes.append(
            f"classes with no train rows, left out of scoring: {empty}; their other rows "
            "(if any) are kept unchanged"
        )
        say(notes[-1])
    scorable = manifest.with_row_index("_row").filter(pl.col("label").is_in(active))
    method, size, channels, cache_hit = cfg.method, None, None, None
    if len(active) < 2:
        reason = f"{len(active)} class(es) with train rows: nothing to contrast, labels unchanged"
        notes.append(reason)
        say(reason)
        res_noise = 0.0
        report = PolicyReport(mode="flag_only", reason=reason)
        part = unscored_frame(scorable.drop("_row"), classes, method)
    else:
        sub = scorable.drop("_row")
        rows = split_rows(sub, active)
        method, method_notes = choose_method(cfg, rows, active)
        notes += method_notes
        for note in method_notes:
            say(note)
        source, channels, size = open_source(
            sub, dataset_dir, cfg, cache_dir=cache_dir, progress=progress
        )
        if isinstance(source, EmbeddingSource):
            cfg = replace(cfg, backbone=cfg.backbone.for_vectors())
        for note in getattr(source, "notes", []):
            say(note)
            notes.append(note)
        if channels is not None:
            say(
                f"{sub.height} images -> {size}x{size}x{channels}, decoded-image cache "
                f"{'on' if getattr(source, 'cache_enabled', False) else 'off'}"
            )
        res = score_rows(
            method, source, rows, len(active), cfg, cache_dir=cache_dir, progress=progress
        )
        notes += list(res.notes)
        res_noise, cache_hit = float(res.estimated_noise_rate), res.cache_hit
        part, report = build_frame(sub, active, method, rows, res, cfg.policy)
        part = part.with_columns(pl.lit(0.0).alias(f"prob_{c}") for c in empty)
        if report.mode == "flag_only":
            notes.append(f"flag only: {report.reason}")
            say(notes[-1])
    rest_idx = np.setdiff1d(np.arange(manifest.height), scorable["_row"].to_numpy())
    frame = part.select(unscored_frame(manifest[:0], classes, method).columns)
    if len(rest_idx):
        frame = pl.concat([frame, unscored_frame(manifest[rest_idx], classes, method)])
    order = np.argsort(np.concatenate([scorable["_row"].to_numpy(), rest_idx]), kind="stable")
    frame = frame[order]
    summary = summarize(frame, manifest, classes, cfg, method, res_noise, cache_hit, report)
    summary.image_size, summary.channels = size, channels
    summary.notes = notes
    summary.wall_seconds = round(time.perf_counter() - t0, 3)
    summary.classes_without_train_rows = empty
    say(
        f"{summary.n_issues} issues: {summary.n_relabeled} relabeled, {summary.n_dropped} "
        f"dropped ({summary.wall_seconds} s)"
    )
    return frame, summary


def unscored_frame(manifest: pl.DataFrame, classes: list[str], method: str) -> pl.DataFrame:
    """The output layout for rows that cannot be scored: given label kept, not flagged,
    uniform probabilities, label quality ``1 / C``."""
    n, c = manifest.height, len(classes)
    cols: dict[str, object] = {
        "image": manifest["image"].to_list(),
        "given_label": manifest["label"].to_list(),
        "clean_label": manifest["label"].to_list(),
        "label_quality": np.full(n, 1.0 / c),
        "is_label_issue": np.zeros(n, bool),
        "action": [KEPT] * n,
        "method": [method] * n,
    }
    for cl in classes:
        cols[f"prob_{cl}"] = np.full(n, 1.0 / c)
    cols["trusted"] = manifest["trusted"].to_numpy().astype(bool)
    cols["split"] = manifest["split"].to_list()
    return pl.DataFrame(cols, schema_overrides={"given_label": pl.Utf8, "clean_label": pl.Utf8})


def summarize(
    frame: pl.DataFrame,
    manifest: pl.DataFrame,
    classes: list[str],
    cfg: LabelCleaningConfig,
    method: str,
    noise: float,
    cache_hit: bool | None,
    report: PolicyReport,
) -> LabelCleaningSummary:
    """The counts of :class:`LabelCleaningSummary` from the output frame; shares are over the
    scored pool (untrusted train rows)."""
    actions = frame["action"].to_numpy()
    pool = (~frame["trusted"].to_numpy().astype(bool)) & (frame["split"] == "train").to_numpy()
    n_pool = int(pool.sum())
    trusted = frame.filter(pl.col("trusted") & (pl.col("split") == "train"))
    tcounts = Counter(trusted["given_label"].to_list())

    def share(mask: np.ndarray) -> float:
        return round(float(np.sum(mask & pool)) / n_pool, 6) if n_pool else 0.0

    return LabelCleaningSummary(
        method=method,
        requested_method=cfg.method,
        estimated_noise_rate=float(noise),
        n_rows=int(frame.height),
        n_scored=n_pool,
        n_trusted=int(trusted.height),
        n_test=int((frame["split"] == "test").sum()),
        trusted_per_class={c: int(tcounts.get(c, 0)) for c in classes},
        n_issues=int(frame["is_label_issue"].sum()),
        n_kept=int(np.sum(actions == KEPT)),
        n_relabeled=int(np.sum(actions == RELABELED)),
        n_dropped=int(np.sum(actions == DROPPED)),
        label_issue_share=share(frame["is_label_issue"].to_numpy()),
        dropped_share=share(actions == DROPPED),
        relabeled_share=share(actions == RELABELED),
        classes_without_train_rows=[],
        policy=report.to_dict(),
        confusion=confusion_records(frame),
        oof_cache_hit=cache_hit,
        image_size=None,
        channels=None,
    )
