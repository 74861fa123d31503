"""The one training module: schedule, augmentation, options for GPU-style recipes, stable keys."""

import hashlib
import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as F

from ops.labels.backbones import BackboneConfig, EmbeddingSource
from ops.labels.images import ArrayImageDataset, ImageFileDataset, ImageSpec, to_float
from ops.labels.training import (
    Loader,
    TrainLoop,
    augment_batch,
    lr_at,
    make_schedule,
    predict_proba,
    seeded,
    train_model,
)

SEED = 42
# the keys of BackboneConfig.identity() when the OOF cache keys were introduced
OLD_IDENTITY_KEYS = {
    "kind",
    "width",
    "epochs",
    "batch_size",
    "lr",
    "momentum",
    "weight_decay",
    "min_steps",
    "augment",
    "crop_padding",
    "hflip",
    "head",
    "model_id",
}


def test_identity_keeps_old_cache_keys():
    assert set(BackboneConfig().identity()) == OLD_IDENTITY_KEYS
    assert set(BackboneConfig(device="auto", num_threads=2).identity()) == OLD_IDENTITY_KEYS
    ident = BackboneConfig(amp=True, lr_schedule="onecycle").identity()
    assert ident["amp"] is True and ident["lr_schedule"] == "onecycle"


def test_source_fingerprints_unchanged(tmp_path):
    """The content hashes behind the OOF cache keys, computed as before the structure pass."""
    rng = np.random.default_rng(SEED)
    paths = []
    for i in range(3):
        p = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8), mode="L").save(p)
        paths.append(p)
    ds = ImageFileDataset(paths, ImageSpec(size=8))
    h = hashlib.sha256(f"files|{ds.size}|{ds.channels}".encode())
    for p in paths:
        h.update(hashlib.sha256(p.read_bytes()).digest())
    assert ds.fingerprint() == h.hexdigest()
    arr = ArrayImageDataset(rng.integers(0, 255, (4, 8, 8), dtype=np.uint8))
    h = hashlib.sha256(f"array|{tuple(arr.data.shape)}".encode())
    h.update(arr.data.numpy().tobytes())
    assert arr.fingerprint() == h.hexdigest()
    emb = EmbeddingSource(rng.normal(size=(5, 3)))
    assert emb.fingerprint() == hashlib.sha256(b"emb" + emb.data.numpy().tobytes()).hexdigest()


def test_schedule_and_lr():
    cfg = BackboneConfig(batch_size=64, epochs=2, min_steps=30)
    s = make_schedule(cfg, 100)  # 100 // 64 = 1 step per epoch -> 30 epochs for 30 steps
    assert (s.batch, s.steps_per_epoch, s.epochs, s.total) == (64, 1, 30, 30)
    assert lr_at(cfg, 0, 10) == cfg.lr and lr_at(cfg, 10, 10) == 0.0
    assert math.isclose(lr_at(cfg, 5, 10), cfg.lr / 2)
    one = BackboneConfig(lr=0.2, lr_schedule="onecycle")
    assert lr_at(one, 0, 100) == 0.0
    assert math.isclose(lr_at(one, 20, 100), 0.2) and math.isclose(lr_at(one, 60, 100), 0.1)
    assert lr_at(one, 100, 100) == 0.0
    with pytest.raises(ValueError, match="outside"):
        lr_at(cfg, 11, 10)
    with pytest.raises(ValueError, match="lr_schedule"):
        BackboneConfig(lr_schedule="step")


def test_reflect_crop_matches_torch_pad():
    x = torch.randint(0, 255, (16, 3, 8, 8), dtype=torch.uint8)
    y = augment_batch(x, 3, False, torch.Generator().manual_seed(SEED), reflect=True)
    g = torch.Generator().manual_seed(SEED)
    oy, ox = torch.randint(0, 7, (16,), generator=g), torch.randint(0, 7, (16,), generator=g)
    xp = F.pad(x.float(), (3, 3, 3, 3), mode="reflect")
    ref = torch.stack([xp[i, :, oy[i] : oy[i] + 8, ox[i] : ox[i] + 8] for i in range(16)])
    assert y.dtype == torch.uint8 and torch.equal(y, ref.to(torch.uint8))
    with pytest.raises(ValueError, match="reflect padding"):
        augment_batch(x, 8, False, g, reflect=True)


def test_to_float_per_channel():
    x = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    assert torch.equal(to_float(x), torch.full((2, 3, 4, 4), 2.0))
    out = to_float(x, (0.5, 0.0, 1.0), (0.5, 1.0, 2.0))
    assert out[:, 0].eq(1.0).all() and out[:, 1].eq(1.0).all() and out[:, 2].eq(0.0).all()
    with pytest.raises(ValueError, match="pixel_mean"):
        BackboneConfig(pixel_mean=(0.5, 0.5), pixel_std=(0.25, 0.25))


def test_loader_and_meta_batches_are_seeded():
    src = ArrayImageDataset(np.random.default_rng(SEED).integers(0, 255, (40, 8, 8), np.uint8))
    cfg = BackboneConfig(batch_size=8, epochs=1, min_steps=0)
    runs = []
    for _ in range(2):
        with seeded(cfg, SEED) as (gen, device):
            loop = TrainLoop(
                src,
                cfg,
                np.arange(30),
                np.arange(30) % 3,
                gen,
                device,
                meta_rows=np.arange(30, 40),
                meta_labels=np.arange(10) % 3,
            )
            runs.append([(b.x, b.xm, b.sel, b.lr) for b in loop.batches()])
    assert len(runs[0]) == 30 // 8
    for (x0, m0, s0, lr0), (x1, m1, s1, lr1) in zip(*runs, strict=True):
        assert torch.equal(x0, x1) and torch.equal(m0, m1) and np.array_equal(s0, s1)
        assert lr0 == lr1 and x0.dtype == torch.float32 and m0.shape == (8, 1, 8, 8)
    assert Loader(src, cfg, torch.device("cpu"))(np.arange(3), augment=False).shape == (3, 1, 8, 8)


def test_gpu_style_recipe_trains_on_cpu():
    """The GPU benchmark's options (custom factory, reflect crop, one-cycle, channels-last,
    per-channel normalisation; amp is ignored on the CPU) through the same train_model."""
    from benchmarks.labels_gpu_cifar10n import CIFAR_MEAN, CIFAR_STD, Net

    rng = np.random.default_rng(SEED)
    y = np.repeat(np.arange(2), 20)
    imgs = rng.integers(0, 60, (40, 8, 8, 3), dtype=np.uint8)
    imgs[y == 1, :, :4] += 150  # class 1: bright top half
    src = ArrayImageDataset(imgs)
    cfg = BackboneConfig(
        kind="custom",
        model_factory=lambda c, k: Net(c, k, width=4),
        epochs=8,
        batch_size=10,
        lr=0.1,
        min_steps=0,
        crop_padding=1,
        crop_mode="reflect",
        hflip=True,
        lr_schedule="onecycle",
        amp=True,
        channels_last=True,
        pixel_mean=CIFAR_MEAN,
        pixel_std=CIFAR_STD,
        num_threads=1,
    )
    accs = []
    model = train_model(
        src,
        np.arange(40),
        y,
        2,
        cfg,
        seed=SEED,
        epoch_callback=lambda ep, m: accs.append(
            float(np.mean(predict_proba(m, src, np.arange(40), cfg).argmax(1) == y))
        ),
    )
    assert len(accs) == 8 and accs[-1] >= 0.9, accs
    again = train_model(src, np.arange(40), y, 2, cfg, seed=SEED)
    for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)  # seeded: bit-identical on the CPU


def test_threads_default_to_the_cpus_this_process_may_use():
    import os

    import torch

    from ops.labels.training import Threads, available_cpus

    n = available_cpus()
    assert 1 <= n <= (os.cpu_count() or n)
    if hasattr(os, "sched_getaffinity"):
        assert n == len(os.sched_getaffinity(0))
    before = torch.get_num_threads()
    with Threads(None):
        assert torch.get_num_threads() == n
    assert torch.get_num_threads() == before
