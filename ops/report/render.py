"""Render the quality report: a self-contained HTML page and a short Markdown summary.

The HTML comes from the jinja2 template ``templates/report.html.j2`` with autoescape on: every
value from the data (dataset names, ids, error messages) is escaped. It has inline CSS
(``templates/report.css``) and base64 PNGs only: no scripts, no external URLs, so it can be
mailed or archived as one file. The Markdown is for Dagster metadata and stays small.
"""

from __future__ import annotations

from functools import lru_cache

from ops.report.figures import Figure
from ops.report.models import (
    CountChange,
    RatingSummary,
    Report,
    ReportDiff,
    ScoreStats,
)
from ops.report.plots import data_uri

TEMPLATE = "report.html.j2"
#: the columns of a statistics table, in display order
STAT_COLUMNS = ("n", "mean", "min", "p10", "p25", "p50", "p75", "p90", "max")


def fmt(x, digits: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        return f"{x:.{digits}g}" if abs(x) < 1000 else f"{x:,.0f}"
    return str(x)


def pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def signed(x, digits: int = 3) -> str:
    if x is None:
        return "–"
    s = fmt(x, digits)
    return s if x < 0 else "+" + s


def _prefixed(prefix: str, counts: dict) -> list[tuple[str, object]]:
    return [(f"{prefix} {k}", v) for k, v in counts.items()]


def _rating_stats(rating: RatingSummary) -> dict[str, ScoreStats | None]:
    return {"quality_score": rating.quality_score, **rating.criteria}


@lru_cache(maxsize=1)
def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ops.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(fmt=fmt, pct=pct, signed=signed, data_uri=data_uri)
    env.globals.update(
        STAT_COLUMNS=STAT_COLUMNS,
        prefixed=_prefixed,
        status_rows=lambda status: _prefixed("status", status),
        rating_stats=_rating_stats,
    )
    return env


def render_html(report: Report, diff: ReportDiff, figures: dict[str, list[Figure]]) -> str:
    template = _environment().get_template(TEMPLATE)
    return template.render(report=report, diff=diff, figures=figures, prev=diff.previous_night)


def _markdown_delta(change: CountChange | None, is_new: bool) -> str:
    if is_new:
        return "new"
    return signed(change.delta if change else None, 6)


def render_markdown(report: Report, diff: ReportDiff, image_png: bytes | None = None) -> str:
    """A compact Markdown summary for Dagster metadata (one tiny PNG at most)."""
    prev = diff.previous_night
    lines = [
        f"**Sieve quality report {report.night}** — "
        + (f"vs {prev}" if prev else "no previous report"),
        "",
        "| dataset | kind | flagged | share | quarantined | scoring | Δ flagged |",
        "|---|---|---:|---:|---:|---|---:|",
    ]
    for key, s in report.datasets.items():
        h = s.headline()
        d = diff.datasets.get(key)
        delta = _markdown_delta(d.flagged if d else None, d is not None and d.status == "new")
        lines.append(
            f"| {s.name} | {s.kind} | {fmt(h.flagged)} | {pct(h.share)} | "
            f"{fmt(s.n_quarantined)} | {h.status} | {delta if prev else '–'} |"
        )
    t = report.totals
    lines += [
        "",
        f"Totals: {fmt(t.flagged)} flagged, {fmt(t.quarantined)} quarantined"
        + (f", {fmt(t.new_flagged)} newly flagged, {fmt(t.resolved)} resolved." if prev else "."),
    ]
    for key, d in diff.datasets.items():
        mean = (d.drift.delta or {}).get("mean") if d.drift else None
        if mean is not None:
            lines.append(f"- {key}: mean {d.drift.metric} drift {signed(mean)}")
    if image_png:
        lines += ["", f"![flagged share per dataset]({data_uri(image_png)})"]
    return "\n".join(lines)
