"""Cancel a campaign and dispose of its HITs without racing a scheduler.

The state change is a lifecycle rule (:mod:`orchestrator.campaigns.lifecycle`); what makes
cancelling a scheduling matter is the HIT clean-up, which must hold the campaign's lease
(:mod:`orchestrator.scheduler.lease`) so it never runs while a scheduler publishes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from orchestrator.campaigns.lifecycle import transition
from orchestrator.crowd.cancel import CancelReport
from orchestrator.crowd.platform import CrowdPlatform
from orchestrator.db.models import Campaign, CampaignStatus, Hit, HitStatus


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
    from orchestrator.scheduler.lease import Lease, new_owner_id

    with Session(engine, expire_on_commit=False) as s:
        campaign = s.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"no campaign {campaign_id}")
    if campaign.status != CampaignStatus.CANCELLED:
        campaign = transition(engine, campaign_id, CampaignStatus.CANCELLED)
    n_open = open_hits(engine, campaign_id)
    if n_open == 0:
        return CancelOutcome(campaign, 0, None, deferred=False)
    lease = Lease(engine, campaign_id, f"{owner_prefix}:{new_owner_id()}", lease_ttl_s)
    if not lease.claim():
        return CancelOutcome(campaign, n_open, None, deferred=True)
    try:
        crowd = CampaignCrowd.load(engine, platform_factory(), campaign_id)
        report = cancel_campaign(crowd, approve_submitted=approve_submitted)
    finally:
        lease.release()
    return CancelOutcome(campaign, n_open, report, deferred=False)
