"""The review operations of the simulated Requester API: reading assignments, approving and
rejecting them, bonuses and the account balance.

Each ``op_<name>`` implements MTurk's operation of that name (see :mod:`hit_ops`). Reviews of an
assignment MTurk has not caught up with yet fail as MTurk's do (:func:`views.check_settled`).
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from orchestrator.simulator import ledger, views
from orchestrator.simulator.errors import request_error
from orchestrator.simulator.store import SimStore, once_per_token


class ReviewOperations(SimStore):
    """ListAssignmentsForHIT, GetAssignment, ApproveAssignment, RejectAssignment, SendBonus and
    GetAccountBalance."""

    def op_list_assignments_for_hit(self, req: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        statuses = set(req.get("AssignmentStatuses") or ["Submitted", "Approved", "Rejected"])
        with self.tx() as db:
            views.hit_row(db, req["HITId"])
            rows = [
                a
                for a in db.execute(
                    "SELECT * FROM assignments WHERE hit_id=? ORDER BY submit_time, id",
                    (req["HITId"],),
                )
                if a["status"] in statuses and views.is_visible(self.config, a, now)
            ]
            return views.listing(rows, req, "Assignments", lambda a: views.assignment_dict(db, a))

    def op_get_assignment(self, req: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        with self.tx() as db:
            a = views.visible_assignment(db, self.config, req["AssignmentId"], now)
            return {
                "Assignment": views.assignment_dict(db, a),
                "HIT": views.hit_dict(db, views.hit_row(db, a["hit_id"]), now),
            }

    def op_approve_assignment(self, req: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        with self.tx() as db:
            a = views.visible_assignment(db, self.config, req["AssignmentId"], now)
            views.check_settled(self.config, a, now)
            override = bool(req.get("OverrideRejection"))
            if not (a["status"] == "Submitted" or (override and a["status"] == "Rejected")):
                raise request_error(
                    f"This operation can be called with a status of: Submitted "
                    f"(assignment {a['id']} is {a['status']})",
                    "InvalidAssignmentState",
                )
            ledger.pay_reward(
                db, self.config.initial_balance_usd, a["id"], a["worker_id"], now, kind="reward"
            )
            if req.get("RequesterFeedback"):
                db.execute(
                    "UPDATE assignments SET feedback=? WHERE id=?",
                    (req["RequesterFeedback"], a["id"]),
                )
        return {}

    def op_reject_assignment(self, req: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        if not str(req.get("RequesterFeedback", "")).strip():
            raise request_error("RequesterFeedback is required.", "ParameterValidationError")
        with self.tx() as db:
            a = views.visible_assignment(db, self.config, req["AssignmentId"], now)
            views.check_settled(self.config, a, now)
            if a["status"] != "Submitted":
                raise request_error(
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
            raise request_error("BonusAmount must be positive.", "ParameterValidationError")
        if not str(req.get("Reason") or "").strip():
            raise request_error("Reason is required for SendBonus.", "ParameterValidationError")
        token = req.get("UniqueRequestToken")
        already = f"The bonus for UniqueRequestToken {token} has already been sent."
        with self.tx() as db, once_per_token(db, token, "SendBonus", already, now):
            a = views.visible_assignment(db, self.config, req["AssignmentId"], now)
            views.check_settled(self.config, a, now)
            if a["worker_id"] != req["WorkerId"]:
                raise request_error(
                    "The worker did not work on this assignment.", "ParameterValidationError"
                )
            ledger.debit(
                db,
                self.config.initial_balance_usd,
                "bonus",
                amount,
                a["id"],
                a["worker_id"],
                str(req["Reason"]),
                now,
            )
        return {}

    def op_get_account_balance(self, req: dict[str, Any]) -> dict[str, Any]:
        bal = self.balance().quantize(Decimal("0.01"), rounding="ROUND_FLOOR")
        return {"AvailableBalance": f"{bal:.2f}", "OnHoldBalance": "0.00"}
