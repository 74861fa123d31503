"""Score every window of a dataset: encode, train the per-criterion raters on the dataset's
confident judgments (optionally from a meta-trained checkpoint), mix, rank and flag.

The result is the scores table (``ops.contracts.SCORES`` without ``run_id``), one row per
window in window order, keyed by ``window_id``: ``trend_score, frequency_score,
amplitude_score, pattern_score, quality_score`` (all in [0, 1], see
:func:`ops.tsrating.rater.mix_scores`), ``quality_rank`` (1 = best; ties broken by window
order), ``is_low_quality_issue``, ``rater_version`` and ``judge_model`` (docs/tsrating.md §6, §8).

``is_low_quality_issue`` policy: the windows ranked in the bottom ``low_quality_share`` of the
dataset (``round(share * n)`` windows) — a *relative* flag: the rater's scores are rankings
learned from pairwise judgments and carry no absolute threshold. When no criterion could be
trained (too few confident judgments), nothing is flagged: an untrained rater has no evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ops.contracts import CRITERIA, QUALITY_SCORE
from ops.tsrating.encoder import Encoder, default_encoder, encoder_fingerprint
from ops.tsrating.rater import (
    RaterConfig,
    fit_rater,
    load_heads,
    mix_scores,
    pairs_from_judgments,
    standardize,
)


@dataclass
class ScoringResult:
    scores: pl.DataFrame  # one row per window: window_id + the rating columns
    report: dict[str, Any]
    rater: Any = None
    notes: list[str] = field(default_factory=list)
    judge_model: str = ""  # models whose judgments trained the rater, comma-separated


def rank_and_flag(
    quality: np.ndarray, low_quality_share: float, any_trained: bool
) -> tuple[np.ndarray, np.ndarray]:
    n = len(quality)
    order = np.lexsort((np.arange(n), -quality))  # best first, ties by window order
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(1, n + 1)
    n_low = int(round(low_quality_share * n)) if any_trained else 0
    return rank, rank > n - n_low


def score_windows(
    windows: pl.DataFrame,
    values: np.ndarray,
    judgments: pl.DataFrame,
    *,
    config: RaterConfig = RaterConfig(),
    encoder: Encoder | None = None,
    meta_checkpoint: str | Path | None = None,
    low_quality_share: float = 0.1,
) -> ScoringResult:
    """Rate every row of ``windows`` (values ``(n, L)`` in the same order; judgments by
    window_id)."""
    if not 0.0 <= low_quality_share <= 1.0:
        raise ValueError(f"low_quality_share must be in [0, 1], got {low_quality_share}")
    enc = encoder or default_encoder()
    enc_cfg = enc.config() if hasattr(enc, "config") else {"name": enc.name, "dim": enc.dim}
    notes: list[str] = []
    n = windows.height
    feats = standardize(enc.encode(values)) if n else np.zeros((0, enc.dim), np.float32)
    pairs = pairs_from_judgments(judgments, windows["window_id"].to_list())
    init, init_version = None, None
    if meta_checkpoint:
        states, info = load_heads(meta_checkpoint)
        if info["dim"] != feats.shape[1] or info.get("encoder", enc_cfg) != enc_cfg:
            raise ValueError(
                f"meta checkpoint {meta_checkpoint} was trained with encoder {info.get('encoder')} "
                f"(dim {info['dim']}), not {enc_cfg} (dim {feats.shape[1]})"
            )
        if info["hidden"] != config.hidden:
            raise ValueError(
                f"meta checkpoint hidden={info['hidden']} but rater hidden={config.hidden}"
            )
        init, init_version = states, info.get("version")
        notes.append(f"initialised from meta checkpoint {init_version}")
    rater, report = fit_rater(
        feats,
        pairs,
        config,
        encoder=enc_cfg | {"fingerprint": encoder_fingerprint(enc)},
        init=init,
        init_version=init_version,
    )
    for c, why in rater.fallback.items():
        notes.append(f"{c}: {why}")
    trained = list(rater.heads)
    mixed = (
        mix_scores(rater.score(feats, config.device), trained)
        if n
        else {c: np.zeros(0) for c in [*CRITERIA, "quality"]}
    )
    rank, low = rank_and_flag(mixed["quality"], low_quality_share, bool(trained))
    version = rater.version()
    judge_model = judge_models(judgments)
    out = windows.select("window_id").with_columns(
        *[pl.Series(f"{c}_score", mixed[c], dtype=pl.Float64) for c in CRITERIA],
        pl.Series(QUALITY_SCORE, mixed["quality"], dtype=pl.Float64),
        pl.Series("quality_rank", rank, dtype=pl.Int64),
        pl.Series("is_low_quality_issue", low, dtype=pl.Boolean),
        pl.lit(version).alias("rater_version"),
        pl.lit(judge_model or None, dtype=pl.String).alias("judge_model"),
    )
    report = {
        "criteria": report,
        "trained": trained,
        "rater_version": version,
        "init": init_version,
        "low_quality_share": float(low.mean()) if n else 0.0,
        "mean_quality_score": float(mixed["quality"].mean()) if n else None,
    }
    return ScoringResult(out, report, rater, notes, judge_model)


def judge_models(judgments: pl.DataFrame) -> str:
    """The judge models of ``judgments``, sorted and comma-separated ("" when there are none)."""
    if not judgments.height or "model" not in judgments.columns:
        return ""
    return ",".join(sorted(set(judgments["model"].drop_nulls().to_list())))
