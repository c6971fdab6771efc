"""Fixed-size sampling with known inclusion probabilities (the evidence slice of a round).

An item the crowd inspects is evidence about the items it does not inspect only if the chance
that it was picked is known: then the Horvitz–Thompson sum ``Σ_{i∈S} f_i / π_i`` is an unbiased
estimate of ``Σ_i f_i`` over the population sampled (active testing, Kossen et al., ICML 2021).

* :func:`inclusion_probabilities`: probabilities proportional to a score, ``π_i = min(1, λ s_i)``
  with ``λ`` such that ``Σ π_i = m``; items whose share would pass 1 are taken for certain.
* :func:`systematic_sample`: exactly ``m`` items with those probabilities (systematic sampling
  over a random order, so that the draw is spread over the whole population).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["inclusion_probabilities", "systematic_sample"]


def inclusion_probabilities(scores: npt.ArrayLike, m: int) -> npt.NDArray[np.float64]:
    """(n,) inclusion probabilities in (0, 1] proportional to ``scores``, summing to ``m``.

    Args:
        scores: (n,) positive weights (e.g. the expected loss of an item's exported label plus a
            floor, so every item can be picked).
        m: sample size, 0 ≤ m ≤ n.

    Raises:
        ValueError: a score is not finite and positive, or ``m`` is out of range.
    """
    s = np.asarray(scores, dtype=np.float64)
    n = len(s)
    if not 0 <= m <= n:
        raise ValueError(f"sample size {m} is outside [0, {n}]")
    if n and (not np.isfinite(s).all() or (s <= 0).any()):
        raise ValueError("scores must be finite and positive")
    pi = np.zeros(n, dtype=np.float64)
    if m == 0:
        return pi
    certain = np.zeros(n, dtype=np.bool_)
    # Items whose proportional share reaches 1 are certain; the rest share what is left. Each
    # pass moves at least one item to the certain set, so this ends within n passes.
    while True:
        rest = ~certain
        left = m - int(certain.sum())
        lam = left / s[rest].sum() if left > 0 else 0.0
        newly = rest & (lam * s >= 1.0)
        if not newly.any():
            break
        certain |= newly
    pi[certain] = 1.0
    pi[~certain] = lam * s[~certain]
    return np.minimum(pi, 1.0)


def systematic_sample(pi: npt.ArrayLike, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """Sorted indices of a systematic sample whose item ``i`` is included with probability ``π_i``.

    ``Σ π`` must be (close to) an integer ``m``; exactly ``m`` items are returned. The items are
    laid out in a random order, the cumulative ``π`` cut at ``u, u + 1, …, u + m − 1`` with one
    uniform ``u``: each item's chance of holding a cut is its ``π``.
    """
    p = np.asarray(pi, dtype=np.float64)
    m = round(float(p.sum()))
    if m == 0:
        return np.zeros(0, dtype=np.int64)
    order = rng.permutation(len(p))
    edges = np.concatenate([[0.0], np.cumsum(p[order])])
    edges[-1] = m  # rounding: the last edge must hold the last cut
    cuts = rng.uniform() + np.arange(m)
    # Cut c falls into item j when edges[j] <= c < edges[j+1]; π ≤ 1 keeps one cut per item.
    holders = np.searchsorted(edges, cuts, side="right") - 1
    return np.sort(order[holders]).astype(np.int64)
