"""Assemble ``labels.parquet``: one row per input image, cleaned rows plus quarantined ones.

``cleaned`` holds one row per readable image (the label-cleaning output); ``quarantine``
holds the unreadable or invalid rows from ingestion. Quarantined rows get
``action = "quarantined"``, null labels/probabilities and their reason, so a downstream
reader sees every input row exactly once.
"""

from __future__ import annotations

import polars as pl

from ops.contracts import ACTIONS, LABEL_BASE_COLUMNS, LABELS

BASE_COLUMNS: dict[str, pl.DataType] = LABELS.polars_schema(LABEL_BASE_COLUMNS)


def prob_columns(classes: list[str]) -> list[str]:
    return [f"prob_{c}" for c in classes]


def assemble_labels_table(
    cleaned: pl.DataFrame, quarantine: pl.DataFrame, classes: list[str], run_id: str
) -> pl.DataFrame:
    probs = prob_columns(classes)
    schema = BASE_COLUMNS | {p: pl.Float64() for p in probs} | {"quarantine_reason": pl.String()}
    missing = [c for c in list(BASE_COLUMNS) + probs if c not in cleaned.columns]
    if missing:
        raise ValueError(f"label-cleaning output lacks columns {missing}")
    bad_actions = set(cleaned["action"].unique()) - set(ACTIONS[:3])
    if bad_actions:
        raise ValueError(f"unknown action(s) {sorted(bad_actions)}; allowed {ACTIONS[:3]}")
    good = cleaned.select(
        [pl.col(c).cast(t) for c, t in schema.items() if c != "quarantine_reason"]
    ).with_columns(quarantine_reason=pl.lit(None, pl.String))
    bad = pl.DataFrame(
        {
            "image": quarantine["item"],
            "action": ["quarantined"] * quarantine.height,
            "quarantine_reason": quarantine["reason"],
        }
    )
    out = pl.concat([good, bad], how="diagonal_relaxed").select(
        [pl.col(c).cast(t) for c, t in schema.items()]
    )
    return out.with_columns(run_id=pl.lit(run_id))
