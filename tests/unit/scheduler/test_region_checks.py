"""A round's region checks settle regions by the campaign's own ``propagation_min_share``,
the same bar its propagation acts on (a region the propagation would not act on is still open)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from orchestrator.campaigns.config import CampaignConfig
from orchestrator.data.builtin import load_builtin
from orchestrator.scheduler.round_picks import _region_checks, _RoundModel
from orchestrator.storage.artifacts import open_artifact_dir


def _round(tmp_path: Path, min_share: float) -> _RoundModel:
    """Two latent blobs of 40 items, delivered 0 and 1; three items of blob 0 are crowd-
    labelled 1 (3 of 3 contradictions: Wilson lower bound 0.53)."""
    full = load_builtin("digits")
    rows = np.flatnonzero(full.gold < 2)[:80]
    data = replace(
        full,
        ids=full.ids[rows],
        features=full.features[rows],
        noisy_labels=np.repeat([0, 1], 40).astype(np.int64),
        gold=full.gold[rows],
        classes=full.classes[:2],
        validation=np.zeros(80, dtype=np.bool_),
        texts=None,
        image_paths=None,
    )
    rng = np.random.default_rng(0)
    latent = np.vstack([rng.normal(0, 1, (40, 2)), rng.normal(8, 1, (40, 2))]).astype(np.float32)
    observed = np.full(80, -1, dtype=np.int64)
    observed[[0, 1, 2]] = 1
    return _RoundModel(
        cfg=CampaignConfig(propagation_min_share=min_share, propagation_region_items=40),
        data=data,
        out_dir=open_artifact_dir(str(tmp_path)),
        round_number=1,
        latent=latent,
        posterior=np.full((80, 2), 0.5),
        observed=observed,
        rng=np.random.default_rng(1),
    )


@pytest.mark.parametrize(("min_share", "n_picks"), [(0.5, 0), (0.9, 2)])
def test_region_checks_follow_the_campaigns_min_share(
    tmp_path: Path, min_share: float, n_picks: int
) -> None:
    rnd = _round(tmp_path, min_share)
    excluded = rnd.observed >= 0
    picks = _region_checks(rnd, excluded, 10, sources=np.array([0, 1, 2]))
    # 3 of 3 clears 0.5 (decided: nothing to check) but not 0.9 (two more items of blob 0).
    assert len(picks) == n_picks
    assert (picks < 40).all() and not excluded[picks].any()
