"""Cut each series into fixed-length windows: the unit TSRating rates.

Windows run over the sorted observed points of a series (length ``length`` points, step
``stride``). The last window is aligned to the series end so every point lies in at least
one window; a series shorter than ``length`` gives one short window. ``n_missing`` counts
null values plus the points the series' cadence says should be there but are not
(``round(span / cadence) + 1 − n_points``), so gaps count as missing data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

WINDOW_SCHEMA: dict[str, pl.DataType] = {
    "window_id": pl.String(),
    "series_id": pl.String(),
    "start_index": pl.Int64(),
    "window_start": pl.Datetime("us"),
    "window_end": pl.Datetime("us"),
    "n_points": pl.Int64(),
    "n_missing": pl.Int64(),
    "mean": pl.Float64(),
    "std": pl.Float64(),
    "min": pl.Float64(),
    "max": pl.Float64(),
}


@dataclass(frozen=True)
class WindowConfig:
    length: int = 128
    stride: int = 64

    def __post_init__(self) -> None:
        if self.length < 2:
            raise ValueError(f"window length must be >= 2, got {self.length}")
        if not 1 <= self.stride <= self.length:
            raise ValueError(f"stride must be in [1, length={self.length}], got {self.stride}")


def window_starts(n: int, cfg: WindowConfig) -> list[int]:
    if n <= cfg.length:
        return [0] if n else []
    starts = list(range(0, n - cfg.length + 1, cfg.stride))
    if starts[-1] != n - cfg.length:
        starts.append(n - cfg.length)
    return starts


def _series_windows(
    sid: str, ts: np.ndarray, values: np.ndarray, cadence: float | None, cfg: WindowConfig
) -> list[dict]:
    rows = []
    for s in window_starts(len(ts), cfg):
        t = ts[s : s + cfg.length]
        v = values[s : s + cfg.length]
        finite = v[np.isfinite(v)]
        span = (t[-1] - t[0]) / np.timedelta64(1, "s")
        expected = int(round(span / cadence)) + 1 if cadence and cadence > 0 else len(t)
        rows.append(
            {
                "window_id": f"{sid}#{s}",
                "series_id": sid,
                "start_index": s,
                "window_start": t[0].astype("datetime64[us]").item(),
                "window_end": t[-1].astype("datetime64[us]").item(),
                "n_points": len(t),
                "n_missing": int(len(v) - len(finite)) + max(0, expected - len(t)),
                "mean": float(finite.mean()) if len(finite) else None,
                "std": float(finite.std()) if len(finite) else None,
                "min": float(finite.min()) if len(finite) else None,
                "max": float(finite.max()) if len(finite) else None,
            }
        )
    return rows


def make_windows(points: pl.DataFrame, cfg: WindowConfig = WindowConfig()) -> pl.DataFrame:
    """Windows of every series in a points table (``series_id, timestamp, value``)."""
    rows: list[dict] = []
    for (sid,), group in points.sort(["series_id", "timestamp"]).group_by(
        "series_id", maintain_order=True
    ):
        ts = group["timestamp"].to_numpy()
        values = group["value"].to_numpy().astype(float)
        steps = np.diff(ts) / np.timedelta64(1, "s") if len(ts) > 1 else np.array([])
        cadence = float(np.median(steps)) if len(steps) else None
        rows += _series_windows(str(sid), ts, values, cadence, cfg)
    return pl.DataFrame(rows, schema=WINDOW_SCHEMA)


def window_values(points: pl.DataFrame, windows: pl.DataFrame, length: int) -> np.ndarray:
    """The values of each window as an ``(n_windows, length)`` float array, NaN-padded.

    Rows follow ``windows``' order. Used by the judges and the rater, so annotation and
    scoring share one preprocessing path.
    """
    out = np.full((windows.height, length), np.nan)
    by_series = {
        str(sid): g["value"].to_numpy().astype(float)
        for (sid,), g in points.sort(["series_id", "timestamp"]).group_by(
            "series_id", maintain_order=True
        )
    }
    for i, (sid, start) in enumerate(
        zip(windows["series_id"], windows["start_index"], strict=True)
    ):
        v = by_series[sid][start : start + length]
        out[i, : len(v)] = v
    return out
