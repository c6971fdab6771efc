"""The simulated crowd: when workers arrive at a HIT, who answers it and how, the auto-approval
clock, and the worker's side of a HIT (accept, submit, the HIT's HTML) for a real browser.

Each assignment a HIT offers is a *slot* scheduled at creation: its arrival time and whether
its worker never shows up are drawn from a generator seeded by (seed, HIT sequence number in
the answer stream, slot number), so a run is reproducible whatever order requests arrive in
(:meth:`~.store.SimStore.new_answer_stream` starts a new stream). :meth:`SimulatedCrowd.tick`
(called before every request) lets the due slots submit.
"""

from __future__ import annotations

import json
import sqlite3
import time

import numpy as np

from orchestrator.simulator import ledger, views
from orchestrator.simulator.config import SimulatorConfig
from orchestrator.simulator.errors import request_error
from orchestrator.simulator.store import SimStore
from orchestrator.simulator.workers import (
    PAIR_SIDES,
    SimWorker,
    build_answer_xml,
    html_of_question,
    is_eligible,
    is_pair_form,
    item_key_of,
    read_form,
    simulate_answer,
    simulate_pair_answer,
    true_label,
)


def schedule_slots(
    db: sqlite3.Connection, config: SimulatorConfig, hit_id: str, first: int, n: int
) -> None:
    """Schedule slots ``first .. first + n - 1`` of the HIT: arrival time and no-show."""
    now = time.time()
    seq = db.execute("SELECT draw_seq FROM hits WHERE id=?", (hit_id,)).fetchone()["draw_seq"]
    for slot_no in range(first, first + n):
        rng = np.random.default_rng([config.seed, 3, seq, slot_no])
        due = now + float(rng.exponential(config.workers.mean_arrival_s)) * config.time_factor
        no_show = int(rng.random() < config.faults.no_show_rate)
        if not config.simulate_workers:
            no_show = 1
        db.execute(
            "INSERT INTO slots(hit_id, slot_no, due, no_show, state) VALUES (?,?,?,?,?)",
            (hit_id, slot_no, due, no_show, "scheduled"),
        )


class SimulatedCrowd(SimStore):
    """The simulated workers filling the HITs, and the browser worker's view of a HIT."""

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
                "SELECT s.id, s.hit_id, s.slot_no, s.due, h.draw_seq, h.expiration, h.hit_type_id, "
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
                rng = np.random.default_rng([self.config.seed, 4, s["draw_seq"], s["slot_no"]])
                worker = self._pick_worker(db, s, blocked, rng)
                if worker is None:
                    db.execute("UPDATE slots SET state='unfilled' WHERE id=?", (s["id"],))
                    continue
                self._answer_slot(db, s, worker, rng)
                done += 1
        return done

    def _pick_worker(
        self, db: sqlite3.Connection, slot: sqlite3.Row, blocked: set[str], rng: np.random.Generator
    ) -> SimWorker | None:
        """The first worker of the slot's seeded shuffle of the pool who is not blocked, has not
        worked on the HIT and meets its qualification requirements; None when nobody does."""
        reqs = views.hit_type_spec(db, slot["hit_type_id"]).get("QualificationRequirements", [])
        taken = {
            r["worker_id"]
            for r in db.execute(
                "SELECT worker_id FROM assignments WHERE hit_id=?", (slot["hit_id"],)
            )
        }
        order = rng.permutation(len(self.pool))
        return next(
            (
                self.pool[int(i)]
                for i in order
                if self.pool[int(i)].worker_id not in blocked
                and self.pool[int(i)].worker_id not in taken
                and is_eligible(self.pool[int(i)], reqs, self._qual_value)
            ),
            None,
        )

    def _answer_slot(
        self, db: sqlite3.Connection, slot: sqlite3.Row, worker: SimWorker, rng: np.random.Generator
    ) -> None:
        """``worker`` answers the slot's HIT from the oracle and submits at the slot's due time
        (the accept time is back-dated by a drawn working time)."""
        form = read_form(slot["question"])
        if is_pair_form(form):
            # both keys are in the form (the annotation names only the first item)
            truths = [
                true_label(
                    self.config,
                    form.hidden[f"{side}_key"] or None,
                    form.options,
                    form.hidden.get(f"{side}_current_label", ""),
                    rng,
                )
                for side in PAIR_SIDES
            ]
            fields = simulate_pair_answer(worker, truths, form, rng)
        else:
            key = item_key_of(slot["annotation"] or "", form)
            current = form.hidden.get("current_label", "")
            truth = true_label(self.config, key, form.options, current, rng)
            anchoring = self.config.workers.anchoring
            fields = simulate_answer(worker, truth, form, rng, anchoring=anchoring)
        aid = self._new_id("3")
        work = self._scaled(float(rng.exponential(worker.mean_work_s)))
        db.execute(
            "INSERT INTO assignments(id, hit_id, worker_id, status, answer, accept_time, "
            "submit_time, source) VALUES (?,?,?,?,?,?,?,?)",
            (
                aid,
                slot["hit_id"],
                worker.worker_id,
                "Submitted",
                build_answer_xml(fields),
                slot["due"] - work,
                slot["due"],
                "sim",
            ),
        )
        db.execute(
            "UPDATE slots SET state='submitted', assignment_id=? WHERE id=?", (aid, slot["id"])
        )

    def _auto_approve(self, db: sqlite3.Connection, now: float) -> None:
        rows = db.execute(
            "SELECT a.id, a.worker_id, a.submit_time, t.spec FROM assignments a "
            "JOIN hits h ON h.id=a.hit_id JOIN hit_types t ON t.id=h.hit_type_id "
            "WHERE a.status='Submitted'"
        ).fetchall()
        for r in rows:
            spec = json.loads(r["spec"])
            delay = float(spec.get("AutoApprovalDelayInSeconds", views.DEFAULT_AUTO_APPROVAL_S))
            if r["submit_time"] + delay <= now:
                ledger.pay_reward(
                    db,
                    self.config.initial_balance_usd,
                    r["id"],
                    r["worker_id"],
                    now,
                    kind="auto_reward",
                )

    def accept(self, hit_id: str, worker_id: str) -> str:
        """A (browser) worker accepts a HIT: returns the assignment id (the same on reload)."""
        now = time.time()
        with self.tx() as db:
            row = views.hit_row(db, hit_id)
            prev = db.execute(
                "SELECT id, status FROM assignments WHERE hit_id=? AND worker_id=?",
                (hit_id, worker_id),
            ).fetchone()
            if prev is not None:
                if prev["status"] != "Accepted":
                    raise request_error("You already submitted this HIT.", "AlreadySubmitted")
                return str(prev["id"])
            if db.execute("SELECT 1 FROM blocks WHERE worker_id=?", (worker_id,)).fetchone():
                raise request_error("You are blocked by this requester.", "WorkerBlocked")
            status, _p, available, _c = views.hit_status(db, row, now)
            if status != "Assignable" or available < 1:
                raise request_error(f"HIT {hit_id} has no available assignment.", "NoAvailable")
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
                raise request_error(
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
        with self.tx() as db:
            return html_of_question(views.hit_row(db, hit_id)["question"])

    def assignable_hits(self) -> list[tuple[str, str]]:
        """(HIT id, title) of every HIT a worker could accept now."""
        now = time.time()
        with self.tx() as db:
            out = []
            for r in db.execute("SELECT * FROM hits WHERE disposed=0 ORDER BY seq").fetchall():
                d = views.hit_dict(db, r, now)
                if d["HITStatus"] == "Assignable":
                    out.append((str(r["id"]), str(d["Title"])))
            return out
