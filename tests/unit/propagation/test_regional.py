"""Regional propagation: a region acts only on its own random region checks, with bounded reach."""

from __future__ import annotations

import numpy as np
import pytest

from aggregation.proportions import wilson_lower
from orchestrator.propagation.regional import (
    RegionEvidence,
    draws_to_pass,
    items_to_confirm,
    propagate_by_region,
)


def _world(n_per: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two latent cells of ``n_per`` items; cell 0 is truly class 1 but delivered as 0."""
    rng = np.random.default_rng(0)
    latent = np.vstack([rng.normal(0, 1, (n_per, 2)), rng.normal(8, 1, (n_per, 2))])
    regions = np.repeat([0, 1], n_per).astype(np.int64)
    noisy = np.repeat([0, 1], n_per).astype(np.int64)
    return latent.astype(np.float32), regions, noisy


def test_wilson_lower_bound() -> None:
    assert wilson_lower(0, 0) == 0.0
    assert wilson_lower(2, 2) < 0.5 < wilson_lower(3, 3)
    assert wilson_lower(50, 100) < 0.5 < wilson_lower(70, 100)


def _evidence(
    world: tuple[np.ndarray, np.ndarray, np.ndarray],
    sure: dict[int, int],
    drawn: dict[int, int] | None = None,
) -> RegionEvidence:
    """``sure``: row → sure crowd class; ``drawn``: region-check row → crowd class (-1: no
    answer yet), sure where the row is in ``sure`` too."""
    latent, regions, noisy = world
    drawn = drawn or {}
    return RegionEvidence(
        latent,
        regions,
        noisy,
        np.array(list(sure), dtype=np.int64),
        np.array(list(sure.values()), dtype=np.int64),
        np.array(list(drawn), dtype=np.int64),
        np.array(list(drawn.values()), dtype=np.int64),
    )


def test_three_agreeing_region_checks_relabel_the_nearest_items_only() -> None:
    world = _world()
    latent, regions, noisy = world
    ver = np.array([0, 1, 2])
    ev = _evidence(world, {0: 1, 1: 1, 2: 1}, {0: 1, 1: 1, 2: 1})
    out = propagate_by_region(ev, reach_per_source=5)
    assert len(out.indices) == 15  # reach: 5 per contradicting source
    assert set(out.labels.tolist()) == {1}
    assert not set(out.indices.tolist()) & set(ver.tolist())  # verified rows keep the crowd label
    assert (regions[out.indices] == 0).all() and (noisy[out.indices] == 0).all()
    # Nearest first: every relabelled item is at least as close to a source as any left out.
    left = np.setdiff1d(np.flatnonzero(regions == 0), np.concatenate([ver, out.indices]))
    d_left = np.min(np.linalg.norm(latent[left, None] - latent[ver][None], axis=2), axis=1)
    assert out.distances.max() <= d_left.min() + 1e-6
    acted = [d for d in out.decisions if d.n_relabelled]
    assert len(acted) == 1 and acted[0].n_contradicting == 3 and acted[0].n_drawn == 3


def test_sampler_picks_alone_never_relabel() -> None:
    """Ten sure contradictions the sampler picked (it picks what the model doubts) are no
    sample of the region: without region checks the region does not act."""
    world = _world()
    out = propagate_by_region(_evidence(world, dict.fromkeys(range(10), 1)))
    assert len(out.indices) == 0
    (decision,) = [d for d in out.decisions if d.n_contradicting]
    assert decision.n_contradicting == 10 and decision.n_drawn == 0


def test_chance_results_cannot_relabel() -> None:
    world = _world()
    # Two of two region checks contradicting: not evidence (lower bound below 0.5).
    two = propagate_by_region(_evidence(world, {0: 1, 1: 1, 2: 1}, {1: 1, 2: 1}))
    assert len(two.indices) == 0
    # Three of four checks: the fourth confirmed the delivered class.
    confirmed = _evidence(world, {0: 1, 1: 1, 2: 1, 3: 0}, {0: 1, 1: 1, 2: 1, 3: 0})
    assert len(propagate_by_region(confirmed).indices) == 0
    # Three of four checks: the fourth was a split vote for the delivered class.
    unsure = _evidence(world, {0: 1, 1: 1, 2: 1}, {0: 1, 1: 1, 2: 1, 3: 0})
    assert len(propagate_by_region(unsure).indices) == 0
    # Split crowd classes: no majority to relabel to.
    split = _evidence(world, {0: 1, 1: 2, 2: 1, 3: 2}, {0: 1, 1: 2, 2: 1, 3: 2})
    assert len(propagate_by_region(split).indices) == 0
    # Agreeing checks never relabel anything.
    agree = dict.fromkeys(range(10), 0)
    assert len(propagate_by_region(_evidence(world, agree, agree)).indices) == 0


def test_split_vote_checks_count_by_their_label() -> None:
    """Digits, structural noise, seed 2 (majority vote): a region of 28 items, all wrong; its
    three checks all said the right class, each on a 2-1 vote. A check is a random item, so
    its crowd label counts however split the vote was; the sure label that raised the
    question need not be one of them."""
    world = _world()
    out = propagate_by_region(_evidence(world, {0: 1}, {1: 1, 2: 1, 3: 1}), reach_per_source=5)
    # reach: 5 for each of the four rows whose crowd label says 1
    assert len(out.indices) == 20 and set(out.labels.tolist()) == {1}
    assert not set(out.indices.tolist()) & {0, 1, 2, 3}
    (acted,) = [d for d in out.decisions if d.n_relabelled]
    assert (acted.n_drawn, acted.n_drawn_contradicting, acted.n_contradicting) == (3, 3, 1)


def test_items_nearer_to_a_confirmed_label_are_left_alone() -> None:
    latent, regions, noisy = _world()
    regions = regions.copy()
    regions[30:40] = 2  # a second cell delivered as 0, where item 39 is confirmed as 0
    # Items 0-2 contradict (truly 1); candidates nearer to item 39 keep their label.
    ev = _evidence((latent, regions, noisy), {0: 1, 1: 1, 2: 1, 39: 0}, {0: 1, 1: 1, 2: 1})
    out = propagate_by_region(ev, reach_per_source=100)
    assert len(out.indices)
    src = latent[[0, 1, 2]]
    for i in out.indices:
        d_src = np.linalg.norm(latent[i] - src, axis=1).min()
        assert d_src < np.linalg.norm(latent[i] - latent[39])
    kept = np.setdiff1d(np.flatnonzero(regions == 0), np.concatenate([[0, 1, 2, 39], out.indices]))
    assert len(kept) > 0  # some of cell 0 is nearer to item 39 than to the sources
    assert (regions[out.indices] == 0).all()


def test_reach_is_bounded_by_the_sources_however_big_the_region() -> None:
    # The seed-2 failure: a global p tuned on 14 items propagated onto 1,531. Here a region of
    # 2,000 items with 3 contradicting sources relabels at most 3 · reach_per_source.
    three = {0: 1, 1: 1, 2: 1}
    out = propagate_by_region(_evidence(_world(n_per=2000), three, three), reach_per_source=8)
    assert len(out.indices) == 24


def test_draws_to_pass_is_the_fewest_all_agreeing_draws_that_pass() -> None:
    for share in (0.3, 0.5, 0.7, 0.9):
        m = draws_to_pass(share)
        assert wilson_lower(m - 1, m - 1) <= share < wilson_lower(m, m)
    assert draws_to_pass(0.5) == 3


def test_region_checks_are_uniform_draws_in_contradicted_undecided_regions() -> None:
    world = _world()
    _, regions, noisy = world
    excluded = np.zeros(len(noisy), dtype=bool)
    excluded[[0, 45]] = True

    def picks(ev: RegionEvidence, seed: int = 0, max_items: int = 10) -> np.ndarray:
        return items_to_confirm(ev, excluded, np.random.default_rng(seed), max_items=max_items)

    # Region (0, delivered 0) is contradicted once: three draws of its other rows.
    first = picks(_evidence(world, {0: 1, 45: 1}))
    assert len(first) == 3 and (regions[first] == 0).all() and 0 not in first
    # Uniform inside the region, not the nearest to the contradiction: over many draws every
    # free row of the region comes up, about equally often.
    counts = np.bincount(
        np.concatenate([picks(_evidence(world, {0: 1}), seed) for seed in range(400)]),
        minlength=40,
    )[1:40]
    assert (counts > 0).all() and counts.max() < 3 * counts.mean()
    # Two answered agreeing draws: one more. A draw that confirmed the delivered class, or a
    # region decided by three checks, needs nothing. Region 1's sure label agrees: nothing.
    excluded[[5, 6, 7]] = True
    assert len(picks(_evidence(world, {0: 1, 5: 1, 6: 1}, {5: 1, 6: 1}))) == 1
    assert len(picks(_evidence(world, {0: 1, 5: 1, 6: 0}, {5: 1, 6: 0}))) == 0
    decided = {5: 1, 6: 1, 7: 1}
    assert len(picks(_evidence(world, {0: 1, **decided}, decided))) == 0
    assert len(picks(_evidence(world, {0: 1}), max_items=2)) == 2


def test_a_region_too_small_to_leave_a_relabel_target_gets_no_checks() -> None:
    latent, regions, noisy = _world()
    regions = regions.copy()
    regions[4:40] = 2  # region 0 keeps rows 0-3: row 0 contradicted, three rows free
    ev = _evidence((latent, regions, noisy), {0: 1})
    excluded = np.zeros(len(noisy), dtype=bool)
    excluded[0] = True
    assert len(items_to_confirm(ev, excluded, np.random.default_rng(0), max_items=10)) == 0


@pytest.mark.parametrize("flat_max", [1_000, 10])
def test_latent_regions_have_the_asked_size_flat_or_in_two_levels(
    flat_max: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regions of about ``region_items`` items that do not straddle well-separated blobs,
    whether k-means runs once or (past ``FLAT_REGIONS_MAX`` cells) in two levels."""
    import orchestrator.propagation.regional as regional

    monkeypatch.setattr(regional, "FLAT_REGIONS_MAX", flat_max)
    rng = np.random.default_rng(0)
    blob = rng.integers(0, 20, 4000)
    centers = rng.normal(0, 50, (20, 4))
    latent = (centers[blob] + rng.normal(0, 1, (4000, 4))).astype(np.float32)
    regions = regional.latent_regions(latent, 10, 40, np.random.default_rng(1))
    assert regions.shape == (4000,) and regions.dtype == np.int64
    n_regions = len(np.unique(regions))
    # 4000 items / 40 a region; two levels round each coarse cell's share of the 100
    assert 80 <= n_regions <= 110
    # each region lies inside one blob
    for r in np.unique(regions):
        assert len(np.unique(blob[regions == r])) == 1
