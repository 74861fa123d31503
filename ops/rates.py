"""One definition of each rate Sieve reports: asset metadata, checks, the report and the console
summary all call these, so "label issue rate" means the same number everywhere."""

from __future__ import annotations

import polars as pl

from ops.contracts import QUARANTINED


def label_issue_rate(labels: pl.DataFrame) -> float:
    """Share of the readable rows of labels.parquet (action != quarantined, test split included)
    flagged ``is_label_issue``; 0.0 when there are none."""
    live = labels.filter(pl.col("action") != QUARANTINED)
    if live.height == 0:
        return 0.0
    return float(live["is_label_issue"].fill_null(False).sum()) / live.height


def quarantine_share(n_quarantined: int, n_in: int) -> float:
    """Share of input items quarantined (1.0 when nothing came in: nothing usable)."""
    return n_quarantined / n_in if n_in > 0 else 1.0


def low_quality_share(scores: pl.DataFrame) -> float:
    """Share of rated windows flagged ``is_low_quality_issue``."""
    return float(scores["is_low_quality_issue"].mean() or 0.0) if scores.height else 0.0
