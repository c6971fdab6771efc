"""Shared setup for the scheduler tests: ``crowdclean scheduler`` subprocesses against the
simulator, and reads of a campaign's progress and invariants while they run.

The campaign they run is built by :func:`tests.factories.tiny_campaign.make_tiny_campaign`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from orchestrator.crowd import campaign_spend
from orchestrator.crowd.identity import parse_annotation
from orchestrator.crowd.mturk import MTurkPlatform
from orchestrator.db.models import (
    Assignment,
    AssignmentStatus,
    Campaign,
    Hit,
    Item,
    Round,
    RoundStatus,
)
from orchestrator.simulator.server import RunningSimulator
from orchestrator.storage.artifacts import open_artifact_dir
from tests.factories.tiny_campaign import TinyCampaign
from tests.integration.running_totals import assert_counters_match_rows

REPO = Path(__file__).resolve().parents[3]


def scheduler_env(database_url: str, endpoint_url: str, **extra: str) -> dict[str, str]:
    """Environment for a ``crowdclean scheduler`` subprocess against the simulator."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "CROWDCLEAN_DATABASE_URL": database_url,
        "CROWDCLEAN_MTURK__ENDPOINT_URL": endpoint_url,
        "CROWDCLEAN_MTURK__AWS_ACCESS_KEY_ID": "AKIDSIMULATOR",
        "CROWDCLEAN_MTURK__AWS_SECRET_ACCESS_KEY": "simulator-secret",
        "CROWDCLEAN_MTURK__MAX_REQUESTS_PER_SECOND": "500",
        "CROWDCLEAN_SCHEDULER__INTERVAL_S": "0.1",
        "CROWDCLEAN_SCHEDULER__SLICE_S": "5",
        "CROWDCLEAN_SCHEDULER__LEASE_TTL_S": "1.5",  # restarts wait at most this
        "CROWDCLEAN_TORCH_THREADS": "1",
        "CROWDCLEAN_LOG_LEVEL": "INFO",
    }
    env.update(extra)
    return env


def start_scheduler(env: dict[str, str], log_path: Path, *args: str) -> subprocess.Popen[bytes]:
    """``python -m orchestrator scheduler ARGS`` with stdout+stderr appended to ``log_path``."""
    log = open(log_path, "ab")  # noqa: SIM115 (owned by the child for its lifetime)
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "scheduler", *args],
        env=env,
        cwd=str(log_path.parent),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def campaign_state(engine: Engine, campaign_id: uuid.UUID) -> tuple[str, int, str | None]:
    """(campaign status, current round, that round's status or None)."""
    with Session(engine) as s:
        c = s.get(Campaign, campaign_id)
        assert c is not None
        r = s.exec(
            select(Round).where(Round.campaign_id == campaign_id, Round.number == c.current_round)
        ).first()
        return c.status.value, c.current_round, (r.status.value if r else None)


def hit_count(engine: Engine, campaign_id: uuid.UUID) -> int:
    with Session(engine) as s:
        return len(s.exec(select(Hit.id).where(Hit.campaign_id == campaign_id)).all())


def selected_items(engine: Engine, campaign_id: uuid.UUID) -> list[uuid.UUID]:
    """Item ids selected by every round of the campaign (from each round's selected.npy)."""
    from orchestrator.data.store import item_ids_by_position

    with Session(engine) as s:
        c = s.get(Campaign, campaign_id)
        assert c is not None
        rounds = s.exec(
            select(Round).where(Round.campaign_id == campaign_id).order_by(col(Round.number))
        ).all()
        dataset_id = c.dataset_id
    ids = item_ids_by_position(engine, dataset_id)
    out: list[uuid.UUID] = []
    for r in rounds:
        folder = open_artifact_dir(r.artifact_dir)  # local or s3://
        picked = folder.exists("selected.npy")
        skipped = r.number == 0 and r.status == RoundStatus.COMPLETED and not r.n_selected
        assert picked or skipped or r.status == RoundStatus.PENDING, (
            f"round {r.number} lost its pick"
        )
        if picked:
            out += [ids[int(i)] for i in folder.load_npy("selected.npy")]
    return out


ORDER = ["pending", "modelling", "sampling", "publishing", "collecting", "aggregating"]
ORDER += ["propagating", "completed"]


def progress(engine: Engine, campaign_id: uuid.UUID) -> tuple[int, int]:
    """(round, stage index in ORDER); a finished campaign is (10**6, 0)."""
    status, rnd, rstatus = campaign_state(engine, campaign_id)
    if status == "completed":
        return (10**6, 0)
    return (rnd, ORDER.index(rstatus) if rstatus else 0)


def wait_for(
    proc: subprocess.Popen[bytes],
    log: Path,
    what: str,
    cond: Callable[[], bool],
    timeout: float,
    poll_s: float = 0.02,
) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None:
            raise AssertionError(
                f"scheduler exited ({proc.returncode}) before {what}:\n{tail(log)}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{tail(log)}")
        time.sleep(poll_s)


def tail(log: Path, n: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-n:])


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(10) == -signal.SIGKILL


def check_invariants(
    engine: Engine, c: TinyCampaign, sim: RunningSimulator, *, other_campaigns: bool = False
) -> Decimal:
    """Assert the money and exactly-once invariants of a finished campaign; returns its paid USD.

    With ``other_campaigns`` the simulator also holds other campaigns' HITs and payments.
    """
    stats = sim.stats()
    assert stats["duplicate_tokens"] == 0 and stats["duplicate_annotations"] == 0
    assert stats["double_paid_assignments"] == 0
    # the platform's own listing: one HIT per item key (a pair HIT's is its first item's)
    platform = MTurkPlatform.connect(
        sim.endpoint_url, aws_access_key_id="AKID", aws_secret_access_key="s"
    )
    keys: Counter[str] = Counter()
    for h in platform.iter_hits():
        ann = parse_annotation(h.requester_annotation)
        assert ann is not None
        if ann["c"] == c.campaign_id.hex:
            keys[ann["k"]] += 1
        else:
            assert other_campaigns, ann
    assert keys and max(keys.values()) == 1, keys.most_common(3)
    selected = selected_items(engine, c.campaign_id)
    assert len(selected) == len(set(selected))
    with Session(engine) as s:
        ext = dict(
            s.exec(select(Item.id, Item.external_id).where(col(Item.id).in_(selected))).all()
        )
        hits = s.exec(select(Hit).where(Hit.campaign_id == c.campaign_id)).all()
        statuses = set(
            s.exec(
                select(Assignment.status)
                .join(Hit, col(Hit.id) == col(Assignment.hit_pk))
                .where(Hit.campaign_id == c.campaign_id)
            ).all()
        )
        campaign = s.get(Campaign, c.campaign_id)
        assert campaign is not None
    # one Hit row per selected item, or per pair of them (keyed by its first item)
    assert set(keys) == {ext[h.item_id] for h in hits}
    shown = [h.item_id for h in hits] + [h.pair_item_id for h in hits if h.pair_item_id]
    assert sorted(shown) == sorted(selected)
    assert statuses == {AssignmentStatus.APPROVED}
    spend = campaign_spend(engine, c.campaign_id)
    assert spend.committed_usd <= c.budget_usd
    if not other_campaigns:
        assert Decimal(stats["paid_usd"]) == spend.paid_usd
    assert campaign.status.value == "completed"
    assert campaign.lease_owner is None  # released by the graceful stop
    assert_counters_match_rows(engine, c.campaign_id)
    return spend.paid_usd
