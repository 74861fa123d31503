"""Rubric judge: a deterministic, offline **surrogate** for an LLM judge (no model).

It scores each criterion of a window from signal statistics and turns the score difference
of the two shown windows into a preference, ``P(second better) = sigmoid((s_B - s_A) / tau)``,
in the same :class:`~ops.tsrating.judge_base.Answer` format as the LLM judge (path
``"rubric"``). It is the default judge when no LLM is configured. It is *not* an LLM and its
judgments only encode the hand-written rules below; results obtained with it must be
labelled as such.

Statistics (all computed on the window after linear interpolation of NaNs; each score is
in [0, 1] and multiplied by ``1 - missing_share``). **Circularity warning:** a rater trained
on these judgments must not take these statistics as input features (docs/tsrating.md §6);
:data:`RUBRIC_STATISTICS` lists them by name.

- ``trend``: R^2 of an ordinary least-squares line fit (share of variance explained by a
  linear trend; |slope| is irrelevant once normalised by the window's own variance).
- ``frequency``: spectral peak share: after removing the linear fit, the power in the
  strongest Fourier bin and its two neighbours divided by total (non-DC) power (white noise
  gets about ``3 / (L/2)`` plus its largest fluctuation; a clean sinusoid gets close to 1).
- ``amplitude``: structure-to-noise ratio ``r = robust range (q95 - q5) of the structure /
  std of the residual``, where structure = linear fit + the 3 strongest Fourier components;
  score ``r / (r + amp_half)``.
- ``pattern``: ``structure_share * (1 - penalty)``; structure_share = variance share of the
  same structure (1 for a constant window: a flat series is an acceptable stationary
  pattern); penalty = ``spike_w * spike_share + jump_w * n_jumps + flat_w * partial flat-run
  share + missing_w * missing_share`` clipped to [0, 1]. Spikes: |z| > 6 of the residual from
  a 5-point rolling median, scaled by the larger MAD of that residual and of the structure
  residual; jumps: first differences with |robust z| > 8 not
  touching a spike; partial flat run: the longest run of identical values, when it covers at
  least ``max(4, 5 %)`` of the window but not all of it.

Invariances: every score is unchanged by ``x -> a*x + c`` for any ``a != 0`` (robust scales
have a floor relative to the window's own range, so numerical noise never counts).
A constant window scores 0 on trend/frequency/amplitude and 1 on pattern.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ops.hashing import sha256_hex
from ops.tsrating.judge_base import OK, Answer, Query
from ops.tsrating.prompts import CRITERIA

RUBRIC_VERSION = "rubric-v1"

#: statistics the rubric judge computes; a rater must not use them as inputs (circularity).
RUBRIC_STATISTICS = (
    "missing_share",
    "linear_fit_r2",
    "spectral_peak_share_3bins",
    "structure_to_noise_ratio_top3_fourier_plus_line",
    "structure_variance_share_top3_fourier_plus_line",
    "spike_share_rolling_median_robust_z6",
    "jump_count_diff_robust_z8",
    "longest_partial_flat_run_share",
)


@dataclass(frozen=True)
class RubricConfig:
    tau: float = 0.1  # temperature of sigmoid((s_B - s_A) / tau)
    n_fourier: int = 3
    amp_half: float = 4.0
    spike_z: float = 6.0
    jump_z: float = 8.0
    spike_w: float = 5.0
    jump_w: float = 0.15
    flat_w: float = 1.0
    missing_w: float = 1.5


def _interp_nan(x: np.ndarray) -> tuple[np.ndarray, float]:
    x = np.asarray(x, dtype=np.float64).ravel()
    ok = np.isfinite(x)
    m = 1.0 - ok.mean() if x.size else 1.0
    if ok.all():
        return x.copy(), 0.0
    if ok.sum() == 0:
        return np.zeros_like(x), 1.0
    idx = np.arange(x.size)
    return np.interp(idx, idx[ok], x[ok]), float(m)


def _mad(v: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(v - np.median(v)))) if v.size else 0.0


def _structure(y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(linear fit, linear + top-k Fourier components, spectral peak share of 3 bins)."""
    n = y.size
    t = np.arange(n, dtype=np.float64)
    A = np.vstack([np.ones(n), t]).T
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    line = A @ coef
    r = y - line
    F = np.fft.rfft(r)
    power = np.abs(F) ** 2
    power[0] = 0.0
    total = power.sum()
    if total <= 0:
        return line, line.copy(), 0.0
    p = int(np.argmax(power))
    peak = power[max(1, p - 1) : p + 2].sum() / total
    top = np.argsort(power)[::-1][:k]
    G = np.zeros_like(F)
    G[top] = F[top]
    return line, line + np.fft.irfft(G, n=n), float(peak)


def _longest_equal_run(raw: np.ndarray) -> int:
    """Longest run of identical consecutive finite values (1 if none repeat)."""
    if raw.size == 0:
        return 0
    same = np.isfinite(raw[1:]) & (raw[1:] == raw[:-1])
    if not same.any():
        return 1
    edges = np.diff(np.concatenate([[0], same.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return int((ends - starts).max()) + 1


def rubric_scores(values, config: RubricConfig = RubricConfig()) -> dict[str, float]:
    """Per-criterion scores in [0, 1] of one window (see the module docstring)."""
    y, miss = _interp_nan(values)
    n = y.size
    keep = 1.0 - miss
    scale = float(np.ptp(y)) if n else 0.0
    if n < 4 or scale <= 1e-12 * max(1.0, float(np.max(np.abs(y))) if n else 1.0):
        # constant (or too short): no trend/oscillation/variation; a stationary pattern
        return {
            "trend": 0.0,
            "frequency": 0.0,
            "amplitude": 0.0,
            "pattern": float(max(0.0, 1.0 - config.missing_w * miss)),
        }
    var = float(np.var(y))
    line, struct, peak = _structure(y, config.n_fourier)
    r2 = 1.0 - float(np.var(y - line)) / var
    freq = peak
    resid = y - struct
    noise = max(float(np.std(resid)), 1e-6 * scale)
    srange = float(np.quantile(struct, 0.95) - np.quantile(struct, 0.05))
    ratio = srange / noise
    amp = ratio / (ratio + config.amp_half)
    share = max(0.0, 1.0 - float(np.var(resid)) / var)
    # pattern penalties
    floor = 1e-3 * scale
    pad = np.pad(y, 2, mode="edge")
    med = np.median(np.lib.stride_tricks.sliding_window_view(pad, 5), axis=1)
    rr = y - med
    z = np.abs(rr - np.median(rr)) / max(_mad(rr), _mad(resid), floor)
    spikes = z > config.spike_z
    d = np.diff(y)
    zd = np.abs(d - np.median(d)) / max(_mad(d), floor)
    touching = spikes[:-1] | spikes[1:]
    n_jumps = int(np.sum((zd > config.jump_z) & ~touching))
    raw = np.asarray(values, dtype=np.float64).ravel()
    longest = _longest_equal_run(raw)
    flat = longest / n if (longest >= max(4, 0.05 * n) and longest < n) else 0.0
    penalty = (
        config.spike_w * spikes.mean()
        + config.jump_w * n_jumps
        + config.flat_w * flat
        + config.missing_w * miss
    )
    pattern = share * (1.0 - min(1.0, penalty))
    out = {
        "trend": r2 * keep,
        "frequency": freq * keep,
        "amplitude": amp * keep,
        "pattern": pattern,
    }
    return {k: float(min(1.0, max(0.0, v))) for k, v in out.items()}


class RubricJudge:
    """Deterministic surrogate judge (see module docstring). ``model = "rubric-v1"``."""

    path = "rubric"

    def __init__(self, config: RubricConfig | None = None):
        self.config = config or RubricConfig()
        self.model = RUBRIC_VERSION
        self.offline = False  # never calls anything
        self.calls_made = 0
        self._memo: dict[bytes, dict[str, float]] = {}

    def identity(self, criterion: str) -> dict[str, Any]:
        params = asdict(self.config)
        h = sha256_hex(json.dumps({"v": RUBRIC_VERSION, **params}, sort_keys=True))
        return {
            "template_version": RUBRIC_VERSION,
            "template_sha256": h,
            "model": self.model,
            "params": params,
        }

    def score(self, values) -> dict[str, float]:
        # memo key: the raw float64 bytes (a NaN or -0.0 bit pattern only costs a miss); the
        # cache key elsewhere stays the canonical content_hash
        key = np.ascontiguousarray(values, dtype=np.float64).tobytes()
        out = self._memo.get(key)
        if out is None:
            if len(self._memo) > 100_000:
                self._memo.clear()
            out = self._memo[key] = rubric_scores(values, self.config)
        return out

    def prob_second(self, first, second, criterion: str) -> float:
        if criterion not in CRITERIA:
            raise ValueError(f"unknown criterion {criterion!r}")
        sa = self.score(first)[criterion]
        sb = self.score(second)[criterion]
        x = (sb - sa) / self.config.tau
        return float(1.0 / (1.0 + math.exp(-x)))

    def judge(self, queries: Sequence[Query]) -> list[Answer]:
        out = []
        for q in queries:
            p = self.prob_second(q.first, q.second, q.criterion)
            self.calls_made += 1
            out.append(Answer(prob_second=p, status=OK, path="rubric", model=self.model, calls=1))
        return out
