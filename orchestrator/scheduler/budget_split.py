"""How a campaign's budget becomes items: per-item cost, inspectable items, round 0's size."""

from __future__ import annotations

import math
from decimal import Decimal

from orchestrator.campaigns.config import CampaignConfig


def cost_per_item(config: CampaignConfig) -> Decimal:
    """USD to have one item answered ``assignments_per_item`` times, MTurk fee included."""
    from orchestrator.crowd.money import with_fee

    return with_fee(config.reward_usd * config.assignments_per_item)


def inspectable_items(budget_usd: Decimal, config: CampaignConfig) -> int:
    """How many items the budget can put in front of the crowd (extra-answer reserve kept)."""
    usable = budget_usd * Decimal(str(1 - config.extra_answer_reserve))
    return int(usable // cost_per_item(config))


def validation_round_size(total: int, n_classes: int, config: CampaignConfig) -> int:
    """Items of round 0 (the random validation round) when ``total`` items are inspectable.

    ``validation_share · total``, raised to two items per class so each class can be checked,
    but never more than ``max_validation_share · total`` (at least 1): at small budgets the
    per-class floor alone would take most of the budget (10 classes, 34 inspectable items: 20
    random items and only 14 chosen by the model; at 11 items, all of them) although the
    targeted rounds are what fixes labels (benchmarks/results/bench-notes.md).
    """
    if total <= 0 or config.validation_share == 0:
        return 0
    want = max(2 * n_classes, round(config.validation_share * total))
    cap = max(1, math.floor(config.max_validation_share * total))
    return min(want, cap, total)
