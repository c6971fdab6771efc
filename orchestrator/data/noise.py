"""Seeded label-noise injection, to create realistic dirty datasets from clean ones.

* ``random``: a uniformly chosen ``rate`` share of the items get a uniformly chosen *other*
  class (symmetric flips).
* ``structural``: regional and consensual noise, the kind annotators really make. The feature
  space is cut into small regions (k-means, about 40 items each); regions are visited in a
  seeded random order and, in each, every item of the region's majority class is relabelled to
  one *common* wrong class: the other class whose centroid is nearest to the region's centroid
  (the most confusable one). Whole neighbourhoods therefore carry the same plausible wrong
  label, which a model fitted to the noisy labels tends to believe. The last region visited is
  flipped partially so that exactly ``round(rate · n)`` labels change.

Only ``noisy_labels`` changes; ``gold`` keeps the clean labels for evaluation.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from orchestrator.data.dataset import LabeledData

NoiseKind = Literal["random", "structural"]
NOISE_KINDS: tuple[str, ...] = ("random", "structural")


def inject_noise(
    data: LabeledData,
    *,
    rate: float,
    kind: NoiseKind = "random",
    rng: np.random.Generator,
) -> LabeledData:
    """A copy of ``data`` with ``round(rate · n)`` of its labels made wrong.

    The flips start from ``data.noisy_labels``; items already disagreeing with gold are not
    chosen again. Raises ``ValueError`` for a rate outside [0, 1) or an unknown kind.
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"noise rate must be in [0, 1), got {rate}")
    if data.n_classes < 2:
        raise ValueError("noise needs at least two classes")
    labels = data.noisy_labels.copy()
    n_flip = round(rate * data.n_items)
    if n_flip == 0:
        return data.with_noisy_labels(labels)
    if kind == "random":
        flipped = _random_flips(labels, data.n_classes, n_flip, rng)
    elif kind == "structural":
        flipped = _structural_flips(data.features, labels, data.n_classes, n_flip, rng)
    else:
        raise ValueError(f"unknown noise kind {kind!r}; choose one of {NOISE_KINDS}")
    return data.with_noisy_labels(flipped)


def _random_flips(
    labels: npt.NDArray[np.int64], k: int, n_flip: int, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    out = labels.copy()
    idx = rng.choice(len(labels), size=n_flip, replace=False)
    # An offset in 1..k-1 added modulo k always lands on another class, uniformly.
    offsets = rng.integers(1, k, size=n_flip)
    out[idx] = (labels[idx] + offsets) % k
    return out


def _structural_flips(
    features: npt.NDArray[np.float32],
    labels: npt.NDArray[np.int64],
    k: int,
    n_flip: int,
    rng: np.random.Generator,
) -> npt.NDArray[np.int64]:
    from sklearn.cluster import KMeans

    n = len(labels)
    n_regions = max(2, n // 40)
    seed = int(rng.integers(0, 2**31 - 1))
    regions = KMeans(n_clusters=n_regions, n_init=1, random_state=seed).fit_predict(features)
    class_centroids = np.stack(
        [
            features[labels == c].mean(axis=0)
            if (labels == c).any()
            else np.full(features.shape[1], np.inf, dtype=np.float32)
            for c in range(k)
        ]
    )
    out = labels.copy()
    remaining = n_flip
    for r in rng.permutation(n_regions):
        if remaining == 0:
            break
        members = np.flatnonzero(regions == r)
        if members.size == 0:
            continue
        majority = int(np.bincount(labels[members], minlength=k).argmax())
        centroid = features[members].mean(axis=0)
        dist = np.linalg.norm(class_centroids - centroid, axis=1)
        dist[majority] = np.inf
        wrong = int(dist.argmin())
        if not np.isfinite(dist[wrong]):
            continue
        targets = members[labels[members] == majority]
        targets = targets[: min(remaining, targets.size)]
        out[targets] = wrong
        remaining -= targets.size
    if remaining > 0:  # pathological tiny inputs: fall back to random flips for the rest
        untouched = np.flatnonzero(out == labels)
        extra = rng.choice(untouched, size=remaining, replace=False)
        out[extra] = (labels[extra] + rng.integers(1, k, size=remaining)) % k
    assert (out != labels).sum() == n_flip or n == 0
    return out
