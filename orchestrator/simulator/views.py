"""How MTurk shows HITs and assignments: their status, their wire dicts and their visibility.

Pure reads over an open transaction; the operation mixins build their responses from these.
Visibility models MTurk's eventual consistency: a submitted assignment appears in listings only
``faults.visibility_delay_s`` after submission, and can be reviewed only after
``faults.consistency_lag_s`` (both in simulated seconds).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from orchestrator.simulator.config import SimulatorConfig
from orchestrator.simulator.errors import request_error

T = TypeVar("T")

DEFAULT_AUTO_APPROVAL_S = 2592000
"""MTurk's default ``AutoApprovalDelayInSeconds`` (30 days)."""


def hit_row(db: sqlite3.Connection, hit_id: str) -> sqlite3.Row:
    """The HIT's row, or MTurk's ``HITDoesNotExist``."""
    row = db.execute("SELECT * FROM hits WHERE id=?", (hit_id,)).fetchone()
    if row is None:
        raise request_error(f"Hit {hit_id} does not exist.", "HITDoesNotExist")
    return row


def hit_type_spec(db: sqlite3.Connection, hit_type_id: str) -> dict[str, Any]:
    """The CreateHITType request (with MTurk's defaults filled in) of ``hit_type_id``."""
    spec: dict[str, Any] = json.loads(
        db.execute("SELECT spec FROM hit_types WHERE id=?", (hit_type_id,)).fetchone()["spec"]
    )
    return spec


def hit_status(db: sqlite3.Connection, row: sqlite3.Row, now: float) -> tuple[str, int, int, int]:
    """(HITStatus, pending, available, completed assignments) of the HIT at ``now``."""
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


def hit_dict(db: sqlite3.Connection, row: sqlite3.Row, now: float) -> dict[str, Any]:
    """The HIT as MTurk's ``HIT`` structure (times in epoch seconds)."""
    spec = hit_type_spec(db, row["hit_type_id"])
    status, pending, available, completed = hit_status(db, row, now)
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
        "AutoApprovalDelayInSeconds": spec.get(
            "AutoApprovalDelayInSeconds", DEFAULT_AUTO_APPROVAL_S
        ),
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


def assignment_dict(db: sqlite3.Connection, a: sqlite3.Row) -> dict[str, Any]:
    """The assignment as MTurk's ``Assignment`` structure (times in epoch seconds)."""
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
        + float(spec.get("AutoApprovalDelayInSeconds", DEFAULT_AUTO_APPROVAL_S)),
        "Answer": a["answer"] or "",
    }
    if a["approval_time"]:
        out["ApprovalTime"] = a["approval_time"]
    if a["rejection_time"]:
        out["RejectionTime"] = a["rejection_time"]
    if a["feedback"]:
        out["RequesterFeedback"] = a["feedback"]
    return out


def listing(
    items: Sequence[T], req: dict[str, Any], key: str, render: Callable[[T], dict[str, Any]]
) -> dict[str, Any]:
    """One page of a List* response: ``{key: [render(item), ...], "NumResults": n}``, plus the
    ``NextToken`` of the next page when more remain (``MaxResults`` defaults to 10)."""
    start = int(req.get("NextToken") or 0)
    size = int(req.get("MaxResults") or 10)
    end = start + size
    chunk = items[start:end]
    out: dict[str, Any] = {key: [render(x) for x in chunk], "NumResults": len(chunk)}
    if end < len(items):
        out["NextToken"] = str(end)
    return out


def is_visible(config: SimulatorConfig, a: sqlite3.Row, now: float) -> bool:
    """Whether the requester can see assignment ``a`` yet (never while only accepted)."""
    if a["status"] == "Accepted":
        return False
    submit = a["submit_time"] or 0.0
    return bool(submit + config.faults.visibility_delay_s * config.time_factor <= now)


def visible_assignment(
    db: sqlite3.Connection, config: SimulatorConfig, assignment_id: str, now: float
) -> sqlite3.Row:
    """The assignment's row, or ``AssignmentDoesNotExist`` while the requester cannot see it."""
    a = db.execute("SELECT * FROM assignments WHERE id=?", (assignment_id,)).fetchone()
    if a is None or not is_visible(config, a, now):
        raise request_error(f"Assignment {assignment_id} does not exist.", "AssignmentDoesNotExist")
    return a


def check_settled(config: SimulatorConfig, a: sqlite3.Row, now: float) -> None:
    """Refuse a review of ``a`` until MTurk's state has caught up with its submission."""
    lag = config.faults.consistency_lag_s * config.time_factor
    if (a["submit_time"] or 0) + lag > now:
        raise request_error(
            f"Assignment {a['id']} does not exist. (not yet consistent)",
            "AssignmentDoesNotExist",
        )
