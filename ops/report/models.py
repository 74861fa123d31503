"""Typed results of the quality report: what ``collect`` summarises, what ``diff`` compares and
what ``render`` shows.

Every class has ``to_json()`` (the exact JSON written to ``reports/<night>.json``, key order
included) and ``from_json()``, which reads that JSON back, including the files earlier code
wrote and partial or older summaries: a missing key reads as "not known" (``None``, empty),
never as an error, so a night always diffs against the one before.

A dataset summary keeps the JSON's distinction between a key that is absent (the table or
column was not there) and a key whose value is null: the optional groups
(:class:`MissingSummary`, :class:`LabelsSummary`, :class:`IssueSummary`) are ``None`` when
absent and flattened into the dataset's JSON when present.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ops.contracts import IMAGES, QUALITY_SCORE, TIMESERIES

Json = dict[str, Any]
STAT_KEYS = ("n", "mean", "min", "max", "p10", "p25", "p50", "p75", "p90")
DRIFT_KEYS = ("mean", "p10", "p25", "p50", "p75", "p90")


def _pick(d: Json, keys: tuple[str, ...]) -> Json:
    return {k: d[k] for k in keys if k in d}


@dataclass
class ScoreStats:
    """Count, mean, min, max and deciles/quartiles of a score's finite values."""

    n: int | None = None
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    p10: float | None = None
    p25: float | None = None
    p50: float | None = None
    p75: float | None = None
    p90: float | None = None

    def get(self, key: str) -> float | None:
        return getattr(self, key, None)

    def to_json(self) -> Json:
        # keys without a value are left out (a summary written elsewhere may hold only some)
        return {k: getattr(self, k) for k in STAT_KEYS if getattr(self, k) is not None}

    @classmethod
    def from_json(cls, d: Json | None) -> ScoreStats | None:
        return None if not isinstance(d, dict) else cls(**_pick(d, STAT_KEYS))


def _stats_json(s: ScoreStats | None) -> Json | None:
    return None if s is None else s.to_json()


@dataclass
class IdSet:
    """A set of item ids stored compactly: grouped by the prefix up to the last ``#`` or ``/``.

    ``n`` counts every id; when ``truncated`` only the first ids are listed in ``groups``.
    """

    n: int = 0
    truncated: bool = False
    groups: dict[str, list[str]] = field(default_factory=dict)

    def ids(self) -> set[str]:
        return {prefix + rest for prefix, rests in self.groups.items() for rest in rests}

    def to_json(self) -> Json:
        return {"n": self.n, "truncated": self.truncated, "groups": self.groups}

    @classmethod
    def from_json(cls, d: Json | None) -> IdSet | None:
        if not isinstance(d, dict):
            return None
        return cls(int(d.get("n") or 0), bool(d.get("truncated")), dict(d.get("groups") or {}))


def _ids_json(s: IdSet | None) -> Json | None:
    return None if s is None else s.to_json()


@dataclass
class QuarantineSummary:
    present: bool = False
    n: int | None = 0
    by_reason: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> Json:
        return {"present": self.present, "n": self.n, "by_reason": self.by_reason}

    @classmethod
    def from_json(cls, d: Json | None) -> QuarantineSummary | None:
        if not isinstance(d, dict):
            return None
        return cls(bool(d.get("present")), d.get("n"), dict(d.get("by_reason") or {}))


@dataclass
class JudgmentTotals:
    """What judgments.parquet says about the judge: pairs, calls, cache hits, tokens, cost."""

    rows: int | None = 0
    calls: int | None = None
    cache_hits: int | None = None
    tokens: int | None = None
    cost_usd: float | None = None
    models: list[str] = field(default_factory=list)
    status: dict[str, int] = field(default_factory=dict)
    kinds: list[str] = field(default_factory=list)  # judge_kind values (contracts.JUDGE_KINDS)

    @property
    def title(self) -> str:
        """The section title, by judge kind (a rule-based surrogate is never called an LLM)."""
        names = {
            "llm": "LLM judgments",
            "local-llm": "Local LLM judgments (offline model)",
            "rubric-surrogate": "Rubric surrogate judgments — no LLM",
        }
        kinds = self.kinds or sorted(  # files written before judge_kind: from the model names
            {
                "rubric-surrogate"
                if m.startswith("rubric")
                else "local-llm"
                if m.startswith("sieve-local/")
                else "llm"
                for m in self.models
            }
        )
        return " + ".join(names.get(k, f"{k} judgments") for k in kinds) or "Judgments"

    def to_json(self) -> Json:
        return {
            "rows": self.rows,
            "calls": self.calls,
            "cache_hits": self.cache_hits,
            "tokens": self.tokens,
            "cost_usd": self.cost_usd,
            "models": self.models,
            "status": self.status,
        } | ({"kinds": self.kinds} if self.kinds else {})  # absent before judge_kind existed

    @classmethod
    def from_json(cls, d: Json | None) -> JudgmentTotals | None:
        if not isinstance(d, dict):
            return None
        return cls(
            d.get("rows"),
            d.get("calls"),
            d.get("cache_hits"),
            d.get("tokens"),
            d.get("cost_usd"),
            list(d.get("models") or []),
            dict(d.get("status") or {}),
            list(d.get("kinds") or []),
        )


@dataclass
class RatingSummary:
    """The rater's scores over the dataset's windows."""

    quality_score: ScoreStats | None = None
    criteria: dict[str, ScoreStats | None] = field(default_factory=dict)
    n_low_quality: int | None = 0
    low_quality_share: float | None = 0.0
    has_issue_flag: bool = False
    rater_version: list[str] = field(default_factory=list)
    judge_model: list[str] = field(default_factory=list)
    calibration: str | None = None  # the flag rule, from rater_report.json
    notes: list[str] = field(default_factory=list)  # the scores step's warnings
    rater_state: str | None = None  # kept or fitted tonight, from rater_report.json

    def to_json(self) -> Json:
        out = {
            "quality_score": _stats_json(self.quality_score),
            "criteria": {k: _stats_json(v) for k, v in self.criteria.items()},
            "n_low_quality": self.n_low_quality,
            "low_quality_share": self.low_quality_share,
            "has_issue_flag": self.has_issue_flag,
            "rater_version": self.rater_version,
            "judge_model": self.judge_model,
        }
        # only when the scores step wrote them (summaries of older runs stay as they were)
        if self.calibration is not None:
            out["calibration"] = self.calibration
        if self.notes:
            out["notes"] = self.notes
        if self.rater_state is not None:
            out["rater_state"] = self.rater_state
        return out

    @classmethod
    def from_json(cls, d: Json | None) -> RatingSummary | None:
        if not isinstance(d, dict):
            return None
        return cls(
            ScoreStats.from_json(d.get("quality_score")),
            {k: ScoreStats.from_json(v) for k, v in (d.get("criteria") or {}).items()},
            d.get("n_low_quality"),
            d.get("low_quality_share"),
            bool(d.get("has_issue_flag")),
            list(d.get("rater_version") or []),
            list(d.get("judge_model") or []),
            d.get("calibration"),
            list(d.get("notes") or []),
            d.get("rater_state"),
        )


@dataclass
class MissingSummary:
    """Windows with missing values (present when windows.parquet has ``n_missing``)."""

    n_windows_with_missing: int | None = None
    windows_missing_share: float | None = None
    n_missing: ScoreStats | None = None
    missing_ids: IdSet | None = None

    def to_json(self) -> Json:
        return {
            "n_windows_with_missing": self.n_windows_with_missing,
            "windows_missing_share": self.windows_missing_share,
            "n_missing": _stats_json(self.n_missing),
            "missing_ids": _ids_json(self.missing_ids),
        }

    @classmethod
    def from_json(cls, d: Json) -> MissingSummary | None:
        if "n_windows_with_missing" not in d and "n_missing" not in d:
            return None
        return cls(
            d.get("n_windows_with_missing"),
            d.get("windows_missing_share"),
            ScoreStats.from_json(d.get("n_missing")),
            IdSet.from_json(d.get("missing_ids")),
        )


@dataclass
class Headline:
    """The one-line figures of a dataset in the overview table and the Markdown."""

    items: int | None
    unit: str
    flagged: int | None
    share: float | None
    status: str
    score: float | None


@dataclass
class DatasetSummary:
    """What is on disk for one dataset (the unit the night-to-night diff compares)."""

    kind: str
    name: str
    present: bool = False
    files: list[str] = field(default_factory=list)
    read_errors: dict[str, str] = field(default_factory=dict)
    quarantine: QuarantineSummary | None = field(default_factory=QuarantineSummary)
    n_flagged: int | None = None
    flagged_ids: IdSet | None = None

    @property
    def n_quarantined(self) -> int | None:
        return self.quarantine.n if self.quarantine else None

    @property
    def score_metric(self) -> str:
        raise NotImplementedError

    @property
    def scores(self) -> ScoreStats | None:
        raise NotImplementedError

    def headline(self) -> Headline:
        raise NotImplementedError

    def _common_json(self) -> Json:
        return {
            "kind": self.kind,
            "name": self.name,
            "present": self.present,
            "files": self.files,
            "read_errors": self.read_errors,
        }

    def to_json(self) -> Json:
        raise NotImplementedError

    @staticmethod
    def from_json(d: Json) -> DatasetSummary:
        """A summary from its JSON (a missing ``kind`` reads as images, as it always has)."""
        if d.get("kind") == TIMESERIES:
            return TimeseriesSummary.from_json(d)
        return ImagesSummary.from_json(d)


def _common_fields(d: Json) -> Json:
    return {
        "kind": d.get("kind") or IMAGES,
        "name": d.get("name") or "",
        "present": bool(d.get("present")),
        "files": list(d.get("files") or []),
        "read_errors": dict(d.get("read_errors") or {}),
        "quarantine": QuarantineSummary.from_json(d.get("quarantine")),
        "n_flagged": d.get("n_flagged"),
        "flagged_ids": IdSet.from_json(d.get("flagged_ids")),
    }


@dataclass
class TimeseriesSummary(DatasetSummary):
    n_points: int | None = None
    n_null_values: int | None = None
    n_series: int | None = None
    n_windows: int | None = None
    judgments: JudgmentTotals | None = None
    rated: bool = False
    rating: RatingSummary | None = None
    missing: MissingSummary | None = None

    @property
    def score_metric(self) -> str:
        return QUALITY_SCORE

    @property
    def scores(self) -> ScoreStats | None:
        return self.rating.quality_score if self.rating else None

    @property
    def n_windows_with_missing(self) -> int | None:
        return self.missing.n_windows_with_missing if self.missing else None

    @property
    def windows_missing_share(self) -> float | None:
        return self.missing.windows_missing_share if self.missing else None

    def headline(self) -> Headline:
        rating = self.rating
        return Headline(
            items=self.n_windows,
            unit="windows",
            flagged=self.n_flagged,
            share=rating.low_quality_share if rating else None,
            status="rated" if rating else "not rated yet",
            score=(rating.quality_score.mean if rating.quality_score else None) if rating else None,
        )

    def to_json(self) -> Json:
        out = self._common_json() | {
            "n_points": self.n_points,
            "n_null_values": self.n_null_values,
            "n_series": self.n_series,
            "n_windows": self.n_windows,
            "quarantine": None if self.quarantine is None else self.quarantine.to_json(),
            "judgments": None if self.judgments is None else self.judgments.to_json(),
            "rated": self.rated,
            "rating": None if self.rating is None else self.rating.to_json(),
        }
        if self.missing is not None:
            out |= self.missing.to_json()
        return out | {"flagged_ids": _ids_json(self.flagged_ids), "n_flagged": self.n_flagged}

    @classmethod
    def from_json(cls, d: Json) -> TimeseriesSummary:
        return cls(
            **_common_fields(d),
            n_points=d.get("n_points"),
            n_null_values=d.get("n_null_values"),
            n_series=d.get("n_series"),
            n_windows=d.get("n_windows"),
            judgments=JudgmentTotals.from_json(d.get("judgments")),
            rated=bool(d.get("rated")),
            rating=RatingSummary.from_json(d.get("rating")),
            missing=MissingSummary.from_json(d),
        )


@dataclass
class IssueSummary:
    """Label issues (present when labels.parquet has ``is_label_issue``)."""

    label_issue_rate: float | None = None
    issues_by_class: dict[str, int] = field(default_factory=dict)
    changed_label: int | None = None  # absent without a clean_label column

    def to_json(self) -> Json:
        out: Json = {
            "label_issue_rate": self.label_issue_rate,
            "issues_by_class": self.issues_by_class,
        }
        if self.changed_label is not None:
            out["changed_label"] = self.changed_label
        return out

    @classmethod
    def from_json(cls, d: Json) -> IssueSummary | None:
        if "label_issue_rate" not in d:
            return None
        return cls(
            d.get("label_issue_rate"), dict(d.get("issues_by_class") or {}), d.get("changed_label")
        )


@dataclass
class LabelsSummary:
    """What labels.parquet holds (present when the file was read)."""

    actions: dict[str, int] = field(default_factory=dict)
    methods: list[str] = field(default_factory=list)
    n_live: int = 0
    n_trusted: int | None = None
    split: dict[str, int] = field(default_factory=dict)
    issues: IssueSummary | None = None
    quarantined_ids: IdSet | None = None

    @classmethod
    def from_json(cls, d: Json) -> LabelsSummary | None:
        if "actions" not in d:
            return None
        return cls(
            dict(d.get("actions") or {}),
            list(d.get("methods") or []),
            d.get("n_live") or 0,
            d.get("n_trusted"),
            dict(d.get("split") or {}),
            IssueSummary.from_json(d),
            IdSet.from_json(d.get("quarantined_ids")),
        )


@dataclass
class ImagesSummary(DatasetSummary):
    n_rows: int | None = None
    n_readable: int | None = None
    scored: bool = False
    label_quality: ScoreStats | None = None
    labels: LabelsSummary | None = None

    @property
    def score_metric(self) -> str:
        return "label_quality"

    @property
    def scores(self) -> ScoreStats | None:
        return self.label_quality

    @property
    def methods(self) -> list[str]:
        return self.labels.methods if self.labels else []

    @property
    def label_issue_rate(self) -> float | None:
        issues = self.labels.issues if self.labels else None
        return issues.label_issue_rate if issues else None

    @property
    def quarantined_ids(self) -> IdSet | None:
        return self.labels.quarantined_ids if self.labels else None

    def headline(self) -> Headline:
        methods = ", ".join(self.methods)
        if self.scored:
            status = f"scored ({methods})"
        elif self.methods:
            status = f"not scored yet ({methods})"
        else:
            status = "no labels.parquet"
        return Headline(
            items=self.n_rows,
            unit="images",
            flagged=self.n_flagged,
            share=self.label_issue_rate,
            status=status,
            score=self.label_quality.mean if self.label_quality else None,
        )

    def to_json(self) -> Json:
        out = self._common_json() | {
            "n_rows": self.n_rows,
            "n_readable": self.n_readable,
            "quarantine": None if self.quarantine is None else self.quarantine.to_json(),
            "scored": self.scored,
            "label_quality": _stats_json(self.label_quality),
            "n_flagged": self.n_flagged,
            "flagged_ids": _ids_json(self.flagged_ids),
        }
        lab = self.labels
        if lab is None:
            return out
        out |= {
            "actions": lab.actions,
            "methods": lab.methods,
            "n_live": lab.n_live,
            "n_trusted": lab.n_trusted,
            "split": lab.split,
        }
        if lab.issues is not None:
            out |= lab.issues.to_json()
        return out | {"quarantined_ids": _ids_json(lab.quarantined_ids)}

    @classmethod
    def from_json(cls, d: Json) -> ImagesSummary:
        return cls(
            **_common_fields(d),
            n_rows=d.get("n_rows"),
            n_readable=d.get("n_readable"),
            scored=bool(d.get("scored")),
            label_quality=ScoreStats.from_json(d.get("label_quality")),
            labels=LabelsSummary.from_json(d),
        )


def dataset_key(kind: str, name: str) -> str:
    return f"{kind}/{name}"


# --- the night-to-night diff -----------------------------------------------------------------


@dataclass
class CountChange:
    now: float | None
    before: float | None
    delta: float | None = None

    def to_json(self) -> Json:
        return {"now": self.now, "before": self.before, "delta": self.delta}


@dataclass
class IdChange:
    """Ids added and removed between two nights (lower bounds when ``approximate``)."""

    n_new: int
    new: list[str]
    n_resolved: int
    resolved: list[str]
    approximate: bool

    def to_json(self) -> Json:
        return {
            "n_new": self.n_new,
            "new": self.new,
            "n_resolved": self.n_resolved,
            "resolved": self.resolved,
            "approximate": self.approximate,
        }


@dataclass
class Drift:
    """How the score distribution moved; ``note`` says why there is no ``delta``."""

    metric: str
    now: ScoreStats | None
    before: ScoreStats | None
    delta: dict[str, float] | None = None
    note: str | None = None

    def to_json(self) -> Json:
        out: Json = {
            "metric": self.metric,
            "now": _stats_json(self.now),
            "before": _stats_json(self.before),
        }
        if self.note is not None:
            out["note"] = self.note
        if self.delta is not None:
            out["delta"] = self.delta
        return out


def _change_json(c: CountChange | IdChange | None) -> Json | None:
    return None if c is None else c.to_json()


@dataclass
class DatasetDiff:
    """One dataset tonight against the previous night (``status`` new or compared)."""

    kind: str
    status: str
    note: str | None = None
    flagged: CountChange | None = None
    flagged_ids: IdChange | None = None
    flagged_note: str | None = None
    quarantined: CountChange | None = None
    # images
    quarantined_ids: IdChange | None = None
    label_issue_rate: CountChange | None = None
    # time series
    windows_with_missing: CountChange | None = None
    missing_ids: IdChange | None = None
    low_quality_share: CountChange | None = None
    llm_cost_usd: CountChange | None = None
    drift: Drift | None = None

    @property
    def compared(self) -> bool:
        return self.status == "compared"

    def change(self, name: str) -> CountChange | None:
        """A count change by name (``flagged``, ``quarantined``, ``label_issue_rate`` ...)."""
        value = getattr(self, name, None)
        return value if isinstance(value, CountChange) else None

    def to_json(self) -> Json:
        if not self.compared:
            return {"status": self.status, "note": self.note}
        out: Json = {
            "status": self.status,
            "flagged": _change_json(self.flagged),
            "flagged_ids": _change_json(self.flagged_ids),
        }
        if self.flagged_note is not None:
            out["flagged_note"] = self.flagged_note
        out["quarantined"] = _change_json(self.quarantined)
        if self.kind == IMAGES:
            out["quarantined_ids"] = _change_json(self.quarantined_ids)
            out["label_issue_rate"] = _change_json(self.label_issue_rate)
        else:
            out["windows_with_missing"] = _change_json(self.windows_with_missing)
            out["missing_ids"] = _change_json(self.missing_ids)
            out["low_quality_share"] = _change_json(self.low_quality_share)
            out["llm_cost_usd"] = _change_json(self.llm_cost_usd)
        out["drift"] = None if self.drift is None else self.drift.to_json()
        return out


@dataclass
class ReportDiff:
    previous_night: str | None = None
    datasets: dict[str, DatasetDiff] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    n_new_flagged: int = 0
    n_resolved: int = 0

    def to_json(self) -> Json:
        return {
            "previous_night": self.previous_night,
            "datasets": {k: d.to_json() for k, d in self.datasets.items()},
            "removed": self.removed,
            "n_new_flagged": self.n_new_flagged,
            "n_resolved": self.n_resolved,
        }


# --- the whole night -----------------------------------------------------------------------


@dataclass
class Totals:
    datasets: int = 0
    flagged: int = 0
    quarantined: int = 0
    new_flagged: int = 0
    resolved: int = 0

    def to_json(self) -> Json:
        return {
            "datasets": self.datasets,
            "flagged": self.flagged,
            "quarantined": self.quarantined,
            "new_flagged": self.new_flagged,
            "resolved": self.resolved,
        }

    @classmethod
    def from_json(cls, d: Json | None) -> Totals:
        d = d if isinstance(d, dict) else {}
        keys = ("datasets", "flagged", "quarantined", "new_flagged", "resolved")
        return cls(**{k: d.get(k) or 0 for k in keys})


SCHEMA_VERSION = 1


@dataclass
class Report:
    """One night's report summary: what ``reports/<night>.json`` holds."""

    night: str | None
    generated_at: str = ""
    root: str = ""
    datasets: dict[str, DatasetSummary] = field(default_factory=dict)
    totals: Totals = field(default_factory=Totals)
    previous_night: str | None = None
    schema: int = SCHEMA_VERSION

    def to_json(self) -> Json:
        return {
            "schema": self.schema,
            "night": self.night,
            "generated_at": self.generated_at,
            "root": self.root,
            "datasets": {k: s.to_json() for k, s in self.datasets.items()},
            "totals": self.totals.to_json(),
            "previous_night": self.previous_night,
        }

    @classmethod
    def from_json(cls, d: Json) -> Report:
        datasets = d.get("datasets") or {}
        return cls(
            night=d.get("night"),
            generated_at=str(d.get("generated_at") or ""),
            root=str(d.get("root") or ""),
            datasets={k: DatasetSummary.from_json(v or {}) for k, v in datasets.items()},
            totals=Totals.from_json(d.get("totals")),
            previous_night=d.get("previous_night"),
            schema=d.get("schema") or SCHEMA_VERSION,
        )
