"""Sieve run as a new user on 29 real time-series files it was not built on, one folder each.

    pip download aeon==1.6.0 statsmodels==0.15.0 river==0.26.1 --no-deps --only-binary=:all: -d DIR
    (cd DIR && for w in *.whl; do unzip -qo "$w" 'aeon/datasets/data/*' \\
        'statsmodels/datasets/*' 'river/datasets/*' 'river/drift/datasets/*'; done)
    .venv/bin/python -m benchmarks.new_user_runs --wheels DIR [--only lynx,ucr135]

Each file is copied as it ships into ``raw/timeseries/<name>/`` of a temporary data folder and
run with ``python -m pipelines.cli run <name>`` (what ``make run DATASET=<name>`` does), one
temporary Dagster instance for all. Printed per dataset: exit code, records in, published,
quarantined, windows flagged and the mean quality, as the run's own summary line reports them,
and for files with a labelled ``is_anomaly`` column, how many flagged windows hold a labelled
anomaly. The README's "New-user runs" table is this script's output before and after the
ingest fixes of 2026-12-01.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks.scratch_instance import scratch_instance

REPO = Path(__file__).resolve().parents[1]
AEON = "aeon/datasets/data"
SM = "statsmodels/datasets"
RIVER = "river/datasets"
DRIFT = "river/drift/datasets"
FILES = {
    "airline": f"{AEON}/Airline/Airline.csv",
    "lynx": f"{AEON}/Lynx/Lynx.csv",
    "shampoosales": f"{AEON}/ShampooSales/ShampooSales.csv",
    "longley": f"{AEON}/Longley/Longley.csv",
    "pbs_dataset": f"{AEON}/PBS_dataset/PBS_dataset.csv",
    "uschange": f"{AEON}/Uschange/Uschange.csv",
    "solar": f"{AEON}/solar/solar.csv",
    "daphnet": f"{AEON}/Daphnet_S06R02E0/S06R02E0.csv",
    "ucr135": f"{AEON}/KDD-TSAD_135/135_UCR_Anomaly_InternalBleeding16_TEST.csv",
    "ecgdiff": f"{AEON}/UnitTest/ecg-diff-count-3_TEST.csv",
    "m1": f"{AEON}/m1_yearly_dataset/m1_yearly_dataset.tsf",
    "sm_macrodata": f"{SM}/macrodata/macrodata.csv",
    "sm_elec_equip": f"{SM}/elec_equip/elec_equip.csv",
    "sm_nile": f"{SM}/nile/nile.csv",
    "sm_copper": f"{SM}/copper/copper.csv",
    "sm_danish_data": f"{SM}/danish_data/data.csv",
    "sm_grunfeld": f"{SM}/grunfeld/grunfeld.csv",
    "sm_interest_inflation": f"{SM}/interest_inflation/E6.csv",
    "rv_water_flow": f"{RIVER}/water-flow.csv",
    "rv_airline_passengers": f"{RIVER}/airline-passengers.csv",
    "rv_chick_weights": f"{RIVER}/chick-weights.csv",
    "rv_sp500": f"{RIVER}/sp500.csv.gz",
    "rv_trump_approval": f"{RIVER}/trump_approval.csv.gz",
    "rv_apple": f"{DRIFT}/apple.csv",
    "rv_bitcoin": f"{DRIFT}/bitcoin.csv",
    "rv_brent_crude_oil": f"{DRIFT}/brent_crude_oil.csv",
    "rv_occupancy": f"{DRIFT}/occupancy.csv",
    "rv_run_log": f"{DRIFT}/run_log.csv",
    "rv_uk_coal_employment": f"{DRIFT}/uk_coal_employment.csv",
}


def summary_row(text: str, name: str) -> list[str]:
    """The run summary's cells for ``timeseries/<name>`` (rows in, published, quarantined,
    flagged, relabeled, score), or ``[]``."""
    for line in text.splitlines():
        if line.strip().startswith(f"timeseries/{name} "):
            cells = re.split(r"\s{2,}", line.strip())
            return cells[1:]
    return []


def anomaly_hits(src: Path, published: Path) -> str:
    """``k of m`` flagged windows that hold a row labelled ``is_anomaly = 1`` (single-series
    files with a 0, 1, 2 … index, as the UCR/KDD layout has), else ``""``."""
    try:
        raw = pl.read_csv(src, infer_schema_length=10000)
    except Exception:  # noqa: BLE001 - not every file is a plain CSV
        return ""
    if "is_anomaly" not in raw.columns or not (published / "windows.parquet").is_file():
        return ""
    label = raw["is_anomaly"].to_numpy()
    w = pl.read_parquet(published / "windows.parquet").filter(pl.col("is_low_quality_issue"))
    hits = sum(
        bool(label[s : s + n].any())
        for s, n in zip(w["start_index"].to_list(), w["n_points"].to_list(), strict=True)
    )
    idx = np.flatnonzero(label)
    return f"{hits} of {w.height} flagged windows on labelled anomalies ({len(idx)} labelled rows)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheels", required=True, help="folder with the unzipped wheel trees")
    ap.add_argument("--only", default="", help="comma-separated dataset names")
    args = ap.parse_args()
    root = Path(args.wheels)
    names = [n for n in FILES if not args.only or n in args.only.split(",")]
    missing = [FILES[n] for n in names if not (root / FILES[n]).is_file()]
    if missing:
        sys.exit(f"not under {root}: {missing[:3]} … (see this script's docstring)")
    with scratch_instance() as (env, data):
        print("| dataset | file | exit | rows in | published | quarantined | flagged | score |")
        print("|---|---|---|---|---|---|---|---|")
        notes = []
        for name in names:
            src = root / FILES[name]
            folder = data / "raw" / "timeseries" / name
            folder.mkdir(parents=True)
            shutil.copy(src, folder / src.name)
            out = subprocess.run(
                [sys.executable, "-m", "pipelines.cli", "run", name],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
            )
            text = out.stdout + out.stderr
            cells = summary_row(text, name)
            cells = (cells + ["-"] * 6)[:6]
            print(
                f"| {name} | {FILES[name].split('/')[-1]} | {out.returncode} | "
                + " | ".join([cells[0], cells[1], cells[2], cells[3], cells[5]])
                + " |",
                flush=True,
            )
            for line in text.splitlines():
                if "warning: timeseries_points" in line or line.strip().startswith("FAIL"):
                    notes.append(f"{name}: {line.strip()[:200]}")
            hits = anomaly_hits(src, data / "published" / "timeseries" / name)
            if hits:
                notes.append(f"{name}: {hits}")
        for note in notes:
            print(note)


if __name__ == "__main__":
    main()
