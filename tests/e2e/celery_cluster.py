"""A throwaway Sieve "cluster" for the Celery tests and the scale-out benchmark: a fresh Postgres
database as the Dagster instance, a Redis broker, and N ``dagster-celery`` worker processes.

Services come from the environment (``.ci/run`` sets them): ``SIEVE_TEST_PG_HOST/PORT/USER/DB``
(+ ``_PASSWORD``) and ``SIEVE_TEST_REDIS_URL`` (``redis://host:port``). Workers are the real
CLI (``dagster-celery worker start -A dagster_celery.app -y pipelines/celery_worker.yaml``),
each in its own process group so that stopping one stops its Celery children.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WORKER_YAML = REPO / "pipelines" / "celery_worker.yaml"


def postgres_variant(yaml_text: str) -> str:
    """dagster.yaml with the commented Postgres block switched on and the SQLite one removed
    (as tests/e2e/test_postgres.py does)."""
    block = re.search(r"^# storage:\n(?:^#   .*\n)+", yaml_text, flags=re.M)
    assert block, "dagster.yaml has no commented Postgres storage block"
    postgres = "\n".join(line[2:] for line in block.group(0).splitlines()) + "\n"
    without_sqlite = re.sub(r"^storage:\n  sqlite:\n    base_dir: .*\n", "", yaml_text, flags=re.M)
    return without_sqlite + "\n" + postgres


def missing_services() -> str | None:
    """Why the services are not there (None when they are)."""
    if not os.environ.get("SIEVE_TEST_PG_HOST"):
        return "no PostgreSQL server (set SIEVE_TEST_PG_HOST/PORT/USER/DB; .ci/run does)"
    if not os.environ.get("SIEVE_TEST_REDIS_URL"):
        return "no Redis broker (set SIEVE_TEST_REDIS_URL=redis://host:port; .ci/run does)"
    return None


def _pg_connect(db: str):
    import psycopg2

    con = psycopg2.connect(
        host=os.environ["SIEVE_TEST_PG_HOST"],
        port=int(os.environ["SIEVE_TEST_PG_PORT"]),
        user=os.environ["SIEVE_TEST_PG_USER"],
        password=os.environ.get("SIEVE_TEST_PG_PASSWORD", ""),
        dbname=db,
    )
    con.autocommit = True
    return con


@dataclass
class Cluster:
    home: Path
    env: dict[str, str]
    db: str
    redis_url: str
    workers: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def instance(self):
        """The shared instance, opened in this process (its config reads ``SIEVE_PG_*``)."""
        import dagster as dg

        keys = [k for k in self.env if k.startswith("SIEVE_PG_")]
        old = {k: os.environ.get(k) for k in keys}
        os.environ.update({k: self.env[k] for k in keys})
        try:
            return dg.DagsterInstance.from_config(str(self.home))
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def start_workers(self, n: int, concurrency: int = 1, timeout: float = 180.0) -> list[str]:
        """Start ``n`` worker processes (``--concurrency`` each) and wait until all answer a
        ping; returns their names."""
        names = [f"sieve{i}-{uuid.uuid4().hex[:6]}" for i in range(n)]  # the CLI adds @host
        for name in names:
            log = self.home / f"worker-{name}.log"
            self.logs.append(log)
            with open(log, "wb") as fh:
                self.workers.append(
                    subprocess.Popen(
                        [
                            str(BIN / "dagster-celery"),
                            "worker",
                            "start",
                            "-A",
                            "dagster_celery.app",
                            "-y",
                            str(WORKER_YAML),
                            "-n",
                            name,
                            "-l",
                            "INFO",
                            "--",
                            f"--concurrency={concurrency}",
                            "--without-gossip",
                            "--without-mingle",
                        ],
                        cwd=REPO,
                        env=self.env,
                        stdout=fh,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        prefixes = names
        deadline = time.time() + timeout
        app = self.celery_app()
        seen: set[str] = set()
        while time.time() < deadline:
            for p in self.workers:
                if p.poll() is not None:
                    raise RuntimeError(f"a celery worker exited: {self.tail_logs()}")
            replies = app.control.ping(timeout=1.0) or []
            seen = {k.split("@")[0] for r in replies for k in r}
            if all(p in seen for p in prefixes):
                return names
        raise RuntimeError(f"workers {prefixes} not ready after {timeout}s: {self.tail_logs()}")

    def celery_app(self):
        from celery import Celery

        return Celery(
            "sieve-test",
            broker=self.env["SIEVE_CELERY_BROKER"],
            backend=self.env["SIEVE_CELERY_BACKEND"],
        )

    def worker_pids(self) -> list[list[int]]:
        """Per worker: the pids of its process group (the CLI, celery main, pool children)."""
        out = []
        for p in self.workers:
            pgid = os.getpgid(p.pid) if p.poll() is None else None
            pids = []
            for d in Path("/proc").iterdir():
                if d.name.isdigit():
                    try:
                        if pgid is not None and os.getpgid(int(d.name)) == pgid:
                            pids.append(int(d.name))
                    except (ProcessLookupError, PermissionError):
                        pass
            out.append(pids)
        return out

    def tail_logs(self, n: int = 3000) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-n:]}" for log in self.logs)

    def stop_workers(self) -> None:
        for p in self.workers:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.workers:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
        # the celery main may outlive the CLI process briefly: wait for the group to empty
        deadline = time.time() + 30
        while time.time() < deadline and any(self.worker_pids()):
            time.sleep(0.2)
        self.workers.clear()

    def execute(self, job: str, partition: str, run_config_path: Path) -> subprocess.Popen:
        """``dagster job execute`` of one partition in a fresh process (the launching side,
        as a run worker would), with this cluster's environment."""
        return subprocess.Popen(
            [
                str(BIN / "dagster"),
                "job",
                "execute",
                "-m",
                "pipelines.definitions",
                "-a",
                "defs",
                "-j",
                job,
                "-c",
                str(run_config_path),
                "--tags",
                f'{{"dagster/partition": "{partition}"}}',
            ],
            cwd=REPO,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )


def make_cluster(root: Path, redis_db: int = 0, executor: str = "celery") -> Cluster:
    """A fresh Postgres database and instance home under ``root``; Redis DBs ``redis_db`` (broker)
    and ``redis_db + 1`` (results), flushed."""
    import redis

    db = f"sieve_celery_{uuid.uuid4().hex[:10]}"
    con = _pg_connect(os.environ["SIEVE_TEST_PG_DB"])
    con.cursor().execute(f"CREATE DATABASE {db}")
    con.close()
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    text = postgres_variant((REPO / "dagster.yaml").read_text())
    (home / "dagster.yaml").write_text(text.replace("base_dir: .dagster/", f"base_dir: {home}/"))
    base = os.environ["SIEVE_TEST_REDIS_URL"].rstrip("/")
    for n in (redis_db, redis_db + 1):
        redis.Redis.from_url(f"{base}/{n}").flushdb()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "SIEVE_PG_HOST": os.environ["SIEVE_TEST_PG_HOST"],
        "SIEVE_PG_PORT": os.environ["SIEVE_TEST_PG_PORT"],
        "SIEVE_PG_USER": os.environ["SIEVE_TEST_PG_USER"],
        "SIEVE_PG_PASSWORD": os.environ.get("SIEVE_TEST_PG_PASSWORD", ""),
        "SIEVE_PG_DB": db,
        "SIEVE_EXECUTOR": executor,
        "SIEVE_CELERY_BROKER": f"{base}/{redis_db}",
        "SIEVE_CELERY_BACKEND": f"{base}/{redis_db + 1}",
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "PYTHONPATH": str(REPO),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # the CLI runs `celery`
    }
    cluster = Cluster(home=home, env=env, db=db, redis_url=base)
    with cluster.instance():  # create the schema once, before several processes race to
        pass
    return cluster


def drop_cluster(cluster: Cluster) -> None:
    cluster.stop_workers()
    con = _pg_connect(os.environ["SIEVE_TEST_PG_DB"])
    con.cursor().execute(f"DROP DATABASE IF EXISTS {cluster.db} WITH (FORCE)")
    con.close()
