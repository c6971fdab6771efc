"""End-to-end crowd flow through real boto3 against the simulator: publish → collect → settle."""

from __future__ import annotations

import time
from decimal import Decimal

from sqlmodel import select

from orchestrator.crowd.campaign_crowd import CampaignCrowd
from orchestrator.crowd.collect import collect_answers
from orchestrator.crowd.ledger import campaign_spend
from orchestrator.crowd.publish import publish_items
from orchestrator.crowd.render import TaskRenderer
from orchestrator.crowd.settle import default_decisions, settle_assignments
from orchestrator.db.engine import session_scope
from orchestrator.db.models import Answer, Assignment, AssignmentStatus, Hit, HitStatus
from tests.factories.crowd_campaign import make_crowd_campaign
from tests.factories.simulators import connect


def poll_until_done(crowd, timeout=20.0):
    """Collect until no HIT is outstanding; returns (last report, total new answers)."""
    deadline = time.monotonic() + timeout
    total = 0
    while True:
        rep = collect_answers(crowd)
        total += rep.new_answers
        if rep.done or time.monotonic() > deadline:
            return rep, total
        time.sleep(0.05)


def test_publish_collect_settle(db, simulator_factory):
    c = make_crowd_campaign(db, n_items=6, n_gold=4, crowd={"gold_rate": 0.34})
    sim = simulator_factory(oracle=c.oracle)
    crowd = CampaignCrowd.load(db, connect(sim), c.campaign_id)
    rep = publish_items(crowd, c.round_id, c.item_ids, renderer=TaskRenderer())
    assert rep.created == 6 + 3 and not rep.pending and not rep.failed
    assert len(rep.gold_item_ids) == 3
    assert all(h.status == HitStatus.PUBLISHED and h.hit_id for h in rep.hits)
    assert sim.stats()["hits"] == 9

    # publishing the same batch again is a no-op
    again = publish_items(crowd, c.round_id, c.item_ids, renderer=TaskRenderer())
    assert again.created == 0 and again.already_published == 9
    assert sim.stats()["hits"] == 9

    spend = campaign_spend(db, c.campaign_id)
    assert spend.reserved_usd == Decimal("0.05") * 3 * 9 * Decimal("1.2")

    col, n_new = poll_until_done(crowd)
    assert col.done and n_new == 27
    with session_scope(db) as s:
        answers = s.exec(select(Answer).where(Answer.campaign_id == c.campaign_id)).all()
        assert len(answers) == 27
        assert sum(a.label is not None for a in answers) >= 20

    decisions = default_decisions(crowd)
    assert len(decisions) == 27
    st = settle_assignments(crowd, decisions)
    assert st.approved == 27 and st.pending == 0
    spend = campaign_spend(db, c.campaign_id)
    assert spend.rewards_usd == Decimal("1.35")
    assert spend.fees_usd == Decimal("0.27")
    assert spend.reserved_usd == 0
    assert spend.committed_usd == Decimal("1.62") <= spend.budget_usd
    stats = sim.stats()
    assert stats["double_paid_assignments"] == 0
    assert Decimal(stats["paid_usd"]) == spend.committed_usd

    # settling again pays nothing twice
    st2 = settle_assignments(crowd, decisions)
    assert st2.approved == 0 and st2.skipped == 27
    assert Decimal(sim.stats()["paid_usd"]) == Decimal("1.62")
    with session_scope(db) as s:
        statuses = {a.status for a in s.exec(select(Assignment)).all()}
        assert statuses == {AssignmentStatus.APPROVED}
        assert all(h.status == HitStatus.COMPLETED for h in s.exec(select(Hit)).all())
