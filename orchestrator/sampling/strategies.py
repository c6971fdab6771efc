"""Ranking strategies: a score per item, higher means "show it to the crowd first".

All scores are (n,) float64 computed from the class posterior (n, K) (rows sum to 1), in nats
where they are information quantities.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import sparse

STRATEGIES: tuple[str, ...] = (
    "uncertainty",
    "label_noise",
    "margin",
    "diffusion",
    "random",
    "entropy_propagation",
)
"""The strategies ``auto`` chooses among, in its tie-breaking preference order."""

HEAD_STRATEGIES: tuple[str, ...] = ("influence", "counter_example")
"""Strategies on a linear head over the latent vectors (CHEF's influence, CINCER's
counter-example pairs; :mod:`orchestrator.sampling.influence`,
:mod:`orchestrator.sampling.counter_examples`). Selectable by name, not by ``auto``: auto
scores a candidate on the validation items as if they were the pool, and influence takes the
same validation items as its evidence, so its score there would be measured on itself."""

SELECTABLE: tuple[str, ...] = (*STRATEGIES, *HEAD_STRATEGIES)
"""Every strategy a campaign may name (besides ``auto``)."""

_EPS = 1e-12


def entropy(posterior: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """(n, K) → (n,) entropy of each row in nats (uncertainty sampling); 0·log 0 = 0."""
    # log only where p > 0 (0·log 0 = 0), then one fused multiply-sum: no clipped copy and no
    # product temporary on (1M, K) posteriors.
    logp = np.zeros(posterior.shape, dtype=np.float64)
    np.log(posterior, out=logp, where=posterior > 0)
    return np.asarray(-np.einsum("ij,ij->i", posterior, logp), dtype=np.float64)


def margin_score(posterior: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """(n, K) → (n,) minus the gap between the two most probable classes (small gap first)."""
    if posterior.shape[1] < 2:
        return np.zeros(posterior.shape[0])
    top2 = np.partition(posterior, posterior.shape[1] - 2, axis=1)[:, -2:]
    return np.asarray(-(top2[:, 1] - top2[:, 0]), dtype=np.float64)


def label_noise_score(
    posterior: npt.NDArray[np.float64], noisy_labels: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """(n, K), (n,) → (n,) ``−log p(ŷ) − H(p)`` in nats.

    Large when the model is confident (low entropy) and disagrees with the delivered label
    (high cross-entropy): clear mistakes first.
    """
    p_noisy = posterior[np.arange(len(noisy_labels)), noisy_labels]
    return np.asarray(-np.log(np.clip(p_noisy, _EPS, 1.0)) - entropy(posterior), dtype=np.float64)


def diffuse(
    values: npt.NDArray[np.float64],
    neighbors: npt.NDArray[np.int64],
    distances: npt.NDArray[np.float32],
    *,
    alpha: float = 0.5,
    steps: int = 10,
) -> npt.NDArray[np.float64]:
    """Smooth ``values`` over a kNN graph: ``s ← (1 − α)·v + α·W s``, ``steps`` times.

    Args:
        values: (m,) per-node values (entropies).
        neighbors: (m, k) neighbour rows (self excluded), distances (m, k) Euclidean.
        alpha: weight of the neighbours, in [0, 1).

    ``W`` is row-normalised with Gaussian weights whose width is the median neighbour distance,
    so an item surrounded by uncertain items scores higher than an isolated uncertain one.
    """
    if neighbors.size == 0:
        return values.astype(np.float64)
    sigma = float(np.median(distances)) or 1.0
    w = np.exp(-((distances / sigma) ** 2)).astype(np.float64)
    w /= np.maximum(w.sum(1, keepdims=True), _EPS)
    s = values.astype(np.float64).copy()
    for _ in range(steps):
        s = (1 - alpha) * values + alpha * (w * s[neighbors]).sum(1)
    return s


def graph_weights(
    neighbors: npt.NDArray[np.int64], distances: npt.NDArray[np.float32]
) -> sparse.csr_matrix:
    """(m, k) kNN rows (self excluded) and their Euclidean distances → (m, m) symmetric
    affinities ``max(w_ij, w_ji)`` with ``w = exp(−(d / σ)²)``, σ the median neighbour distance.

    Symmetric because a pick informs every item it is close to, whether or not that item is
    among the pick's own k nearest.
    """
    m = neighbors.shape[0]
    sigma = float(np.median(distances)) if distances.size else 1.0
    w = np.exp(-((distances / (sigma or 1.0)) ** 2)).astype(np.float64)
    rows = np.repeat(np.arange(m), neighbors.shape[1])
    mat = sparse.csr_matrix((w.ravel(), (rows, neighbors.ravel())), shape=(m, m))
    return mat.maximum(mat.T).tocsr()


def entropy_propagation_order(
    values: npt.NDArray[np.float64], affinity: sparse.csr_matrix, quota: int
) -> npt.NDArray[np.int64]:
    """Kim's entropy-propagation batch selection (ALC, ECCV 2022), greedy.

    Pick the item of highest current entropy; once labelled its entropy drops by
    ``ΔH_i = h_i`` to 0, and the reduction is propagated to its graph neighbours before the
    next pick: ``h_j ← h_j − w_ij · min(ΔH_i, h_j)`` (``w_ij`` in (0, 1], so ``h`` stays
    non-negative and a neighbour never loses more than the pick itself had). A batch then
    spreads over the uncertain regions instead of labelling one region's near-duplicates.

    Args:
        values: (m,) entropies (nats).
        affinity: (m, m) symmetric affinities in [0, 1] (:func:`graph_weights`).
        quota: picks wanted.

    Returns:
        (min(quota, m),) int64 positions into ``values`` in pick order; ties go to the lower
        position.
    """
    h = np.asarray(values, dtype=np.float64).copy()
    free = np.ones(len(h), dtype=bool)
    picks: list[int] = []
    indptr, indices, data = affinity.indptr, affinity.indices, affinity.data
    for _ in range(min(quota, len(h))):
        i = int(np.argmax(np.where(free, h, -np.inf)))
        picks.append(i)
        free[i] = False
        dh = h[i]
        h[i] = 0.0
        nb = indices[indptr[i] : indptr[i + 1]]
        h[nb] -= data[indptr[i] : indptr[i + 1]] * np.minimum(dh, h[nb])
    return np.asarray(picks, dtype=np.int64)
