"""One campaign's crowd, as every crowd job needs it: the campaign, its options, the platform.

Publishing, collecting, settling, bonuses and cancelling all work on one campaign through one
platform and read the same few facts about it; :meth:`CampaignCrowd.load` reads them once,
in one place, instead of every function taking ``(engine, platform, campaign_id)`` and loading
them again.

The campaign is a snapshot. Anything that moves money re-reads the row under
:func:`orchestrator.crowd.ledger.lock_campaign` (the budget is checked against the locked row),
so a stale snapshot can never let a booking pass the cap; load a new one per operation
(:class:`~orchestrator.scheduler.platform_stage.PlatformStage` does) to see edited options.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from orchestrator.crowd.config import CrowdConfig
from orchestrator.crowd.platform import CrowdPlatform
from orchestrator.db.engine import session_scope
from orchestrator.db.models import AssignmentStatus, Campaign, Dataset, HitStatus

#: HITs that exist on the platform and may still hold work to collect or dispose of.
LIVE_HIT_STATUSES = (HitStatus.PUBLISHED, HitStatus.COMPLETED, HitStatus.EXPIRED)
#: Assignments submitted but not yet approved or rejected on the platform.
UNDECIDED_ASSIGNMENT_STATUSES = (
    AssignmentStatus.SUBMITTED,
    AssignmentStatus.APPROVE_PENDING,
    AssignmentStatus.REJECT_PENDING,
)


@dataclass(frozen=True, eq=False)
class CampaignCrowd:
    """A campaign, its crowd options and the platform its HITs live on.

    Attributes:
        engine: the database; every job opens its own short sessions on it.
        platform: MTurk (production, sandbox or the simulator) or another implementation.
        campaign: the campaign row as loaded (detached; see the module docstring on money).
        config: the campaign's crowd options (``Campaign.config["crowd"]``, defaults filled in).
        options: the dataset's classes as the labels a worker may pick, in dataset order.
    """

    engine: Engine
    platform: CrowdPlatform
    campaign: Campaign
    config: CrowdConfig
    options: tuple[str, ...]

    @property
    def campaign_id(self) -> uuid.UUID:
        """The campaign's id."""
        return self.campaign.id

    @classmethod
    def load(cls, engine: Engine, platform: CrowdPlatform, campaign_id: uuid.UUID) -> CampaignCrowd:
        """Read the campaign, its options and its dataset's classes.

        Raises:
            LookupError: the campaign or its dataset does not exist.
        """
        with session_scope(engine) as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None:
                raise LookupError(f"campaign {campaign_id} does not exist")
            dataset = session.get(Dataset, campaign.dataset_id)
            if dataset is None:
                raise LookupError(f"dataset {campaign.dataset_id} does not exist")
            options = tuple(str(c) for c in dataset.classes)
        return cls(engine, platform, campaign, CrowdConfig.of(campaign), options)
