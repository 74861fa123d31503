"""On-disk judgment cache: SQLite in WAL mode, safe with concurrent writers (threads and processes).

Key (:func:`judgment_key`) = sha256 of canonical JSON of: template version + template
sha256, model, criterion, decoding params, the content hash of the window shown as
``[Option A]`` and of the one shown as ``[Option B]`` (the order is the position of the two
hashes). Value = the :class:`~ops.tsrating.judge_base.Answer` as JSON. Only final answers
(``ok`` and ``unparseable``) are stored; transient errors and budget stops are not.

Concurrent writers: SQLite's own busy timeout waits for a lock; beyond it a ``database is
locked`` / ``busy`` error is retried with exponential backoff (tenacity: 10 ms doubling up to
0.5 s) until ``busy_timeout_s`` has passed since the first attempt. Several Celery workers on
one machine (or on a volume with working POSIX locks) share the file safely: tested with two
workers judging at once (tests/e2e/test_celery.py). SQLite over NFS is not safe; there, give each
worker a cache on its local disk.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

from ops.hashing import sha256_hex

SCHEMA_VERSION = 1


def judgment_key(
    identity: Mapping[str, Any], criterion: str, hash_shown_a: str, hash_shown_b: str
) -> str:
    payload = {
        "schema": SCHEMA_VERSION,
        "template_version": identity["template_version"],
        "template_sha256": identity["template_sha256"],
        "model": identity["model"],
        "params": identity.get("params", {}),
        "criterion": criterion,
        "option_a": hash_shown_a,
        "option_b": hash_shown_b,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return sha256_hex(blob)


def _is_lock_error(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and (
        "locked" in str(exc) or "busy" in str(exc)
    )


class JudgmentCache:
    """A key -> JSON store in one SQLite file. One connection per thread; WAL journal;
    writes retried on ``database is locked`` beyond SQLite's own busy timeout."""

    def __init__(self, path: str | os.PathLike, busy_timeout_s: float = 60.0):
        self.path = Path(path).expanduser().resolve()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        with self._conn() as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS judgments (key TEXT PRIMARY KEY, value TEXT NOT NULL,"
                " created_at REAL NOT NULL)"
            )

    def _conn(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None or getattr(self._local, "pid", None) != os.getpid():
            con = sqlite3.connect(str(self.path), timeout=self.busy_timeout_s, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
            self._local.con, self._local.pid = con, os.getpid()
        return con

    def _retry(self, fn, *args):
        """``fn(*args)``, retried while SQLite reports a lock (see the module docstring)."""
        retrying = Retrying(
            retry=retry_if_exception(_is_lock_error),
            stop=stop_after_delay(self.busy_timeout_s),
            wait=wait_exponential(multiplier=0.01, max=0.5),
            reraise=True,
        )
        return retrying(fn, *args)

    def get_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        keys = list(dict.fromkeys(keys))
        out: dict[str, dict[str, Any]] = {}
        con = self._conn()
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            q = f"SELECT key, value FROM judgments WHERE key IN ({','.join('?' * len(chunk))})"
            for k, v in self._retry(lambda q, chunk: con.execute(q, chunk).fetchall(), q, chunk):
                out[k] = json.loads(v)
        return out

    def get(self, key: str) -> dict[str, Any] | None:
        return self.get_many([key]).get(key)

    def put_many(self, items: Mapping[str, Mapping[str, Any]]) -> None:
        if not items:
            return
        now = time.time()
        rows = [(k, json.dumps(v, sort_keys=True), now) for k, v in items.items()]
        con = self._conn()

        def write():
            con.execute("BEGIN IMMEDIATE")
            try:
                con.executemany(
                    "INSERT OR REPLACE INTO judgments (key, value, created_at) VALUES (?, ?, ?)",
                    rows,
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

        self._retry(write)

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        self.put_many({key: value})

    def __len__(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM judgments").fetchone()[0])

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None
