"""Pair HITs (CINCER's counter-example task) through the crowd layer against the simulator.

One HIT per pair through the same publish path as single HITs: its question is valid
HTMLQuestion XML showing both items, its reward is two items' under a HIT type of its own, it
is never published twice (re-runs, a SIGKILLed publisher), each assignment becomes one answer
per item and is paid once, and a pair that does not fit under the cap is skipped whole.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlmodel import col, select

from orchestrator.crowd.campaign_crowd import CampaignCrowd
from orchestrator.crowd.ledger import campaign_spend
from orchestrator.crowd.publish import publish_items, resume_publishing
from orchestrator.crowd.render import TaskRenderer
from orchestrator.db.engine import session_scope
from orchestrator.db.models import Answer, Assignment, Hit, HitStatus, Item
from orchestrator.simulator.question_rules import check_question
from orchestrator.simulator.workers import html_of_question, read_form
from tests.factories.crowd_campaign import make_crowd_campaign
from tests.factories.simulators import connect
from tests.integration.crowd.test_crowd_faults import (
    FAULTS,
    _job,
    _run,
    _run_and_kill,
    check_invariants,
    finish,
)


def _pairs(ids: list[uuid.UUID], n: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    return [(ids[2 * k], ids[2 * k + 1]) for k in range(n)]


def test_pair_hits_publish_once_answer_both_items_and_pay_once(db, simulator_factory):
    c = make_crowd_campaign(db, n_items=6, n_gold=0, budget="10.00", crowd={"gold_rate": 0.0})
    sim = simulator_factory(oracle=c.oracle)
    crowd = CampaignCrowd.load(db, connect(sim), c.campaign_id)
    pairs = _pairs(c.item_ids, 2)
    batch = [*pairs, c.item_ids[4], c.item_ids[5]]
    rep = publish_items(crowd, c.round_id, batch, renderer=TaskRenderer())
    assert rep.created == 4 and not rep.pending and not rep.failed
    # 2 singles × 3 × 0.05 + 2 pairs × 3 × 0.10, plus the 20 % fee
    assert rep.reserved_usd == Decimal("1.08")
    again = publish_items(crowd, c.round_id, batch, renderer=TaskRenderer())
    assert again.created == 0 and again.already_published == 4 and again.reserved_usd == 0
    assert sim.stats()["hits"] == 4

    with session_scope(db) as s:
        hits = {h.item_id: h for h in s.exec(select(Hit))}
        ext = dict(s.exec(select(Item.id, Item.external_id)).all())
        noisy = dict(s.exec(select(Item.id, Item.noisy_label)).all())
    on_platform = {h.hit_id: h for h in crowd.platform.iter_hits()}
    for first, second in pairs:
        hit = hits[first]
        assert hit.pair_item_id == second and second not in hits  # one HIT for the pair
        assert hit.reward_usd == Decimal("0.10")
        assert on_platform[hit.hit_id].reward_usd == Decimal("0.10")
        question = sim.state.question_html(hit.hit_id)
        form = read_form(f"<x><HTMLContent><![CDATA[{question}]]></HTMLContent></x>")
        assert form.hidden["first_key"] == ext[first]
        assert form.hidden["second_key"] == ext[second]
        assert form.hidden["first_current_label"] == noisy[first]
        assert form.hidden["second_current_label"] == noisy[second]
        assert form.options == [str(d) for d in range(10)]
    single_type = hits[c.item_ids[4]].hit_type_id
    assert single_type != hits[pairs[0][0]].hit_type_id == hits[pairs[1][0]].hit_type_id
    assert on_platform[hits[c.item_ids[4]].hit_id].reward_usd == Decimal("0.05")

    finish(crowd)
    _stats, spend = check_invariants(db, sim, c, expected_hits=4)
    with session_scope(db) as s:
        rows = s.exec(
            select(Assignment.id, Hit.item_id, Hit.pair_item_id, Answer.item_id, Answer.label)
            .join(Hit, col(Hit.id) == col(Assignment.hit_pk))
            .join(Answer, col(Answer.assignment_pk) == col(Assignment.id))
        ).all()
    per_assignment: dict[uuid.UUID, set[uuid.UUID]] = {}
    for aid, first, second, item, _label in rows:
        assert item in (first, second)
        per_assignment.setdefault(aid, set()).add(item)
    pair_assignments = [a for a, items in per_assignment.items() if len(items) == 2]
    assert len(pair_assignments) == 2 * 3  # two pairs, three assignments each
    assert len(per_assignment) == 4 * 3
    # paid once per assignment: a pair's at two items' reward
    assert spend.rewards_usd == Decimal("0.05") * 6 + Decimal("0.10") * 6
    assert spend.reserved_usd == 0
    # most simulated workers are diligent: the answers give both items of a pair their truth
    labels = [(item, label) for _a, _f, _s, item, label in rows]
    right = sum(label == c.oracle[ext[item]] for item, label in labels)
    assert right >= 0.6 * len(labels)


def test_a_pair_that_does_not_fit_under_the_cap_is_skipped_whole(db, simulator_factory):
    # a single HIT reserves 0.18 USD, a pair 0.36: after the single only 0.32 is left
    c = make_crowd_campaign(db, n_items=4, n_gold=0, budget="0.50", crowd={"gold_rate": 0.0})
    sim = simulator_factory(oracle=c.oracle)
    crowd = CampaignCrowd.load(db, connect(sim), c.campaign_id)
    pair = (c.item_ids[1], c.item_ids[2])
    rep = publish_items(crowd, c.round_id, [c.item_ids[0], pair], renderer=TaskRenderer())
    assert rep.created == 1 and rep.skipped_over_budget == list(pair)
    assert campaign_spend(db, c.campaign_id).committed_usd == Decimal("0.18")
    assert sim.stats()["hits"] == 1


def test_pair_question_is_valid_html_question_xml(db, simulator_factory):
    c = make_crowd_campaign(db, n_items=2, n_gold=0, crowd={"gold_rate": 0.0})
    crowd = CampaignCrowd.load(db, connect(simulator_factory(oracle=c.oracle)), c.campaign_id)
    captured: list[str] = []

    class Capture(TaskRenderer):
        def render_pair(self, pair):  # type: ignore[no-untyped-def]
            captured.append(super().render_pair(pair))
            return captured[-1]

    rep = publish_items(crowd, c.round_id, [tuple(c.item_ids)], renderer=Capture())
    assert rep.created == 1
    (xml,) = captured
    assert check_question(xml) == "HTMLQuestion"  # the simulator's copy of MTurk's rules
    html = html_of_question(xml)
    assert "Handwritten digit sample &lt;b&gt;0&lt;/b&gt;" in html  # both items, escaped
    assert "Handwritten digit sample &lt;b&gt;1&lt;/b&gt;" in html


def test_sigkill_mid_pair_publish_then_restart(tmp_path, db, simulator_factory):
    c = make_crowd_campaign(db, n_items=16, n_gold=0, budget="6.00", crowd={"gold_rate": 0.0})
    sim = simulator_factory(oracle=c.oracle, faults={**FAULTS, "latency_s": 0.03})
    job = _job(tmp_path, db, sim, c, pairs=_pairs(c.item_ids, 8))
    _run_and_kill(job, sim, kill_after_hits=2)
    with session_scope(db) as s:
        hits = s.exec(select(Hit)).all()
    assert len(hits) == 8 and all(h.pair_item_id is not None for h in hits)  # intents first
    assert any(h.status == HitStatus.INTENT for h in hits)  # killed mid-publish
    out = _run(job)  # the restarted orchestrator sends the same tokens
    assert "published" in out
    crowd = CampaignCrowd.load(db, connect(sim), c.campaign_id)
    assert not resume_publishing(crowd, renderer=TaskRenderer()).pending
    finish(crowd)
    _stats, spend = check_invariants(db, sim, c, expected_hits=8)
    assert spend.rewards_usd == Decimal("0.10") * 8 * 3
