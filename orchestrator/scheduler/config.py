"""A campaign's configuration, stored as JSON on the campaign row."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class CampaignConfig(BaseModel):
    """How a campaign spends its budget. Money in USD, shares in [0, 1], times in seconds."""

    model_config = ConfigDict(extra="forbid")

    rounds: int = Field(default=4, ge=1, description="Sampling rounds after the validation round.")
    validation_share: float = Field(
        default=0.3,
        gt=0,
        lt=1,
        description="Share of the inspectable items spent on round 0, a stratified random "
        "sample whose crowd labels become the validation set (never free gold); raised to "
        "two items per class, capped by max_validation_share.",
    )
    max_validation_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Round 0 never takes more than this share of the inspectable items, even "
        "when two items per class would need more: the rest is kept for targeted rounds.",
    )
    strategy: str = Field(default="auto", description="Sampling strategy, or 'auto'.")
    n_clusters: int | None = Field(default=None, ge=1, description="None: tuned on validation.")
    propagation_fraction: float | None = Field(
        default=None, ge=0, le=1, description="p; None: tuned on validation."
    )
    propagation_significance: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description="When p is tuned: a p > 0 is chosen only if its net gain over the model's "
        "labels on the validation items passes a one-sided sign test at this level (1 accepts "
        "any positive gain; see orchestrator.propagation.propagator).",
    )
    aggregator: Literal["one_coin", "dawid_skene", "majority_vote"] = Field(
        default="one_coin",
        description="How answers become labels: one_coin (Dawid-Skene with one accuracy per "
        "worker), dawid_skene (a full confusion matrix per worker: needs many answers per "
        "worker and class), majority_vote.",
    )
    confidence_target: float = Field(
        default=0.9, gt=0.5, le=1, description="Ask more workers until an item is this sure."
    )
    max_answers: int = Field(default=5, ge=1, le=9, description="Cap on answers per item.")
    extra_answer_reserve: float = Field(
        default=0.15, ge=0, lt=1, description="Share of the budget kept for extra answers."
    )
    model_relabel: bool = Field(
        default=True,
        description="Replace a label the model is confidently against (threshold tuned on "
        "validation) by the model's class in the export.",
    )
    quality_target: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Stop early once the lower end of the estimated label accuracy's 95 % "
        "interval reaches this share (estimated on the crowd-verified validation items; see "
        "orchestrator.scheduler.quality). None: spend the budget / run every round.",
    )
    poll_interval_s: float = Field(default=1.0, gt=0)
    hit_lifetime_s: int = Field(default=3 * 24 * 3600, ge=60)
    model: dict[str, object] = Field(default_factory=dict, description="ModelConfig overrides.")
    crowd: dict[str, object] = Field(
        default_factory=dict,
        description="orchestrator.crowd.CrowdConfig options (HIT text, qualifications, gold rate).",
    )
    seed: int = 0
    reward_usd: Decimal = Decimal("0.05")
    assignments_per_item: int = Field(default=3, ge=1, le=9)
