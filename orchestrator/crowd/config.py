"""Per-campaign crowd options (``Campaign.config["crowd"]``), validated at campaign creation.

Unknown keys are refused; durations and text lengths follow MTurk's CreateHITType limits, so a
campaign whose HIT type MTurk would refuse is refused before it exists.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from orchestrator.config_types import AtLeastOne, Share, ShareBelowOne
from orchestrator.data.text import check_text

if TYPE_CHECKING:
    from orchestrator.db.models import Campaign

log = logging.getLogger(__name__)

#: MTurk's bounds (CreateHITType): durations in seconds, lengths in characters.
MAX_LIFETIME_S = 365 * 24 * 3600
MAX_ASSIGNMENT_DURATION_S = 365 * 24 * 3600
MAX_AUTO_APPROVAL_DELAY_S = 30 * 24 * 3600
MAX_TITLE_CHARS = 128
MAX_DESCRIPTION_CHARS = 2000
MAX_KEYWORDS_CHARS = 1000
#: Instructions go into every HIT: 1,000 characters (at most 6 bytes each once escaped) and a
#: title stay within the room that import keeps free below MTurk's Question size limit
#: (:data:`orchestrator.data.hit_size.HIT_HEADROOM_BYTES`).
MAX_INSTRUCTIONS_CHARS = 1_000


class CrowdConfig(BaseModel):
    """Per-campaign crowd options, read from ``Campaign.config["crowd"]`` (all optional).

    Durations in seconds; ``min_approval_rate`` in percent; ``gold_rate`` = gold-check HITs per
    published item (0-1); a worker with at least ``gold_min_answers`` gold answers and an
    accuracy on them below ``gold_min_accuracy`` is excluded from the campaign (qualification)
    and, if ``block_on_gold_failure``, blocked (CreateWorkerBlock).
    """

    model_config = ConfigDict(extra="forbid")

    title: str = Field(default="Is this label correct?", min_length=1, max_length=MAX_TITLE_CHARS)
    description: str = Field(
        default="Check the label of one training example and fix it if it is wrong.",
        min_length=1,
        max_length=MAX_DESCRIPTION_CHARS,
    )
    keywords: str = Field(
        default="label, verification, classification, quick", max_length=MAX_KEYWORDS_CHARS
    )
    instructions: str | None = Field(default=None, max_length=MAX_INSTRUCTIONS_CHARS)
    lifetime_s: int = Field(default=3 * 24 * 3600, ge=30, le=MAX_LIFETIME_S)
    assignment_duration_s: int = Field(default=600, ge=30, le=MAX_ASSIGNMENT_DURATION_S)
    auto_approval_delay_s: int = Field(default=3 * 24 * 3600, ge=0, le=MAX_AUTO_APPROVAL_DELAY_S)
    min_approval_rate: int | None = Field(default=95, ge=0, le=100)
    locales: list[str] | None = Field(
        default=None, description="ISO 3166-1 alpha-2 country codes (e.g. 'US')."
    )
    use_exclusion_qualification: bool = True
    gold_rate: ShareBelowOne = 0.1
    gold_min_answers: AtLeastOne = 3
    gold_min_accuracy: Share = 0.6
    block_on_gold_failure: bool = True

    @field_validator("title", "description", "keywords", "instructions")
    @classmethod
    def _usable_text(cls, v: str | None) -> str | None:
        return v if v is None else check_text(v, what="the text")

    @field_validator("locales")
    @classmethod
    def _country_codes(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        for code in v:
            if len(code) != 2 or not code.isascii() or not code.isalpha() or not code.isupper():
                raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code such as 'US'")
        return v

    @classmethod
    def lenient(cls, raw: Any) -> CrowdConfig:
        """Options stored before every key was checked: unknown keys are dropped (and logged)."""
        if not isinstance(raw, dict):
            return cls()
        unknown = sorted(set(raw) - set(cls.model_fields))
        if unknown:
            log.warning("ignoring unknown stored crowd options %s", unknown)
        return cls.model_validate({k: v for k, v in raw.items() if k in cls.model_fields})

    @classmethod
    def of(cls, campaign: Campaign) -> CrowdConfig:
        """The campaign's crowd options (defaults where unset)."""
        return cls.lenient((campaign.config or {}).get("crowd", {}))
