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


def _readable_fields(quarantine: pl.DataFrame, raw: pl.DataFrame | None) -> pl.DataFrame:
    """``given_label``, ``trusted`` and ``split`` of each quarantined row as the input gave them
    (the manifest's columns, or the class folder of an ImageFolder), null where unreadable."""
    n = quarantine.height
    if raw is None or "source_row" not in quarantine.columns:
        return pl.DataFrame({"given_label": [None] * n}, schema={"given_label": pl.String})
    given = raw.with_row_index("source_row").select(
        pl.col("source_row").cast(pl.Int64),
        given_label=pl.col("label").str.strip_chars().replace("", None),
        trusted=pl.col("trusted").str.strip_chars().str.to_lowercase().is_in(["true", "1", "yes"]),
        split=pl.col("split").str.strip_chars().str.to_lowercase().replace("", None),
    )
    keys = quarantine.select(pl.col("source_row").cast(pl.Int64))
    return keys.join(given, on="source_row", how="left", maintain_order="left").drop("source_row")


def assemble_labels_table(
    cleaned: pl.DataFrame,
    quarantine: pl.DataFrame,
    classes: list[str],
    run_id: str,
    raw: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``cleaned`` plus one row per ``quarantine`` row; ``raw`` (the input rows as read, see
    ``ops.ingest.images.read_raw_manifest``) gives quarantined rows their readable fields."""
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
    ).hstack(_readable_fields(quarantine, raw))
    out = pl.concat([good, bad], how="diagonal_relaxed").select(
        [pl.col(c).cast(t) for c, t in schema.items()]
    )
    return out.with_columns(run_id=pl.lit(run_id))
