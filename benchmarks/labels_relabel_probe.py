"""Can any relabelling on the default pretrained vectors give a training set whose head beats
the head trained on the given labels? (issue 13's "head on cleaned labels" target)

    python -m benchmarks.labels_relabel_probe --noises worse,aggre --seeds 2 [--save F.jsonl]

An exploration probe, not a method Sieve ships. Same data and split as
``labels_photos train_sets``: CIFAR-10N, default vectors (``BackboneConfig`` encoder), 10
trusted images per class, heads trained on rows 0-39,999 with the default head recipe
(:func:`ops.labels.training.train_model`: linear, SGD, 15 epochs, weight decay 0.3) and scored
against the clean labels of rows 40,000-49,999. Relabellings compared, each handing the head a
label for every row (trusted rows keep their verified label):

- ``forward (T known)``: a head trained with forward loss correction
  (``log(softmax(z) @ T)``, Patrini et al. 2017) using the *true* noise transition ``T`` of the
  50,000 rows -- an upper reference no user has; each row relabelled by the posterior
  ``p(c | x) T[c, given]``. Weight decay ``--fwd-wd``.
- ``forward (T from trusted)``: the same with ``T`` counted on the trusted rows (their given
  label beside their verified one), shrunk toward a symmetric ``T`` of the same flip rate with
  the weight of 5 rows per class.
- ``k-NN vote``: the majority given label of the 20 nearest rows (cosine, 256 PCA components).
- ``k-NN and OOF agree``: change a label only where the k-NN vote and the 5-fold out-of-fold
  head agree on another class.

Prints the label accuracy of each relabelling, the share of labels changed and the validation
accuracy of the default head trained on it, beside the given labels and the clean ones.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.labels_photos import cifar10n_data, head_config, noisy_split
from benchmarks.shared_data import REPO
from ops.labels.backbones import BackboneConfig
from ops.labels.encoders import PretrainedEncoder
from ops.labels.training import predict_proba, train_model

K = 10
FIT_ROWS = 40000


def train_forward(src, rows, labels, T: np.ndarray, cfg: BackboneConfig, seed: int):
    """:func:`train_model` with the forward-corrected loss ``NLL(log(softmax(z) @ T))``."""
    Tt = torch.tensor(T, dtype=torch.float32)

    def forward_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        p = torch.softmax(logits, 1) @ Tt.to(logits.device)
        return F.nll_loss(torch.log(p.clamp_min(1e-8)), y)

    return train_model(src, rows, labels, K, cfg, seed=seed, loss_fn=forward_loss)


def transition(y_clean: np.ndarray, y_given: np.ndarray, shrink: float = 0.0) -> np.ndarray:
    T = np.zeros((K, K))
    np.add.at(T, (y_clean, y_given), 1.0)
    if shrink > 0:
        rho = 1.0 - np.trace(T) / T.sum()
        prior = np.full((K, K), rho / (K - 1))
        np.fill_diagonal(prior, 1.0 - rho)
        T = T + shrink * prior
    return T / T.sum(1, keepdims=True)


def knn_votes(x: np.ndarray, given: np.ndarray, k: int = 20, dims: int = 256) -> np.ndarray:
    """Share of each class among the ``k`` nearest other rows (cosine on PCA components)."""
    z = (x - x.mean(0)) / (x.std(0) + 1e-6)
    sample = np.random.default_rng(0).choice(len(z), min(10000, len(z)), replace=False)
    _, _, vt = np.linalg.svd(z[sample], full_matrices=False)
    z = z @ vt[:dims].T
    zt = torch.tensor(z / np.linalg.norm(z, axis=1, keepdims=True), dtype=torch.float32)
    votes = np.zeros((len(z), K))
    for b in range(0, len(z), 2000):
        sims = zt[b : b + 2000] @ zt.T
        sims[torch.arange(len(sims)), torch.arange(b, b + len(sims))] = -9.0
        nb = sims.topk(k, dim=1).indices.numpy()
        for c in range(K):
            votes[b : b + len(nb), c] = (given[nb] == c).mean(1)
    return votes


def run(a) -> list[dict]:
    d = BackboneConfig()
    enc = PretrainedEncoder(d.encoder, d.encoder_resolution, threads=a.threads, flip=d.encoder_flip)
    lab, ytr, yte, src, _ = cifar10n_data(a, enc)
    n = len(ytr)
    fit, val = np.arange(FIT_ROWS), np.arange(FIT_ROWS, n)
    cfg = head_config(a)
    fwd_cfg = BackboneConfig(
        kind="pretrained", num_threads=a.threads, head_weight_decay=a.fwd_wd
    ).for_vectors()
    x = src.get_batch(np.arange(n)).numpy()

    def head_val(y: np.ndarray, seed: int) -> float:
        m = train_model(src, fit, y[fit], K, cfg, seed=seed)
        return float(np.mean(predict_proba(m, src, val, cfg).argmax(1) == ytr[val]))

    out = []
    for noise in a.noises.split(","):
        for seed in range(a.seeds):
            t0 = time.perf_counter()
            trusted, _pool, given, *_ = noisy_split(a, lab, ytr, yte, noise, seed)
            raw = lab[f"{noise}_label"][:n].astype(np.int64)
            folds = np.random.default_rng(seed).permutation(n) % 5
            oof = np.zeros((n, K))
            for f in range(5):
                tr, ho = np.flatnonzero(folds != f), np.flatnonzero(folds == f)
                m = train_model(src, tr, given[tr], K, cfg, seed=seed)
                oof[ho] = predict_proba(m, src, ho, cfg)
            votes = knn_votes(x, given)
            sets = {"given labels": given, "clean labels (oracle)": ytr}
            for name, T in (
                ("forward (T known)", transition(ytr, raw)),
                ("forward (T from trusted)", transition(ytr[trusted], raw[trusted], shrink=5.0)),
            ):
                m = train_forward(src, fit, given[fit], T, fwd_cfg, seed)
                p = predict_proba(m, src, np.arange(n), fwd_cfg)
                post = p * T[:, given].T
                sets[name] = post.argmax(1)
            sets["k-NN vote"] = votes.argmax(1)
            agree = votes.argmax(1) == oof.argmax(1)
            sets["k-NN and OOF agree"] = np.where(agree, oof.argmax(1), given)
            for name, y in sets.items():
                y = y.copy()
                y[trusted] = ytr[trusted]
                row = dict(
                    noise=noise,
                    seed=seed,
                    labels=name,
                    label_acc=float(np.mean(y == ytr)),
                    changed=float(np.mean(y != given)),
                    val_acc=head_val(y, seed),
                )
                print(json.dumps(row), flush=True)
                out.append(row)
            print(f"# {noise} seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def print_table(rows: list[dict], fwd_wd: float) -> None:
    print(
        f"\n| noise | labels (forward heads: weight decay {fwd_wd}) | seeds | label acc % "
        "| changed % | **validation acc %** of the default head |"
    )
    print("|---|---|---|---|---|---|")
    keys = list(dict.fromkeys((r["noise"], r["labels"]) for r in rows))
    for noise, name in keys:
        rs = [r for r in rows if r["noise"] == noise and r["labels"] == name]

        def ms(k: str, rs=rs) -> str:
            v = 100 * np.array([r[k] for r in rs])
            return f"{v.mean():.1f} ± {v.std():.1f}"

        print(
            f"| {noise} | {name} | {len(rs)} | {ms('label_acc')} | {ms('changed')} "
            f"| **{ms('val_acc')}** |"
        )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--noises", default="worse,aggre")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--trusted-per-class", type=int, default=10)
    ap.add_argument("--fwd-wd", type=float, default=0.1, help="weight decay of the forward heads")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--save", type=Path, help="append the rows to this JSON-lines file")
    default_emb = os.environ.get("SIEVE_EMB_CACHE") or str(REPO / ".bench_data" / "emb")
    ap.add_argument("--emb-dir", type=Path, default=Path(default_emb))
    a = ap.parse_args(argv)
    a.head, a.head_wd = None, None
    torch.set_num_threads(a.threads)
    rows = run(a)
    if a.save:
        with a.save.open("a") as fh:
            for r in rows:
                fh.write(json.dumps({"bench": "relabel_probe", "fwd_wd": a.fwd_wd, **r}) + "\n")
    print_table(rows, a.fwd_wd)


if __name__ == "__main__":
    main()
