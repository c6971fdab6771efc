"""Proportional allocation with largest remainder, capacity caps and redistribution."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.sampling import allocate_budget, stratified_random_selection


def test_largest_remainder_pinned() -> None:
    # Exact shares 10 * (5, 3, 2) / 10 = (5, 3, 2): no rounding.
    assert allocate_budget(np.array([5, 3, 2]), np.array([5, 3, 2]), 10).tolist() == [5, 3, 2]
    # Shares 4 * (5, 3, 2) / 10 = (2.0, 1.2, 0.8): floors (2, 1, 0), the 1 left over goes to
    # the largest fraction (0.8 → cluster 2).
    assert allocate_budget(np.array([5, 3, 2]), np.array([5, 3, 2]), 4).tolist() == [2, 1, 1]
    # Shares 3 * (6, 2, 2) / 10 = (1.8, 0.6, 0.6): floors (1, 0, 0), two left over → 0.8 first,
    # then the tie 0.6/0.6 goes to the lower cluster id (equal sizes).
    assert allocate_budget(np.array([6, 2, 2]), np.array([6, 2, 2]), 3).tolist() == [2, 1, 0]


def test_fraction_tie_prefers_larger_cluster() -> None:
    # Shares 1 * (1, 2) / 3 → fractions (0.33, 0.67): 0.67 wins. With (2, 2, 4) and budget 2:
    # shares (0.5, 0.5, 1.0) → floors (0, 0, 1), tie 0.5/0.5 → lower id.
    assert allocate_budget(np.array([1, 2]), np.array([1, 2]), 1).tolist() == [0, 1]
    assert allocate_budget(np.array([2, 2, 4]), np.array([2, 2, 4]), 2).tolist() == [1, 0, 1]


def test_capacity_redistributes() -> None:
    # Cluster 0 is big but only 1 item is left uninspected: the excess goes to the others in
    # proportion to their sizes.
    q = allocate_budget(np.array([80, 10, 10]), np.array([1, 10, 10]), 10)
    assert q.tolist() == [1, 5, 4]  # 3.5 / 3.5 tie → lower id
    assert q.sum() == 10
    # Budget above total capacity: everything that is left.
    assert allocate_budget(np.array([3, 3]), np.array([1, 2]), 10).tolist() == [1, 2]
    assert allocate_budget(np.array([3, 3]), np.array([0, 0]), 10).tolist() == [0, 0]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50)), min_size=1, max_size=12),
    st.integers(0, 300),
)
def test_allocation_properties(pairs: list[tuple[int, int]], budget: int) -> None:
    sizes = np.array([max(a, b) for a, b in pairs])
    capacity = np.array([min(a, b) for a, b in pairs])
    q = allocate_budget(sizes, capacity, budget)
    assert (q >= 0).all() and (q <= capacity).all()
    assert q.sum() == min(budget, capacity.sum())
    if capacity.sum() >= budget and (capacity == sizes).all() and sizes.sum() > 0:
        # Uncapped: every quota is the floor or ceiling of its exact share.
        share = budget * sizes / sizes.sum()
        assert (q >= np.floor(share) - 1e-9).all() and (q <= np.ceil(share) + 1e-9).all()


def test_stratified_random_selection() -> None:
    noisy = np.repeat(np.arange(3), [50, 30, 20])
    inspected = np.zeros(100, dtype=bool)
    inspected[:45] = True  # class 0 has only 5 items left
    picks = stratified_random_selection(noisy, inspected, 20, np.random.default_rng(0))
    assert len(picks) == 20 and len(set(picks.tolist())) == 20
    assert not inspected[picks].any()
    counts = np.bincount(noisy[picks], minlength=3)
    assert counts[0] == 5  # capped, the excess went to the other classes
    assert counts.tolist() == [5, 9, 6]
    again = stratified_random_selection(noisy, inspected, 20, np.random.default_rng(0))
    assert (picks == again).all()
