"""A campaign with each seed paper's strategy runs end to end against the simulator.

Real parts: SQLite, the simulator on loopback through boto3, the round runner and its MTurk
stage, the DPM (fast settings). Each campaign runs one model round and completes; the round
records the strategy it used, and with ``model_annotator`` the model's vote is in the
aggregation but not in the paid answers. A ``counter_example`` campaign buys its pairs as pair
HITs: one HIT per pair showing both items, both items verified, paid once per assignment.
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from orchestrator.crowd.ledger import campaign_spend
from orchestrator.crowd.mturk import MTurkPlatform
from orchestrator.data.store import item_ids_by_position
from orchestrator.db.models import (
    Assignment,
    AssignmentStatus,
    Campaign,
    CampaignStatus,
    Dataset,
    Hit,
    Item,
    Round,
    VerifiedLabel,
)
from orchestrator.scheduler.model_votes import SUGGESTED_FILE
from orchestrator.scheduler.platform_stage import PlatformStage
from orchestrator.scheduler.round_picks import PAIRS_FILE
from orchestrator.scheduler.runner import RoundRunner
from orchestrator.simulator import SimulatorConfig, run_simulator
from orchestrator.simulator.server import RunningSimulator
from orchestrator.simulator.workers import read_form
from orchestrator.storage.artifacts import open_artifact_dir
from tests.factories.tiny_campaign import TinyCampaign, make_tiny_campaign
from tests.integration.running_totals import assert_counters_match_rows

# One case in the default suite; the others (about 20 s each) under -m slow.
CASES: dict[str, dict[str, Any]] = {
    "entropy_propagation": {"strategy": "entropy_propagation"},
    "robust_update": {"strategy": "entropy_propagation", "model": {"robust_update": True}},
    "influence_model_annotator": {
        "strategy": "influence",
        "model_annotator": True,
        "assignments_per_item": 2,
    },
    # Fully anchored workers shown the suggestion: every answer is the suggestion.
    "show_suggestion_anchored": {"strategy": "influence", "show_suggestion": True},
}
ANCHORING = {"show_suggestion_anchored": 1.0}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            name,
            marks=()
            if name in ("influence_model_annotator", "show_suggestion_anchored")
            else pytest.mark.slow,
        )
        for name in CASES
    ],
)
def test_campaign_with_seed_strategy_completes(
    case: str, tmp_path: Path, sqlite_engine: Engine
) -> None:
    options = CASES[case]
    c = make_tiny_campaign(sqlite_engine, tmp_path, budget="2.50", **options)
    sim_cfg = SimulatorConfig(
        seed=1,
        time_factor=0.0005,
        oracle=c.oracle,
        state_path=tmp_path / "sim.db",
        workers={"anchoring": ANCHORING.get(case, 0.0)},
    )
    with run_simulator(sim_cfg) as sim:
        _run_to_completion(sqlite_engine, sim, c)
    with Session(sqlite_engine) as s:
        rounds = s.exec(select(Round).where(Round.campaign_id == c.campaign_id)).all()
        verified = s.exec(
            select(VerifiedLabel).where(VerifiedLabel.campaign_id == c.campaign_id)
        ).all()
    model_rounds = [r for r in rounds if r.number >= 1]
    assert model_rounds and all(r.strategy == options["strategy"] for r in model_rounds)
    assert len(verified) >= 4
    first = model_rounds[0]
    assert open_artifact_dir(first.artifact_dir).load_npy(SUGGESTED_FILE).shape == (150,)
    if options.get("show_suggestion"):
        # The HITs carried the suggestion: fully anchored workers answered nothing else.
        suggestions = _suggested_names(sqlite_engine, c.campaign_id, first)
        for v in verified:
            assert v.vote_counts == {suggestions[v.item_id]: v.n_answers}, v
    if options.get("model_annotator"):
        # Two paid answers per item (a third where adaptive redundancy bought one; the
        # factory caps answers at 3); the model's vote is counted in the aggregation but not
        # among the stored human votes.
        assert all(2 <= v.n_answers <= 3 for v in verified)
        assert all(sum(v.vote_counts.values()) == v.n_answers for v in verified)
        suggestions = _suggested_names(sqlite_engine, c.campaign_id, first)
        split = [v for v in verified if sorted(v.vote_counts.values()) == [1, 1]]
        for v in split:  # a 1-1 human split is decided by the model's vote
            assert v.label == suggestions[v.item_id], v


def _run_to_completion(engine: Engine, sim: RunningSimulator, c: TinyCampaign) -> None:
    """Step the campaign's round runner against the simulator until it completes."""
    platform = MTurkPlatform.connect(
        sim.endpoint_url,
        aws_access_key_id="AKIDSIMULATOR",
        aws_secret_access_key="simulator-secret",
        max_requests_per_second=500,
    )
    runner = RoundRunner(engine, PlatformStage(engine, platform))
    deadline = time.monotonic() + 120
    while True:
        with Session(engine) as s:
            camp = s.get(Campaign, c.campaign_id)
            assert camp is not None
            if camp.status == CampaignStatus.COMPLETED:
                return
        assert time.monotonic() < deadline, camp.status
        if not runner.step(c.campaign_id):
            time.sleep(0.02)


def test_counter_example_campaign_buys_its_pairs_as_pair_hits(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    c = make_tiny_campaign(sqlite_engine, tmp_path, budget="2.50", strategy="counter_example")
    sim_cfg = SimulatorConfig(
        seed=1, time_factor=0.0005, oracle=c.oracle, state_path=tmp_path / "sim.db"
    )
    with run_simulator(sim_cfg) as sim:
        _run_to_completion(sqlite_engine, sim, c)
        with Session(sqlite_engine) as s:
            camp = s.get(Campaign, c.campaign_id)
            assert camp is not None
            (rnd,) = s.exec(
                select(Round).where(Round.campaign_id == c.campaign_id, Round.number == 1)
            ).all()
            hits = s.exec(select(Hit).where(Hit.campaign_id == c.campaign_id)).all()
            ext = dict(s.exec(select(Item.id, Item.external_id)).all())
            verified = set(
                s.exec(
                    select(VerifiedLabel.item_id).where(VerifiedLabel.campaign_id == c.campaign_id)
                ).all()
            )
            paid = s.exec(
                select(Hit.reward_usd)
                .join(Assignment, col(Assignment.hit_pk) == col(Hit.id))
                .where(
                    Hit.campaign_id == c.campaign_id,
                    Assignment.status == AssignmentStatus.APPROVED,
                )
            ).all()
        questions = {h.hit_id: sim.state.question_html(str(h.hit_id)) for h in hits}
        stats = sim.stats()
    ids = item_ids_by_position(sqlite_engine, camp.dataset_id)
    pairs = [(ids[a], ids[b]) for a, b in open_artifact_dir(rnd.artifact_dir).load_npy(PAIRS_FILE)]
    assert rnd.strategy == "counter_example" and len(pairs) >= 2
    # one HIT per pair, showing both items; no item of a pair in another HIT
    pair_hits = {(h.item_id, h.pair_item_id): h for h in hits if h.pair_item_id is not None}
    assert sorted(pair_hits) == sorted(pairs)
    shown = [h.item_id for h in hits] + [h.pair_item_id for h in hits if h.pair_item_id]
    assert len(shown) == len(set(shown)) == rnd.n_selected
    assert stats["hits"] == len(hits) and stats["duplicate_tokens"] == 0
    for (first, second), hit in pair_hits.items():
        html = questions[hit.hit_id]
        form = read_form(f"<x><HTMLContent><![CDATA[{html}]]></HTMLContent></x>")
        assert (form.hidden["first_key"], form.hidden["second_key"]) == (ext[first], ext[second])
        assert hit.reward_usd == 2 * camp.reward_usd
        assert first in verified and second in verified  # both got crowd labels
    # the money: each approved assignment paid its HIT's reward once, and nothing else
    spend = campaign_spend(sqlite_engine, c.campaign_id)
    assert spend.rewards_usd == sum(paid) and spend.bonuses_usd == 0
    assert spend.reserved_usd == 0 and spend.committed_usd <= c.budget_usd
    assert Decimal(stats["paid_usd"]) == spend.paid_usd
    assert stats["double_paid_assignments"] == 0
    assert_counters_match_rows(sqlite_engine, c.campaign_id)


def _suggested_names(engine: Engine, campaign_id: object, rnd: Round) -> dict[object, str]:
    """Item id → the round's suggested class name."""
    suggested = open_artifact_dir(rnd.artifact_dir).load_npy(SUGGESTED_FILE)
    with Session(engine) as s:
        camp = s.get(Campaign, campaign_id)
        assert camp is not None
        dataset = s.get(Dataset, camp.dataset_id)
        assert dataset is not None
        items = s.exec(select(Item).where(Item.dataset_id == camp.dataset_id)).all()
        return {i.id: dataset.classes[int(suggested[i.position])] for i in items}
