"""Workers blocked for failing gold checks are left out of the answers the runner aggregates."""

from __future__ import annotations

import time

from sqlmodel import col, select

from orchestrator.crowd.campaign_crowd import CampaignCrowd
from orchestrator.crowd.collect import collect_answers
from orchestrator.crowd.publish import publish_items
from orchestrator.crowd.render import TaskRenderer
from orchestrator.db.engine import session_scope
from orchestrator.db.models import Answer, Assignment, Hit, Worker
from orchestrator.scheduler.platform_stage import PlatformStage
from tests.factories.crowd_campaign import make_crowd_campaign
from tests.factories.simulators import connect


def test_answers_of_gold_failing_workers_are_not_aggregated(db, simulator_factory):
    c = make_crowd_campaign(
        db,
        n_items=6,
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
    publish_items(crowd, c.round_id, c.item_ids, renderer=TaskRenderer(), gold_rate=0.99)
    deadline = time.monotonic() + 15
    while not collect_answers(crowd).done:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with session_scope(db) as s:
        blocked = set(
            s.exec(select(Worker.platform_worker_id).where(col(Worker.blocked).is_(True))).all()
        )
        # the blocked workers did answer ordinary (non-gold) items: there is something to drop
        on_items = set(
            s.exec(
                select(Worker.platform_worker_id)
                .join(Answer, col(Answer.worker_pk) == col(Worker.id))
                .join(Assignment, col(Assignment.id) == col(Answer.assignment_pk))
                .join(Hit, col(Hit.id) == col(Assignment.hit_pk))
                .where(
                    Answer.campaign_id == c.campaign_id,
                    col(Hit.is_gold_check).is_(False),
                    col(Answer.label).is_not(None),
                )
            ).all()
        )
    assert blocked & on_items, (blocked, on_items)
    answers = PlatformStage(db, platform).answers(c.campaign_id)
    workers = {a.worker for a in answers}
    assert answers and not workers & blocked
    assert workers == on_items - blocked
