"""CIFAR-10N on one GPU: CE vs cleanlab (OOF, trusted-model) vs VRI vs RST, one command.

All 50,000 CIFAR-10N training images (human labels ``worse`` or ``aggre``), a class-balanced seeded
trusted set (default 100/class, removed from the noisy pool and given its clean labels), the
10,000 CIFAR-10 test images. Same ResNet-sized backbone (airbench-style conv net, ~6.5M params),
recipe, epochs and trusted set for every method (METHODS §6): data kept on the GPU as uint8, crop
(4 px reflect) + flip on the GPU, bf16 autocast, SGD Nesterov 0.9, wd 5e-4, one-cycle lr, batch
512; headline = LAST-epoch test accuracy. VRI and RST reuse the tested pieces of
ops/labels/vri.py and ops/labels/rst.py (look-ahead, KL, corrector, SLSQP weights).

    python benchmarks/labels_gpu_cifar10n.py                       # H100/H200, target < 8 min
    python benchmarks/labels_gpu_cifar10n.py --noise aggre --epochs 30
    python benchmarks/labels_gpu_cifar10n.py --smoke               # CPU, tiny subset: starts and finishes

Data: ``$SIEVE_SHARED_DATA``/images, else ``.bench_data/images`` (``benchmarks/stage_gpu_data.sh``
copies it there, with cleanlab wheels in ``.whl/``), else ``../shared/data/images``.
Not yet run on a GPU (no device lent to the sessions so far): see benchmarks/README_labels.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.labels_bench import SHARED, read_cifar_zip  # noqa: E402
from ops.labels.detection import detect_label_issues  # noqa: E402
from ops.labels.noise import draw_trusted  # noqa: E402
from ops.labels.rst import (
    CorrectionState,
    RSTConfig,
    correction_epochs,
    correction_round,
    split_trusted,
)  # noqa: E402
from ops.labels.vri import VRIConfig, VRINets, vri_inner_loss, vri_meta_step  # noqa: E402

MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
STD = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)


class Net(nn.Module):
    """airbench-style: conv stem, 3 x (conv-BN-GELU, maxpool, conv-BN-GELU), global max pool.
    ``forward(x) -> (z, logits)``; ``noisy_head`` is used by RST only."""

    def __init__(self, width: int = 64, n_classes: int = 10) -> None:
        super().__init__()

        def cbg(i: int, o: int) -> list[nn.Module]:
            return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.GELU()]

        w = [width, 2 * width, 4 * width, 8 * width]
        layers = cbg(3, w[0])
        for a, b in zip(w[:-1], w[1:]):
            layers += cbg(a, b) + [nn.MaxPool2d(2)] + cbg(b, b)
        self.features = nn.Sequential(*layers, nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.head = nn.Linear(w[-1], n_classes)
        self.noisy_head = nn.Linear(w[-1], n_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.features(x)
        return z, self.head(z)


def load(noise: str, n_train: int | None, n_test: int | None):
    need = [
        SHARED / "cifar10n" / "cifar10n_labels_50000.npz",
        SHARED / "cifar10_test" / "cifar10_test_original_labels.npy",
    ]
    missing = [str(p) for p in need if not p.exists()]
    if missing:
        raise SystemExit(
            f"CIFAR-10N data not found: {missing}. Set SIEVE_SHARED_DATA, or run "
            "benchmarks/stage_gpu_data.sh to copy it into .bench_data/ (see benchmarks/README_labels.md)"
        )
    xs, ids = zip(
        *(
            read_cifar_zip(SHARED / "cifar10n" / f"cifar10_train_{a:05d}-{a + 9999:05d}_jpg.zip")
            for a in range(0, 10000 if n_train and n_train <= 10000 else 50000, 10000)
        )
    )
    x, idx = np.concatenate(xs), np.concatenate(ids)
    lab = np.load(SHARED / "cifar10n" / "cifar10n_labels_50000.npz")
    y_clean, y_noisy = (
        lab["clean_label"][idx].astype(np.int64),
        lab[f"{noise}_label"][idx].astype(np.int64),
    )
    xte, idt = read_cifar_zip(SHARED / "cifar10_test" / "cifar10_test_00000-09999_jpg.zip")
    yte = np.load(SHARED / "cifar10_test" / "cifar10_test_original_labels.npy").astype(np.int64)[
        idt
    ]
    if n_train:
        x, y_clean, y_noisy = x[:n_train], y_clean[:n_train], y_noisy[:n_train]
    if n_test:
        xte, yte = xte[:n_test], yte[:n_test]
    return x, y_clean, y_noisy, xte, yte


class Bench:
    def __init__(self, args: argparse.Namespace, dev: torch.device) -> None:
        self.a, self.dev = args, dev
        x, self.y_clean, y_noisy, xte, self.yte = load(args.noise, args.n_train, args.n_test)
        self.x = torch.as_tensor(x).permute(0, 3, 1, 2).contiguous().to(dev)  # (N, 3, 32, 32) uint8
        self.xte = torch.as_tensor(xte).permute(0, 3, 1, 2).contiguous().to(dev)
        per = max(1, min(args.trusted_per_class, int(np.bincount(self.y_clean).min()) // 2))
        self.trusted = draw_trusted(self.y_clean, per, seed=args.seed, n_classes=10)
        self.pool = np.setdiff1d(np.arange(len(self.y_clean)), self.trusted)
        self.given = y_noisy.copy()
        self.given[self.trusted] = self.y_clean[self.trusted]
        self.err = self.given[self.pool] != self.y_clean[self.pool]
        self.gen = torch.Generator(device=dev).manual_seed(args.seed)
        self.amp = dict(device_type=dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda")

    def norm(self, xb: torch.Tensor) -> torch.Tensor:
        return (xb.float() / 255 - MEAN.to(xb.device)) / STD.to(xb.device)

    def aug(self, xb: torch.Tensor) -> torch.Tensor:
        b = xb.shape[0]
        xp = F.pad(xb.float(), (4, 4, 4, 4), mode="reflect")
        oy = torch.randint(0, 9, (b,), device=xb.device, generator=self.gen)
        ox = torch.randint(0, 9, (b,), device=xb.device, generator=self.gen)
        ar = torch.arange(32, device=xb.device)
        rows = (oy[:, None] + ar)[:, None, :, None].expand(b, 3, 32, 32)
        cols = (ox[:, None] + ar)[:, None, None, :].expand(b, 3, 32, 32)
        bi = torch.arange(b, device=xb.device)[:, None, None, None]
        ci = torch.arange(3, device=xb.device)[None, :, None, None]
        out = xp[bi, ci, rows, cols]  # (B, 3, 32, 32) random 32x32 crop of the padded image
        flip = torch.rand(b, device=xb.device, generator=self.gen) < 0.5
        out = torch.where(flip[:, None, None, None], out.flip(-1), out)
        return (out / 255 - MEAN.to(xb.device)) / STD.to(xb.device)

    def new_net(self) -> Net:
        torch.manual_seed(self.a.seed)
        return Net(self.a.width).to(self.dev).to(memory_format=torch.channels_last)

    def lr_at(self, step: int, total: int) -> float:  # one-cycle: linear up 20 %, linear down
        f = step / max(total, 1)
        return self.a.lr * (f / 0.2 if f < 0.2 else max(0.0, (1 - f) / 0.8))

    @torch.no_grad()
    def predict(
        self, net: Net, x: torch.Tensor, head: nn.Module | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        net.eval()
        ps, zs = [], []
        for s in range(0, len(x), 2000):
            with torch.autocast(**self.amp):
                z, lg = net(self.norm(x[s : s + 2000]))
                lg = head(z) if head is not None else lg
            ps.append(torch.softmax(lg.float(), 1).cpu())
            zs.append(z.float().cpu())
        net.train()
        return torch.cat(ps).double().numpy(), torch.cat(zs).numpy()

    def test_acc(self, net: Net) -> float:
        return float(np.mean(self.predict(net, self.xte)[0].argmax(1) == self.yte))

    def train(
        self,
        rows: np.ndarray,
        targets: np.ndarray,
        *,
        kind: str = "ce",
        epochs: int | None = None,
        log_test: bool = True,
    ) -> tuple[Net, list[float], dict]:
        """``kind`` in {ce, vri, rst}. ``targets``: int labels aligned to ``rows``."""
        a, dev = self.a, self.dev
        epochs = epochs or a.epochs
        net = self.new_net()
        opt = torch.optim.SGD(
            net.parameters(), lr=a.lr, momentum=0.9, nesterov=True, weight_decay=5e-4
        )
        bs = min(a.batch, len(rows))
        spe = max(1, len(rows) // bs)
        total, step, accs, info = epochs * spe, 0, [], {}
        rows_t = torch.as_tensor(rows, device=dev)
        y = torch.as_tensor(targets, device=dev)
        if kind == "vri":
            vcfg = VRIConfig(kl_mode=a.kl_mode)
            nets = VRINets(net.head.in_features, 10, vcfg).to(dev)
            mopt = torch.optim.Adam(
                nets.parameters(), lr=vcfg.meta_lr, weight_decay=vcfg.meta_weight_decay
            )
            tr_t = torch.as_tensor(self.trusted, device=dev)
            ytr = torch.as_tensor(self.given[self.trusted], device=dev)
        if kind == "rst":
            rcfg = RSTConfig(convex=not a.rst_no_convex)
            soft = F.one_hot(y, 10).float()
            state = CorrectionState(pool=[soft.cpu().double().numpy()])
            ym = self.given[self.trusted]
            tr, va = split_trusted(ym, rcfg.val_frac, a.seed)
            rounds = set(correction_epochs(epochs, rcfg))
        for ep in range(epochs):
            net.train()
            perm = torch.randperm(len(rows), device=dev, generator=self.gen)
            for s in range(spe):
                sel = perm[s * bs : (s + 1) * bs]
                xb, yb = (
                    self.aug(self.x[rows_t[sel]]).contiguous(memory_format=torch.channels_last),
                    y[sel],
                )
                lr = self.lr_at(step, total)
                for g in opt.param_groups:
                    g["lr"] = lr
                with torch.autocast(**self.amp):
                    if kind == "vri":
                        m = tr_t[torch.randint(0, len(tr_t), (bs,), device=dev, generator=self.gen)]
                        xm = self.aug(self.x[m]).contiguous(memory_format=torch.channels_last)
                        ymb = ytr[torch.searchsorted(tr_t, m)]
                        mopt.zero_grad(set_to_none=True)
                        vri_meta_step(net, nets, xb, yb, xm, ymb, lr, vcfg)
                        mopt.step()
                        z, logits = net(xb)
                        with torch.no_grad():
                            _, _, v = vri_inner_loss(
                                z.detach().float(), logits.detach().float(), yb, nets, vcfg
                            )
                        loss = F.cross_entropy(v * logits.float(), yb)
                    elif kind == "rst":
                        z, logits = net(xb)
                        loss = -(soft[sel] * F.log_softmax(logits.float(), 1)).sum(
                            1
                        ).mean() + rcfg.lam * F.cross_entropy(net.noisy_head(z).float(), yb)
                    else:
                        loss = F.cross_entropy(net(xb)[1].float(), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
            if kind == "rst" and ep + 1 in rounds:
                _, z_pool = self.predict(net, self.x[rows_t])
                sim_m, z_m = self.predict(
                    net, self.x[torch.as_tensor(self.trusted, device=dev)], head=net.noisy_head
                )
                y_hat = correction_round(
                    state, z_pool, targets, z_m, sim_m, ym, tr, va, rcfg, seed=a.seed + ep
                )
                soft = torch.as_tensor(y_hat, dtype=torch.float32, device=dev)
                info["y_hat"] = y_hat
            if log_test:
                accs.append(self.test_acc(net))
        return net, accs, info


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
        a.n_train, a.n_test, a.width, a.epochs, a.batch, a.k = (
            a.n_train or 400,
            a.n_test or 100,
            8,
            1,
            64,
            2,
        )
        a.trusted_per_class = min(a.trusted_per_class, 5)
    dev = torch.device(
        "cuda"
        if a.device == "auto" and torch.cuda.is_available()
        else ("cpu" if a.device == "auto" else a.device)
    )
    torch.backends.cudnn.benchmark = True
    t0 = time.perf_counter()
    b = Bench(a, dev)
    train_rows = np.arange(len(b.given))
    print(
        f"device {dev}; {len(train_rows)} train ({len(b.trusted)} trusted), {len(b.yte)} test; noise {a.noise} "
        f"actual {b.err.mean():.3f}; load {time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    res = []

    def row(name, accs, clean_acc, wall):
        res.append((name, max(accs), accs[-1], clean_acc, wall))
        print(
            f"{name}: best {max(accs):.4f} last {accs[-1]:.4f} cleaned-label acc {clean_acc:.4f} ({wall:.0f} s)",
            flush=True,
        )

    def cleanlab_retrain(name, probs_pool):
        det = detect_label_issues(b.given[b.pool], probs_pool)
        keep = np.sort(np.concatenate([b.pool[~det.is_issue], b.trusted]))
        ca = float(np.mean(b.given[b.pool][~det.is_issue] == b.y_clean[b.pool][~det.is_issue]))
        _, accs, _ = b.train(keep, b.given[keep])
        return accs, ca

    for m in a.methods.split(","):
        t = time.perf_counter()
        if m == "ce":  # CE + trusted (merged)
            _, accs, _ = b.train(train_rows, b.given)
            row("CE + trusted", accs, 1 - b.err.mean(), time.perf_counter() - t)
        elif m == "cleanlab_oof":
            rng = np.random.default_rng(a.seed)
            fold = np.empty(len(train_rows), np.int64)
            for c in range(10):
                r = rng.permutation(np.flatnonzero(b.given == c))
                fold[r] = np.arange(len(r)) % a.k
            oof = np.zeros((len(train_rows), 10))
            for f in range(a.k):
                net, _, _ = b.train(train_rows[fold != f], b.given[fold != f], log_test=False)
                oof[fold == f] = b.predict(
                    net, b.x[torch.as_tensor(np.flatnonzero(fold == f), device=dev)]
                )[0]
            accs, ca = cleanlab_retrain("cleanlab OOF", oof[b.pool])
            row("cleanlab OOF -> drop -> retrain", accs, ca, time.perf_counter() - t)
        elif m == "cleanlab_trusted":
            net, _, _ = b.train(
                b.trusted, b.given[b.trusted], epochs=max(a.epochs, 60), log_test=False
            )
            accs, ca = cleanlab_retrain(
                "cleanlab trusted", b.predict(net, b.x[torch.as_tensor(b.pool, device=dev)])[0]
            )
            row("cleanlab trusted-model -> drop -> retrain", accs, ca, time.perf_counter() - t)
        elif m == "vri":
            net, accs, _ = b.train(b.pool, b.given[b.pool], kind="vri")
            top = b.predict(net, b.x[torch.as_tensor(b.pool, device=dev)])[0].argmax(1)
            row(
                f"VRI {a.kl_mode}",
                accs,
                float(np.mean(top == b.y_clean[b.pool])),
                time.perf_counter() - t,
            )
        elif m == "rst":
            _, accs, info = b.train(b.pool, b.given[b.pool], kind="rst")
            ca = (
                float(np.mean(info["y_hat"].argmax(1) == b.y_clean[b.pool]))
                if "y_hat" in info
                else float("nan")
            )
            row(
                "RST" + (" (no convex)" if a.rst_no_convex else ""),
                accs,
                ca,
                time.perf_counter() - t,
            )
        else:
            raise ValueError(f"unknown method {m!r}")
    print(
        "\n| method | test best % | **test last %** | cleaned-label acc % | wall s |\n|---|---|---|---|---|"
    )
    for name, best, last, ca, wall in res:
        print(f"| {name} | {100 * best:.2f} | **{100 * last:.2f}** | {100 * ca:.1f} | {wall:.0f} |")
    print(
        f"\ntotal {time.perf_counter() - t0:.0f} s on {torch.cuda.get_device_name() if dev.type == 'cuda' else 'cpu'}"
    )


if __name__ == "__main__":
    main()
