"""Night-to-night difference: compare tonight's summary with the previous report's.

Both sides are :class:`~ops.report.models.Report` objects; the previous one is read back
from its JSON (``Report.from_json``, which also reads nights written by earlier code). The
diff says what is newly flagged, what was resolved, how counts moved and how the score
distribution drifted.
"""

from __future__ import annotations

from ops.contracts import IMAGES
from ops.report.models import (
    DRIFT_KEYS,
    CountChange,
    DatasetDiff,
    DatasetSummary,
    Drift,
    IdChange,
    IdSet,
    Report,
    ReportDiff,
    TimeseriesSummary,
)

SAMPLE_IDS = 25  # ids listed per change in the report (the counts are always complete)


def count_change(now, before) -> CountChange | None:
    if now is None and before is None:
        return None
    delta = now - before if now is not None and before is not None else None
    return CountChange(now=now, before=before, delta=delta)


def id_change(now: IdSet | None, before: IdSet | None) -> IdChange | None:
    """Ids added and removed between two compact id sets; ``None`` if either side is absent."""
    if now is None or before is None:
        return None
    a, b = now.ids(), before.ids()
    added, removed = sorted(a - b), sorted(b - a)
    return IdChange(
        n_new=len(added),
        new=added[:SAMPLE_IDS],
        n_resolved=len(removed),
        resolved=removed[:SAMPLE_IDS],
        # a truncated set only lists its first ids, so set differences are lower bounds
        approximate=bool(now.truncated or before.truncated),
    )


def score_drift(now: DatasetSummary, before: DatasetSummary) -> Drift:
    a, b = now.scores, before.scores
    drift = Drift(metric=now.score_metric, now=a, before=b)
    if a is None or b is None:
        drift.note = "no scores tonight" if a is None else "no scores in the previous report"
        return drift
    drift.delta = {
        k: a.get(k) - b.get(k) for k in DRIFT_KEYS if a.get(k) is not None and b.get(k) is not None
    }
    return drift


def _low_quality_share(s: DatasetSummary) -> float | None:
    rating = s.rating if isinstance(s, TimeseriesSummary) else None
    return rating.low_quality_share if rating else None


def _cost(s: DatasetSummary) -> float | None:
    judgments = s.judgments if isinstance(s, TimeseriesSummary) else None
    return judgments.cost_usd if judgments else None


def _rater_change(now: DatasetSummary, before: DatasetSummary) -> str | None:
    """Why new/resolved flags may not be the data's doing: the rater differs between the
    nights (refitted, or other settings), so windows whose points did not change can move."""
    a = now.rating if isinstance(now, TimeseriesSummary) else None
    b = before.rating if isinstance(before, TimeseriesSummary) else None
    if a is None or b is None or not a.rater_version or not b.rater_version:
        return None
    if set(a.rater_version) == set(b.rater_version):
        return None
    return (
        f"the rater changed since the previous night ({', '.join(b.rater_version)} → "
        f"{', '.join(a.rater_version)}): new and resolved flags include the refit's changes, "
        "not only the data's"
    )


def diff_dataset(now: DatasetSummary, before: DatasetSummary | None) -> DatasetDiff:
    if before is None:
        return DatasetDiff(kind=now.kind, status="new", note="not in the previous report")
    out = DatasetDiff(
        kind=now.kind,
        status="compared",
        flagged=count_change(now.n_flagged, before.n_flagged),
        flagged_ids=id_change(now.flagged_ids, before.flagged_ids),
        quarantined=count_change(now.n_quarantined, before.n_quarantined),
    )
    if out.flagged_ids is None and (now.flagged_ids is not None) != (
        before.flagged_ids is not None
    ):
        out.flagged_note = (
            "flags exist on only one of the two nights (scoring started or stopped); no item diff"
        )
    elif out.flagged_ids is not None:
        out.flagged_note = _rater_change(now, before)
    if now.kind == IMAGES:
        out.quarantined_ids = id_change(
            getattr(now, "quarantined_ids", None), getattr(before, "quarantined_ids", None)
        )
        out.label_issue_rate = count_change(
            getattr(now, "label_issue_rate", None), getattr(before, "label_issue_rate", None)
        )
    else:
        out.windows_with_missing = count_change(
            getattr(now, "n_windows_with_missing", None),
            getattr(before, "n_windows_with_missing", None),
        )
        now_missing, before_missing = (
            getattr(now, "missing", None),
            getattr(before, "missing", None),
        )
        out.missing_ids = id_change(
            now_missing.missing_ids if now_missing else None,
            before_missing.missing_ids if before_missing else None,
        )
        out.low_quality_share = count_change(_low_quality_share(now), _low_quality_share(before))
        out.llm_cost_usd = count_change(_cost(now), _cost(before))
    out.drift = score_drift(now, before)
    return out


def diff_reports(current: Report, previous: Report | None) -> ReportDiff:
    """The whole-report diff; no previous night gives an empty diff."""
    if previous is None:
        return ReportDiff()
    datasets = {
        key: diff_dataset(s, previous.datasets.get(key)) for key, s in current.datasets.items()
    }
    return ReportDiff(
        previous_night=previous.night,
        datasets=datasets,
        removed=sorted(set(previous.datasets) - set(current.datasets)),
        n_new_flagged=sum(d.flagged_ids.n_new for d in datasets.values() if d.flagged_ids),
        n_resolved=sum(d.flagged_ids.n_resolved for d in datasets.values() if d.flagged_ids),
    )
