"""The spend ledger: every movement of campaign money is one append-only ``LedgerEntry``.

Sign conventions (USD, fees in ``fee_usd``): a ``HIT_RESERVATION`` holds reward × assignments
(+ 20 %) when a HIT intent is written; approval books a ``REWARD`` row and a matching negative
``RELEASE`` row (the reservation turns into a payment); rejection and unused slots book a
negative ``RELEASE``; a ``BONUS`` row is written before SendBonus, a zero-amount ``BONUS`` row
confirms it and a negative ``BONUS`` row voids it. The campaign's *committed* spend is the sum of
all rows (amount + fee) and may never exceed ``Campaign.budget_usd``: every row that increases it
is written under a lock on the campaign row after checking the cap.

Idempotency keys (unique): ``reserve:<hit>``, ``reserve-extra:<hit>:<old>-<new>``,
``release-failed:<hit>``, ``release-extra:<hit>:<old>-<new>``, ``release-unused:<hit>:<max>``,
``reward:<assignment>``, ``convert:<assignment>``, ``reject:<assignment>``,
``bonus:<digest>``, ``bonus-sent:<digest>``, ``bonus-void:<digest>``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, type_coerce, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from orchestrator.crowd.money import fee_for, split_fee
from orchestrator.db import counters
from orchestrator.db.engine import session_scope
from orchestrator.db.models import Campaign, LedgerEntry, LedgerKind
from orchestrator.db.types import Money

ZERO = Decimal("0")


class BudgetExceededError(Exception):
    """Booking this amount would push the campaign's committed spend past its cap."""


@dataclass(frozen=True)
class SpendSummary:
    """A campaign's money, USD. ``committed_usd`` = reserved + paid rewards + bonuses + fees."""

    campaign_id: uuid.UUID
    budget_usd: Decimal
    reserved_usd: Decimal
    rewards_usd: Decimal
    bonuses_usd: Decimal
    fees_usd: Decimal
    committed_usd: Decimal
    remaining_usd: Decimal

    @property
    def paid_usd(self) -> Decimal:
        """Money that left (or is leaving) the account: rewards, bonuses and their fees."""
        return self.committed_usd - self.reserved_usd


def lock_campaign(session: Session, campaign_id: uuid.UUID) -> Campaign:
    """The campaign row, locked for update until the session commits or rolls back.

    PostgreSQL: ``SELECT … FOR UPDATE``. SQLite has no row locks and Python's ``sqlite3`` runs a
    plain SELECT outside any transaction, so two processes could both read the same committed
    total and both pass the cap. A no-op UPDATE first opens a write transaction there (waiting
    out ``busy_timeout`` for the database's single write lock), which makes the reads that
    follow, and the booking, one serialised unit.
    """
    if session.get_bind().dialect.name == "sqlite":
        table = Campaign.__table__  # type: ignore[attr-defined]
        session.execute(update(table).where(table.c.id == campaign_id).values(id=table.c.id))
    campaign = session.exec(
        select(Campaign).where(Campaign.id == campaign_id).with_for_update()
    ).first()
    if campaign is None:
        raise LookupError(f"campaign {campaign_id} does not exist")
    return campaign


def committed(session: Session, campaign_id: uuid.UUID) -> Decimal:
    """Sum of amount + fee over the campaign's ledger, USD (one aggregate query)."""
    amount, fee = session.exec(
        # type_coerce: SUM over the Money column comes back as the raw 1/10,000 USD integer.
        select(
            type_coerce(func.sum(LedgerEntry.amount_usd), Money()),
            type_coerce(func.sum(LedgerEntry.fee_usd), Money()),
        ).where(LedgerEntry.campaign_id == campaign_id)
    ).one()
    return (Decimal(amount) if amount is not None else ZERO) + (
        Decimal(fee) if fee is not None else ZERO
    )


def has_key(session: Session, key: str) -> bool:
    """Whether a ledger row with this idempotency key exists."""
    n = session.exec(
        select(func.count()).select_from(LedgerEntry).where(LedgerEntry.idempotency_key == key)
    ).one()
    return int(n) > 0


def book(
    session: Session,
    campaign: Campaign,
    kind: LedgerKind,
    amount: Decimal,
    key: str,
    *,
    fee: Decimal | None = None,
    hit_pk: uuid.UUID | None = None,
    assignment_pk: uuid.UUID | None = None,
    note: str = "",
    check_cap: bool = True,
) -> bool:
    """Add one row unless ``key`` exists; returns whether a row was added.

    ``fee`` defaults to MTurk's 20 % of ``amount``. When the row increases the committed spend
    and ``check_cap`` is set, raises :class:`BudgetExceededError` instead of passing the cap.
    The caller must hold the campaign lock (:func:`lock_campaign`) and commit.
    """
    if has_key(session, key):
        return False
    fee = fee_for(amount) if fee is None else fee
    delta = amount + fee
    if check_cap and delta > 0:
        now = committed(session, campaign.id)
        if now + delta > Decimal(campaign.budget_usd):
            raise BudgetExceededError(
                f"campaign {campaign.id}: {delta} USD on top of {now} USD committed exceeds "
                f"the cap of {campaign.budget_usd} USD"
            )
    session.add(
        LedgerEntry(
            campaign_id=campaign.id,
            kind=kind,
            amount_usd=amount,
            fee_usd=fee,
            idempotency_key=key,
            hit_pk=hit_pk,
            assignment_pk=assignment_pk,
            note=note[:500],
        )
    )
    counters.add(session, campaign.id, **counters.ledger_deltas(kind, amount, fee))
    session.flush()
    return True


def hit_outstanding(session: Session, hit_pk: uuid.UUID) -> Decimal:
    """The part of a HIT's reservations not yet converted or released, USD (fees included)."""
    total = ZERO
    for row in session.exec(select(LedgerEntry).where(LedgerEntry.hit_pk == hit_pk)):
        if row.kind in (LedgerKind.HIT_RESERVATION, LedgerKind.RELEASE):
            total += Decimal(row.amount_usd) + Decimal(row.fee_usd)
    return total


def release_outstanding(
    session: Session, campaign: Campaign, hit_pk: uuid.UUID, key: str, *, note: str
) -> Decimal:
    """Give back what a HIT's reservations still hold (amount and fee), once per ``key``.

    Returns the USD released (fees included), 0 when nothing was held or ``key`` was booked
    before. Never checks the cap: a release only lowers the committed spend.
    """
    out = hit_outstanding(session, hit_pk)
    if out <= 0:
        return ZERO
    amount, fee = split_fee(out)
    booked = book(
        session,
        campaign,
        LedgerKind.RELEASE,
        -amount,
        key,
        fee=-fee,
        hit_pk=hit_pk,
        note=note,
        check_cap=False,
    )
    return out if booked else ZERO


def spend_summary(session: Session, campaign_id: uuid.UUID) -> SpendSummary:
    """:class:`SpendSummary` from the ledger rows, inside an open session."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"campaign {campaign_id} does not exist")
    money = counters.ledger_totals(session, campaign_id)
    reserved, rewards = money["reserved_usd"], money["rewards_usd"]
    bonuses, fees = money["bonuses_usd"], money["fees_usd"]
    total = reserved + rewards + bonuses + fees
    budget = Decimal(campaign.budget_usd)
    return SpendSummary(
        campaign_id=campaign_id,
        budget_usd=budget,
        reserved_usd=reserved,
        rewards_usd=rewards,
        bonuses_usd=bonuses,
        fees_usd=fees,
        committed_usd=total,
        remaining_usd=budget - total,
    )


def campaign_spend(engine: Engine, campaign_id: uuid.UUID) -> SpendSummary:
    """What a campaign has reserved, paid and has left, USD (reads the ledger only)."""
    with session_scope(engine) as session:
        return spend_summary(session, campaign_id)


def spend_usd(engine: Engine, campaign_id: uuid.UUID) -> tuple[Decimal, Decimal]:
    """(committed money without fees, fees) of the campaign, USD; reservations count."""
    summary = campaign_spend(engine, campaign_id)
    return summary.committed_usd - summary.fees_usd, summary.fees_usd
