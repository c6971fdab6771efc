"""A tiny real campaign the scheduler can run end to end in seconds on one core.

The dataset: the first ``n_items`` rows of scikit-learn's digits of a few classes with 20 %
of the labels flipped (seeded), stored like an import; the campaign is created through the
campaign domain (:func:`orchestrator.campaigns.lifecycle.create_campaign`) with fast model
settings, majority vote and a small budget.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine

from orchestrator.db.models import CampaignStatus

FAST_MODEL: dict[str, Any] = {
    "beta": 0.1,  # no β search
    "epochs": 10,
    "patience": 3,
    "hidden": [32],
    "latent_dim": 4,
    "torch_threads": 1,
}


@dataclass(frozen=True)
class TinyCampaign:
    campaign_id: uuid.UUID
    oracle: dict[str, str]  # item external id → true label (the simulated workers' oracle)
    budget_usd: Decimal


def make_dataset(
    engine: Engine, data_dir: Path, *, n_items: int = 150, n_classes: int = 3, seed: int = 0
) -> Any:
    """Store ``n_items`` digits rows of the classes 0…n_classes-1 with 20 % seeded label noise.

    Few classes keep the validation round small (it needs two items per class).
    """
    from orchestrator.data.builtin import load_builtin
    from orchestrator.data.noise import inject_noise
    from orchestrator.data.store import save_dataset

    full = load_builtin("digits")
    rows = np.flatnonzero(full.gold < n_classes)[:n_items]
    assert len(rows) == n_items, f"digits has only {len(rows)} rows of {n_classes} classes"
    small = replace(
        full,
        ids=full.ids[rows],
        features=full.features[rows],
        noisy_labels=full.noisy_labels[rows],
        gold=full.gold[rows],
        classes=full.classes[:n_classes],
        validation=np.zeros(n_items, dtype=np.bool_),  # no free validation: round 0 buys it
        texts=None,
        image_paths=None,
    )
    data = inject_noise(small, rate=0.2, kind="random", rng=np.random.default_rng(seed))
    name = f"digits{n_items}-{uuid.uuid4().hex[:6]}"
    ds = save_dataset(engine, data, name=name, source="builtin:digits", data_dir=data_dir)
    oracle = {str(i): data.classes[int(g)] for i, g in zip(data.ids, data.gold, strict=True)}
    return ds, oracle


def make_tiny_campaign(
    engine: Engine,
    data_dir: Path,
    *,
    dataset: Any = None,
    oracle: dict[str, str] | None = None,
    budget: str = "3.00",
    rounds: int = 1,
    seed: int = 0,
    start: bool = True,
    model: dict[str, Any] | None = None,
    **config: Any,
) -> TinyCampaign:
    """A running (or draft) campaign on a tiny digits dataset; ``model`` adds ModelConfig
    overrides to :data:`FAST_MODEL`."""
    from orchestrator.campaigns.config import CampaignConfig
    from orchestrator.campaigns.lifecycle import create_campaign, transition

    if dataset is None:
        dataset, oracle = make_dataset(engine, data_dir, seed=seed)
    assert oracle is not None
    # Majority vote and no extra answers unless a test asks: the scheduler tests count HITs
    # and money, not aggregation.
    config = {"aggregator": "majority_vote", "max_answers": 3, **config}
    cfg = CampaignConfig(
        rounds=rounds,
        seed=seed,
        poll_interval_s=0.05,
        crowd={"gold_rate": 0.0, "min_approval_rate": None},
        model={**FAST_MODEL, **(model or {})},
        n_clusters=3,
        **config,
    )
    c = create_campaign(
        engine, dataset.id, name="tiny", budget_usd=Decimal(budget), config=cfg, data_dir=data_dir
    )
    if start:
        transition(engine, c.id, CampaignStatus.RUNNING)
    return TinyCampaign(c.id, oracle, Decimal(budget))
