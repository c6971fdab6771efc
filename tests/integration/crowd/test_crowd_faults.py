"""Fault tolerance: throttling, 5xx (including lost responses) and a SIGKILLed orchestrator.

The invariants, checked against the simulator's own state: no duplicate HIT, no assignment
paid twice, the campaign's committed spend within its cap, and what the simulator debited
equal to what the ledger says was paid.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import select

from orchestrator.crowd.campaign_crowd import CampaignCrowd
from orchestrator.crowd.collect import collect_answers
from orchestrator.crowd.ledger import campaign_spend
from orchestrator.crowd.publish import publish_items, resume_publishing
from orchestrator.crowd.render import TaskRenderer
from orchestrator.crowd.settle import default_decisions, settle_assignments
from orchestrator.db.engine import session_scope
from orchestrator.db.models import Assignment, AssignmentStatus, Hit, HitStatus
from tests.factories.crowd_campaign import make_crowd_campaign
from tests.factories.simulators import connect
from tests.integration.running_totals import assert_counters_match_rows

HERE = Path(__file__).parent
FAULTS = {"throttle_rate": 0.20, "error_rate": 0.05}


def check_invariants(db, sim, c, expected_hits):
    stats = sim.stats()
    assert stats["hits"] == expected_hits
    assert stats["duplicate_tokens"] == 0 and stats["duplicate_annotations"] == 0
    assert stats["double_paid_assignments"] == 0
    spend = campaign_spend(db, c.campaign_id)
    assert spend.committed_usd <= spend.budget_usd
    assert Decimal(stats["paid_usd"]) == spend.paid_usd
    with session_scope(db) as s:
        hits = s.exec(select(Hit).where(Hit.campaign_id == c.campaign_id)).all()
        assert len(hits) == expected_hits
        assert len({h.hit_id for h in hits}) == expected_hits
    assert_counters_match_rows(db, c.campaign_id)
    return stats, spend


def finish(crowd, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rep = collect_answers(crowd)
        if rep.done:
            break
        time.sleep(0.05)
    for _ in range(20):
        st = settle_assignments(crowd, default_decisions(crowd))
        if st.pending == 0:
            break
        time.sleep(0.1)
    with session_scope(crowd.engine) as s:
        statuses = {a.status for a in s.exec(select(Assignment))}
    assert statuses == {AssignmentStatus.APPROVED}


def test_throttling_and_server_faults(db, simulator_factory):
    c = make_crowd_campaign(db, n_items=6, n_gold=2, budget="3.00", crowd={"gold_rate": 0.15})
    sim = simulator_factory(oracle=c.oracle, faults=FAULTS)
    crowd = CampaignCrowd.load(db, connect(sim), c.campaign_id)
    rep = publish_items(crowd, c.round_id, c.item_ids, renderer=TaskRenderer())
    while rep.pending:  # botocore's 10 attempts ran out for some: the next run finishes them
        rep = resume_publishing(crowd, renderer=TaskRenderer())
    finish(crowd)
    stats, spend = check_invariants(db, sim, c, expected_hits=7)
    assert stats["requests"].get("throttled", 0) > 0
    assert stats["requests"].get("fault", 0) + stats["requests"].get("lost_response", 0) > 0
    assert spend.rewards_usd == Decimal("0.05") * 21


def _job(tmp_path, db, sim, c, settle=False, pairs=()):
    """The publisher's job: the campaign's items, ``pairs`` as pair HITs (their items left out
    of the singles)."""
    paired = {i for p in pairs for i in p}
    items = [[str(a), str(b)] for a, b in pairs] + [str(i) for i in c.item_ids if i not in paired]
    job = tmp_path / "job.json"
    job.write_text(
        json.dumps(
            {
                "database_url": db.url.render_as_string(hide_password=False),
                "endpoint_url": sim.endpoint_url,
                "campaign_id": str(c.campaign_id),
                "round_id": str(c.round_id),
                "item_ids": items,
                "settle": settle,
            }
        )
    )
    return job


def _run_and_kill(job, sim, kill_after_hits, timeout=60.0):
    env = {**os.environ, "PYTHONPATH": str(HERE.parents[2])}
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "crowd_publisher.py"), str(job)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + timeout
    try:
        while sim.stats()["hits"] < kill_after_hits:
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "publisher too slow"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _run(job, timeout=120):
    env = {**os.environ, "PYTHONPATH": str(HERE.parents[2])}
    try:
        out = subprocess.run(
            [sys.executable, str(HERE / "crowd_publisher.py"), str(job)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"publisher timed out: {exc.stdout!r} {exc.stderr!r}") from exc
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_sigkill_mid_publish_then_restart(tmp_path, db, simulator_factory):
    c = make_crowd_campaign(db, n_items=9, n_gold=1, budget="4.00", crowd={"gold_rate": 0.1})
    sim = simulator_factory(oracle=c.oracle, faults={**FAULTS, "latency_s": 0.03})
    job = _job(tmp_path, db, sim, c)
    _run_and_kill(job, sim, kill_after_hits=3)
    with session_scope(db) as s:
        hits = s.exec(select(Hit)).all()
        assert hits, "the intents were written before the calls"
        assert any(h.status == HitStatus.INTENT for h in hits)
    out = _run(job)  # the restarted orchestrator
    assert "published" in out
    crowd = CampaignCrowd.load(db, connect(sim), c.campaign_id)
    rep = resume_publishing(crowd, renderer=TaskRenderer())
    assert not rep.pending
    finish(crowd)
    check_invariants(db, sim, c, expected_hits=10)


@pytest.mark.slow
@pytest.mark.parametrize("kill_points", [(3, 11, 25), (1, 2, 30)])
def test_repeated_sigkills_through_publish_and_settle(tmp_path, db, simulator_factory, kill_points):
    c = make_crowd_campaign(db, n_items=36, n_gold=6, budget="8.00", crowd={"gold_rate": 0.1})
    sim = simulator_factory(
        oracle=c.oracle, faults={**FAULTS, "latency_s": 0.02, "consistency_lag_s": 300}
    )
    job = _job(tmp_path, db, sim, c, settle=True)
    for k in kill_points:
        _run_and_kill(job, sim, kill_after_hits=k)
    _run(job)
    finish(CampaignCrowd.load(db, connect(sim), c.campaign_id))
    check_invariants(db, sim, c, expected_hits=40)
