"""Bradley–Terry rater: one head per criterion trained on soft pairwise judgments
(docs/tsrating.md §6).

Inputs are encoder features (:mod:`ops.tsrating.encoder`) standardised **per dataset**
(:func:`standardize`: mean/std over the dataset's own windows, no labels used; the same
rule in meta-training, so a head sees comparable inputs in every domain).

- Head: ``Linear(d→h) → ReLU → [Linear(h→h) → LayerNorm → ReLU] + skip → Linear(h→1)``,
  one architecture for single-dataset and meta mode (checkpoints of either load the same way).
- Loss (soft BT): ``−[p·log σ(s_b − s_a) + (1 − p)·log σ(s_a − s_b)]`` with
  ``p = comparisons_avg = p(b ≻ a)``, on *confident* pairs with status ``ok`` only.
- Training: random ``1 − val_share`` / ``val_share`` split of the confident pairs, Adam
  (lr 5e-3, 20 epochs, batch 64, seed 42); the returned head is the one trained on the
  training part; **held-out pairwise accuracy** = share of held-out pairs where
  ``sign(s_b − s_a)`` agrees with ``p > 0.5`` (exact ties count one half).
- Too few confident pairs (``< min_pairs``) for a criterion: no head is trained; that
  criterion is scored a constant 0.5 and reported as ``fallback`` — nothing is invented.
- Combined score (the paper's "mix", :func:`mix_scores`): min–max normalise each trained
  criterion over the dataset, then the unweighted mean over the trained criteria (fallback
  criteria are left out of the mean; with none trained, every window gets 0.5).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl
import torch
from torch import nn

from ops.device import resolve_device
from ops.fileio import write_bytes_atomic
from ops.hashing import sha256_hex
from ops.progress import advance as progress_advance
from ops.progress import start as progress_start
from ops.tsrating.prompts import CRITERIA

RATER_FORMAT = "sieve-bt-rater"
RATER_SCHEMA_VERSION = 1


class RaterHead(nn.Module):
    """The head of docs/tsrating.md §6 (hidden 256 by default). The last layer has no bias: the
    BT loss only sees score differences, so a bias would get an exactly-zero gradient and never
    train."""

    def __init__(self, dim: int, hidden: int = 256):
        super().__init__()
        self.inp = nn.Linear(dim, hidden)
        self.mid = nn.Linear(hidden, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, 1, bias=False)  # BT is invariant to an output offset: no bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.inp(x))
        h = torch.relu(self.norm(self.mid(h))) + h
        return self.out(h).squeeze(-1)


@dataclass(frozen=True)
class Pairs:
    """Confident pairs of one criterion: indices into the feature rows and p(b ≻ a)."""

    a: np.ndarray
    b: np.ndarray
    p: np.ndarray

    def __len__(self) -> int:
        return int(len(self.p))

    def take(self, idx: np.ndarray) -> Pairs:
        return Pairs(self.a[idx], self.b[idx], self.p[idx])

    def tensors(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (
            torch.as_tensor(self.a, dtype=torch.long, device=device),
            torch.as_tensor(self.b, dtype=torch.long, device=device),
            torch.as_tensor(self.p, dtype=torch.float32, device=device),
        )


def pairs_from_judgments(judgments: pl.DataFrame, window_ids: Sequence[str]) -> dict[str, Pairs]:
    """Confident, ``ok`` judgments per criterion, mapped onto ``window_ids`` by ``block_a/block_b``.

    Pairs whose blocks are not among ``window_ids`` are dropped (judgments of an older window set).
    """
    pos = {str(w): i for i, w in enumerate(window_ids)}
    out: dict[str, Pairs] = {}
    if judgments.height == 0:
        return {c: Pairs(np.zeros(0, int), np.zeros(0, int), np.zeros(0)) for c in CRITERIA}
    j = judgments.filter(pl.col("confident") & pl.col("comparisons_avg").is_not_null())
    if "status" in j.columns:
        j = j.filter(pl.col("status") == "ok")
    for c in CRITERIA:
        jc = j.filter(pl.col("criterion") == c)
        a = np.array([pos.get(str(x), -1) for x in jc["block_a"].to_list()], dtype=np.int64)
        b = np.array([pos.get(str(x), -1) for x in jc["block_b"].to_list()], dtype=np.int64)
        p = jc["comparisons_avg"].to_numpy().astype(np.float64)
        keep = (a >= 0) & (b >= 0)
        out[c] = Pairs(a[keep], b[keep], p[keep])
    return out


def standardize(features: np.ndarray, clip: float = 10.0) -> np.ndarray:
    """Per-dataset z-score of each feature column (constant columns -> 0), clipped to ±clip."""
    F = np.asarray(features, dtype=np.float64)
    mu = F.mean(axis=0)
    sd = F.std(axis=0)
    Z = (F - mu) / np.where(sd > 1e-12, sd, 1.0)
    return np.clip(Z, -clip, clip).astype(np.float32)


def bt_loss(s_a: torch.Tensor, s_b: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Mean soft Bradley–Terry loss; ``p`` = probability that b beats a."""
    return nn.functional.binary_cross_entropy_with_logits(s_b - s_a, p)


def pairwise_accuracy(scores: np.ndarray, pairs: Pairs) -> float | None:
    """Share of pairs where ``sign(s_b − s_a)`` agrees with ``p > 0.5`` (ties = 1/2); None if
    no pairs."""
    if len(pairs) == 0:
        return None
    d = scores[pairs.b] - scores[pairs.a]
    want = pairs.p > 0.5
    hit = np.where(d == 0, 0.5, ((d > 0) == want).astype(float))
    return float(hit.mean())


@dataclass(frozen=True)
class RaterConfig:
    hidden: int = 256
    lr: float = 5e-3
    epochs: int = 20
    batch_size: int = 64
    seed: int = 42
    val_share: float = 0.2
    min_pairs: int = 20
    finetune_lr: float = 1e-3  # used instead of lr when starting from a (meta) checkpoint
    device: str = "cpu"


def train_head(
    head: nn.Module,
    X: torch.Tensor,
    pairs: Pairs,
    *,
    lr: float,
    epochs: int,
    batch_size: int,
    seed: int,
) -> nn.Module:
    """Adam on the soft BT loss over ``pairs`` (in place); seeded shuffling."""
    if len(pairs) == 0 or epochs <= 0:
        return head
    device = X.device
    a, b, p = pairs.tensors(device)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    head.train()
    n = len(pairs)
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen).to(device)
        for s in range(0, n, batch_size):
            idx = perm[s : s + batch_size]
            loss = bt_loss(head(X[a[idx]]), head(X[b[idx]]), p[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        progress_advance()
    head.eval()
    return head


@torch.no_grad()
def head_scores(head: nn.Module, X: torch.Tensor, batch: int = 65536) -> np.ndarray:
    head.eval()
    return (
        torch.cat([head(X[s : s + batch]) for s in range(0, X.shape[0], batch)])
        .double()
        .cpu()
        .numpy()
    )


def split_pairs(pairs: Pairs, val_share: float, seed: int) -> tuple[Pairs, Pairs]:
    n = len(pairs)
    perm = np.random.default_rng(seed).permutation(n)
    n_val = int(round(val_share * n)) if n >= 5 else 0
    return pairs.take(perm[n_val:]), pairs.take(perm[:n_val])


@dataclass
class Rater:
    """Trained heads per criterion plus what produced them."""

    dim: int
    hidden: int
    heads: dict[str, RaterHead]
    encoder: dict[str, Any]
    fallback: dict[str, str] = field(default_factory=dict)  # criterion -> reason
    info: dict[str, Any] = field(default_factory=dict)

    def score(self, features_std: np.ndarray, device: str = "cpu") -> dict[str, np.ndarray]:
        """Raw head outputs per criterion (constant 0 for fallback criteria)."""
        dev = resolve_device(device)
        X = torch.as_tensor(np.asarray(features_std, dtype=np.float32), device=dev)
        out = {}
        for c in CRITERIA:
            if c in self.heads:
                out[c] = head_scores(self.heads[c].to(dev), X)
            else:
                out[c] = np.zeros(X.shape[0])
        return out

    def version(self) -> str:
        blob = json.dumps(
            {"enc": self.encoder, "info": self.info, "fallback": self.fallback},
            sort_keys=True,
            default=str,
        )
        return f"bt-rater-v{RATER_SCHEMA_VERSION}-{sha256_hex(blob)[:12]}"


def mix_scores(raw: Mapping[str, np.ndarray], trained: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-criterion min–max scores in [0, 1] (0.5 for untrained or constant) and ``quality`` =
    their mean over the trained criteria (0.5 everywhere when none is trained)."""
    out: dict[str, np.ndarray] = {}
    n = len(next(iter(raw.values()))) if raw else 0
    for c, s in raw.items():
        s = np.asarray(s, dtype=np.float64)
        lo, hi = (float(s.min()), float(s.max())) if n else (0.0, 0.0)
        if c not in trained or not np.isfinite([lo, hi]).all() or hi - lo <= 1e-12:
            out[c] = np.full(n, 0.5)
        else:
            out[c] = np.clip((s - lo) / (hi - lo), 0.0, 1.0)
    used = [c for c in raw if c in trained]
    out["quality"] = np.mean([out[c] for c in used], axis=0) if used else np.full(n, 0.5)
    return out


def fit_rater(
    features_std: np.ndarray,
    pairs: Mapping[str, Pairs],
    config: RaterConfig = RaterConfig(),
    *,
    encoder: Mapping[str, Any] | None = None,
    init: Mapping[str, Mapping[str, torch.Tensor]] | None = None,
    init_version: str | None = None,
) -> tuple[Rater, dict[str, Any]]:
    """Train one head per criterion; returns the rater and a report (per criterion: n_train,
    n_val, val_accuracy, status). ``init`` = state dicts per criterion (e.g. a meta checkpoint)."""
    dev = resolve_device(config.device)
    X = torch.as_tensor(np.asarray(features_std, dtype=np.float32), device=dev)
    dim = X.shape[1]
    heads: dict[str, RaterHead] = {}
    fallback: dict[str, str] = {}
    report: dict[str, Any] = {}
    n_heads = sum(len(pairs[c]) >= config.min_pairs for c in CRITERIA if c in pairs)
    bar = progress_start("rater training", n_heads * config.epochs, "epoch")
    for k, c in enumerate(CRITERIA):
        pc = pairs.get(c, Pairs(np.zeros(0, int), np.zeros(0, int), np.zeros(0)))
        if len(pc) < config.min_pairs:
            fallback[c] = f"{len(pc)} confident pairs < min_pairs={config.min_pairs}: scored 0.5"
            report[c] = {
                "status": "fallback",
                "n_confident": len(pc),
                "n_train": 0,
                "n_val": 0,
                "val_accuracy": None,
            }
            continue
        tr, va = split_pairs(pc, config.val_share, config.seed + k)
        torch.manual_seed(config.seed + k)
        head = RaterHead(dim, config.hidden).to(dev)
        lr = config.lr
        if init is not None and c in init:
            head.load_state_dict(init[c])
            lr = config.finetune_lr
        train_head(
            head,
            X,
            tr,
            lr=lr,
            epochs=config.epochs,
            batch_size=config.batch_size,
            seed=config.seed + k,
        )
        acc = pairwise_accuracy(head_scores(head, X), va)
        heads[c] = head.cpu()
        report[c] = {
            "status": "trained",
            "n_confident": len(pc),
            "n_train": len(tr),
            "n_val": len(va),
            "val_accuracy": acc,
        }
    bar.close()
    info = {
        "config": asdict(config) | {"device": None},
        "init": init_version,
        "pairs": {c: report[c]["n_confident"] for c in report},
        "pairs_sha": pairs_fingerprint(pairs),
    }
    return Rater(
        dim=dim,
        hidden=config.hidden,
        heads=heads,
        encoder=dict(encoder or {}),
        fallback=fallback,
        info=info,
    ), report


def pairs_fingerprint(pairs: Mapping[str, Pairs]) -> str:
    """16 hex digits identifying the training pairs (criterion names and the three arrays)."""
    chunks: list[bytes | str] = []
    for c in sorted(pairs):
        chunks.append(c)
        chunks += [
            np.ascontiguousarray(arr).tobytes() for arr in (pairs[c].a, pairs[c].b, pairs[c].p)
        ]
    return sha256_hex(*chunks)[:16]


# --- checkpoints (one format for single-dataset and meta heads) -------------------------------


def save_heads(
    path, heads: Mapping[str, nn.Module], *, dim: int, hidden: int, meta: Mapping[str, Any]
) -> None:
    """``torch.save`` of {format, schema, dim, hidden, heads: {criterion: state_dict},
    meta (JSON)}, written atomically."""
    payload = {
        "format": RATER_FORMAT,
        "schema": RATER_SCHEMA_VERSION,
        "dim": int(dim),
        "hidden": int(hidden),
        "heads": {
            c: {k: v.detach().cpu().clone() for k, v in h.state_dict().items()}
            for c, h in heads.items()
        },
        "meta": json.dumps(dict(meta), sort_keys=True, default=str),
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    write_bytes_atomic(path, buf.getvalue())


def load_heads(path) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]]:
    """(state dicts per criterion, info with dim, hidden and the saved meta)."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload.get("format") != RATER_FORMAT:
        raise ValueError(f"{path}: not a Sieve rater checkpoint (format {payload.get('format')!r})")
    meta = json.loads(payload["meta"])
    return payload["heads"], {"dim": payload["dim"], "hidden": payload["hidden"], **meta}
