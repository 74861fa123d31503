"""Backbones: the training recipe's configuration and the models it builds.

What is trained is pluggable (docs/labels.md §2): a small CNN from scratch (default), any torch
module from a ``model_factory`` (a ResNet-class network on a GPU, say), or a linear/MLP head
over precomputed embedding vectors (:class:`EmbeddingSource`). How it is trained -- batching,
augmentation, lr schedule, SGD, device, AMP -- lives in :mod:`ops.labels.training`, the one
training loop every method uses; :class:`BackboneConfig` carries the options of both.

Meta-learned methods (VRI, RST, MW-Net) need the penultimate feature: :func:`build_featnet`
splits a backbone into extractor and linear head (:class:`FeatNet`, ``net(x) -> (z, logits)``).

From a run config a backbone is named by a string (:func:`parse_backbone`, docs/labels.md §10):
``auto`` (default: the pretrained encoder for colour images of 32 px or more, else the small
CNN -- :func:`choose_backbone`), ``small_cnn``, ``pretrained:<encoder>`` (vectors of an offline
ImageNet encoder, :mod:`ops.labels.encoders`), ``embeddings`` (the user's Parquet of vectors) or
``module:<name>`` (a torch module factory registered under that name: an entry point in the
``sieve.backbones`` group, or :func:`register_backbone` in-process).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from ops.device import validate_device
from ops.hashing import sha256_hex

BACKBONE_KINDS = ("auto", "cnn", "custom", "embeddings", "pretrained")
ENTRY_POINT_GROUP = "sieve.backbones"
AUTO_MIN_SIDE = 32
"""``auto`` picks the pretrained encoder for colour images whose median side is at least this."""
LR_SCHEDULES = ("cosine", "onecycle")
CROP_MODES = ("zeros", "reflect")
Progress = Callable[[str], None]
ModelFactory = Callable[[int, int], nn.Module]
"""``factory(in_channels_or_dim, n_classes) -> nn.Module`` returning logits ``(B, n_classes)``."""

# options added after the OOF cache keys were introduced: they enter ``identity()`` only when set
# to something other than their default, so existing cache keys stay valid
_LATE_FIELDS = (
    "lr_schedule",
    "crop_mode",
    "amp",
    "channels_last",
    "pixel_mean",
    "pixel_std",
    "encoder",
    "encoder_resolution",
    "encoder_batch_size",
    "module",
    "head_weight_decay",
    "encoder_flip",
)


class Source(Protocol):
    """Anything with ``len()``, ``get_batch(idx) -> tensor`` and ``fingerprint() -> str``.

    ``get_batch`` returns uint8 images ``(B, C, H, W)`` or float vectors ``(B, D)``; the tensor
    may already live on the training device (data kept on the GPU).
    """

    def __len__(self) -> int: ...
    def get_batch(self, idx: np.ndarray) -> torch.Tensor: ...
    def fingerprint(self) -> str: ...


@dataclass(frozen=True)
class BackboneConfig:
    """Backbone and training recipe.

    Attributes
    ----------
    kind : {"auto", "cnn", "custom", "embeddings", "pretrained"}
        ``cnn``: :class:`SmallCNN` from scratch. ``custom``: ``model_factory`` (or the factory
        registered as ``module``). ``embeddings``: a ``head`` on precomputed vectors (no
        augmentation). ``pretrained``: a ``head`` on the vectors of the pretrained ``encoder``
        (computed and cached by label cleaning). ``auto`` (default): ``pretrained`` for colour
        images with a median side of at least 32 px when the encoder is installed, else ``cnn``
        (:func:`choose_backbone`); on in-memory sources ``auto`` is ``cnn``.
    width : int
        CNN base width (channels of the first block; then 2x, 4x). 32 -> ~95k parameters.
    epochs, batch_size, lr, momentum, weight_decay : training recipe (SGD, lr per step).
    min_steps : int
        Epochs are raised so that training makes at least this many optimiser steps.
    augment : bool
        Random crop with ``crop_padding`` padding (default ``max(1, size // 8)``).
    crop_mode : {"zeros", "reflect"}
        Padding of the random crop: zeros (default) or reflection of the image border.
    hflip : bool or None
        Horizontal flip. ``None`` (default) = on only for colour images larger than 16 px:
        greyscale and tiny images are usually digits/glyphs, which a mirror changes.
    head : {"linear", "mlp"}
        Classifier on embeddings (``kind="embeddings"``).
    lr_schedule : {"cosine", "onecycle"}
        ``cosine`` (default): ``lr/2 (1 + cos(pi t/T))`` per step. ``onecycle``: linear warm-up
        to ``lr`` over the first 20 % of the steps, then linear decay to 0.
    amp : bool
        bf16 autocast on CUDA (ignored on CPU, which always trains in float32).
    channels_last : bool
        Model and image batches in channels-last memory format (faster convolutions on GPU).
    pixel_mean, pixel_std : tuple of float
        Image normalisation ``(x / 255 - mean) / std``, one value or one per channel
        (default 0.5, 0.25 for every channel).
    device : str
        ``cpu`` (default), ``cuda``, ``cuda:N`` or ``auto`` (CUDA when available); asking for
        CUDA without it is an error (:func:`ops.device.resolve_device`).
    num_threads : int or None
        ``torch.set_num_threads`` during training (restored afterwards).
    model_factory : callable or None
        For ``kind="custom"``: ``factory(in_channels, n_classes) -> nn.Module``.
    model_id : str or None
        Identifies a custom factory in cache keys (default: its module and qualified name).
    encoder : str
        Pretrained encoder for ``kind="pretrained"``: ``lite0``, ``lite1``, ``lite2``, or several
        joined by ``+``, their vectors concatenated; default ``lite0+lite2`` (docs/labels.md §10:
        3 points more out-of-fold accuracy than ``lite0`` alone at 2.5 times its cost).
    encoder_resolution : int
        Input side of the encoder in pixels (default 128).
    encoder_batch_size : int
        Images per encoder forward pass (default 32).
    module : str or None
        For ``kind="custom"`` without ``model_factory``: the registered factory's name.
    head_weight_decay : float
        Weight decay when training on vectors (pretrained or user embeddings), which replaces
        ``weight_decay`` there (:meth:`for_vectors`). Default 0.3: with the default
        ``lite0+lite2`` vectors the best out-of-fold accuracy against the *given* labels on
        CIFAR-10N aggre and within 0.4 point of the best on worse (rows 40,000-49,999, no clean
        or test label read); 5e-4 overfits the noise (docs/labels.md §10).
    encoder_flip : bool
        Average each image's vector with its mirror image's (twice the embedding cost).
    """

    kind: str = "auto"
    width: int = 32
    epochs: int = 15
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    min_steps: int = 200
    augment: bool = True
    crop_padding: int | None = None
    hflip: bool | None = None
    head: str = "linear"
    device: str = "cpu"
    num_threads: int | None = None
    model_factory: ModelFactory | None = field(default=None, compare=False, repr=False)
    model_id: str | None = None
    lr_schedule: str = "cosine"
    crop_mode: str = "zeros"
    amp: bool = False
    channels_last: bool = False
    pixel_mean: tuple[float, ...] = (0.5,)
    pixel_std: tuple[float, ...] = (0.25,)
    encoder: str = "lite0+lite2"
    encoder_resolution: int = 128
    encoder_batch_size: int = 32
    module: str | None = None
    head_weight_decay: float = 0.3
    encoder_flip: bool = False

    def __post_init__(self) -> None:
        if self.kind not in BACKBONE_KINDS:
            raise ValueError(f"backbone kind must be one of {BACKBONE_KINDS}, got {self.kind!r}")
        if self.kind == "custom" and self.model_factory is None:
            if self.module is None:
                raise ValueError("backbone kind 'custom' needs model_factory or module")
            object.__setattr__(self, "model_factory", backbone_factory(self.module))
            if self.model_id is None:
                object.__setattr__(self, "model_id", f"module:{self.module}")
        from ops.labels.encoders import encoder_parts  # light: no torch model is built

        encoder_parts(self.encoder)  # ValueError naming the known encoders
        if self.encoder_resolution < 32 or self.encoder_batch_size < 1:
            raise ValueError("need encoder_resolution >= 32 and encoder_batch_size >= 1")
        if self.head not in ("linear", "mlp"):
            raise ValueError(f"head must be 'linear' or 'mlp', got {self.head!r}")
        validate_device(self.device)
        for name in ("width", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if (
            self.lr <= 0
            or not 0 <= self.momentum < 1
            or self.weight_decay < 0
            or self.head_weight_decay < 0
            or self.min_steps < 0
        ):
            raise ValueError("need lr > 0, 0 <= momentum < 1, weight_decay >= 0, min_steps >= 0")
        if self.crop_padding is not None and self.crop_padding < 0:
            raise ValueError("crop_padding must be >= 0")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if self.crop_mode not in CROP_MODES:
            raise ValueError(f"crop_mode must be one of {CROP_MODES}, got {self.crop_mode!r}")
        if len(self.pixel_mean) not in (1, 3) or len(self.pixel_std) != len(self.pixel_mean):
            raise ValueError(
                f"pixel_mean and pixel_std need 1 or 3 values each, got {self.pixel_mean} "
                f"and {self.pixel_std}"
            )
        if min(self.pixel_std) <= 0:
            raise ValueError(f"pixel_std must be > 0, got {self.pixel_std}")

    def for_vectors(self) -> BackboneConfig:
        """The recipe for training on vectors: ``weight_decay = head_weight_decay``."""
        return replace(self, weight_decay=self.head_weight_decay)

    def with_spec(self, spec: str) -> BackboneConfig:
        """This config with the backbone named by ``spec`` (:func:`parse_backbone`)."""
        return replace(self, **parse_backbone(spec))

    @property
    def spec(self) -> str:
        """The backbone as a run-config string (inverse of :func:`parse_backbone`)."""
        if self.kind == "pretrained":
            return f"pretrained:{self.encoder}"
        if self.kind == "custom":
            return f"module:{self.module}" if self.module else "custom"
        return {"cnn": "small_cnn"}.get(self.kind, self.kind)

    def identity(self) -> dict[str, Any]:
        """What determines the trained model (for cache keys): no device or thread count."""
        defaults = {f.name: f.default for f in fields(self)}
        d = {
            k: v
            for k, v in asdict(self).items()
            if k not in ("device", "num_threads", "model_factory")
            and not (k in _LATE_FIELDS and v == defaults[k])
        }
        if self.model_factory is not None and self.model_id is None:
            f = self.model_factory
            d["model_id"] = f"{getattr(f, '__module__', '?')}.{getattr(f, '__qualname__', repr(f))}"
        return d


_REGISTERED: dict[str, ModelFactory] = {}


def register_backbone(name: str, factory: ModelFactory) -> None:
    """Make ``factory`` available as backbone ``module:<name>`` in this process (a package
    does the same for every process with an entry point in the ``sieve.backbones`` group)."""
    if not name or ":" in name:
        raise ValueError(f"backbone name must be non-empty and without ':', got {name!r}")
    _REGISTERED[name] = factory


def registered_backbones() -> list[str]:
    """Names usable as ``module:<name>``: registered in-process or by entry point."""
    return sorted(set(_REGISTERED) | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def backbone_factory(name: str) -> ModelFactory:
    """The factory registered as ``name`` (in-process first, then the entry points)."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    eps = entry_points(group=ENTRY_POINT_GROUP, name=name)
    if not eps:
        raise ValueError(
            f"no backbone module {name!r}: register one with register_backbone() or an entry "
            f"point in the {ENTRY_POINT_GROUP!r} group; known: {registered_backbones()}"
        )
    factory = next(iter(eps)).load()
    if not callable(factory):
        raise TypeError(f"entry point {name!r} of {ENTRY_POINT_GROUP!r} is not callable")
    return factory


def parse_backbone(spec: str) -> dict[str, Any]:
    """The ``BackboneConfig`` fields a backbone string sets.

    ``auto`` | ``small_cnn`` (alias ``cnn``) | ``pretrained[:lite0|lite1|lite2]`` (or several
    joined by ``+``, e.g. ``pretrained:lite0+lite2``: concatenated vectors) |
    ``embeddings`` | ``module:<registered name>``. Unknown strings raise ``ValueError``.
    """
    from ops.labels.encoders import DEFAULT_ENCODER, ENCODERS, encoder_parts

    s = str(spec).strip()
    head, _, arg = s.partition(":")
    if head in ("auto", "embeddings") and not arg:
        return {"kind": head}
    if head in ("small_cnn", "cnn") and not arg:
        return {"kind": "cnn"}
    if head == "pretrained":
        name = arg or DEFAULT_ENCODER
        encoder_parts(name)  # ValueError naming the known encoders
        return {"kind": "pretrained", "encoder": name}
    if head == "module" and arg:
        backbone_factory(arg)  # fail now, with the known names, rather than at training time
        return {"kind": "custom", "module": arg, "model_factory": None, "model_id": None}
    raise ValueError(
        f"unknown backbone {spec!r}: use auto, small_cnn, pretrained:<{'|'.join(ENCODERS)}>, "
        "embeddings or module:<registered name>"
    )


def choose_backbone(cfg: BackboneConfig, channels: int, side: int) -> tuple[str, str | None]:
    """``(kind, note)``: what ``kind="auto"`` means for images with ``channels`` and median
    larger ``side``. The pretrained encoder for colour images of at least
    :data:`AUTO_MIN_SIDE` px (on CIFAR-10 its features are far better than a small CNN
    trained on the data), else the small CNN (better on digit-like greyscale images);
    measurements in docs/labels.md §10. Falls back to ``cnn`` when the encoder is not installed."""
    if cfg.kind != "auto":
        return cfg.kind, None
    from ops.labels.encoders import encoder_parts, installed_encoders

    if channels == 3 and side >= AUTO_MIN_SIDE:
        if set(encoder_parts(cfg.encoder)) <= set(installed_encoders()):
            return "pretrained", (
                f"backbone auto -> pretrained:{cfg.encoder} at {cfg.encoder_resolution} px "
                f"(colour images, median side {side} px)"
            )
        return "cnn", f"backbone auto -> small_cnn: encoder {cfg.encoder!r} is not installed"
    return "cnn", f"backbone auto -> small_cnn ({channels}-channel images, median side {side} px)"


class SmallCNN(nn.Module):
    """Three conv blocks (conv3x3-BN-ReLU, max-pool after the first two), global average
    pooling, linear classifier. Any input side >= 4 px works (8x8 digits to 32x32 CIFAR)."""

    def __init__(self, in_channels: int, n_classes: int, width: int = 32) -> None:
        super().__init__()
        w = width

        def block(i: int, o: int) -> list[nn.Module]:
            return [
                nn.Conv2d(i, o, 3, padding=1, bias=False),
                nn.BatchNorm2d(o),
                nn.ReLU(inplace=True),
            ]

        self.features = nn.Sequential(
            *block(in_channels, w),
            nn.MaxPool2d(2),
            *block(w, 2 * w),
            nn.MaxPool2d(2),
            *block(2 * w, 4 * w),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(4 * w, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class EmbeddingSource:
    """Precomputed float vectors, one row per image."""

    def __init__(self, vectors: np.ndarray) -> None:
        v = np.asarray(vectors, dtype=np.float32)
        if v.ndim != 2 or not np.isfinite(v).all():
            raise ValueError(f"embeddings must be a finite 2-D array, got shape {v.shape}")
        self.data = torch.from_numpy(np.ascontiguousarray(v))

    def __len__(self) -> int:
        return int(self.data.shape[0])

    @property
    def dim(self) -> int:
        return int(self.data.shape[1])

    def get_batch(self, idx: np.ndarray) -> torch.Tensor:
        return self.data[torch.as_tensor(np.asarray(idx), dtype=torch.long)]

    def fingerprint(self) -> str:
        return sha256_hex(b"emb", self.data.numpy().tobytes())


def load_embeddings(path: str | os.PathLike, images: Sequence[str]) -> EmbeddingSource:
    """Read a Parquet of vectors aligned to ``images``.

    The file has an ``image`` column and either ``emb_*`` float columns or one list column
    named ``embedding``. Every image must have exactly one row.
    """
    import polars as pl

    df = pl.read_parquet(Path(path))
    if "image" not in df.columns:
        raise ValueError(f"{path}: embeddings Parquet needs an 'image' column")
    if df["image"].is_duplicated().any():
        raise ValueError(f"{path}: duplicate rows for some images")
    emb_cols = sorted(
        (c for c in df.columns if c.startswith("emb_")),
        key=lambda c: int(c[4:]) if c[4:].isdigit() else c,
    )
    if emb_cols:
        mat = df.select(emb_cols).to_numpy().astype(np.float32)
    elif "embedding" in df.columns:
        col = df["embedding"]
        if col.dtype.base_type() == pl.List:
            widths = col.list.len().unique()
            if len(widths) != 1 or col.null_count():
                raise ValueError(f"{path}: embedding vectors of different lengths or missing")
            col = col.list.to_array(int(widths[0]))
        mat = col.to_numpy().astype(np.float32)
    else:
        raise ValueError(f"{path}: need 'emb_*' columns or an 'embedding' list column")
    pos = {name: i for i, name in enumerate(df["image"].to_list())}
    missing = [im for im in images if im not in pos]
    if missing:
        raise ValueError(f"{path}: no embedding for {len(missing)} images, e.g. {missing[:3]}")
    return EmbeddingSource(mat[[pos[im] for im in images]])


class Standardize(nn.Module):
    """``body((x - mean) / std)``: per-dimension standardisation of embedding vectors."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, body: nn.Module) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body((x - self.mean) / self.std)


class FeatNet(nn.Module):
    """``forward(x) -> (z, logits)``: penultimate feature ``(B, D)`` and logits ``(B, C)``."""

    def __init__(self, features: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.features, self.head = features, head

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.features(x)
        return z, self.head(z)


def _embedding_stats(source: EmbeddingSource, rows: np.ndarray) -> tuple[torch.Tensor, ...]:
    x = source.get_batch(rows)
    std = x.std(0).clamp_min(1e-6) if len(rows) > 1 else torch.ones(source.dim)
    return x.mean(0), std


def build_model(
    cfg: BackboneConfig, source: Source, train_idx: np.ndarray, n_classes: int
) -> nn.Module:
    """Instantiate the (untrained) model for ``source``: ``model(x) -> logits (B, C)``."""
    if isinstance(source, EmbeddingSource):
        mean, std = _embedding_stats(source, train_idx)
        if cfg.kind == "custom":
            body = cfg.model_factory(source.dim, n_classes)  # type: ignore[misc]
        elif cfg.head == "linear":
            body = nn.Linear(source.dim, n_classes)
        else:
            body = nn.Sequential(nn.Linear(source.dim, 256), nn.ReLU(), nn.Linear(256, n_classes))
        return Standardize(mean, std, body)
    in_ch = int(source.get_batch(np.asarray([0])).shape[1])
    if cfg.kind == "custom":
        return cfg.model_factory(in_ch, n_classes)  # type: ignore[misc]
    if cfg.kind in ("embeddings", "pretrained"):
        raise ValueError(
            f"backbone kind {cfg.kind!r} needs an EmbeddingSource (see load_embeddings and "
            "ops.labels.embeddings.embed_files)"
        )
    return SmallCNN(in_ch, n_classes, cfg.width)


def build_featnet(
    cfg: BackboneConfig, source: Source, train_idx: np.ndarray, n_classes: int
) -> FeatNet:
    """The backbone of ``cfg`` split into feature extractor and linear head.

    SmallCNN (and any custom model with ``features`` and ``classifier`` attributes) is split
    as is; on embeddings the extractor is standardise -> Linear(d, 256) -> ReLU.
    """
    if isinstance(source, EmbeddingSource):
        mean, std = _embedding_stats(source, train_idx)
        return FeatNet(
            Standardize(mean, std, nn.Sequential(nn.Linear(source.dim, 256), nn.ReLU())),
            nn.Linear(256, n_classes),
        )
    m = build_model(cfg, source, train_idx, n_classes)
    if not (hasattr(m, "features") and hasattr(m, "classifier")):
        raise ValueError(
            "meta-learned label methods need a backbone with .features and .classifier "
            f"(the penultimate feature); got {type(m).__name__}"
        )
    return FeatNet(m.features, m.classifier)
