"""select_items: no re-selection, per-cluster shares, strategies, auto and c tuning."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np
import pytest

from orchestrator.sampling import STRATEGIES, SamplingConfig, select_items
from orchestrator.sampling import backend as backend_mod
from orchestrator.sampling.strategies import entropy, label_noise_score, margin_score

NUMPY = SamplingConfig(backend="numpy")


def _blobs(n_per: int = 100, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), n_per)
    centers = np.eye(k, 6) * 20
    x = (centers[y] + rng.normal(0, 1, (len(y), 6))).astype(np.float32)
    return x, y


def _posterior(y: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(k), len(y)) * 0.5
    p[np.arange(len(y)), y] += 0.5
    return p


def test_strategy_scores_pinned() -> None:
    p = np.array([[0.5, 0.5], [0.9, 0.1], [1.0, 0.0]])
    assert np.allclose(entropy(p), [np.log(2), -(0.9 * np.log(0.9) + 0.1 * np.log(0.1)), 0])
    assert np.allclose(margin_score(p), [0.0, -0.8, -1.0])
    # Clear mistake (confident, disagrees with ŷ=1) scores highest.
    s = label_noise_score(p, np.array([1, 1, 0]))
    assert s.argmax() == 1 and s[2] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_never_reselects_and_fills_budget(strategy: str) -> None:
    x, y = _blobs()
    post = _posterior(y, 4)
    inspected = np.zeros(len(y), dtype=bool)
    inspected[::3] = True
    sel = select_items(
        x,
        post,
        y,
        inspected,
        50,
        strategy=strategy,
        n_clusters=4,
        rng=np.random.default_rng(0),
        config=NUMPY,
    )
    assert len(sel.indices) == 50 and len(np.unique(sel.indices)) == 50
    assert not inspected[sel.indices].any()
    assert sel.strategy == strategy and sel.n_clusters == 4
    # Four equal, well separated clusters → 50 = 13 + 13 + 12 + 12 in some order.
    per = np.bincount(sel.clusters[sel.indices], minlength=4)
    assert sorted(per.tolist()) == [12, 12, 13, 13]


def test_budget_beyond_pool_and_zero() -> None:
    x, y = _blobs(n_per=10)
    post = _posterior(y, 4)
    inspected = np.ones(len(y), dtype=bool)
    inspected[:7] = False
    sel = select_items(
        x, post, y, inspected, 100, strategy="uncertainty", n_clusters=3, config=NUMPY
    )
    assert sorted(sel.indices.tolist()) == list(range(7))
    sel0 = select_items(x, post, y, inspected, 0, strategy="margin", n_clusters=3, config=NUMPY)
    assert len(sel0.indices) == 0


def test_uncertainty_takes_most_uncertain_per_cluster() -> None:
    x, y = _blobs(n_per=20, k=2)
    post = np.tile([0.99, 0.01], (40, 1))
    post[y == 1] = [0.01, 0.99]
    post[[3, 25]] = [0.5, 0.5]
    post[[4, 26]] = [0.6, 0.4]
    sel = select_items(
        x, post, y, np.zeros(40, bool), 4, strategy="uncertainty", n_clusters=2, config=NUMPY
    )
    assert sel.indices.tolist() == [3, 4, 25, 26]


def test_diffusion_avoids_near_duplicates() -> None:
    # Cluster of 40 spread items plus 5 exact duplicates that are the most uncertain:
    # uncertainty takes all duplicates, diffusion at most one of them.
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (45, 2)).astype(np.float32)
    x[40:] = x[40]
    post = np.tile([0.9, 0.1], (45, 1))
    post[40:] = [0.5, 0.5]
    post[:40, 0] = rng.uniform(0.55, 0.9, 40)
    post[:40, 1] = 1 - post[:40, 0]
    cfg = SamplingConfig(backend="numpy", knn_k=5)
    y = np.zeros(45, dtype=np.int64)
    unc = select_items(
        x, post, y, np.zeros(45, bool), 5, strategy="uncertainty", n_clusters=1, config=cfg
    )
    dif = select_items(
        x, post, y, np.zeros(45, bool), 5, strategy="diffusion", n_clusters=1, config=cfg
    )
    assert set(unc.indices.tolist()) == set(range(40, 45))
    assert len(set(dif.indices.tolist()) & set(range(40, 45))) <= 1
    assert len(dif.indices) == 5


def test_auto_picks_strategy_covering_wrong_validation_items() -> None:
    # Wrongly inferred items are confident and disagree with the noisy label: label_noise
    # covers them, uncertainty prefers the genuinely ambiguous ones.
    x, y = _blobs(n_per=50, k=2)
    n = len(y)
    post = np.tile([0.5, 0.5], (n, 1))
    post[:, 0] = np.where(y == 0, 0.8, 0.2)
    post[:, 1] = 1 - post[:, 0]
    noisy = y.copy()
    wrong = np.arange(0, n, 10)  # model confidently wrong, noisy label right
    post[wrong] = post[wrong][:, ::-1] * 0 + np.where(
        y[wrong, None] == 0, [0.02, 0.98], [0.98, 0.02]
    )
    ambiguous = np.arange(5, n, 10)
    post[ambiguous] = [0.5, 0.5]
    val = np.arange(n)[np.arange(n) % 5 == 0]  # covers wrong (…0) and ambiguous (…5) rows
    inspected = np.zeros(n, dtype=bool)
    inspected[val] = True
    sel = select_items(
        x,
        post,
        noisy,
        inspected,
        20,
        strategy="auto",
        n_clusters=2,
        validation_idx=val,
        validation_labels=y[val],
        rng=np.random.default_rng(0),
        config=NUMPY,
    )
    cov: Any = sel.info["coverage"]
    assert sel.strategy == "label_noise"
    assert cov["label_noise/2"] == max(cov.values()) > cov["uncertainty/2"]


def test_c_tuning_returns_validation_best() -> None:
    x, y = _blobs(n_per=60, k=4, seed=1)
    post = _posterior(y, 4, seed=2)
    noisy = y.copy()
    rng = np.random.default_rng(3)
    val = rng.choice(len(y), 40, replace=False)
    wrong_rows = val[:15]
    post[wrong_rows] = np.roll(post[wrong_rows], 1, axis=1)
    inspected = np.zeros(len(y), dtype=bool)
    inspected[val] = True
    cfg = SamplingConfig(backend="numpy", n_clusters_grid=(4, 2, 8, 16))
    sel = select_items(
        x,
        post,
        noisy,
        inspected,
        60,
        strategy="uncertainty",
        validation_idx=val,
        validation_labels=y[val],
        rng=np.random.default_rng(0),
        config=cfg,
    )
    cov: Any = sel.info["coverage"]
    best = max(cov.values())
    first_best = next(k for k, v in cov.items() if v == best)  # grid order = tie-break
    assert f"uncertainty/{sel.n_clusters}" == first_best
    assert len(np.unique(sel.clusters)) == sel.n_clusters


def test_seeded_selection_is_reproducible() -> None:
    x, y = _blobs()
    post = _posterior(y, 4)
    a = select_items(
        x,
        post,
        y,
        np.zeros(len(y), bool),
        30,
        strategy="random",
        rng=np.random.default_rng(5),
        config=NUMPY,
    )
    b = select_items(
        x,
        post,
        y,
        np.zeros(len(y), bool),
        30,
        strategy="random",
        rng=np.random.default_rng(5),
        config=NUMPY,
    )
    assert (a.indices == b.indices).all() and (a.clusters == b.clusters).all()


def test_faiss_backend_agrees_or_names_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    x, _ = _blobs()
    lab_np, _ = backend_mod.kmeans(x, 4, rng=np.random.default_rng(0), backend="numpy")
    try:
        lab_f, _ = backend_mod.kmeans(x, 4, rng=np.random.default_rng(0), backend="faiss")
    except ImportError:
        pass
    else:  # same partition up to renaming on well separated blobs
        assert len({(a, b) for a, b in zip(lab_np, lab_f, strict=True)}) == 4
    real_import = builtins.__import__

    def no_faiss(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "faiss":
            raise ImportError("no faiss")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_faiss)
    with pytest.raises(ImportError, match=r"crowdclean\[faiss\]"):
        backend_mod.kmeans(x, 4, rng=np.random.default_rng(0), backend="faiss")
    labels, _ = backend_mod.kmeans(x, 4, rng=np.random.default_rng(0), backend="auto")
    assert (labels == lab_np).all()


def test_knn_numpy_matches_bruteforce() -> None:
    rng = np.random.default_rng(0)
    q = rng.normal(size=(30, 5)).astype(np.float32)
    b = rng.normal(size=(50, 5)).astype(np.float32)
    d, i = backend_mod.knn(q, b, 3, backend="numpy")
    full = np.linalg.norm(q[:, None] - b[None], axis=2)
    assert (i == np.argsort(full, 1)[:, :3]).all()
    assert np.allclose(d, np.sort(full, 1)[:, :3], atol=1e-4)


@pytest.mark.parametrize("seed", range(5))
def test_top_of_each_cluster_matches_full_sort(seed: int) -> None:
    # Coarse scores force ties at the per-cluster cut: the lower row index must win them,
    # exactly as a full (cluster, -score, row) sort would decide.
    from orchestrator.sampling.sampler import _select

    rng = np.random.default_rng(seed)
    n, c = 3000, 7
    clusters = rng.integers(0, c, n)
    scores = rng.integers(0, 5, n).astype(np.float64)
    inspected = rng.random(n) < 0.3
    budget = 150
    got = _select(
        np.zeros((n, 2), np.float32), clusters, c, scores, inspected, budget, "margin", NUMPY
    )
    from orchestrator.sampling import allocate_budget

    quota = allocate_budget(
        np.bincount(clusters, minlength=c), np.bincount(clusters[~inspected], minlength=c), budget
    )
    cand = np.flatnonzero(~inspected)
    order = cand[np.lexsort((cand, -scores[cand], clusters[cand]))]
    expect = np.concatenate([order[clusters[order] == j][: quota[j]] for j in range(c)])
    assert got.tolist() == sorted(expect.tolist())


def test_a_one_item_lead_does_not_replace_the_default_strategy() -> None:
    # One validation item is wrongly inferred, confidently (low entropy) and against its noisy
    # label: label_noise covers it, uncertainty does not. One item is chance: the default stays
    # unless switch_items is 1.
    x, y = _blobs(n_per=60, k=4, seed=1)
    post = _posterior(y, 4, seed=2)  # right everywhere, moderately sure
    rng = np.random.default_rng(3)
    val = rng.choice(len(y), 30, replace=False)
    odd = val[0]
    post[odd] = 0.01
    post[odd, (y[odd] + 1) % 4] = 0.97
    inspected = np.zeros(len(y), dtype=bool)
    inspected[val] = True
    kwargs: dict[str, Any] = {
        "strategy": "auto",
        "n_clusters": 1,
        "validation_idx": val,
        "validation_labels": y[val],
    }
    default = select_items(
        x, post, y.copy(), inspected, 2, rng=np.random.default_rng(0), config=NUMPY, **kwargs
    )
    cov: Any = default.info["coverage"]
    assert cov["label_noise/1"] == 1 and cov["uncertainty/1"] == 0
    assert default.strategy == "uncertainty"
    eager = select_items(
        x,
        post,
        y.copy(),
        inspected,
        2,
        rng=np.random.default_rng(0),
        config=SamplingConfig(backend="numpy", switch_items=1),
        **kwargs,
    )
    assert eager.strategy == "label_noise"


def test_entropy_propagation_discounts_the_neighbours_of_each_pick() -> None:
    from scipy import sparse

    from orchestrator.sampling.strategies import entropy_propagation_order

    # 0 and 1 are neighbours (w = 0.8); 2 is alone. Uncertainty would take 0 then 1.
    w = sparse.csr_matrix(np.array([[0, 0.8, 0], [0.8, 0, 0], [0, 0, 0]], dtype=float))
    order = entropy_propagation_order(np.array([1.0, 0.95, 0.5]), w, 3)
    # After picking 0: h1 = 0.95 - 0.8 * min(1.0, 0.95) = 0.19 < h2 = 0.5.
    assert order.tolist() == [0, 2, 1]


def test_entropy_propagation_spreads_a_batch_over_uncertain_regions() -> None:
    # Two tight uncertain groups of 5 (entropy slightly higher in group A) and background
    # items: uncertainty spends the batch of 4 on group A; propagation takes one of each (a
    # pick's near-duplicates lose almost all their entropy), then the next most uncertain.
    rng = np.random.default_rng(0)
    x = rng.normal(0, 3, (60, 2)).astype(np.float32)
    x[50:55] = np.array([10, 10]) + rng.normal(0, 0.01, (5, 2))
    x[55:60] = np.array([-10, -10]) + rng.normal(0, 0.01, (5, 2))
    post = np.tile([0.95, 0.05], (60, 1))
    post[50:55] = [0.5, 0.5]
    post[55:60] = [0.55, 0.45]
    y = np.zeros(60, dtype=np.int64)
    cfg = SamplingConfig(backend="numpy", knn_k=4)
    unc = select_items(
        x, post, y, np.zeros(60, bool), 4, strategy="uncertainty", n_clusters=1, config=cfg
    )
    ep = select_items(
        x,
        post,
        y,
        np.zeros(60, bool),
        4,
        strategy="entropy_propagation",
        n_clusters=1,
        config=cfg,
    )
    assert set(unc.indices.tolist()) <= set(range(50, 55))
    assert len(set(ep.indices.tolist()) & set(range(50, 55))) == 1
    assert len(set(ep.indices.tolist()) & set(range(55, 60))) == 1
    assert len(ep.indices) == 4
    assert ep.strategy == "entropy_propagation"


@pytest.mark.parametrize("strategy", ["influence", "counter_example"])
def test_head_strategies_never_reselect_and_fill_budget(strategy: str) -> None:
    x, y = _blobs()
    rng = np.random.default_rng(3)
    noisy = y.copy()
    flipped = rng.choice(len(y), 40, replace=False)
    noisy[flipped] = (y[flipped] + 1) % 4
    post = _posterior(y, 4)
    inspected = np.zeros(len(y), dtype=bool)
    inspected[::3] = True
    sel = select_items(x, post, noisy, inspected, 20, strategy=strategy, n_clusters=4, config=NUMPY)
    assert len(sel.indices) == 20 and len(np.unique(sel.indices)) == 20
    assert not inspected[sel.indices].any()
    assert sel.strategy == strategy
    # The model is right on the flipped items, so both find mostly flipped labels.
    assert np.isin(sel.indices, flipped).mean() >= 0.4
    if strategy == "counter_example":
        pairs = sel.info["pairs"]
        assert isinstance(pairs, list) and len(pairs) == 10
        assert sorted(r for p in pairs for r in p) == sel.indices.tolist()
    else:
        suggested = sel.info["suggested"]
        assert isinstance(suggested, dict) and set(suggested) == set(sel.indices.tolist())
        hits = [r for r in sel.indices if r in set(flipped.tolist())]
        assert np.mean([suggested[int(r)] == y[r] for r in hits]) >= 0.8
