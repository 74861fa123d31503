"""The Postgres instance variant of dagster.yaml against a real PostgreSQL server on localhost.

`.ci/run` starts a throwaway server and sets SIEVE_TEST_PG_HOST/PORT/USER/DB (and
SIEVE_REQUIRE_SERVICES=1, so a missing server fails instead of skipping).
"""

import os
import re
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.postgres


def postgres_variant(yaml_text: str) -> str:
    """dagster.yaml with the commented Postgres block switched on and the SQLite one removed."""
    block = re.search(r"^# storage:\n(?:^#   .*\n)+", yaml_text, flags=re.M)
    assert block, "dagster.yaml has no commented Postgres storage block"
    postgres = "\n".join(line[2:] for line in block.group(0).splitlines()) + "\n"
    without_sqlite = re.sub(r"^storage:\n  sqlite:\n    base_dir: .*\n", "", yaml_text, flags=re.M)
    return without_sqlite + "\n" + postgres


def test_materialize_partition_on_postgres_instance(tmp_path, monkeypatch):
    if not os.environ.get("SIEVE_TEST_PG_HOST"):
        if os.environ.get("SIEVE_REQUIRE_SERVICES"):
            pytest.fail("SIEVE_TEST_PG_HOST not set: no PostgreSQL server for this test")
        pytest.skip("no PostgreSQL server (set SIEVE_TEST_PG_HOST/PORT/USER/DB; .ci/run does)")
    import dagster as dg

    from assets.resources import SieveSettings
    from pipelines.definitions import defs

    for key in ("HOST", "PORT", "USER", "DB"):
        monkeypatch.setenv(f"SIEVE_PG_{key}", os.environ[f"SIEVE_TEST_PG_{key}"])
    monkeypatch.setenv("SIEVE_PG_PASSWORD", os.environ.get("SIEVE_TEST_PG_PASSWORD", ""))
    home = tmp_path / "home"
    home.mkdir()
    yaml_text = postgres_variant((REPO / "dagster.yaml").read_text())
    yaml_text = yaml_text.replace(
        "base_dir: .dagster/", f"base_dir: {home}/"
    )  # keep artefacts out of the repo
    (home / "dagster.yaml").write_text(yaml_text)
    data = tmp_path / "data"
    shutil.copytree(
        REPO / "data" / "samples" / "timeseries" / "nab_traffic",
        data / "raw" / "timeseries" / "pg_series",
    )
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        instance.add_dynamic_partitions("timeseries_datasets", ["pg_series"])
        result = defs.resolve_job_def("timeseries_job").execute_in_process(
            partition_key="pg_series",
            instance=instance,
            resources={"settings": SieveSettings(data_dir=str(data))},
        )
        assert result.success
        stored = instance.get_run_by_id(result.run_id)
        assert stored is not None and stored.is_success
        assert "pg_series" in instance.get_dynamic_partitions("timeseries_datasets")
    assert (data / "published" / "timeseries" / "pg_series" / "windows.parquet").is_file()
