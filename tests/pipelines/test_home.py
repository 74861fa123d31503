"""``SIEVE_DAGSTER_HOME`` pointing at a folder that does not exist yet gets a working instance
with Sieve's config and its state under that folder; an existing home is never touched."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from pipelines.home import REPO_CONFIG, ensure_dagster_home

REPO = Path(__file__).resolve().parents[2]


def test_a_missing_home_is_created_with_the_repository_config_anchored_under_it(tmp_path):
    home = tmp_path / "new" / "home"
    note = ensure_dagster_home(home)
    assert note and str(home) in note
    cfg = yaml.safe_load((home / "dagster.yaml").read_text())
    repo = yaml.safe_load(REPO_CONFIG.read_text())
    assert cfg["storage"]["sqlite"]["base_dir"] == str(home / ".dagster" / "storage")
    assert cfg["concurrency"] == repo["concurrency"]  # same pools and run limits
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        instance.add_dynamic_partitions("probe", ["a"])
        assert instance.get_dynamic_partitions("probe") == ["a"]
    finally:
        instance.dispose()
    assert (home / ".dagster" / "storage").is_dir()  # the state went into the new home
    assert ensure_dagster_home(home) is None  # second call: nothing to do


def test_an_existing_home_is_left_alone_and_a_file_is_refused(tmp_path):
    (tmp_path / "mine.yaml").write_text("x: 1\n")
    assert ensure_dagster_home(tmp_path) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.yaml"]
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(SystemExit, match="not a folder"):
        ensure_dagster_home(f)


def test_cli_home_command_prepares_the_folder(tmp_path):
    home = tmp_path / "h"
    env = {"DAGSTER_HOME": str(home), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "pipelines.cli", "home"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "created Dagster home" in proc.stdout
    assert (home / "dagster.yaml").is_file()
