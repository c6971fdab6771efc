"""Settle assignments: approve or reject them on the platform, book the money exactly once.

A decision is first recorded as ``APPROVE_PENDING`` / ``REJECT_PENDING``, then sent. Refusals
caused by MTurk's eventual consistency keep it pending for the next collect or settle; "wrong
status" answers (approved before a crash, or auto-approved) are resolved with GetAssignment.
The reward is booked under an idempotency key per assignment, so an approval can never be
booked, or paid, twice. Reservations that can no longer turn into payments are released.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlmodel import Session, col, select

from orchestrator.crowd.campaign_crowd import UNDECIDED_ASSIGNMENT_STATUSES, CampaignCrowd
from orchestrator.crowd.ledger import book, lock_campaign, release_outstanding
from orchestrator.crowd.platform import (
    AlreadyDoneError,
    InvalidRequestError,
    NotReadyError,
    PlatformAssignmentStatus,
    PlatformError,
    TransientPlatformError,
)
from orchestrator.db.engine import session_scope
from orchestrator.db.models import (
    Answer,
    Assignment,
    AssignmentStatus,
    Campaign,
    Hit,
    HitStatus,
    Item,
    LedgerKind,
)
from orchestrator.db.types import utcnow

log = logging.getLogger(__name__)

#: RequesterFeedback's limit on MTurk, characters.
MAX_FEEDBACK_CHARS = 1024
#: Separates the worker's feedback from the evidence in ``Assignment.feedback``.
_EVIDENCE_MARK = "\n\nEvidence: "


@dataclass(frozen=True)
class Decision:
    """Approve or reject one assignment (``Assignment.id`` or MTurk's AssignmentId).

    A rejection needs ``feedback`` (sent to the worker as RequesterFeedback) and ``evidence``
    (kept in the ledger), e.g. the gold answers the worker missed.
    """

    assignment: uuid.UUID | str
    approve: bool
    feedback: str | None = None
    evidence: str | None = None


@dataclass
class SettleReport:
    """Outcome of :func:`settle_assignments`."""

    approved: int = 0
    rejected: int = 0
    pending: int = 0  # platform not ready yet: retried on the next collect/settle
    skipped: int = 0  # already decided earlier
    released_usd: Decimal = Decimal("0")
    errors: list[str] = field(default_factory=list)


def default_decisions(crowd: CampaignCrowd, *, reject_failed_gold: bool = False) -> list[Decision]:
    """Approve every submitted assignment; optionally reject wrong answers to gold checks.

    A rejection carries the control item's correct answer as feedback and evidence. Intended to
    be called after aggregation; callers with their own evidence build :class:`Decision` s.
    One decision per assignment: a pair HIT's assignment holds two answers but is paid once.
    """
    out: dict[uuid.UUID, Decision] = {}
    with session_scope(crowd.engine) as session:
        rows = session.exec(
            select(Assignment, Hit, Answer, Item)
            .join(Hit, col(Hit.id) == col(Assignment.hit_pk))
            .join(Answer, col(Answer.assignment_pk) == col(Assignment.id))
            .join(Item, col(Item.id) == col(Answer.item_id))
            .where(
                Hit.campaign_id == crowd.campaign_id,
                Assignment.status == AssignmentStatus.SUBMITTED,
            )
        ).all()
        for a, hit, ans, item in rows:
            if a.id in out:
                continue  # gold checks are single-item HITs: the pair's second row adds nothing
            if (
                reject_failed_gold
                and hit.is_gold_check
                and item.gold_label is not None
                and ans.label != item.gold_label
            ):
                out[a.id] = Decision(
                    a.id,
                    approve=False,
                    feedback=(
                        "This was a control question with a known answer: the correct label "
                        f"was '{item.gold_label}', your answer was '{ans.label or 'empty'}'."
                    ),
                    evidence=f"gold item {item.external_id}: expected {item.gold_label!r}, "
                    f"got {ans.label!r}",
                )
            else:
                out[a.id] = Decision(a.id, approve=True)
    return list(out.values())


def settle_assignments(crowd: CampaignCrowd, decisions: Sequence[Decision]) -> SettleReport:
    """Approve or reject assignments (after aggregation), then release unused reservations.

    Decisions are validated first (a rejection without feedback or evidence raises
    ``ValueError`` before anything is written), recorded as ``APPROVE_PENDING`` /
    ``REJECT_PENDING``, then sent. Assignments already decided are skipped; platform refusals
    due to eventual consistency stay pending and are retried by the next
    :func:`~orchestrator.crowd.collect.collect_answers` or :func:`settle_assignments`.
    """
    for d in decisions:
        _check_decision(d)
    report = SettleReport()
    with session_scope(crowd.engine) as session:
        for d in decisions:
            if isinstance(d.assignment, uuid.UUID):
                a = session.get(Assignment, d.assignment)
            else:
                a = session.exec(
                    select(Assignment).where(Assignment.assignment_id == d.assignment)
                ).first()
            hit = session.get(Hit, a.hit_pk) if a is not None else None
            if a is None or hit is None or hit.campaign_id != crowd.campaign_id:
                report.errors.append(f"unknown assignment {d.assignment}")
                continue
            if a.status != AssignmentStatus.SUBMITTED:
                report.skipped += 1
                continue
            if d.approve:
                a.status = AssignmentStatus.APPROVE_PENDING
            else:
                a.status = AssignmentStatus.REJECT_PENDING
                a.feedback = f"{d.feedback}{_EVIDENCE_MARK}{d.evidence}"[:2000]
            session.add(a)
    applied = apply_pending(crowd)
    report.approved = applied.approved
    report.rejected = applied.rejected
    report.pending = applied.pending
    report.errors.extend(applied.errors)
    report.released_usd = release_unused(crowd)
    return report


def _check_decision(d: Decision) -> None:
    if d.approve:
        return
    if not (d.feedback and d.feedback.strip()):
        raise ValueError(f"rejecting {d.assignment} needs feedback for the worker")
    if not (d.evidence and d.evidence.strip()):
        raise ValueError(f"rejecting {d.assignment} needs evidence")
    if len(d.feedback) > MAX_FEEDBACK_CHARS:
        raise ValueError(f"RequesterFeedback is limited to {MAX_FEEDBACK_CHARS} characters")


def _split_feedback(stored: str | None) -> tuple[str, str]:
    text = stored or ""
    if _EVIDENCE_MARK in text:
        fb, ev = text.split(_EVIDENCE_MARK, 1)
        return fb, ev
    return text or "Your answer did not meet the task's requirements.", text or "unspecified"


def apply_pending(crowd: CampaignCrowd) -> SettleReport:
    """Send every pending approval and rejection of the campaign; book those that went through.

    Only ``approved``, ``rejected``, ``pending`` and ``errors`` of the report are filled in.
    """
    report = SettleReport()
    with session_scope(crowd.engine) as session:
        pending = list(
            session.exec(
                select(Assignment.id)
                .join(Hit, col(Hit.id) == col(Assignment.hit_pk))
                .where(
                    Hit.campaign_id == crowd.campaign_id,
                    col(Assignment.status).in_(
                        [AssignmentStatus.APPROVE_PENDING, AssignmentStatus.REJECT_PENDING]
                    ),
                )
            )
        )
    for pk in pending:
        _apply_one(crowd, pk, report)
    return report


def _apply_one(crowd: CampaignCrowd, pk: uuid.UUID, report: SettleReport) -> None:
    with session_scope(crowd.engine) as session:
        a = session.get(Assignment, pk)
        if a is None or a.status not in (
            AssignmentStatus.APPROVE_PENDING,
            AssignmentStatus.REJECT_PENDING,
        ):
            return
        hit = session.get(Hit, a.hit_pk)
        campaign = session.get(Campaign, crowd.campaign_id)
        assert hit is not None and campaign is not None
        approve = a.status == AssignmentStatus.APPROVE_PENDING
        feedback, evidence = _split_feedback(a.feedback)
        try:
            if approve:
                crowd.platform.approve_assignment(a.assignment_id)
            else:
                crowd.platform.reject_assignment(a.assignment_id, feedback)
            final: PlatformAssignmentStatus | None = (
                PlatformAssignmentStatus.APPROVED if approve else PlatformAssignmentStatus.REJECTED
            )
        except (NotReadyError, TransientPlatformError) as exc:
            log.info("assignment %s not settled yet: %s", a.assignment_id, exc)
            report.pending += 1
            return
        except (InvalidRequestError, AlreadyDoneError) as exc:
            # e.g. approved before a crash, or auto-approved: ask what it is now
            try:
                final = crowd.platform.get_assignment(a.assignment_id).status
            except PlatformError as exc2:
                report.errors.append(f"{a.assignment_id}: {exc}; {exc2}")
                report.pending += 1
                return
            if final == PlatformAssignmentStatus.SUBMITTED:
                report.errors.append(f"{a.assignment_id}: {exc}")
                report.pending += 1
                return
        if final == PlatformAssignmentStatus.APPROVED:
            book_approval(session, campaign, hit, a)
            report.approved += 1
        else:
            book_rejection(session, campaign, hit, a, evidence)
            report.rejected += 1


def book_approval(session: Session, campaign: Campaign, hit: Hit, a: Assignment) -> None:
    """Turn one assignment's share of the HIT's reservation into a paid reward (idempotent)."""
    book(
        session,
        campaign,
        LedgerKind.REWARD,
        Decimal(hit.reward_usd),
        f"reward:{a.id}",
        hit_pk=hit.id,
        assignment_pk=a.id,
        check_cap=False,
    )
    _release_share(
        session,
        campaign,
        hit,
        a,
        f"convert:{a.id}",
        "reservation → reward",
        AssignmentStatus.APPROVED,
    )


def book_rejection(
    session: Session, campaign: Campaign, hit: Hit, a: Assignment, evidence: str
) -> None:
    """Release one rejected assignment's share of the HIT's reservation (idempotent)."""
    _release_share(
        session,
        campaign,
        hit,
        a,
        f"reject:{a.id}",
        f"rejected: {evidence}",
        AssignmentStatus.REJECTED,
    )


def _release_share(
    session: Session,
    campaign: Campaign,
    hit: Hit,
    a: Assignment,
    key: str,
    note: str,
    decided: AssignmentStatus,
) -> None:
    """Take the assignment's reward off the HIT's reservation and record the decision."""
    book(
        session,
        campaign,
        LedgerKind.RELEASE,
        -Decimal(hit.reward_usd),
        key,
        hit_pk=hit.id,
        assignment_pk=a.id,
        note=note,
        check_cap=False,
    )
    a.status = decided
    a.decided_at = a.decided_at or utcnow()
    session.add(a)


def release_unused(crowd: CampaignCrowd) -> Decimal:
    """Give back the reservations of HITs that can take no more answers, USD released.

    A HIT qualifies when it is ``COMPLETED`` (reviewable), ``EXPIRED``, ``DISPOSED`` or
    ``FAILED`` and none of its assignments awaits a decision.
    """
    released = Decimal("0")
    with session_scope(crowd.engine) as session:
        campaign = lock_campaign(session, crowd.campaign_id)
        hits = session.exec(
            select(Hit).where(
                Hit.campaign_id == crowd.campaign_id,
                col(Hit.status).in_(
                    [HitStatus.COMPLETED, HitStatus.EXPIRED, HitStatus.DISPOSED, HitStatus.FAILED]
                ),
            )
        ).all()
        for hit in hits:
            undecided = session.exec(
                select(Assignment.id).where(
                    Assignment.hit_pk == hit.id,
                    col(Assignment.status).in_(UNDECIDED_ASSIGNMENT_STATUSES),
                )
            ).first()
            if undecided is not None:
                continue
            # the key carries max_assignments: a HIT given more answers later can release again
            released += release_outstanding(
                session,
                campaign,
                hit.id,
                f"release-unused:{hit.id}:{hit.max_assignments}",
                note="unanswered slots",
            )
    return released
