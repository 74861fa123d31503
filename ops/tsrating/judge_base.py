"""The one judge interface shared by the LLM judge, the rubric judge and the local LLM.

A judge receives *ordered* queries: window ``first`` is shown as ``[Option A]``, window
``second`` as ``[Option B]``. For each it returns :class:`Answer` with ``prob_second``, the
probability that the **second shown** window is better on the criterion (``None`` with a
``reason`` when the answer could not be parsed; never a guess), and per-call information:
model, path (``"logprobs"``, ``"votes"`` or ``"rubric"``), tokens, cost, calls.

Order calibration (docs/tsrating.md §4): with ``pred[a,b]`` = P(second better) when a is shown
first, ``p(b > a) = (pred[a,b] + 1 - pred[b,a]) / 2``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Protocol, runtime_checkable

import numpy as np

# Answer statuses
OK = "ok"
UNPARSEABLE = "unparseable"
ERROR = "error"  # transient failure after all retries; not cached
BUDGET_EXHAUSTED = "budget_exhausted"  # not asked: the per-run call budget ran out


@dataclass(frozen=True)
class Query:
    first: np.ndarray  # shown as [Option A]
    second: np.ndarray  # shown as [Option B]
    criterion: str


@dataclass
class Answer:
    prob_second: float | None
    status: str = OK
    reason: str | None = None
    path: str = ""
    model: str = ""
    tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0
    votes_a: int | None = None
    votes_b: int | None = None
    raw: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        # shallow (the fields are scalars and one list of str): dataclasses.asdict deep-copies
        # and was a quarter of the rubric judgments step
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["raw"] = list(self.raw)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Answer:
        return cls(**d)


@runtime_checkable
class Judge(Protocol):
    """What :func:`ops.tsrating.judging.judge_windows` needs from a judge."""

    model: str
    offline: bool

    def identity(self, criterion: str) -> dict[str, Any]:
        """Everything that determines an answer besides the two windows and their order:
        ``template_version``, ``template_sha256``, ``model``, decoding ``params``. Goes into the
        cache key."""
        ...

    def judge(self, queries: Sequence[Query]) -> list[Answer]:
        """One :class:`Answer` per query, in order."""
        ...


def calibrate(pred_fwd: float | None, pred_bwd: float | None) -> float | None:
    """``p(b > a)`` from ``pred_fwd = P(b better | a shown first)`` and
    ``pred_bwd = P(a better | b shown first)``; ``None`` if either is missing."""
    if pred_fwd is None or pred_bwd is None:
        return None
    return (pred_fwd + 1.0 - pred_bwd) / 2.0


def is_confident(p: float | None, low: float = 0.25, high: float = 0.75) -> bool:
    """Kept for training only when ``p <= low`` or ``p >= high`` (docs/tsrating.md §5)."""
    return p is not None and (p <= low or p >= high)


def judge_kind_of(kind: str, model: str | None = None) -> str:
    """The contract's ``judge_kind`` (``ops.contracts.JUDGE_KINDS``) of a configured judge:
    the rubric judge is a rule-based stand-in (``rubric-surrogate``), a ``sieve-local/`` model
    runs offline (``local-llm``), any other litellm model is an ``llm``."""
    from ops.contracts import LLM, LOCAL_LLM, RUBRIC_SURROGATE

    if kind == "rubric":
        return RUBRIC_SURROGATE
    if kind == "litellm":
        return LOCAL_LLM if (model or "").startswith("sieve-local/") else LLM
    raise ValueError(f"unknown judge kind {kind!r} (expected 'rubric' or 'litellm')")
