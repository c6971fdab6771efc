"""Fixtures for the crowd contract suite: a migrated SQLite DB, a seeded campaign with items,
and the MTurk simulator on a loopback port, talked to through real boto3."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from orchestrator.simulator import SimulatorConfig, start_simulator
from orchestrator.simulator.server import RunningSimulator


@pytest.fixture
def db(sqlite_engine: Engine) -> Engine:
    return sqlite_engine


@pytest.fixture
def simulator_factory(tmp_path: Path) -> Iterator[Callable[..., RunningSimulator]]:
    started: list[RunningSimulator] = []

    def factory(**kwargs: Any) -> RunningSimulator:
        kwargs.setdefault("seed", 7)
        kwargs.setdefault("time_factor", 0.001)
        kwargs.setdefault("state_path", tmp_path / f"sim-{len(started)}.sqlite")
        sim = start_simulator(SimulatorConfig(**kwargs))
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        sim.stop()
