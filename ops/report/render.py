"""Render the quality report: a self-contained HTML page and a short Markdown summary.

The HTML has inline CSS and base64 PNGs only: no scripts, no external URLs, so it can be
mailed or archived as one file. The Markdown is for Dagster metadata and stays small.
"""

from __future__ import annotations

from html import escape

from ops.report.figures import Figure
from ops.report.plots import data_uri

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1100px;color:#222;line-height:1.4}
h1{font-size:22px;margin-bottom:4px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:3px;margin-top:32px}
h3{font-size:14px;margin:16px 0 6px}.muted{color:#777;font-size:12px}
table{border-collapse:collapse;font-size:12px;margin:6px 0}th,td{border:1px solid #ddd;padding:3px 7px;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}.up{color:#c44e52}.down{color:#55a868}
.note{background:#fff8e1;border-left:3px solid #e0b400;padding:4px 8px;font-size:12px;margin:6px 0}
figure{display:inline-block;margin:6px 12px 6px 0;vertical-align:top}figcaption{font-size:11px;color:#555;max-width:560px}
code{font-size:11px;background:#f4f4f4;padding:0 2px}.ids{font-size:11px;color:#444;word-break:break-all}
"""


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


def _delta_cell(change: dict | None, as_pct: bool = False) -> str:
    if not change or change.get("delta") is None:
        return "–"
    d = change["delta"]
    cls = "up" if d > 0 else ("down" if d < 0 else "")
    text = (("+" if d > 0 else "") + f"{100 * d:.1f} pp") if as_pct else signed(d)
    return f'<span class="{cls}">{escape(text)}</span>'


def headline(s: dict) -> dict:
    """The one-line figures of a dataset used in the overview table and the Markdown."""
    if s["kind"] == "timeseries":
        rating = s.get("rating")
        return {
            "items": s.get("n_windows"),
            "unit": "windows",
            "flagged": s.get("n_flagged"),
            "share": rating["low_quality_share"] if rating else None,
            "status": "rated" if rating else "not rated yet",
            "score": (rating.get("quality_score") or {}).get("mean") if rating else None,
        }
    return {
        "items": s.get("n_rows"),
        "unit": "images",
        "flagged": s.get("n_flagged"),
        "share": s.get("label_issue_rate"),
        "status": ("scored (" + ", ".join(s.get("methods", [])) + ")")
        if s.get("scored")
        else (
            "not scored yet (" + ", ".join(s.get("methods", [])) + ")"
            if s.get("methods")
            else "no labels.parquet"
        ),
        "score": (s.get("label_quality") or {}).get("mean"),
    }


def _stats_table(stats_by_name: dict[str, dict | None]) -> str:
    cols = ("n", "mean", "min", "p10", "p25", "p50", "p75", "p90", "max")
    rows = "".join(
        f'<tr><td class="l">{escape(k)}</td>'
        + "".join(f"<td>{fmt((v or {}).get(c))}</td>" for c in cols)
        + "</tr>"
        for k, v in stats_by_name.items()
        if v
    )
    if not rows:
        return ""
    return (
        '<table><tr><th class="l"></th>'
        + "".join(f"<th>{c}</th>" for c in cols)
        + "</tr>"
        + rows
        + "</table>"
    )


def _kv_table(pairs: list[tuple[str, object]]) -> str:
    return (
        "<table>"
        + "".join(
            f'<tr><th class="l">{escape(k)}</th><td>{escape(fmt(v))}</td></tr>' for k, v in pairs
        )
        + "</table>"
    )


def _ids_html(change: dict | None, label: str) -> str:
    if not change:
        return ""
    parts = []
    for key, word in (("new", "newly " + label), ("resolved", "no longer " + label)):
        n = change[f"n_{key}"]
        if n:
            more = f" (first {len(change[key])} shown)" if n > len(change[key]) else ""
            parts.append(
                f'<p><b>{n} {escape(word)}</b>{more}: <span class="ids">'
                + ", ".join(f"<code>{escape(i)}</code>" for i in change[key])
                + "</span></p>"
            )
    if not parts:
        parts.append(f"<p>No change in which items are {escape(label)}.</p>")
    if change.get("approximate"):
        parts.append(
            '<p class="muted">Stored id lists were truncated; the id differences are lower bounds.</p>'
        )
    return "".join(parts)


def _diff_html(s: dict, d: dict | None, previous_night: str | None) -> str:
    if previous_night is None:
        return '<p class="note">No previous report: nothing to compare with.</p>'
    if d is None or d.get("status") == "new":
        return f'<p class="note">New dataset: not in the previous report ({escape(previous_night)}).</p>'
    rows = []
    label = "low-quality windows" if s["kind"] == "timeseries" else "label issues"
    for key, name, as_pct in (
        ("flagged", label, False),
        ("quarantined", "quarantined", False),
        ("label_issue_rate", "label issue rate", True),
        ("low_quality_share", "low-quality share", True),
        ("windows_with_missing", "windows with missing values", False),
        ("llm_cost_usd", "LLM cost (USD)", False),
    ):
        ch = d.get(key)
        if ch and (ch.get("now") is not None or ch.get("before") is not None):
            show = pct if as_pct else fmt
            rows.append(
                f'<tr><td class="l">{escape(name)}</td><td>{show(ch.get("before"))}</td><td>{show(ch.get("now"))}</td>'
                f"<td>{_delta_cell(ch, as_pct)}</td></tr>"
            )
    out = [f"<h3>Since {escape(previous_night)}</h3>"]
    if rows:
        out.append(
            '<table><tr><th class="l"></th><th>before</th><th>now</th><th>change</th></tr>'
            + "".join(rows)
            + "</table>"
        )
    out.append(_ids_html(d.get("flagged_ids"), "flagged"))
    if d.get("flagged_note"):
        out.append(f'<p class="note">{escape(d["flagged_note"])}</p>')
    if s["kind"] == "images":
        out.append(
            _ids_html(d.get("quarantined_ids"), "quarantined")
            if (d.get("quarantined_ids") or {}).get("n_new")
            or (d.get("quarantined_ids") or {}).get("n_resolved")
            else ""
        )
    elif s.get("rating") is None:
        out.append(_ids_html(d.get("missing_ids"), "windows with missing values"))
    drift = d.get("drift") or {}
    metric = drift.get("metric", "score")
    if drift.get("delta"):
        dl, a, b = drift["delta"], drift["now"], drift["before"]
        cells = "".join(
            f'<tr><td class="l">{k}</td><td>{fmt(b.get(k))}</td><td>{fmt(a.get(k))}</td><td>{escape(signed(v))}</td></tr>'
            for k, v in dl.items()
        )
        out.append(
            f"<p><b>Score drift</b> of <code>{escape(metric)}</code>: mean {escape(signed(dl.get('mean')))}.</p>"
            f'<table><tr><th class="l"></th><th>before</th><th>now</th><th>change</th></tr>{cells}</table>'
        )
    else:
        out.append(
            f'<p class="muted">Score drift of {escape(metric)}: {escape(drift.get("note", "n/a"))}.</p>'
        )
    return "".join(out)


def _figures_html(figs: list[Figure]) -> str:
    return "".join(
        f'<figure><img src="{data_uri(f.png)}" alt="{escape(f.title)}"><figcaption><b>{escape(f.title)}.</b> '
        f"{escape(f.caption)}</figcaption></figure>"
        for f in figs
    )


def _timeseries_body(s: dict) -> str:
    out = [
        _kv_table(
            [
                ("points", s.get("n_points")),
                ("null values", s.get("n_null_values")),
                ("series", s.get("n_series")),
                ("windows", s.get("n_windows")),
                ("windows with missing values", s.get("n_windows_with_missing")),
                ("quarantined records", (s.get("quarantine") or {}).get("n")),
            ]
        )
    ]
    rating = s.get("rating")
    if rating:
        out.append(
            f"<p>Rated by <code>{escape(', '.join(rating['rater_version']) or 'unknown rater')}</code>"
            f" with judge <code>{escape(', '.join(rating['judge_model']) or 'unknown')}</code>: "
            f"<b>{fmt(rating['n_low_quality'])}</b> low-quality windows ({pct(rating['low_quality_share'])}).</p>"
        )
        out.append(
            _stats_table({"quality_score": rating["quality_score"], **rating.get("criteria", {})})
        )
    else:
        out.append(
            '<p class="note">Quality scores: <b>not rated yet</b> (windows.parquet has no quality_score). '
            "The plots below rank windows by missing values instead.</p>"
        )
        out.append(_stats_table({"n_missing per window": s.get("n_missing")}))
    j = s.get("judgments")
    if j:
        out.append(
            "<h3>LLM judgments</h3>"
            + _kv_table(
                [
                    ("pair judgments", j.get("rows")),
                    ("calls", j.get("calls")),
                    ("cache hits", j.get("cache_hits")),
                    ("tokens", j.get("tokens")),
                    ("cost (USD)", j.get("cost_usd")),
                    ("models", ", ".join(j.get("models") or []) or None),
                    *((f"status {k}", v) for k, v in (j.get("status") or {}).items()),
                ]
            )
        )
    else:
        out.append(
            '<p class="muted">No judgments.parquet: no LLM calls recorded for this dataset.</p>'
        )
    return "".join(out)


def _images_body(s: dict) -> str:
    acts = s.get("actions") or {}
    out = [
        _kv_table(
            [
                ("rows", s.get("n_rows")),
                ("readable", s.get("n_readable")),
                ("trusted", s.get("n_trusted")),
                *((f"split {k}", v) for k, v in (s.get("split") or {}).items()),
                *((f"action {k}", v) for k, v in acts.items()),
                ("label issues", s.get("n_flagged")),
                ("label issue rate", pct(s.get("label_issue_rate"))),
                ("quarantined", (s.get("quarantine") or {}).get("n")),
            ]
        )
    ]
    if s.get("scored"):
        out.append(_stats_table({"label_quality": s.get("label_quality")}))
    else:
        out.append(
            '<p class="note">Label quality: <b>not scored yet</b> (label_quality is empty; method '
            f"{escape(', '.join(s.get('methods') or []) or 'none')}).</p>"
        )
    by_class = s.get("issues_by_class") or {}
    if by_class:
        out.append(
            "<h3>Label issues by given class</h3><table><tr>"
            + "".join(f"<th>{escape(k)}</th>" for k in by_class)
            + "</tr><tr>"
            + "".join(f"<td>{v}</td>" for v in by_class.values())
            + "</tr></table>"
        )
    return "".join(out)


def render_html(report: dict, diff: dict, figures: dict[str, list[Figure]]) -> str:
    night, prev = report["night"], diff.get("previous_night")
    t = report["totals"]
    head = [
        f"<h1>Sieve quality report — {escape(night)}</h1>",
        f'<p class="muted">Generated {escape(report["generated_at"])} from <code>{escape(report["root"])}</code>. '
        + (f"Compared with the report of {escape(prev)}." if prev else "No previous report.")
        + "</p>",
    ]
    rows = []
    for key, s in report["datasets"].items():
        h = headline(s)
        d = diff["datasets"].get(key)
        rows.append(
            f'<tr><td class="l"><a href="#{escape(key)}">{escape(s["name"])}</a></td><td class="l">{escape(s["kind"])}</td>'
            f"<td>{fmt(h['items'])} {h['unit']}</td><td>{fmt(h['flagged'])}</td><td>{pct(h['share'])}</td>"
            f'<td>{fmt((s.get("quarantine") or {}).get("n"))}</td><td class="l">{escape(h["status"])}</td>'
            f"<td>{fmt(h['score'])}</td><td>{_delta_cell((d or {}).get('flagged'))}</td></tr>"
        )
    head.append(
        '<table><tr><th class="l">dataset</th><th class="l">kind</th><th>items</th><th>flagged</th><th>flagged share</th>'
        '<th>quarantined</th><th class="l">scoring</th><th>mean score</th><th>Δ flagged</th></tr>'
        + "".join(rows)
        + "</table>"
    )
    head.append(
        f"<p>Totals: <b>{fmt(t['flagged'])}</b> flagged, <b>{fmt(t['quarantined'])}</b> quarantined"
        + (
            f", <b>{fmt(t['new_flagged'])}</b> newly flagged and {fmt(t['resolved'])} resolved since {escape(prev)}"
            if prev
            else ""
        )
        + ".</p>"
    )
    if diff.get("removed"):
        head.append(
            f'<p class="note">In the previous report but not tonight: {escape(", ".join(diff["removed"]))}.</p>'
        )
    body = []
    for key, s in report["datasets"].items():
        body.append(
            f'<h2 id="{escape(key)}">{escape(s["name"])} <span class="muted">({escape(s["kind"])})</span></h2>'
        )
        if s.get("read_errors"):
            body.append(
                '<p class="note">Unreadable files: '
                + escape("; ".join(f"{k}: {v}" for k, v in s["read_errors"].items()))
                + "</p>"
            )
        if not s.get("files"):
            body.append('<p class="note">No output files in the clean folder yet.</p>')
        body.append(_timeseries_body(s) if s["kind"] == "timeseries" else _images_body(s))
        body.append(_diff_html(s, diff["datasets"].get(key), prev))
        body.append(_figures_html(figures.get(key, [])))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Sieve quality report {escape(night)}</title><style>{CSS}</style></head><body>"
        + "".join(head)
        + "".join(body)
        + "</body></html>"
    )


def render_markdown(report: dict, diff: dict, image_png: bytes | None = None) -> str:
    """A compact Markdown summary for Dagster metadata (one tiny PNG at most)."""
    prev = diff.get("previous_night")
    lines = [
        f"**Sieve quality report {report['night']}** — "
        + (f"vs {prev}" if prev else "no previous report"),
        "",
        "| dataset | kind | flagged | share | quarantined | scoring | Δ flagged |",
        "|---|---|---:|---:|---:|---|---:|",
    ]
    for key, s in report["datasets"].items():
        h = headline(s)
        ch = (diff["datasets"].get(key) or {}).get("flagged") or {}
        delta = (
            "new"
            if (diff["datasets"].get(key) or {}).get("status") == "new"
            else signed(ch.get("delta"), 6)
        )
        lines.append(
            f"| {s['name']} | {s['kind']} | {fmt(h['flagged'])} | {pct(h['share'])} | "
            f"{fmt((s.get('quarantine') or {}).get('n'))} | {h['status']} | {delta if prev else '–'} |"
        )
    t = report["totals"]
    lines += [
        "",
        f"Totals: {fmt(t['flagged'])} flagged, {fmt(t['quarantined'])} quarantined"
        + (
            f", {fmt(t['new_flagged'])} newly flagged, {fmt(t['resolved'])} resolved."
            if prev
            else "."
        ),
    ]
    for key, d in diff.get("datasets", {}).items():
        dl = ((d.get("drift") or {}).get("delta") or {}).get("mean")
        if dl is not None:
            lines.append(f"- {key}: mean {d['drift']['metric']} drift {signed(dl)}")
    if image_png:
        lines += ["", f"![flagged share per dataset]({data_uri(image_png)})"]
    return "\n".join(lines)
