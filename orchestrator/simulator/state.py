"""The simulator's MTurk state: one object that answers every Requester operation.

:class:`SimulatorState` puts together the rooms of the simulated MTurk, one job each:

* :mod:`~orchestrator.simulator.store`: the SQLite file, its lock, ids and the request log;
* :mod:`~orchestrator.simulator.hit_ops`: HIT types and HITs;
* :mod:`~orchestrator.simulator.review_ops`: assignments, approval, rejection, bonuses, balance;
* :mod:`~orchestrator.simulator.workforce_ops`: qualifications, blocks, notifications;
* :mod:`~orchestrator.simulator.simulated_crowd`: the simulated workers and the browser worker;
* :mod:`~orchestrator.simulator.views` and :mod:`~orchestrator.simulator.ledger`: the shared
  reads (HIT status, wire dicts, visibility) and the money.

Every public ``op_*`` method takes the decoded JSON request and returns the JSON response, or
raises :class:`~orchestrator.simulator.errors.MTurkError`; the server finds them by name. All
methods run under one lock; the file outlives the process, so an orchestrator (or simulator)
restart sees the same HITs, assignments, tokens and payments.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from orchestrator.simulator.hit_ops import HitOperations
from orchestrator.simulator.review_ops import ReviewOperations
from orchestrator.simulator.simulated_crowd import SimulatedCrowd
from orchestrator.simulator.workforce_ops import WorkforceOperations


class SimulatorState(HitOperations, ReviewOperations, WorkforceOperations, SimulatedCrowd):
    """MTurk's requester-side state plus the simulated crowd that fills it.

    Each base adds one group of operations to the same :class:`~.store.SimStore` (one file,
    one lock); they call each other only through :mod:`views`, :mod:`ledger` and
    :func:`~.simulated_crowd.schedule_slots`, so the order of the bases does not matter.
    """

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
