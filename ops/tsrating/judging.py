"""``judge_windows``: sample pairs, ask the judge in both orders (through the cache),
calibrate, mark confident pairs, and build the judgments table (DESIGN.md ``judgments.parquet``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import polars as pl

from ops.tsrating.cache import JudgmentCache, judgment_key
from ops.tsrating.judge_base import (
    BUDGET_EXHAUSTED,
    ERROR,
    OK,
    UNPARSEABLE,
    Answer,
    Judge,
    Query,
    calibrate,
    is_confident,
)
from ops.tsrating.pairs import PairConfig, iter_pairs
from ops.tsrating.prompts import CRITERIA
from ops.tsrating.serialize import content_hash

CACHEABLE = (OK, UNPARSEABLE)

JUDGMENT_SCHEMA: dict[str, pl.DataType] = {
    "block_a": pl.String,
    "block_b": pl.String,
    "idx_a": pl.Int64,
    "idx_b": pl.Int64,
    "criterion": pl.String,
    "comparisons_forward": pl.Float64,
    "comparisons_backward": pl.Float64,
    "comparisons_avg": pl.Float64,
    "confident": pl.Boolean,
    "prob_a_forward": pl.Float64,
    "prob_a_backward": pl.Float64,
    "votes_fwd": pl.String,
    "votes_bwd": pl.String,
    "model": pl.String,
    "template_version": pl.String,
    "template_sha256": pl.String,
    "path": pl.String,
    "path_forward": pl.String,
    "path_backward": pl.String,
    "cost_usd": pl.Float64,
    "tokens": pl.Int64,
    "calls": pl.Int64,
    "cache_key_forward": pl.String,
    "cache_key_backward": pl.String,
    "cached_forward": pl.Boolean,
    "cached_backward": pl.Boolean,
    "status": pl.String,
    "reason": pl.String,
}


def _votes(a: Answer) -> str | None:
    if a.votes_a is None and a.votes_b is None:
        return None
    return f"A:{a.votes_a or 0},B:{a.votes_b or 0}"


def _pair_status(f: Answer, b: Answer) -> str:
    sts = {f.status, b.status}
    for s in (BUDGET_EXHAUSTED, ERROR, UNPARSEABLE):
        if s in sts:
            return s
    return OK


def judge_windows(
    windows: np.ndarray,
    window_ids: Sequence[str],
    judge: Judge,
    *,
    criteria: Sequence[str] = CRITERIA,
    pairs: PairConfig,
    cache: JudgmentCache,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Judge pairs of ``windows`` (float array ``(n_windows, L)``, NaN allowed) per criterion.

    For every sampled pair (a, b) both orders are asked: forward shows a as Option A,
    backward shows b as Option A. ``comparisons_forward = P(b better | a first)``,
    ``comparisons_backward = P(a better | b first)``, ``comparisons_avg`` = calibrated
    ``p(b > a)``; ``confident`` when it is outside (confident_low, confident_high). Cached
    answers are reused; a second run on unchanged data makes no judge calls.

    Returns the judgments frame (:data:`JUDGMENT_SCHEMA`) and a summary dict.
    """
    t0 = time.perf_counter()
    X = np.asarray(windows, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"windows must be 2-D (n_windows, L), got shape {X.shape}")
    n = X.shape[0]
    if len(window_ids) != n:
        raise ValueError(f"{len(window_ids)} window ids for {n} windows")
    if len(set(window_ids)) != n:
        raise ValueError("window ids must be unique")
    for c in criteria:
        if c not in CRITERIA:
            raise ValueError(f"unknown criterion {c!r}; expected a subset of {CRITERIA}")
    hashes = [content_hash(X[i]) for i in range(n)]
    identities = {c: judge.identity(c) for c in criteria}
    target = pairs.target(n)

    seqs = {c: iter_pairs(n, pairs.seed) for c in criteria}
    asked = {c: 0 for c in criteria}
    confident = {c: 0 for c in criteria}
    active = {c: n >= 2 for c in criteria}
    rows: list[dict[str, Any]] = []
    stats = {
        "calls": 0,
        "queries": 0,
        "cache_hits": 0,
        "cost_usd": 0.0,
        "tokens": 0,
        "unparseable": 0,
        "errors": 0,
    }
    budget_exhausted = False

    while any(active.values()) and not budget_exhausted:
        batch: list[tuple[str, int, int]] = []
        for c in criteria:
            if not active[c]:
                continue
            take = min(pairs.batch_size, max(1, target - confident[c]))
            if pairs.max_pairs is not None:
                take = min(take, pairs.max_pairs - asked[c])
            got = 0
            for i, j in seqs[c]:
                batch.append((c, i, j))
                got += 1
                if got >= take:
                    break
            asked[c] += got
            if got < take:
                active[c] = False  # pairs exhausted
        if not batch:
            break
        # two ordered queries per pair: forward (a first), backward (b first)
        keys = []
        for c, i, j in batch:
            ident = identities[c]
            keys.append(judgment_key(ident, c, hashes[i], hashes[j]))
            keys.append(judgment_key(ident, c, hashes[j], hashes[i]))
        found = cache.get_many(keys)
        answers: dict[str, Answer] = {}
        cached: dict[str, bool] = {}
        misses: list[tuple[str, Query]] = []
        for qi, key in enumerate(keys):
            if key in found:
                answers[key] = Answer.from_json(found[key])
                cached[key] = True
            else:
                c, i, j = batch[qi // 2]
                first, second = (i, j) if qi % 2 == 0 else (j, i)
                misses.append((key, Query(first=X[first], second=X[second], criterion=c)))
        # de-duplicate misses (identical windows can repeat a key)
        uniq: dict[str, Query] = {}
        for k, q in misses:
            uniq.setdefault(k, q)
        stats["cache_hits"] += sum(1 for k in keys if k in found)
        if uniq:
            fresh = judge.judge(list(uniq.values()))
            if len(fresh) != len(uniq):
                raise RuntimeError(f"judge returned {len(fresh)} answers for {len(uniq)} queries")
            to_store = {}
            for k, a in zip(uniq.keys(), fresh):
                answers[k] = a
                cached[k] = False
                stats["calls"] += a.calls
                stats["queries"] += 1
                stats["cost_usd"] += a.cost_usd
                stats["tokens"] += a.tokens
                if a.status == UNPARSEABLE:
                    stats["unparseable"] += 1
                elif a.status == ERROR:
                    stats["errors"] += 1
                elif a.status == BUDGET_EXHAUSTED:
                    budget_exhausted = True
                if a.status in CACHEABLE:
                    to_store[k] = a.to_json()
            cache.put_many(to_store)
        for qi in range(0, len(keys), 2):
            c, i, j = batch[qi // 2]
            kf, kb = keys[qi], keys[qi + 1]
            f, b = answers[kf], answers[kb]
            pf = f.prob_second if f.status == OK else None
            pb = b.prob_second if b.status == OK else None
            p = calibrate(pf, pb)
            conf = is_confident(p, pairs.confident_low, pairs.confident_high)
            confident[c] += int(conf)
            ident = identities[c]
            paths = {x.path for x in (f, b) if x.path}
            reasons = [x.reason for x in (f, b) if x.reason]
            rows.append(
                {
                    "block_a": str(window_ids[i]),
                    "block_b": str(window_ids[j]),
                    "idx_a": i,
                    "idx_b": j,
                    "criterion": c,
                    "comparisons_forward": pf,
                    "comparisons_backward": pb,
                    "comparisons_avg": p,
                    "confident": conf,
                    "prob_a_forward": None if pf is None else 1.0 - pf,
                    "prob_a_backward": None if pb is None else 1.0 - pb,
                    "votes_fwd": _votes(f),
                    "votes_bwd": _votes(b),
                    "model": ident["model"],
                    "template_version": ident["template_version"],
                    "template_sha256": ident["template_sha256"],
                    "path": "+".join(sorted(paths)) or None,
                    "path_forward": f.path or None,
                    "path_backward": b.path or None,
                    "cost_usd": (0.0 if cached[kf] else f.cost_usd)
                    + (0.0 if cached[kb] else b.cost_usd),
                    "tokens": (0 if cached[kf] else f.tokens) + (0 if cached[kb] else b.tokens),
                    "calls": (0 if cached[kf] else f.calls) + (0 if cached[kb] else b.calls),
                    "cache_key_forward": kf,
                    "cache_key_backward": kb,
                    "cached_forward": cached[kf],
                    "cached_backward": cached[kb],
                    "status": _pair_status(f, b),
                    "reason": "; ".join(reasons) or None,
                }
            )
        for c in criteria:
            if confident[c] >= target or (
                pairs.max_pairs is not None and asked[c] >= pairs.max_pairs
            ):
                active[c] = False
        if progress is not None:
            progress(
                {
                    "pairs": len(rows),
                    "confident": dict(confident),
                    "target": target,
                    "calls": stats["calls"],
                    "cache_hits": stats["cache_hits"],
                }
            )

    df = pl.DataFrame(rows, schema=JUDGMENT_SCHEMA)
    n_q = stats["queries"] + stats["cache_hits"]
    summary = {
        "model": getattr(judge, "model", None),
        "n_windows": n,
        "n_pairs": df.height,
        "n_confident": int(df["confident"].sum()) if df.height else 0,
        "confident_share": float(df["confident"].mean()) if df.height else 0.0,
        "confident_per_criterion": dict(confident),
        "target_confident_per_criterion": target,
        "calls": stats["calls"],
        "queries_sent": stats["queries"],
        "cache_hits": stats["cache_hits"],
        "cache_hit_rate": (stats["cache_hits"] / n_q) if n_q else 1.0,
        "cost_usd": stats["cost_usd"],
        "tokens": stats["tokens"],
        "unparseable": stats["unparseable"],
        "errors": stats["errors"],
        "budget_exhausted": budget_exhausted,
        "elapsed_s": time.perf_counter() - t0,
    }
    return df, summary
