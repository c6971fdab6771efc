"""Bonuses: pay a worker extra for an assignment, exactly once per idempotency key.

The bonus is booked in the ledger under the campaign cap *before* SendBonus, whose
``UniqueRequestToken`` is derived from the key; a zero-amount row confirms it once the
platform took it, a negative row voids it when the platform refused it for good. A bonus
booked but neither confirmed nor voided (a crash, or MTurk not ready yet) is sent again by
:func:`retry_pending_bonuses`, and the token keeps MTurk from paying it twice.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from sqlmodel import select

from orchestrator.crowd.campaign_crowd import CampaignCrowd
from orchestrator.crowd.ledger import book, lock_campaign
from orchestrator.crowd.money import validate_usd
from orchestrator.crowd.platform import (
    AlreadyDoneError,
    BonusRequest,
    InvalidRequestError,
    NotReadyError,
    TransientPlatformError,
)
from orchestrator.db.engine import session_scope
from orchestrator.db.models import Assignment, Hit, LedgerEntry, LedgerKind, Worker

log = logging.getLogger(__name__)

BonusStatus = Literal["sent", "pending", "void"]


@dataclass(frozen=True)
class BonusResult:
    """Outcome of :func:`send_bonus`: ``sent``, ``pending`` (retry later) or ``void``."""

    status: BonusStatus
    amount_usd: Decimal
    key: str


def send_bonus(
    crowd: CampaignCrowd,
    assignment_pk: uuid.UUID,
    amount_usd: Decimal | str,
    reason: str,
    *,
    idempotency_key: str,
) -> BonusResult:
    """Pay a worker ``amount_usd`` (+ MTurk's fee) for one of the campaign's assignments.

    A repeated ``idempotency_key`` returns the earlier outcome. Refusals due to eventual
    consistency leave it ``pending`` (retried by
    :func:`~orchestrator.crowd.collect.collect_answers`); permanent refusals void the booking.

    Raises:
        MoneyError: a malformed amount (before anything is booked).
        ValueError: an empty reason.
        LookupError: the assignment does not exist or is not the campaign's.
        BudgetExceededError: the bonus and its fee do not fit under the cap.
    """
    amount = validate_usd(amount_usd, what="bonus")
    if not reason.strip():
        raise ValueError("a bonus needs a reason")
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]
    key = f"bonus:{digest}"
    with session_scope(crowd.engine) as session:
        a = session.get(Assignment, assignment_pk)
        hit = session.get(Hit, a.hit_pk) if a else None
        if a is None or hit is None or hit.campaign_id != crowd.campaign_id:
            raise LookupError(
                f"assignment {assignment_pk} does not exist in campaign {crowd.campaign_id}"
            )
        campaign = lock_campaign(session, hit.campaign_id)
        book(
            session,
            campaign,
            LedgerKind.BONUS,
            amount,
            key,
            hit_pk=hit.id,
            assignment_pk=a.id,
            note=reason[:500],
        )
    status = _send_one_bonus(crowd, digest)
    return BonusResult(status=status, amount_usd=amount, key=key)


def retry_pending_bonuses(crowd: CampaignCrowd) -> int:
    """Re-send bonuses booked but not confirmed; returns how many are still pending."""
    with session_scope(crowd.engine) as session:
        keys = {
            e.idempotency_key
            for e in session.exec(
                select(LedgerEntry).where(
                    LedgerEntry.campaign_id == crowd.campaign_id,
                    LedgerEntry.kind == LedgerKind.BONUS,
                )
            )
        }
    digests = [k.split(":", 1)[1] for k in keys if k.startswith("bonus:")]
    todo = [d for d in digests if f"bonus-sent:{d}" not in keys and f"bonus-void:{d}" not in keys]
    return sum(1 for d in todo if _send_one_bonus(crowd, d) == "pending")


def _send_one_bonus(crowd: CampaignCrowd, digest: str) -> BonusStatus:
    """SendBonus for the booking ``bonus:<digest>`` unless already confirmed or voided."""
    with session_scope(crowd.engine) as session:
        if session.exec(
            select(LedgerEntry.id).where(LedgerEntry.idempotency_key == f"bonus-sent:{digest}")
        ).first():
            return "sent"
        if session.exec(
            select(LedgerEntry.id).where(LedgerEntry.idempotency_key == f"bonus-void:{digest}")
        ).first():
            return "void"
        entry = session.exec(
            select(LedgerEntry).where(LedgerEntry.idempotency_key == f"bonus:{digest}")
        ).one()
        a = session.get(Assignment, entry.assignment_pk)
        worker = session.get(Worker, a.worker_pk) if a else None
        assert a is not None and worker is not None
        amount, reason = Decimal(entry.amount_usd), entry.note or "bonus"
        assignment_id, worker_id = a.assignment_id, worker.platform_worker_id
        hit_pk, assignment_pk = entry.hit_pk, entry.assignment_pk
    outcome: BonusStatus
    try:
        crowd.platform.send_bonus(
            BonusRequest(worker_id, assignment_id, amount, reason, f"cc1b-{digest}")
        )
        outcome = "sent"
    except AlreadyDoneError:
        outcome = "sent"
    except (NotReadyError, TransientPlatformError):
        return "pending"
    except InvalidRequestError as exc:
        log.warning("bonus %s refused: %s", digest, exc)
        outcome = "void"
    with session_scope(crowd.engine) as session:
        campaign = lock_campaign(session, crowd.campaign_id)
        if outcome == "sent":
            book(
                session,
                campaign,
                LedgerKind.BONUS,
                Decimal("0"),
                f"bonus-sent:{digest}",
                fee=Decimal("0"),
                hit_pk=hit_pk,
                assignment_pk=assignment_pk,
                note="confirmed",
                check_cap=False,
            )
        else:
            book(
                session,
                campaign,
                LedgerKind.BONUS,
                -amount,
                f"bonus-void:{digest}",
                hit_pk=hit_pk,
                assignment_pk=assignment_pk,
                note="refused",
                check_cap=False,
            )
    return outcome
