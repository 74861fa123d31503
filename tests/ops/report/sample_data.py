"""Small real Parquet files and PNGs matching the clean-data contracts, for report tests.

``write_night(root, 1)`` then ``write_night(root, 2)`` simulate two nights: on night 2 one
more image is flagged (``img/b_3.png``), one more window is low quality
(``rated#64``), the quality scores drop by 0.1, and one more image is quarantined.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

TS_RATED, TS_RAW, IMAGES = "ts_rated", "ts_raw", "imgs"
DATASETS = [("timeseries", TS_RATED), ("timeseries", TS_RAW), ("images", IMAGES)]
CLASSES = ["a", "b", "c"]
NEW_FLAGGED_IMAGE = "img/b_3.png"
NEW_LOW_WINDOW = "rated#64"


def _points(series: list[str], n: int, null_every: int | None = None) -> pl.DataFrame:
    t0 = datetime(2024, 1, 1)
    rows = []
    rng = np.random.default_rng(0)
    for sid in series:
        for i in range(n):
            v = float(np.sin(i / 5) + rng.normal(0, 0.1))
            if null_every and i % null_every == 0:
                v = None
            rows.append(
                {
                    "series_id": sid,
                    "timestamp": t0 + timedelta(hours=i),
                    "value": v,
                    "source_file": f"{sid}.csv",
                    "source_row": i,
                    "run_id": "r",
                }
            )
    return pl.DataFrame(rows, schema_overrides={"timestamp": pl.Datetime("us")})


def _windows(points: pl.DataFrame, length: int = 32, stride: int = 32) -> pl.DataFrame:
    rows = []
    for sid, g in points.sort("timestamp").group_by("series_id", maintain_order=True):
        sid = sid[0]
        for s in range(0, g.height - length + 1, stride):
            w = g.slice(s, length)
            v = w["value"].drop_nulls()
            rows.append(
                {
                    "window_id": f"{sid}#{s}",
                    "series_id": sid,
                    "start_index": s,
                    "window_start": w["timestamp"][0],
                    "window_end": w["timestamp"][-1],
                    "n_points": length,
                    "n_missing": w["value"].null_count(),
                    "mean": v.mean(),
                    "std": v.std(),
                    "min": v.min(),
                    "max": v.max(),
                    "run_id": "r",
                }
            )
    return pl.DataFrame(rows)


def write_timeseries(root: Path, night: int) -> None:
    # rated dataset: one series "rated", 4 windows of 32 points, scores from the rater
    clean = root / "clean" / "timeseries" / TS_RATED
    clean.mkdir(parents=True, exist_ok=True)
    pts = _points(["rated"], 128)
    w = _windows(pts)
    windows_columns = w.columns
    base = [0.9, 0.7, 0.5, 0.15]  # window rated#96 is low quality on both nights
    shift = 0.0 if night == 1 else -0.1
    scores = [min(1.0, max(0.0, b + shift)) for b in base]
    if night == 2:
        scores[2] = 0.2  # rated#64 falls below the threshold
    w = w.with_columns(
        trend_score=pl.Series(scores),
        frequency_score=pl.Series(scores),
        amplitude_score=pl.Series(scores),
        pattern_score=pl.Series(scores),
        quality_score=pl.Series(scores),
    ).with_columns(
        quality_rank=pl.col("quality_score").rank("ordinal", descending=True).cast(pl.Int64),
        is_low_quality_issue=pl.col("quality_score") < 0.3,
        rater_version=pl.lit("rubric-1"),
        judge_model=pl.lit("rubric"),
    )
    pts.write_parquet(clean / "points.parquet")
    # the windows asset writes windows.parquet, the rater its own scores.parquet
    rating = [c for c in w.columns if c not in windows_columns]
    w.select(windows_columns).write_parquet(clean / "windows.parquet")
    w.select("window_id", *rating, run_id=pl.lit("r")).write_parquet(clean / "scores.parquet")
    pl.DataFrame({"series_id": ["rated"], "n_points": [128]}).write_parquet(
        clean / "series.parquet"
    )
    pl.DataFrame(
        {
            "source_file": ["rated.csv"],
            "source_row": [999],
            "item": ["rated"],
            "reason": ["unparseable_timestamp"],
            "detail": ["x"],
            "run_id": ["r"],
        }
    ).write_parquet(clean / "quarantine.parquet")
    pl.DataFrame(
        {
            "pair_id": ["p1", "p2", "p3"],
            "model": ["openai/x", "openai/x", "openai/x"],
            "cost_usd": [0.001, 0.002, 0.0],
            "tokens": [100, 120, 0],
            "calls": [2, 2, 0],
            "cached_forward": [False, False, True],
            "cached_backward": [False, False, True],
            "status": ["ok", "ok", "ok"],
        }
    ).write_parquet(clean / "judgments.parquet")

    # unrated dataset: windows with nulls, no score columns
    clean = root / "clean" / "timeseries" / TS_RAW
    clean.mkdir(parents=True, exist_ok=True)
    pts = _points(["s1", "s2"], 96, null_every=7 if night == 1 else 5)
    pts.write_parquet(clean / "points.parquet")
    _windows(pts).write_parquet(clean / "windows.parquet")
    pl.DataFrame(
        schema={
            "source_file": pl.String,
            "source_row": pl.Int64,
            "item": pl.String,
            "reason": pl.String,
            "detail": pl.String,
            "run_id": pl.String,
        }
    ).write_parquet(clean / "quarantine.parquet")


def _png(path: Path, seed: int) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    arr = (np.random.default_rng(seed).random((8, 8)) * 255).astype(np.uint8)
    Image.fromarray(arr, mode="L").save(path)


def write_images(root: Path, night: int) -> None:
    raw = root / "raw" / "images" / IMAGES
    clean = root / "clean" / "images" / IMAGES
    clean.mkdir(parents=True, exist_ok=True)
    rows = []
    for ci, cls in enumerate(CLASSES):
        for i in range(4):
            image = f"img/{cls}_{i}.png"
            _png(raw / image, ci * 10 + i)
            rows.append(
                {
                    "image": image,
                    "given_label": cls,
                    "clean_label": cls,
                    "label_quality": 0.9 - 0.05 * i,
                    "is_label_issue": False,
                    "action": "kept",
                    "method": "cleanlab",
                    "trusted": i == 0,
                    "split": "train",
                }
            )
    labels = pl.DataFrame(rows)
    flagged = {"img/a_3.png": "c"} | ({NEW_FLAGGED_IMAGE: "a"} if night == 2 else {})
    shift = 0.0 if night == 1 else -0.1
    labels = labels.with_columns(
        clean_label=pl.col("image").replace_strict(flagged, default=pl.col("clean_label")),
        is_label_issue=pl.col("image").is_in(list(flagged)),
        action=pl.when(pl.col("image").is_in(list(flagged)))
        .then(pl.lit("relabeled"))
        .otherwise(pl.col("action")),
        label_quality=pl.when(pl.col("image").is_in(list(flagged)))
        .then(0.05)
        .otherwise(pl.col("label_quality") + shift),
    )
    probs = {f"prob_{c}": pl.lit(1 / 3) for c in CLASSES}
    labels = labels.with_columns(
        **probs, quarantine_reason=pl.lit(None, pl.String), run_id=pl.lit("r")
    )
    q_items = ["img/broken.png"] + (["img/missing.png"] if night == 2 else [])
    q_reasons = ["truncated"] + (["missing_file"] if night == 2 else [])
    quarantine = pl.DataFrame(
        {
            "source_file": ["labels.csv"] * len(q_items),
            "source_row": list(range(100, 100 + len(q_items))),
            "item": q_items,
            "reason": q_reasons,
            "detail": ["x"] * len(q_items),
            "run_id": ["r"] * len(q_items),
        }
    )
    qrows = pl.DataFrame(
        {"image": q_items, "action": ["quarantined"] * len(q_items), "quarantine_reason": q_reasons}
    )
    labels = pl.concat([labels, qrows], how="diagonal_relaxed")
    labels.write_parquet(clean / "labels.parquet")
    labels.filter(pl.col("action") != "quarantined").select(
        "image", label="given_label"
    ).write_parquet(clean / "manifest.parquet")
    quarantine.write_parquet(clean / "quarantine.parquet")
    (clean / "classes.json").write_text('["a", "b", "c"]')


def write_night(root: Path, night: int) -> Path:
    write_timeseries(root, night)
    write_images(root, night)
    return root
