"""Task-manager rules: money before calls, the cap, eventual consistency, quality, cancel."""

from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal

import pytest
from sqlmodel import select

from orchestrator.crowd.bonus import send_bonus
from orchestrator.crowd.campaign_crowd import CampaignCrowd
from orchestrator.crowd.cancel import cancel_campaign, reconcile_campaign
from orchestrator.crowd.collect import collect_answers
from orchestrator.crowd.identity import requester_annotation, unique_request_token
from orchestrator.crowd.ledger import BudgetExceededError, campaign_spend
from orchestrator.crowd.money import MoneyError
from orchestrator.crowd.more_answers import request_more_answers
from orchestrator.crowd.platform import HitRequest, HitTypeSpec
from orchestrator.crowd.publish import InsufficientBalanceError, publish_items
from orchestrator.crowd.render import TaskRenderer, html_question
from orchestrator.crowd.settle import Decision, default_decisions, settle_assignments
from orchestrator.db.engine import session_scope
from orchestrator.db.models import (
    Answer,
    Assignment,
    AssignmentStatus,
    Campaign,
    Hit,
    HitStatus,
    LedgerEntry,
    Worker,
)
from tests.factories.crowd_campaign import make_crowd_campaign
from tests.factories.simulators import connect

R = TaskRenderer()

# The smallest question MTurk (and the simulator) accepts: a form, assignmentId, a submit.
MINIMAL_QUESTION = html_question(
    '<!DOCTYPE html><form><input name="assignmentId"><button type="submit">go</button></form>'
)


def collect_all(crowd, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        rep = collect_answers(crowd)
        if rep.done or time.monotonic() > deadline:
            return rep
        time.sleep(0.05)


def test_bad_reward_is_refused_before_any_call(db, simulator_factory):
    c = make_crowd_campaign(db, reward="0.05")
    with session_scope(db) as s:
        s.get(Campaign, c.campaign_id).reward_usd = Decimal("0.125")
    sim = simulator_factory(oracle=c.oracle)
    crowd = CampaignCrowd.load(db, connect(sim), c.campaign_id)
    with pytest.raises(MoneyError):
        publish_items(crowd, c.round_id, c.item_ids, renderer=R)
    assert sim.stats()["requests"] == {}
    with session_scope(db) as s:
        assert s.exec(select(Hit)).all() == []


def test_budget_cap_skips_what_does_not_fit(db, simulator_factory):
    # one HIT costs 3 × 0.05 × 1.2 = 0.18 USD; 0.50 USD fits two
    c = make_crowd_campaign(db, n_items=5, budget="0.50", crowd={"gold_rate": 0})
    sim = simulator_factory(oracle=c.oracle)
    platform = connect(sim)
    crowd = CampaignCrowd.load(db, platform, c.campaign_id)
    rep = publish_items(crowd, c.round_id, c.item_ids, renderer=R)
    assert rep.created == 2 and len(rep.skipped_over_budget) == 3
    assert campaign_spend(db, c.campaign_id).committed_usd == Decimal("0.36")
    hit_pk = rep.hits[0].id
    with pytest.raises(BudgetExceededError):
        request_more_answers(crowd, hit_pk, 3)  # 0.36 + 0.18 > 0.50
    assert request_more_answers(crowd, hit_pk, 1).max_assignments == 4  # 0.42 fits
    assert campaign_spend(db, c.campaign_id).committed_usd == Decimal("0.42")
    assert sim.stats()["hits"] == 2


def test_request_more_respects_nine_and_cap(db, simulator_factory):
    c = make_crowd_campaign(db, n_items=1, budget="5.00", crowd={"gold_rate": 0})
    sim = simulator_factory(oracle=c.oracle)
    platform = connect(sim)
    crowd = CampaignCrowd.load(db, platform, c.campaign_id)
    rep = publish_items(crowd, c.round_id, c.item_ids, renderer=R)
    hit_pk = rep.hits[0].id
    hit = request_more_answers(crowd, hit_pk, 2)
    assert hit.max_assignments == 5
    assert platform.get_hit(hit.hit_id).max_assignments == 5
    with pytest.raises(MoneyError):
        request_more_answers(crowd, hit_pk, 5)  # 10 > 9
    assert campaign_spend(db, c.campaign_id).reserved_usd == Decimal("0.30")
    collect_all(crowd)
    with session_scope(db) as s:
        assert len(s.exec(select(Answer)).all()) == 5


def test_insufficient_balance_refuses_before_writing(db, simulator_factory):
    c = make_crowd_campaign(db, n_items=3)
    sim = simulator_factory(oracle=c.oracle, initial_balance_usd=Decimal("0.20"))
    crowd = CampaignCrowd.load(db, connect(sim), c.campaign_id)
    with pytest.raises(InsufficientBalanceError):
        publish_items(crowd, c.round_id, c.item_ids, renderer=R)
    with session_scope(db) as s:
        assert s.exec(select(Hit)).all() == []
        assert s.exec(select(LedgerEntry)).all() == []


def test_eventual_consistency_keeps_decisions_pending(db, simulator_factory):
    c = make_crowd_campaign(db, n_items=2, crowd={"gold_rate": 0})
    sim = simulator_factory(oracle=c.oracle, faults={"consistency_lag_s": 1500.0})
    platform = connect(sim)  # lag = 1500 s × 0.001 = 1.5 s after each submission
    crowd = CampaignCrowd.load(db, platform, c.campaign_id)
    publish_items(crowd, c.round_id, c.item_ids, renderer=R)
    collect_all(crowd)
    st = settle_assignments(crowd, default_decisions(crowd))
    assert st.pending > 0
    with session_scope(db) as s:
        assert any(a.status == AssignmentStatus.APPROVE_PENDING for a in s.exec(select(Assignment)))
    time.sleep(1.6)
    rep = collect_answers(crowd)
    assert rep.pending_decisions == 0
    with session_scope(db) as s:
        assert {a.status for a in s.exec(select(Assignment))} == {AssignmentStatus.APPROVED}
    assert sim.stats()["double_paid_assignments"] == 0
    spend = campaign_spend(db, c.campaign_id)
    assert Decimal(sim.stats()["paid_usd"]) == spend.paid_usd == Decimal("0.36")


def test_rejection_needs_evidence_and_sends_feedback(db, simulator_factory):
    c = make_crowd_campaign(db, n_items=1, crowd={"gold_rate": 0})
    sim = simulator_factory(oracle=c.oracle)
    platform = connect(sim)
    crowd = CampaignCrowd.load(db, platform, c.campaign_id)
    publish_items(crowd, c.round_id, c.item_ids, renderer=R)
    collect_all(crowd)
    with session_scope(db) as s:
        a = s.exec(select(Assignment)).first()
    with pytest.raises(ValueError):
        settle_assignments(crowd, [Decision(a.id, approve=False)])
    with pytest.raises(ValueError):
        settle_assignments(crowd, [Decision(a.id, approve=False, feedback="wrong")])
    st = settle_assignments(
        crowd,
        [
            Decision(
                a.assignment_id,
                approve=False,
                feedback="Control item was 3.",
                evidence="gold x: expected 3, got 5",
            )
        ],
    )
    assert st.rejected == 1
    got = platform.get_assignment(a.assignment_id)
    assert got.status.value == "Rejected"
    spend = campaign_spend(db, c.campaign_id)
    assert spend.rewards_usd == 0


def test_gold_failures_block_workers(db, simulator_factory):
    c = make_crowd_campaign(
        db,
        n_items=4,
        n_gold=12,
        crowd={"gold_rate": 0.99, "gold_min_answers": 2, "gold_min_accuracy": 0.5},
    )
    mix = {
        "n_workers": 6,
        "kinds": {
            "diligent": {"share": 0.5, "accuracy": 0.99},
            "adversarial": {"share": 0.5, "accuracy": 0.0, "accuracy_spread": 0.0},
        },
    }
    sim = simulator_factory(oracle=c.oracle, workers=mix)
    platform = connect(sim)
    crowd = CampaignCrowd.load(db, platform, c.campaign_id)
    rep = publish_items(crowd, c.round_id, c.item_ids, renderer=R, gold_rate=0.99)
    assert len(rep.gold_item_ids) == 4
    col = collect_all(crowd)
    with session_scope(db) as s:
        blocked = s.exec(select(Worker).where(Worker.blocked)).all()
    assert (blocked and col.blocked_workers) or blocked
    assert all(w.estimated_accuracy < 0.5 for w in blocked)
    assert sim.stats()["blocked_workers"] == len(blocked)
    decisions = default_decisions(crowd, reject_failed_gold=True)
    assert any(not d.approve for d in decisions)
    st = settle_assignments(crowd, decisions)
    assert st.rejected >= 1 and st.approved >= 1


def test_bonus_once_per_key(db, simulator_factory):
    c = make_crowd_campaign(db, n_items=1, crowd={"gold_rate": 0})
    sim = simulator_factory(oracle=c.oracle)
    platform = connect(sim)
    crowd = CampaignCrowd.load(db, platform, c.campaign_id)
    publish_items(crowd, c.round_id, c.item_ids, renderer=R)
    collect_all(crowd)
    with session_scope(db) as s:
        a = s.exec(select(Assignment)).first()
    with pytest.raises(MoneyError):
        send_bonus(crowd, a.id, "0.001", "x", idempotency_key="k")
    r1 = send_bonus(crowd, a.id, "0.25", "great work", idempotency_key="b1")
    r2 = send_bonus(crowd, a.id, "0.25", "great work", idempotency_key="b1")
    assert r1.status == r2.status == "sent"
    spend = campaign_spend(db, c.campaign_id)
    assert spend.bonuses_usd == Decimal("0.25")
    assert Decimal(sim.stats()["paid_usd"]) == Decimal("0.30")


def test_cancel_expires_settles_and_disposes(db, simulator_factory):
    c = make_crowd_campaign(db, n_items=3, crowd={"gold_rate": 0})
    sim = simulator_factory(oracle=c.oracle, workers={"mean_arrival_s": 1e6})  # nobody comes
    platform = connect(sim)
    crowd = CampaignCrowd.load(db, platform, c.campaign_id)
    publish_items(crowd, c.round_id, c.item_ids, renderer=R)
    rep = cancel_campaign(crowd)
    assert rep.expired == 3 and rep.disposed == 3 and not rep.still_open
    spend = campaign_spend(db, c.campaign_id)
    assert spend.reserved_usd == 0 and spend.committed_usd == 0
    with session_scope(db) as s:
        assert {h.status for h in s.exec(select(Hit))} == {HitStatus.DISPOSED}
    assert list(platform.iter_hits()) == []


def test_reconcile_adopts_intents_and_reports_orphans(db, simulator_factory):
    c = make_crowd_campaign(db, n_items=2, crowd={"gold_rate": 0})
    sim = simulator_factory(oracle=c.oracle, simulate_workers=False)
    platform = connect(sim)
    type_id = platform.create_hit_type(
        HitTypeSpec(title="t", description="d", reward_usd=Decimal("0.05"))
    )
    # a crash after CreateHIT but before the HIT id was written: the intent row exists
    item_id = c.item_ids[0]
    token = unique_request_token(c.campaign_id, item_id, 0)
    with session_scope(db) as s:
        s.add(
            Hit(
                campaign_id=c.campaign_id,
                round_id=c.round_id,
                item_id=item_id,
                max_assignments=3,
                reward_usd=Decimal("0.05"),
                unique_request_token=token,
            )
        )
    hid = platform.create_hit(
        HitRequest(
            type_id,
            MINIMAL_QUESTION,
            3,
            3600,
            token,
            requester_annotation(c.campaign_id, token, "k"),
        )
    )
    orphan = platform.create_hit(
        HitRequest(
            type_id,
            MINIMAL_QUESTION,
            1,
            3600,
            "other",
            requester_annotation(c.campaign_id, "cc1-" + "0" * 40, "zz"),
        )
    )
    rep = reconcile_campaign(db, platform, c.campaign_id)
    assert rep.adopted == [hid] and rep.orphans == [orphan]
    rep2 = reconcile_campaign(db, platform, c.campaign_id, dispose_orphans=True)
    assert rep2.disposed == [orphan]
    assert {h.hit_id for h in platform.iter_hits()} == {hid}
    with session_scope(db) as s:
        assert s.exec(select(Hit)).one().status == HitStatus.PUBLISHED


def test_garbage_answers_become_unusable(db, simulator_factory):
    c = make_crowd_campaign(db, n_items=1, assignments=3, crowd={"gold_rate": 0})
    sim = simulator_factory(oracle=c.oracle, simulate_workers=False)
    platform = connect(sim)
    crowd = CampaignCrowd.load(db, platform, c.campaign_id)
    rep = publish_items(crowd, c.round_id, c.item_ids, renderer=R)
    hit_id = rep.hits[0].hit_id
    for i, fields in enumerate(
        [
            {},
            {"is_correct": "no", "label": "<script>"},
            {"weird": "x" * 5000, "is_correct": "maybe"},
        ]
    ):
        aid = sim.state.accept(hit_id, f"AWORKER{i:07d}")
        sim.state.submit(aid, fields)
    collect_answers(crowd)
    with session_scope(db) as s:
        labels = [a.label for a in s.exec(select(Answer))]
    assert labels == [None, None, None]


def test_annotation_carries_the_item_key(db):
    cid = uuid.uuid4()
    ann = json.loads(requester_annotation(cid, "cc1-abc", "item-1"))
    assert ann == {"v": 1, "c": cid.hex, "t": "cc1-abc", "k": "item-1"}
