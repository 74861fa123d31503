"""Reclaim what a crashed run left on the instance: its run status and its pool slots.

A run worker killed with ``kill -9`` cannot report its own end: the run stays ``STARTED`` and
every concurrency-pool slot its steps claimed (pool ``llm`` for the judgments) stays claimed,
so later runs wait forever on "Step blocked by limit for pool llm". Dagster's own run
monitoring (``dagster.yaml`` ``run_monitoring``) frees the slots of *finished* runs
(``free_slots_after_run_end_seconds``) but cannot tell that a run launched by the default run
launcher or executed in process died, so this module does that part:

- :func:`run_owner_tags` -- the tags ``sieve run`` puts on its runs: the host, the pid and the
  pid's start time (``/proc/<pid>/stat``), so a pid reused by another process is not taken
  for the run's;
- :func:`dead_runs` -- unfinished runs (``STARTING``, ``STARTED``, ``CANCELING``) whose worker
  process is known and gone: found from those tags, or from the run worker's engine event
  "Started process for run (pid: N)" that Dagster writes for runs launched by the default
  (local-process) run launcher -- with any other launcher only the host-checked tags count;
- :func:`reclaim` -- marks each dead run failed (``report_run_failed``, with the reason) and
  frees its slots (``event_log_storage.free_concurrency_slots_for_run``); it also frees
  slots still held by runs that already finished.

``python -m pipelines.cli reclaim`` runs it; ``sieve run`` runs it before each run; the
``reclaim_dead_runs_sensor`` runs it every minute under the daemon (``make ui``). A run whose
process cannot be identified (another host, no pid recorded) is never touched. The command and
the sensor also drop registered partitions whose key is not a valid dataset name
(:func:`drop_invalid_partitions`).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dagster._core.launcher import DefaultRunLauncher

from assets.partitions import PARTITIONS_BY_KIND
from ops.paths import is_valid_dataset_name

TAG_HOST = "sieve/host"
TAG_PID = "sieve/pid"
TAG_PID_START = "sieve/pid_start"
UNFINISHED = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (``None`` without ``/proc``)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    return stat.rsplit(")", 1)[1].split()


def _proc_start_time(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot (``/proc``), ``None`` if unknown."""
    fields = _proc_stat(pid)
    return fields[19] if fields else None


def _alive(pid: int, start_time: str | None = None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    if start_time is not None:
        now = _proc_start_time(pid)
        if now is not None and now != start_time:
            return False  # the pid was reused by another process
    fields = _proc_stat(pid)  # a zombie has exited; its parent has not reaped it yet
    return fields is None or fields[0] != "Z"


def run_owner_tags() -> dict[str, str]:
    """Tags identifying the current process as a run's worker."""
    pid = os.getpid()
    tags = {TAG_HOST: socket.gethostname(), TAG_PID: str(pid)}
    start = _proc_start_time(pid)
    if start is not None:
        tags[TAG_PID_START] = start
    return tags


def _engine_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid from the run worker's "Started process for run" engine event, if any."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, limit=50
    ).records
    for rec in records:
        entry = rec.event_log_entry
        text = entry.user_message or (entry.dagster_event.message if entry.dagster_event else "")
        if "Started process for run" not in (text or ""):
            continue
        meta = entry.dagster_event.engine_event_data.metadata if entry.dagster_event else {}
        pid = meta.get("pid")
        value = getattr(pid, "value", pid)
        if value is not None and str(value).isdigit():
            return int(value)
    return None


@dataclass(frozen=True)
class DeadRun:
    run_id: str
    status: str
    pid: int
    how: str  # "sieve tags" | "engine event"


def dead_runs(instance: dg.DagsterInstance) -> list[DeadRun]:
    """Unfinished runs on this host whose worker process no longer exists."""
    host = socket.gethostname()
    # Dagster's "Started process" pid is a local pid only for the default (local) launcher; with
    # a container launcher the worker runs elsewhere and only the Sieve tags (host-checked) count
    local_launcher = isinstance(instance.run_launcher, DefaultRunLauncher)
    out = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=UNFINISHED)):
        run = record.dagster_run
        tags = run.tags
        if TAG_PID in tags:
            if tags.get(TAG_HOST) != host or not tags[TAG_PID].isdigit():
                continue
            pid = int(tags[TAG_PID])
            if not _alive(pid, tags.get(TAG_PID_START)):
                out.append(DeadRun(run.run_id, run.status.value, pid, "sieve tags"))
            continue
        pid = _engine_pid(instance, run.run_id) if local_launcher else None
        if pid is not None and not _alive(pid):
            out.append(DeadRun(run.run_id, run.status.value, pid, "engine event"))
    return out


@dataclass
class ReclaimResult:
    failed_runs: list[DeadRun]
    freed_slots: dict[str, int]  # run id -> slots freed

    def summary(self) -> str:
        if not self.failed_runs and not self.freed_slots:
            return "nothing to reclaim"
        parts = [f"run {d.run_id} (pid {d.pid} gone) marked failed" for d in self.failed_runs]
        parts += [f"{n} pool slot(s) of run {r} freed" for r, n in self.freed_slots.items() if n]
        return "; ".join(parts) or "nothing to reclaim"


def _slots_by_run(storage) -> dict[str, int]:
    """How many pool slots each run holds now, over every pool."""
    counts: dict[str, int] = {}
    keys = sorted(storage.get_concurrency_keys())
    for info in storage.get_concurrency_infos(keys).values():
        for slot in info.claimed_slots:
            counts[slot.run_id] = counts.get(slot.run_id, 0) + 1
    return counts


def reclaim(instance: dg.DagsterInstance) -> ReclaimResult:
    """Fail the runs whose worker died and free every slot held by a run that is not running."""
    dead = dead_runs(instance)
    for d in dead:
        run = instance.get_run_by_id(d.run_id)
        if run is None or run.status not in UNFINISHED:
            continue
        instance.report_run_failed(
            run,
            message=f"run worker (pid {d.pid}, found by {d.how}) is gone: the process was "
            "killed; marked failed by Sieve's reclaim and its pool slots freed",
        )
    freed: dict[str, int] = {}
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        holders = storage.get_concurrency_run_ids()
        if holders:
            running = {
                r.dagster_run.run_id
                for r in instance.get_run_records(
                    filters=dg.RunsFilter(run_ids=list(holders), statuses=UNFINISHED)
                )
            }
            stale = sorted(set(holders) - running)
            if stale:
                held = _slots_by_run(storage)
                for run_id in stale:
                    storage.free_concurrency_slots_for_run(run_id)  # also drops pending claims
                    freed[run_id] = held.get(run_id, 0)
    return ReclaimResult(dead, freed)


def drop_invalid_partitions(instance: dg.DagsterInstance) -> list[str]:
    """Delete registered dataset partitions whose key is not a valid dataset name (e.g. ``..``,
    registered before names were validated), so the nightly schedules stop re-running them."""
    dropped = []
    for partitions in PARTITIONS_BY_KIND.values():
        for key in instance.get_dynamic_partitions(partitions.name):
            if not is_valid_dataset_name(key):
                instance.delete_dynamic_partition(partitions.name, key)
                dropped.append(key)
    return dropped


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks runs whose worker process died (kill -9, OOM) as failed and frees the "
    "concurrency-pool slots they held, so no later run waits on a slot nobody will release.",
)
def reclaim_dead_runs_sensor(context: dg.SensorEvaluationContext):
    result = reclaim(context.instance)
    dropped = drop_invalid_partitions(context.instance)
    extra = f"; dropped invalid partition keys {dropped}" if dropped else ""
    return dg.SkipReason(result.summary() + extra)
