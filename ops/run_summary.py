"""The end-of-run table the command line prints: per dataset, what came in, what was published,
quarantined and flagged, what label cleaning changed, and the mean score; read from the tables
on disk (``clean/`` and ``published/``), so it states what consumers will find."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ops.contracts import (
    DROPPED,
    FILES,
    IMAGES,
    IMAGES_QUARANTINE,
    LABELS,
    POINTS,
    QUARANTINED,
    RELABELED,
    SCORES,
    TIMESERIES_QUARANTINE,
)
from ops.paths import DatasetPaths
from ops.rates import label_issue_rate, low_quality_share


@dataclass(frozen=True)
class DatasetLine:
    """One row of the summary table."""

    dataset: str  # "<kind>/<name>"
    rows_in: int | None
    published: str  # rows published, or why none
    quarantined: int | None
    flagged: str  # "24 windows (10.0%)" / "236 labels (13.1%)"
    changed: str  # "54 / 182" relabeled / dropped (images), "-" otherwise
    mean_score: float | None


def _read(path: Path, columns: list[str] | None = None) -> pl.DataFrame | None:
    try:
        return pl.read_parquet(path, columns=columns) if path.is_file() else None
    except Exception:  # noqa: BLE001 - the summary reports what it can read
        return None


def _published_state(clean: pl.DataFrame | None, published: pl.DataFrame | None) -> str | None:
    """``None`` when ``published`` is this run's copy of ``clean``, else why it is not."""
    if published is None:
        return "not published"
    if clean is None or "run_id" not in clean.columns or "run_id" not in published.columns:
        return None
    now, then = clean["run_id"].head(1).to_list(), published["run_id"].head(1).to_list()
    return None if now == then else "held back (older run)"


def summarize_dataset(root: Path, kind: str, name: str) -> DatasetLine:
    """The summary line of one dataset under the data root ``root``."""
    paths = DatasetPaths(root, kind, name)
    if kind == IMAGES:
        labels = _read(paths.table(LABELS))
        published = _read(paths.published / LABELS.file, ["action", "run_id"])
        q = _read(paths.table(IMAGES_QUARANTINE), ["reason"])
        state = _published_state(labels, published)
        usable = None
        if published is not None:
            usable = published.filter(~pl.col("action").is_in([DROPPED, QUARANTINED])).height
        if labels is None:
            return DatasetLine(f"{kind}/{name}", None, "no labels.parquet", None, "-", "-", None)
        live = labels.filter(pl.col("action") != QUARANTINED)
        n_flag = int(live["is_label_issue"].fill_null(False).sum())
        counts = dict(labels.group_by("action").len().iter_rows())
        return DatasetLine(
            f"{kind}/{name}",
            labels.height,
            state or f"{usable:,}",
            q.height if q is not None else int(counts.get(QUARANTINED, 0)),
            f"{n_flag:,} labels ({100 * label_issue_rate(labels):.1f}%)",
            f"{counts.get(RELABELED, 0):,} / {counts.get(DROPPED, 0):,}",
            float(live["label_quality"].mean()) if live.height else None,
        )
    files = _read(paths.table(FILES), ["records_in"])
    points = _read(paths.table(POINTS), ["run_id"])
    published = _read(paths.published / POINTS.file, ["run_id"])
    q = _read(paths.table(TIMESERIES_QUARANTINE), ["reason"])
    scores = _read(paths.table(SCORES))
    state = _published_state(points, published)
    flagged, mean = "-", None
    if scores is not None and scores.height:
        n_low = int(scores["is_low_quality_issue"].sum())
        flagged = f"{n_low:,} windows ({100 * low_quality_share(scores):.1f}%)"
        mean = float(scores["quality_score"].mean())
    return DatasetLine(
        f"{kind}/{name}",
        int(files["records_in"].sum()) if files is not None else None,
        state or f"{published.height:,}",
        q.height if q is not None else None,
        flagged,
        "-",
        mean,
    )


HEADER = ("dataset", "rows in", "published", "quarantined", "flagged", "relabeled/dropped", "score")


def format_table(lines: list[DatasetLine]) -> list[str]:
    """The lines as a plain-text table (``score`` = mean quality score, higher is better)."""
    rows = [HEADER] + [
        (
            x.dataset,
            "-" if x.rows_in is None else f"{x.rows_in:,}",
            x.published,
            "-" if x.quarantined is None else f"{x.quarantined:,}",
            x.flagged,
            x.changed,
            "-" if x.mean_score is None else f"{x.mean_score:.2f}",
        )
        for x in lines
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    left = {0, 4}  # text columns; numbers right-aligned
    return [
        "  ".join(
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
