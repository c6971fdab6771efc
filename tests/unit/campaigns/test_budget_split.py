"""How a campaign's inspectable items are split between the validation round and the rest."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.campaigns.config import CampaignConfig
from orchestrator.scheduler.budget_split import validation_round_size

#: A campaign that keeps the (optional) random validation round at its former default share.
WITH_ROUND = CampaignConfig(validation_share=0.3)


def test_no_validation_round_by_default() -> None:
    assert validation_round_size(200, 10, CampaignConfig()) == 0
    assert validation_round_size(34, 10, CampaignConfig()) == 0


def test_share_wins_at_large_budgets() -> None:
    # 200 inspectable items, 10 classes: 30 % = 60 items, above the 2-per-class floor (20).
    assert validation_round_size(200, 10, WITH_ROUND) == 60


def test_per_class_floor_at_medium_budgets() -> None:
    # 50 items: 30 % would be 15, the floor asks 20, the cap (25) allows it.
    assert validation_round_size(50, 10, WITH_ROUND) == 20


def test_cap_keeps_half_for_targeted_rounds() -> None:
    # The benchmark's digits cells: 34 items (2.8 %) and 11 items (1 %). The floor alone took
    # 20 of 34 and all 11.
    assert validation_round_size(34, 10, WITH_ROUND) == 17
    assert validation_round_size(11, 10, WITH_ROUND) == 5
    # The cap is configurable; 1.0 restores the uncapped floor.
    assert (
        validation_round_size(11, 10, WITH_ROUND.model_copy(update={"max_validation_share": 1.0}))
        == 11
    )


def test_nothing_to_inspect() -> None:
    assert validation_round_size(0, 10, WITH_ROUND) == 0
    assert validation_round_size(1, 2, WITH_ROUND) == 1


@given(st.integers(1, 5000), st.integers(2, 50), st.floats(0.05, 0.95), st.floats(0.05, 1.0))
def test_bounds(total: int, k: int, share: float, cap: float) -> None:
    cfg = CampaignConfig(validation_share=share, max_validation_share=cap)
    n = validation_round_size(total, k, cfg)
    assert 1 <= n <= total
    assert n <= max(1, int(cap * total))
    assert n >= min(round(share * total), max(1, int(cap * total)))


def test_cap_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        CampaignConfig(max_validation_share=0)
