"""Night-to-night difference: compare tonight's summary with the previous report's JSON.

Both sides are report summaries ``{"night": ..., "datasets": {"<kind>/<name>": summary}}``
(see ``ops.report.collect.summarize``). The diff says what is newly flagged, what was
resolved, how counts moved and how the score distribution drifted.
"""

from __future__ import annotations

from ops.report.collect import expand_ids

SAMPLE_IDS = 25  # ids listed per change in the report (the counts are always complete)


def dataset_key(kind: str, name: str) -> str:
    return f"{kind}/{name}"


def _count_change(now, before) -> dict | None:
    if now is None and before is None:
        return None
    out = {"now": now, "before": before, "delta": None}
    if now is not None and before is not None:
        out["delta"] = now - before
    return out


def _id_change(now: dict | None, before: dict | None) -> dict | None:
    """Ids added and removed between two compact id sets; ``None`` if either side is absent."""
    if now is None or before is None:
        return None
    a, b = expand_ids(now), expand_ids(before)
    added, removed = sorted(a - b), sorted(b - a)
    return {
        "n_new": len(added),
        "new": added[:SAMPLE_IDS],
        "n_resolved": len(removed),
        "resolved": removed[:SAMPLE_IDS],
        # a truncated set only lists its first ids, so set differences are lower bounds
        "approximate": bool(now.get("truncated") or before.get("truncated")),
    }


def _scores(summary: dict) -> tuple[str, dict | None]:
    if summary.get("kind") == "timeseries":
        rating = summary.get("rating") or {}
        return "quality_score", rating.get("quality_score")
    return "label_quality", summary.get("label_quality")


def score_drift(now: dict, before: dict) -> dict:
    metric, a = _scores(now)
    _, b = _scores(before)
    out = {"metric": metric, "now": a, "before": b}
    if a is None or b is None:
        out["note"] = "no scores tonight" if a is None else "no scores in the previous report"
        return out
    out["delta"] = {
        k: a[k] - b[k]
        for k in ("mean", "p10", "p25", "p50", "p75", "p90")
        if a.get(k) is not None and b.get(k) is not None
    }
    return out


def diff_dataset(now: dict, before: dict | None) -> dict:
    if before is None:
        return {"status": "new", "note": "not in the previous report"}
    out: dict = {"status": "compared"}
    out["flagged"] = _count_change(now.get("n_flagged"), before.get("n_flagged"))
    out["flagged_ids"] = _id_change(now.get("flagged_ids"), before.get("flagged_ids"))
    if out["flagged_ids"] is None and (now.get("flagged_ids") is not None) != (
        before.get("flagged_ids") is not None
    ):
        out["flagged_note"] = (
            "flags exist on only one of the two nights (scoring started or stopped); no item diff"
        )
    out["quarantined"] = _count_change(
        (now.get("quarantine") or {}).get("n"), (before.get("quarantine") or {}).get("n")
    )
    if now.get("kind") == "images":
        out["quarantined_ids"] = _id_change(
            now.get("quarantined_ids"), before.get("quarantined_ids")
        )
        out["label_issue_rate"] = _count_change(
            now.get("label_issue_rate"), before.get("label_issue_rate")
        )
    else:
        out["windows_with_missing"] = _count_change(
            now.get("n_windows_with_missing"), before.get("n_windows_with_missing")
        )
        out["missing_ids"] = _id_change(now.get("missing_ids"), before.get("missing_ids"))
        out["low_quality_share"] = _count_change(
            (now.get("rating") or {}).get("low_quality_share"),
            (before.get("rating") or {}).get("low_quality_share"),
        )
        nj, bj = now.get("judgments") or {}, before.get("judgments") or {}
        out["llm_cost_usd"] = _count_change(nj.get("cost_usd"), bj.get("cost_usd"))
    out["drift"] = score_drift(now, before)
    return out


def diff_reports(current: dict, previous: dict | None) -> dict:
    """The whole-report diff; ``{"previous_night": None}`` when there is no previous report."""
    if not previous:
        return {
            "previous_night": None,
            "datasets": {},
            "removed": [],
            "n_new_flagged": 0,
            "n_resolved": 0,
        }
    prev_ds = previous.get("datasets", {})
    datasets = {
        key: diff_dataset(s, prev_ds.get(key)) for key, s in current.get("datasets", {}).items()
    }
    n_new = sum((d.get("flagged_ids") or {}).get("n_new", 0) for d in datasets.values())
    n_res = sum((d.get("flagged_ids") or {}).get("n_resolved", 0) for d in datasets.values())
    return {
        "previous_night": previous.get("night"),
        "datasets": datasets,
        "removed": sorted(set(prev_ds) - set(current.get("datasets", {}))),
        "n_new_flagged": n_new,
        "n_resolved": n_res,
    }
