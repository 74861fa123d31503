"""Which figures a dataset gets: choose the windows / images to show and call ``plots``.

Each figure is labelled by what it actually shows: before the rater has run, windows are
ranked by missing values and the title says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import polars as pl

from ops.contracts import CLASSES, DROPPED, LABELS, PROB_PREFIX, QUARANTINED, RELABELED
from ops.report import plots
from ops.report.collect import DatasetData
from ops.report.models import DatasetSummary, ImagesSummary, TimeseriesSummary

N_WINDOWS = 4  # worst and typical windows shown per time-series dataset
N_THUMBS = 16  # flagged images shown per image dataset
DROPPED_COLUMN = "(dropped)"


@dataclass(frozen=True)
class Figure:
    key: str  # stable id: score_hist, windows, confusion, flagged_images, quarantine
    title: str
    png: bytes
    caption: str = ""


def _window_panels(
    points: pl.DataFrame, rows: pl.DataFrame, row_label: str, score_col: str
) -> list[dict]:
    panels = []
    for r in rows.iter_rows(named=True):
        pts = points.filter(
            (pl.col("series_id") == r["series_id"])
            & pl.col("timestamp").is_between(r["window_start"], r["window_end"])
        ).sort("timestamp")
        score = r.get(score_col)
        shown = f"{score:.3f}" if isinstance(score, float) else str(score)
        label = "q" if score_col == "quality_score" else "missing"
        panels.append(
            {
                "t": pts["timestamp"].to_numpy(),
                "v": pts["value"],
                "row": row_label,
                "title": f"{plots.shorten(r['series_id'], 22)}@{r['start_index']}\n{label}={shown}",
            }
        )
    return panels


def _pick_windows(w: pl.DataFrame, rated: bool) -> tuple[pl.DataFrame, pl.DataFrame, str, str]:
    """(worst, typical, score column, description); at most half the windows count as worst."""
    n_worst = min(N_WINDOWS, max(1, w.height // 2))
    if rated:
        col = "quality_score"
        ranked = w.filter(pl.col(col).is_not_null()).sort([col, "window_id"])
        worst = ranked.head(n_worst)
        desc = "lowest quality_score (worst) beside windows at the median quality_score (typical)"
    else:
        col = "n_missing"
        ranked = w.sort([col, "window_id"], descending=[False, False])
        # only windows that do miss values count as "worst" here
        worst = (
            ranked.filter(pl.col(col) > 0)
            .sort([col, "window_id"], descending=[True, False])
            .head(n_worst)
        )
        desc = (
            "not rated yet: the windows with the most missing values (worst) beside windows at the "
            "median missing count (typical); these are not quality scores"
        )
    # typical: closest to the median score, one per series first (so several series show)
    rest = ranked.filter(~pl.col("window_id").is_in(worst["window_id"].implode()))
    if rest.height == 0:
        return worst, rest, col, desc
    median = rest[col].cast(pl.Float64).median()
    near = rest.with_columns(_d=(pl.col(col).cast(pl.Float64) - median).abs()).sort(
        ["_d", "window_id"]
    )
    first = near.unique("series_id", keep="first", maintain_order=True).head(N_WINDOWS)
    fill = near.filter(~pl.col("window_id").is_in(first["window_id"].implode())).head(
        N_WINDOWS - first.height
    )
    typical = pl.concat([first, fill]).drop("_d")
    return worst, typical, col, desc


def timeseries_figures(d: DatasetData, summary: TimeseriesSummary) -> list[Figure]:
    figs: list[Figure] = []
    w, p = d.get("windows"), d.get("points")
    rated = summary.rated
    if w is not None and w.height:
        if rated:
            thr = None
            if "is_low_quality_issue" in w.columns:
                low = w.filter(pl.col("is_low_quality_issue").fill_null(False))
                thr = low["quality_score"].max() if low.height else None
            png = plots.histogram(
                w["quality_score"],
                f"{d.name}: quality_score per window",
                "quality_score (0..1)",
                threshold=thr,
            )
            cap = "Distribution of the TSRating quality score over all windows" + (
                "; dashed line: highest score still flagged low quality."
                if thr is not None
                else "."
            )
        else:
            png = plots.histogram(
                w["n_missing"],
                f"{d.name}: missing values per window (not rated yet)",
                "n_missing per window",
            )
            cap = (
                "Not rated yet: this is the distribution of missing values per window, "
                "not a quality score."
            )
        if png:
            figs.append(
                Figure(
                    "score_hist",
                    "Score distribution" if rated else "Missing values per window",
                    png,
                    cap,
                )
            )
        if (
            p is not None
            and {"series_id", "timestamp", "value"} <= set(p.columns)
            and "window_start" in w.columns
        ):
            worst, typical, col, desc = _pick_windows(w, rated)
            panels = _window_panels(p, worst, "worst", col) + _window_panels(
                p, typical, "typical", col
            )
            png = plots.window_grid(
                panels,
                f"{d.name}: "
                + ("worst vs typical windows" if rated else "most-missing vs typical windows"),
            )
            if png:
                figs.append(
                    Figure(
                        "windows",
                        "Worst windows beside typical ones",
                        png,
                        desc + ". Black ticks mark null values.",
                    )
                )
    q = d.get("quarantine")
    if q is not None and q.height and "reason" in q.columns:
        png = plots.bar_chart(
            dict(q.group_by("reason").len().iter_rows()), f"{d.name}: quarantined records by reason"
        )
        if png:
            figs.append(Figure("quarantine", "Quarantine reasons", png))
    return figs


def _classes(d: DatasetData, labels: pl.DataFrame) -> list[str] | None:
    path = d.clean_dir / CLASSES.file
    try:
        return [str(c) for c in json.loads(path.read_text())]
    except Exception:
        probs = [c[len(PROB_PREFIX) :] for c in LABELS.dynamic_columns(labels.columns)]
        return probs or None


def image_figures(d: DatasetData, summary: ImagesSummary) -> list[Figure]:
    figs: list[Figure] = []
    lab = d.get("labels")
    if lab is not None and lab.height and {"given_label", "clean_label"} <= set(lab.columns):
        live = lab.filter(pl.col("action") != QUARANTINED) if "action" in lab.columns else lab
        if summary.scored and "label_quality" in live.columns:
            png = plots.histogram(
                live["label_quality"], f"{d.name}: label_quality per image", "label_quality (0..1)"
            )
            if png:
                figs.append(
                    Figure(
                        "score_hist",
                        "Label-quality distribution",
                        png,
                        "Higher is better; the low tail holds the suspected label errors.",
                    )
                )
        target = pl.col("clean_label")
        if "action" in live.columns:
            target = (
                pl.when(pl.col("action") == DROPPED).then(pl.lit(DROPPED_COLUMN)).otherwise(target)
            )
        cells = live.select("given_label", target.alias("target"))
        png = plots.confusion_heatmap(
            cells["given_label"],
            cells["target"],
            _classes(d, lab),
            f"{d.name}: given vs clean label",
        )
        if png:
            figs.append(
                Figure(
                    "confusion",
                    "Label issues by class",
                    png,
                    "Rows: label as given; columns: label after cleaning, plus a "
                    f"'{DROPPED_COLUMN}' column. Off-diagonal counts (red) are relabeled or "
                    "dropped images; quarantined rows are excluded.",
                )
            )
        flag = (
            pl.col("is_label_issue").fill_null(False)
            if "is_label_issue" in live.columns
            else pl.lit(False)
        )
        if "action" in live.columns:
            flag = flag | pl.col("action").is_in([RELABELED, DROPPED])
        flagged = live.filter(flag)
        # relabeled rows first (they show given→clean), then dropped, then the other flagged;
        # lowest quality first
        order = (
            pl.when(pl.col("action") == RELABELED)
            .then(0)
            .when(pl.col("action") == DROPPED)
            .then(1)
            .otherwise(2)
            if "action" in flagged.columns
            else pl.lit(0)
        )
        quality = (
            pl.col("label_quality")
            if "label_quality" in flagged.columns
            else pl.lit(None, pl.Float64)
        )
        flagged = (
            flagged.with_columns(_o=order, _q=quality)
            .sort(["_o", "_q", "image"], nulls_last=True)
            .drop("_o", "_q")
        )
        if flagged.height and d.raw_dir is not None:
            items = []
            for r in flagged.head(N_THUMBS).iter_rows(named=True):
                target = DROPPED if r.get("action") == DROPPED else r.get("clean_label")
                q = r.get("label_quality")
                items.append(
                    {
                        "path": d.raw_dir / r["image"],
                        "caption": f"{r['given_label']}→{target}"
                        + (f"\nq={q:.2g}" if isinstance(q, float) else ""),
                    }
                )
            png = plots.thumbnail_grid(items, f"{d.name}: flagged images (given→clean)")
            if png:
                figs.append(
                    Figure(
                        "flagged_images",
                        "Example flagged images",
                        png,
                        f"{len(items)} of {flagged.height} flagged images (relabeled first, "
                        "then dropped; lowest label_quality first), captioned given→clean "
                        "label and label_quality.",
                    )
                )
    q = d.get("quarantine")
    if q is not None and q.height and "reason" in q.columns:
        png = plots.bar_chart(
            dict(q.group_by("reason").len().iter_rows()), f"{d.name}: quarantined images by reason"
        )
        if png:
            figs.append(Figure("quarantine", "Quarantine reasons", png))
    return figs


def dataset_figures(d: DatasetData, summary: DatasetSummary) -> list[Figure]:
    if isinstance(summary, TimeseriesSummary):
        return timeseries_figures(d, summary)
    return image_figures(d, summary)
