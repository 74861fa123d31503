"""Run configs built by benchmarks are valid for the jobs they launch: a renamed or removed
config field fails here, in the fast suite, rather than minutes into a benchmark."""

from __future__ import annotations

from pathlib import Path

import dagster as dg


def test_scale_out_run_config_is_valid_for_timeseries_job(tmp_path: Path):
    from benchmarks.scale_out import night_run_config
    from pipelines.definitions import defs

    job = defs.resolve_job_def("timeseries_job")
    cfg = night_run_config(tmp_path, "http://127.0.0.1:1/v1", max_pairs=4, judge_concurrency=2)
    assert dg.validate_run_config(job, cfg)

    broken = night_run_config(tmp_path, "http://127.0.0.1:1/v1", 4, 2)
    broken["ops"]["timeseries_scores"] = {"config": {"min_pairs": 4}}  # a field that is gone
    try:
        dg.validate_run_config(job, broken)
    except dg.DagsterInvalidConfigError:
        pass
    else:
        raise AssertionError("an unknown config field was accepted")
