"""What a partition launched from the UI costs, next to what its assets cost.

    .venv/bin/python -m benchmarks.ui_run_time [--dataset nab_traffic] [--repeats 1]

A UI launch runs the job with the executor the code location gives it (``execute_job`` of the
reconstructable job here, as the run worker does), on a fresh instance in a temporary
DAGSTER_HOME, over a copy of a bundled sample. Printed per repeat: the run's wall time, the sum
of its asset steps' own durations (STEP_SUCCESS), the other steps (checks) and the ratio
run / asset steps. The target (issue 14) is a ratio of 1.5 or less.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timeseries_job():
    from pipelines.definitions import defs

    return defs.resolve_job_def("timeseries_job")


def images_job():
    from pipelines.definitions import defs

    return defs.resolve_job_def("images_job")


def one_run(kind: str, dataset: str) -> dict[str, float]:
    import dagster as dg

    from pipelines import definitions

    with tempfile.TemporaryDirectory() as tmp:
        home, data = Path(tmp) / "home", Path(tmp) / "data"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        shutil.copytree(REPO / "data/samples" / kind / dataset, data / "raw" / kind / dataset)
        os.environ["SIEVE_DATA_DIR"] = str(data)
        job_fn = timeseries_job if kind == "timeseries" else images_job
        assets = {k.path[-1] for k in definitions.defs.resolve_all_asset_keys()}
        with dg.DagsterInstance.from_config(str(home)) as instance:
            instance.add_dynamic_partitions(f"{kind}_datasets", [dataset])
            start = time.perf_counter()
            result = dg.execute_job(
                dg.reconstructable(job_fn), instance, tags={"dagster/partition": dataset}
            )
            wall = time.perf_counter() - start
            assert result.success, f"run {result.run_id} failed"
            asset_s = other_s = 0.0
            for ev in result.all_events:
                if ev.event_type == dg.DagsterEventType.STEP_SUCCESS:
                    seconds = ev.event_specific_data.duration_ms / 1000
                    if ev.step_key in assets:
                        asset_s += seconds
                    else:
                        other_s += seconds
    return {"run_s": wall, "asset_steps_s": asset_s, "other_steps_s": other_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", default="timeseries", choices=["timeseries", "images"])
    ap.add_argument("--dataset", default="nab_traffic")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    print(f"{'run':>4} {'run wall s':>11} {'asset steps s':>14} {'check steps s':>14} {'ratio':>6}")
    for i in range(args.repeats):
        r = one_run(args.kind, args.dataset)
        ratio = r["run_s"] / r["asset_steps_s"]
        print(
            f"{i + 1:>4} {r['run_s']:>11.1f} {r['asset_steps_s']:>14.1f} "
            f"{r['other_steps_s']:>14.1f} {ratio:>6.2f}"
        )


if __name__ == "__main__":
    main()
