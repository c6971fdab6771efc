"""A campaign for the crowd layer's tests: text items with known true labels, a budget, the
crowd options, and one open round, written as rows (no dataset artifacts, no model), so
publish / collect / settle / cancel can run against the simulator at once.

The true labels double as the simulator's oracle (:attr:`CrowdCampaign.oracle`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine

from orchestrator.db.engine import session_scope
from orchestrator.db.models import Campaign, Dataset, FeatureKind, Item, Round

CLASSES = [str(d) for d in range(10)]


@dataclass
class CrowdCampaign:
    """Ids of the built campaign and its ground truth."""

    campaign_id: uuid.UUID
    round_id: uuid.UUID
    item_ids: list[uuid.UUID]  # items to publish (no gold labels)
    gold_item_ids: list[uuid.UUID]
    oracle: dict[str, str]  # external id → true label


def make_crowd_campaign(
    engine: Engine,
    *,
    n_items: int = 6,
    n_gold: int = 4,
    budget: str = "10.00",
    reward: str = "0.05",
    assignments: int = 3,
    crowd: dict[str, Any] | None = None,
    seed: int = 0,
) -> CrowdCampaign:
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
        return CrowdCampaign(camp.id, rnd.id, item_ids, gold_ids, oracle)
