"""Collect answers: poll the platform for submitted assignments and store them exactly once.

Each new assignment becomes a ``Worker`` (if new), an ``Assignment`` and an ``Answer`` row per
item it is about (two for a pair HIT: :func:`~orchestrator.crowd.pair_task.parse_pair_answer`
gives each item its label); its ``QuestionFormAnswers`` is parsed defensively (unusable →
``Answer.label`` None). A poll
also learns the decisions made on the platform (auto-approval after the delay), so the ledger
follows what MTurk paid, and retries the decisions and bonuses still pending.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from orchestrator.crowd.answers import parse_answer
from orchestrator.crowd.bonus import retry_pending_bonuses
from orchestrator.crowd.campaign_crowd import (
    LIVE_HIT_STATUSES,
    UNDECIDED_ASSIGNMENT_STATUSES,
    CampaignCrowd,
)
from orchestrator.crowd.pair_task import WRONG_CHOICES, parse_pair_answer
from orchestrator.crowd.platform import PlatformAssignment, PlatformAssignmentStatus, PlatformError
from orchestrator.crowd.settle import apply_pending, book_approval, book_rejection
from orchestrator.crowd.workers import exclude_failing_workers, get_or_create_worker
from orchestrator.db import counters
from orchestrator.db.engine import session_scope
from orchestrator.db.models import (
    Answer,
    Assignment,
    AssignmentStatus,
    Campaign,
    Hit,
    HitStatus,
    Item,
    Worker,
)
from orchestrator.db.types import utcnow

#: Longest answer document kept on the assignment row, characters.
MAX_STORED_ANSWER_CHARS = 200_000


@dataclass
class CollectReport:
    """Outcome of :func:`collect_answers`."""

    new_answers: int = 0  # Answer rows: one per item of each new assignment
    unusable_answers: int = 0
    outstanding_hits: list[uuid.UUID] = field(default_factory=list)  # Hit pks still open
    completed_hits: list[uuid.UUID] = field(default_factory=list)
    answers_per_item: dict[uuid.UUID, int] = field(default_factory=dict)
    blocked_workers: list[str] = field(default_factory=list)
    synced_decisions: int = 0  # approvals/rejections (auto-approvals too) learnt from MTurk
    pending_decisions: int = 0
    pending_bonuses: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        """No HIT of the campaign is still waiting for answers."""
        return not self.outstanding_hits


def collect_answers(crowd: CampaignCrowd, *, round_id: uuid.UUID | None = None) -> CollectReport:
    """Poll MTurk for new assignments and store them (Worker, Assignment, Answer rows).

    Parses each ``QuestionFormAnswers`` defensively (unusable → ``Answer.label`` None), updates
    workers' gold accuracy and excludes/blocks those below the campaign's threshold, learns
    approvals/rejections made on the platform (auto-approval), retries pending decisions and
    bonuses, and marks HITs ``COMPLETED`` once MTurk lists them as reviewable. Limit to one
    round with ``round_id``. Safe to call as often as you like.
    """
    report = CollectReport()
    to_poll = _hits_to_poll(crowd, round_id)
    reviewable: set[str] = set()
    try:
        for type_id in sorted({h.hit_type_id for h in to_poll if h.hit_type_id}):
            reviewable.update(crowd.platform.iter_reviewable_hit_ids(type_id))
    except PlatformError as exc:
        report.errors.append(f"ListReviewableHITs: {exc}")
    seen_workers: set[uuid.UUID] = set()
    for h in to_poll:
        assert h.hit_id is not None
        try:
            platform_assignments = list(crowd.platform.iter_assignments(h.hit_id))
        except PlatformError as exc:
            report.errors.append(f"ListAssignmentsForHIT {h.hit_id}: {exc}")
            if h.status == HitStatus.PUBLISHED:
                report.outstanding_hits.append(h.id)
            continue
        with session_scope(crowd.engine) as session:
            _sync_hit(session, crowd, h, platform_assignments, reviewable, seen_workers, report)
    report.blocked_workers = exclude_failing_workers(crowd, seen_workers)
    settle = apply_pending(crowd)
    report.pending_decisions = settle.pending
    report.errors.extend(settle.errors)
    report.pending_bonuses = retry_pending_bonuses(crowd)
    return report


def _hits_to_poll(crowd: CampaignCrowd, round_id: uuid.UUID | None) -> list[Hit]:
    """HITs still taking answers, and finished ones with an assignment not yet decided."""
    with session_scope(crowd.engine) as session:
        q = select(Hit).where(
            Hit.campaign_id == crowd.campaign_id,
            col(Hit.status).in_(LIVE_HIT_STATUSES),
            col(Hit.hit_id).is_not(None),
        )
        if round_id is not None:
            q = q.where(Hit.round_id == round_id)
        hits = list(session.exec(q))
        with_undecided = set(
            session.exec(
                select(Assignment.hit_pk).where(
                    col(Assignment.hit_pk).in_([h.id for h in hits]),
                    col(Assignment.status).in_(UNDECIDED_ASSIGNMENT_STATUSES),
                )
            )
        )
    return [h for h in hits if h.status == HitStatus.PUBLISHED or h.id in with_undecided]


def _sync_hit(
    session: Session,
    crowd: CampaignCrowd,
    polled: Hit,
    platform_assignments: Sequence[PlatformAssignment],
    reviewable: set[str],
    seen_workers: set[uuid.UUID],
    report: CollectReport,
) -> None:
    """Store one HIT's new assignments, follow its platform decisions, update its status."""
    hit = session.get(Hit, polled.id)
    camp = session.get(Campaign, crowd.campaign_id)
    items = _hit_items(session, polled)
    assert hit is not None and camp is not None
    known = {
        a.assignment_id: a
        for a in session.exec(select(Assignment).where(Assignment.hit_pk == hit.id))
    }
    for pa in platform_assignments:
        a = known.get(pa.assignment_id)
        if a is None:
            w = _store_assignment(session, camp, hit, items, pa, crowd.options, report)
            seen_workers.add(w.id)
            continue
        if pa.status == PlatformAssignmentStatus.APPROVED and a.status in (
            AssignmentStatus.SUBMITTED,
            AssignmentStatus.APPROVE_PENDING,
        ):
            book_approval(session, camp, hit, a)
            report.synced_decisions += 1
        elif pa.status == PlatformAssignmentStatus.REJECTED and a.status in (
            AssignmentStatus.SUBMITTED,
            AssignmentStatus.REJECT_PENDING,
        ):
            book_rejection(session, camp, hit, a, a.feedback or "platform")
            report.synced_decisions += 1
    for item in items:
        n = session.exec(
            select(Answer.id).where(
                Answer.item_id == item.id, Answer.campaign_id == crowd.campaign_id
            )
        ).all()
        report.answers_per_item[item.id] = len(n)
    if hit.hit_id in reviewable and hit.status == HitStatus.PUBLISHED:
        hit.status = HitStatus.COMPLETED
        session.add(hit)
    if hit.status == HitStatus.PUBLISHED:
        report.outstanding_hits.append(hit.id)
    elif hit.status == HitStatus.COMPLETED:
        report.completed_hits.append(hit.id)


def _hit_items(session: Session, hit: Hit) -> list[Item]:
    """The items a HIT shows: its item, then a pair HIT's second item."""
    out = []
    for item_id in (hit.item_id, hit.pair_item_id):
        item = session.get(Item, item_id) if item_id is not None else None
        if item_id is not None and item is None:
            raise LookupError(f"HIT {hit.id}: item {item_id} does not exist")
        if item is not None:
            out.append(item)
    return out


def _item_answers(
    items: Sequence[Item], answer_xml: str, options: Sequence[str]
) -> list[tuple[Item, str | None, bool | None]]:
    """(item, label or None when unusable, said its label is correct) per item of the HIT."""
    if len(items) == 1:
        parsed = parse_answer(answer_xml, options)
        return [(items[0], parsed.label, parsed.said_correct)]
    pair = parse_pair_answer(answer_xml, options)
    wrong = pair.wrong if pair.wrong in WRONG_CHOICES else None
    labels = (pair.first_label, pair.second_label)
    return [
        (item, label, None if wrong is None else wrong not in (side, "both"))
        for item, label, side in zip(items, labels, ("first", "second"), strict=True)
    ]


def _store_assignment(
    session: Session,
    campaign: Campaign,
    hit: Hit,
    items: Sequence[Item],
    pa: PlatformAssignment,
    options: Sequence[str],
    report: CollectReport,
) -> Worker:
    """Write one new assignment, its answers (one per item) and the worker's gold record; book
    its decision once (a pair assignment is one payment for two answers)."""
    worker = get_or_create_worker(session, pa.worker_id)
    a = Assignment(
        hit_pk=hit.id,
        worker_pk=worker.id,
        assignment_id=pa.assignment_id,
        answer_xml=pa.answer_xml[:MAX_STORED_ANSWER_CHARS],
        submitted_at=pa.submit_time or utcnow(),
    )
    session.add(a)
    session.flush()
    answers = _item_answers(items, pa.answer_xml, options)
    seen = select(Answer.id).where(Answer.campaign_id == campaign.id).limit(1)
    counters.add(
        session,
        campaign.id,
        n_answers=len(answers),
        n_items_answered=sum(
            int(session.exec(seen.where(Answer.item_id == item.id)).first() is None)
            for item, _, _ in answers
        ),
        n_workers=int(session.exec(seen.where(Answer.worker_pk == worker.id)).first() is None),
    )
    for item, label, said_correct in answers:
        session.add(
            Answer(
                campaign_id=campaign.id,
                assignment_pk=a.id,
                item_id=item.id,
                worker_pk=worker.id,
                label=label,
                said_correct=said_correct,
            )
        )
        report.new_answers += 1
        report.unusable_answers += int(label is None)
    worker.n_answers += len(answers)
    gold = items[0]
    if hit.is_gold_check and gold.gold_label is not None:
        worker.n_gold_answers += 1
        if answers[0][1] == gold.gold_label:
            worker.n_gold_correct += 1
        worker.estimated_accuracy = worker.n_gold_correct / worker.n_gold_answers
    session.add(worker)
    if pa.status == PlatformAssignmentStatus.APPROVED:
        book_approval(session, campaign, hit, a)
        report.synced_decisions += 1
    elif pa.status == PlatformAssignmentStatus.REJECTED:
        book_rejection(session, campaign, hit, a, "rejected on the platform")
        report.synced_decisions += 1
    return worker
