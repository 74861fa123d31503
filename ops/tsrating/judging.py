"""``judge_windows``: sample pairs, ask the judge in both orders (through the cache),
calibrate, mark confident pairs, and build the judgments table (``ops.contracts.JUDGMENTS``).

The steps (docs/tsrating.md §4, §5): :class:`_Walk` hands out the next pairs per criterion,
:func:`_ask` answers both orders of each from the cache or the judge, :func:`_pair_row`
calibrates a pair into one row; :class:`JudgingSummary` is the run's account.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import polars as pl

from ops.contracts import JUDGMENTS
from ops.progress import start as progress_start
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

JUDGMENT_SCHEMA: dict[str, pl.DataType] = JUDGMENTS.polars_schema(
    [n for n in JUDGMENTS.names if n != "run_id"]  # the asset adds the run id
)


@dataclass
class JudgingSummary:
    """What one ``judge_windows`` run cost and found (``judgments_summary.json``).

    ``call_budget`` and ``judge_kind`` are filled by the caller that knows the judge's
    configuration (the ``timeseries_judgments`` asset)."""

    model: str | None
    n_windows: int
    n_pairs: int
    n_confident: int
    confident_share: float
    confident_per_criterion: dict[str, int]
    target_confident_per_criterion: int
    calls: int
    queries_sent: int
    cache_hits: int
    cache_hit_rate: float
    cost_usd: float
    tokens: int
    unparseable: int
    errors: int
    budget_exhausted: bool
    elapsed_s: float
    call_budget: int | None = None
    judge_kind: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        if self.call_budget is None and self.judge_kind is None:
            del out["call_budget"], out["judge_kind"]  # not known to the library call
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> JudgingSummary:
        """Read a summary back; keys it does not know are ignored, missing ones default."""
        defaults: dict[str, Any] = {
            "model": None,
            "n_windows": 0,
            "n_pairs": 0,
            "n_confident": 0,
            "confident_share": 0.0,
            "confident_per_criterion": {},
            "target_confident_per_criterion": 0,
            "calls": 0,
            "queries_sent": 0,
            "cache_hits": 0,
            "cache_hit_rate": 1.0,
            "cost_usd": 0.0,
            "tokens": 0,
            "unparseable": 0,
            "errors": 0,
            "budget_exhausted": False,
            "elapsed_s": 0.0,
        }
        names = {f.name for f in fields(cls)}
        return cls(**(defaults | {k: v for k, v in d.items() if k in names}))


@dataclass
class _Tally:
    """Running totals of the judge calls of one run."""

    calls: int = 0
    queries: int = 0
    cache_hits: int = 0
    cost_usd: float = 0.0
    tokens: int = 0
    unparseable: int = 0
    errors: int = 0
    budget_exhausted: bool = False

    def add(self, a: Answer) -> None:
        self.calls += a.calls
        self.queries += 1
        self.cost_usd += a.cost_usd
        self.tokens += a.tokens
        if a.status == UNPARSEABLE:
            self.unparseable += 1
        elif a.status == ERROR:
            self.errors += 1
        elif a.status == BUDGET_EXHAUSTED:
            self.budget_exhausted = True


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


def _check_inputs(windows: np.ndarray, window_ids: Sequence[str], criteria: Sequence[str]):
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
    return X


@dataclass
class _Walk:
    """Where the pair walk of each criterion stands (docs/tsrating.md §4)."""

    seqs: dict[str, Iterator[tuple[int, int]]]
    asked: dict[str, int]
    confident: dict[str, int]
    active: dict[str, bool]

    @classmethod
    def start(cls, n: int, criteria: Sequence[str], seed: int) -> _Walk:
        return cls(
            seqs={c: iter_pairs(n, seed) for c in criteria},
            asked={c: 0 for c in criteria},
            confident={c: 0 for c in criteria},
            active={c: n >= 2 for c in criteria},
        )

    def next_batch(self, pairs: PairConfig, target: int) -> list[tuple[str, int, int]]:
        """Up to ``batch_size`` more pairs per active criterion (fewer near its targets)."""
        batch: list[tuple[str, int, int]] = []
        for c in self.seqs:
            if not self.active[c]:
                continue
            take = min(pairs.batch_size, max(1, target - self.confident[c]))
            if pairs.max_pairs is not None:
                take = min(take, pairs.max_pairs - self.asked[c])
            got = 0
            for i, j in self.seqs[c]:
                batch.append((c, i, j))
                got += 1
                if got >= take:
                    break
            self.asked[c] += got
            if got < take:
                self.active[c] = False  # pairs exhausted
        return batch

    def stop_finished(self, pairs: PairConfig, target: int) -> None:
        for c in self.seqs:
            if self.confident[c] >= target or (
                pairs.max_pairs is not None and self.asked[c] >= pairs.max_pairs
            ):
                self.active[c] = False


def _ask(
    X: np.ndarray,
    batch: list[tuple[str, int, int]],
    keys: list[str],
    judge: Judge,
    cache: JudgmentCache,
    tally: _Tally,
) -> tuple[dict[str, Answer], dict[str, bool]]:
    """The answer to every ordered query of ``batch`` (``keys``: forward, backward per pair):
    from the cache when there, else from the judge (each distinct query once); final answers
    are stored in the cache."""
    found = cache.get_many(keys)
    answers: dict[str, Answer] = {}
    cached: dict[str, bool] = {}
    misses: dict[str, Query] = {}  # identical windows can repeat a key: ask it once
    for qi, key in enumerate(keys):
        if key in found:
            answers[key] = Answer.from_json(found[key])
            cached[key] = True
        else:
            c, i, j = batch[qi // 2]
            first, second = (i, j) if qi % 2 == 0 else (j, i)
            misses.setdefault(key, Query(first=X[first], second=X[second], criterion=c))
    tally.cache_hits += sum(1 for k in keys if k in found)
    if misses:
        fresh = judge.judge(list(misses.values()))
        if len(fresh) != len(misses):
            raise RuntimeError(f"judge returned {len(fresh)} answers for {len(misses)} queries")
        to_store = {}
        for k, a in zip(misses.keys(), fresh, strict=True):
            answers[k] = a
            cached[k] = False
            tally.add(a)
            if a.status in CACHEABLE:
                to_store[k] = a.to_json()
        cache.put_many(to_store)
    return answers, cached


def _pair_row(
    pair: tuple[str, int, int],
    forward: tuple[str, Answer, bool],
    backward: tuple[str, Answer, bool],
    identity: dict[str, Any],
    window_ids: Sequence[str],
    pairs: PairConfig,
) -> dict[str, Any]:
    """One row of the judgments table: both orders of a pair, calibrated (docs/tsrating.md §4)."""
    c, i, j = pair
    (kf, f, cached_f), (kb, b, cached_b) = forward, backward
    pf = f.prob_second if f.status == OK else None
    pb = b.prob_second if b.status == OK else None
    p = calibrate(pf, pb)
    paths = {x.path for x in (f, b) if x.path}
    reasons = [x.reason for x in (f, b) if x.reason]
    return {
        "block_a": str(window_ids[i]),
        "block_b": str(window_ids[j]),
        "idx_a": i,
        "idx_b": j,
        "criterion": c,
        "comparisons_forward": pf,
        "comparisons_backward": pb,
        "comparisons_avg": p,
        "confident": is_confident(p, pairs.confident_low, pairs.confident_high),
        "prob_a_forward": None if pf is None else 1.0 - pf,
        "prob_a_backward": None if pb is None else 1.0 - pb,
        "votes_fwd": _votes(f),
        "votes_bwd": _votes(b),
        "model": identity["model"],
        "template_version": identity["template_version"],
        "template_sha256": identity["template_sha256"],
        "path": "+".join(sorted(paths)) or None,
        "path_forward": f.path or None,
        "path_backward": b.path or None,
        # what this run spent: a cached answer cost nothing tonight
        "cost_usd": (0.0 if cached_f else f.cost_usd) + (0.0 if cached_b else b.cost_usd),
        "tokens": (0 if cached_f else f.tokens) + (0 if cached_b else b.tokens),
        "calls": (0 if cached_f else f.calls) + (0 if cached_b else b.calls),
        "cache_key_forward": kf,
        "cache_key_backward": kb,
        "cached_forward": cached_f,
        "cached_backward": cached_b,
        "status": _pair_status(f, b),
        "reason": "; ".join(reasons) or None,
    }


def judge_windows(
    windows: np.ndarray,
    window_ids: Sequence[str],
    judge: Judge,
    *,
    criteria: Sequence[str] = CRITERIA,
    pairs: PairConfig,
    cache: JudgmentCache,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[pl.DataFrame, JudgingSummary]:
    """Judge pairs of ``windows`` (float array ``(n_windows, L)``, NaN allowed) per criterion.

    For every sampled pair (a, b) both orders are asked: forward shows a as Option A,
    backward shows b as Option A. ``comparisons_forward = P(b better | a first)``,
    ``comparisons_backward = P(a better | b first)``, ``comparisons_avg`` = calibrated
    ``p(b > a)``; ``confident`` when it is outside (confident_low, confident_high). Cached
    answers are reused; a second run on unchanged data makes no judge calls.

    Returns the judgments frame (:data:`JUDGMENT_SCHEMA`) and a :class:`JudgingSummary`.
    """
    t0 = time.perf_counter()
    X = _check_inputs(windows, window_ids, criteria)
    n = X.shape[0]
    hashes = [content_hash(X[i]) for i in range(n)]
    identities = {c: judge.identity(c) for c in criteria}
    target = pairs.target(n)
    walk = _Walk.start(n, criteria, pairs.seed)
    tally = _Tally()
    rows: list[dict[str, Any]] = []

    goal = target * len(criteria)  # confident pairs wanted, all criteria together
    bar = progress_start("judging", goal, "confident pair")
    while any(walk.active.values()) and not tally.budget_exhausted:
        batch = walk.next_batch(pairs, target)
        if not batch:
            break
        keys = []
        for c, i, j in batch:  # two ordered queries per pair: forward (a first), backward
            keys.append(judgment_key(identities[c], c, hashes[i], hashes[j]))
            keys.append(judgment_key(identities[c], c, hashes[j], hashes[i]))
        answers, cached = _ask(X, batch, keys, judge, cache, tally)
        for qi in range(0, len(keys), 2):
            pair = batch[qi // 2]
            kf, kb = keys[qi], keys[qi + 1]
            row = _pair_row(
                pair,
                (kf, answers[kf], cached[kf]),
                (kb, answers[kb], cached[kb]),
                identities[pair[0]],
                window_ids,
                pairs,
            )
            walk.confident[pair[0]] += int(row["confident"])
            rows.append(row)
        walk.stop_finished(pairs, target)
        note = f"{len(rows)} pairs, {tally.calls} calls, {tally.cache_hits} cached"
        bar.set(sum(min(v, target) for v in walk.confident.values()), note)
        if progress is not None:
            progress(
                {
                    "pairs": len(rows),
                    "confident": dict(walk.confident),
                    "target": target,
                    "calls": tally.calls,
                    "cache_hits": tally.cache_hits,
                }
            )

    bar.close()
    df = pl.DataFrame(rows, schema=JUDGMENT_SCHEMA)
    n_q = tally.queries + tally.cache_hits
    summary = JudgingSummary(
        model=getattr(judge, "model", None),
        n_windows=n,
        n_pairs=df.height,
        n_confident=int(df["confident"].sum()) if df.height else 0,
        confident_share=float(df["confident"].mean()) if df.height else 0.0,
        confident_per_criterion=dict(walk.confident),
        target_confident_per_criterion=target,
        calls=tally.calls,
        queries_sent=tally.queries,
        cache_hits=tally.cache_hits,
        cache_hit_rate=(tally.cache_hits / n_q) if n_q else 1.0,
        cost_usd=tally.cost_usd,
        tokens=tally.tokens,
        unparseable=tally.unparseable,
        errors=tally.errors,
        budget_exhausted=tally.budget_exhausted,
        elapsed_s=time.perf_counter() - t0,
    )
    return df, summary


def judge_outage(judgments: pl.DataFrame, max_failed_share: float) -> str | None:
    """Why the judgments of this run cannot be trusted to rate the windows, or ``None``.

    A pair *failed* when the judge errored (after its retries) or answered unparseably in either
    order; pairs not asked because the call budget ran out do not count either way. The run's
    judgments are unusable when more than ``max_failed_share`` of the asked pairs failed, or when
    pairs were sampled but not one was answered. Rating windows from such judgments would give
    every window the untrained score 0.5 (an outage reads as "all windows equal"), so the caller
    stops instead and keeps the last good scores."""
    if judgments.height == 0 or "status" not in judgments.columns:
        return None
    status = judgments["status"]
    n_ok = int((status == OK).sum())
    asked = int((status != BUDGET_EXHAUSTED).sum())
    failed = int(status.is_in([ERROR, UNPARSEABLE]).sum())
    if n_ok == 0:
        reasons = judgments.filter(pl.col("status") != OK)["reason"].drop_nulls()
        first = reasons[0] if reasons.len() else "no reason recorded"
        return (
            f"judge outage: none of {judgments.height} pairs was judged "
            f"({failed} failed, {judgments.height - asked} not asked: budget); first reason: "
            f"{first}"
        )
    share = failed / asked if asked else 0.0
    if share > max_failed_share:
        reasons = judgments.filter(pl.col("status").is_in([ERROR, UNPARSEABLE]))["reason"]
        first = reasons.drop_nulls()[0] if reasons.drop_nulls().len() else "no reason recorded"
        return (
            f"judge outage: {failed} of {asked} asked pairs failed ({share:.0%} > "
            f"{max_failed_share:.0%}); first reason: {first}"
        )
    return None
