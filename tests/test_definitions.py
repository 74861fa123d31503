import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from pipelines.definitions import defs

REPO = Path(__file__).resolve().parents[1]


def test_definitions_load_and_resolve():
    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {
        "timeseries_points",
        "timeseries_windows",
        "image_manifest",
        "image_embeddings",
        "image_labels_clean",
    } <= keys
    assert defs.resolve_job_def("timeseries_job") and defs.resolve_job_def("images_job")
    assert defs.resolve_sensor_def("dataset_folder_sensor")


def test_dagster_cli_validates_definitions(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "pipelines.definitions"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_ops_never_imports_dagster():
    code = (
        "import sys, ops.ingest.timeseries, ops.ingest.images, ops.tsrating.windows, ops.fileio, "
        "ops.contracts, ops.tables, ops.checks, ops.publish, ops.report; "
        "print('dagster' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert out.stdout.strip() == "False", out.stderr


def test_every_contract_file_is_written_by_an_asset_of_the_definitions():
    from ops.contracts import PUBLISHED_WINDOWS, SIDE_FILES, TABLES

    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    writers = {t.writer for t in (*TABLES, PUBLISHED_WINDOWS)} | {f.writer for f in SIDE_FILES}
    assert writers <= keys, writers - keys
