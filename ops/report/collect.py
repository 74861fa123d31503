"""Data collection for the quality report: read what a dataset's ``clean/`` folder holds.

Everything is optional: a file that is not there yet (no rater, no judgments) is reported
as absent, never invented. ``load_dataset`` returns the frames (for the plots);
``summarize`` turns them into a typed summary (:mod:`ops.report.models`), whose JSON is also
what the next night diffs against. ``collect_dataset_summary`` does both.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ops.contracts import (
    ACTIONS,
    CRITERIA,
    IMAGES,
    IMAGES_QUARANTINE,
    JUDGMENTS,
    KINDS,
    LABELS,
    MANIFEST,
    POINTS,
    QUALITY_SCORE,
    QUARANTINED,
    RATER_REPORT,
    SCORES,
    SELECTED,
    SERIES,
    TIMESERIES,
    TIMESERIES_QUARANTINE,
    WINDOWS,
)
from ops.rates import label_issue_rate
from ops.report.models import (
    DatasetSummary,
    IdSet,
    ImagesSummary,
    IssueSummary,
    JudgmentTotals,
    LabelsSummary,
    MissingSummary,
    QuarantineSummary,
    RatingSummary,
    ScoreStats,
    TimeseriesSummary,
)
from ops.tables import join_scores
from ops.tsrating.calibration import calibration_statement
from ops.tsrating.rater_state import state_statement

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
MAX_STORED_IDS = 20_000  # ids kept per set in the summary JSON; beyond it the set is truncated

#: the tables the report reads per kind; ``scores`` is joined onto ``windows`` once loaded
REPORT_TABLES = {
    TIMESERIES: (WINDOWS, SCORES, POINTS, SERIES, TIMESERIES_QUARANTINE, JUDGMENTS, SELECTED),
    IMAGES: (LABELS, MANIFEST, IMAGES_QUARANTINE),
}


@dataclass
class DatasetData:
    """The frames of one dataset as found on disk (``None`` where a file is absent)."""

    kind: str
    name: str
    clean_dir: Path
    raw_dir: Path | None
    frames: dict[str, pl.DataFrame] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def get(self, stem: str) -> pl.DataFrame | None:
        return self.frames.get(stem)


def _default_raw_dir(kind: str, name: str, clean_dir: Path) -> Path | None:
    # clean_dir is <root>/clean/<kind>/<name>; raw lives at <root>/raw/<kind>/<name>
    parts = clean_dir.resolve().parts
    if len(parts) >= 3 and parts[-1] == name and parts[-2] == kind and parts[-3] == "clean":
        return clean_dir.resolve().parents[2] / "raw" / kind / name
    return None


def load_dataset(
    kind: str, name: str, clean_dir: str | Path, raw_dir: str | Path | None = None
) -> DatasetData:
    """Read every known Parquet file present in ``clean_dir``; unreadable files are recorded,
    not raised. The window scores are joined onto ``windows`` (the frame the summaries and
    plots use), and also kept as ``scores``."""
    clean_dir = Path(clean_dir)
    if kind not in KINDS:
        raise ValueError(f"unknown dataset kind {kind!r}")
    raw = Path(raw_dir) if raw_dir is not None else _default_raw_dir(kind, name, clean_dir)
    data = DatasetData(kind, name, clean_dir, raw)
    for table in REPORT_TABLES[kind]:
        path = clean_dir / table.file
        if not path.is_file():
            continue
        try:
            data.frames[table.stem] = pl.read_parquet(path)
        except Exception as exc:  # a corrupt file is a finding for the report, not a crash
            data.errors[table.file] = f"{type(exc).__name__}: {exc}"
    windows, scores = data.get(WINDOWS.stem), data.get(SCORES.stem)
    if windows is not None and scores is not None and "window_id" in windows.columns:
        data.frames[WINDOWS.stem] = join_scores(windows, scores)
    return data


# ---------------------------------------------------------------- helpers


def _num(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


def score_stats(values: pl.Series) -> ScoreStats | None:
    """Mean, min, max and quantiles of the non-null finite values; ``None`` when there are none."""
    v = values.cast(pl.Float64).drop_nulls()
    v = v.filter(v.is_finite())
    if v.len() == 0:
        return None
    quantiles = {f"p{int(q * 100)}": _num(v.quantile(q, interpolation="linear")) for q in QUANTILES}
    return ScoreStats(
        n=v.len(), mean=_num(v.mean()), min=_num(v.min()), max=_num(v.max()), **quantiles
    )


def compact_ids(ids) -> IdSet:
    """Store a set of ids compactly: grouped by prefix up to the last ``#`` or ``/``.

    ``IdSet(n=3, truncated=False, groups={"img/": ["0001.png", "0007.png"], "s1#": ["0"]})``.
    """
    ids = sorted({str(i) for i in ids})
    n = len(ids)
    kept = ids[:MAX_STORED_IDS]
    groups: dict[str, list[str]] = {}
    for i in kept:
        cut = max(i.rfind("#"), i.rfind("/")) + 1
        groups.setdefault(i[:cut], []).append(i[cut:])
    return IdSet(n=n, truncated=n > len(kept), groups=groups)


def _counts(frame: pl.DataFrame | None, col: str) -> dict[str, int]:
    if frame is None or col not in frame.columns or frame.height == 0:
        return {}
    rows = frame.group_by(col).len().sort(["len", col], descending=[True, False]).iter_rows()
    return {("(null)" if k is None else str(k)): int(n) for k, n in rows}


def _quarantine_summary(q: pl.DataFrame | None) -> QuarantineSummary:
    if q is None:
        return QuarantineSummary(present=False, n=0, by_reason={})
    return QuarantineSummary(present=True, n=q.height, by_reason=_counts(q, "reason"))


def _judgment_totals(j: pl.DataFrame | None) -> JudgmentTotals | None:
    """Calls, cache hits, tokens and cost from judgments.parquet, using whichever columns exist."""
    if j is None:
        return None
    cols = set(j.columns)

    def total(col: str) -> float | None:
        return _num(j[col].cast(pl.Float64).fill_null(0).sum()) if col in cols else None

    hit_cols = [
        c for c in ("cached_forward", "cached_backward", "cache_hit", "cached") if c in cols
    ]
    return JudgmentTotals(
        rows=j.height,
        calls=int(total("calls") or 0) if "calls" in cols else None,
        cache_hits=(
            int(sum(j[c].cast(pl.Int64).fill_null(0).sum() for c in hit_cols)) if hit_cols else None
        ),
        tokens=int(total("tokens") or 0) if "tokens" in cols else None,
        cost_usd=total("cost_usd"),
        models=sorted(str(m) for m in j["model"].drop_nulls().unique()) if "model" in cols else [],
        status=_counts(j, "status"),
        kinds=_distinct(j, "judge_kind"),
    )


def _distinct(frame: pl.DataFrame, col: str) -> list[str]:
    return sorted(str(v) for v in frame[col].drop_nulls().unique()) if col in frame.columns else []


# ---------------------------------------------------------------- summaries


def _missing_summary(w: pl.DataFrame | None) -> MissingSummary | None:
    if w is None or "n_missing" not in w.columns:
        return None
    with_missing = w.filter(pl.col("n_missing") > 0)
    return MissingSummary(
        n_windows_with_missing=with_missing.height,
        windows_missing_share=with_missing.height / w.height if w.height else 0.0,
        n_missing=score_stats(w["n_missing"]),
        missing_ids=compact_ids(with_missing["window_id"]) if "window_id" in w.columns else None,
    )


def _rater_report(clean_dir: Path) -> dict:
    """``calibration`` (one line), ``notes`` and ``rater_state`` (kept or fitted tonight) from
    the scores step's ``rater_report.json``;
    empty when the file is absent or unreadable (an older run)."""
    try:
        report = json.loads((clean_dir / RATER_REPORT.file).read_text())
        out = {
            "calibration": calibration_statement(report["calibration"]),
            "notes": [str(n) for n in report.get("notes") or []],
        }
        if "state" in report:
            out["rater_state"] = state_statement(report["state"])
        return out
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _summarize_timeseries(d: DatasetData, common: dict) -> TimeseriesSummary:
    w, p, s = d.get(WINDOWS.stem), d.get(POINTS.stem), d.get(SERIES.stem)
    if s is not None:
        n_series = s.height
    elif p is not None and "series_id" in p.columns:
        n_series = p["series_id"].n_unique()
    else:
        n_series = None
    out = TimeseriesSummary(
        **common,
        quarantine=_quarantine_summary(d.get("quarantine")),
        n_points=p.height if p is not None else None,
        n_null_values=(
            int(p["value"].null_count()) if p is not None and "value" in p.columns else None
        ),
        n_series=n_series,
        n_windows=w.height if w is not None else None,
        judgments=_judgment_totals(d.get(JUDGMENTS.stem)),
        missing=_missing_summary(w),
    )
    out.rated = bool(
        w is not None and QUALITY_SCORE in w.columns and w[QUALITY_SCORE].drop_nulls().len() > 0
    )
    if out.rated:
        low = (
            w.filter(pl.col("is_low_quality_issue").fill_null(False))
            if "is_low_quality_issue" in w.columns
            else w.clear()
        )
        out.rating = RatingSummary(
            quality_score=score_stats(w[QUALITY_SCORE]),
            criteria={
                f"{c}_score": score_stats(w[f"{c}_score"])
                for c in CRITERIA
                if f"{c}_score" in w.columns
            },
            n_low_quality=low.height,
            low_quality_share=low.height / w.height if w.height else 0.0,
            has_issue_flag="is_low_quality_issue" in w.columns,
            rater_version=_distinct(w, "rater_version"),
            judge_model=_distinct(w, "judge_model"),
            **_rater_report(d.clean_dir),
        )
        out.flagged_ids = compact_ids(low["window_id"] if "window_id" in low.columns else [])
        out.n_flagged = low.height
    return out


def _summarize_images(d: DatasetData, common: dict) -> ImagesSummary:
    lab, man = d.get(LABELS.stem), d.get(MANIFEST.stem)
    out = ImagesSummary(
        **common,
        quarantine=_quarantine_summary(d.get("quarantine")),
        n_rows=lab.height if lab is not None else None,
        n_readable=man.height if man is not None else None,
    )
    if lab is None:
        return out
    actions = _counts(lab, "action")
    live = lab.filter(pl.col("action") != QUARANTINED) if "action" in lab.columns else lab
    labels = LabelsSummary(
        actions={a: int(actions.get(a, 0)) for a in ACTIONS},
        methods=_distinct(lab, "method"),
        n_live=live.height,
        n_trusted=int(lab["trusted"].fill_null(False).sum()) if "trusted" in lab.columns else None,
        split=_counts(lab, "split"),
    )
    if "label_quality" in lab.columns:
        out.label_quality = score_stats(live["label_quality"])
        out.scored = out.label_quality is not None
    if "is_label_issue" in lab.columns:
        flagged = live.filter(pl.col("is_label_issue").fill_null(False))
        out.n_flagged = flagged.height
        out.flagged_ids = compact_ids(flagged["image"])
        labels.issues = IssueSummary(
            label_issue_rate=label_issue_rate(lab),
            issues_by_class=_counts(flagged, "given_label"),
            changed_label=(
                int((flagged["given_label"] != flagged["clean_label"]).fill_null(False).sum())
                if "clean_label" in flagged.columns
                else None
            ),
        )
    labels.quarantined_ids = (
        compact_ids(lab.filter(pl.col("action") == QUARANTINED)["image"].drop_nulls())
        if "action" in lab.columns
        else None
    )
    out.labels = labels
    return out


def summarize(d: DatasetData) -> DatasetSummary:
    """A summary of one dataset (the unit the night-to-night diff compares)."""
    common = {
        "kind": d.kind,
        "name": d.name,
        "present": d.clean_dir.is_dir(),
        "files": sorted(f"{k}.parquet" for k in d.frames),
        "read_errors": dict(d.errors),
    }
    if d.kind == TIMESERIES:
        return _summarize_timeseries(d, common)
    return _summarize_images(d, common)


def collect_dataset_summary(
    kind: str, name: str, clean_dir: str | Path, raw_dir: str | Path | None = None
) -> DatasetSummary:
    """Summary of ``clean/<kind>/<name>/`` as it is on disk now (see ``summarize``)."""
    return summarize(load_dataset(kind, name, clean_dir, raw_dir))
