"""The campaign service in-process: operator pause/resume/cancel between steps, the quality
target, failures backing off into ``failed``, and the APScheduler wiring (background mode).

Real parts: SQLite file, the simulator on loopback through boto3, the real round runner.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from orchestrator.campaigns.lifecycle import transition
from orchestrator.crowd import campaign_spend
from orchestrator.crowd.mturk import MTurkPlatform
from orchestrator.db.models import Campaign, CampaignStatus, Dataset, Hit, HitStatus, Round
from orchestrator.scheduler.service import CampaignService, build_scheduler, service_of
from orchestrator.settings import SchedulerSettings, Settings
from orchestrator.simulator import SimulatorConfig, start_simulator
from orchestrator.simulator.server import RunningSimulator
from tests.factories.tiny_campaign import TinyCampaign, make_tiny_campaign
from tests.integration.scheduler.campaign_setup import campaign_state


def _settings(engine: Engine, sim: RunningSimulator, **scheduler: Any) -> Settings:
    opts = {"interval_s": 0.02, "slice_s": 30.0, "lease_ttl_s": 5.0, **scheduler}
    return Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        mturk={
            "endpoint_url": sim.endpoint_url,
            "aws_access_key_id": "AKIDSIM",
            "aws_secret_access_key": "s",
            "max_requests_per_second": 500,
        },
        scheduler=SchedulerSettings(**opts),
    )


@pytest.fixture
def sim_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[RunningSimulator] = []

    def make(c: TinyCampaign, **kw: Any) -> RunningSimulator:
        kw.setdefault("time_factor", 0.0005)
        sim = start_simulator(
            SimulatorConfig(
                seed=2, oracle=c.oracle, state_path=tmp_path / f"sim{len(started)}.db", **kw
            )
        )
        started.append(sim)
        return sim

    yield make
    for s in started:
        s.stop()


def _round_status(engine: Engine, c: TinyCampaign) -> str | None:
    return campaign_state(engine, c.campaign_id)[2]


def test_pause_resume_and_quality_target_stop(
    tmp_path: Path, sqlite_engine: Engine, sim_factory: Any
) -> None:
    """A quality target ends the campaign after the first round whose evidence meets it (the
    lower end of the interval; round 0, the optional validation round, is skipped by default),
    with rounds and budget left; a pause holds it between steps until resumed."""
    engine = sqlite_engine
    c = make_tiny_campaign(engine, tmp_path, rounds=3, quality_target=0.05)
    sim = sim_factory(c)
    svc = CampaignService(_settings(engine, sim), engine=engine)
    # run until the round is published, then pause
    for _ in range(200):
        svc.advance(c.campaign_id, slice_s=0)  # one step per call
        if _round_status(engine, c) == "collecting":
            break
    assert _round_status(engine, c) == "collecting"
    transition(engine, c.campaign_id, CampaignStatus.PAUSED)
    time.sleep(0.2)  # the simulated workers answer meanwhile
    report = svc.tick()
    assert report.steps == 0 and not report.advanced  # paused: not even listed
    assert campaign_state(engine, c.campaign_id) == ("paused", 1, "collecting")
    transition(engine, c.campaign_id, CampaignStatus.RUNNING)
    deadline = time.monotonic() + 120
    while campaign_state(engine, c.campaign_id)[0] == "running":
        assert time.monotonic() < deadline
        svc.tick()
        time.sleep(0.02)
    status, last, round_status = campaign_state(engine, c.campaign_id)
    assert status == "completed" and round_status == "completed"
    assert 1 <= last < 3  # stopped on quality, with budget and rounds left
    with Session(engine) as s:
        rounds = s.exec(select(Round).where(Round.campaign_id == c.campaign_id)).all()
        campaign = s.get(Campaign, c.campaign_id)
        assert campaign is not None and campaign.lease_owner is None
    assert len(rounds) == last + 1
    m = next(r for r in rounds if r.number == last).metrics
    assert m["accuracy_n_validation"] > 0
    assert 0.05 <= m["accuracy_low"] <= m["accuracy_estimate"] <= m["accuracy_high"] <= 1
    # The rounds before it did not meet the target: their lower bound was below it.
    assert all(r.metrics["accuracy_low"] < 0.05 for r in rounds if r.number < last)
    spend = campaign_spend(engine, c.campaign_id)
    assert spend.committed_usd < c.budget_usd
    assert (Path(campaign.artifact_dir) / "final" / "posterior.npy").exists()


def test_cancel_disposes_hits_and_background_scheduler_releases_leases(
    tmp_path: Path, sqlite_engine: Engine, sim_factory: Any
) -> None:
    engine = sqlite_engine
    c = make_tiny_campaign(engine, tmp_path)
    sim = sim_factory(c, time_factor=50.0)  # workers take hours: HITs stay open
    settings = _settings(engine, sim)
    sched = build_scheduler(settings, engine=engine, background=True)
    svc = service_of(sched)
    sched.start()
    try:
        deadline = time.monotonic() + 60
        while _round_status(engine, c) != "collecting":
            assert time.monotonic() < deadline, campaign_state(engine, c.campaign_id)
            time.sleep(0.02)
        with Session(engine) as s:
            campaign = s.get(Campaign, c.campaign_id)
            assert campaign is not None and campaign.lease_owner in (None, svc.owner)
        transition(engine, c.campaign_id, CampaignStatus.CANCELLED)
        deadline = time.monotonic() + 60
        while True:
            with Session(engine) as s:
                open_hits = s.exec(
                    select(Hit).where(
                        Hit.campaign_id == c.campaign_id,
                        Hit.status != HitStatus.DISPOSED,
                    )
                ).all()
            if not open_hits:
                break
            assert time.monotonic() < deadline, [h.status for h in open_hits]
            time.sleep(0.05)
    finally:
        sched.shutdown()
    assert svc.stopping
    platform = MTurkPlatform.connect(
        sim.endpoint_url, aws_access_key_id="A", aws_secret_access_key="s"
    )
    assert list(platform.iter_hits()) == []  # deleted on the platform too
    spend = campaign_spend(engine, c.campaign_id)
    assert spend.reserved_usd == 0 and spend.committed_usd == 0
    with Session(engine) as s:
        campaign = s.get(Campaign, c.campaign_id)
        assert campaign is not None
        assert campaign.status == CampaignStatus.CANCELLED and campaign.lease_owner is None


def test_failing_campaign_backs_off_then_fails_with_the_error(
    tmp_path: Path, sqlite_engine: Engine, sim_factory: Any
) -> None:
    engine = sqlite_engine
    c = make_tiny_campaign(engine, tmp_path)
    sim = sim_factory(c)
    with Session(engine) as s:
        campaign = s.get(Campaign, c.campaign_id)
        assert campaign is not None
        ds = s.get(Dataset, campaign.dataset_id)
        assert ds is not None
    os.remove(Path(ds.artifact_dir) / "features.npy")  # a lost artifact volume
    beat = tmp_path / "heartbeat"
    settings = _settings(engine, sim, interval_s=0.05, max_failures=3, heartbeat_path=beat)
    svc = CampaignService(settings, engine=engine)
    first = svc.tick().advanced[0]
    # the heartbeat is written even when the campaign's step fails (the loop itself is alive)
    assert abs(datetime.fromisoformat(beat.read_text().strip()) - datetime.now(UTC)) < timedelta(
        seconds=30
    )
    assert first.claimed and first.error and "features.npy" in first.error
    assert svc.tick().advanced[0].claimed is False  # backing off (0.05 s)
    with Session(engine) as s:
        campaign = s.get(Campaign, c.campaign_id)
        assert campaign is not None
        assert campaign.status == CampaignStatus.RUNNING
        assert campaign.error and "failure 1 of 3" in campaign.error
    deadline = time.monotonic() + 30
    while campaign_state(engine, c.campaign_id)[0] == "running":
        assert time.monotonic() < deadline
        svc.tick()
        time.sleep(0.02)
    with Session(engine) as s:
        campaign = s.get(Campaign, c.campaign_id)
        assert campaign is not None
        assert campaign.status == CampaignStatus.FAILED
        assert campaign.error and "features.npy" in campaign.error and "failed" in campaign.error
        assert campaign.lease_owner is None
