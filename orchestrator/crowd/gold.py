"""Which gold items (dataset items with a known label) a round mixes in as control questions.

The choice must be the same every time it is made for a round: a publish that crashed and is
run again has to pick the same gold items, or it would write intents (and reserve money) for
a second set. So it is seeded from (campaign, round) and depends only on the database.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence

import numpy as np
from sqlmodel import Session, col, select

from orchestrator.crowd.money import n_gold_for
from orchestrator.db.models import Campaign, Hit, Item


def pick_gold(
    session: Session,
    campaign: Campaign,
    round_id: uuid.UUID,
    item_ids: Sequence[uuid.UUID],
    gold_rate: float,
) -> list[uuid.UUID]:
    """Gold item ids for a round of ``item_ids``: ``ceil(len(item_ids) × gold_rate)`` at most.

    Candidates are the dataset's items with a ``gold_label``, outside this round's items and
    never used by another round of the campaign, in dataset order; fewer are returned when
    fewer are left.
    """
    n = n_gold_for(len(item_ids), gold_rate)
    if n == 0:
        return []
    elsewhere = session.exec(
        select(Hit.item_id, Hit.pair_item_id).where(
            Hit.campaign_id == campaign.id, Hit.round_id != round_id
        )
    ).all()
    used_elsewhere = {i for row in elsewhere for i in row if i is not None}
    excluded = used_elsewhere | set(item_ids)
    candidates = [
        it.id
        for it in session.exec(
            select(Item)
            .where(Item.dataset_id == campaign.dataset_id, col(Item.gold_label).is_not(None))
            .order_by(col(Item.position))
        )
        if it.id not in excluded
    ]
    if not candidates:
        return []
    seed = int.from_bytes(hashlib.sha256(f"{campaign.id}:{round_id}".encode()).digest()[:8])
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(candidates), size=min(n, len(candidates)), replace=False)
    return [candidates[int(i)] for i in sorted(picks)]
