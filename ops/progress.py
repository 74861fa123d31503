"""Progress for people: a bar with ETA on the terminal, the same progress as INFO log lines.

A long loop (label-training folds and epochs, judging batches, rater training) opens a bar and
advances it; nothing else changes in its signature::

    with progress.bar("rater", total=n_epochs, unit="epoch") as b:
        for ...:
            ...
            b.update()          # or progress.advance() from a function deeper down

A top-level bar logs one INFO line when it starts, one every ``SIEVE_PROGRESS_LOG_S`` seconds
(default 15) with count, elapsed time and ETA, and one when it ends: to the Python logger
``sieve.progress`` (the Dagster instance captures the ``sieve`` loggers as INFO events of the
step running, see dagster.yaml ``python_logs``), or to the function given by
``with progress.reporting(log): ...``. The terminal bar (tqdm, on stderr) redraws in place and
disappears when done; it is drawn only when stderr is a terminal (``SIEVE_PROGRESS=1`` forces
it, ``0`` turns it off), so captured output (tests, compute logs of UI runs) gets the log lines
only. Bars nest: an inner bar (the epochs of one fold) draws below its parent and never logs.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import IO

Log = Callable[[str], None]

LOGGER = logging.getLogger("sieve.progress")
_SINK: ContextVar[Log | None] = ContextVar("sieve_progress_sink", default=None)
_STACK: ContextVar[tuple[Bar, ...]] = ContextVar("sieve_progress_stack", default=())


def log_interval() -> float:
    """Seconds between two INFO lines of a running bar (``SIEVE_PROGRESS_LOG_S``, default 15)."""
    return float(os.environ.get("SIEVE_PROGRESS_LOG_S", "15"))


def terminal_enabled(stream: IO[str]) -> bool:
    """Whether to draw bars on ``stream``: ``SIEVE_PROGRESS`` = 1 / 0, else only on a tty."""
    flag = os.environ.get("SIEVE_PROGRESS", "").strip().lower()
    if flag in ("0", "false", "off", "no"):
        return False
    if flag in ("1", "true", "on", "yes"):
        return True
    return bool(getattr(stream, "isatty", lambda: False)())


@contextmanager
def reporting(log: Log | None) -> Iterator[None]:
    """Send the INFO lines of every bar opened inside the block to ``log``."""
    token = _SINK.set(log)
    try:
        yield
    finally:
        _SINK.reset(token)


def fmt_seconds(s: float) -> str:
    """``75.3`` -> ``"1m15s"``, ``9.2`` -> ``"9.2s"``."""
    if s < 60:
        return f"{s:.1f}s"
    m, sec = divmod(int(round(s)), 60)
    return f"{m}m{sec:02d}s" if m < 60 else f"{m // 60}h{m % 60:02d}m"


class Bar:
    """One progress bar (use :func:`bar`). ``total`` may be ``None`` (count only, no ETA)."""

    def __init__(
        self,
        desc: str,
        total: int | None,
        unit: str,
        *,
        log: Log | None,
        depth: int,
        stream: IO[str] | None = None,
    ) -> None:
        self.desc, self.total, self.unit, self.depth = desc, total, unit, depth
        self.n = 0
        self.note = ""
        self.log = (log or LOGGER.info) if depth == 0 else None  # nested: the parent logs
        self.start = self.last_log = time.perf_counter()
        self._tqdm = None
        self._token: Token | None = None  # set by start(): the stack entry close() removes
        stream = stream or sys.stderr
        if terminal_enabled(stream):
            from tqdm import tqdm

            self._tqdm = tqdm(
                total=total,
                desc=desc,
                unit=f" {unit}",
                file=stream,
                position=depth,
                leave=False,
                dynamic_ncols=True,
                mininterval=0.5,
                bar_format="{desc}: {percentage:3.0f}%|{bar:20}| {n_fmt}/{total_fmt}{unit} "
                "[{elapsed}<{remaining}]{postfix}"
                if total
                else None,
            )
        if self.log is not None:
            self.log(f"{desc}: started" + (f", {total} {unit}s" if total else ""))

    # -- advancing -------------------------------------------------------------------------
    def update(self, n: int = 1, note: str | None = None) -> None:
        """Advance by ``n``; ``note`` (e.g. the last loss) is shown after the bar."""
        self.set(self.n + n, note)

    def set(self, n: int, note: str | None = None) -> None:
        """Move to ``n`` done (for loops that know their absolute position)."""
        n = int(n)
        step, self.n = n - self.n, n
        if note is not None:
            self.note = note
        if self._tqdm is not None:
            if note is not None:
                self._tqdm.set_postfix_str(note, refresh=False)
            self._tqdm.update(step)
        now = time.perf_counter()
        if self.log is not None and now - self.last_log >= log_interval():
            self.last_log = now
            self.log(self.status(now))

    # -- text ------------------------------------------------------------------------------
    def eta(self, now: float | None = None) -> float | None:
        """Seconds left at the rate so far (``None`` before the first step or without total)."""
        elapsed = (now or time.perf_counter()) - self.start
        if not self.total or self.n <= 0:
            return None
        return max(0.0, elapsed / self.n * (self.total - self.n))

    def status(self, now: float | None = None) -> str:
        """``"rater: 40/80 epochs (50%), 12.0s elapsed, ETA 12.0s"``."""
        now = now or time.perf_counter()
        done = f"{self.n}/{self.total}" if self.total else str(self.n)
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        eta = self.eta(now)
        text = f"{self.desc}: {done} {self.unit}s{pct}, {fmt_seconds(now - self.start)} elapsed"
        text += f", ETA {fmt_seconds(eta)}" if eta is not None else ""
        return text + (f" - {self.note}" if self.note else "")

    def close(self) -> None:
        if self._token is not None:
            _STACK.reset(self._token)
            self._token = None
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None
        if self.log is not None:
            done = f"{self.n}/{self.total}" if self.total else str(self.n)
            elapsed = fmt_seconds(time.perf_counter() - self.start)
            self.log(
                f"{self.desc}: done, {done} {self.unit}s in {elapsed}"
                + (f" - {self.note}" if self.note else "")
            )
            self.log = None


@contextmanager
def bar(
    desc: str, total: int | None = None, unit: str = "step", stream: IO[str] | None = None
) -> Iterator[Bar]:
    """Open a bar for the block: drawn on the terminal, logged to the :func:`reporting` sink
    when it is the outermost bar. :func:`advance` moves the innermost open bar."""
    stack = _STACK.get()
    b = Bar(desc, total, unit, log=_SINK.get(), depth=len(stack), stream=stream)
    token = _STACK.set((*stack, b))
    try:
        yield b
    finally:
        _STACK.reset(token)
        b.close()


def start(desc: str, total: int | None = None, unit: str = "step") -> Bar:
    """:func:`bar` for a loop that is not wrapped in ``with``: call ``close()`` after it (in the
    same function). Until then it is the innermost bar (:func:`advance` moves it)."""
    stack = _STACK.get()
    b = Bar(desc, total, unit, log=_SINK.get(), depth=len(stack))
    b._token = _STACK.set((*stack, b))
    return b


def advance(n: int = 1, note: str | None = None) -> None:
    """Advance the innermost open bar (no-op when none is open)."""
    stack = _STACK.get()
    if stack:
        stack[-1].update(n, note)
