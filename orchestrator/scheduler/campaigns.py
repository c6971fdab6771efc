"""Campaign lifecycle rules: create, start, pause, resume, cancel.

States: draft → running → paused → running … → completed | cancelled | failed. Only the
transitions in :data:`TRANSITIONS` are allowed; anything else raises :class:`CampaignStateError`
naming the current state.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from orchestrator.campaigns.config import CampaignConfig, check_fits_budget
from orchestrator.crowd.cancel import CancelReport
from orchestrator.crowd.money import validate_usd
from orchestrator.crowd.platform import CrowdPlatform
from orchestrator.data.store import get_dataset
from orchestrator.db.models import Campaign, CampaignStatus, Hit, HitStatus
from orchestrator.db.types import utcnow

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
    check_fits_budget(budget, config)
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


class CampaignNotRunnableError(CampaignStateError):
    """A draft whose stored config fails the creation rules: it cannot be started."""


def _check_runnable(campaign: Campaign) -> None:
    """CampaignStateError unless the stored config passes today's creation rules: a campaign
    created before they existed (or written to the database by hand) never starts broken."""
    from pydantic import ValidationError

    from orchestrator.crowd.money import MoneyError

    try:
        config = CampaignConfig.model_validate(campaign.config or {})
        check_fits_budget(Decimal(campaign.budget_usd), config)
    except ValidationError as exc:
        fields = "; ".join(
            f"config.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise CampaignNotRunnableError(
            f"campaign {campaign.id} cannot start: its config is invalid ({fields})"
        ) from None
    except MoneyError as exc:
        raise CampaignNotRunnableError(f"campaign {campaign.id} cannot start: {exc}") from None


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
        if target == CampaignStatus.RUNNING and campaign.status == CampaignStatus.DRAFT:
            _check_runnable(campaign)
        campaign.status = target
        campaign.updated_at = utcnow()
        s.add(campaign)
        s.commit()
        return campaign


@dataclass
class CancelOutcome:
    """What a cancel did: the campaign, and the crowd clean-up (None when nothing was open).

    ``deferred``: a scheduler holds the campaign's lease right now; it disposes of the HITs
    after its step (its sweep handles cancelled campaigns with open HITs).
    """

    campaign: Campaign
    open_hits: int
    cleanup: CancelReport | None
    deferred: bool


def open_hits(engine: Engine, campaign_id: uuid.UUID) -> int:
    """HITs still intended, live or expired-but-undisposed (a COMPLETED HIT has its answers)."""
    with Session(engine) as s:
        return int(
            s.exec(
                select(func.count())
                .select_from(Hit)
                .where(
                    Hit.campaign_id == campaign_id,
                    col(Hit.status).in_((HitStatus.INTENT, HitStatus.PUBLISHED, HitStatus.EXPIRED)),
                )
            ).one()
        )


def cancel_campaign_safely(
    engine: Engine,
    campaign_id: uuid.UUID,
    platform_factory: Callable[[], CrowdPlatform],
    *,
    lease_ttl_s: float = 60.0,
    approve_submitted: bool = True,
    owner_prefix: str = "cancel",
) -> CancelOutcome:
    """Cancel a campaign, then expire and dispose of its outstanding HITs.

    The state changes first, so no scheduler starts another step. The HIT clean-up
    (:func:`orchestrator.crowd.cancel.cancel_campaign`: expire, collect, pay submitted work,
    dispose, release reservations) runs under the campaign's scheduler lease, so it never
    races a publish in flight; when a scheduler holds the lease, the clean-up is left to it
    and ``deferred`` is set. Calling it again on a cancelled campaign retries the clean-up.
    Used by the API and by ``crowdclean campaign cancel``.
    """
    from orchestrator.crowd.campaign_crowd import CampaignCrowd
    from orchestrator.crowd.cancel import cancel_campaign
    from orchestrator.scheduler.lease import claim_lease, new_owner_id, release_lease

    with Session(engine, expire_on_commit=False) as s:
        campaign = s.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"no campaign {campaign_id}")
    if campaign.status != CampaignStatus.CANCELLED:
        campaign = transition(engine, campaign_id, CampaignStatus.CANCELLED)
    n_open = open_hits(engine, campaign_id)
    if n_open == 0:
        return CancelOutcome(campaign, 0, None, deferred=False)
    owner = f"{owner_prefix}:{new_owner_id()}"
    if not claim_lease(engine, campaign_id, owner, lease_ttl_s):
        return CancelOutcome(campaign, n_open, None, deferred=True)
    try:
        crowd = CampaignCrowd.load(engine, platform_factory(), campaign_id)
        report = cancel_campaign(crowd, approve_submitted=approve_submitted)
    finally:
        release_lease(engine, campaign_id, owner)
    return CancelOutcome(campaign, n_open, report, deferred=False)
