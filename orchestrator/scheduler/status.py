"""A campaign's status as plain data (for the CLI and, later, the HTTP API)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from orchestrator.db.models import (
    Campaign,
    PropagatedLabel,
    Round,
    VerifiedLabel,
)


def spend_usd(engine: Engine, campaign_id: uuid.UUID) -> tuple[Decimal, Decimal]:
    """(committed money without fees, fees) of the campaign, USD; reservations count."""
    from orchestrator.crowd.ledger import campaign_spend

    summary = campaign_spend(engine, campaign_id)
    return summary.committed_usd - summary.fees_usd, summary.fees_usd


def campaign_status(engine: Engine, campaign_id: uuid.UUID) -> dict[str, Any]:
    """State, round, money and label counts of one campaign."""
    with Session(engine) as s:
        c = s.get(Campaign, campaign_id)
        if c is None:
            raise LookupError(f"no campaign {campaign_id}")
        n_verified = s.exec(
            select(func.count())
            .select_from(VerifiedLabel)
            .where(VerifiedLabel.campaign_id == campaign_id)
        ).one()
        n_propagated = s.exec(
            select(func.count())
            .select_from(PropagatedLabel)
            .where(PropagatedLabel.campaign_id == campaign_id)
        ).one()
        rounds = s.exec(
            select(Round).where(Round.campaign_id == campaign_id).order_by(col(Round.number))
        ).all()
        amount, fee = spend_usd(engine, campaign_id)
        return {
            "id": str(c.id),
            "name": c.name,
            "status": c.status.value,
            "round": c.current_round,
            "budget_usd": str(c.budget_usd),
            "spent_usd": str((amount + fee).quantize(Decimal("0.01"))),
            "fees_usd": str(fee.quantize(Decimal("0.01"))),
            "items_inspected": sum(r.n_selected for r in rounds),
            "items_verified": n_verified,
            "items_propagated": n_propagated,
            "rounds": [
                {
                    "number": r.number,
                    "status": r.status.value,
                    "strategy": r.strategy,
                    "selected": r.n_selected,
                    **{k: v for k, v in r.metrics.items()},
                }
                for r in rounds
            ],
            "error": c.error,
        }
