"""Campaign lifecycle rules: create, the state machine, and the verbs people call it by.

States: draft → running → paused → running … → completed | cancelled | failed. Only the
transitions in :data:`TRANSITIONS` are allowed; anything else raises :class:`CampaignStateError`
naming the current state.

People drive a campaign with verbs, the same on every surface (``crowdclean campaign
start|pause|resume`` and ``POST /v1/campaigns/{id}/start|pause|resume``). :data:`VERBS` is
their one table and :func:`apply_verb` their one entry point, so the CLI and the API cannot
disagree. The rule: a verb means one move. ``start`` starts a draft and nothing else; a paused
or failed campaign is *resumed*, never started again (``start`` on it is refused with a hint
to use ``resume``), so a caller that meant to launch a new campaign never silently wakes up an
old one. Cancelling (any state but completed) also takes the scheduler's lease to dispose of
the HITs, so it lives with the scheduler (:mod:`orchestrator.scheduler.leased_cancel`).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal

from sqlalchemy.engine import Engine
from sqlmodel import Session

from orchestrator.campaigns.config import CampaignConfig, check_fits_budget
from orchestrator.crowd.money import validate_usd
from orchestrator.data.store import get_dataset
from orchestrator.db.models import Campaign, CampaignStatus, Item
from orchestrator.db.types import utcnow
from orchestrator.storage.artifacts import ArtifactDir, as_artifact_dir

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

Verb = Literal["start", "pause", "resume"]


@dataclass(frozen=True)
class VerbRule:
    """One verb: the state it moves to and the only states it may move from."""

    target: CampaignStatus
    sources: tuple[CampaignStatus, ...]

    @property
    def summary(self) -> str:
        """``"draft → running"``: for help texts and the OpenAPI summaries."""
        return f"{' | '.join(s.value for s in self.sources)} → {self.target.value}"


VERBS: dict[Verb, VerbRule] = {
    "start": VerbRule(CampaignStatus.RUNNING, (CampaignStatus.DRAFT,)),
    "pause": VerbRule(CampaignStatus.PAUSED, (CampaignStatus.RUNNING,)),
    "resume": VerbRule(CampaignStatus.RUNNING, (CampaignStatus.PAUSED, CampaignStatus.FAILED)),
}


class CampaignStateError(RuntimeError):
    """A lifecycle action that the campaign's current state does not allow.

    ``current``: the state the campaign was in when the action was refused (None when the
    refusal is not about the state, e.g. a draft whose config cannot run).
    """

    def __init__(self, message: str, *, current: CampaignStatus | None = None) -> None:
        super().__init__(message)
        self.current = current


class CampaignNotRunnableError(CampaignStateError):
    """A draft whose stored config fails the creation rules: it cannot be started."""


def create_campaign(
    engine: Engine,
    dataset_ref: str | uuid.UUID,
    *,
    name: str,
    budget_usd: Decimal,
    config: CampaignConfig,
    data_dir: Path | ArtifactDir,
    requester: str = "operator",
) -> Campaign:
    """A new campaign in ``draft`` on an imported dataset. Money is validated here.

    ``data_dir``: the artifact root (a local directory or the settings'
    :func:`~orchestrator.storage.artifacts.artifact_root`); the campaign's rounds and final
    model go under ``<root>/campaigns/<id>/``.
    """
    budget = validate_usd(budget_usd, what="budget_usd", maximum=Decimal("1000000"))
    validate_usd(config.reward_usd, what="reward_usd")
    check_fits_budget(budget, config)
    dataset = get_dataset(engine, dataset_ref)
    _check_image_links(engine, dataset.id, config)
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
        artifact_dir=as_artifact_dir(data_dir).child("campaigns").child(str(campaign_id)).location,
    )
    with Session(engine, expire_on_commit=False) as s:
        s.add(campaign)
        s.commit()
    return campaign


def _check_image_links(engine: Engine, dataset_id: uuid.UUID, config: CampaignConfig) -> None:
    """DatasetError when the dataset's images are presigned (``s3://``) and the campaign's HITs
    would outlive the longest presigned URL (see :mod:`orchestrator.crowd.image_links`)."""
    from sqlmodel import col, select

    from orchestrator.crowd.image_links import MAX_PRESIGN_S, image_link_lifetime_s
    from orchestrator.data.errors import DatasetError

    needed = image_link_lifetime_s(config.crowd)
    if needed <= MAX_PRESIGN_S:
        return
    with Session(engine) as s:
        presigned = s.exec(
            select(Item.id)
            .where(Item.dataset_id == dataset_id, col(Item.image_path).startswith("s3://"))
            .limit(1)
        ).first()
    if presigned is not None:
        raise DatasetError(
            f"this dataset's images are shown by presigned S3 URLs, which live at most "
            f"{MAX_PRESIGN_S} s (7 days), but the campaign's HITs need them for {needed} s "
            "(crowd.lifetime_s + crowd.assignment_duration_s + crowd.auto_approval_delay_s); "
            "shorten those, or import the images under CROWDCLEAN_IMAGES__PUBLIC_BASE_URL",
            source=str(dataset_id),
        )


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
    People's actions go through :func:`apply_verb`; this is for the code that drives a
    campaign (the runner, the demo, the benchmarks).
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
                f"it cannot become {target.value}",
                current=campaign.status,
            )
        if target == CampaignStatus.RUNNING and campaign.status == CampaignStatus.DRAFT:
            _check_runnable(campaign)
        campaign.status = target
        campaign.updated_at = utcnow()
        s.add(campaign)
        s.commit()
        return campaign


def _hint(verb: Verb, current: CampaignStatus) -> str:
    """The verb the caller probably meant, when another one would have worked."""
    for other, rule in VERBS.items():
        if other != verb and current in rule.sources and rule.target == VERBS[verb].target:
            return f"; use {other}"
    return ""


def apply_verb(engine: Engine, campaign_id: uuid.UUID, verb: Verb) -> Campaign:
    """Do what ``verb`` means (:data:`VERBS`) to a campaign; the CLI and the API call this.

    Raises LookupError for a missing campaign, :class:`CampaignNotRunnableError` for a draft
    whose config cannot run, and :class:`CampaignStateError` naming the current state, the
    states the verb works from and, where one applies, the verb to use instead.
    """
    rule = VERBS[verb]
    try:
        return transition(engine, campaign_id, rule.target, allowed_from=rule.sources)
    except CampaignNotRunnableError:
        raise  # its own message names the invalid field
    except CampaignStateError as exc:
        now = exc.current
        assert now is not None  # transition sets it on every state refusal
        raise CampaignStateError(
            f"cannot {verb} campaign {campaign_id}: it is {now.value}, and {verb} works only "
            f"from {' or '.join(s.value for s in rule.sources)}{_hint(verb, now)}",
            current=now,
        ) from exc
