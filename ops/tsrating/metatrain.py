"""Cross-domain initialisation of the quality net (``sieve meta-train``; docs/tsrating.md §11.7).

Each domain (a dataset: a list of series) gives self-supervised fault pairs
(:mod:`ops.tsrating.sspairs`, ``copies`` corrupted copies of every series). The initial net is
trained on them by first-order MAML with a signSGD inner loop (``method="fomaml"``, default: it
won on the held-out domains) or by pooled ERM (``method="erm"``), and written as a checkpoint
the scores step loads (``ScoresConfig.checkpoint``). Leave-one-family-out nets are the same
call with ``families`` lacking one family.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ops.hashing import sha256_hex
from ops.tsrating.faults import FAMILIES
from ops.tsrating.quality_net import (
    DomainPairs,
    QualityNet,
    fomaml,
    pretrain,
    save_checkpoint,
)
from ops.tsrating.sspairs import make_pairs

METHODS = ("erm", "fomaml")


def domain_pairs(
    name: str,
    series: Sequence[np.ndarray],
    rng: np.random.Generator,
    families: Sequence[str] = tuple(FAMILIES),
    copies: int = 3,
) -> DomainPairs:
    ps = make_pairs(list(series), list(families), rng, copies=copies)
    a, b, p, w = ps.select()
    return DomainPairs(name, ps.X, a, b, p, w)


def meta_train(
    domains: Mapping[str, Sequence[np.ndarray]],
    *,
    method: str = "fomaml",
    families: Sequence[str] = tuple(FAMILIES),
    copies: int = 3,
    steps: int = 600,
    hidden: int = 16,
    seed: int = 0,
) -> tuple[QualityNet, dict[str, Any]]:
    """The initial net and the header to save with it."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    usable = {k: [np.asarray(x, float) for x in v if len(x)] for k, v in domains.items()}
    usable = {k: v for k, v in usable.items() if v}
    if not usable:
        raise ValueError("meta-train needs at least one domain with a non-empty series")
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    pairs = [domain_pairs(k, v, rng, families, copies) for k, v in sorted(usable.items())]
    if method == "erm":
        net = pretrain(pairs, steps=steps, hidden=hidden, seed=seed)
    else:
        net = fomaml(pairs, iters=steps, hidden=hidden, seed=seed)
    fingerprint = sha256_hex(
        *(np.ascontiguousarray(x).tobytes() for k in sorted(usable) for x in usable[k])
    )[:16]
    info = {
        "method": method,
        "domains": {k: len(v) for k, v in sorted(usable.items())},
        "windows": {d.name: int(len(d.X) // (copies + 1)) for d in pairs},
        "pairs": int(sum(len(d.a) for d in pairs)),
        "families": list(families),
        "copies": copies,
        "steps": steps,
        "seed": seed,
        "data_fingerprint": fingerprint,
        "seconds": time.perf_counter() - t0,
    }
    return net, info


def meta_train_to(path: str | Path, domains: Mapping[str, Sequence[np.ndarray]], **kw) -> dict:
    """:func:`meta_train`, then write the checkpoint; returns its header info + version."""
    net, info = meta_train(domains, **kw)
    version = save_checkpoint(net, path, info)
    return info | {"version": version, "path": str(path)}
