"""The one labels training module: every trainer in ops/labels (and the benchmarks) runs here.

``train_model`` (plain cross-entropy: CE, cleanlab's fold and trusted models), VRI, MW-Net and
RST all train through :class:`TrainLoop` and differ only in the function that turns one batch
into one optimiser step. The loop owns what they share (docs/labels.md §2):

- a seeded run (:func:`seeded`): thread count, forked CPU (and CUDA) RNG, ``torch.manual_seed``
  for the initialisation and a separate generator for shuffling and augmentation;
- batches from a :class:`~ops.labels.backbones.Source` (:class:`Loader`): random crop (zero or
  reflect padding) and flip done in torch, on whichever device the images live, then the
  normalisation and an optional channels-last layout;
- the schedule (:func:`make_schedule`): batch size, steps per epoch, epochs raised to at least
  ``min_steps`` steps (tiny trusted sets are not under-trained), lr per step (:func:`lr_at`,
  cosine or one-cycle), SGD with Nesterov momentum (:func:`make_sgd`);
- bf16 autocast on CUDA when ``amp`` is on (:meth:`TrainLoop.autocast`); nothing hard-codes
  CUDA: the device comes from ``BackboneConfig.device``;
- for meta-learned methods a trusted (meta) batch per step, drawn right after the noisy one
  (:class:`MetaLoop`, :func:`meta_training`), and the look-ahead helpers :func:`lookahead` and
  :func:`set_meta_grads`;
- per-epoch progress lines and ``epoch_callback(epoch, model)`` (model in eval mode).

What is trained is pluggable through ``BackboneConfig`` (``kind``, ``model_factory``) and the
source (images in memory, on disk, on the GPU, or embedding vectors); the GPU benchmark
(``python -m benchmarks.labels_gpu_cifar10n``) swaps exactly those two and nothing else.
Random numbers are drawn in a fixed order (permutation per epoch; per step noisy-batch crop
offsets and flips, then the meta rows and their augmentation; then whatever the step function
draws from the global generator), so a seeded run is reproducible bit for bit on the CPU.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ops.device import resolve_device
from ops.labels.backbones import (
    BackboneConfig,
    EmbeddingSource,
    FeatNet,
    Progress,
    Source,
    build_featnet,
    build_model,
)
from ops.labels.images import to_float
from ops.progress import bar as progress_bar

ONECYCLE_WARMUP = 0.2
"""Share of the steps over which ``lr_schedule="onecycle"`` rises linearly to ``lr``."""

EpochCallback = Callable[[int, nn.Module], None]
StepFn = Callable[["Batch"], Mapping[str, float | torch.Tensor]]
"""``step(batch) -> {name: value}``: one optimiser step; values are averaged per epoch for the
progress line (tensors are read only at the end of the epoch: no GPU sync per step)."""


# --------------------------------------------------------------------------- run set-up
def available_cpus() -> int:
    """CPUs this process may run on (``os.sched_getaffinity``; ``os.cpu_count`` where that does
    not exist): torch's own default counts the machine's cores, which oversubscribes a process
    pinned to fewer."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on every platform
        return max(1, os.cpu_count() or 1)


class Threads:
    """``torch.set_num_threads(n)`` inside the ``with`` block (restored after); ``None`` = the
    CPUs available to the process (:func:`available_cpus`)."""

    def __init__(self, n: int | None) -> None:
        self.old = torch.get_num_threads()
        self.n = n if n else available_cpus()

    def __enter__(self) -> None:
        if self.n:
            torch.set_num_threads(self.n)

    def __exit__(self, *exc: object) -> None:
        if self.n:
            torch.set_num_threads(self.old)


@contextmanager
def seeded(cfg: BackboneConfig, seed: int) -> Iterator[tuple[torch.Generator, torch.device]]:
    """One seeded training run: yields ``(generator, device)``.

    Inside: ``cfg.num_threads`` threads, the global RNG forked (restored on exit) and seeded with
    ``seed`` (model initialisation, VRI's noise), and a CPU generator seeded ``seed + 1`` for
    shuffling and augmentation.
    """
    device = resolve_device(cfg.device)
    forked = [device.index or 0] if device.type == "cuda" else []
    with Threads(cfg.num_threads), torch.random.fork_rng(devices=forked):
        torch.manual_seed(seed)
        yield torch.Generator().manual_seed(seed + 1), device


def place(model: nn.Module, cfg: BackboneConfig, device: torch.device) -> nn.Module:
    """Move ``model`` to ``device`` (channels-last when ``cfg.channels_last``)."""
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if cfg.channels_last else model


def autocast(cfg: BackboneConfig, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when ``cfg.amp``; otherwise a no-op (float32 everywhere)."""
    if cfg.amp and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


# --------------------------------------------------------------------------- data
def augment_batch(
    x: torch.Tensor,
    padding: int,
    hflip: bool,
    gen: torch.Generator,
    *,
    reflect: bool = False,
) -> torch.Tensor:
    """Random crop with ``padding`` (zeros, or the reflected border) and optional horizontal flip,
    per sample, in torch on ``x``'s device; random numbers come from ``gen`` (any device).

    ``x`` is ``(B, C, H, W)`` of any dtype; the output has the same shape and dtype.
    """
    b, c, h, w = x.shape
    dev = x.device
    if padding > 0:
        oy = torch.randint(0, 2 * padding + 1, (b,), generator=gen, device=gen.device).to(dev)
        ox = torch.randint(0, 2 * padding + 1, (b,), generator=gen, device=gen.device).to(dev)
        rows = oy[:, None] + torch.arange(h, device=dev)[None]  # (B, H) in padded coordinates
        cols = ox[:, None] + torch.arange(w, device=dev)[None]  # (B, W)
        if reflect:
            if padding >= min(h, w):
                raise ValueError(f"reflect padding {padding} must be < the image side {h}x{w}")
            xp = x
            rows, cols = _reflect(rows - padding, h), _reflect(cols - padding, w)
        else:
            xp = F.pad(x, (padding, padding, padding, padding))
        bi = torch.arange(b, device=dev)[:, None, None]
        # (B, H, W, C) gathered at (rows, cols), back to (B, C, H, W)
        x = xp.permute(0, 2, 3, 1)[bi, rows[:, :, None], cols[:, None, :]]
        x = x.permute(0, 3, 1, 2).contiguous()
    if hflip:
        m = torch.rand(b, generator=gen, device=gen.device).to(dev) < 0.5
        x = torch.where(m[:, None, None, None], x.flip(-1), x)
    return x


def _reflect(i: torch.Tensor, n: int) -> torch.Tensor:
    """Index ``i`` in ``[-n+1, 2n-2]`` reflected into ``[0, n)`` without repeating the edge."""
    i = i.abs()
    return torch.where(i >= n, 2 * (n - 1) - i, i)


def model_input(
    source: Source, batch: torch.Tensor, cfg: BackboneConfig, device: torch.device
) -> torch.Tensor:
    """A raw batch of ``source`` -> the model's input on ``device``: images normalised to float
    (``cfg.pixel_mean``/``pixel_std``, channels-last if asked), embeddings as they are."""
    x = batch.to(device)
    if isinstance(source, EmbeddingSource):
        return x
    x = to_float(x, cfg.pixel_mean, cfg.pixel_std)
    return x.contiguous(memory_format=torch.channels_last) if cfg.channels_last else x


class Loader:
    """``loader(rows, augment=True)`` -> a model-ready batch of ``source`` on ``device``.

    Augmentation (images only, ``cfg.augment``): random crop with ``cfg.crop_padding``
    (default ``max(1, side // 8)``) and a flip per ``cfg.hflip``, drawn from ``gen``.
    """

    def __init__(
        self,
        source: Source,
        cfg: BackboneConfig,
        device: torch.device,
        gen: torch.Generator | None = None,
    ) -> None:
        self.source, self.cfg, self.gen, self.device = source, cfg, gen, device
        self.is_img = not isinstance(source, EmbeddingSource)
        sample = source.get_batch(np.asarray([0]))
        side = int(sample.shape[-1]) if self.is_img else 0
        ch = int(sample.shape[1]) if self.is_img else 0
        self.pad = (
            (cfg.crop_padding if cfg.crop_padding is not None else max(1, side // 8))
            if self.is_img
            else 0
        )
        self.flip = (ch == 3 and side > 16) if cfg.hflip is None else cfg.hflip

    def __call__(self, idx: np.ndarray, augment: bool = True) -> torch.Tensor:
        xb = self.source.get_batch(np.asarray(idx))
        if self.is_img and augment and self.cfg.augment:
            if self.gen is None:
                raise ValueError("augmentation needs a generator: Loader(..., gen=...)")
            reflect = self.cfg.crop_mode == "reflect"
            xb = augment_batch(xb, self.pad, self.flip, self.gen, reflect=reflect)
        return model_input(self.source, xb, self.cfg, self.device)


# --------------------------------------------------------------------------- schedule, SGD
@dataclass(frozen=True)
class Schedule:
    """``batch`` size, ``steps_per_epoch`` (the ragged tail is dropped), ``epochs``."""

    batch: int
    steps_per_epoch: int
    epochs: int

    @property
    def total(self) -> int:
        return self.epochs * self.steps_per_epoch


def make_schedule(cfg: BackboneConfig, n_train: int) -> Schedule:
    """Batch ``min(batch_size, n)``; epochs raised so training makes ``>= min_steps`` steps."""
    bs = min(cfg.batch_size, n_train)
    spe = max(1, n_train // bs)
    return Schedule(bs, spe, max(cfg.epochs, math.ceil(cfg.min_steps / spe)))


def lr_at(cfg: BackboneConfig, step: int, total: int) -> float:
    """Learning rate at optimiser step ``step`` of ``total`` (``cfg.lr_schedule``)."""
    if not 0 <= step <= total:
        raise ValueError(f"step {step} outside [0, {total}]")
    if cfg.lr_schedule == "onecycle":
        f = step / max(total, 1)
        w = ONECYCLE_WARMUP
        return cfg.lr * (f / w if f < w else max(0.0, (1 - f) / (1 - w)))
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * step / total))


def make_sgd(params, cfg: BackboneConfig) -> torch.optim.SGD:
    """The one SGD recipe every trainer shares (Nesterov momentum when momentum > 0)."""
    return torch.optim.SGD(
        params,
        lr=cfg.lr,
        momentum=cfg.momentum,
        weight_decay=cfg.weight_decay,
        nesterov=cfg.momentum > 0,
    )


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for g in opt.param_groups:
        g["lr"] = lr


def sgd_step(opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """``zero_grad`` -> ``backward`` -> ``step``."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


# --------------------------------------------------------------------------- the loop
@dataclass
class Batch:
    """One training step's data: ``x`` ``(B, ...)`` and labels ``y`` ``(B,)`` of the training
    rows at positions ``sel``; ``lr`` for this step; ``xm``/``ym`` the meta (trusted) batch."""

    x: torch.Tensor
    y: torch.Tensor
    sel: np.ndarray
    lr: float
    xm: torch.Tensor | None = None
    ym: torch.Tensor | None = None


def meta_batches(meta_idx: np.ndarray, n: int, gen: torch.Generator) -> np.ndarray:
    """``n`` meta rows drawn without replacement when possible."""
    perm = torch.randperm(len(meta_idx), generator=gen).numpy()
    if n <= len(meta_idx):
        return meta_idx[perm[:n]]
    extra = torch.randint(0, len(meta_idx), (n - len(meta_idx),), generator=gen).numpy()
    return meta_idx[np.concatenate([perm, extra])]


class TrainLoop:
    """Epochs of shuffled, augmented batches of ``rows`` of ``source`` with ``labels`` (aligned
    to ``rows``), the lr of every step, and (with ``meta_rows``) a trusted batch per step.

    :meth:`fit` runs the epochs with a method's step function; :meth:`batches` is one epoch.
    """

    def __init__(
        self,
        source: Source,
        cfg: BackboneConfig,
        rows: np.ndarray,
        labels: np.ndarray,
        gen: torch.Generator,
        device: torch.device,
        *,
        meta_rows: np.ndarray | None = None,
        meta_labels: np.ndarray | None = None,
        meta_batch: int | None = None,
    ) -> None:
        self.rows = np.asarray(rows, np.int64)
        self.y = torch.as_tensor(np.asarray(labels, np.int64))
        if meta_rows is None:
            if len(self.rows) != len(self.y):
                raise ValueError(f"{len(self.rows)} training rows but {len(self.y)} labels")
            if len(self.rows) < 2:
                raise ValueError("need at least 2 training rows")
        else:
            self.meta_rows = np.asarray(meta_rows, np.int64)
            self.y_meta = np.asarray(meta_labels, np.int64)
            if len(self.rows) != len(self.y) or len(self.meta_rows) != len(self.y_meta):
                raise ValueError(
                    f"rows/labels mismatch: {len(self.rows)}/{len(self.y)} noisy, "
                    f"{len(self.meta_rows)}/{len(self.y_meta)} meta"
                )
            if len(self.rows) < 2 or len(self.meta_rows) < 2:
                raise ValueError("need at least 2 noisy and 2 meta (trusted) rows")
            self.pos = {int(r): i for i, r in enumerate(self.meta_rows)}
        self.has_meta = meta_rows is not None
        self.cfg, self.gen, self.device = cfg, gen, device
        self.load = Loader(source, cfg, device, gen)
        self.schedule = make_schedule(cfg, len(self.rows))
        self.bs, self.spe, self.epochs = (
            self.schedule.batch,
            self.schedule.steps_per_epoch,
            self.schedule.epochs,
        )
        self.mbs = min(meta_batch or self.bs, max(2, len(self.meta_rows))) if self.has_meta else 0
        self.total, self.step = self.schedule.total, 0

    def batches(self) -> Iterator[Batch]:
        """One epoch of batches; advances the global step after each."""
        perm = torch.randperm(len(self.rows), generator=self.gen).numpy()
        for s in range(self.spe):  # drops the ragged tail (BatchNorm needs B >= 2)
            sel = perm[s * self.bs : (s + 1) * self.bs]
            xb, yb = self.load(self.rows[sel]), self.y[sel].to(self.device)
            xm = ym = None
            if self.has_meta:
                mrows = meta_batches(self.meta_rows, self.mbs, self.gen)
                xm = self.load(mrows)
                ym = torch.as_tensor(
                    self.y_meta[[self.pos[int(r)] for r in mrows]], device=self.device
                )
            yield Batch(xb, yb, sel, lr_at(self.cfg, self.step, self.total), xm, ym)
            self.step += 1

    def autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.cfg, self.device)

    def fit(
        self,
        nets: Sequence[nn.Module],
        step: StepFn,
        *,
        name: str = "",
        progress: Progress | None = None,
        epoch_callback: EpochCallback | None = None,
        after_epoch: Callable[[int], str] | None = None,
    ) -> None:
        """Run every epoch: ``nets`` in train mode, ``step(batch)`` per batch, then
        ``after_epoch(epoch)`` (its text ends the progress line), the progress line
        ``"{name}epoch e/E key mean ..."`` and ``epoch_callback(epoch, nets[0])`` in eval mode."""
        with progress_bar(name.strip() or "training", self.epochs, "epoch") as bar:
            for ep in range(self.epochs):
                for net in nets:
                    net.train()
                logs: dict[str, list] = {}
                for batch in self.batches():
                    for k, v in step(batch).items():
                        logs.setdefault(k, []).append(v)
                msg = f"{name}epoch {ep + 1}/{self.epochs} " + " ".join(
                    f"{k} {sum(float(v) for v in vs) / self.spe:.3f}" for k, vs in logs.items()
                )
                if after_epoch is not None:
                    msg += after_epoch(ep)
                bar.update(note=msg.removeprefix(name))
                if progress is not None:
                    progress(msg)
                if epoch_callback is not None:
                    nets[0].eval()
                    epoch_callback(ep, nets[0])


class MetaLoop(TrainLoop):
    """A :class:`TrainLoop` over noisy rows with a trusted (meta) batch drawn after every noisy
    batch -- the scaffold VRI and MW-Net share, so they differ only in their steps."""

    def __init__(
        self,
        source: Source,
        cfg: BackboneConfig,
        noisy_idx: np.ndarray,
        noisy_labels: np.ndarray,
        meta_idx: np.ndarray,
        meta_labels: np.ndarray,
        gen: torch.Generator,
        device: torch.device,
        meta_batch: int | None = None,
    ) -> None:
        super().__init__(
            source,
            cfg,
            noisy_idx,
            noisy_labels,
            gen,
            device,
            meta_rows=meta_idx,
            meta_labels=meta_labels,
            meta_batch=meta_batch,
        )


@contextmanager
def meta_training(
    source: Source,
    cfg: BackboneConfig,
    noisy_idx: np.ndarray,
    noisy_labels: np.ndarray,
    meta_idx: np.ndarray,
    meta_labels: np.ndarray,
    n_classes: int,
    seed: int,
    meta_batch: int | None,
) -> Iterator[tuple[FeatNet, MetaLoop, torch.device]]:
    """Open one VRI / MW-Net run: a :func:`seeded` run, the classifier (:class:`FeatNet`) and its
    :class:`MetaLoop`. Yields ``(net, loop, device)``; everything inside the ``with`` is seeded."""
    with seeded(cfg, seed) as (gen, device):
        net = build_featnet(cfg, source, np.asarray(noisy_idx, np.int64), n_classes)
        net = place(net, cfg, device)
        loop = MetaLoop(
            source, cfg, noisy_idx, noisy_labels, meta_idx, meta_labels, gen, device, meta_batch
        )
        yield net, loop, device  # type: ignore[misc]


def virtual_state(net: nn.Module) -> dict[str, torch.Tensor]:
    """The parameters of ``net`` plus *clones* of its buffers, for ``functional_call`` in a
    virtual (look-ahead) pass: BatchNorm then updates the clones, never the real running
    statistics (docs/labels.md §5)."""
    state: dict[str, torch.Tensor] = dict(net.named_parameters())
    state.update({k: b.clone() for k, b in net.named_buffers()})
    return state


def lookahead(
    params: dict[str, torch.Tensor], loss: torch.Tensor, lr: float
) -> dict[str, torch.Tensor]:
    """One virtual SGD step ``theta' = theta - lr * grad`` that keeps the graph (second order)."""
    names = [k for k, p in params.items() if p.requires_grad]
    grads = torch.autograd.grad(
        loss, [params[k] for k in names], create_graph=True, allow_unused=True
    )
    new = dict(params)
    for k, g in zip(names, grads, strict=True):
        if g is not None:
            new[k] = params[k] - lr * g
    return new


def set_meta_grads(loss: torch.Tensor, module: nn.Module) -> None:
    """Write ``d loss / d module.parameters()`` into ``.grad`` (None -> zeros: no gradient)."""
    ps = [p for p in module.parameters() if p.requires_grad]
    gs = torch.autograd.grad(loss, ps, allow_unused=True)
    for p, g in zip(ps, gs, strict=True):
        p.grad = torch.zeros_like(p) if g is None else g.detach()


# --------------------------------------------------------------------------- CE training
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
    epoch_callback: EpochCallback | None = None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
) -> nn.Module:
    """Train a fresh model (``build_model``) with cross-entropy on rows ``train_idx`` of
    ``source`` with ``labels`` (aligned to ``train_idx``). Returns the model in eval mode.
    ``loss_fn(logits, y)`` replaces the cross-entropy (a benchmark's forward-corrected loss).

    ``progress`` receives lines such as ``"fold 2/5 epoch 3/10 loss 0.812"`` (``prefix`` +
    epoch info); ``epoch_callback(epoch, model)`` is called after every epoch (model in eval
    mode; it is put back into training mode afterwards).
    """
    train_idx = np.asarray(train_idx, dtype=np.int64)
    with seeded(cfg, seed) as (gen, device):
        model = place(build_model(cfg, source, train_idx, n_classes), cfg, device)
        loop = TrainLoop(source, cfg, train_idx, labels, gen, device)
        opt = make_sgd(model.parameters(), cfg)

        def step(b: Batch) -> dict[str, torch.Tensor]:
            set_lr(opt, b.lr)
            with loop.autocast():
                loss = loss_fn(model(b.x).float(), b.y)
            sgd_step(opt, loss)
            return {"loss": loss.detach()}

        loop.fit([model], step, name=prefix, progress=progress, epoch_callback=epoch_callback)
    model.eval()
    return model


# --------------------------------------------------------------------------- prediction
def _chunks(
    source: Source, idx: np.ndarray, cfg: BackboneConfig, device: torch.device, batch_size: int
) -> Iterator[torch.Tensor]:
    for s in range(0, len(idx), batch_size):
        yield model_input(source, source.get_batch(idx[s : s + batch_size]), cfg, device)


@torch.no_grad()
def predict_proba(
    model: nn.Module, source: Source, idx: np.ndarray, cfg: BackboneConfig, batch_size: int = 512
) -> np.ndarray:
    """Softmax probabilities ``(len(idx), n_classes)`` float64 for rows ``idx``."""
    idx = np.asarray(idx, dtype=np.int64)
    device = next(model.parameters()).device
    model.eval()
    out = []
    with Threads(cfg.num_threads):
        for xb in _chunks(source, idx, cfg, device, batch_size):
            with autocast(cfg, device):
                logits = model(xb)
            out.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
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


@torch.no_grad()
def predict_featnet(
    net: nn.Module,
    source: Source,
    idx: np.ndarray,
    cfg: BackboneConfig,
    head: Callable[[torch.Tensor], torch.Tensor] | None = None,
    batch_size: int = 512,
) -> tuple[np.ndarray, np.ndarray]:
    """``(probs (n, C) float64, features (n, D) float32)`` of a ``net(x) -> (z, logits)``;
    ``head`` overrides the logits head (RST's noisy head, say)."""
    idx = np.asarray(idx, dtype=np.int64)
    device = next(net.parameters()).device
    net.eval()
    probs, feats = [], []
    with Threads(cfg.num_threads):
        for xb in _chunks(source, idx, cfg, device, batch_size):
            with autocast(cfg, device):
                z, logits = net(xb)
                if head is not None:
                    logits = head(z)
            probs.append(torch.softmax(logits.float(), 1).cpu().numpy())
            feats.append(z.float().cpu().numpy())
    return np.concatenate(probs).astype(np.float64), np.concatenate(feats)
