"""Campaign lifecycle rules: create, start, pause, resume, cancel.

States: draft → running → paused → running … → completed | cancelled | failed. Only the
transitions in :data:`TRANSITIONS` are allowed; anything else raises :class:`CampaignStateError`
naming the current state.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from decimal import Decimal
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from orchestrator.crowd.money import validate_usd
from orchestrator.data.store import get_dataset
from orchestrator.db.models import Campaign, CampaignStatus
from orchestrator.db.types import utcnow
from orchestrator.scheduler.config import CampaignConfig

TRANSITIONS: dict[CampaignStatus, set[CampaignStatus]] = {
    CampaignStatus.DRAFT: {CampaignStatus.RUNNING, CampaignStatus.CANCELLED},
    CampaignStatus.RUNNING: {
        CampaignStatus.PAUSED,
        CampaignStatus.COMPLETED,
        CampaignStatus.CANCELLED,
        CampaignStatus.FAILED,
    },
    CampaignStatus.PAUSED: {CampaignStatus.RUNNING, CampaignStatus.CANCELLED},
    CampaignStatus.COMPLETED: set(),
    CampaignStatus.CANCELLED: set(),
    CampaignStatus.FAILED: {CampaignStatus.RUNNING},
}


class CampaignStateError(RuntimeError):
    """A lifecycle action that the campaign's current state does not allow."""


def create_campaign(
    engine: Engine,
    dataset_ref: str | uuid.UUID,
    *,
    name: str,
    budget_usd: Decimal,
    config: CampaignConfig,
    data_dir: Path,
    requester: str = "operator",
) -> Campaign:
    """A new campaign in ``draft`` on an imported dataset. Money is validated here."""
    budget = validate_usd(budget_usd, what="budget_usd", maximum=Decimal("1000000"))
    validate_usd(config.reward_usd, what="reward_usd")
    dataset = get_dataset(engine, dataset_ref)
    campaign_id = uuid.uuid4()
    campaign = Campaign(
        id=campaign_id,
        name=name,
        dataset_id=dataset.id,
        budget_usd=budget,
        reward_usd=config.reward_usd,
        assignments_per_item=config.assignments_per_item,
        requester=requester,
        config=config.model_dump(mode="json"),
        artifact_dir=str((Path(data_dir) / "campaigns" / str(campaign_id)).resolve()),
    )
    with Session(engine, expire_on_commit=False) as s:
        s.add(campaign)
        s.commit()
    return campaign


def transition(
    engine: Engine,
    campaign_id: uuid.UUID,
    target: CampaignStatus,
    *,
    allowed_from: Collection[CampaignStatus] | None = None,
) -> Campaign:
    """Move a campaign to ``target`` if its current state allows it.

    ``allowed_from`` narrows the states the move may start from (e.g. *resume* only from
    ``paused``, while *start* only from ``draft``); it is checked under the same row lock.
    """
    with Session(engine, expire_on_commit=False) as s:
        campaign = s.get(Campaign, campaign_id, with_for_update=True)
        if campaign is None:
            raise LookupError(f"no campaign {campaign_id}")
        if target not in TRANSITIONS[campaign.status] or (
            allowed_from is not None and campaign.status not in allowed_from
        ):
            raise CampaignStateError(
                f"campaign {campaign_id} is {campaign.status.value}; "
                f"it cannot become {target.value}"
            )
        campaign.status = target
        campaign.updated_at = utcnow()
        s.add(campaign)
        s.commit()
        return campaign
