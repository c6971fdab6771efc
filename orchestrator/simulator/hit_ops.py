"""The HIT operations of the simulated Requester API: HIT types, HITs, their listing, extension,
expiry and deletion.

Each ``op_<name>`` implements MTurk's operation of that name: it takes the decoded JSON request
and returns the JSON response, or raises :class:`~orchestrator.simulator.errors.MTurkError`.
CreateHITType and CreateHIT enforce MTurk's rules on the request
(:mod:`orchestrator.simulator.question_rules`).
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from orchestrator.simulator import views
from orchestrator.simulator.errors import checked, request_error
from orchestrator.simulator.question_rules import check_hit_type, check_question
from orchestrator.simulator.simulated_crowd import schedule_slots
from orchestrator.simulator.store import SimStore, once_per_token
from orchestrator.simulator.workers import item_key_of, read_form


class HitOperations(SimStore):
    """CreateHITType, CreateHITWithHITType, GetHIT, ListHITs, ListReviewableHITs,
    CreateAdditionalAssignmentsForHIT, UpdateExpirationForHIT and DeleteHIT."""

    def op_create_hit_type(self, req: dict[str, Any]) -> dict[str, Any]:
        spec = dict(req)
        spec.setdefault("AutoApprovalDelayInSeconds", views.DEFAULT_AUTO_APPROVAL_S)
        spec.setdefault("Keywords", "")
        spec.setdefault("QualificationRequirements", [])
        checked(check_hit_type, spec)
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
        checked(check_question, question)
        max_a = int(req.get("MaxAssignments", 1))
        if not 1 <= max_a <= 1_000_000:
            raise request_error(
                "MaxAssignments must be in [1, 1000000].", "ParameterValidationError"
            )
        lifetime = int(req["LifetimeInSeconds"])
        if not 30 <= lifetime <= 31_536_000:
            raise request_error(
                "LifetimeInSeconds must be in [30, 31536000].", "ParameterValidationError"
            )
        annotation = str(req.get("RequesterAnnotation") or "")
        if len(annotation) > 255:
            raise request_error(
                "RequesterAnnotation is longer than 255.", "ParameterValidationError"
            )
        token = req.get("UniqueRequestToken")
        form = read_form(question)
        with self.tx() as db:
            if not db.execute("SELECT 1 FROM hit_types WHERE id=?", (req["HITTypeId"],)).fetchone():
                raise request_error(
                    f"Hit type {req['HITTypeId']} does not exist.", "HITTypeDoesNotExist"
                )
            if token:
                dup = db.execute("SELECT id FROM hits WHERE token=?", (token,)).fetchone()
                if dup:
                    raise request_error(
                        f"The HIT with ID {dup['id']} already exists for the "
                        f"UniqueRequestToken {token}.",
                        "HitAlreadyExists",
                    )
            hit_id = self._new_id("3")
            seq = self._counter("hit_seq")
            draw_seq = seq - self._meta_int("stream_base")  # see new_answer_stream
            db.execute(
                "INSERT INTO hits(id, hit_type_id, token, annotation, question, max_assignments, "
                "created, expiration, item_key, options, current_label, seq, draw_seq) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
                    draw_seq,
                ),
            )
            schedule_slots(db, self.config, hit_id, 0, max_a)
            row = views.hit_row(db, hit_id)
            return {"HIT": views.hit_dict(db, row, now)}

    def op_get_hit(self, req: dict[str, Any]) -> dict[str, Any]:
        with self.tx() as db:
            return {"HIT": views.hit_dict(db, views.hit_row(db, req["HITId"]), time.time())}

    def op_list_hits(self, req: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        with self.tx() as db:
            rows = db.execute("SELECT * FROM hits WHERE disposed=0 ORDER BY seq").fetchall()
            return views.listing(rows, req, "HITs", lambda r: views.hit_dict(db, r, now))

    def op_list_reviewable_hits(self, req: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        want = req.get("Status", "Reviewable")
        with self.tx() as db:
            rows = db.execute("SELECT * FROM hits WHERE disposed=0 ORDER BY seq").fetchall()
            if req.get("HITTypeId"):
                rows = [r for r in rows if r["hit_type_id"] == req["HITTypeId"]]
            match = [r for r in rows if views.hit_status(db, r, now)[0] == want]
            return views.listing(match, req, "HITs", lambda r: views.hit_dict(db, r, now))

    def op_create_additional_assignments_for_hit(self, req: dict[str, Any]) -> dict[str, Any]:
        n = int(req["NumberOfAdditionalAssignments"])
        if n < 1:
            raise request_error(
                "NumberOfAdditionalAssignments must be >= 1.", "ParameterValidationError"
            )
        token = req.get("UniqueRequestToken")
        already = f"The extension for UniqueRequestToken {token} has already been made."
        with self.tx() as db, once_per_token(db, token, "CreateAdditional", already):
            row = views.hit_row(db, req["HITId"])
            if row["disposed"]:
                raise request_error(f"Hit {row['id']} is disposed.", "InvalidHITState")
            old = int(row["max_assignments"])
            if old < 10 <= old + n:
                raise request_error(
                    "HITs created with fewer than 10 assignments cannot be extended to 10 or more.",
                    "ParameterValidationError",
                )
            db.execute("UPDATE hits SET max_assignments=? WHERE id=?", (old + n, row["id"]))
            schedule_slots(db, self.config, row["id"], old, n)
        return {}

    def op_update_expiration_for_hit(self, req: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        expire_at = float(req["ExpireAt"])
        with self.tx() as db:
            row = views.hit_row(db, req["HITId"])
            if row["disposed"]:
                raise request_error(f"Hit {row['id']} is disposed.", "InvalidHITState")
            db.execute(
                "UPDATE hits SET expiration=? WHERE id=?",
                (max(expire_at, now), row["id"]),
            )
        return {}

    def op_delete_hit(self, req: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        with self.tx() as db:
            row = views.hit_row(db, req["HITId"])
            if row["disposed"]:
                raise request_error(
                    f"Hit {row['id']} does not exist. (disposed)", "HITDoesNotExist"
                )
            status, pending, _avail, _done = views.hit_status(db, row, now)
            submitted = db.execute(
                "SELECT COUNT(*) AS n FROM assignments WHERE hit_id=? AND status='Submitted'",
                (row["id"],),
            ).fetchone()["n"]
            expired = now >= row["expiration"]
            if (status != "Reviewable" and not expired) or submitted or pending:
                raise request_error(
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
