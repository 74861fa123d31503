"""A series reported at a coarser cadence than the table it sits in.

Wide tables mix cadences: NOAA LCD's ``HourlyPressureTendency`` is reported every third hour in
an hourly table, a weekly metric sits in a daily export. Melted, such a column is two thirds (or
six sevenths) empty cells, so every one of its windows was "more than 50 % missing": flagged
and never selectable, although nothing is wrong with it.

Rule (:func:`separate_padding`): a series whose values are at least half empty, with at least
``MIN_REPORTS`` values, whose consecutive values are ``k ≥ 1.5`` table steps apart in
``REGULAR_SHARE`` (90 %) of cases (within half a table step), is reported every ``k`` steps. Its
empty cells *between* reports are padding: they leave the points and are quarantined as
``cadence_padding`` (by design, like NOAA's filtered report types: they do not count against the
quarantine-share check). An empty cell *at* a report time stays a missing value. A sparse
series without such a regular cadence (wind gusts, reported only when gusty) keeps its empty
cells, and they count as missing.
"""

from __future__ import annotations

import numpy as np
import polars as pl

PADDING = "cadence_padding"
MIN_REPORTS = 8
REGULAR_SHARE = 0.9


def _padding_rows(ts_us: np.ndarray, null: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Boolean mask of padding rows and the report step (µs), or None for no regular cadence."""
    if len(ts_us) < 3 or null.mean() < 0.5 or (~null).sum() < MIN_REPORTS:
        return None
    base = float(np.median(np.diff(ts_us)))
    rep = ts_us[~null]
    steps = np.diff(rep).astype(np.float64)
    every = float(np.median(steps))
    if base <= 0 or every < 1.5 * base:
        return None
    if np.mean(np.abs(steps - every) <= base / 2) < REGULAR_SHARE:
        return None
    phase = np.mod((ts_us - rep[0]).astype(np.float64), every)
    on_grid = (phase <= base / 2) | (every - phase <= base / 2)
    return null & ~on_grid, every


def separate_padding(points: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, float]]:
    """(points without padding cells, their quarantine rows, {series id: report step seconds})."""
    sparse = (
        points.group_by("series_id")
        .agg(null=pl.col("value").is_null().mean())
        .filter(pl.col("null") >= 0.5)["series_id"]
        .to_list()
    )
    if not sparse:
        return points, points.head(0), {}
    drop_parts, steps = [], {}
    candidates = points.filter(pl.col("series_id").is_in(sparse)).sort("series_id", "timestamp")
    for s in candidates.partition_by("series_id", maintain_order=True):  # one pass
        sid = s["series_id"][0]
        ts = s["timestamp"].cast(pl.Int64).to_numpy()
        found = _padding_rows(ts, s["value"].is_null().to_numpy())
        if found is None:
            continue
        mask, every = found
        steps[sid] = every / 1e6
        drop_parts.append(s.filter(pl.Series(mask)).select("series_id", "timestamp"))
    if not drop_parts:
        return points, points.head(0), {}
    drop = pl.concat(drop_parts).with_columns(_pad=pl.lit(True))
    marked = points.join(drop, on=["series_id", "timestamp"], how="left")
    padded = marked.filter(pl.col("_pad").fill_null(False))
    kept = marked.filter(~pl.col("_pad").fill_null(False)).drop("_pad")
    return kept, padded.drop("_pad"), steps


def padding_quarantine(padded: pl.DataFrame, steps: dict[str, float]) -> pl.DataFrame:
    """Quarantine rows (``source_file, source_row, item, reason, detail``) for padding cells."""
    every = pl.col("series_id").replace_strict(steps, default=None, return_dtype=pl.Float64)
    return padded.select(
        "source_file",
        "source_row",
        item="series_id",
        reason=pl.lit(PADDING),
        detail=pl.format(
            "{} empty between the reports of a series reported every {} s",
            pl.col("timestamp").cast(pl.String),
            every.round(0).cast(pl.Int64),
        ),
    )
