"""Two scheduler processes on one PostgreSQL database never publish an item twice.

Two ``crowdclean scheduler`` subprocesses drive two campaigns against one database and the
simulator on loopback; with one-second time slices the campaigns change hands between the
processes. Separately, publishing is shown to stay exactly-once even with the leases bypassed:
two threads publish the same round at once and the unique (campaign, item, attempt) intent row
plus the deterministic MTurk request token leave one HIT per item.
"""

from __future__ import annotations

import signal
import threading
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from orchestrator.crowd.mturk import MTurkPlatform
from orchestrator.data.store import item_ids_by_position
from orchestrator.db.engine import make_engine, session_scope
from orchestrator.db.models import Campaign, Hit, HitStatus, LedgerEntry, LedgerKind, Round
from orchestrator.scheduler.platform_stage import PlatformStage
from orchestrator.simulator import SimulatorConfig, run_simulator
from tests.factories.tiny_campaign import make_dataset, make_tiny_campaign
from tests.integration.scheduler.campaign_setup import (
    campaign_state,
    check_invariants,
    scheduler_env,
    start_scheduler,
    tail,
    wait_for,
)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "n_campaigns", [1, pytest.param(3, marks=pytest.mark.slow, id="3-campaigns")]
)
def test_two_schedulers_share_campaigns_without_duplicates(
    tmp_path: Path, postgres_engine: Engine, n_campaigns: int
) -> None:
    engine = postgres_engine
    dataset, oracle = make_dataset(engine, tmp_path)
    campaigns = [
        make_tiny_campaign(engine, tmp_path, dataset=dataset, oracle=oracle, seed=s)
        for s in range(1, n_campaigns + 1)
    ]
    url = engine.url.render_as_string(hide_password=False)
    sim_cfg = SimulatorConfig(
        seed=11,
        time_factor=0.0005,
        oracle=oracle,
        state_path=tmp_path / "simulator.sqlite",
        faults={"latency_s": 0.01},
    )
    with run_simulator(sim_cfg) as sim:
        # 1 s slices: the campaign changes hands between the processes many times; 0.2 s
        # ticks keep two idle pollers from eating the CPU the working one needs
        env = scheduler_env(
            url,
            sim.endpoint_url,
            CROWDCLEAN_SCHEDULER__SLICE_S="1",
            CROWDCLEAN_SCHEDULER__INTERVAL_S="0.2",
            # no kills here: a long lease keeps a loaded machine from stalling a holder past it
            CROWDCLEAN_SCHEDULER__LEASE_TTL_S="20",
        )
        logs = [tmp_path / f"scheduler-{k}.log" for k in range(2)]
        procs = [start_scheduler(env, log) for log in logs]
        try:
            for c in campaigns:
                wait_for(
                    procs[0],
                    logs[0],
                    f"campaign {c.campaign_id} to complete",
                    lambda c=c: campaign_state(engine, c.campaign_id)[0] == "completed",
                    240,
                    poll_s=0.25,  # leave the CPU to the schedulers
                )
            assert procs[1].poll() is None, tail(logs[1])
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p, log in zip(procs, logs, strict=True):
                assert p.wait(60) == 0, tail(log)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        # both processes advanced the campaigns: with 1 s slices they change hands
        for log in logs:
            assert "campaign " in log.read_text(), tail(log)
        stats = sim.stats()
        assert stats["duplicate_tokens"] == 0 and stats["duplicate_annotations"] == 0
        paid = [check_invariants(engine, c, sim, other_campaigns=True) for c in campaigns]
        assert Decimal(stats["paid_usd"]) == sum(paid)
        assert stats["double_paid_assignments"] == 0


def _round_with_items(
    engine: Engine, tmp_path: Path, n: int
) -> tuple[uuid.UUID, uuid.UUID, list[uuid.UUID], dict[str, str]]:
    c = make_tiny_campaign(engine, tmp_path, start=False)
    with session_scope(engine) as s:
        campaign = s.get(Campaign, c.campaign_id)
        assert campaign is not None
        rnd = Round(campaign_id=c.campaign_id, number=0, artifact_dir=str(tmp_path / "r0"))
        s.add(rnd)
        s.flush()
        round_id, dataset_id = rnd.id, campaign.dataset_id
    items = item_ids_by_position(engine, dataset_id)[:n]
    return c.campaign_id, round_id, items, c.oracle


def test_concurrent_publish_without_leases_is_exactly_once(tmp_path: Path, engine: Engine) -> None:
    """Bypass the leases: two 'processes' (own engines, own boto3 clients) publish one round."""
    campaign_id, round_id, items, oracle = _round_with_items(engine, tmp_path, 12)
    url = engine.url.render_as_string(hide_password=False)
    sim_cfg = SimulatorConfig(
        seed=3,
        time_factor=0.001,
        simulate_workers=False,
        oracle=oracle,
        state_path=tmp_path / "sim.sqlite",
        faults={"latency_s": 0.005, "error_rate": 0.05},  # half of the 5xx lose the response
    )
    with run_simulator(sim_cfg) as sim:
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []
        engines = [make_engine(url) for _ in range(2)]

        def publisher(k: int) -> None:
            try:
                platform = MTurkPlatform.connect(
                    sim.endpoint_url,
                    aws_access_key_id=f"AKID{k}",
                    aws_secret_access_key="s",
                    max_requests_per_second=500,
                )
                stage = PlatformStage(engines[k], platform)
                barrier.wait()
                # opposite orders: both start at once and meet in the middle
                stage.publish(campaign_id, round_id, items if k == 0 else items[::-1])
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=publisher, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for e in engines:
            e.dispose()
        assert not errors, errors
        stats = sim.stats()
        assert stats["hits"] == len(items)
        assert stats["duplicate_tokens"] == 0 and stats["duplicate_annotations"] == 0
        with Session(engine) as s:
            hits = s.exec(select(Hit).where(Hit.campaign_id == campaign_id)).all()
            reservations = s.exec(
                select(func.count())
                .select_from(LedgerEntry)
                .where(
                    LedgerEntry.campaign_id == campaign_id,
                    LedgerEntry.kind == LedgerKind.HIT_RESERVATION,
                )
            ).one()
            published = s.exec(
                select(func.count(col(Hit.hit_id).distinct())).where(
                    Hit.campaign_id == campaign_id, Hit.status == HitStatus.PUBLISHED
                )
            ).one()
        assert sorted(h.item_id for h in hits) == sorted(items)
        assert reservations == len(items)  # no HIT reserved twice
        assert published == len(items)
