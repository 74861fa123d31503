"""Selection policy (docs/tsrating.md §8): keep the top-k % of windows by ``quality_score`` and
return the points those windows cover.

Top-k: ``ceil(top_percent / 100 * n)`` windows with the best ``quality_rank`` (so ties follow
the rank's tie-break, and any positive percentage keeps at least one window), among the
``selectable`` windows only: a window whose missing share is above ``max_missing`` is never
selected, whatever the percentage (so fewer than k may be kept). Points: a window
covers rows ``start_index .. start_index + n_points - 1`` of its series sorted by timestamp (the
order :func:`ops.tsrating.windows.make_windows` cut it from); overlapping windows share points,
which appear once. The result has exactly the columns of ``points`` in series/timestamp order.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl


def top_windows(windows: pl.DataFrame, top_percent: float) -> pl.DataFrame:
    if not 0.0 <= top_percent <= 100.0:
        raise ValueError(f"top_percent must be in [0, 100], got {top_percent}")
    k = int(math.ceil(top_percent / 100.0 * windows.height - 1e-9))
    ranked = windows.sort("quality_rank").head(k)
    if "selectable" in windows.columns:
        ranked = ranked.filter(pl.col("selectable").fill_null(False))
    return ranked


def points_of_windows(points: pl.DataFrame, windows: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``points`` covered by ``windows`` (each point once)."""
    cols = points.columns
    ordered = points.sort(["series_id", "timestamp"]).with_columns(
        pl.int_range(pl.len()).over("series_id").alias("__row")
    )
    keep_parts = []
    for (sid,), g in windows.group_by("series_id"):
        starts = g["start_index"].to_numpy()
        ends = starts + g["n_points"].to_numpy()
        keep_parts.append(
            pl.DataFrame(
                {
                    "series_id": [sid],
                    "__ranges": [list(zip(starts.tolist(), ends.tolist(), strict=True))],
                }
            )
        )
    if not keep_parts:
        return points.head(0)
    mask_frames = []
    for part in keep_parts:
        sid = part["series_id"][0]
        ranges = part["__ranges"][0]
        n = int(max(e for _, e in ranges))
        cover = np.zeros(n + 1, dtype=np.int64)
        for s, e in ranges:
            cover[s] += 1
            cover[e] -= 1
        rows = np.flatnonzero(np.cumsum(cover)[:n] > 0)
        mask_frames.append(
            pl.DataFrame(
                {
                    "series_id": pl.Series([sid] * len(rows), dtype=points.schema["series_id"]),
                    "__row": pl.Series(rows, dtype=pl.Int64),
                }
            )
        )
    keep = pl.concat(mask_frames)
    ordered = ordered.with_columns(pl.col("__row").cast(pl.Int64))
    return ordered.join(keep, on=["series_id", "__row"], how="semi").select(cols)


def select_points(
    points: pl.DataFrame, windows: pl.DataFrame, top_percent: float
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(selected points, selected windows)."""
    chosen = top_windows(windows, top_percent)
    return points_of_windows(points, chosen), chosen
