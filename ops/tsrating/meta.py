"""First-order MAML with a signSGD inner loop across domains (docs/tsrating.md §7), and few-shot
adaptation.

A task is (domain, criterion); one meta-head per criterion. Each meta-iteration samples
``min(meta_batch, n_tasks)`` tasks; per task it draws a fresh support/query split of the
task's pairs, adapts detached copies φ of the meta weights θ with ``inner_steps`` full passes
of signSGD (``φ ← φ − α·sign(∇L_support)``, no graph kept) and takes the gradient of the mean
query loss at φ. Because ``d sign/dx = 0`` almost everywhere, the inner update's Jacobian is the
identity and that query gradient *is* the (first-order) meta-gradient: the averaged query
gradients are written into ``θ.grad`` and a plain SGD step (lr β) is taken. This fixes the
public code's no-op meta-update (docs/tsrating.md §9 D1: grads landed on a deep copy, θ.grad stayed
None). Fast weights are evaluated with ``torch.func.functional_call``.

Defaults differ from the reference's (7 meta-iterations, β = 2.5e-4: θ barely moves) — see
:class:`MetaConfig`; the inner loop (14 passes, batch 16, α = 4e-3) follows the reference.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch.func import functional_call

from ops.device import resolve_device
from ops.hashing import sha256_hex
from ops.tsrating.prompts import CRITERIA
from ops.tsrating.rater import (
    Pairs,
    RaterHead,
    bt_loss,
    head_scores,
    pairwise_accuracy,
    save_heads,
    train_head,
)

META_VERSION = "fomaml-signsgd-v1"


@dataclass(frozen=True)
class MetaConfig:
    meta_iters: int = 100
    meta_batch: int = 10
    inner_steps: int = 14  # full passes over the support set
    support_batch: int = 16
    alpha: float = 4e-3  # inner signSGD step
    beta: float = 0.2  # outer SGD lr (reference 2.5e-4 with 7 iterations: θ barely moves)
    n_support: int = 40
    n_query: int = 40
    hidden: int = 256
    seed: int = 0
    device: str = "cpu"


@dataclass
class Task:
    """One (domain, criterion) task with a fixed support/query split over the rows of ``x``."""

    x: torch.Tensor
    support: Pairs
    query: Pairs
    name: str = ""


def _loss(
    head: torch.nn.Module, params: Mapping[str, torch.Tensor], x: torch.Tensor, a, b, p
) -> torch.Tensor:
    return bt_loss(
        functional_call(head, dict(params), (x[a],)),
        functional_call(head, dict(params), (x[b],)),
        p,
    )


def sign_adapt(
    head: torch.nn.Module, params: Mapping[str, torch.Tensor], task: Task, cfg: MetaConfig
) -> dict[str, torch.Tensor]:
    """φ = detached copy of ``params`` after ``inner_steps`` signSGD passes over the support set
    (fixed order)."""
    phi = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    a, b, p = task.support.tensors(task.x.device)
    p = p.to(task.x.dtype)
    n = len(task.support)
    for _ in range(cfg.inner_steps):
        for s in range(0, n, cfg.support_batch):
            sl = slice(s, s + cfg.support_batch)
            loss = _loss(head, phi, task.x, a[sl], b[sl], p[sl])
            grads = torch.autograd.grad(loss, list(phi.values()))
            phi = {
                k: (v - cfg.alpha * torch.sign(g)).detach().requires_grad_(True)
                for (k, v), g in zip(phi.items(), grads, strict=True)
            }
    return phi


def query_grad(
    head: torch.nn.Module, phi: Mapping[str, torch.Tensor], task: Task
) -> tuple[list[torch.Tensor], float]:
    """Gradient of the mean query loss at φ (one list entry per parameter, in ``phi`` order)
    and the loss."""
    a, b, p = task.query.tensors(task.x.device)
    loss = _loss(head, phi, task.x, a, b, p.to(task.x.dtype))
    grads = torch.autograd.grad(loss, list(phi.values()))
    return list(grads), float(loss.detach())


def meta_step(
    head: torch.nn.Module, meta_opt: torch.optim.Optimizer, tasks: Sequence[Task], cfg: MetaConfig
) -> float:
    """One outer step on ``tasks``: θ.grad = mean over tasks of the query gradient at the
    adapted φ."""
    params = dict(head.named_parameters())
    acc = {k: torch.zeros_like(v) for k, v in params.items()}
    losses = []
    for task in tasks:
        phi = sign_adapt(head, params, task, cfg)
        grads, loss = query_grad(head, phi, task)
        for (k, _), g in zip(phi.items(), grads, strict=True):
            acc[k] += g / len(tasks)
        losses.append(loss)
    meta_opt.zero_grad(set_to_none=True)
    for k, v in params.items():
        v.grad = acc[k]
    meta_opt.step()
    return float(np.mean(losses))


def split_task(
    x: torch.Tensor, pairs: Pairs, cfg: MetaConfig, rng: np.random.Generator, name: str = ""
) -> Task:
    """A random support/query split (``n_support``/``n_query``; halves when there are fewer
    pairs)."""
    n = len(pairs)
    perm = rng.permutation(n)
    ns = min(cfg.n_support, n // 2)
    nq = min(cfg.n_query, n - ns)
    return Task(x=x, support=pairs.take(perm[:ns]), query=pairs.take(perm[ns : ns + nq]), name=name)


@dataclass
class Domain:
    """A source domain for meta-training: standardised features and confident pairs per
    criterion."""

    name: str
    features: np.ndarray
    pairs: Mapping[str, Pairs]


def meta_train(
    domains: Sequence[Domain],
    cfg: MetaConfig = MetaConfig(),
    criteria: Sequence[str] = CRITERIA,
    min_pairs: int = 10,
) -> tuple[dict[str, RaterHead], dict[str, Any]]:
    """Meta-train one head per criterion over the domains that have ≥ ``min_pairs`` pairs for it.

    Returns (heads, report); a criterion with no eligible domain gets no head.
    """
    dev = resolve_device(cfg.device)
    if not domains:
        raise ValueError("meta_train needs at least one domain")
    dim = int(np.asarray(domains[0].features).shape[1])
    xs = {
        d.name: torch.as_tensor(np.asarray(d.features, dtype=np.float32), device=dev)
        for d in domains
    }
    heads: dict[str, RaterHead] = {}
    report: dict[str, Any] = {}
    for k, c in enumerate(criteria):
        eligible = [d for d in domains if c in d.pairs and len(d.pairs[c]) >= min_pairs]
        if not eligible:
            report[c] = {"status": "no eligible domain"}
            continue
        torch.manual_seed(cfg.seed + k)
        rng = np.random.default_rng(cfg.seed + k)
        head = RaterHead(dim, cfg.hidden).to(dev)
        opt = torch.optim.SGD(head.parameters(), lr=cfg.beta)
        losses = []
        for _ in range(cfg.meta_iters):
            m = min(cfg.meta_batch, len(eligible))
            chosen = rng.choice(len(eligible), size=m, replace=False)
            tasks = [
                split_task(xs[eligible[i].name], eligible[i].pairs[c], cfg, rng, eligible[i].name)
                for i in chosen
            ]
            losses.append(meta_step(head, opt, tasks, cfg))
        heads[c] = head.cpu().eval()
        report[c] = {
            "status": "meta-trained",
            "domains": [d.name for d in eligible],
            "n_tasks": len(eligible),
            "query_loss_first": losses[0] if losses else None,
            "query_loss_last": losses[-1] if losses else None,
        }
    return heads, report


def few_shot_adapt(
    head: RaterHead,
    features: np.ndarray,
    pairs: Pairs,
    *,
    lr: float = 1e-3,
    passes: int = 10,
    batch_size: int = 1,
    seed: int = 0,
    device: str = "cpu",
) -> RaterHead:
    """Adam fine-tune of a copy of ``head`` on a few pairs (docs/tsrating.md §7: batch 1,
    10 passes)."""
    dev = resolve_device(device)
    new = RaterHead(head.inp.in_features, head.inp.out_features).to(dev)
    new.load_state_dict(head.state_dict())
    X = torch.as_tensor(np.asarray(features, dtype=np.float32), device=dev)
    return train_head(new, X, pairs, lr=lr, epochs=passes, batch_size=batch_size, seed=seed).cpu()


def evaluate(head: RaterHead, features: np.ndarray, pairs: Pairs) -> float | None:
    X = torch.as_tensor(np.asarray(features, dtype=np.float32))
    return pairwise_accuracy(head_scores(head, X), pairs)


def data_fingerprint(domains: Sequence[Domain]) -> str:
    """16 hex digits identifying the meta-training data (names, features, pairs)."""
    chunks: list[bytes | str] = []
    for d in sorted(domains, key=lambda d: d.name):
        chunks.append(d.name)
        chunks.append(np.ascontiguousarray(np.asarray(d.features, dtype=np.float32)).tobytes())
        for c in sorted(d.pairs):
            arrays = (d.pairs[c].a, d.pairs[c].b, d.pairs[c].p)
            chunks += [np.ascontiguousarray(arr).tobytes() for arr in arrays]
    return sha256_hex(*chunks)[:16]


def save_meta_checkpoint(
    path,
    heads: Mapping[str, RaterHead],
    cfg: MetaConfig,
    domains: Sequence[Domain],
    encoder: Mapping[str, Any],
) -> str:
    """Write a checkpoint (same format as single-dataset raters) carrying config, data fingerprint
    and a version string; returns the version string."""
    fp = data_fingerprint(domains)
    cfg_d = asdict(cfg) | {"device": None}
    blob = json.dumps([cfg_d, fp, dict(encoder)], sort_keys=True)
    version = f"{META_VERSION}-{sha256_hex(blob)[:12]}"
    dim = next(iter(heads.values())).inp.in_features
    save_heads(
        path,
        heads,
        dim=dim,
        hidden=cfg.hidden,
        meta={
            "version": version,
            "kind": "meta",
            "config": cfg_d,
            "data_fingerprint": fp,
            "domains": [d.name for d in domains],
            "encoder": dict(encoder),
        },
    )
    return version
