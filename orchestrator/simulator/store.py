"""The simulator's storage: one SQLite file, its schema, one lock, ids and the request log.

The file outlives the process, so an orchestrator (or simulator) restart sees the same HITs,
assignments, tokens and payments. Every write runs in :meth:`SimStore.tx` under one re-entrant
lock (the HTTP server is threaded; SQLite's own locking would answer ``database is locked``).
The operation mixins (:mod:`hit_ops`, :mod:`review_ops`, :mod:`workforce_ops`,
:mod:`simulated_crowd`) build on this class and on nothing else of each other.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import numpy as np

from orchestrator.simulator import ledger
from orchestrator.simulator.config import SimulatorConfig
from orchestrator.simulator.errors import request_error
from orchestrator.simulator.workers import SimWorker, make_pool, random_id

SCHEMA = """
CREATE TABLE IF NOT EXISTS hit_types (id TEXT PRIMARY KEY, spec TEXT NOT NULL, created REAL);
CREATE TABLE IF NOT EXISTS hits (
  id TEXT PRIMARY KEY, hit_type_id TEXT NOT NULL, token TEXT UNIQUE, annotation TEXT,
  question TEXT NOT NULL, max_assignments INTEGER NOT NULL, created REAL NOT NULL,
  expiration REAL NOT NULL, disposed INTEGER NOT NULL DEFAULT 0, item_key TEXT,
  options TEXT, current_label TEXT, seq INTEGER NOT NULL, draw_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS slots (
  id INTEGER PRIMARY KEY AUTOINCREMENT, hit_id TEXT NOT NULL, slot_no INTEGER NOT NULL,
  due REAL NOT NULL, no_show INTEGER NOT NULL, state TEXT NOT NULL, assignment_id TEXT,
  UNIQUE(hit_id, slot_no));
CREATE TABLE IF NOT EXISTS assignments (
  id TEXT PRIMARY KEY, hit_id TEXT NOT NULL, worker_id TEXT NOT NULL, status TEXT NOT NULL,
  answer TEXT, accept_time REAL, submit_time REAL, approval_time REAL, rejection_time REAL,
  feedback TEXT, source TEXT NOT NULL, UNIQUE(hit_id, worker_id));
CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, operation TEXT NOT NULL,
  result TEXT, created REAL);
CREATE TABLE IF NOT EXISTS ledger (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,
  amount TEXT NOT NULL, fee TEXT NOT NULL, assignment_id TEXT, worker_id TEXT, reason TEXT,
  created REAL);
CREATE TABLE IF NOT EXISTS qual_types (id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL,
  description TEXT, status TEXT, created REAL);
CREATE TABLE IF NOT EXISTS worker_quals (qual_id TEXT, worker_id TEXT, value INTEGER,
  PRIMARY KEY (qual_id, worker_id));
CREATE TABLE IF NOT EXISTS blocks (worker_id TEXT PRIMARY KEY, reason TEXT, created REAL);
CREATE TABLE IF NOT EXISTS notifications (id INTEGER PRIMARY KEY AUTOINCREMENT,
  worker_ids TEXT, subject TEXT, message TEXT, created REAL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS requests (id INTEGER PRIMARY KEY AUTOINCREMENT, operation TEXT,
  outcome TEXT, created REAL);
"""


@contextmanager
def once_per_token(
    db: sqlite3.Connection,
    token: str | None,
    operation: str,
    message: str,
    now: float | None = None,
) -> Iterator[None]:
    """Run the body of a ``UniqueRequestToken`` operation at most once per token, as MTurk does.

    Refuses (``DuplicateRequest``, with ``message``) a token that already served ``operation``,
    so a client's retry can never act twice; when the body completes, remembers that the token
    served it (at ``now``, or the time the body ended). A request without a token is neither
    refused nor remembered. Use inside :meth:`SimStore.tx`, so the check, the body and the
    record commit together.
    """
    if (
        token
        and db.execute(
            "SELECT 1 FROM tokens WHERE token=? AND operation=?", (token, operation)
        ).fetchone()
    ):
        raise request_error(message, "DuplicateRequest")
    yield
    if token:
        db.execute(
            "INSERT INTO tokens(token, operation, created) VALUES (?,?,?)",
            (token, operation, time.time() if now is None else now),
        )


class SimStore:
    """The open state file, the simulated worker pool and the id stream."""

    def __init__(self, config: SimulatorConfig, path: Path) -> None:
        self.config = config
        self.path = path
        self._lock = threading.RLock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self.pool: list[SimWorker] = make_pool(config)
        self._by_id = {w.worker_id: w for w in self.pool}
        # The stream restarts from a new counter value on each open, so a restarted simulator
        # never hands out an id it already gave before the restart.
        self._ids = np.random.default_rng([config.seed, 2, self._counter("id_stream")])

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One locked write transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        """Close the database file."""
        with self._lock:
            self._db.close()

    def _counter(self, name: str) -> int:
        """Increment and return the persistent counter ``name`` (1 on first use)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (name,)).fetchone()
            value = int(row["value"]) + 1 if row else 1
            self._db.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (name, str(value)),
            )
            return value

    def _meta_int(self, name: str) -> int:
        """The persistent integer ``name`` (0 when never set)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (name,)).fetchone()
            return int(row["value"]) if row else 0

    def new_answer_stream(self) -> None:
        """From now on the k-th HIT created draws its arrivals, workers and answers as the k-th
        HIT of a fresh simulator with the same seed (HIT ids and the request log go on).

        Why: the benchmark runs every method of a cell against one simulator. With draws keyed
        by the HIT's global sequence number, a method's answers depended on how many HITs the
        methods before it had created: crowdclean on digits structural seed 0 scored 0.864
        after ``dpm`` and ``uncertainty`` and 0.810 alone, from the same commit. The
        benchmark starts a stream per method, so a row depends on its cell and method only.
        """
        with self._lock:
            self._db.execute(
                "INSERT INTO meta(key, value) VALUES ('stream_base', ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (str(self._meta_int("hit_seq")),),
            )

    def _new_id(self, prefix: str = "") -> str:
        """A 30-character MTurk-style id from the seeded id stream."""
        return random_id(self._ids, 30, prefix)

    def _scaled(self, seconds: float) -> float:
        """Simulated seconds in wall-clock seconds (``config.time_factor``)."""
        return seconds * self.config.time_factor

    def record_request(self, operation: str, outcome: str) -> None:
        """Log one API call and its outcome (ok / throttled / fault / error)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO requests(operation, outcome, created) VALUES (?, ?, ?)",
                (operation, outcome, time.time()),
            )

    def balance(self) -> Decimal:
        """Available balance, USD: the initial balance minus every payment with its fee."""
        with self._lock:
            return ledger.balance(self._db, self.config.initial_balance_usd)
