"""``crowdclean scheduler`` killed with SIGKILL at several points and restarted finishes the
campaign with nothing lost or repeated.

Real parts throughout: the scheduler is a subprocess (``python -m orchestrator scheduler``) on a
SQLite file, talking boto3 to the MTurk simulator on loopback (in this process, its state in
its own SQLite file). The invariants are checked on the simulator's side (ListHITs and its
ledger) and in the database: no duplicate HIT, each selected item published exactly once, no
assignment paid twice, spend within the cap, campaign completed.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from orchestrator.db.models import Hit
from orchestrator.simulator import SimulatorConfig, start_simulator
from orchestrator.simulator.server import RunningSimulator
from tests.factories.tiny_campaign import TinyCampaign, make_tiny_campaign
from tests.integration.scheduler.campaign_setup import (
    ORDER,
    campaign_state,
    check_invariants,
    kill,
    progress,
    scheduler_env,
    start_scheduler,
    tail,
    wait_for,
)

Setup = tuple[Engine, TinyCampaign, RunningSimulator, dict[str, str]]


@pytest.fixture
def setup(tmp_path: Path, sqlite_engine: Engine) -> Iterator[Setup]:
    yield from _setup(tmp_path, sqlite_engine)


@pytest.fixture
def pair_setup(tmp_path: Path, sqlite_engine: Engine) -> Iterator[Setup]:
    """A ``counter_example`` campaign: its round publishes pair HITs."""
    yield from _setup(tmp_path, sqlite_engine, strategy="counter_example")


def _setup(tmp_path: Path, sqlite_engine: Engine, **config: Any) -> Iterator[Setup]:
    c = make_tiny_campaign(sqlite_engine, tmp_path, **config)
    sim = start_simulator(
        SimulatorConfig(
            seed=5,
            time_factor=0.0005,
            oracle=c.oracle,
            state_path=tmp_path / "simulator.sqlite",
            faults={"latency_s": 0.03},  # real seconds per call: room to kill mid-publish
        )
    )
    env = scheduler_env(sqlite_engine.url.render_as_string(hide_password=False), sim.endpoint_url)
    try:
        yield sqlite_engine, c, sim, env
    finally:
        sim.stop()


def run_with_kills(
    engine: Engine,
    c: TinyCampaign,
    sim: RunningSimulator,
    env: dict[str, str],
    log: Path,
    kill_points: list[tuple[int, str, int]],
) -> None:
    """For each (round, status, extra HITs): run until there, SIGKILL; then run to the end.

    ``extra HITs`` > 0 waits until that many more HITs exist on the simulator than when the
    process started (a kill in the middle of publishing).
    """
    for rnd, status, extra_hits in kill_points:
        proc = start_scheduler(env, log)
        try:
            target = (rnd, ORDER.index(status))
            wait_for(
                proc,
                log,
                f"round {rnd} {status}",
                lambda target=target: progress(engine, c.campaign_id) >= target,
                90,
            )
            if extra_hits:
                before = sim.stats()["hits"]
                wait_for(
                    proc,
                    log,
                    f"{extra_hits} more HITs",
                    lambda n=before + extra_hits: sim.stats()["hits"] >= n,
                    60,
                    poll_s=0.01,
                )
            if status == "modelling":
                time.sleep(0.5)  # inside the fit (or the torch import before it)
            kill(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        with log.open("a") as f:
            f.write(f"---- SIGKILL at round {rnd} {status} (+{extra_hits} HITs) ----\n")
    proc = start_scheduler(env, log)
    try:
        wait_for(
            proc,
            log,
            "the campaign to complete",
            lambda: campaign_state(engine, c.campaign_id)[0] == "completed",
            180,
            poll_s=0.25,  # no hurry here: leave the CPU to the scheduler
        )
        proc.send_signal(signal.SIGTERM)  # graceful: exits 0 and releases its leases
        assert proc.wait(60) == 0, tail(log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigkill_mid_publish_then_restart_completes(setup: Any, tmp_path: Path) -> None:
    engine, c, sim, env = setup
    log = tmp_path / "scheduler.log"
    run_with_kills(engine, c, sim, env, log, [(0, "publishing", 2)])
    assert log.read_text().count("SIGKILL") == 1
    check_invariants(engine, c, sim)


def test_sigkill_mid_pair_publish_then_restart_creates_no_second_pair_hit(
    pair_setup: Any, tmp_path: Path
) -> None:
    engine, c, sim, env = pair_setup
    log = tmp_path / "scheduler.log"
    run_with_kills(engine, c, sim, env, log, [(1, "publishing", 1)])
    assert log.read_text().count("SIGKILL") == 1
    with Session(engine) as s:
        pair_hits = s.exec(
            select(Hit).where(Hit.campaign_id == c.campaign_id, col(Hit.pair_item_id).is_not(None))
        ).all()
    assert len(pair_hits) >= 2
    check_invariants(engine, c, sim)  # one HIT per token and per pair, each paid once


@pytest.mark.slow
@pytest.mark.parametrize(
    "kill_points",
    [
        [(0, "publishing", 1), (0, "collecting", 0), (1, "modelling", 0), (1, "publishing", 3)],
        [(0, "publishing", 4), (0, "aggregating", 0), (1, "sampling", 0), (1, "collecting", 0)],
        [(1, "modelling", 0), (1, "aggregating", 0), (1, "propagating", 0)],
    ],
)
def test_repeated_sigkills_through_a_campaign(
    setup: Any, tmp_path: Path, kill_points: list[tuple[int, str, int]]
) -> None:
    engine, c, sim, env = setup
    log = tmp_path / "scheduler.log"
    run_with_kills(engine, c, sim, env, log, kill_points)
    check_invariants(engine, c, sim)
