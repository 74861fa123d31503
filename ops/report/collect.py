"""Data collection for the quality report: read what a dataset's ``clean/`` folder holds.

Everything is optional: a file that is not there yet (no rater, no judgments) is reported
as absent, never invented. ``load_dataset`` returns the frames (for the plots);
``summarize`` turns them into a JSON-able dict, which is also what the next night diffs
against. ``collect_dataset_summary`` does both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ops.contracts import (
    CRITERIA,
    IMAGES,
    IMAGES_QUARANTINE,
    JUDGMENTS,
    KINDS,
    LABELS,
    MANIFEST,
    POINTS,
    SCORES,
    SELECTED,
    SERIES,
    TIMESERIES,
    TIMESERIES_QUARANTINE,
    WINDOWS,
)
from ops.tables import join_scores

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
            data.frames[path.stem] = pl.read_parquet(path)
        except Exception as exc:  # a corrupt file is a finding for the report, not a crash
            data.errors[table.file] = f"{type(exc).__name__}: {exc}"
    windows, scores = data.frames.get(WINDOWS.stem), data.frames.get(SCORES.stem)
    if windows is not None and scores is not None and "window_id" in windows.columns:
        data.frames[WINDOWS.stem] = join_scores(windows, scores)
    return data


# ---------------------------------------------------------------- helpers


def _num(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


def score_stats(values: pl.Series) -> dict | None:
    """Mean, min, max and quantiles of the non-null finite values; ``None`` when there are none."""
    v = values.cast(pl.Float64).drop_nulls()
    v = v.filter(v.is_finite())
    if v.len() == 0:
        return None
    out = {"n": v.len(), "mean": _num(v.mean()), "min": _num(v.min()), "max": _num(v.max())}
    for q in QUANTILES:
        out[f"p{int(q * 100)}"] = _num(v.quantile(q, interpolation="linear"))
    return out


def compact_ids(ids) -> dict:
    """Store a set of ids compactly: grouped by prefix up to the last ``#`` or ``/``.

    ``{"n": 3, "truncated": False, "groups": {"img/": ["0001.png", "0007.png"], "s1#": ["0"]}}``.
    """
    ids = sorted({str(i) for i in ids})
    n = len(ids)
    kept = ids[:MAX_STORED_IDS]
    groups: dict[str, list[str]] = {}
    for i in kept:
        cut = max(i.rfind("#"), i.rfind("/")) + 1
        groups.setdefault(i[:cut], []).append(i[cut:])
    return {"n": n, "truncated": n > len(kept), "groups": groups}


def expand_ids(compact: dict | None) -> set[str]:
    if not compact:
        return set()
    return {prefix + rest for prefix, rests in compact.get("groups", {}).items() for rest in rests}


def _counts(frame: pl.DataFrame, col: str) -> dict[str, int]:
    if frame is None or col not in frame.columns or frame.height == 0:
        return {}
    rows = frame.group_by(col).len().sort(["len", col], descending=[True, False]).iter_rows()
    return {("(null)" if k is None else str(k)): int(n) for k, n in rows}


def _quarantine_summary(q: pl.DataFrame | None) -> dict:
    if q is None:
        return {"present": False, "n": 0, "by_reason": {}}
    return {"present": True, "n": q.height, "by_reason": _counts(q, "reason")}


def _judgments_summary(j: pl.DataFrame | None) -> dict | None:
    """Calls, cache hits, tokens and cost from judgments.parquet, using whichever columns exist."""
    if j is None:
        return None
    cols = set(j.columns)
    out: dict = {"rows": j.height}

    def total(col: str, cast=pl.Float64):
        return _num(j[col].cast(cast).fill_null(0).sum()) if col in cols else None

    out["calls"] = int(total("calls") or 0) if "calls" in cols else None
    hit_cols = [
        c for c in ("cached_forward", "cached_backward", "cache_hit", "cached") if c in cols
    ]
    out["cache_hits"] = (
        int(sum(j[c].cast(pl.Int64).fill_null(0).sum() for c in hit_cols)) if hit_cols else None
    )
    out["tokens"] = int(total("tokens") or 0) if "tokens" in cols else None
    out["cost_usd"] = total("cost_usd")
    out["models"] = (
        sorted(str(m) for m in j["model"].drop_nulls().unique()) if "model" in cols else []
    )
    out["status"] = _counts(j, "status")
    return out


# ---------------------------------------------------------------- summaries


def _summarize_timeseries(d: DatasetData) -> dict:
    w, p, s = d.get("windows"), d.get("points"), d.get("series")
    out: dict = {
        "n_points": p.height if p is not None else None,
        "n_null_values": int(p["value"].null_count())
        if p is not None and "value" in p.columns
        else None,
        "n_series": (
            s.height
            if s is not None
            else (p["series_id"].n_unique() if p is not None and "series_id" in p.columns else None)
        ),
        "n_windows": w.height if w is not None else None,
        "quarantine": _quarantine_summary(d.get("quarantine")),
        "judgments": _judgments_summary(d.get("judgments")),
        "rated": False,
        "rating": None,
    }
    if w is not None and "n_missing" in w.columns:
        with_missing = w.filter(pl.col("n_missing") > 0)
        out["n_windows_with_missing"] = with_missing.height
        out["windows_missing_share"] = with_missing.height / w.height if w.height else 0.0
        out["n_missing"] = score_stats(w["n_missing"])
        out["missing_ids"] = (
            compact_ids(with_missing["window_id"]) if "window_id" in w.columns else None
        )
    rated = (
        w is not None and "quality_score" in w.columns and w["quality_score"].drop_nulls().len() > 0
    )
    out["rated"] = bool(rated)
    if rated:
        low = (
            w.filter(pl.col("is_low_quality_issue").fill_null(False))
            if "is_low_quality_issue" in w.columns
            else w.clear()
        )
        out["rating"] = {
            "quality_score": score_stats(w["quality_score"]),
            "criteria": {
                f"{c}_score": score_stats(w[f"{c}_score"])
                for c in CRITERIA
                if f"{c}_score" in w.columns
            },
            "n_low_quality": low.height,
            "low_quality_share": low.height / w.height if w.height else 0.0,
            "has_issue_flag": "is_low_quality_issue" in w.columns,
            "rater_version": sorted(str(v) for v in w["rater_version"].drop_nulls().unique())
            if "rater_version" in w.columns
            else [],
            "judge_model": sorted(str(v) for v in w["judge_model"].drop_nulls().unique())
            if "judge_model" in w.columns
            else [],
        }
        out["flagged_ids"] = (
            compact_ids(low["window_id"]) if "window_id" in low.columns else compact_ids([])
        )
    else:
        out["flagged_ids"] = None
    out["n_flagged"] = out["rating"]["n_low_quality"] if rated else None
    return out


def _summarize_images(d: DatasetData) -> dict:
    lab, man = d.get("labels"), d.get("manifest")
    out: dict = {
        "n_rows": lab.height if lab is not None else None,
        "n_readable": man.height if man is not None else None,
        "quarantine": _quarantine_summary(d.get("quarantine")),
        "scored": False,
        "label_quality": None,
        "n_flagged": None,
        "flagged_ids": None,
    }
    if lab is None:
        return out
    actions = _counts(lab, "action")
    out["actions"] = {
        a: int(actions.get(a, 0)) for a in ("kept", "relabeled", "dropped", "quarantined")
    }
    out["methods"] = (
        sorted(str(m) for m in lab["method"].drop_nulls().unique())
        if "method" in lab.columns
        else []
    )
    live = lab.filter(pl.col("action") != "quarantined") if "action" in lab.columns else lab
    out["n_live"] = live.height
    out["n_trusted"] = (
        int(lab["trusted"].fill_null(False).sum()) if "trusted" in lab.columns else None
    )
    out["split"] = _counts(lab, "split")
    if "label_quality" in lab.columns:
        out["label_quality"] = score_stats(live["label_quality"])
        out["scored"] = out["label_quality"] is not None
    flag_col = "is_label_issue" if "is_label_issue" in lab.columns else None
    if flag_col:
        flagged = live.filter(pl.col(flag_col).fill_null(False))
        out["n_flagged"] = flagged.height
        out["label_issue_rate"] = flagged.height / live.height if live.height else 0.0
        out["flagged_ids"] = compact_ids(flagged["image"])
        out["issues_by_class"] = _counts(flagged, "given_label")
        if "clean_label" in flagged.columns:
            out["changed_label"] = int(
                (flagged["given_label"] != flagged["clean_label"]).fill_null(False).sum()
            )
    out["quarantined_ids"] = (
        compact_ids(lab.filter(pl.col("action") == "quarantined")["image"].drop_nulls())
        if "action" in lab.columns
        else None
    )
    return out


def summarize(d: DatasetData) -> dict:
    """A JSON-able summary of one dataset (the unit the night-to-night diff compares)."""
    out = {
        "kind": d.kind,
        "name": d.name,
        "present": d.clean_dir.is_dir(),
        "files": sorted(f"{k}.parquet" for k in d.frames),
        "read_errors": dict(d.errors),
    }
    out.update(_summarize_timeseries(d) if d.kind == "timeseries" else _summarize_images(d))
    return out


def collect_dataset_summary(
    kind: str, name: str, clean_dir: str | Path, raw_dir: str | Path | None = None
) -> dict:
    """Summary of ``clean/<kind>/<name>/`` as it is on disk now (see ``summarize``)."""
    return summarize(load_dataset(kind, name, clean_dir, raw_dir))
