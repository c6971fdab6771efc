"""Clustered sampling in latent space: which items the crowd inspects next.

One round (:func:`select_items`):

1. k-means with ``c`` clusters on the latent vectors.
2. The round budget is split over clusters in proportion to their size (all items, inspected
   or not) by :func:`allocate_budget`: floor of the exact share, the remainder one by one to the
   largest fractional parts. A cluster never gets more than its number of uninspected items;
   what it cannot take is re-split, the same way, over the clusters that still have room.
3. Inside each cluster the uninspected items are ranked by the strategy (see
   :mod:`orchestrator.sampling.strategies`) and the top of the ranking is taken. Ties in the
   score go to the lower row index. Inspected items are never selected. ``diffusion`` and
   ``entropy_propagation`` take a cluster's picks one at a time on a kNN graph of its most
   uncertain items (a pick blocks its neighbours / discounts their entropy).

``strategy="auto"`` and ``n_clusters=None`` are tuned on the validation items (crowd-verified
items whose true class is known): the validation items are treated as the only uninspected
pool, a proportional budget ``max(1, round(budget · n_val / n_uninspected))`` is spent on them
with each candidate (strategy, c), and the candidate whose picks contain the most validation
items whose inferred class (posterior argmax) is wrong wins, provided it covers at least
``switch_items`` (2) more of them than the incumbent; the default, ``uncertainty`` with
``c = K``, is the first incumbent. One more covered item is chance: with a one-pick budget
``random`` won a digits round that way, and with a larger evaluation budget (a third of the
35 validation items, tried) ``random`` and ``label_noise`` led by one or two of the two or
three wrongly inferred items and took two of the demo's three rounds (0.981 label accuracy
against 0.990 when every round used ``uncertainty``). So on small validation sets the default
stands. Ties keep the earlier candidate: strategies in the order of ``STRATEGIES``
(uncertainty, label_noise, margin, diffusion, random, entropy_propagation), and for ``c`` the
grid order, which starts with the default ``c = K`` (number of classes). Without validation
items, ``auto`` means ``uncertainty`` and ``c = K``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import numpy.typing as npt

from orchestrator.sampling.backend import Backend, kmeans, knn
from orchestrator.sampling.base import Selection
from orchestrator.sampling.strategies import (
    HEAD_STRATEGIES,
    SELECTABLE,
    STRATEGIES,
    diffuse,
    entropy,
    entropy_propagation_order,
    graph_weights,
    label_noise_score,
    margin_score,
)

__all__ = [
    "SamplingConfig",
    "allocate_budget",
    "select_items",
    "stratified_random_selection",
]


@dataclass(frozen=True)
class SamplingConfig:
    """Tunables of the sampler beyond the per-call arguments.

    Attributes:
        n_clusters_grid: candidate ``c`` values when ``n_clusters=None`` and validation items
            exist; None means ``(K, K // 2, 2K, 4K)`` (K = number of classes), each clipped to
            [1, min(budget, n)], duplicates dropped, order kept.
        switch_items: when tuning, a candidate replaces the incumbent (the default first)
            only if it covers at least this many more wrongly inferred validation items.
        knn_k: neighbours per item in the diffusion and entropy-propagation graphs.
        diffusion_alpha: weight of the neighbours when smoothing entropies, in [0, 1).
        diffusion_oversample: the diffusion and entropy-propagation strategies re-rank the
            ``oversample · quota`` most uncertain items of each cluster (bounded work on huge
            clusters).
        kmeans_iter: Lloyd iterations.
        kmeans_sample: rows used to fit the centroids (all rows are assigned).
        backend: "auto" (faiss when installed), "faiss" or "numpy".
        threads: worker threads of the numpy k-means assignment; None: the BLAS thread
            limit (``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS``).
    """

    n_clusters_grid: tuple[int, ...] | None = None
    switch_items: int = 2
    knn_k: int = 10
    diffusion_alpha: float = 0.5
    diffusion_oversample: int = 5
    kmeans_iter: int = 25
    kmeans_sample: int = 50_000
    backend: Backend = "auto"
    threads: int | None = None


def allocate_budget(
    sizes: npt.NDArray[np.int64], capacity: npt.NDArray[np.int64], budget: int
) -> npt.NDArray[np.int64]:
    """Split ``budget`` over clusters in proportion to ``sizes``, capped by ``capacity``.

    Largest-remainder rounding: each cluster gets the floor of its exact share, and the items
    left over go one each to the clusters with the largest fractional parts (ties: larger
    cluster, then lower cluster id). Clusters whose share exceeds their capacity are capped and
    the excess is re-split over the clusters with room, until the budget or the capacity is
    exhausted.

    Args:
        sizes: (c,) cluster sizes (all items), non-negative.
        capacity: (c,) uninspected items per cluster, ``<= sizes`` usually.
        budget: items to allocate.

    Returns:
        (c,) int64 quotas, ``0 <= quota <= capacity``, summing to ``min(budget, capacity.sum())``.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    capacity = np.asarray(capacity, dtype=np.int64)
    quota = np.zeros_like(capacity)
    target = int(min(max(budget, 0), int(capacity.sum())))
    ids = np.arange(len(sizes))
    while quota.sum() < target:
        remaining = target - int(quota.sum())
        room = quota < capacity
        # A cluster with room but size 0 cannot exist unless capacity > sizes; weigh it by room.
        weights = np.where(room, np.maximum(sizes, 0), 0).astype(np.float64)
        if weights.sum() <= 0:
            weights = np.where(room, capacity - quota, 0).astype(np.float64)
        share = remaining * weights / weights.sum()
        floor = np.floor(share).astype(np.int64)
        leftover = remaining - int(floor.sum())
        if leftover > 0:
            frac = share - floor
            order = np.lexsort((ids, -sizes, -frac))
            order = order[room[order]]
            floor[order[:leftover]] += 1
        quota = np.minimum(quota + floor, capacity)
    return quota


def _rank_scores(
    strategy: str,
    posterior: npt.NDArray[np.float64],
    noisy_labels: npt.NDArray[np.int64],
    rng: np.random.Generator,
) -> npt.NDArray[np.float64]:
    if strategy in ("uncertainty", "diffusion", "entropy_propagation"):
        return entropy(posterior)
    if strategy == "margin":
        return margin_score(posterior)
    if strategy == "label_noise":
        return label_noise_score(posterior, noisy_labels)
    if strategy == "random":
        return np.asarray(rng.random(posterior.shape[0]), dtype=np.float64)
    raise ValueError(f"unknown strategy {strategy!r}; choose one of {(*STRATEGIES, 'auto')}")


@dataclass(frozen=True)
class _PoolGraph:
    """One cluster's candidate pool as a kNN graph: (m,) scores, and (m, k) neighbour
    positions inside the pool with their distances, self excluded."""

    scores: npt.NDArray[np.float64]
    nb: npt.NDArray[np.int64]
    dist: npt.NDArray[np.float32]


def _pool_graph(
    latent: npt.NDArray[np.float32],
    pool: npt.NDArray[np.int64],
    scores: npt.NDArray[np.float64],
    config: SamplingConfig,
) -> _PoolGraph:
    """The kNN graph of ``pool`` (m rows of ``latent``) with their ``scores``."""
    dist, nb = knn(latent[pool], latent[pool], config.knn_k + 1, backend=config.backend)
    # Drop each row's own entry (or its farthest neighbour when duplicates hid it).
    is_self = nb == np.arange(len(pool))[:, None]
    is_self[~is_self.any(1), -1] = True
    keep = ~is_self
    return _PoolGraph(
        scores[pool], nb[keep].reshape(len(pool), -1), dist[keep].reshape(len(pool), -1)
    )


# A pick on one cluster's candidate graph: (graph, quota) → positions in the pool, in pick order.
GraphOrder = Callable[[_PoolGraph, int], npt.NDArray[np.int64]]


def _entropy_propagation_order(graph: _PoolGraph, quota: int) -> npt.NDArray[np.int64]:
    """Entropy propagation on the graph (:func:`entropy_propagation_order`)."""
    return entropy_propagation_order(graph.scores, graph_weights(graph.nb, graph.dist), quota)


def _diffusion_order(graph: _PoolGraph, quota: int, *, alpha: float) -> npt.NDArray[np.int64]:
    """Diffused entropy order avoiding near-duplicates: a pick blocks its kNN neighbours, and
    blocked rows only fill what is left of the quota."""
    m = len(graph.scores)
    smooth = diffuse(graph.scores, graph.nb, graph.dist, alpha=alpha)
    order = np.lexsort((np.arange(m), -smooth))
    blocked = np.zeros(m, dtype=bool)
    picks: list[int] = []
    for i in order:
        if len(picks) == quota:
            break
        if not blocked[i]:
            picks.append(int(i))
            blocked[graph.nb[i]] = True
    taken = np.zeros(m, dtype=bool)
    taken[picks] = True
    rest = order[~taken[order]][: quota - len(picks)]
    return np.concatenate([np.asarray(picks, dtype=np.int64), rest]).astype(np.int64)


def _graph_pick(
    latent: npt.NDArray[np.float32],
    ranked: npt.NDArray[np.int64],
    scores: npt.NDArray[np.float64],
    quota: int,
    config: SamplingConfig,
    order: GraphOrder,
) -> npt.NDArray[np.int64]:
    """Pick ``quota`` rows from ``ranked`` (one cluster, best entropy first) by ``order`` on
    the kNN graph of the ``oversample · quota`` most uncertain rows. Rows outside that pool
    could only be picked after most of the pool had been discounted below them; the bound
    keeps the greedy loop's graph small on huge clusters."""
    pool = ranked[: max(quota * config.diffusion_oversample, quota + config.knn_k)]
    if len(pool) <= 1:
        return pool[:quota]
    return pool[order(_pool_graph(latent, pool, scores, config), quota)]


def _select(
    latent: npt.NDArray[np.float32],
    clusters: npt.NDArray[np.int64],
    n_clusters: int,
    scores: npt.NDArray[np.float64],
    inspected: npt.NDArray[np.bool_],
    budget: int,
    strategy: str,
    config: SamplingConfig,
) -> npt.NDArray[np.int64]:
    sizes = np.bincount(clusters, minlength=n_clusters)
    capacity = np.bincount(clusters[~inspected], minlength=n_clusters)
    quota = allocate_budget(sizes, capacity, budget)
    cand = np.flatnonzero(~inspected)
    # Group candidates by cluster with a stable sort (rows stay ascending inside a group):
    # numpy does it as an O(n) radix sort for 16-bit keys.
    keys = clusters[cand]
    if n_clusters <= np.iinfo(np.uint16).max:
        keys = keys.astype(np.uint16)
    grouped = cand[np.argsort(keys, kind="stable")]
    bounds = np.searchsorted(clusters[grouped], np.arange(n_clusters + 1))
    graph_orders: dict[str, GraphOrder] = {
        "diffusion": partial(_diffusion_order, alpha=config.diffusion_alpha),
        "entropy_propagation": _entropy_propagation_order,
    }
    graph_order = graph_orders.get(strategy)
    picks = []
    for j in np.flatnonzero(quota > 0):
        rows = grouped[bounds[j] : bounds[j + 1]]
        if graph_order is None:
            picks.append(_top_rows(rows, scores, int(quota[j])))
            continue
        # Score descending, then row index (stable sort of rows already ascending).
        ranked = rows[np.argsort(-scores[rows], kind="stable")]
        picks.append(_graph_pick(latent, ranked, scores, int(quota[j]), config, graph_order))
    if not picks:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(picks)).astype(np.int64)


def _head_selection(
    strategy: str,
    items: _Items,
    clusters: npt.NDArray[np.int64],
    n_clusters: int,
    budget: int,
    validation_idx: npt.NDArray[np.int64] | None,
    validation_labels: npt.NDArray[np.int64] | None,
    config: SamplingConfig,
) -> Selection:
    """The selection of a linear-head strategy, its diagnostics in ``info``.

    ``influence``: CHEF's influence score (:func:`orchestrator.sampling.influence.
    label_influence`) ranked inside each cluster like any score; ``info["suggested"]`` maps
    each pick to the label whose change lowers the evidence loss most.
    ``counter_example``: CINCER's pairs: the ``ceil(budget / 2)`` most suspicious uninspected
    items by CE − H (clusters play no part: a pair's second item is wherever the model's
    most incompatible support is), each with its most incompatible uninspected item;
    ``info["pairs"]`` lists (suspicious, counter-example) rows.
    """
    from orchestrator.sampling.counter_examples import counter_examples
    from orchestrator.sampling.influence import evidence_for, label_influence

    x, posterior, noisy_labels, inspected = items.x, items.posterior, items.noisy, items.inspected
    k = posterior.shape[1]
    if strategy == "influence":
        ev_rows, ev_labels = evidence_for(posterior, validation_idx, validation_labels)
        ranking = label_influence(x, noisy_labels, k, ev_rows, ev_labels)
        picks = _select(x, clusters, n_clusters, ranking.score, inspected, budget, strategy, config)
        suggested = {int(r): int(ranking.suggested[r]) for r in picks}
        info = {"suggested": suggested, "n_evidence": len(ev_rows)}
        return Selection(picks, clusters, strategy, n_clusters, info)
    free = np.flatnonzero(~inspected)
    score = label_noise_score(posterior[free], noisy_labels[free])
    n_sus = min(len(free), -(-budget // 2))
    sus = free[np.argsort(-score, kind="stable")[:n_sus]]
    counter = counter_examples(x, noisy_labels, k, sus, ~inspected) if n_sus else sus[:0]
    pairs = [(int(a), int(b)) for a, b in zip(sus, counter, strict=True) if b >= 0]
    flat = [r for pair in pairs for r in pair][:budget]
    picks = np.sort(np.asarray(flat, dtype=np.int64))
    return Selection(picks, clusters, strategy, n_clusters, {"pairs": pairs})


def _top_rows(
    rows: npt.NDArray[np.int64], scores: npt.NDArray[np.float64], quota: int
) -> npt.NDArray[np.int64]:
    """The ``quota`` rows with the highest scores; ties at the cut go to the lower row index.

    ``rows`` ascending. A partition finds the quota-th largest score ``v`` in O(len(rows))
    (a full sort per cluster dominated the round at 1M items); every row above ``v`` is
    taken, then the lowest-index rows scoring exactly ``v`` fill the quota.
    """
    if quota >= len(rows):
        return rows
    s = scores[rows]
    v = -np.partition(-s, quota - 1)[quota - 1]
    above = rows[s > v]
    tied = rows[s == v]
    return np.concatenate([above, tied[: quota - len(above)]])


def _c_grid(n_classes: int, budget: int, n: int, config: SamplingConfig) -> list[int]:
    raw = config.n_clusters_grid or (n_classes, n_classes // 2, 2 * n_classes, 4 * n_classes)
    hi = max(1, min(budget, n))
    out: list[int] = []
    for c in raw:
        c = int(min(max(1, c), hi))
        if c not in out:
            out.append(c)
    return out


@dataclass(frozen=True)
class _Items:
    """The per-item inputs of a selection: (n, d) float32 latent vectors ``x``, (n, K)
    ``posterior``, (n,) delivered labels ``noisy`` and (n,) ``inspected`` flags."""

    x: npt.NDArray[np.float32]
    posterior: npt.NDArray[np.float64]
    noisy: npt.NDArray[np.int64]
    inspected: npt.NDArray[np.bool_]

    @classmethod
    def of(
        cls,
        latent: npt.NDArray[np.floating],
        posterior: npt.NDArray[np.float64],
        noisy_labels: npt.NDArray[np.int64],
        inspected: npt.NDArray[np.bool_],
    ) -> _Items:
        """The arrays as their dtypes, refused unless they share their number of rows."""
        items = cls(
            np.ascontiguousarray(latent, dtype=np.float32),
            np.asarray(posterior, dtype=np.float64),
            np.asarray(noisy_labels, dtype=np.int64),
            np.asarray(inspected, dtype=bool),
        )
        n = items.x.shape[0]
        if (
            items.posterior.shape[0] != n
            or items.noisy.shape != (n,)
            or items.inspected.shape != (n,)
        ):
            raise ValueError("latent, posterior, noisy_labels and inspected must share n rows")
        return items


def _clusters(
    x: npt.NDArray[np.float32], c: int, rng: np.random.Generator, config: SamplingConfig
) -> npt.NDArray[np.int64]:
    """(n,) k-means cluster of each row of ``x`` for ``c`` clusters."""
    clusters, _ = kmeans(
        x,
        c,
        rng=rng,
        max_iter=config.kmeans_iter,
        sample_size=config.kmeans_sample,
        backend=config.backend,
        threads=config.threads,
    )
    return clusters


def _tune_on_validation(
    items: _Items,
    clusterings: dict[int, npt.NDArray[np.int64]],
    strategies: list[str],
    validation_idx: npt.NDArray[np.int64],
    validation_labels: npt.NDArray[np.int64],
    budget: int,
    rng: np.random.Generator,
    config: SamplingConfig,
) -> tuple[int, str, dict[str, int]]:
    """The ``c`` and strategy whose picks among the validation rows cover the most of those
    the posterior gets wrong, and each candidate's coverage under ``"strategy/c"``. The
    validation rows get ``budget``'s share of the uninspected items; ``rng`` seeds the
    candidates' own generator."""
    x, posterior = items.x, items.posterior
    n = x.shape[0]
    n_free = int((~items.inspected).sum())
    v_idx = np.asarray(validation_idx, dtype=np.int64)
    v_labels = np.asarray(validation_labels)
    v_budget = int(min(len(v_idx), max(1, round(budget * len(v_idx) / max(n_free, 1)))))
    rng = np.random.default_rng(rng.integers(2**63))
    wrong = np.zeros(n, dtype=bool)
    wrong[v_idx] = posterior[v_idx].argmax(1) != v_labels
    pool_inspected = np.ones(n, dtype=bool)
    pool_inspected[v_idx] = False
    coverage: dict[str, int] = {}
    best_cov, best_c, best_strategy = -1, next(iter(clusterings)), strategies[0]
    for strat in strategies:
        scores = _rank_scores(strat, posterior, items.noisy, rng)
        for c, clusters in clusterings.items():
            picks = _select(x, clusters, c, scores, pool_inspected, v_budget, strat, config)
            cov = int(wrong[picks].sum())
            coverage[f"{strat}/{c}"] = cov
            # The first candidate (the default) is the incumbent; a later one takes over
            # only with switch_items more covered items: one more is chance.
            margin = max(1, config.switch_items) if best_cov >= 0 else 0
            if cov >= best_cov + margin:
                best_cov, best_c, best_strategy = cov, c, strat
    return best_c, best_strategy, coverage


def select_items(
    latent: npt.NDArray[np.floating],
    posterior: npt.NDArray[np.float64],
    noisy_labels: npt.NDArray[np.int64],
    inspected: npt.NDArray[np.bool_],
    budget: int,
    *,
    strategy: str = "auto",
    n_clusters: int | None = None,
    validation_idx: npt.NDArray[np.int64] | None = None,
    validation_labels: npt.NDArray[np.int64] | None = None,
    rng: np.random.Generator | None = None,
    config: SamplingConfig | None = None,
) -> Selection:
    """Choose up to ``budget`` uninspected items for the crowd (see the module docstring).

    Args:
        latent: (n, d) latent vectors (the model's ``LabelModelOutput.latent``).
        posterior: (n, K) class posterior, rows sum to 1.
        noisy_labels: (n,) int64 delivered labels (used by ``label_noise``).
        inspected: (n,) bool, items already sent to the crowd; never selected again.
        budget: items to select this round; fewer come back when fewer are uninspected.
        strategy: one of ``STRATEGIES`` or ``"auto"`` (tuned on validation).
        n_clusters: ``c``; None tunes it on validation (default ``K`` without validation).
        validation_idx: (v,) rows of verified validation items, for tuning.
        validation_labels: (v,) their verified classes.
        rng: seeds k-means, the random strategy and tuning; default ``default_rng(0)``.
        config: further tunables.

    Returns:
        ``Selection`` with sorted row indices, the (n,) cluster ids, the resolved strategy and
        ``c``; ``info["coverage"]`` maps ``"strategy/c"`` to the number of wrongly inferred
        validation items covered when tuning ran.
    """
    config = config or SamplingConfig()
    rng = rng if rng is not None else np.random.default_rng(0)
    items = _Items.of(latent, posterior, noisy_labels, inspected)
    if strategy != "auto" and strategy not in SELECTABLE:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {(*SELECTABLE, 'auto')}")
    n, k = items.posterior.shape
    budget = int(min(max(budget, 0), (~items.inspected).sum()))

    has_val = (
        validation_idx is not None and validation_labels is not None and len(validation_idx) > 0
    )
    c_grid = [int(n_clusters)] if n_clusters is not None else _c_grid(k, max(budget, 1), n, config)
    strategies = list(STRATEGIES) if strategy == "auto" else [strategy]
    if not has_val:
        c_grid, strategies = c_grid[:1], strategies[:1]

    clusterings = {c: _clusters(items.x, c, rng, config) for c in c_grid}

    if strategy in HEAD_STRATEGIES:
        c = c_grid[0]
        return _head_selection(
            strategy, items, clusterings[c], c, budget, validation_idx, validation_labels, config
        )

    coverage: dict[str, int] = {}
    best_c, best_strategy = c_grid[0], strategies[0]
    if has_val and (len(c_grid) > 1 or len(strategies) > 1):
        assert validation_idx is not None and validation_labels is not None
        best_c, best_strategy, coverage = _tune_on_validation(
            items, clusterings, strategies, validation_idx, validation_labels, budget, rng, config
        )

    clusters = clusterings[best_c]
    scores = _rank_scores(best_strategy, items.posterior, items.noisy, rng)
    picks = _select(
        items.x, clusters, best_c, scores, items.inspected, budget, best_strategy, config
    )
    return Selection(
        indices=picks,
        clusters=clusters,
        strategy=best_strategy,
        n_clusters=best_c,
        info={"coverage": coverage},
    )


def stratified_random_selection(
    noisy_labels: npt.NDArray[np.int64],
    inspected: npt.NDArray[np.bool_],
    budget: int,
    rng: np.random.Generator,
) -> npt.NDArray[np.int64]:
    """The validation round: a random sample stratified by noisy label.

    Each noisy class gets a share of ``budget`` proportional to its size
    (:func:`allocate_budget`, largest remainder, capped by its uninspected items), filled
    uniformly at random from its uninspected items.

    Args:
        noisy_labels: (n,) int64 delivered labels.
        inspected: (n,) bool, items never to pick.
        budget: items to pick.
        rng: the random source.

    Returns:
        (m,) sorted int64 rows, ``m = min(budget, uninspected)``.
    """
    noisy_labels = np.asarray(noisy_labels, dtype=np.int64)
    inspected = np.asarray(inspected, dtype=bool)
    k = int(noisy_labels.max(initial=-1)) + 1
    sizes = np.bincount(noisy_labels, minlength=k)
    capacity = np.bincount(noisy_labels[~inspected], minlength=k)
    quota = allocate_budget(sizes, capacity, budget)
    picks = []
    for cls in range(k):
        if quota[cls] > 0:
            free = np.flatnonzero((noisy_labels == cls) & ~inspected)
            picks.append(rng.choice(free, int(quota[cls]), replace=False))
    if not picks:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(picks)).astype(np.int64)
