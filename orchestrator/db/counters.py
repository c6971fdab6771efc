"""A campaign's running totals (:class:`~orchestrator.db.models.CampaignCounters`).

The writers of answers (crowd collect), ledger rows (crowd ledger), verified and propagated
labels (the round runner) call :func:`add` or :func:`set_counts` inside the session that
writes those rows, so the totals commit or roll back with them. :func:`add` is one
``UPDATE … SET n = n + k`` and so safe under concurrent writers; :func:`set_counts` is used
where the writer has just counted the whole set itself (labels are rewritten by a step, not
appended). :func:`recount` rebuilds the row from the tables: a repair after rows were written
some other way (the synthetic campaign factory's bulk inserts), and, through :func:`counted`,
the tests' check that the totals are right (migration 0006 backfills with the same sums in SQL).
A campaign's row is created by its first counted write; those writers hold the campaign lock
(the ledger) or its scheduler lease (collect, the runner), so two never race to insert it.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import distinct, func, type_coerce, update
from sqlmodel import Session, col, select

from orchestrator.db.models import (
    Answer,
    CampaignCounters,
    LedgerEntry,
    LedgerKind,
    PropagatedLabel,
    VerifiedLabel,
)
from orchestrator.db.types import Money

_COUNTS = (
    "n_answers",
    "n_items_answered",
    "n_workers",
    "n_verified",
    "n_validation",
    "n_propagated",
)
_MONEY = ("reserved_usd", "rewards_usd", "bonuses_usd", "fees_usd")


def _ensure(session: Session, campaign_id: uuid.UUID) -> None:
    """Insert the campaign's zero row if it has none (campaigns made before the table)."""
    if session.get(CampaignCounters, campaign_id) is None:
        session.add(CampaignCounters(campaign_id=campaign_id))
        session.flush()


def add(session: Session, campaign_id: uuid.UUID, **deltas: int | Decimal) -> None:
    """Add ``deltas`` (counter name → increment) to the campaign's totals, atomically."""
    unknown = set(deltas) - set(_COUNTS) - set(_MONEY)
    if unknown:
        raise ValueError(f"unknown counters {sorted(unknown)}")
    deltas = {k: v for k, v in deltas.items() if v}
    if not deltas:
        return
    _ensure(session, campaign_id)
    table = CampaignCounters.__table__  # type: ignore[attr-defined]
    session.execute(
        update(table)
        .where(table.c.campaign_id == campaign_id)
        .values({k: table.c[k] + v for k, v in deltas.items()})
        .execution_options(synchronize_session=False)
    )


def set_counts(session: Session, campaign_id: uuid.UUID, **values: int) -> None:
    """Overwrite counters with values the caller has just counted in this session."""
    unknown = set(values) - set(_COUNTS)
    if unknown:
        raise ValueError(f"unknown counters {sorted(unknown)}")
    _ensure(session, campaign_id)
    table = CampaignCounters.__table__  # type: ignore[attr-defined]
    session.execute(update(table).where(table.c.campaign_id == campaign_id).values(values))


def ledger_deltas(kind: LedgerKind, amount: Decimal, fee: Decimal) -> dict[str, Decimal]:
    """How one ledger row moves the money totals (reservations and releases carry their fee
    inside ``reserved_usd``; payments count their fee apart, as :func:`spend_summary` does)."""
    if kind in (LedgerKind.HIT_RESERVATION, LedgerKind.RELEASE):
        return {"reserved_usd": amount + fee}
    if kind == LedgerKind.REWARD:
        return {"rewards_usd": amount, "fees_usd": fee}
    if kind == LedgerKind.BONUS:
        return {"bonuses_usd": amount, "fees_usd": fee}
    return {}


def read(session: Session, campaign_id: uuid.UUID) -> CampaignCounters:
    """The campaign's totals (a zero row when nothing has been counted yet; not added)."""
    row = session.get(CampaignCounters, campaign_id)
    return row if row is not None else CampaignCounters(campaign_id=campaign_id)


def counted(session: Session, campaign_id: uuid.UUID) -> dict[str, Any]:
    """Every total recounted from the tables (costs a scan of the campaign's rows)."""
    n_answers, n_items, n_workers = session.exec(
        select(
            func.count(),
            func.count(distinct(col(Answer.item_id))),
            func.count(distinct(col(Answer.worker_pk))),
        ).where(Answer.campaign_id == campaign_id)
    ).one()

    def n_rows(table: Any, *where: Any) -> int:
        return int(session.exec(select(func.count()).select_from(table).where(*where)).one())

    values: dict[str, Any] = {
        "n_answers": int(n_answers),
        "n_items_answered": int(n_items),
        "n_workers": int(n_workers),
        "n_verified": n_rows(VerifiedLabel, VerifiedLabel.campaign_id == campaign_id),
        "n_validation": n_rows(
            VerifiedLabel,
            VerifiedLabel.campaign_id == campaign_id,
            col(VerifiedLabel.is_validation),
        ),
        "n_propagated": n_rows(PropagatedLabel, PropagatedLabel.campaign_id == campaign_id),
        **ledger_totals(session, campaign_id),
    }
    return values


def ledger_totals(session: Session, campaign_id: uuid.UUID) -> dict[str, Decimal]:
    """The money totals summed from the campaign's ledger rows (USD; one grouped query)."""
    totals = {k: Decimal(0) for k in _MONEY}
    per_kind = session.exec(
        select(
            LedgerEntry.kind,
            type_coerce(func.sum(LedgerEntry.amount_usd), Money()),
            type_coerce(func.sum(LedgerEntry.fee_usd), Money()),
        )
        .where(LedgerEntry.campaign_id == campaign_id)
        .group_by(LedgerEntry.kind)
    )
    for kind, amount, fee in per_kind:
        moved = ledger_deltas(LedgerKind(kind), Decimal(amount or 0), Decimal(fee or 0))
        for k, v in moved.items():
            totals[k] += v
    return totals


def recount(session: Session, campaign_id: uuid.UUID) -> CampaignCounters:
    """Rebuild the campaign's row from its tables (the caller commits)."""
    values = counted(session, campaign_id)
    row = session.get(CampaignCounters, campaign_id)
    if row is None:
        row = CampaignCounters(campaign_id=campaign_id)
    for k, v in values.items():
        setattr(row, k, v)
    session.add(row)
    session.flush()
    return row
