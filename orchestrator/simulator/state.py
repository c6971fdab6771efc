"""The simulator's persistent MTurk state (one SQLite file) and the Requester operations.

Every public ``op_*`` method takes the decoded JSON request and returns the JSON response, or
raises :class:`MTurkError`. All methods run under one lock; the file outlives the process, so an
orchestrator (or simulator) restart sees the same HITs, assignments, tokens and payments.
Money is stored as text decimals; the account balance is the initial balance minus every
ledger row (reward or bonus plus MTurk's fee: 20 %, 40 % on the rewards of HITs with 10 or
more assignments). CreateHITType and CreateHIT enforce MTurk's rules on the request
(:mod:`orchestrator.simulator.question_rules`).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.simulator.config import SimulatorConfig
from orchestrator.simulator.question_rules import QuestionRuleError, check_hit_type, check_question
from orchestrator.simulator.workers import (
    SimWorker,
    build_answer_xml,
    is_eligible,
    item_key_of,
    make_pool,
    random_id,
    read_form,
    simulate_answer,
    true_label,
)

FEE_RATE = Decimal("0.20")
NOT_AVAILABLE = "ASSIGNMENT_ID_NOT_AVAILABLE"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hit_types (id TEXT PRIMARY KEY, spec TEXT NOT NULL, created REAL);
CREATE TABLE IF NOT EXISTS hits (
  id TEXT PRIMARY KEY, hit_type_id TEXT NOT NULL, token TEXT UNIQUE, annotation TEXT,
  question TEXT NOT NULL, max_assignments INTEGER NOT NULL, created REAL NOT NULL,
  expiration REAL NOT NULL, disposed INTEGER NOT NULL DEFAULT 0, item_key TEXT,
  options TEXT, current_label TEXT, seq INTEGER NOT NULL);
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


class MTurkError(Exception):
    """An error in MTurk's wire shape. ``kind``: RequestError / ServiceFault / other __type."""

    def __init__(
        self, message: str, *, kind: str = "RequestError", turk_code: str = "", status: int = 400
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.turk_code = turk_code
        self.status = status


def _req_error(message: str, code: str) -> MTurkError:
    return MTurkError(message, turk_code=f"AWS.MechanicalTurk.{code}")


LARGE_HIT_FEE_RATE = Decimal("0.40")
"""MTurk's fee on the rewards of HITs with 10 or more assignments (20 % plus 20 %); bonuses
stay at 20 %."""


def _fee(amount: Decimal, rate: Decimal = FEE_RATE) -> Decimal:
    return (amount * rate).quantize(Decimal("0.0001"))


def _checked(check: Any, *args: Any) -> Any:
    """Run a rule of :mod:`question_rules`, turning its refusal into MTurk's error."""
    try:
        return check(*args)
    except QuestionRuleError as exc:
        raise _req_error(str(exc), exc.code) from None


class SimulatorState:
    """MTurk's requester-side state plus the simulated crowd that fills it."""

    def __init__(self, config: SimulatorConfig, path: Path) -> None:
        self.config = config
        self.path = path
        self._lock = threading.RLock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self.pool: list[SimWorker] = make_pool(config)
        self._by_id = {w.worker_id: w for w in self.pool}
        self._ids = np.random.default_rng([config.seed, 2, self._counter("id_stream")])

    # ------------------------------------------------------------------ plumbing

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
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (name,)).fetchone()
            value = int(row["value"]) + 1 if row else 1
            self._db.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (name, str(value)),
            )
            return value

    def _new_id(self, prefix: str = "") -> str:
        return random_id(self._ids, 30, prefix)

    def _scaled(self, seconds: float) -> float:
        return seconds * self.config.time_factor

    def record_request(self, operation: str, outcome: str) -> None:
        """Log one API call and its outcome (ok / throttled / fault / error)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO requests(operation, outcome, created) VALUES (?, ?, ?)",
                (operation, outcome, time.time()),
            )

    # ------------------------------------------------------------------ crowd dynamics

    def _schedule_slots(self, db: sqlite3.Connection, hit_id: str, first: int, n: int) -> None:
        now = time.time()
        seq = db.execute("SELECT seq FROM hits WHERE id=?", (hit_id,)).fetchone()["seq"]
        for slot_no in range(first, first + n):
            rng = np.random.default_rng([self.config.seed, 3, seq, slot_no])
            due = now + self._scaled(float(rng.exponential(self.config.workers.mean_arrival_s)))
            no_show = int(rng.random() < self.config.faults.no_show_rate)
            if not self.config.simulate_workers:
                no_show = 1
            db.execute(
                "INSERT INTO slots(hit_id, slot_no, due, no_show, state) VALUES (?,?,?,?,?)",
                (hit_id, slot_no, due, no_show, "scheduled"),
            )

    def _qual_value(self, qual_id: str, worker_id: str) -> int | None:
        row = self._db.execute(
            "SELECT value FROM worker_quals WHERE qual_id=? AND worker_id=?", (qual_id, worker_id)
        ).fetchone()
        return None if row is None else int(row["value"])

    def tick(self) -> int:
        """Let simulated workers submit every slot that is due; returns how many did."""
        now = time.time()
        done = 0
        with self.tx() as db:
            self._auto_approve(db, now)
            due = db.execute(
                "SELECT s.id, s.hit_id, s.slot_no, s.due, h.seq, h.expiration, h.hit_type_id, "
                "h.question, h.annotation, h.disposed FROM slots s JOIN hits h ON h.id = s.hit_id "
                "WHERE s.state='scheduled' AND s.no_show=0 AND s.due<=? ORDER BY s.due",
                (now,),
            ).fetchall()
            if not due:
                return 0
            blocked = {r["worker_id"] for r in db.execute("SELECT worker_id FROM blocks")}
            for s in due:
                if s["disposed"] or s["due"] >= s["expiration"]:
                    db.execute("UPDATE slots SET state='expired' WHERE id=?", (s["id"],))
                    continue
                spec = json.loads(
                    db.execute(
                        "SELECT spec FROM hit_types WHERE id=?", (s["hit_type_id"],)
                    ).fetchone()["spec"]
                )
                reqs = spec.get("QualificationRequirements", [])
                taken = {
                    r["worker_id"]
                    for r in db.execute(
                        "SELECT worker_id FROM assignments WHERE hit_id=?", (s["hit_id"],)
                    )
                }
                rng = np.random.default_rng([self.config.seed, 4, s["seq"], s["slot_no"]])
                order = rng.permutation(len(self.pool))
                worker = next(
                    (
                        self.pool[int(i)]
                        for i in order
                        if self.pool[int(i)].worker_id not in blocked
                        and self.pool[int(i)].worker_id not in taken
                        and is_eligible(self.pool[int(i)], reqs, self._qual_value)
                    ),
                    None,
                )
                if worker is None:
                    db.execute("UPDATE slots SET state='unfilled' WHERE id=?", (s["id"],))
                    continue
                form = read_form(s["question"])
                key = item_key_of(s["annotation"] or "", form)
                current = form.hidden.get("current_label", "")
                truth = true_label(self.config, key, form.options, current, rng)
                fields = simulate_answer(worker, truth, form, rng)
                aid = self._new_id("3")
                work = self._scaled(float(rng.exponential(worker.mean_work_s)))
                db.execute(
                    "INSERT INTO assignments(id, hit_id, worker_id, status, answer, accept_time, "
                    "submit_time, source) VALUES (?,?,?,?,?,?,?,?)",
                    (
                        aid,
                        s["hit_id"],
                        worker.worker_id,
                        "Submitted",
                        build_answer_xml(fields),
                        s["due"] - work,
                        s["due"],
                        "sim",
                    ),
                )
                db.execute(
                    "UPDATE slots SET state='submitted', assignment_id=? WHERE id=?",
                    (aid, s["id"]),
                )
                done += 1
        return done

    def _auto_approve(self, db: sqlite3.Connection, now: float) -> None:
        rows = db.execute(
            "SELECT a.id, a.worker_id, a.submit_time, t.spec FROM assignments a "
            "JOIN hits h ON h.id=a.hit_id JOIN hit_types t ON t.id=h.hit_type_id "
            "WHERE a.status='Submitted'"
        ).fetchall()
        for r in rows:
            spec = json.loads(r["spec"])
            delay = float(spec.get("AutoApprovalDelayInSeconds", 2592000))
            if r["submit_time"] + delay <= now:
                self._pay_reward(db, r["id"], r["worker_id"], now, kind="auto_reward")

    # ------------------------------------------------------------------ views

    def _hit_row(self, db: sqlite3.Connection, hit_id: str) -> sqlite3.Row:
        row = db.execute("SELECT * FROM hits WHERE id=?", (hit_id,)).fetchone()
        if row is None:
            raise _req_error(f"Hit {hit_id} does not exist.", "HITDoesNotExist")
        return row

    def _hit_status(
        self, db: sqlite3.Connection, row: sqlite3.Row, now: float
    ) -> tuple[str, int, int, int]:
        counts = {
            r["status"]: int(r["n"])
            for r in db.execute(
                "SELECT status, COUNT(*) AS n FROM assignments WHERE hit_id=? GROUP BY status",
                (row["id"],),
            )
        }
        pending = counts.get("Accepted", 0)
        completed = sum(counts.get(s, 0) for s in ("Submitted", "Approved", "Rejected"))
        available = max(0, int(row["max_assignments"]) - completed - pending)
        if row["disposed"]:
            status = "Disposed"
        elif completed >= row["max_assignments"]:
            status = "Reviewable"
        elif now >= row["expiration"]:
            status = "Unassignable" if pending else "Reviewable"
        elif available == 0:
            status = "Unassignable"
        else:
            status = "Assignable"
        return status, pending, available, completed

    def _hit_dict(self, db: sqlite3.Connection, row: sqlite3.Row, now: float) -> dict[str, Any]:
        spec = json.loads(
            db.execute("SELECT spec FROM hit_types WHERE id=?", (row["hit_type_id"],)).fetchone()[
                "spec"
            ]
        )
        status, pending, available, completed = self._hit_status(db, row, now)
        out: dict[str, Any] = {
            "HITId": row["id"],
            "HITTypeId": row["hit_type_id"],
            "HITGroupId": row["hit_type_id"],
            "CreationTime": row["created"],
            "Title": spec.get("Title", ""),
            "Description": spec.get("Description", ""),
            "Question": row["question"],
            "Keywords": spec.get("Keywords", ""),
            "HITStatus": status,
            "MaxAssignments": row["max_assignments"],
            "Reward": spec.get("Reward", "0.00"),
            "AutoApprovalDelayInSeconds": spec.get("AutoApprovalDelayInSeconds", 2592000),
            "Expiration": row["expiration"],
            "AssignmentDurationInSeconds": spec.get("AssignmentDurationInSeconds", 3600),
            "QualificationRequirements": spec.get("QualificationRequirements", []),
            "HITReviewStatus": "NotReviewed",
            "NumberOfAssignmentsPending": pending,
            "NumberOfAssignmentsAvailable": available,
            "NumberOfAssignmentsCompleted": completed,
        }
        if row["annotation"]:
            out["RequesterAnnotation"] = row["annotation"]
        return out

    def _visible(self, a: sqlite3.Row, now: float) -> bool:
        if a["status"] == "Accepted":
            return False
        submit = a["submit_time"] or 0.0
        return bool(submit + self._scaled(self.config.faults.visibility_delay_s) <= now)

    def _assignment_dict(self, db: sqlite3.Connection, a: sqlite3.Row) -> dict[str, Any]:
        spec = json.loads(
            db.execute(
                "SELECT t.spec FROM hits h JOIN hit_types t ON t.id=h.hit_type_id WHERE h.id=?",
                (a["hit_id"],),
            ).fetchone()["spec"]
        )
        out: dict[str, Any] = {
            "AssignmentId": a["id"],
            "WorkerId": a["worker_id"],
            "HITId": a["hit_id"],
            "AssignmentStatus": a["status"],
            "AcceptTime": a["accept_time"],
            "SubmitTime": a["submit_time"],
            "AutoApprovalTime": (a["submit_time"] or 0)
            + float(spec.get("AutoApprovalDelayInSeconds", 2592000)),
            "Answer": a["answer"] or "",
        }
        if a["approval_time"]:
            out["ApprovalTime"] = a["approval_time"]
        if a["rejection_time"]:
            out["RejectionTime"] = a["rejection_time"]
        if a["feedback"]:
            out["RequesterFeedback"] = a["feedback"]
        return out

    @staticmethod
    def _page(items: list[Any], req: dict[str, Any]) -> tuple[list[Any], str | None]:
        start = int(req.get("NextToken") or 0)
        size = int(req.get("MaxResults") or 10)
        end = start + size
        return items[start:end], (str(end) if end < len(items) else None)

    # ------------------------------------------------------------------ money

    def balance(self) -> Decimal:
        """Available balance, USD: the initial balance minus every payment with its fee."""
        with self._lock:
            total = Decimal("0")
            for r in self._db.execute("SELECT amount, fee FROM ledger"):
                total += Decimal(r["amount"]) + Decimal(r["fee"])
            return (Decimal(self.config.initial_balance_usd) - total).quantize(Decimal("0.0001"))

    def _debit(
        self,
        db: sqlite3.Connection,
        kind: str,
        amount: Decimal,
        assignment_id: str,
        worker_id: str,
        reason: str,
        now: float,
        *,
        fee_rate: Decimal = FEE_RATE,
    ) -> None:
        fee = _fee(amount, fee_rate)
        if self.balance() < amount + fee:
            raise _req_error(
                "You do not have enough funds to complete this transaction.", "InsufficientFunds"
            )
        db.execute(
            "INSERT INTO ledger(kind, amount, fee, assignment_id, worker_id, reason, created) "
            "VALUES (?,?,?,?,?,?,?)",
            (kind, str(amount), str(fee), assignment_id, worker_id, reason, now),
        )

    def _pay_reward(
        self, db: sqlite3.Connection, assignment_id: str, worker_id: str, now: float, *, kind: str
    ) -> None:
        row = db.execute(
            "SELECT t.spec, h.max_assignments FROM assignments a JOIN hits h ON h.id=a.hit_id "
            "JOIN hit_types t ON t.id=h.hit_type_id WHERE a.id=?",
            (assignment_id,),
        ).fetchone()
        reward = Decimal(json.loads(row["spec"])["Reward"])
        rate = LARGE_HIT_FEE_RATE if int(row["max_assignments"]) >= 10 else FEE_RATE
        self._debit(db, kind, reward, assignment_id, worker_id, "", now, fee_rate=rate)
        db.execute(
            "UPDATE assignments SET status='Approved', approval_time=? WHERE id=?",
            (now, assignment_id),
        )

    # ------------------------------------------------------------------ operations

    def op_create_hit_type(self, req: dict[str, Any]) -> dict[str, Any]:
        spec = dict(req)
        spec.setdefault("AutoApprovalDelayInSeconds", 2592000)
        spec.setdefault("Keywords", "")
        spec.setdefault("QualificationRequirements", [])
        _checked(check_hit_type, spec)
        canon = json.dumps(spec, sort_keys=True, separators=(",", ":"))
        type_id = "3" + hashlib.sha256(canon.encode()).hexdigest().upper()[:29]
        with self.tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO hit_types(id, spec, created) VALUES (?,?,?)",
                (type_id, canon, time.time()),
            )
        return {"HITTypeId": type_id}

    def op_create_hit_with_hit_type(self, req: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        question = str(req.get("Question") or "")
        _checked(check_question, question)
        max_a = int(req.get("MaxAssignments", 1))
        if not 1 <= max_a <= 1_000_000:
            raise _req_error("MaxAssignments must be in [1, 1000000].", "ParameterValidationError")
        lifetime = int(req["LifetimeInSeconds"])
        if not 30 <= lifetime <= 31_536_000:
            raise _req_error(
                "LifetimeInSeconds must be in [30, 31536000].", "ParameterValidationError"
            )
        annotation = str(req.get("RequesterAnnotation") or "")
        if len(annotation) > 255:
            raise _req_error("RequesterAnnotation is longer than 255.", "ParameterValidationError")
        token = req.get("UniqueRequestToken")
        form = read_form(question)
        with self.tx() as db:
            if not db.execute("SELECT 1 FROM hit_types WHERE id=?", (req["HITTypeId"],)).fetchone():
                raise _req_error(
                    f"Hit type {req['HITTypeId']} does not exist.", "HITTypeDoesNotExist"
                )
            if token:
                dup = db.execute("SELECT id FROM hits WHERE token=?", (token,)).fetchone()
                if dup:
                    raise _req_error(
                        f"The HIT with ID {dup['id']} already exists for the "
                        f"UniqueRequestToken {token}.",
                        "HitAlreadyExists",
                    )
            hit_id = self._new_id("3")
            seq = self._counter("hit_seq")
            db.execute(
                "INSERT INTO hits(id, hit_type_id, token, annotation, question, max_assignments, "
                "created, expiration, item_key, options, current_label, seq) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    hit_id,
                    req["HITTypeId"],
                    token,
                    annotation,
                    question,
                    max_a,
                    now,
                    now + lifetime,
                    item_key_of(annotation, form),
                    json.dumps(form.options),
                    form.hidden.get("current_label", ""),
                    seq,
                ),
            )
            self._schedule_slots(db, hit_id, 0, max_a)
            row = self._hit_row(db, hit_id)
            return {"HIT": self._hit_dict(db, row, now)}

    def op_get_hit(self, req: dict[str, Any]) -> dict[str, Any]:
        with self.tx() as db:
            return {"HIT": self._hit_dict(db, self._hit_row(db, req["HITId"]), time.time())}

    def op_list_hits(self, req: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        with self.tx() as db:
            rows = db.execute("SELECT * FROM hits WHERE disposed=0 ORDER BY seq").fetchall()
            page, nxt = self._page(rows, req)
            out: dict[str, Any] = {
                "HITs": [self._hit_dict(db, r, now) for r in page],
                "NumResults": len(page),
            }
        if nxt:
            out["NextToken"] = nxt
        return out

    def op_list_reviewable_hits(self, req: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        want = req.get("Status", "Reviewable")
        with self.tx() as db:
            rows = db.execute("SELECT * FROM hits WHERE disposed=0 ORDER BY seq").fetchall()
            if req.get("HITTypeId"):
                rows = [r for r in rows if r["hit_type_id"] == req["HITTypeId"]]
            match = [r for r in rows if self._hit_status(db, r, now)[0] == want]
            page, nxt = self._page(match, req)
            out: dict[str, Any] = {
                "HITs": [self._hit_dict(db, r, now) for r in page],
                "NumResults": len(page),
            }
        if nxt:
            out["NextToken"] = nxt
        return out

    def op_list_assignments_for_hit(self, req: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        statuses = set(req.get("AssignmentStatuses") or ["Submitted", "Approved", "Rejected"])
        with self.tx() as db:
            self._hit_row(db, req["HITId"])
            rows = [
                a
                for a in db.execute(
                    "SELECT * FROM assignments WHERE hit_id=? ORDER BY submit_time, id",
                    (req["HITId"],),
                )
                if a["status"] in statuses and self._visible(a, now)
            ]
            page, nxt = self._page(rows, req)
            out: dict[str, Any] = {
                "Assignments": [self._assignment_dict(db, a) for a in page],
                "NumResults": len(page),
            }
        if nxt:
            out["NextToken"] = nxt
        return out

    def _visible_assignment(
        self, db: sqlite3.Connection, assignment_id: str, now: float
    ) -> sqlite3.Row:
        a = db.execute("SELECT * FROM assignments WHERE id=?", (assignment_id,)).fetchone()
        if a is None or not self._visible(a, now):
            raise _req_error(
                f"Assignment {assignment_id} does not exist.", "AssignmentDoesNotExist"
            )
        return a

    def _check_settled(self, a: sqlite3.Row, now: float) -> None:
        lag = self._scaled(self.config.faults.consistency_lag_s)
        if (a["submit_time"] or 0) + lag > now:
            raise _req_error(
                f"Assignment {a['id']} does not exist. (not yet consistent)",
                "AssignmentDoesNotExist",
            )

    def op_get_assignment(self, req: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        with self.tx() as db:
            a = self._visible_assignment(db, req["AssignmentId"], now)
            return {
                "Assignment": self._assignment_dict(db, a),
                "HIT": self._hit_dict(db, self._hit_row(db, a["hit_id"]), now),
            }

    def op_approve_assignment(self, req: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        with self.tx() as db:
            a = self._visible_assignment(db, req["AssignmentId"], now)
            self._check_settled(a, now)
            override = bool(req.get("OverrideRejection"))
            if not (a["status"] == "Submitted" or (override and a["status"] == "Rejected")):
                raise _req_error(
                    f"This operation can be called with a status of: Submitted "
                    f"(assignment {a['id']} is {a['status']})",
                    "InvalidAssignmentState",
                )
            self._pay_reward(db, a["id"], a["worker_id"], now, kind="reward")
            if req.get("RequesterFeedback"):
                db.execute(
                    "UPDATE assignments SET feedback=? WHERE id=?",
                    (req["RequesterFeedback"], a["id"]),
                )
        return {}

    def op_reject_assignment(self, req: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        if not str(req.get("RequesterFeedback", "")).strip():
            raise _req_error("RequesterFeedback is required.", "ParameterValidationError")
        with self.tx() as db:
            a = self._visible_assignment(db, req["AssignmentId"], now)
            self._check_settled(a, now)
            if a["status"] != "Submitted":
                raise _req_error(
                    f"This operation can be called with a status of: Submitted "
                    f"(assignment {a['id']} is {a['status']})",
                    "InvalidAssignmentState",
                )
            db.execute(
                "UPDATE assignments SET status='Rejected', rejection_time=?, feedback=? WHERE id=?",
                (now, req["RequesterFeedback"], a["id"]),
            )
        return {}

    def op_send_bonus(self, req: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        amount = Decimal(req["BonusAmount"])
        if amount <= 0:
            raise _req_error("BonusAmount must be positive.", "ParameterValidationError")
        if not str(req.get("Reason") or "").strip():
            raise _req_error("Reason is required for SendBonus.", "ParameterValidationError")
        token = req.get("UniqueRequestToken")
        with self.tx() as db:
            if (
                token
                and db.execute(
                    "SELECT 1 FROM tokens WHERE token=? AND operation='SendBonus'", (token,)
                ).fetchone()
            ):
                raise _req_error(
                    f"The bonus for UniqueRequestToken {token} has already been sent.",
                    "DuplicateRequest",
                )
            a = self._visible_assignment(db, req["AssignmentId"], now)
            self._check_settled(a, now)
            if a["worker_id"] != req["WorkerId"]:
                raise _req_error(
                    "The worker did not work on this assignment.", "ParameterValidationError"
                )
            self._debit(db, "bonus", amount, a["id"], a["worker_id"], str(req["Reason"]), now)
            if token:
                db.execute(
                    "INSERT INTO tokens(token, operation, created) VALUES (?,?,?)",
                    (token, "SendBonus", now),
                )
        return {}

    def op_get_account_balance(self, req: dict[str, Any]) -> dict[str, Any]:
        bal = self.balance().quantize(Decimal("0.01"), rounding="ROUND_FLOOR")
        return {"AvailableBalance": f"{bal:.2f}", "OnHoldBalance": "0.00"}

    def op_create_additional_assignments_for_hit(self, req: dict[str, Any]) -> dict[str, Any]:
        n = int(req["NumberOfAdditionalAssignments"])
        if n < 1:
            raise _req_error(
                "NumberOfAdditionalAssignments must be >= 1.", "ParameterValidationError"
            )
        token = req.get("UniqueRequestToken")
        with self.tx() as db:
            if (
                token
                and db.execute(
                    "SELECT 1 FROM tokens WHERE token=? AND operation='CreateAdditional'", (token,)
                ).fetchone()
            ):
                raise _req_error(
                    f"The extension for UniqueRequestToken {token} has already been made.",
                    "DuplicateRequest",
                )
            row = self._hit_row(db, req["HITId"])
            if row["disposed"]:
                raise _req_error(f"Hit {row['id']} is disposed.", "InvalidHITState")
            old = int(row["max_assignments"])
            if old < 10 <= old + n:
                raise _req_error(
                    "HITs created with fewer than 10 assignments cannot be extended to 10 or more.",
                    "ParameterValidationError",
                )
            db.execute("UPDATE hits SET max_assignments=? WHERE id=?", (old + n, row["id"]))
            self._schedule_slots(db, row["id"], old, n)
            if token:
                db.execute(
                    "INSERT INTO tokens(token, operation, created) VALUES (?,?,?)",
                    (token, "CreateAdditional", time.time()),
                )
        return {}

    def op_update_expiration_for_hit(self, req: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        expire_at = float(req["ExpireAt"])
        with self.tx() as db:
            row = self._hit_row(db, req["HITId"])
            if row["disposed"]:
                raise _req_error(f"Hit {row['id']} is disposed.", "InvalidHITState")
            db.execute(
                "UPDATE hits SET expiration=? WHERE id=?",
                (max(expire_at, now), row["id"]),
            )
        return {}

    def op_delete_hit(self, req: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        with self.tx() as db:
            row = self._hit_row(db, req["HITId"])
            if row["disposed"]:
                raise _req_error(f"Hit {row['id']} does not exist. (disposed)", "HITDoesNotExist")
            status, pending, _avail, _done = self._hit_status(db, row, now)
            submitted = db.execute(
                "SELECT COUNT(*) AS n FROM assignments WHERE hit_id=? AND status='Submitted'",
                (row["id"],),
            ).fetchone()["n"]
            expired = now >= row["expiration"]
            if (status != "Reviewable" and not expired) or submitted or pending:
                raise _req_error(
                    f"This HIT is currently in the state '{status}'. This operation can be "
                    "called with a status of: Reviewable, with all assignments approved or "
                    "rejected.",
                    "InvalidHITState",
                )
            db.execute("UPDATE hits SET disposed=1 WHERE id=?", (row["id"],))
            db.execute(
                "UPDATE slots SET state='expired' WHERE hit_id=? AND state='scheduled'",
                (row["id"],),
            )
        return {}

    def op_create_qualification_type(self, req: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        with self.tx() as db:
            if db.execute("SELECT 1 FROM qual_types WHERE name=?", (req["Name"],)).fetchone():
                raise _req_error(
                    "You have already created a QualificationType with this name. A "
                    "QualificationType's name must be unique among all of the QualificationTypes "
                    "created by the same user.",
                    "QualificationTypeAlreadyExists",
                )
            qid = self._new_id("3")
            db.execute(
                "INSERT INTO qual_types(id, name, description, status, created) VALUES (?,?,?,?,?)",
                (qid, req["Name"], req["Description"], req["QualificationTypeStatus"], now),
            )
        return {"QualificationType": self._qual_dict(qid)}

    def _qual_dict(self, qid: str) -> dict[str, Any]:
        r = self._db.execute("SELECT * FROM qual_types WHERE id=?", (qid,)).fetchone()
        return {
            "QualificationTypeId": r["id"],
            "CreationTime": r["created"],
            "Name": r["name"],
            "Description": r["description"],
            "QualificationTypeStatus": r["status"],
            "IsRequestable": False,
            "AutoGranted": False,
        }

    def op_list_qualification_types(self, req: dict[str, Any]) -> dict[str, Any]:
        query = str(req.get("Query") or "").lower()
        with self.tx() as db:
            ids = [
                r["id"]
                for r in db.execute("SELECT id, name FROM qual_types ORDER BY created, id")
                if query in r["name"].lower()
            ]
            page, nxt = self._page(ids, req)
            out: dict[str, Any] = {
                "QualificationTypes": [self._qual_dict(q) for q in page],
                "NumResults": len(page),
            }
        if nxt:
            out["NextToken"] = nxt
        return out

    def op_associate_qualification_with_worker(self, req: dict[str, Any]) -> dict[str, Any]:
        with self.tx() as db:
            if not db.execute(
                "SELECT 1 FROM qual_types WHERE id=?", (req["QualificationTypeId"],)
            ).fetchone():
                raise _req_error(
                    f"QualificationType {req['QualificationTypeId']} does not exist.",
                    "QualificationTypeDoesNotExist",
                )
            db.execute(
                "INSERT INTO worker_quals(qual_id, worker_id, value) VALUES (?,?,?) "
                "ON CONFLICT(qual_id, worker_id) DO UPDATE SET value=excluded.value",
                (req["QualificationTypeId"], req["WorkerId"], int(req.get("IntegerValue", 1))),
            )
        return {}

    def op_create_worker_block(self, req: dict[str, Any]) -> dict[str, Any]:
        with self.tx() as db:
            db.execute(
                "INSERT INTO blocks(worker_id, reason, created) VALUES (?,?,?) "
                "ON CONFLICT(worker_id) DO UPDATE SET reason=excluded.reason",
                (req["WorkerId"], req["Reason"], time.time()),
            )
        return {}

    def op_notify_workers(self, req: dict[str, Any]) -> dict[str, Any]:
        ids = list(req["WorkerIds"])
        if len(ids) > 100:
            raise _req_error("WorkerIds must hold at most 100 ids.", "ParameterValidationError")
        with self.tx() as db:
            known = set(self._by_id) | {
                r["worker_id"] for r in db.execute("SELECT DISTINCT worker_id FROM assignments")
            }
            db.execute(
                "INSERT INTO notifications(worker_ids, subject, message, created) VALUES (?,?,?,?)",
                (json.dumps(ids), req["Subject"], req["MessageText"], time.time()),
            )
        failures = [
            {
                "NotifyWorkersFailureCode": "HardFailure",
                "NotifyWorkersFailureMessage": f"Worker {w} has never worked for you.",
                "WorkerId": w,
            }
            for w in ids
            if w not in known
        ]
        return {"NotifyWorkersFailureStatuses": failures}

    # ------------------------------------------------------------------ the worker view

    def accept(self, hit_id: str, worker_id: str) -> str:
        """A (browser) worker accepts a HIT: returns the assignment id (the same on reload)."""
        now = time.time()
        with self.tx() as db:
            row = self._hit_row(db, hit_id)
            prev = db.execute(
                "SELECT id, status FROM assignments WHERE hit_id=? AND worker_id=?",
                (hit_id, worker_id),
            ).fetchone()
            if prev is not None:
                if prev["status"] != "Accepted":
                    raise _req_error("You already submitted this HIT.", "AlreadySubmitted")
                return str(prev["id"])
            if db.execute("SELECT 1 FROM blocks WHERE worker_id=?", (worker_id,)).fetchone():
                raise _req_error("You are blocked by this requester.", "WorkerBlocked")
            status, _p, available, _c = self._hit_status(db, row, now)
            if status != "Assignable" or available < 1:
                raise _req_error(f"HIT {hit_id} has no available assignment.", "NoAvailable")
            slot = db.execute(
                "SELECT id FROM slots WHERE hit_id=? AND state IN ('scheduled','unfilled') "
                "ORDER BY due DESC LIMIT 1",
                (hit_id,),
            ).fetchone()
            aid = self._new_id("3")
            db.execute(
                "INSERT INTO assignments(id, hit_id, worker_id, status, accept_time, source) "
                "VALUES (?,?,?,?,?,?)",
                (aid, hit_id, worker_id, "Accepted", now, "browser"),
            )
            if slot is not None:
                db.execute(
                    "UPDATE slots SET state='browser', assignment_id=? WHERE id=?",
                    (aid, slot["id"]),
                )
            return aid

    def submit(self, assignment_id: str, fields: dict[str, str]) -> str:
        """A browser form post to ``/mturk/externalSubmit``; returns the HIT id."""
        now = time.time()
        with self.tx() as db:
            a = db.execute("SELECT * FROM assignments WHERE id=?", (assignment_id,)).fetchone()
            if a is None or a["status"] != "Accepted":
                raise _req_error(
                    f"Assignment {assignment_id} is not open for submission.",
                    "AssignmentNotAccepted",
                )
            db.execute(
                "UPDATE assignments SET status='Submitted', answer=?, submit_time=? WHERE id=?",
                (build_answer_xml(fields), now, assignment_id),
            )
            return str(a["hit_id"])

    def question_html(self, hit_id: str) -> str:
        """The HIT's HTML as a worker's browser receives it."""
        from orchestrator.simulator.workers import html_of_question

        with self.tx() as db:
            return html_of_question(self._hit_row(db, hit_id)["question"])

    def assignable_hits(self) -> list[tuple[str, str]]:
        """(HIT id, title) of every HIT a worker could accept now."""
        now = time.time()
        with self.tx() as db:
            out = []
            for r in db.execute("SELECT * FROM hits WHERE disposed=0 ORDER BY seq").fetchall():
                d = self._hit_dict(db, r, now)
                if d["HITStatus"] == "Assignable":
                    out.append((str(r["id"]), str(d["Title"])))
            return out

    # ------------------------------------------------------------------ inspection (tests)

    def stats(self) -> dict[str, Any]:
        """Counts that tests and the demo check: HITs, duplicates, payments, balance."""
        with self._lock:
            q = self._db.execute
            hits = q("SELECT COUNT(*) AS n FROM hits").fetchone()["n"]
            dup_tokens = q(
                "SELECT COUNT(*) AS n FROM (SELECT token FROM hits WHERE token IS NOT NULL "
                "GROUP BY token HAVING COUNT(*) > 1)"
            ).fetchone()["n"]
            dup_annotations = q(
                "SELECT COUNT(*) AS n FROM (SELECT annotation FROM hits WHERE annotation != '' "
                "GROUP BY annotation HAVING COUNT(*) > 1)"
            ).fetchone()["n"]
            double_paid = q(
                "SELECT COUNT(*) AS n FROM (SELECT assignment_id FROM ledger WHERE kind IN "
                "('reward','auto_reward') GROUP BY assignment_id HAVING COUNT(*) > 1)"
            ).fetchone()["n"]
            paid = Decimal("0")
            for r in q("SELECT amount, fee FROM ledger"):
                paid += Decimal(r["amount"]) + Decimal(r["fee"])
            by_status = {
                r["status"]: r["n"]
                for r in q("SELECT status, COUNT(*) AS n FROM assignments GROUP BY status")
            }
            outcomes = {
                r["outcome"]: r["n"]
                for r in q("SELECT outcome, COUNT(*) AS n FROM requests GROUP BY outcome")
            }
            blocks = q("SELECT COUNT(*) AS n FROM blocks").fetchone()["n"]
        return {
            "hits": hits,
            "duplicate_tokens": dup_tokens,
            "duplicate_annotations": dup_annotations,
            "double_paid_assignments": double_paid,
            "paid_usd": str(paid),
            "balance_usd": str(self.balance()),
            "assignments": by_status,
            "requests": outcomes,
            "blocked_workers": blocks,
        }
