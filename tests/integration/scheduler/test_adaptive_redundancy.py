"""Adaptive redundancy fires on split votes under the default aggregator, in the round runner.

Real parts: SQLite, the simulator on loopback through boto3, the real round runner and its
MTurk stage. The simulated workers are right half the time on 3 classes, so about one item in
five gets a 1-1-1 split and most of the rest a 2-1 split: the default aggregator must leave
those below ``confidence_target`` and the runner must buy extra answers for them (from the
reserve), where the maximum-likelihood one-coin fit called them certain and bought none.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from orchestrator.campaigns.config import CampaignConfig
from orchestrator.crowd.mturk import MTurkPlatform
from orchestrator.db.models import Hit, Round, RoundStatus
from orchestrator.scheduler.platform_stage import PlatformStage
from orchestrator.scheduler.runner import RoundRunner
from orchestrator.simulator import SimulatorConfig, run_simulator
from tests.factories.tiny_campaign import make_tiny_campaign

COIN_FLIPPERS = {
    "n_workers": 40,
    "kinds": {"diligent": {"share": 1.0, "accuracy": 0.5, "accuracy_spread": 0.0}},
}


def test_split_votes_get_extra_answers_under_the_default_config(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    default = CampaignConfig()
    c = make_tiny_campaign(
        sqlite_engine,
        tmp_path,
        aggregator=default.aggregator,
        max_answers=default.max_answers,
        confidence_target=default.confidence_target,
    )
    events: list[tuple[str, dict[str, Any]]] = []
    sim_cfg = SimulatorConfig(
        seed=2,
        time_factor=0.0005,
        oracle=c.oracle,
        state_path=tmp_path / "sim.db",
        workers=COIN_FLIPPERS,
    )
    with run_simulator(sim_cfg) as sim:
        platform = MTurkPlatform.connect(
            sim.endpoint_url,
            aws_access_key_id="AKIDSIMULATOR",
            aws_secret_access_key="simulator-secret",
            max_requests_per_second=500,
        )
        runner = RoundRunner(
            sqlite_engine,
            PlatformStage(sqlite_engine, platform),
            progress=lambda event, info: events.append((event, info)),
        )
        deadline = time.monotonic() + 60
        # Round 1 is the first round with picks (no random validation round by default).
        while not any(e == "aggregated" and info["round"] == 1 for e, info in events):
            assert time.monotonic() < deadline, events[-5:]
            if not runner.step(c.campaign_id):
                time.sleep(0.02)
    more = [info for e, info in events if e == "more_answers" and info["round"] == 1]
    assert more and sum(info["requested"] for info in more) > 0, events
    with Session(sqlite_engine) as s:
        rnd = s.exec(
            select(Round).where(Round.campaign_id == c.campaign_id, Round.number == 1)
        ).one()
        hits = s.exec(select(Hit).where(Hit.campaign_id == c.campaign_id)).all()
    assert rnd.status == RoundStatus.PROPAGATING
    assert any(h.max_assignments > default.assignments_per_item for h in hits)
    assert all(h.max_assignments <= default.max_answers for h in hits)
