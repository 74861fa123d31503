"""Data checks on the published tables, as plain functions over a dataset's clean folder.

Each check is a small registered function returning a :class:`CheckOutcome` (passed + the
numbers needed to debug). The Dagster layer (``assets/checks.py``) turns every entry of
:data:`CHECKS` into an asset check; ``blocking`` entries gate the ``published_*`` assets.
Thresholds live in :class:`Thresholds`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ops.contracts import (
    DROPPED,
    FILES,
    IMAGES,
    IMAGES_QUARANTINE,
    JUDGMENTS_SUMMARY,
    KEPT,
    LABELS,
    POINTS,
    QUARANTINED,
    RELABELED,
    SCORE_COLUMNS,
    SCORES,
    TEST,
    TIMESERIES,
    TIMESERIES_QUARANTINE,
    WINDOWS,
)
from ops.ingest.cadence import PADDING
from ops.rates import (
    dropped_share,
    label_issue_rate,
    low_quality_share,
    quarantine_share,
    scored_pool,
)


@dataclass(frozen=True)
class Thresholds:
    max_quarantine_share: float = 0.5  # blocking: more than half the input unusable → stop
    max_label_issue_share: float = 0.5  # warning, over the scored pool
    max_dropped_share: float = 0.1  # warning: pool rows dropped by the label policy
    max_low_quality_share: float = 0.5  # warning
    max_judge_budget_share: float = 1.0  # warning: calls made / call budget
    max_judge_failure_share: float = 0.5  # the scores asset fails: judge errors / pairs asked

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"threshold {name} must be in [0, 1], got {value}")


@dataclass
class CheckOutcome:
    passed: bool
    metadata: dict = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class CheckDef:
    name: str
    kind: str  # timeseries | images
    blocking: bool
    fn: Callable[[Path, Path, Thresholds], CheckOutcome]
    description: str


CHECKS: list[CheckDef] = []


def register(name: str, kind: str, *, blocking: bool, description: str):
    def deco(fn):
        if any(c.name == name and c.kind == kind for c in CHECKS):
            raise ValueError(f"check {kind}/{name} registered twice")
        CHECKS.append(CheckDef(name, kind, blocking, fn, description))
        return fn

    return deco


def _range_problems(frame: pl.DataFrame, cols: list[str]) -> dict[str, int]:
    return {
        c: int(frame.filter((pl.col(c) < 0) | (pl.col(c) > 1) | pl.col(c).is_nan()).height)
        for c in cols
    }


# --- time series --------------------------------------------------------------------------


@register(
    "windows_schema",
    TIMESERIES,
    blocking=True,
    description="windows.parquet and scores.parquet have the contract's columns and types, "
    "and every window has exactly one score row",
)
def check_windows_schema(raw: Path, clean: Path, t: Thresholds) -> CheckOutcome:
    schema = pl.read_parquet_schema(clean / WINDOWS.file)
    problems = WINDOWS.problems(schema)
    meta: dict = {"columns": list(schema)}
    if (clean / SCORES.file).is_file():
        scores_schema = pl.read_parquet_schema(clean / SCORES.file)
        problems += [f"{SCORES.file}: {p}" for p in SCORES.problems(scores_schema)]
        meta["score_columns"] = list(scores_schema)
        ids = pl.read_parquet(clean / WINDOWS.file, columns=["window_id"])["window_id"]
        scored = pl.read_parquet(clean / SCORES.file, columns=["window_id"])["window_id"]
        if scored.n_unique() != scored.len() or set(scored) != set(ids):
            problems.append(
                f"{SCORES.file} scores {scored.n_unique()} distinct of {ids.len()} windows"
                f" ({scored.len()} rows)"
            )
    return CheckOutcome(not problems, {"problems": problems, **meta})


@register(
    "row_accounting",
    TIMESERIES,
    blocking=True,
    description="per input file: records in = points out + records quarantined; "
    "every raw file was read",
)
def check_ts_accounting(raw: Path, clean: Path, t: Thresholds) -> CheckOutcome:
    files = pl.read_parquet(clean / FILES.file)
    points = (
        pl.read_parquet(clean / POINTS.file, columns=["source_file"])
        .group_by("source_file")
        .len("out")
    )
    quarantine = (
        pl.read_parquet(clean / TIMESERIES_QUARANTINE.file, columns=["source_file"])
        .group_by("source_file")
        .len("q")
    )
    joined = (
        files.select("file", "records_in")
        .join(points.rename({"source_file": "file"}), on="file", how="left")
        .join(quarantine.rename({"source_file": "file"}), on="file", how="left")
        .fill_null(0)
        .with_columns(diff=pl.col("records_in") - pl.col("out") - pl.col("q"))
    )
    from ops.ingest.timeseries import list_input_files

    on_disk = {str(p.relative_to(raw)) for p in list_input_files(raw)}
    unread = sorted(on_disk - set(files["file"]))
    bad = joined.filter(pl.col("diff") != 0)
    return CheckOutcome(
        bad.height == 0 and not unread,
        {
            "records_in": int(joined["records_in"].sum()),
            "records_out": int(joined["out"].sum()),
            "quarantined": int(joined["q"].sum()),
            "files_with_mismatch": bad["file"].to_list(),
            "files_not_read": unread,
        },
    )


@register(
    "quarantine_share",
    TIMESERIES,
    blocking=True,
    description="share of input records quarantined for a defect ≤ max_quarantine_share "
    "(NOAA LCD report types filtered by design, and the empty cells between the reports of a "
    "coarser-cadence series, do not count)",
)
def check_ts_quarantine(raw: Path, clean: Path, t: Thresholds) -> CheckOutcome:
    files = pl.read_parquet(clean / FILES.file)
    reasons = pl.read_parquet(clean / TIMESERIES_QUARANTINE.file, columns=["reason"])["reason"]
    by_design = int((reasons.str.starts_with("report_type:") | (reasons == PADDING)).sum())
    n_in = int(files["records_in"].sum()) - by_design
    n_q = reasons.len() - by_design
    share = quarantine_share(n_q, n_in)
    return CheckOutcome(
        share <= t.max_quarantine_share,
        {
            "quarantine_share": share,
            "records_in": n_in,
            "quarantined": n_q,
            "filtered_by_design": by_design,
            "threshold": t.max_quarantine_share,
        },
    )


@register(
    "score_ranges",
    TIMESERIES,
    blocking=True,
    description="every *_score in [0, 1] (passes, noted, before rating exists)",
)
def check_ts_scores(raw: Path, clean: Path, t: Thresholds) -> CheckOutcome:
    if not (clean / SCORES.file).is_file():
        return CheckOutcome(True, {"note": "windows not rated yet"})
    scores = pl.read_parquet(clean / SCORES.file)
    bad = _range_problems(scores, [c for c in SCORE_COLUMNS if c in scores.columns])
    return CheckOutcome(not any(bad.values()), {"out_of_range": bad})


@register(
    "low_quality_share",
    TIMESERIES,
    blocking=False,
    description="share of low-quality windows ≤ max_low_quality_share",
)
def check_ts_low_quality(raw: Path, clean: Path, t: Thresholds) -> CheckOutcome:
    if not (clean / SCORES.file).is_file():
        return CheckOutcome(True, {"note": "windows not rated yet"})
    share = low_quality_share(pl.read_parquet(clean / SCORES.file))
    return CheckOutcome(
        share <= t.max_low_quality_share,
        {"low_quality_share": share, "threshold": t.max_low_quality_share},
    )


@register(
    "judge_budget",
    TIMESERIES,
    blocking=False,
    description="the judge stayed within its call budget (calls / budget ≤ "
    "max_judge_budget_share) and answered parseably",
)
def check_judge_budget(raw: Path, clean: Path, t: Thresholds) -> CheckOutcome:
    from ops.tsrating.judging import JudgingSummary

    summary = JudgingSummary.from_json(json.loads((clean / JUDGMENTS_SUMMARY.file).read_text()))
    budget = summary.call_budget
    share = summary.calls / budget if budget else 0.0
    ok = share <= t.max_judge_budget_share and not summary.budget_exhausted
    return CheckOutcome(
        ok,
        {
            "calls": summary.calls,
            "call_budget": budget,
            "budget_share": share,
            "budget_exhausted": bool(summary.budget_exhausted),
            "unparseable": summary.unparseable,
            "cache_hits": summary.cache_hits,
        },
    )


# --- images -------------------------------------------------------------------------------


@register(
    "labels_schema",
    IMAGES,
    blocking=True,
    description="labels.parquet has the contract's columns and types",
)
def check_labels_schema(raw: Path, clean: Path, t: Thresholds) -> CheckOutcome:
    schema = pl.read_parquet_schema(clean / LABELS.file)
    classes = LABELS.dynamic_columns(schema)
    problems = LABELS.problems(schema)
    problems += [
        f"{c} is {schema[c]}, expected Float64" for c in classes if schema[c] != pl.Float64
    ]
    if not classes:
        problems.append("no prob_<class> columns")
    return CheckOutcome(not problems, {"problems": problems, "n_classes": len(classes)})


@register(
    "row_accounting",
    IMAGES,
    blocking=True,
    description="raw rows = labels.parquet rows = rows written + rows quarantined; no image twice",
)
def check_images_accounting(raw: Path, clean: Path, t: Thresholds) -> CheckOutcome:
    from ops.ingest.images import read_raw_manifest

    raw_rows = read_raw_manifest(raw)[0].height
    labels = pl.read_parquet(clean / LABELS.file, columns=["image", "action"])
    quarantine = pl.read_parquet(clean / IMAGES_QUARANTINE.file, columns=["reason"])
    written = labels.filter(pl.col("action") != QUARANTINED)
    dupes = int(written.height - written["image"].n_unique())
    ok = raw_rows == labels.height == written.height + quarantine.height and dupes == 0
    return CheckOutcome(
        ok,
        {
            "rows_in": raw_rows,
            "labels_rows": labels.height,
            "written": written.height,
            "quarantined": quarantine.height,
            "duplicate_images": dupes,
        },
    )


@register(
    "quarantine_share",
    IMAGES,
    blocking=True,
    description="share of input rows quarantined ≤ max_quarantine_share",
)
def check_images_quarantine(raw: Path, clean: Path, t: Thresholds) -> CheckOutcome:
    labels = pl.read_parquet(clean / LABELS.file, columns=["action"])
    share = quarantine_share(int((labels["action"] == QUARANTINED).sum()), labels.height)
    return CheckOutcome(
        share <= t.max_quarantine_share,
        {"quarantine_share": share, "rows": labels.height, "threshold": t.max_quarantine_share},
    )


@register(
    "score_ranges",
    IMAGES,
    blocking=True,
    description="label_quality and prob_<class> in [0, 1]; probabilities sum to 1",
)
def check_images_scores(raw: Path, clean: Path, t: Thresholds) -> CheckOutcome:
    labels = pl.read_parquet(clean / LABELS.file).filter(pl.col("action") != QUARANTINED)
    probs = LABELS.dynamic_columns(labels.columns)
    bad = _range_problems(labels, ["label_quality", *probs])
    scored = labels.drop_nulls(probs)
    sums = (
        scored.select(pl.sum_horizontal(probs)).to_series()
        if scored.height and probs
        else pl.Series([1.0])
    )
    off = int(((sums - 1.0).abs() > 1e-3).sum())
    return CheckOutcome(
        not any(bad.values()) and off == 0,
        {
            "out_of_range": {k: v for k, v in bad.items() if v},
            "rows_prob_sum_off": off,
            "rows_scored": scored.height,
        },
    )


@register(
    "protected_rows_unchanged",
    IMAGES,
    blocking=True,
    description="trusted rows and the test split keep their given label and action 'kept'",
)
def check_protected(raw: Path, clean: Path, t: Thresholds) -> CheckOutcome:
    labels = pl.read_parquet(clean / LABELS.file)
    protected = labels.filter(
        (pl.col("trusted") | (pl.col("split") == TEST)) & (pl.col("action") != QUARANTINED)
    )
    changed = protected.filter(
        (pl.col("clean_label") != pl.col("given_label")) | (pl.col("action") != KEPT)
    )
    return CheckOutcome(
        changed.height == 0,
        {
            "protected_rows": protected.height,
            "changed": changed.height,
            "examples": changed["image"].head(5).to_list(),
        },
    )


@register(
    "label_issue_share",
    IMAGES,
    blocking=False,
    description="share of the scored pool (untrusted train rows) flagged as label issues "
    "≤ max_label_issue_share",
)
def check_label_issue_share(raw: Path, clean: Path, t: Thresholds) -> CheckOutcome:
    labels = pl.read_parquet(clean / LABELS.file)
    pool = scored_pool(labels)
    n = int(pool["is_label_issue"].fill_null(False).sum())
    share = label_issue_rate(labels)
    return CheckOutcome(
        share <= t.max_label_issue_share,
        {
            "label_issue_rate": share,
            "threshold": t.max_label_issue_share,
            "n_issues": n,
            "scored_rows": pool.height,
        },
    )


@register(
    "dropped_share",
    IMAGES,
    blocking=False,
    description="share of the scored pool (untrusted train rows) dropped by the label policy "
    "≤ max_dropped_share",
)
def check_dropped_share(raw: Path, clean: Path, t: Thresholds) -> CheckOutcome:
    labels = pl.read_parquet(clean / LABELS.file)
    pool = scored_pool(labels)
    n = int((pool["action"] == DROPPED).sum())
    share = dropped_share(labels)
    return CheckOutcome(
        share <= t.max_dropped_share,
        {
            "dropped_share": share,
            "threshold": t.max_dropped_share,
            "n_dropped": n,
            "n_relabeled": int((pool["action"] == RELABELED).sum()) if pool.height else 0,
            "scored_rows": pool.height,
        },
    )


def run_check(check: CheckDef, raw: Path, clean: Path, thresholds: Thresholds) -> CheckOutcome:
    """Run one check; a missing or unreadable table is a failed check with the error, never a
    crash."""
    try:
        return check.fn(raw, clean, thresholds)
    except Exception as exc:  # noqa: BLE001 - a check reports, it does not raise
        return CheckOutcome(False, {"error": f"{type(exc).__name__}: {exc}"})
