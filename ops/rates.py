"""One definition of each rate Sieve reports: asset metadata, checks, the report and the console
summary all call these, so "label issue rate" means the same number everywhere."""

from __future__ import annotations

import polars as pl

from ops.contracts import DROPPED, QUARANTINED, TEST


def scored_pool(labels: pl.DataFrame) -> pl.DataFrame:
    """The rows label cleaning scores: untrusted train rows that were not quarantined. Trusted
    and test rows are never flagged or changed, so they must not dilute the shares."""
    keep = pl.col("action") != QUARANTINED
    if "trusted" in labels.columns:  # tables written before the contract had these columns
        keep &= ~pl.col("trusted").fill_null(False)
    if "split" in labels.columns:
        keep &= pl.col("split").fill_null("") != TEST
    return labels.filter(keep)


def label_issue_rate(labels: pl.DataFrame) -> float:
    """Share of the scored pool (:func:`scored_pool`) of labels.parquet flagged
    ``is_label_issue``; 0.0 when the pool is empty."""
    pool = scored_pool(labels)
    if pool.height == 0:
        return 0.0
    return float(pool["is_label_issue"].fill_null(False).sum()) / pool.height


def dropped_share(labels: pl.DataFrame) -> float:
    """Share of the scored pool the label policy dropped; 0.0 when the pool is empty."""
    pool = scored_pool(labels)
    return float((pool["action"] == DROPPED).sum()) / pool.height if pool.height else 0.0


def quarantine_share(n_quarantined: int, n_in: int) -> float:
    """Share of input items quarantined (1.0 when nothing came in: nothing usable)."""
    return n_quarantined / n_in if n_in > 0 else 1.0


def low_quality_share(scores: pl.DataFrame) -> float:
    """Share of rated windows flagged ``is_low_quality_issue``."""
    return float(scores["is_low_quality_issue"].mean() or 0.0) if scores.height else 0.0
