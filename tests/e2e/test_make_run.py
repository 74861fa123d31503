"""`make run DATASET=...` with SIEVE_DATA_DIR outside the repository, as a user runs it."""

import os
import shutil
import subprocess
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"


def _make(*args, env):
    return subprocess.run(
        ["make", "-s", "-C", str(REPO), *args], env=env, capture_output=True, text=True, timeout=600
    )


def test_make_run_uses_sieve_data_dir(tmp_path):
    data = tmp_path / "elsewhere"
    shutil.copytree(FIXTURES / "bad_timeseries", data / "raw" / "timeseries" / "user_series")
    images = data / "raw" / "images" / "user_images"
    for i in range(6):  # an ImageFolder tree: two classes and one broken file
        (images / ("cat" if i % 2 else "dog")).mkdir(parents=True, exist_ok=True)
        shutil.copy(
            FIXTURES / "bad_images" / "img" / f"good_{i}.png",
            images / ("cat" if i % 2 else "dog") / f"{i}.png",
        )
    shutil.copy(FIXTURES / "bad_images" / "img" / "truncated.png", images / "cat" / "broken.png")
    env = {**os.environ, "SIEVE_DATA_DIR": str(data), "SIEVE_DAGSTER_HOME": str(tmp_path / "home")}
    (tmp_path / "home").mkdir()
    for name in ("user_series", "user_images"):
        out = _make("run", f"DATASET={name}", env=env)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        assert f"{name}: ok" in out.stdout
    assert (data / "clean" / "timeseries" / "user_series" / "windows.parquet").is_file()
    labels = pl.read_parquet(data / "clean" / "images" / "user_images" / "labels.parquet")
    assert labels.height == 7 and labels["action"].to_list().count("quarantined") == 1
    assert (data / "published" / "images" / "user_images" / "labels.parquet").is_file()
    assert not (REPO / "data" / "clean" / "timeseries" / "user_series").exists()
    # the runs were recorded on the instance in SIEVE_DAGSTER_HOME
    assert (tmp_path / "home" / "history" / "runs.db").is_file() or any(
        (tmp_path / "home").rglob("*.db")
    )


def test_make_run_unknown_dataset_is_a_clear_error(tmp_path):
    env = {**os.environ, "SIEVE_DATA_DIR": str(tmp_path), "SIEVE_DAGSTER_HOME": str(tmp_path)}
    out = _make("run", "DATASET=nope", env=env)
    assert out.returncode != 0
    assert "dataset 'nope' not found" in out.stderr
