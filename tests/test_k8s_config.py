"""The dagster-k8s deployment config (pipelines/deploy/k8s/dagster.yaml) is accepted by Dagster.

Not run on a cluster: these tests build the K8sRunLauncher from the file (against a kubeconfig
that points nowhere; nothing is contacted), check the instance and Postgres storage config
against Dagster's own schemas, and resolve the definitions with the k8s step executor.
"""

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
K8S_YAML = REPO / "pipelines" / "deploy" / "k8s" / "dagster.yaml"

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters:
- cluster: {server: "https://127.0.0.1:1"}
  name: nowhere
contexts:
- context: {cluster: nowhere, user: nobody}
  name: nowhere
current-context: nowhere
users:
- name: nobody
  user: {token: not-a-token}
"""


def test_instance_config_passes_dagsters_schema(tmp_path):
    from dagster._core.instance.config import dagster_instance_config

    (tmp_path / "dagster.yaml").write_text(K8S_YAML.read_text())
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["run_launcher"]["class"] == "K8sRunLauncher"
    assert "postgres" in config["storage"]
    assert config["concurrency"]["pools"]["default_limit"] == 2


def test_run_launcher_is_built_from_the_file(tmp_path, monkeypatch):
    from dagster._serdes.config_class import ConfigurableClassData
    from dagster_k8s import K8sRunLauncher

    monkeypatch.setenv("SIEVE_IMAGE", "registry.example/sieve:1")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    launcher_cfg = yaml.safe_load(K8S_YAML.read_text())["run_launcher"]
    # outside a cluster: the same config, but the client reads a kubeconfig file
    cfg = {**launcher_cfg["config"], "load_incluster_config": False}
    cfg["kubeconfig_file"] = str(kubeconfig)
    launcher = ConfigurableClassData(
        launcher_cfg["module"], launcher_cfg["class"], yaml.safe_dump(cfg)
    ).rehydrate(as_type=K8sRunLauncher)
    assert launcher.job_image == "registry.example/sieve:1"
    assert launcher.job_namespace == "sieve"
    assert "SIEVE_DATA_DIR=/data/sieve" in launcher.env_vars
    assert "SIEVE_EXECUTOR=k8s" in launcher.env_vars
    mounts = {m["name"]: m["mountPath"] for m in launcher.volume_mounts}
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in launcher.volumes}
    assert mounts == {"sieve-data": "/data/sieve"} and claims == {"sieve-data": "sieve-data"}


def test_postgres_storage_config_is_valid(monkeypatch):
    from dagster._config import process_config
    from dagster_postgres import DagsterPostgresStorage

    storage = yaml.safe_load(K8S_YAML.read_text())["storage"]["postgres"]
    for key, value in {
        "SIEVE_PG_HOST": "db",
        "SIEVE_PG_PORT": "5432",
        "SIEVE_PG_DB": "sieve",
        "SIEVE_PG_USER": "sieve",
        "DAGSTER_PG_PASSWORD": "pw",
    }.items():
        monkeypatch.setenv(key, value)
    result = process_config(DagsterPostgresStorage.config_type(), storage)
    assert result.success, result.errors
    url = DagsterPostgresStorage.config_type  # the schema exists; the URL is built below
    assert url is not None
    from dagster_postgres.utils import pg_url_from_config

    assert pg_url_from_config(result.value) == "postgresql+psycopg2://sieve:pw@db:5432/sieve"


def test_definitions_resolve_with_the_k8s_executor():
    """`dagster definitions validate` loads the code location with SIEVE_EXECUTOR=k8s, and every
    job carries the k8s executor, whose run config takes the per-step pod settings."""
    env = {**os.environ, "SIEVE_EXECUTOR": "k8s", "DAGSTER_DISABLE_TELEMETRY": "1"}
    env.pop("DAGSTER_HOME", None)
    bin_dir = Path(sys.executable).parent
    cli = subprocess.run(
        [str(bin_dir / "dagster"), "definitions", "validate", "-m", "pipelines.definitions"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode == 0, cli.stdout[-2000:] + cli.stderr[-2000:]
    code = (
        "import dagster as dg\n"
        "from pipelines.definitions import defs\n"
        "for name in ('timeseries_job', 'images_job', 'quality_report_job'):\n"
        "    job = defs.resolve_job_def(name)\n"
        "    assert job.executor_def.name == 'k8s', job.executor_def.name\n"
        "job = defs.resolve_job_def('timeseries_job')\n"
        "cfg = {'execution': {'config': {'job_namespace': 'sieve', 'max_concurrent': 4,\n"
        "       'env_vars': ['SIEVE_DATA_DIR=/data/sieve'],\n"
        "       'step_k8s_config': {'container_config':\n"
        "           {'resources': {'limits': {'memory': '6Gi'}}}}}}}\n"
        "res = dg.validate_run_config(job, cfg)\n"
        "assert \"'job_namespace': 'sieve'\" in repr(res['execution']), res['execution']\n"
        "try:\n"
        "    dg.validate_run_config(job, {'execution': {'config': {'job_namespce': 'x'}}})\n"
        "    raise SystemExit('a misspelt executor field passed')\n"
        "except dg.DagsterInvalidConfigError:\n"
        "    pass\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]
