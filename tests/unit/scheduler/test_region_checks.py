"""A round's region checks settle regions by the campaign's own ``propagation_min_share``,
the same bar its propagation acts on, in the regions of the campaign's first model round."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from orchestrator.campaigns.config import CampaignConfig
from orchestrator.data.builtin import load_builtin
from orchestrator.scheduler.round_picks import (
    REGION_DRAWS_FILE,
    REGIONS_FILE,
    RegionInputs,
    _region_checks,
    _RoundModel,
)
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


@pytest.mark.parametrize(("min_share", "n_picks"), [(0.5, 3), (0.9, 10)])
def test_region_checks_follow_the_campaigns_min_share(
    tmp_path: Path, min_share: float, n_picks: int
) -> None:
    rnd = _round(tmp_path, min_share)
    excluded = rnd.observed >= 0
    inputs = RegionInputs(sources=np.array([0, 1, 2]), regions=None, drawn=np.zeros(0, np.int64))
    picks = _region_checks(rnd, excluded, 10, inputs)
    # 3 all-agreeing checks pass 0.5; 0.9 needs 25 (capped here by the 10 items on offer).
    assert len(picks) == n_picks
    assert (picks < 40).all() and not excluded[picks].any()
    assert np.array_equal(rnd.out_dir.load_npy(REGION_DRAWS_FILE), picks)


def test_later_rounds_keep_the_first_rounds_regions_and_count_its_draws(tmp_path: Path) -> None:
    """Checks drawn in different rounds sample the same regions, and a region with its three
    checks answered is not drawn again."""
    rnd = _round(tmp_path, 0.5)
    regions = np.repeat([7, 9], 40).astype(np.int64)  # the first model round's regions
    rnd.observed[[3, 4, 5]] = 1  # its three checks, answered: the region is decided
    excluded = rnd.observed >= 0
    inputs = RegionInputs(
        sources=np.array([0, 1, 2, 3, 4, 5]), regions=regions, drawn=np.array([3, 4, 5])
    )
    picks = _region_checks(rnd, excluded, 10, inputs)
    assert len(picks) == 0
    assert np.array_equal(rnd.out_dir.load_npy(REGIONS_FILE), regions)
