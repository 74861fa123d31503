"""CIFAR-10N on one GPU: CE vs cleanlab (OOF, trusted-model) vs VRI vs RST, one command.

All 50,000 CIFAR-10N training images (human labels ``worse`` or ``aggre``), a class-balanced seeded
trusted set (default 100/class, removed from the noisy pool and given its clean labels), the
10,000 CIFAR-10 test images. Same backbone, recipe, epochs and trusted set for every method
(docs/labels.md §8); headline = LAST-epoch test accuracy.

Every method runs the code users run: ``train_model`` (CE), the registered ``cleanlab_oof`` and
``cleanlab_trusted`` methods, ``train_vri`` and ``train_rst`` -- all through the one training
loop of ``ops/labels/training.py``. This script swaps only the data source and the model:

- data: the images as one uint8 tensor on the GPU (``ArrayImageDataset(...).to(device)``), so
  batches are gathered, cropped (4 px reflect padding) and flipped on the GPU;
- model: an airbench-style conv net (~6.5M parameters at width 64) through
  ``BackboneConfig(kind="custom", model_factory=...)``;
- recipe options of the same config: bf16 autocast (``amp``), channels-last, SGD Nesterov 0.9,
  wd 5e-4, one-cycle lr peaking at 0.2, batch 512, CIFAR mean/std normalisation.

    python -m benchmarks.labels_gpu_cifar10n                   # H100/H200, target < 8 min
    python -m benchmarks.labels_gpu_cifar10n --noise aggre --epochs 30
    python -m benchmarks.labels_gpu_cifar10n --smoke           # CPU, tiny subset, end to end

Data: ``$SIEVE_SHARED_DATA``/images, else ``../shared/data/images``, else ``.bench_data/images``
(``benchmarks/stage_gpu_data.sh`` copies it there, with cleanlab wheels in ``.whl/``).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from functools import partial

import numpy as np
import torch
from torch import nn

from benchmarks.labels_bench import SHARED, label_metrics, read_cifar_zip
from ops.contracts import DROPPED
from ops.device import resolve_device
from ops.labels.backbones import BackboneConfig
from ops.labels.images import ArrayImageDataset
from ops.labels.methods import MethodContext, get_method
from ops.labels.noise import draw_trusted
from ops.labels.policy import decide
from ops.labels.rst import RSTConfig, train_rst
from ops.labels.training import predict_featnet, predict_proba, train_model
from ops.labels.vri import VRIConfig, train_vri

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
N_CLASSES = 10


class Net(nn.Module):
    """airbench-style: conv stem, 3 x (conv-BN-GELU, maxpool, conv-BN-GELU), global max pool,
    linear classifier. ``.features`` / ``.classifier`` as ``SmallCNN`` (the meta-learned methods
    split the net there)."""

    def __init__(self, in_channels: int, n_classes: int, width: int = 64) -> None:
        super().__init__()

        def cbg(i: int, o: int) -> list[nn.Module]:
            return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.GELU()]

        w = [width, 2 * width, 4 * width, 8 * width]
        layers = cbg(in_channels, w[0])
        for a, b in zip(w[:-1], w[1:], strict=True):
            layers += cbg(a, b) + [nn.MaxPool2d(2)] + cbg(b, b)
        self.features = nn.Sequential(*layers, nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(w[-1], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def load(noise: str, n_train: int | None, n_test: int | None):
    """``(x_train (N, 32, 32, 3) uint8, y_clean, y_noisy, x_test, y_test)``."""
    need = [
        SHARED / "cifar10n" / "cifar10n_labels_50000.npz",
        SHARED / "cifar10_test" / "cifar10_test_original_labels.npy",
    ]
    missing = [str(p) for p in need if not p.exists()]
    if missing:
        raise SystemExit(
            f"CIFAR-10N data not found: {missing}. Set SIEVE_SHARED_DATA, or run "
            "benchmarks/stage_gpu_data.sh to copy it into .bench_data/ "
            "(see benchmarks/README_labels.md)"
        )
    last = 10000 if n_train and n_train <= 10000 else 50000
    parts = [
        read_cifar_zip(SHARED / "cifar10n" / f"cifar10_train_{a:05d}-{a + 9999:05d}_jpg.zip")
        for a in range(0, last, 10000)
    ]
    x, idx = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    lab = np.load(SHARED / "cifar10n" / "cifar10n_labels_50000.npz")
    y_clean = lab["clean_label"][idx].astype(np.int64)
    y_noisy = lab[f"{noise}_label"][idx].astype(np.int64)
    xte, idt = read_cifar_zip(SHARED / "cifar10_test" / "cifar10_test_00000-09999_jpg.zip")
    yte = np.load(SHARED / "cifar10_test" / "cifar10_test_original_labels.npy")
    yte = yte.astype(np.int64)[idt]
    if n_train:
        x, y_clean, y_noisy = x[:n_train], y_clean[:n_train], y_noisy[:n_train]
    if n_test:
        xte, yte = xte[:n_test], yte[:n_test]
    return x, y_clean, y_noisy, xte, yte


def make_config(a: argparse.Namespace, device: torch.device) -> BackboneConfig:
    """The one recipe every method trains with (the benchmark's model and GPU options)."""
    return BackboneConfig(
        kind="custom",
        model_factory=partial(Net, width=a.width),
        model_id=f"airbench-width{a.width}",
        epochs=a.epochs,
        batch_size=a.batch,
        lr=a.lr,
        momentum=0.9,
        weight_decay=5e-4,
        min_steps=0,
        crop_padding=4,
        crop_mode="reflect",
        hflip=True,
        lr_schedule="onecycle",
        amp=True,  # bf16 autocast on CUDA; ignored on the CPU
        channels_last=device.type == "cuda",
        pixel_mean=CIFAR_MEAN,
        pixel_std=CIFAR_STD,
        device=str(device),
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--noise", default="worse", choices=["worse", "aggre", "random1", "random2", "random3"]
    )
    ap.add_argument("--epochs", type=int, default=24)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--lr", type=float, default=0.2)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--trusted-per-class", type=int, default=100)
    ap.add_argument("--kl-mode", default="outer")
    ap.add_argument("--rst-no-convex", action="store_true")
    ap.add_argument("--methods", default="ce,cleanlab_oof,cleanlab_trusted,vri,rst")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="CPU-sized: 400 train / 100 test images, width 8, 1 epoch",
    )
    ap.add_argument("--n-train", type=int, default=None)
    ap.add_argument("--n-test", type=int, default=None)
    a = ap.parse_args(argv)
    if a.smoke:
        a.n_train, a.n_test = a.n_train or 400, a.n_test or 100
        a.width, a.epochs, a.batch, a.k = 8, 1, 64, 2
        a.trusted_per_class = min(a.trusted_per_class, 5)
    dev = resolve_device(a.device)
    torch.backends.cudnn.benchmark = True
    t0 = time.perf_counter()

    x, y_clean, y_noisy, xte, yte = load(a.noise, a.n_train, a.n_test)
    n_tr = len(y_clean)
    src = ArrayImageDataset(np.concatenate([x, xte])).to(dev)  # (N + n_test, 3, 32, 32) uint8
    test_idx = np.arange(n_tr, n_tr + len(yte))
    train_rows = np.arange(n_tr)
    per = max(1, min(a.trusted_per_class, int(np.bincount(y_clean).min()) // 2))
    trusted = draw_trusted(y_clean, per, seed=a.seed, n_classes=N_CLASSES)
    pool = np.setdiff1d(train_rows, trusted)
    given = y_noisy.copy()
    given[trusted] = y_clean[trusted]
    err = given[pool] != y_clean[pool]
    labels_all = np.concatenate([given, yte])  # test labels are never trained on or cleaned
    cfg = make_config(a, dev)
    print(
        f"device {dev}; {n_tr} train ({len(trusted)} trusted), {len(yte)} test; noise {a.noise} "
        f"actual {err.mean():.3f}; load {time.perf_counter() - t0:.0f} s",
        flush=True,
    )

    def test_acc_cb(accs: list[float], featnet: bool):
        def cb(_ep: int, model: nn.Module) -> None:
            predict = predict_featnet if featnet else predict_proba
            p = predict(model, src, test_idx, cfg, batch_size=2000)
            accs.append(float(np.mean((p[0] if featnet else p).argmax(1) == yte)))

        return cb

    def fit_ce(rows: np.ndarray, labels: np.ndarray = given) -> list[float]:
        accs: list[float] = []
        train_model(
            src,
            rows,
            labels[rows],
            N_CLASSES,
            cfg,
            seed=a.seed,
            epoch_callback=test_acc_cb(accs, False),
        )
        return accs

    def cleanlab_retrain(method: str, backbone: BackboneConfig) -> tuple[list[float], dict]:
        """Registered cleanlab method -> the decision policy (relabel / keep / drop, as the
        image_labels_clean asset decides) -> retrain on the kept rows' labels (+ trusted)."""
        ctx = MethodContext(
            source=src,
            labels=labels_all,
            pool_idx=pool,
            trusted_idx=trusted,
            test_idx=np.zeros(0, np.int64),
            n_classes=N_CLASSES,
            backbone=backbone,
            k_folds=a.k,
            seed=a.seed,
            source_fingerprint="cifar10n-gpu-bench",  # nothing is cached: skip hashing 60k images
        )
        res = get_method(method)(ctx)
        scored = np.zeros(len(labels_all), bool)
        scored[pool] = True
        actions, clean, flags, _ = decide(
            labels_all, res.probs, res.is_issue & scored, scored, **res.policy_inputs()
        )
        lm = label_metrics(actions, clean, flags, pool, y_clean, given)
        kept = pool[actions[pool] != DROPPED]
        return fit_ce(np.sort(np.concatenate([kept, trusted])), clean[:n_tr]), lm

    res = []

    def row(name: str, accs: list[float], all_acc: float, wall: float, kept: float = 1.0) -> None:
        """``all_acc``: label accuracy over all pool rows (a dropped row counts as not correct)."""
        res.append((name, accs[-1], all_acc, kept, wall))
        print(
            f"{name}: test last {accs[-1]:.4f}, label acc all rows {all_acc:.4f}, "
            f"kept {kept:.3f} ({wall:.0f} s)",
            flush=True,
        )

    for m in a.methods.split(","):
        t = time.perf_counter()
        if m == "ce":  # CE + trusted (merged)
            row("CE + trusted", fit_ce(train_rows), 1 - err.mean(), time.perf_counter() - t)
        elif m == "cleanlab_oof":
            accs, lm = cleanlab_retrain("cleanlab_oof", cfg)
            wall = time.perf_counter() - t
            row("cleanlab OOF -> policy -> retrain", accs, lm["all_acc"], wall, lm["kept_share"])
        elif m == "cleanlab_trusted":  # the small trusted set gets at least 60 epochs
            accs, lm = cleanlab_retrain("cleanlab_trusted", replace(cfg, epochs=max(a.epochs, 60)))
            wall = time.perf_counter() - t
            row(
                "cleanlab trusted -> policy -> retrain", accs, lm["all_acc"], wall, lm["kept_share"]
            )
        elif m == "vri":
            accs = []
            net, _ = train_vri(
                src,
                pool,
                given[pool],
                trusted,
                given[trusted],
                N_CLASSES,
                cfg,
                VRIConfig(kl_mode=a.kl_mode),
                seed=a.seed,
                epoch_callback=test_acc_cb(accs, True),
            )
            top = predict_featnet(net, src, pool, cfg, batch_size=2000)[0].argmax(1)
            ca = float(np.mean(top == y_clean[pool]))
            row(f"VRI {a.kl_mode}", accs, ca, time.perf_counter() - t)
        elif m == "rst":
            accs = []
            _, y_hat, _ = train_rst(
                src,
                pool,
                given[pool],
                trusted,
                given[trusted],
                N_CLASSES,
                cfg,
                RSTConfig(convex=not a.rst_no_convex),
                seed=a.seed,
                epoch_callback=test_acc_cb(accs, True),
            )
            ca = float(np.mean(y_hat.argmax(1) == y_clean[pool]))
            name = "RST" + (" (no convex)" if a.rst_no_convex else "")
            row(name, accs, ca, time.perf_counter() - t)
        else:
            raise ValueError(f"unknown method {m!r}")
    print("\n| method | **test last %** | label acc, all pool rows % | kept % | wall s |")
    print("|---|---|---|---|---|")
    for name, last, all_acc, kept, wall in res:
        print(
            f"| {name} | **{100 * last:.2f}** | {100 * all_acc:.1f} | {100 * kept:.1f} "
            f"| {wall:.0f} |"
        )
    where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    print(f"\ntotal {time.perf_counter() - t0:.0f} s on {where}")


if __name__ == "__main__":
    main()
