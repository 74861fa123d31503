"""The quality report over small contract-shaped data: two nights, the diff, self-containment."""

import base64
import json
import re
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from ops.report import build_report, collect_dataset_summary, find_previous_report
from ops.report.collect import compact_ids
from ops.report.diff import diff_reports
from ops.report.models import CountChange, IdSet, Report
from ops.tsrating.calibration import calibration_statement

from .sample_data import (
    DATASETS,
    IMAGES,
    NEW_FLAGGED_IMAGE,
    NEW_LOW_WINDOW,
    TS_RATED,
    TS_RAW,
    write_night,
)

NIGHT1, NIGHT2 = date(2026, 3, 4), date(2026, 3, 5)
REPO = Path(__file__).resolve().parents[3]
PNG_SRC = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture(scope="module")
def two_nights(tmp_path_factory):
    root = tmp_path_factory.mktemp("report_root")
    write_night(root, 1)
    first = build_report(root, DATASETS, NIGHT1, previous=None)
    prev = find_previous_report(root / "reports", NIGHT2)
    write_night(root, 2)
    second = build_report(root, DATASETS, NIGHT2, previous=prev)
    return root, first, second, prev


def test_files_written_with_night_names(two_nights):
    root, first, second, _ = two_nights
    for r, night in ((first, NIGHT1), (second, NIGHT2)):
        assert r.html_path == root / "reports" / f"{night.isoformat()}.html"
        assert r.json_path == root / "reports" / f"{night.isoformat()}.json"
        assert r.html_path.stat().st_size > 1000
        saved = json.loads(r.json_path.read_text())
        assert saved == r.summary.to_json()
        assert saved["night"] == night.isoformat()
        assert set(saved["datasets"]) == {f"{k}/{n}" for k, n in DATASETS}
    assert not [p for p in (root / "reports").iterdir() if p.name.endswith(".tmp")]


def test_html_self_contained_with_plots(two_nights):
    _, first, _, _ = two_nights
    html = first.html_path.read_text()
    assert not re.search(r'(src|href)\s*=\s*["\']?\s*(https?:)?//', html)
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html
    for _, name in DATASETS:
        assert name in html
    pngs = PNG_SRC.findall(html)
    # ts_rated: hist, windows, quarantine; ts_raw: hist, windows;
    # imgs: hist, confusion, thumbnails, quarantine
    assert len(pngs) >= 9
    for b in pngs:
        assert base64.b64decode(b).startswith(b"\x89PNG\r\n\x1a\n")


def test_night_one_says_no_previous_report(two_nights):
    _, first, second, prev = two_nights
    assert "no previous report" in first.html_path.read_text().lower()
    assert "no previous report" in first.markdown.lower()
    assert first.previous_night is None
    assert prev is not None and prev.night == NIGHT1.isoformat()
    assert "no previous report" not in second.html_path.read_text().lower()


def test_unrated_timeseries_says_not_rated_and_invents_no_scores(two_nights):
    root, first, _, _ = two_nights
    s = first.summary.datasets[f"timeseries/{TS_RAW}"]
    assert s.rated is False and s.rating is None and s.n_flagged is None
    assert s.n_windows_with_missing > 0
    html = first.html_path.read_text()
    section = html.split(f'id="timeseries/{TS_RAW}"')[1].split("<h2")[0]
    assert "not rated yet" in section
    assert "quality_score per window" not in section
    assert f"{TS_RAW}/low_quality_share" not in first.metrics
    assert f"{TS_RATED}/low_quality_share" in first.metrics


def test_rated_summary_values(two_nights):
    _, first, _, _ = two_nights
    s = first.summary.datasets[f"timeseries/{TS_RATED}"]
    assert s.rated and s.rating.n_low_quality == 1
    assert s.rating.quality_score.mean == pytest.approx((0.9 + 0.7 + 0.5 + 0.15) / 4)
    assert s.flagged_ids.ids() == {"rated#96"}
    j = s.judgments
    assert (j.rows, j.calls, j.cache_hits, j.tokens) == (3, 4, 2, 220)
    assert j.cost_usd == pytest.approx(0.003)
    assert first.metrics[f"{TS_RATED}/llm_cost_usd"] == pytest.approx(0.003)
    img = first.summary.datasets[f"images/{IMAGES}"]
    assert img.n_flagged == 1 and img.label_issue_rate == pytest.approx(1 / 9)
    assert img.n_quarantined == 1 and img.labels.actions["quarantined"] == 1
    assert first.metrics[f"{IMAGES}/label_issue_rate"] == pytest.approx(1 / 9)


def test_night_two_diff_shows_new_flags_and_drift(two_nights):
    _, _, second, _ = two_nights
    d = second.diff
    assert d.previous_night == NIGHT1.isoformat()
    img = d.datasets[f"images/{IMAGES}"]
    assert img.flagged_ids.new == [NEW_FLAGGED_IMAGE] and img.flagged_ids.n_resolved == 0
    assert img.flagged == CountChange(now=2, before=1, delta=1)
    assert img.quarantined.delta == 1 and img.quarantined_ids.new == ["img/missing.png"]
    ts = d.datasets[f"timeseries/{TS_RATED}"]
    assert ts.flagged_ids.new == [NEW_LOW_WINDOW]
    assert ts.drift.delta["mean"] == pytest.approx(
        (0.05 + 0.2 + 0.6 + 0.8) / 4 - (0.9 + 0.7 + 0.5 + 0.15) / 4
    )
    assert img.drift.delta["mean"] < 0
    assert d.n_new_flagged == 2 and second.totals.new_flagged == 2
    html = second.html_path.read_text()
    assert NEW_FLAGGED_IMAGE in html and NEW_LOW_WINDOW in html
    assert "Score drift" in html and "-0.15" in html
    assert second.metrics[f"{IMAGES}/n_new_flagged"] == 1.0
    assert second.metrics[f"{TS_RATED}/score_drift_mean"] == pytest.approx(-0.15)


def test_markdown_is_small(two_nights):
    _, first, second, _ = two_nights
    for r in (first, second):
        assert len(r.markdown) < 20_000
        assert r.markdown.count("data:image/png;base64,") <= 2
        for _, name in DATASETS:
            assert name in r.markdown


def test_previous_report_skips_same_or_later_nights_and_damaged_files(tmp_path):
    (tmp_path / "2026-03-01.json").write_text(json.dumps({"night": "2026-03-01", "datasets": {}}))
    (tmp_path / "2026-03-02.json").write_text("{not json")
    (tmp_path / "2026-03-03.json").write_text(json.dumps({"night": "2026-03-03", "datasets": {}}))
    assert find_previous_report(tmp_path, date(2026, 3, 3)).night == "2026-03-01"
    assert find_previous_report(tmp_path, date(2026, 3, 4)).night == "2026-03-03"
    assert find_previous_report(tmp_path, date(2026, 3, 1)) is None
    assert find_previous_report(tmp_path / "absent", date(2026, 3, 1)) is None


def test_compact_ids_round_trip_and_truncation(monkeypatch):
    ids = [f"series:x#{i}" for i in range(0, 640, 64)] + ["img/0001.png", "img/sub/2.png", "plain"]
    c = compact_ids(ids)
    assert c.ids() == set(ids) and c.n == len(ids) and not c.truncated
    assert len(json.dumps(c.to_json())) < len(json.dumps(ids))
    assert IdSet.from_json(c.to_json()) == c
    monkeypatch.setattr("ops.report.collect.MAX_STORED_IDS", 3)
    t = compact_ids(ids)
    assert t.truncated and t.n == len(ids) and len(t.ids()) == 3


def test_collect_on_empty_or_missing_folder(tmp_path):
    s = collect_dataset_summary(
        "timeseries", "nothing", tmp_path / "clean" / "timeseries" / "nothing"
    )
    assert s.present is False and s.files == [] and s.rated is False
    s = collect_dataset_summary("images", "nothing", tmp_path)
    assert s.n_rows is None and s.n_flagged is None


def test_corrupt_file_is_reported_not_raised(tmp_path):
    clean = tmp_path / "clean" / "images" / "bad"
    clean.mkdir(parents=True)
    (clean / "labels.parquet").write_bytes(b"not parquet")
    r = build_report(tmp_path, [("images", "bad")], NIGHT1, None)
    assert "labels.parquet" in r.summary.datasets["images/bad"].read_errors
    assert "Unreadable files" in r.html_path.read_text()


def test_new_and_removed_datasets_in_diff():
    prev = {"night": "2026-03-01", "datasets": {"images/old": {"kind": "images", "name": "old"}}}
    cur = {"datasets": {"images/new": {"kind": "images", "name": "new", "n_flagged": 0}}}
    d = diff_reports(Report.from_json(cur), Report.from_json(prev))
    assert d.datasets["images/new"].status == "new" and d.removed == ["images/old"]


def test_unscored_images_say_so(tmp_path):
    clean = tmp_path / "clean" / "images" / "plain"
    clean.mkdir(parents=True)
    pl.DataFrame(
        {
            "image": ["x.png"],
            "given_label": ["a"],
            "clean_label": ["a"],
            "label_quality": [None],
            "is_label_issue": [False],
            "action": ["kept"],
            "method": ["passthrough"],
        },
        schema_overrides={"label_quality": pl.Float64},
    ).write_parquet(clean / "labels.parquet")
    r = build_report(tmp_path, [("images", "plain")], NIGHT1, None)
    assert r.summary.datasets["images/plain"].scored is False
    assert "not scored yet" in r.html_path.read_text()
    assert "plain/mean_label_quality" not in r.metrics


def test_ops_report_imports_neither_dagster_nor_matplotlib():
    import subprocess
    import sys

    code = (
        "import sys, ops.report, ops.report.figures, ops.report.render; "
        "bad = [m for m in ('dagster', 'matplotlib', 'jinja2') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=str(REPO)
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_figures_per_dataset_are_labelled_honestly(two_nights):
    from ops.report.collect import load_dataset, summarize
    from ops.report.figures import dataset_figures

    root, _, _, _ = two_nights
    keys = {}
    for kind, name in DATASETS:
        d = load_dataset(kind, name, root / "clean" / kind / name)
        keys[name] = {f.key: f for f in dataset_figures(d, summarize(d))}
    assert set(keys[IMAGES]) == {"score_hist", "confusion", "flagged_images", "quarantine"}
    assert "2 of 2 flagged images" in keys[IMAGES]["flagged_images"].caption
    assert set(keys[TS_RATED]) == {"score_hist", "windows", "quarantine"}
    assert "quality_score" in keys[TS_RATED]["windows"].caption
    assert set(keys[TS_RAW]) == {"score_hist", "windows"}  # empty quarantine: no chart
    assert keys[TS_RAW]["score_hist"].title == "Missing values per window"
    assert keys[TS_RAW]["windows"].caption.startswith("not rated yet")


def test_html_escapes_what_comes_from_the_data(tmp_path):
    name = 'odd<b>&"name'
    clean = tmp_path / "clean" / "images" / name
    clean.mkdir(parents=True)
    (clean / "labels.parquet").write_bytes(b"<script>not parquet</script>")
    html = build_report(tmp_path, [("images", name)], NIGHT1, None).html_path.read_text()
    assert "<script" not in html and "<b>&" not in html
    assert "odd&lt;b&gt;&amp;" in html


def test_report_states_the_calibration_and_the_scores_steps_notes(tmp_path):
    write_night(tmp_path, 1)
    calib = {
        "threshold": -3.01,
        "rule": "mirror",
        "fpr_est": 0.0,
        "tpr_est": 0.596,
        "config": {"prior": 0.05, "target_precision": 0.8, "max_missing": 0.5},
    }
    note = "12 of 12 series have fewer than 8 windows: no norm of their own"
    (tmp_path / "clean" / "timeseries" / TS_RATED / "rater_report.json").write_text(
        json.dumps(
            {
                "calibration": calib,
                "notes": [note],
                "state": {
                    "reused": True,
                    "fitted_at": "2026-03-01T02:00:00+00:00",
                    "n_windows_at_fit": 4,
                    "new_series": 0,
                },
            }
        )
    )
    rep = build_report(tmp_path, DATASETS, NIGHT1, previous=None)
    html = rep.html_path.read_text()
    assert "Rater: rater kept from 2026-03-01T02:00:00+00:00 (4 windows at the fit)" in html
    assert "Calibration: flag r &lt; -3.01 (mirror rule; est. FPR 0, TPR 0.596" in html
    assert f"Note: {note}." in html
    rating = rep.summary.datasets[f"timeseries/{TS_RATED}"].rating
    assert rating.notes == [note] and rating.calibration.startswith("flag r < -3.01")
    calib["threshold"] = float("-inf")
    assert "no quality threshold" in calibration_statement(calib)


def test_diff_says_when_the_rater_changed_between_the_nights(tmp_path):
    write_night(tmp_path, 1)
    build_report(tmp_path, DATASETS, NIGHT1, previous=None)
    prev = find_previous_report(tmp_path / "reports", NIGHT2)
    write_night(tmp_path, 2)
    same = build_report(tmp_path, DATASETS, NIGHT2, previous=prev)
    assert same.diff.datasets[f"timeseries/{TS_RATED}"].flagged_note is None
    scores = tmp_path / "clean" / "timeseries" / TS_RATED / "scores.parquet"
    pl.read_parquet(scores).with_columns(rater_version=pl.lit("quality-net-refit")).write_parquet(
        scores
    )
    changed = build_report(tmp_path, DATASETS, NIGHT2, previous=prev)
    note = changed.diff.datasets[f"timeseries/{TS_RATED}"].flagged_note
    assert note.startswith("the rater changed since the previous night (rubric-1 → quality-net")
    assert "include the refit&#39;s changes, not only the data" in changed.html_path.read_text()
