"""Request and response bodies of the HTTP API (pydantic). Money is a decimal string in USD."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from orchestrator.campaigns.config import CampaignConfig
from orchestrator.db.models import Campaign, CampaignStatus, Dataset, FeatureKind
from orchestrator.model.config import ModelConfig


def _cents(amount: Decimal | str) -> str:
    """A USD amount as a decimal string with cents: ``Decimal("1.5")`` → ``"1.50"``."""
    return str(Decimal(amount).quantize(Decimal("0.01")))


#: Money in a response: the stored decimal written with cents (``"12.50"``).
UsdCents = Annotated[str, BeforeValidator(_cents)]


class DatasetOut(BaseModel):
    id: uuid.UUID
    name: str
    source: str
    feature_kind: FeatureKind
    n_items: int
    n_features: int
    classes: list[str]
    owner: str | None
    created_at: datetime

    @classmethod
    def of(cls, d: Dataset) -> DatasetOut:
        return cls.model_validate(d, from_attributes=True)


class CampaignIn(BaseModel):
    """A new campaign on an imported dataset; it starts in ``draft``."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(description="Dataset id or name (one you imported).", min_length=1)
    name: str = Field(default="campaign", min_length=1, max_length=200)
    budget_usd: Decimal = Field(description="Hard spend cap in USD, MTurk fees included.", gt=0)
    config: CampaignConfig = Field(default_factory=CampaignConfig)
    requester: str | None = Field(
        default=None, description="Owner; operator keys only (default: the caller)."
    )


class CleanIn(BaseModel):
    """Options of a crowd-free clean (``POST /v1/datasets/{ref}/clean``); all optional."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="Seed of the fit.")
    model: ModelConfig = Field(
        default_factory=ModelConfig,
        description="ModelConfig overrides. A synchronous request may make the fit cheaper "
        "than the default, not dearer: no more epochs, search epochs, posterior samples, β "
        "candidates, layers, units or latent dimensions than the default, no smaller batches, "
        "and the server's device and threads (422 naming the field otherwise).",
    )


class CampaignOut(BaseModel):
    id: uuid.UUID
    name: str
    requester: str
    dataset_id: uuid.UUID
    status: CampaignStatus
    current_round: int
    budget_usd: UsdCents
    reward_usd: UsdCents
    assignments_per_item: int
    config: dict[str, Any]
    error: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, c: Campaign) -> CampaignOut:
        return cls.model_validate(c, from_attributes=True)


class CampaignPage(BaseModel):
    campaigns: list[CampaignOut]
    total: int
    limit: int
    offset: int


class CancelOut(BaseModel):
    campaign: CampaignOut
    open_hits: int = Field(description="HITs not yet disposed of when the cancel arrived.")
    cleanup: dict[str, Any] | None = Field(
        description="What the HIT clean-up did (expired, disposed, approved, released_usd, "
        "still_open); null when nothing was open or it was deferred."
    )
    deferred: bool = Field(
        description="A scheduler was mid-step on this campaign; it disposes of the HITs itself."
    )


class ItemsCounts(BaseModel):
    total: int
    inspected: int = Field(description="Items shown to the crowd (all rounds).")
    verified: int = Field(description="Items with an aggregated crowd label.")
    validation: int = Field(description="Verified items of the validation round.")
    propagated: int = Field(description="Items labelled by latent-space propagation.")


class AccuracyOut(BaseModel):
    estimate: float
    low: float
    high: float
    confidence: float
    n_validation: int
    crowd_share: float
    method: str


class WorkersOut(BaseModel):
    count: int
    answers: int
    items_answered: int
    answers_per_item: float | None
    blocked: int


class RoundOut(BaseModel):
    number: int
    status: str
    strategy: str
    selected: int
    metrics: dict[str, Any]
    started_at: str
    finished_at: str | None


class StatusOut(BaseModel):
    """A campaign's state, money and label quality. Money: decimal strings, USD, fees included."""

    id: uuid.UUID
    name: str
    requester: str
    dataset_id: uuid.UUID
    status: CampaignStatus
    round: int
    rounds_planned: int
    error: str | None
    created_at: str
    updated_at: str
    budget_usd: str
    spent_usd: str = Field(description="Committed: paid + reserved for open HITs, fees included.")
    paid_usd: str = Field(description="Rewards and bonuses paid, fees included.")
    fees_usd: str = Field(description="MTurk fees on what was paid.")
    reserved_usd: str = Field(description="Held for HITs still open (fees included).")
    remaining_usd: str
    items: ItemsCounts
    accuracy: AccuracyOut | None = Field(
        description="Estimated share of correct cleaned labels, 95 % Wilson interval; null "
        "before the validation round is verified."
    )
    workers: WorkersOut
    rounds: list[RoundOut]


class ItemOut(BaseModel):
    position: int
    item_id: str
    original_label: str
    cleaned_label: str
    source: str
    confidence: float
    vote_counts: dict[str, int]
    n_workers: int
    round: int
    cluster: int


class ItemPage(BaseModel):
    items: list[ItemOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )
    limit: int


class WhoAmI(BaseModel):
    requester: str
    role: str
