"""Which Dagster executor runs the steps of a job: chosen by ``SIEVE_EXECUTOR`` at load time.

- unset or ``in_process``: ``dg.in_process_executor``: all steps of a run in the run's process
  (a partition's assets form a chain; a process start per step cost more than the assets).
- ``multiprocess``: Dagster's default (``multi_or_in_process_executor``): every step in its own
  process on the machine that runs the job.
- ``celery``: ``dagster_celery.celery_executor``: every step is a Celery task on the broker
  ``$SIEVE_CELERY_BROKER`` (e.g. ``redis://127.0.0.1:6379/0``), results on
  ``$SIEVE_CELERY_BACKEND`` (e.g. ``redis://127.0.0.1:6379/1``); workers are started with
  ``dagster-celery worker start -A dagster_celery.app -y pipelines/celery_worker.yaml``, which
  reads the same two variables. Both URLs are read when a run starts (Dagster ``env`` config),
  so a missing variable fails the run with its name.
- ``k8s``: ``dagster_k8s.k8s_job_executor``: every step a Kubernetes Job (configured by the
  instance's ``K8sRunLauncher``, ``pipelines/deploy/k8s/dagster.yaml``).

The instance must be shared by every process (Postgres storage) and ``SIEVE_DATA_DIR`` must be
the same path on every worker (a shared volume): steps hand data over as files. README
"Scaling out" has the commands.
"""

from __future__ import annotations

import os

import dagster as dg

EXECUTORS = ("in_process", "multiprocess", "celery", "k8s")

#: the executor config shared by the job side and the workers (pipelines/celery_worker.yaml)
CELERY_CONFIG = {
    "broker": {"env": "SIEVE_CELERY_BROKER"},
    "backend": {"env": "SIEVE_CELERY_BACKEND"},
    # one task at a time per worker process: a step can be long (training, judging)
    "config_source": {"worker_prefetch_multiplier": 1, "task_acks_late": True},
}


def celery_executor() -> dg.ExecutorDefinition:
    from dagster_celery import celery_executor as _celery

    return _celery.configured(CELERY_CONFIG, name="celery")


def k8s_executor() -> dg.ExecutorDefinition:
    from dagster_k8s import k8s_job_executor

    return k8s_job_executor


def executor_from_env(environ: dict[str, str] | None = None) -> dg.ExecutorDefinition | None:
    """The executor named by ``SIEVE_EXECUTOR``; ``None`` means Dagster's default (multiprocess)."""
    env = os.environ if environ is None else environ
    name = env.get("SIEVE_EXECUTOR", "").strip().lower() or "in_process"
    if name not in EXECUTORS:
        raise ValueError(f"SIEVE_EXECUTOR={name!r}: expected one of {', '.join(EXECUTORS)}")
    if name == "celery":
        return celery_executor()
    if name == "k8s":
        return k8s_executor()
    if name == "in_process":
        return dg.in_process_executor
    return None
