"""Backbones and the training loop: a small CNN from scratch, any user torch module, or
precomputed embeddings with a linear/MLP head.

The training recipe is the same for every backbone: SGD with momentum, weight decay, cosine
learning rate per step, a fixed number of epochs (stretched to at least ``min_steps``
optimiser steps so that tiny training sets such as a 10-per-class trusted set are not
under-trained), and for images random-crop-with-padding plus an optional horizontal flip,
both done in torch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from ops.labels.images import to_float

BACKBONE_KINDS = ("cnn", "custom", "embeddings")
Progress = Callable[[str], None]
ModelFactory = Callable[[int, int], nn.Module]
"""``factory(in_channels_or_dim, n_classes) -> nn.Module`` returning logits ``(B, n_classes)``."""


class Source(Protocol):
    """Anything with ``len()``, ``get_batch(idx) -> tensor`` and ``fingerprint() -> str``."""

    def __len__(self) -> int: ...
    def get_batch(self, idx: np.ndarray) -> torch.Tensor: ...
    def fingerprint(self) -> str: ...


@dataclass(frozen=True)
class BackboneConfig:
    """Backbone and training recipe.

    Attributes
    ----------
    kind : {"cnn", "custom", "embeddings"}
        ``cnn``: :class:`SmallCNN` from scratch (default). ``custom``: ``model_factory``.
        ``embeddings``: a ``head`` on precomputed vectors (no augmentation).
    width : int
        CNN base width (channels of the first block; then 2x, 4x). 32 -> ~95k parameters.
    epochs, batch_size, lr, momentum, weight_decay : training recipe (SGD, cosine lr per step).
    min_steps : int
        Epochs are raised so that training makes at least this many optimiser steps.
    augment : bool
        Random crop with ``crop_padding`` zero padding (default ``max(1, size // 8)``).
    hflip : bool or None
        Horizontal flip. ``None`` (default) = on only for colour images larger than 16 px:
        greyscale and tiny images are usually digits/glyphs, which a mirror changes.
    head : {"linear", "mlp"}
        Classifier on embeddings (``kind="embeddings"``).
    device : {"cpu", "cuda", "auto"}
        ``auto`` picks CUDA when available; ``cuda`` without CUDA is an error.
    num_threads : int or None
        ``torch.set_num_threads`` during training (restored afterwards).
    model_factory : callable or None
        For ``kind="custom"``: ``factory(in_channels, n_classes) -> nn.Module``.
    model_id : str or None
        Identifies a custom factory in cache keys (default: its module and qualified name).
    """

    kind: str = "cnn"
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

    def __post_init__(self) -> None:
        if self.kind not in BACKBONE_KINDS:
            raise ValueError(f"backbone kind must be one of {BACKBONE_KINDS}, got {self.kind!r}")
        if self.kind == "custom" and self.model_factory is None:
            raise ValueError("backbone kind 'custom' needs model_factory")
        if self.head not in ("linear", "mlp"):
            raise ValueError(f"head must be 'linear' or 'mlp', got {self.head!r}")
        if self.device not in ("cpu", "cuda", "auto"):
            raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', got {self.device!r}")
        for name in ("width", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if (
            self.lr <= 0
            or not 0 <= self.momentum < 1
            or self.weight_decay < 0
            or self.min_steps < 0
        ):
            raise ValueError("need lr > 0, 0 <= momentum < 1, weight_decay >= 0, min_steps >= 0")
        if self.crop_padding is not None and self.crop_padding < 0:
            raise ValueError("crop_padding must be >= 0")

    def identity(self) -> dict[str, Any]:
        """What determines the trained model (for cache keys): no device or thread count."""
        d = {
            k: v
            for k, v in asdict(self).items()
            if k not in ("device", "num_threads", "model_factory")
        }
        if self.model_factory is not None and self.model_id is None:
            f = self.model_factory
            d["model_id"] = f"{getattr(f, '__module__', '?')}.{getattr(f, '__qualname__', repr(f))}"
        return d


def resolve_device(device: str) -> torch.device:
    """``cpu``/``cuda``/``auto`` -> ``torch.device``; a clear error if CUDA is asked for but absent."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' was asked for but torch.cuda.is_available() is False")
    return torch.device(device)


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
        import hashlib

        return hashlib.sha256(b"emb" + self.data.numpy().tobytes()).hexdigest()


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
        mat = np.stack(df["embedding"].to_list()).astype(np.float32)
    else:
        raise ValueError(f"{path}: need 'emb_*' columns or an 'embedding' list column")
    pos = {name: i for i, name in enumerate(df["image"].to_list())}
    missing = [im for im in images if im not in pos]
    if missing:
        raise ValueError(f"{path}: no embedding for {len(missing)} images, e.g. {missing[:3]}")
    return EmbeddingSource(mat[[pos[im] for im in images]])


class _Standardize(nn.Module):
    def __init__(self, mean: torch.Tensor, std: torch.Tensor, body: nn.Module) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body((x - self.mean) / self.std)


def build_model(
    cfg: BackboneConfig, source: Source, train_idx: np.ndarray, n_classes: int
) -> nn.Module:
    """Instantiate the (untrained) model for ``source``."""
    if isinstance(source, EmbeddingSource):
        x = source.get_batch(train_idx)
        mean, std = (
            x.mean(0),
            x.std(0).clamp_min(1e-6) if len(train_idx) > 1 else torch.ones(source.dim),
        )
        if cfg.kind == "custom":
            body = cfg.model_factory(source.dim, n_classes)  # type: ignore[misc]
        elif cfg.head == "linear":
            body = nn.Linear(source.dim, n_classes)
        else:
            body = nn.Sequential(nn.Linear(source.dim, 256), nn.ReLU(), nn.Linear(256, n_classes))
        return _Standardize(mean, std, body)
    in_ch = int(source.get_batch(np.asarray([0])).shape[1])
    if cfg.kind == "custom":
        return cfg.model_factory(in_ch, n_classes)  # type: ignore[misc]
    if cfg.kind == "embeddings":
        raise ValueError(
            "backbone kind 'embeddings' needs an EmbeddingSource (see load_embeddings)"
        )
    return SmallCNN(in_ch, n_classes, cfg.width)


def augment_batch(x: torch.Tensor, padding: int, hflip: bool, gen: torch.Generator) -> torch.Tensor:
    """Random crop with zero ``padding`` and optional horizontal flip, per sample, in torch."""
    b, c, h, w = x.shape
    if padding > 0:
        xp = torch.nn.functional.pad(x, (padding, padding, padding, padding))
        oy = torch.randint(0, 2 * padding + 1, (b,), generator=gen)
        ox = torch.randint(0, 2 * padding + 1, (b,), generator=gen)
        rows = (oy[:, None] + torch.arange(h)[None])[:, :, None]  # (B, H, 1)
        cols = (ox[:, None] + torch.arange(w)[None])[:, None, :]  # (B, 1, W)
        bi = torch.arange(b)[:, None, None]
        x = xp.permute(0, 2, 3, 1)[bi, rows, cols].permute(0, 3, 1, 2).contiguous()
    if hflip:
        m = torch.rand(b, generator=gen) < 0.5
        if m.any():
            x = x.clone()
            x[m] = x[m].flip(-1)
    return x


def _prep(source: Source, batch: torch.Tensor) -> torch.Tensor:
    return batch if isinstance(source, EmbeddingSource) else to_float(batch)


class _Threads:
    def __init__(self, n: int | None) -> None:
        self.n, self.old = n, torch.get_num_threads()

    def __enter__(self) -> None:
        if self.n:
            torch.set_num_threads(self.n)

    def __exit__(self, *exc: object) -> None:
        if self.n:
            torch.set_num_threads(self.old)


def make_sgd(params, cfg: BackboneConfig) -> torch.optim.SGD:
    """The one SGD recipe every trainer shares (Nesterov momentum when momentum > 0)."""
    return torch.optim.SGD(
        params,
        lr=cfg.lr,
        momentum=cfg.momentum,
        weight_decay=cfg.weight_decay,
        nesterov=cfg.momentum > 0,
    )


def train_model(
    source: Source,
    train_idx: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    cfg: BackboneConfig,
    *,
    seed: int = 0,
    progress: Progress | None = None,
    prefix: str = "",
    epoch_callback: Callable[[int, nn.Module], None] | None = None,
) -> nn.Module:
    """Train a fresh model on rows ``train_idx`` of ``source`` with ``labels`` (aligned to
    ``train_idx``). Returns the model in eval mode.

    ``progress`` receives lines such as ``"fold 2/5 epoch 3/10 loss 0.812"`` (``prefix`` +
    epoch info); ``epoch_callback(epoch, model)`` is called after every epoch (model in eval
    mode; it is put back into training mode afterwards).
    """
    train_idx = np.asarray(train_idx, dtype=np.int64)
    y_all = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    if len(train_idx) != len(y_all):
        raise ValueError(f"{len(train_idx)} training rows but {len(y_all)} labels")
    if len(train_idx) < 2:
        raise ValueError("need at least 2 training rows")
    device = resolve_device(cfg.device)
    with _Threads(cfg.num_threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed + 1)
        model = build_model(cfg, source, train_idx, n_classes).to(device)
        is_img = not isinstance(source, EmbeddingSource)
        sample = source.get_batch(train_idx[:1])
        side = int(sample.shape[-1]) if is_img else 0
        channels = int(sample.shape[1]) if is_img else 0
        pad = (
            (cfg.crop_padding if cfg.crop_padding is not None else max(1, side // 8))
            if is_img
            else 0
        )
        flip = (channels == 3 and side > 16) if cfg.hflip is None else cfg.hflip
        bs = min(cfg.batch_size, len(train_idx))
        steps_per_epoch = max(1, len(train_idx) // bs)
        epochs = max(cfg.epochs, math.ceil(cfg.min_steps / steps_per_epoch))
        total = epochs * steps_per_epoch
        opt = make_sgd(model.parameters(), cfg)
        lossf = nn.CrossEntropyLoss()
        step = 0
        for ep in range(epochs):
            model.train()
            perm = torch.randperm(len(train_idx), generator=gen).numpy()
            run_loss, nb = 0.0, 0
            for s in range(steps_per_epoch):  # drops the ragged tail (BatchNorm needs B >= 2)
                sel = perm[s * bs : (s + 1) * bs]
                xb = source.get_batch(train_idx[sel])
                if is_img and cfg.augment:
                    xb = augment_batch(xb, pad, flip, gen)
                xb = _prep(source, xb).to(device)
                yb = y_all[sel].to(device)
                for g in opt.param_groups:
                    g["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * step / total))
                loss = lossf(model(xb), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                run_loss += float(loss.detach())
                nb += 1
            if progress is not None:
                progress(f"{prefix}epoch {ep + 1}/{epochs} loss {run_loss / max(nb, 1):.3f}")
            if epoch_callback is not None:
                model.eval()
                epoch_callback(ep, model)
    model.eval()
    return model


@torch.no_grad()
def predict_proba(
    model: nn.Module, source: Source, idx: np.ndarray, cfg: BackboneConfig, batch_size: int = 512
) -> np.ndarray:
    """Softmax probabilities ``(len(idx), n_classes)`` float64 for rows ``idx``."""
    idx = np.asarray(idx, dtype=np.int64)
    device = next(model.parameters()).device
    model.eval()
    out = []
    with _Threads(cfg.num_threads):
        for s in range(0, len(idx), batch_size):
            xb = _prep(source, source.get_batch(idx[s : s + batch_size])).to(device)
            out.append(torch.softmax(model(xb).float(), dim=1).cpu().numpy())
    if not out:
        n = (
            model(
                torch.zeros(2, *source.get_batch(np.asarray([0])).shape[1:], device=device)
            ).shape[1]
            if len(source)
            else 0
        )
        return np.zeros((0, n))
    return np.concatenate(out).astype(np.float64)
