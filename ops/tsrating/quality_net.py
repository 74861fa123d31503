"""The fault-aware rater: an integrity head learned from self-supervised fault pairs beside one
judge head per criterion learned from the judge's (LLM or rubric) pairs (docs/tsrating.md §11.4).

``QualityNet``: fixed input standardisation (stored with the weights), trunk
``Linear(D→h) → ReLU → Linear(h→h) → ReLU`` (h = 16), an ``integrity`` head (1 output) and a
``judge`` head (4 outputs: trend, frequency, amplitude, pattern). Loss =
``w_ss · weighted BT(self-supervised pairs) + w_judge · mean over criteria BT(judge pairs)``
(1.0 / 0.5): the two sources are weighted and their accuracies reported separately. The judge
heads never enter ``quality_score``: the judge prefers clean trends, which made drifted windows
score *higher* than clean ones in the previous design.

Cross-domain initialisation (:func:`pretrain`): **pooled ERM** over several domains' pairs, or
first-order MAML with a signSGD inner loop (:func:`fomaml`, docs/tsrating.md §7). Both are
available to ``sieve meta-train``; FOMAML is the default and the shipped checkpoint because it
won on the held-out domains (benchmarks/README_tsrating.md). Checkpoints:
:func:`save_checkpoint` / :func:`load_checkpoint`.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from ops.contracts import CRITERIA
from ops.fileio import write_bytes_atomic
from ops.hashing import sha256_hex
from ops.tsrating.context import FEATURE_NAMES

CHECKPOINT_FORMAT = "sieve-quality-net"
CHECKPOINT_VERSION = 1
#: the checkpoint shipped with Sieve (FOMAML on public tuning domains, see benchmarks/)
DEFAULT_CHECKPOINT = Path(__file__).with_name("checkpoints") / "quality_net_v1.pt"


class QualityNet(nn.Module):
    def __init__(self, dim: int = len(FEATURE_NAMES), hidden: int = 16, n_judge: int = 4):
        super().__init__()
        self.inp = nn.Linear(dim, hidden)
        self.mid = nn.Linear(hidden, hidden)
        self.ss = nn.Linear(hidden, 1, bias=False)  # BT sees differences only: no bias
        self.judge = nn.Linear(hidden, n_judge, bias=False)
        self.register_buffer("mu", torch.zeros(dim))
        self.register_buffer("sd", torch.ones(dim))

    @property
    def dim(self) -> int:
        return self.inp.in_features

    @property
    def hidden(self) -> int:
        return self.inp.out_features

    def set_norm(self, X: np.ndarray) -> None:
        """Fixed input standardisation (from the pre-training pool; stored with the model)."""
        self.mu.copy_(torch.as_tensor(X.mean(0), dtype=torch.float32))
        self.sd.copy_(torch.as_tensor(np.maximum(X.std(0), 1e-3), dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = ((x - self.mu) / self.sd).clamp(-8, 8)
        h = torch.relu(self.mid(torch.relu(self.inp(x))))
        return self.ss(h).squeeze(-1), self.judge(h)


def bt(sa: torch.Tensor, sb: torch.Tensor, p: torch.Tensor, w: torch.Tensor | None = None):
    """Soft Bradley–Terry loss for p = P(b beats a), optionally weighted."""
    loss = nn.functional.binary_cross_entropy_with_logits(sb - sa, p, reduction="none")
    return (loss * w).sum() / w.sum() if w is not None else loss.mean()


JudgePairs = Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # criterion -> (a, b, p)


def train(
    net: QualityNet,
    X: np.ndarray,
    ss: tuple[np.ndarray, ...] | None = None,
    judge: JudgePairs | None = None,
    *,
    steps: int = 300,
    batch: int = 512,
    lr: float = 1e-3,
    w_ss: float = 1.0,
    w_judge: float = 0.5,
    seed: int = 0,
    weight_decay: float = 1e-4,
    check_every: int = 0,
    on_check: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Adam with a cosine schedule on the weighted BT loss. ``ss`` = (a, b, p, w) row indices
    into ``X``; ``judge`` = {criterion: (a, b, p)}. ``on_check(step)`` is called (net in eval
    mode) before the first step, every ``check_every`` steps and after the last one: the
    scores step's validation-selected fine-tuning keeps the best state it sees."""
    t0 = time.perf_counter()
    g = torch.Generator().manual_seed(seed)
    Xt = torch.as_tensor(X, dtype=torch.float32)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    S = [torch.as_tensor(np.asarray(v)) for v in ss] if ss is not None and len(ss[0]) else None
    J = {
        CRITERIA.index(c): [torch.as_tensor(np.asarray(v)) for v in t]
        for c, t in (judge or {}).items()
        if len(t[0])
    }

    def check(step: int) -> None:
        if on_check is not None:
            net.eval()
            on_check(step)
            net.train()

    check(0)
    net.train()
    last = None
    done = 0
    for step in range(steps):
        loss = torch.zeros(())
        if S is not None and w_ss > 0:
            i = torch.randint(len(S[0]), (batch,), generator=g)
            sa, _ = net(Xt[S[0][i]])
            sb, _ = net(Xt[S[1][i]])
            loss = loss + w_ss * bt(sa, sb, S[2][i].float(), S[3][i].float())
        if J and w_judge > 0:
            parts = []
            for k, (a_, b_, p_) in J.items():
                i = torch.randint(len(a_), (min(batch // 4, len(a_)),), generator=g)
                _, ja = net(Xt[a_[i]])
                _, jb = net(Xt[b_[i]])
                parts.append(bt(ja[:, k], jb[:, k], p_[i].float()))
            loss = loss + w_judge * torch.stack(parts).mean()
        if not loss.requires_grad:
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        last = float(loss.detach())
        done = step + 1
        if check_every > 0 and done % check_every == 0 and done < steps:
            check(done)
    if done > 0:
        check(done)
    net.eval()
    return {"seconds": time.perf_counter() - t0, "final_loss": last, "steps": steps}


@torch.no_grad()
def score(net: QualityNet, X: np.ndarray, chunk: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """(integrity utility ``(n,)``, judge utilities ``(n, 4)``); higher = better."""
    net.eval()
    Xt = torch.as_tensor(X, dtype=torch.float32)
    s, j = [], []
    for i in range(0, len(Xt), chunk):
        a, b = net(Xt[i : i + chunk])
        s.append(a)
        j.append(b)
    if not s:
        return np.zeros(0), np.zeros((0, len(CRITERIA)))
    return torch.cat(s).double().numpy(), torch.cat(j).double().numpy()


def pair_accuracy(s: np.ndarray, a: np.ndarray, b: np.ndarray, p: np.ndarray) -> float | None:
    """Share of pairs where sign(s_b − s_a) agrees with p > 0.5 (ties count one half); pairs
    with p = 0.5 are skipped."""
    m = p != 0.5
    if not m.any():
        return None
    d = s[b[m]] - s[a[m]]
    return float(np.where(d == 0, 0.5, (d > 0) == (p[m] > 0.5)).mean())


# ------------------------------------------------------------------ cross-domain initialisation


@dataclass(frozen=True)
class DomainPairs:
    """One domain's self-supervised pairs (rows of X)."""

    name: str
    X: np.ndarray
    a: np.ndarray
    b: np.ndarray
    p: np.ndarray
    w: np.ndarray


def pretrain(
    domains: Sequence[DomainPairs],
    *,
    steps: int = 600,
    hidden: int = 16,
    lr: float = 3e-3,
    seed: int = 0,
) -> QualityNet:
    """Pooled ERM over every domain's pairs (one Adam run on their union)."""
    X = np.concatenate([d.X for d in domains])
    offs = np.cumsum([0] + [len(d.X) for d in domains])
    cat = [
        np.concatenate(
            [getattr(d, k) + (o if k in "ab" else 0) for d, o in zip(domains, offs, strict=False)]
        )
        for k in "abpw"
    ]
    torch.manual_seed(seed)
    net = QualityNet(X.shape[1], hidden=hidden)
    net.set_norm(X)
    train(net, X, tuple(cat), steps=steps, lr=lr, seed=seed)
    return net


def fomaml(
    domains: Sequence[DomainPairs],
    *,
    iters: int = 300,
    meta_batch: int = 4,
    inner_steps: int = 5,
    n_support: int = 64,
    n_query: int = 128,
    alpha: float = 4e-3,
    beta: float = 0.1,
    hidden: int = 16,
    seed: int = 0,
) -> QualityNet:
    """First-order MAML with a signSGD inner loop over the domains as tasks (integrity head):
    meta-gradient = query gradient at the sign-adapted weights, averaged over the meta-batch."""
    torch.manual_seed(seed)
    net = QualityNet(domains[0].X.shape[1], hidden=hidden)
    net.set_norm(np.concatenate([d.X for d in domains]))
    rng = np.random.default_rng(seed)
    opt = torch.optim.SGD(net.parameters(), lr=beta)
    tasks = [
        (torch.as_tensor(d.X, dtype=torch.float32), *(torch.as_tensor(v) for v in (d.a, d.b, d.p)))
        for d in domains
    ]
    bufs = dict(net.named_buffers())

    def loss_of(params, X, a, b, p):
        sa = functional_call(net, {**params, **bufs}, (X[a],))[0]
        sb = functional_call(net, {**params, **bufs}, (X[b],))[0]
        return bt(sa, sb, p.float())

    for _ in range(iters):
        chosen = rng.choice(len(tasks), size=min(meta_batch, len(tasks)), replace=False)
        acc = {n: torch.zeros_like(v) for n, v in net.named_parameters()}
        for ti in chosen:
            X, a, b, p = tasks[ti]
            perm = torch.as_tensor(rng.permutation(len(a))[: n_support + n_query])
            sup, qry = perm[:n_support], perm[n_support:]
            phi = {n: v.detach().clone().requires_grad_(True) for n, v in net.named_parameters()}
            for _ in range(inner_steps):
                gr = torch.autograd.grad(
                    loss_of(phi, X, a[sup], b[sup], p[sup]), list(phi.values()), allow_unused=True
                )
                phi = {
                    n: (v - alpha * torch.sign(g) if g is not None else v)
                    .detach()
                    .requires_grad_(True)
                    for (n, v), g in zip(phi.items(), gr, strict=True)
                }
            gr = torch.autograd.grad(
                loss_of(phi, X, a[qry], b[qry], p[qry]), list(phi.values()), allow_unused=True
            )
            for n, g in zip(acc, gr, strict=True):
                if g is not None:
                    acc[n] += g / len(chosen)
        opt.zero_grad(set_to_none=True)
        for n, v in net.named_parameters():
            v.grad = acc[n]
        opt.step()
    net.eval()
    return net


# ------------------------------------------------------------------ checkpoints


def save_checkpoint(net: QualityNet, path: str | Path, info: Mapping[str, Any]) -> str:
    """Write ``net`` with ``info`` (method, domains, data fingerprint ...) atomically; returns
    the checkpoint's version (a hash of its weights)."""
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    buf = io.BytesIO()
    torch.save(state, buf)
    version = f"quality-net-{sha256_hex(buf.getvalue())[:12]}"
    blob = {
        "format": CHECKPOINT_FORMAT,
        "schema": CHECKPOINT_VERSION,
        "version": version,
        "dim": net.dim,
        "hidden": net.hidden,
        "feature_names": list(FEATURE_NAMES),
        "state": state,
        "info": dict(info),
    }
    out = io.BytesIO()
    torch.save(blob, out)
    write_bytes_atomic(Path(path), out.getvalue())
    return version


def load_checkpoint(path: str | Path) -> tuple[QualityNet, dict[str, Any]]:
    """The net and its header; a clear ``ValueError`` for files of another format or features."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"quality-net checkpoint not found: {path}")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path} is not a {CHECKPOINT_FORMAT} checkpoint (write one with `sieve meta-train`)"
        )
    if blob.get("feature_names") != list(FEATURE_NAMES):
        raise ValueError(f"{path} was trained on other features than this Sieve computes")
    net = QualityNet(int(blob["dim"]), hidden=int(blob["hidden"]))
    net.load_state_dict(blob["state"])
    net.eval()
    header = {k: v for k, v in blob.items() if k != "state"}
    return net, header
