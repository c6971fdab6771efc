"""A campaign's status document, built in one place for every surface.

``crowdclean campaign status`` prints it, ``GET /v1/campaigns/{id}/status`` answers it (cached
by :class:`orchestrator.api.status_cache.StatusCache`), the dashboard renders it. Its shape is
the API's ``StatusOut`` schema: state, round, money (USD strings, fees included in
``spent_usd``), label counts, the label-accuracy estimate, worker statistics and the rounds
with their metrics. Counts and money come from the campaign's running totals
(:mod:`orchestrator.db.counters`), so building it costs two indexed queries whatever the
campaign's size.

The accuracy estimate (:mod:`orchestrator.campaigns.accuracy`) is the only part that reads
an artifact and runs a model-side computation, so the caller supplies it
(:data:`AccuracyOf`): the API caches it on :func:`change_key`, the CLI computes it, the demo
leaves it out.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Hashable, Sequence
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import distinct, func
from sqlalchemy import select as core_select
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from orchestrator.campaigns.config import CampaignConfig
from orchestrator.db.models import (
    Answer,
    Campaign,
    CampaignCounters,
    Dataset,
    Round,
    Worker,
)

_CENT = Decimal("0.01")

#: ``(campaign id, change key) -> accuracy section or None``; the key changes whenever the
#: estimate may (see :func:`change_key`), so a caller may cache on it.
AccuracyOf = Callable[[uuid.UUID, Hashable], "dict[str, Any] | None"]


class LabelAccuracy(Protocol):
    """What :func:`accuracy_section` reads of an estimate (shares in [0, 1])."""

    @property
    def estimate(self) -> float: ...
    @property
    def low(self) -> float: ...
    @property
    def high(self) -> float: ...
    @property
    def n_validation(self) -> int: ...
    @property
    def crowd_share(self) -> float: ...


def accuracy_section(q: LabelAccuracy) -> dict[str, Any] | None:
    """The ``accuracy`` section of the document for an estimate; None when it rests on no
    crowd-answered item (it would only restate the feasible range)."""
    if q.n_validation == 0:
        return None
    return {
        "estimate": round(q.estimate, 4),
        "low": round(q.low, 4),
        "high": round(q.high, 4),
        "confidence": 0.95,
        "n_validation": q.n_validation,
        "crowd_share": round(q.crowd_share, 4),
        "method": "model-assisted horvitz-thompson over evidence picks (or wilson on validation)",
    }


def _usd(x: Decimal) -> str:
    return str(x.quantize(_CENT))


def change_key(campaign: Any, n_verified: int, rounds: Sequence[Any]) -> Hashable:
    """Changes whenever the accuracy estimate may: with the labels, the rounds or the final
    model (fitted when the campaign completes, so the state is part of it). ``campaign`` and
    ``rounds`` are rows or objects with the :class:`Campaign` / :class:`Round` fields."""
    return (
        campaign.status.value,
        campaign.current_round,
        n_verified,
        tuple((r.number, r.status.value, r.finished_at) for r in rounds),
    )


_COUNTS = ("n_answers", "n_items_answered", "n_workers", "n_verified", "n_validation")
_MONEY = ("reserved_usd", "rewards_usd", "bonuses_usd", "fees_usd")
#: The planned rounds of a campaign whose stored config predates the field.
_DEFAULT_ROUNDS = int(CampaignConfig.model_fields["rounds"].default)


def _blocked_workers(campaign_id: uuid.UUID) -> Any:
    """Scalar subquery: the campaign's workers who are blocked. Blocked workers are few, so
    the (campaign, worker) index is probed once per blocked worker instead of reading the
    campaign's answers."""
    blocked = select(Worker.id).where(col(Worker.blocked))
    return (
        select(func.count(distinct(col(Answer.worker_pk))))
        .where(Answer.campaign_id == campaign_id, col(Answer.worker_pk).in_(blocked))
        .scalar_subquery()
        .label("n_blocked")
    )


def _round_section(r: Any) -> dict[str, Any]:
    return {
        "number": r.number,
        "status": r.status.value,
        "strategy": r.strategy,
        "selected": r.n_selected,
        "metrics": dict(r.metrics),
        "started_at": r.started_at.isoformat(),
        "finished_at": r.finished_at.isoformat() if r.finished_at else None,
    }


def status_document(
    engine: Engine, campaign_id: uuid.UUID, *, accuracy_of: AccuracyOf
) -> dict[str, Any]:
    """The status document of a campaign (LookupError if there is none); JSON-ready."""
    counters = CampaignCounters.__table__  # type: ignore[attr-defined]
    # Two Core queries whatever the campaign's size, and no ORM objects (this is the API's
    # hot path): one row (the campaign, its dataset's size, its running totals, its blocked
    # workers), then its rounds.
    with engine.connect() as conn:
        c = conn.execute(
            core_select(
                Campaign.__table__,  # type: ignore[attr-defined]
                col(Dataset.n_items),
                *(counters.c[k] for k in (*_COUNTS, "n_propagated", *_MONEY)),
                _blocked_workers(campaign_id),
            )
            .join(Dataset, col(Dataset.id) == col(Campaign.dataset_id))
            .outerjoin(counters, counters.c.campaign_id == col(Campaign.id))
            .where(col(Campaign.id) == campaign_id)
        ).first()
        if c is None:
            raise LookupError(f"no campaign {campaign_id}")
        rounds = conn.execute(
            core_select(Round.__table__)  # type: ignore[attr-defined]
            .where(col(Round.campaign_id) == campaign_id)
            .order_by(col(Round.number))
        ).all()
    # No totals row yet (a campaign nothing has been written for): every total is 0.
    n = {k: int(getattr(c, k) or 0) for k in (*_COUNTS, "n_propagated")}
    usd = {k: Decimal(getattr(c, k) or 0) for k in _MONEY}
    fees = usd["fees_usd"]
    paid = usd["rewards_usd"] + usd["bonuses_usd"] + fees
    committed, budget = usd["reserved_usd"] + paid, Decimal(c.budget_usd)
    n_answers, n_answered = n["n_answers"], n["n_items_answered"]
    return {
        "id": str(c.id),
        "name": c.name,
        "requester": c.requester,
        "dataset_id": str(c.dataset_id),
        "status": c.status.value,
        "round": c.current_round,
        "rounds_planned": int((c.config or {}).get("rounds", _DEFAULT_ROUNDS)),
        "error": c.error,
        "created_at": c.created_at.isoformat(),
        "updated_at": c.updated_at.isoformat(),
        "budget_usd": _usd(budget),
        "spent_usd": _usd(committed),
        "paid_usd": _usd(paid),
        "fees_usd": _usd(fees),
        "reserved_usd": _usd(usd["reserved_usd"]),
        "remaining_usd": _usd(budget - committed),
        "items": {
            "total": int(c.n_items),
            "inspected": sum(r.n_selected for r in rounds),
            "verified": n["n_verified"],
            "validation": n["n_validation"],
            "propagated": n["n_propagated"],
        },
        "accuracy": accuracy_of(campaign_id, change_key(c, n["n_verified"], rounds)),
        "workers": {
            "count": n["n_workers"],
            "answers": n_answers,
            "items_answered": n_answered,
            "answers_per_item": round(n_answers / n_answered, 3) if n_answered else None,
            "blocked": int(c.n_blocked),
        },
        "rounds": [_round_section(r) for r in rounds],
    }


def without_accuracy(campaign_id: uuid.UUID, key: Hashable) -> None:
    """An :data:`AccuracyOf` for callers that do not read the estimate (the demo's report)."""
    return None
