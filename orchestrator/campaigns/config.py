"""A campaign's configuration, stored as JSON on the campaign row.

Validated completely at creation (API, CLI and every other caller of
:func:`orchestrator.campaigns.lifecycle.create_campaign` share these rules): unknown keys are
refused at every level (``model`` is checked against :class:`~orchestrator.model.ModelConfig`,
``crowd`` is a :class:`~orchestrator.crowd.config.CrowdConfig`), types and ranges are checked,
and :func:`check_fits_budget` refuses a reward that the budget cannot pay for one item. A stored
config is read back with :meth:`CampaignConfig.from_stored`, which drops the unknown keys that
older versions let through instead of failing a running campaign.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from orchestrator.config_types import AtLeastOne, Share, ShareBelowOne
from orchestrator.crowd.config import CrowdConfig
from orchestrator.crowd.money import MoneyError, validate_usd, with_fee
from orchestrator.model.config import ModelConfig
from orchestrator.sampling.strategies import SELECTABLE

log = logging.getLogger(__name__)

#: Seeds feed numpy and torch generators (and are offset by the round number): kept in int32.
MAX_SEED = 2**31 - 1


class CampaignConfig(BaseModel):
    """How a campaign spends its budget. Money in USD, shares in [0, 1], times in seconds."""

    model_config = ConfigDict(extra="forbid")

    rounds: AtLeastOne = Field(default=4, description="Model rounds (after round 0, if any).")
    validation_share: ShareBelowOne = Field(
        default=0.0,
        description="0 (default): no random validation round; every purchased answer is both a "
        "fix and evidence (orchestrator.campaigns.evidence). > 0: share of the inspectable items "
        "spent on round 0, a stratified random sample whose crowd labels become a validation "
        "set; raised to two items per class, capped by max_validation_share.",
    )
    max_validation_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Round 0 never takes more than this share of the inspectable items, even "
        "when two items per class would need more: the rest is kept for targeted rounds.",
    )
    evidence_share: Share = Field(
        default=0.5,
        description="Share of a round's items (after region checks) drawn with known "
        "probabilities when the model disagrees with more delivered labels than the round can "
        "check (else at most 0.1), "
        "mostly where the model and the delivered label disagree: the evidence "
        "behind the relabel decision and the accuracy estimate, and fixes too. 0.5, not 0.25: "
        "at a 2.8 % budget on digits 0.25 left the relabel gain's bound below 0 (218 +- 158 "
        "items, measured with an earlier draw weighting) although the model's relabels were "
        "right. 0: none (the export then keeps the "
        "delivered labels plus the crowd's fixes).",
    )
    strategy: str = Field(
        default="auto",
        description=f"Sampling strategy, one of {', '.join(SELECTABLE)}, or 'auto' "
        "(which chooses among all but influence and counter_example).",
    )
    n_clusters: int | None = Field(default=None, ge=1, description="None: tuned on validation.")
    propagation: bool = Field(
        default=True,
        description="Relabel latent regions whose own random checks say their delivered label "
        "is wrong (orchestrator.propagation.regional).",
    )
    propagation_region_items: int = Field(
        default=40,
        ge=2,
        description="Mean items per latent region (k-means cells: max(K, n // this)).",
    )
    propagation_min_share: ShareBelowOne = Field(
        default=0.5,
        description="A region acts when the one-sided 95 % lower bound of the share of its "
        "region checks (uniform draws) that the crowd surely gave one other class exceeds this; "
        "it also sets how many checks a region gets (3 at 0.5).",
    )
    propagation_min_confidence: Share = Field(
        default=0.9,
        description="Only crowd labels at least this sure (aggregated posterior; a 3-0 vote "
        "under majority vote) contradict a region or count for its checks.",
    )
    propagation_reach_per_source: int = Field(
        default=8,
        ge=0,
        le=10_000,
        description="Items a region may relabel per crowd label that contradicts it.",
    )
    aggregator: Literal["one_coin_prior", "one_coin", "dawid_skene", "majority_vote"] = Field(
        default="one_coin_prior",
        description="How answers become labels: one_coin_prior (Dawid-Skene with one accuracy "
        "per worker, shrunk toward the crowd's accuracy so that a worker seen on a few items "
        "cannot make a split vote certain), one_coin (the same, maximum likelihood: "
        "overconfident when workers answer few items), dawid_skene (a full confusion matrix "
        "per worker: needs many answers per worker and class), majority_vote.",
    )
    confidence_target: float = Field(
        default=0.9, gt=0.5, le=1, description="Ask more workers until an item is this sure."
    )
    max_answers: int = Field(default=5, ge=1, le=9, description="Cap on answers per item.")
    extra_answer_reserve: ShareBelowOne = Field(
        default=0.05,
        description="Share of the budget kept for extra answers. 0.05, not 0.15: on the six "
        "digits 2.8 % bench campaigns the 15 % reserve bought 108 extra answers on 67 split "
        "items and left one label fewer wrong than their first three answers did, while the "
        "same money buys 36 more items, most of them wrong labels fixed.",
    )
    model_annotator: bool = Field(
        default=False,
        description="Count the model's suggested label of each inspected item as one more "
        "answer in aggregation (CHEF's machine annotator; orchestrator.scheduler.model_votes): "
        "the influence strategy's suggestion where it made one, else the round model's argmax. "
        "Pair it with assignments_per_item=2 to buy fewer human answers per item. Never paid.",
    )
    show_suggestion: bool = Field(
        default=False,
        description="Show each HIT the model's suggested label (the same suggestion "
        "model_annotator counts; template field suggested_label). It may save a worker time "
        "and it may anchor them: measure with the simulator's workers.anchoring.",
    )
    model_relabel: bool = Field(
        default=True,
        description="Export the model's class where it differs from the delivered label, when "
        "the campaign's evidence says the model is more often right there (a one-sided 95 % "
        "bound; orchestrator.campaigns.evidence). False: never.",
    )
    quality_target: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Stop early once the lower end of the estimated label accuracy's 95 % "
        "interval reaches this share (estimated on the crowd-verified validation items; see "
        "orchestrator.campaigns.accuracy). None: spend the budget / run every round.",
    )
    poll_interval_s: PositiveFloat = 1.0
    model: ModelConfig = Field(
        default_factory=ModelConfig,
        description="ModelConfig overrides (only the keys given are stored).",
    )
    crowd: CrowdConfig = Field(
        default_factory=CrowdConfig,
        description="orchestrator.crowd.CrowdConfig options (HIT text, qualifications, gold rate).",
    )
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    reward_usd: Decimal = Field(
        default=Decimal("0.05"),
        description="USD per assignment: two decimals, 0.01 to 100 (MTurk's fee comes on top).",
    )
    assignments_per_item: int = Field(default=3, ge=1, le=9)

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, v: str) -> str:
        if v != "auto" and v not in SELECTABLE:
            raise ValueError(f"unknown strategy; use 'auto' or one of {', '.join(SELECTABLE)}")
        return v

    @field_validator("reward_usd", mode="before")
    @classmethod
    def _reward(cls, v: Any) -> Decimal:
        if isinstance(v, float):  # JSON numbers arrive as floats: their shortest repr is meant
            v = repr(v)
        try:
            return validate_usd(v, what="reward_usd")
        except MoneyError as exc:
            raise ValueError(str(exc)) from None

    @field_serializer("model")
    def _model_overrides(self, model: ModelConfig) -> dict[str, Any]:
        # The overrides only: a stored config keeps meaning "the defaults of the version that
        # runs it" for every key not given (and "beta" unset lets later rounds reuse round 1's).
        return model.model_dump(mode="json", exclude_unset=True)

    @model_validator(mode="before")
    @classmethod
    def _stored(cls, data: Any, info: ValidationInfo) -> Any:
        if not (info.context or {}).get("stored") or not isinstance(data, dict):
            return data
        data = {k: v for k, v in data.items() if k in cls.model_fields}
        for key, model in (("model", ModelConfig), ("crowd", CrowdConfig)):
            raw = data.get(key)
            if isinstance(raw, dict):
                unknown = sorted(set(raw) - set(model.model_fields))
                if unknown:
                    log.warning("ignoring unknown stored %s options %s", key, unknown)
                data[key] = {k: v for k, v in raw.items() if k in model.model_fields}
        return data

    @classmethod
    def from_stored(cls, raw: Any) -> CampaignConfig:
        """A config read back from a campaign row: keys that older versions accepted and
        ignored are dropped (and logged); everything else is checked as at creation."""
        return cls.model_validate(raw or {}, context={"stored": True})

    def model_overrides(self) -> dict[str, Any]:
        """The ModelConfig fields this campaign sets (the rest take ModelConfig's defaults)."""
        return self.model.model_dump(exclude_unset=True)


def check_fits_budget(budget_usd: Decimal, config: CampaignConfig) -> None:
    """MoneyError unless the budget pays at least one item: ``assignments_per_item`` rewards
    plus MTurk's fee, after the extra-answer reserve. A campaign that fails this could only
    publish nothing, or spend round 0 on nothing."""
    per_item = with_fee(config.reward_usd * config.assignments_per_item)
    usable = budget_usd * Decimal(str(1 - config.extra_answer_reserve))
    if per_item > usable:
        raise MoneyError(
            f"config.reward_usd: {config.reward_usd} USD × {config.assignments_per_item} "
            f"assignments + MTurk fee = {per_item.normalize():f} USD per item does not fit "
            f"budget_usd {budget_usd} USD ({usable.quantize(Decimal('0.0001')).normalize():f} "
            f"USD after the {config.extra_answer_reserve:.0%} extra-answer reserve)"
        )
