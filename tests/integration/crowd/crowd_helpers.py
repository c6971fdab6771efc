"""Builders shared by the crowd integration tests: a campaign on a test database, a boto3
platform on a simulator. A module with a unique name so test files can import it whatever
other conftest modules pytest has loaded."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine

from orchestrator.crowd.mturk import MTurkPlatform
from orchestrator.db.engine import session_scope
from orchestrator.db.models import Campaign, Dataset, FeatureKind, Item, Round
from orchestrator.simulator.server import RunningSimulator

CLASSES = [str(d) for d in range(10)]


@dataclass
class CampaignFixture:
    campaign_id: uuid.UUID
    round_id: uuid.UUID
    item_ids: list[uuid.UUID]  # items to publish (no gold labels)
    gold_item_ids: list[uuid.UUID]
    oracle: dict[str, str]  # external id → true label


def make_campaign(
    engine: Engine,
    *,
    n_items: int = 6,
    n_gold: int = 4,
    budget: str = "10.00",
    reward: str = "0.05",
    assignments: int = 3,
    crowd: dict[str, Any] | None = None,
    seed: int = 0,
) -> CampaignFixture:
    """A dataset of text items (true label = position mod 10, noisy label sometimes off)."""
    oracle: dict[str, str] = {}
    item_ids: list[uuid.UUID] = []
    gold_ids: list[uuid.UUID] = []
    tag = uuid.uuid4().hex[:8]
    with session_scope(engine) as s:
        ds = Dataset(
            name=f"digits-{tag}",
            source="test",
            feature_kind=FeatureKind.CONTINUOUS,
            n_items=n_items + n_gold,
            n_features=1,
            classes=CLASSES,
            artifact_dir="",
            fingerprint=tag,
        )
        s.add(ds)
        s.flush()
        for pos in range(n_items + n_gold):
            truth = str((pos + seed) % 10)
            noisy = truth if pos % 3 else str((int(truth) + 1) % 10)
            ext = f"{tag}-item-{pos:04d}"
            is_gold = pos >= n_items
            it = Item(
                dataset_id=ds.id,
                external_id=ext,
                position=pos,
                noisy_label=noisy,
                gold_label=truth if is_gold else None,
                is_validation=is_gold,
                text=f"Handwritten digit sample <b>{pos}</b>",
            )
            s.add(it)
            s.flush()
            oracle[ext] = truth
            (gold_ids if is_gold else item_ids).append(it.id)
        camp = Campaign(
            name=f"c-{tag}",
            dataset_id=ds.id,
            budget_usd=Decimal(budget),
            reward_usd=Decimal(reward),
            assignments_per_item=assignments,
            config={"crowd": crowd or {}},
        )
        s.add(camp)
        s.flush()
        rnd = Round(campaign_id=camp.id, number=1)
        s.add(rnd)
        s.flush()
        return CampaignFixture(camp.id, rnd.id, item_ids, gold_ids, oracle)


def connect(sim: RunningSimulator, rps: float = 200.0) -> MTurkPlatform:
    """A real boto3-backed platform pointed at the simulator."""
    return MTurkPlatform.connect(
        sim.endpoint_url,
        aws_access_key_id="AKIDSIMULATOR",
        aws_secret_access_key="simulator-secret",
        max_requests_per_second=rps,
    )
