"""The workforce operations of the simulated Requester API: qualification types, granting them
to workers, blocking workers and notifying them.

Each ``op_<name>`` implements MTurk's operation of that name (see :mod:`hit_ops`).
"""

from __future__ import annotations

import json
import time
from typing import Any

from orchestrator.simulator import views
from orchestrator.simulator.errors import request_error
from orchestrator.simulator.store import SimStore


class WorkforceOperations(SimStore):
    """CreateQualificationType, ListQualificationTypes, AssociateQualificationWithWorker,
    CreateWorkerBlock and NotifyWorkers."""

    def op_create_qualification_type(self, req: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        with self.tx() as db:
            if db.execute("SELECT 1 FROM qual_types WHERE name=?", (req["Name"],)).fetchone():
                raise request_error(
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
            return views.listing(ids, req, "QualificationTypes", self._qual_dict)

    def op_associate_qualification_with_worker(self, req: dict[str, Any]) -> dict[str, Any]:
        with self.tx() as db:
            if not db.execute(
                "SELECT 1 FROM qual_types WHERE id=?", (req["QualificationTypeId"],)
            ).fetchone():
                raise request_error(
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
            raise request_error("WorkerIds must hold at most 100 ids.", "ParameterValidationError")
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
