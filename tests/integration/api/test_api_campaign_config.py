"""``POST /v1/campaigns`` refuses a config that cannot run with a 422 naming the field, and
creates nothing; a stored config that cannot run is never started (SQLite and PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import Session, select

from orchestrator.db.models import Campaign, CampaignStatus, Round
from tests.integration.api.api_client import Api
from tests.integration.api.test_api import CSV_OK, assert_problem, upload

CASES: list[tuple[dict[str, Any], str]] = [
    ({"model": {"nope": 1}}, "config.model.nope"),
    ({"model": {"epochs": "many"}}, "config.model.epochs"),
    ({"crowd": {"lifetime_s": "abc"}}, "config.crowd.lifetime_s"),
    ({"crowd": {"unknown_option": 1}}, "config.crowd.unknown_option"),
    ({"crowd": {"title": "line\x0bbreak"}}, "config.crowd.title"),
    ({"strategy": "'; DROP TABLE campaign; --"}, "config.strategy"),
    ({"seed": -1}, "config.seed"),
    ({"reward_usd": "0.001"}, "config.reward_usd"),
]


def _no_campaign(api: Api) -> None:
    assert api.get("alice", "/v1/campaigns").json()["total"] == 0
    with Session(api.engine) as s:
        assert s.exec(select(Campaign)).all() == []
        assert s.exec(select(Round)).all() == []


@pytest.mark.parametrize(("config", "field"), CASES, ids=[f for _, f in CASES])
def test_a_config_that_cannot_run_is_422_naming_the_field(
    api: Api, config: dict[str, Any], field: str
) -> None:
    assert upload(api, "alice", CSV_OK).status_code == 201
    r = api.post(
        "alice", "/v1/campaigns", json={"dataset": "pets", "budget_usd": "5", "config": config}
    )
    body = assert_problem(r, 422, "validation-error", contains=field)
    assert [e["loc"] for e in body["errors"]] == [f"body.{field}"], body
    _no_campaign(api)


def test_a_reward_the_budget_cannot_pay_is_422(api: Api) -> None:
    assert upload(api, "alice", CSV_OK).status_code == 201
    r = api.post(
        "alice",
        "/v1/campaigns",
        json={"dataset": "pets", "budget_usd": "1", "config": {"reward_usd": "50"}},
    )
    body = assert_problem(r, 422, "validation-error", contains="config.reward_usd")
    assert "budget_usd 1" in body["detail"]
    _no_campaign(api)
    ok = api.post(
        "alice",
        "/v1/campaigns",
        json={"dataset": "pets", "budget_usd": "1", "config": {"reward_usd": "0.05"}},
    )
    assert ok.status_code == 201, ok.text


def test_a_stored_config_that_cannot_run_is_never_started(api: Api) -> None:
    # A campaign row written before these rules (or by hand): start answers 409, stays draft.
    assert upload(api, "alice", CSV_OK).status_code == 201
    r = api.post("alice", "/v1/campaigns", json={"dataset": "pets", "budget_usd": "5"})
    assert r.status_code == 201, r.text
    cid, original = r.json()["id"], r.json()["config"]
    for broken, words in (
        ({"crowd": {"lifetime_s": "abc"}}, "config.crowd.lifetime_s"),
        ({"reward_usd": "50.00"}, "reward_usd"),
    ):
        with Session(api.engine) as s:
            c = s.exec(select(Campaign)).one()
            c.config = {**original, **broken}
            if "reward_usd" in broken:
                c.reward_usd = Decimal("50.00")
            s.add(c)
            s.commit()
        body = assert_problem(
            api.post("alice", f"/v1/campaigns/{cid}/start"), 409, "invalid-state", contains=words
        )
        assert "cannot start" in body["detail"]
        assert api.get("alice", f"/v1/campaigns/{cid}").json()["status"] == "draft"
    with Session(api.engine) as s:
        assert s.exec(select(Campaign)).one().status == CampaignStatus.DRAFT
        assert s.exec(select(Round)).all() == []


@pytest.mark.parametrize(
    "config",
    [
        {"strategy": "entropy_propagation", "model": {"robust_update": True}},
        {"strategy": "influence", "model_annotator": True, "assignments_per_item": 2},
        {"strategy": "influence", "show_suggestion": True},
        {"strategy": "counter_example"},
    ],
    ids=["kim", "chef", "chef_shown", "cincer"],
)
def test_the_seed_methods_are_selectable_over_the_api(api: Api, config: dict[str, Any]) -> None:
    assert upload(api, "alice", CSV_OK).status_code == 201
    r = api.post(
        "alice", "/v1/campaigns", json={"dataset": "pets", "budget_usd": "5", "config": config}
    )
    assert r.status_code == 201, r.text
    with Session(api.engine) as s:
        (campaign,) = s.exec(select(Campaign)).all()
    for key, value in config.items():
        assert campaign.config[key] == value
