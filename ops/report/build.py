"""Build the nightly quality report: collect → figures → diff → HTML + JSON (+ Markdown).

``build_report`` writes ``<reports>/<YYYY-MM-DD>.html`` (self-contained) and
``<YYYY-MM-DD>.json`` (the summary the next night diffs against), both atomically, and
returns a ``ReportResult`` with the paths, a short Markdown summary and numeric metrics.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from ops.contracts import TIMESERIES
from ops.fileio import write_text_atomic
from ops.paths import DatasetPaths, reports_dir
from ops.report import plots
from ops.report.collect import load_dataset, summarize
from ops.report.diff import diff_reports
from ops.report.figures import Figure, dataset_figures
from ops.report.models import (
    DatasetDiff,
    DatasetSummary,
    ImagesSummary,
    Report,
    ReportDiff,
    TimeseriesSummary,
    Totals,
    dataset_key,
)
from ops.report.render import render_html, render_markdown

_NIGHT_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.json$")


@dataclass
class ReportResult:
    night: date
    html_path: Path
    json_path: Path
    markdown: str
    metrics: dict[str, float]  # flat, "<dataset>/<metric>" and "total/<metric>"
    totals: Totals
    summary: Report  # what was written to json_path
    diff: ReportDiff
    previous_night: str | None = None
    warnings: list[str] = field(default_factory=list)


def find_previous_report(directory: str | Path, night: date) -> Report | None:
    """The newest readable ``<date>.json`` in ``directory`` strictly before ``night``."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    candidates = []
    for p in directory.iterdir():
        m = _NIGHT_FILE.match(p.name)
        if m:
            try:
                d = date.fromisoformat(m.group(1))
            except ValueError:
                continue
            if d < night:
                candidates.append((d, p))
    for _, p in sorted(candidates, reverse=True):
        try:
            data = json.loads(p.read_text())
        except (OSError, ValueError):
            continue  # a damaged file is skipped; the one before it is the previous report
        if isinstance(data, dict) and "datasets" in data:
            return Report.from_json(data)
    return None


def dataset_metrics(s: DatasetSummary, d: DatasetDiff | None) -> dict[str, float]:
    """Numbers Dagster plots across nights, for one dataset (only those that exist tonight)."""
    out: dict[str, float] = {}

    def put(key: str, value) -> None:
        if value is not None:
            out[f"{s.name}/{key}"] = float(value)

    put("n_quarantined", s.n_quarantined)
    put("n_flagged", s.n_flagged)
    if isinstance(s, ImagesSummary):
        labels = s.labels
        put("n_rows", s.n_rows)
        put("label_issue_rate", s.label_issue_rate)
        put("n_relabeled", labels.actions.get("relabeled") if labels else None)
        put("n_dropped", labels.actions.get("dropped") if labels else None)
        put("mean_label_quality", s.label_quality.mean if s.label_quality else None)
    elif isinstance(s, TimeseriesSummary):
        rating, j = s.rating, s.judgments
        put("n_windows", s.n_windows)
        put("windows_missing_share", s.windows_missing_share)
        put("low_quality_share", rating.low_quality_share if rating else None)
        quality = rating.quality_score if rating else None
        put("mean_quality_score", quality.mean if quality else None)
        put("llm_calls", j.calls if j else None)
        put("llm_cache_hits", j.cache_hits if j else None)
        put("llm_tokens", j.tokens if j else None)
        put("llm_cost_usd", j.cost_usd if j else None)
    if d is not None and d.compared:
        put("n_new_flagged", d.flagged_ids.n_new if d.flagged_ids else None)
        put("score_drift_mean", (d.drift.delta or {}).get("mean") if d.drift else None)
    return out


def _issue_shares(datasets: dict[str, DatasetSummary]) -> dict[str, float]:
    """The issue share of each dataset, labelled by what it is (for the Markdown chart)."""
    shares = {}
    for s in datasets.values():
        if isinstance(s, ImagesSummary) and s.label_issue_rate is not None:
            unscored = "" if s.scored else ", unscored"
            shares[f"{s.name} (label issues{unscored})"] = s.label_issue_rate
        elif isinstance(s, TimeseriesSummary) and s.rating:
            shares[f"{s.name} (low quality)"] = s.rating.low_quality_share
        elif isinstance(s, TimeseriesSummary) and s.windows_missing_share is not None:
            shares[f"{s.name} (windows w/ missing)"] = s.windows_missing_share
    return shares


def build_report(
    root: str | Path,
    datasets: list[tuple[str, str]],
    night: date,
    previous: Report | None,
    generated_at: datetime | None = None,
) -> ReportResult:
    """Build the report of ``night`` over ``datasets`` (``(kind, name)`` pairs) under ``root``.

    ``previous`` is the previous night's summary (``find_previous_report``) or ``None``.
    """
    root = Path(root)
    out_dir = reports_dir(root)
    summaries: dict[str, DatasetSummary] = {}
    figures: dict[str, list[Figure]] = {}
    warnings: list[str] = []
    for kind, name in sorted(set(datasets), key=lambda kn: (kn[0] != TIMESERIES, kn[1])):
        paths = DatasetPaths(root, kind, name)
        data = load_dataset(kind, name, paths.clean, paths.raw)
        s = summarize(data)
        key = dataset_key(kind, name)
        summaries[key] = s
        try:
            figures[key] = dataset_figures(data, s)
        except Exception as exc:  # a plot failure must not cost the night's report
            figures[key] = []
            warnings.append(f"{key}: plots failed: {type(exc).__name__}: {exc}")
            s.read_errors["plots"] = f"{type(exc).__name__}: {exc}"
    report = Report(
        night=night.isoformat(),
        generated_at=(generated_at or datetime.now(UTC)).isoformat(timespec="seconds"),
        root=str(root),
        datasets=summaries,
    )
    diff = diff_reports(report, previous)
    report.totals = Totals(
        datasets=len(summaries),
        flagged=sum(s.n_flagged or 0 for s in summaries.values()),
        quarantined=sum(s.n_quarantined or 0 for s in summaries.values()),
        new_flagged=diff.n_new_flagged,
        resolved=diff.n_resolved,
    )
    report.previous_night = diff.previous_night
    metrics: dict[str, float] = {}
    for key, s in summaries.items():
        metrics.update(dataset_metrics(s, diff.datasets.get(key)))
    metrics.update({f"total/{k}": float(v) for k, v in report.totals.to_json().items()})

    html = render_html(report, diff, figures)
    markdown = render_markdown(report, diff, plots.share_bars(_issue_shares(summaries)))
    stem = night.isoformat()
    html_path = write_text_atomic(out_dir / f"{stem}.html", html)
    # the JSON is written last: a night counts as reported once its summary exists
    json_path = write_text_atomic(
        out_dir / f"{stem}.json", json.dumps(report.to_json(), indent=1, default=str)
    )
    return ReportResult(
        night=night,
        html_path=html_path,
        json_path=json_path,
        markdown=markdown,
        metrics=metrics,
        totals=report.totals,
        summary=report,
        diff=diff,
        previous_night=diff.previous_night,
        warnings=warnings,
    )
