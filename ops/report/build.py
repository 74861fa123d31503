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

from ops.fileio import write_text_atomic
from ops.paths import DatasetPaths, reports_dir
from ops.report import plots
from ops.report.collect import load_dataset, summarize
from ops.report.diff import dataset_key, diff_reports
from ops.report.figures import dataset_figures
from ops.report.render import render_html, render_markdown

SCHEMA_VERSION = 1
_NIGHT_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.json$")


@dataclass
class ReportResult:
    night: date
    html_path: Path
    json_path: Path
    markdown: str
    metrics: dict[str, float]  # flat, "<dataset>/<metric>" and "total/<metric>"
    totals: dict[str, float]
    summary: dict  # what was written to json_path
    diff: dict
    previous_night: str | None = None
    warnings: list[str] = field(default_factory=list)


def find_previous_report(directory: str | Path, night: date) -> dict | None:
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
            return data
    return None


def dataset_metrics(s: dict, d: dict | None) -> dict[str, float]:
    """Numbers Dagster plots across nights, for one dataset (only those that exist tonight)."""
    name, out = s["name"], {}

    def put(key: str, value) -> None:
        if value is not None:
            out[f"{name}/{key}"] = float(value)

    put("n_quarantined", (s.get("quarantine") or {}).get("n"))
    put("n_flagged", s.get("n_flagged"))
    if s["kind"] == "images":
        put("n_rows", s.get("n_rows"))
        put("label_issue_rate", s.get("label_issue_rate"))
        put("n_relabeled", (s.get("actions") or {}).get("relabeled"))
        put("n_dropped", (s.get("actions") or {}).get("dropped"))
        put("mean_label_quality", (s.get("label_quality") or {}).get("mean"))
    else:
        rating = s.get("rating") or {}
        put("n_windows", s.get("n_windows"))
        put("windows_missing_share", s.get("windows_missing_share"))
        put("low_quality_share", rating.get("low_quality_share"))
        put("mean_quality_score", (rating.get("quality_score") or {}).get("mean"))
        j = s.get("judgments") or {}
        put("llm_calls", j.get("calls"))
        put("llm_cache_hits", j.get("cache_hits"))
        put("llm_tokens", j.get("tokens"))
        put("llm_cost_usd", j.get("cost_usd"))
    if d and d.get("status") == "compared":
        put("n_new_flagged", (d.get("flagged_ids") or {}).get("n_new"))
        put("score_drift_mean", ((d.get("drift") or {}).get("delta") or {}).get("mean"))
    return out


def _share_chart(datasets: dict) -> bytes | None:
    """A tiny bar chart for the Markdown: the issue share of each dataset, labelled by what it is."""
    shares = {}
    for s in datasets.values():
        if s["kind"] == "images" and s.get("label_issue_rate") is not None:
            shares[f"{s['name']} (label issues{'' if s.get('scored') else ', unscored'})"] = s[
                "label_issue_rate"
            ]
        elif s["kind"] == "timeseries" and s.get("rating"):
            shares[f"{s['name']} (low quality)"] = s["rating"]["low_quality_share"]
        elif s["kind"] == "timeseries" and s.get("windows_missing_share") is not None:
            shares[f"{s['name']} (windows w/ missing)"] = s["windows_missing_share"]
    if not shares:
        return None
    plt = plots._plt()
    fig, ax = plt.subplots(figsize=(3.6, 0.28 * len(shares) + 0.5))
    names = list(shares)[::-1]
    bars = ax.barh(names, [100 * shares[k] for k in names], color="#4c72b0")
    ax.bar_label(bars, fmt="%.1f%%", fontsize=6, padding=2)
    ax.set_xlim(0, max(5.0, 115 * max(shares.values())))
    ax.tick_params(labelsize=6)
    ax.set_xlabel("% of items", fontsize=6)
    ax.spines[["top", "right"]].set_visible(False)
    return plots._png(fig, dpi=50)


def build_report(
    root: str | Path,
    datasets: list[tuple[str, str]],
    night: date,
    previous: dict | None,
    generated_at: datetime | None = None,
) -> ReportResult:
    """Build the report of ``night`` over ``datasets`` (``(kind, name)`` pairs) found under ``root``.

    ``previous`` is the previous report's JSON summary (``find_previous_report``) or ``None``.
    """
    root = Path(root)
    out_dir = reports_dir(root)
    summaries: dict[str, dict] = {}
    figures = {}
    warnings: list[str] = []
    for kind, name in sorted(set(datasets), key=lambda kn: (kn[0] != "timeseries", kn[1])):
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
            s.setdefault("read_errors", {})["plots"] = f"{type(exc).__name__}: {exc}"
    report = {
        "schema": SCHEMA_VERSION,
        "night": night.isoformat(),
        "generated_at": (generated_at or datetime.now(UTC)).isoformat(timespec="seconds"),
        "root": str(root),
        "datasets": summaries,
    }
    diff = diff_reports(report, previous)
    report["totals"] = {
        "datasets": len(summaries),
        "flagged": sum(s.get("n_flagged") or 0 for s in summaries.values()),
        "quarantined": sum((s.get("quarantine") or {}).get("n") or 0 for s in summaries.values()),
        "new_flagged": diff["n_new_flagged"],
        "resolved": diff["n_resolved"],
    }
    report["previous_night"] = diff["previous_night"]
    metrics: dict[str, float] = {}
    for key, s in summaries.items():
        metrics.update(dataset_metrics(s, diff["datasets"].get(key)))
    metrics.update({f"total/{k}": float(v) for k, v in report["totals"].items()})

    html = render_html(report, diff, figures)
    markdown = render_markdown(report, diff, _share_chart(summaries))
    stem = night.isoformat()
    html_path = write_text_atomic(out_dir / f"{stem}.html", html)
    # the JSON is written last: a night counts as reported once its summary exists
    json_path = write_text_atomic(
        out_dir / f"{stem}.json", json.dumps(report, indent=1, sort_keys=False, default=str)
    )
    return ReportResult(
        night=night,
        html_path=html_path,
        json_path=json_path,
        markdown=markdown,
        metrics=metrics,
        totals=dict(report["totals"]),
        summary=report,
        diff=diff,
        previous_night=diff["previous_night"],
        warnings=warnings,
    )
