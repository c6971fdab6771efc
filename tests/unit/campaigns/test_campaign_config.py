"""A campaign config is validated completely at creation: every level refuses unknown keys,
types and ranges are checked, and a stored config (older, laxer versions) still loads."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from orchestrator.campaigns.config import CampaignConfig, check_fits_budget
from orchestrator.crowd.config import CrowdConfig
from orchestrator.crowd.money import MoneyError
from orchestrator.sampling.strategies import SELECTABLE

BAD: list[tuple[dict[str, Any], tuple[str | int, ...]]] = [
    ({"model": {"nope": 1}}, ("model", "nope")),
    ({"model": {"epochs": "many"}}, ("model", "epochs")),
    ({"model": {"latent_dim": 0}}, ("model", "latent_dim")),
    ({"model": []}, ("model",)),
    ({"model": {"device": "gpu"}}, ("model", "device")),
    ({"model": {"hidden": [10**9]}}, ("model", "hidden")),
    ({"model": {"epochs": 10**9}}, ("model", "epochs")),
    ({"crowd": {"lifetime_s": "abc"}}, ("crowd", "lifetime_s")),
    ({"crowd": {"unknown": True}}, ("crowd", "unknown")),
    ({"crowd": {"lifetime_s": 10}}, ("crowd", "lifetime_s")),
    ({"crowd": {"auto_approval_delay_s": 31 * 24 * 3600}}, ("crowd", "auto_approval_delay_s")),
    ({"crowd": {"title": "x" * 129}}, ("crowd", "title")),
    ({"crowd": {"title": "bad\x0btitle"}}, ("crowd", "title")),
    ({"crowd": {"instructions": "x" * 1001}}, ("crowd", "instructions")),
    ({"crowd": {"locales": ["usa"]}}, ("crowd", "locales")),
    ({"crowd": {"gold_rate": 1.5}}, ("crowd", "gold_rate")),
    ({"crowd": "abc"}, ("crowd",)),
    ({"strategy": "'; DROP TABLE campaign; --"}, ("strategy",)),
    ({"seed": -1}, ("seed",)),
    ({"seed": 2**40}, ("seed",)),
    ({"seed": "x"}, ("seed",)),
    ({"reward_usd": "0.001"}, ("reward_usd",)),
    ({"reward_usd": "abc"}, ("reward_usd",)),
    ({"reward_usd": "500"}, ("reward_usd",)),
    ({"reward_usd": 0}, ("reward_usd",)),
    ({"unknown": 1}, ("unknown",)),
]


@pytest.mark.parametrize(("raw", "loc"), BAD, ids=[".".join(map(str, loc)) for _, loc in BAD])
def test_a_bad_field_is_refused_and_named(raw: dict[str, Any], loc: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as info:
        CampaignConfig.model_validate(raw)
    assert [e["loc"][: len(loc)] for e in info.value.errors()] == [loc], info.value.errors()


def test_every_strategy_and_auto_are_accepted() -> None:
    for s in (*SELECTABLE, "auto"):
        assert CampaignConfig(strategy=s).strategy == s


def test_json_reward_numbers_are_read_as_decimals() -> None:
    assert CampaignConfig.model_validate({"reward_usd": 0.07}).reward_usd == Decimal("0.07")
    assert CampaignConfig.model_validate({"reward_usd": 1}).reward_usd == Decimal("1.00")


def test_model_stores_only_the_overrides_and_round_trips() -> None:
    cfg = CampaignConfig.model_validate(
        {"model": {"epochs": 3, "hidden": [8, 8]}, "crowd": {"gold_rate": 0}}
    )
    stored = cfg.model_dump(mode="json")
    assert stored["model"] == {"epochs": 3, "hidden": [8, 8]}
    assert stored["crowd"]["gold_rate"] == 0 and stored["crowd"]["title"]
    back = CampaignConfig.from_stored(stored)
    assert back.model_overrides() == {"epochs": 3, "hidden": (8, 8)}
    assert back == CampaignConfig.model_validate(stored)
    assert CampaignConfig().model_overrides() == {}  # "beta" unset: later rounds reuse round 1's


def test_stored_configs_of_laxer_versions_still_load() -> None:
    stored = {
        "rounds": 2,
        "model": {"epochs": 2, "renamed_long_ago": 1},
        "crowd": {"title": "t", "silently_ignored_before": "x"},
        "a_top_level_key_of_an_old_version": 1,
    }
    cfg = CampaignConfig.from_stored(stored)
    assert cfg.rounds == 2 and cfg.model_overrides() == {"epochs": 2}
    assert cfg.crowd.title == "t"
    assert CrowdConfig.lenient(stored["crowd"]).title == "t"
    with pytest.raises(ValidationError):  # at creation, the same dict is refused
        CampaignConfig.model_validate(stored)


def test_the_reward_must_fit_the_budget_for_one_item() -> None:
    cfg = CampaignConfig(reward_usd=Decimal("50"))
    with pytest.raises(MoneyError, match="reward_usd"):
        check_fits_budget(Decimal("1"), cfg)
    # 3 × 0.05 + 20 % = 0.18 USD per item; 5 % of the budget is kept for extra answers
    small = CampaignConfig(reward_usd=Decimal("0.05"))
    check_fits_budget(Decimal("0.19"), small)
    with pytest.raises(MoneyError, match=r"0\.18 USD per item"):
        check_fits_budget(Decimal("0.18"), small)
