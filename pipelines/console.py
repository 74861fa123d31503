"""The console logger of every Sieve job: one line per step instead of Dagster's event stream.

Dagster's default console logger prints every event (step start, input loaded, output handled,
…) at DEBUG: 164 lines for the demo. This one prints, per step, one line with its time, the
rows it wrote and its checks, and under it the short note a step may put in its metadata
(``sieve/console_note``: e.g. that the rater was kept from an earlier night); a failed step or
check, and any WARNING or ERROR logged by the code, get their own line. The event log on the
instance is untouched: the UI shows everything.

``SIEVE_DAGSTER_LOG=DEBUG`` (or ``INFO``) brings back Dagster's own console logger at that level.
"""

from __future__ import annotations

import logging
import os
import sys

import dagster as dg

from assets._common import CONSOLE_NOTE
from ops.progress import fmt_seconds

ENV = "SIEVE_DAGSTER_LOG"
#: run config that selects this logger: Dagster instantiates a job's loggers only when the run
#: config names them (else it prints its own DEBUG stream), so every Sieve job and the command
#: line carry it
CONSOLE_RUN_CONFIG = {"loggers": {"console": {}}}
_META = "dagster_meta"  # the attribute Dagster puts on every log record it emits


def _write(line: str) -> None:
    """Print ``line`` to stdout above any progress bar (tqdm clears and redraws them)."""
    from tqdm import tqdm

    tqdm.write(line, file=sys.stdout)
    sys.stdout.flush()


def _rows(metadata) -> int | None:
    value = metadata.get("dagster/row_count")
    value = getattr(value, "value", value)
    return int(value) if isinstance(value, int | float) else None


class StepLines(logging.Handler):
    """Turns Dagster's log records into one line per finished step (see the module doc)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.rows: dict[str, int] = {}
        self.checks: dict[str, list[bool]] = {}
        self.notes: dict[str, list[str]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._emit(record)
        except Exception:  # a console line must never fail a run
            self.handleError(record)

    def _emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, _META, None) or {}
        event = meta.get("dagster_event")
        step = meta.get("step_key") or "run"
        if event is None:  # a message logged by the code (context.log, managed loggers)
            if record.levelno >= logging.WARNING:
                level = record.levelname.lower()
                _write(f"  {level}: {step}: {meta.get('orig_message', record.getMessage())}")
            return
        kind, data = event.event_type, event.event_specific_data
        if kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
            rows = _rows(data.materialization.metadata)
            if rows is not None:
                self.rows[step] = self.rows.get(step, 0) + rows
            note = data.materialization.metadata.get(CONSOLE_NOTE)
            if note is not None:
                self.notes.setdefault(step, []).append(str(getattr(note, "value", note)))
        elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            self.checks.setdefault(step, []).append(bool(data.passed))
            if not data.passed:
                severity = getattr(data.severity, "value", data.severity)
                _write(f"  check {data.check_name} FAILED ({severity}) on {step}")
        elif kind == dg.DagsterEventType.STEP_SUCCESS:
            parts = [f"  ok    {step:<26} {fmt_seconds(data.duration_ms / 1000):>7}"]
            if step in self.rows:
                parts.append(f"{self.rows[step]:>9,} rows")
            checks = self.checks.get(step)
            if checks:
                parts.append(f"checks {sum(checks)}/{len(checks)} passed")
            _write("  ".join(parts))
            for note in self.notes.pop(step, []):
                _write(f"        {note}")
        elif kind == dg.DagsterEventType.STEP_FAILURE:
            error = getattr(data, "error", None)
            while error is not None and getattr(error, "cause", None) is not None:
                error = error.cause  # the user's error, not Dagster's "Error occurred while …"
            message = (error.message.strip().splitlines() or [""])[-1] if error else ""
            _write(f"  FAIL  {step:<26} {message}")
        elif kind == dg.DagsterEventType.STEP_SKIPPED:
            _write(f"  skip  {step:<26} (an upstream step or blocking check failed)")
        elif kind == dg.DagsterEventType.RUN_FAILURE:
            _write(f"  run failed: {meta.get('orig_message', record.getMessage())}")


@dg.logger(description="Sieve's console: one line per step (SIEVE_DAGSTER_LOG=DEBUG for all)")
def sieve_console(init_context: dg.InitLoggerContext) -> logging.Logger:
    level = os.environ.get(ENV, "").strip().upper()
    if level:
        config = {"log_level": level, "name": "dagster"}
        return dg.colored_console_logger.logger_fn(dg.build_init_logger_context(config))
    out = logging.Logger("sieve.console", logging.DEBUG)
    out.addHandler(StepLines())
    return out
