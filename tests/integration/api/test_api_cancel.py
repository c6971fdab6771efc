"""Cancel through the API disposes of open HITs on the (simulated) platform, through boto3."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from orchestrator.crowd.campaign_crowd import CampaignCrowd
from orchestrator.crowd.mturk import MTurkPlatform
from orchestrator.crowd.publish import publish_items
from orchestrator.crowd.render import TaskRenderer
from orchestrator.db.models import Hit, HitStatus, Item, Round
from orchestrator.scheduler.lease import Lease
from orchestrator.simulator import SimulatorConfig, start_simulator
from orchestrator.simulator.server import RunningSimulator
from tests.factories.stored_campaign import build_campaign
from tests.integration.api.api_client import make_api


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[RunningSimulator]:
    running = start_simulator(
        SimulatorConfig(state_path=tmp_path / "sim.sqlite", simulate_workers=False, seed=3)
    )
    yield running
    running.stop()


def _publish(engine: Engine, sim: RunningSimulator, campaign_id, dataset_id, n: int) -> list[str]:  # type: ignore[no-untyped-def]
    platform = MTurkPlatform.connect(
        sim.endpoint_url,
        aws_access_key_id="AKIDSIMULATOR",
        aws_secret_access_key="simulator-secret",
        max_requests_per_second=200,
    )
    with Session(engine) as s:
        items = s.exec(
            select(Item.id).where(Item.dataset_id == dataset_id).order_by(col(Item.position))
        ).all()
        round_id = s.exec(
            select(Round.id).where(Round.campaign_id == campaign_id, Round.number == 1)
        ).one()
    rep = publish_items(
        CampaignCrowd.load(engine, platform, campaign_id),
        round_id,
        list(items[:n]),
        renderer=TaskRenderer(),
        gold_rate=0.0,
        check_balance=False,
    )
    assert rep.created == n
    return [h.hit_id for h in rep.hits if h.hit_id]


def _hit_states(engine: Engine, campaign_id) -> list[HitStatus]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return list(s.exec(select(Hit.status).where(Hit.campaign_id == campaign_id)).all())


def test_cancel_expires_and_disposes_open_hits(
    engine: Engine, tmp_path: Path, sim: RunningSimulator
) -> None:
    api = make_api(engine, tmp_path, mturk_endpoint=sim.endpoint_url)
    empty = {"n_validation": 0, "n_verified": 0, "n_propagated": 0, "with_model": False}
    sc = build_campaign(engine, api.data_dir, n_items=10, requester="alice", seed=1, **empty)
    other = build_campaign(engine, api.data_dir, n_items=10, requester="alice", seed=2, **empty)
    _publish(engine, sim, sc.campaign_id, sc.dataset_id, 4)
    _publish(engine, sim, other.campaign_id, other.dataset_id, 2)
    with api.client:
        url = f"/v1/campaigns/{sc.campaign_id}"
        before = api.get("alice", f"{url}/status").json()
        assert before["reserved_usd"] == "0.72"  # 4 HITs × 3 × 0.05 USD × 1.2

        r = api.post("alice", f"{url}/cancel")
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["campaign"]["status"] == "cancelled"
        assert out["open_hits"] == 4 and out["deferred"] is False
        assert out["cleanup"]["disposed"] == 4 and out["cleanup"]["still_open"] == {}
        assert set(_hit_states(engine, sc.campaign_id)) == {HitStatus.DISPOSED}
        after = api.get("alice", f"{url}/status").json()
        assert after["reserved_usd"] == "0.00" and after["status"] == "cancelled"
        again = api.post("alice", f"{url}/cancel").json()
        assert again["open_hits"] == 0 and again["cleanup"] is None

        # a scheduler mid-step holds the other campaign: the clean-up is left to it
        assert Lease(engine, other.campaign_id, "scheduler-elsewhere", 60.0).claim()
        out = api.post("op", f"/v1/campaigns/{other.campaign_id}/cancel").json()
        assert out["campaign"]["status"] == "cancelled"
        assert out["deferred"] is True and out["open_hits"] == 2 and out["cleanup"] is None
        assert set(_hit_states(engine, other.campaign_id)) == {HitStatus.PUBLISHED}
