"""Confidence bounds of a proportion: the one Wilson score interval every rule uses (gold
scoring of workers, the label-accuracy estimate, regional propagation's one-sided bound)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

#: Two-sided 95 % normal quantile.
Z_95 = 1.959963984540054
#: One-sided 95 % normal quantile (a lower bound alone).
Z_ONE_SIDED_95 = 1.6448536269514722


def wilson_bounds(
    k: npt.ArrayLike, n: npt.ArrayLike, z: float = Z_95
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Wilson score interval of ``k`` successes in ``n`` trials, elementwise, in [0, 1].

    ``k`` and ``n`` broadcast together; where ``n == 0`` the interval is the whole range
    ``(0, 1)`` (no information). ``z`` is the normal quantile: :data:`Z_95` for a two-sided
    95 % interval, :data:`Z_ONE_SIDED_95` when only one end is used.
    """
    k_arr = np.asarray(k, dtype=np.float64)
    n_arr = np.asarray(n, dtype=np.float64)
    if np.any((k_arr < 0) | (k_arr > n_arr)):
        raise ValueError(f"k must be in [0, n], got k={k!r}, n={n!r}")
    safe_n = np.maximum(n_arr, 1.0)
    p = k_arr / safe_n
    denom = 1.0 + z * z / safe_n
    centre = (p + z * z / (2.0 * safe_n)) / denom
    half = z * np.sqrt(p * (1.0 - p) / safe_n + z * z / (4.0 * safe_n * safe_n)) / denom
    empty = n_arr <= 0
    low = np.where(empty, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(empty, 1.0, np.clip(centre + half, 0.0, 1.0))
    return low, high


def wilson_interval(k: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """:func:`wilson_bounds` of one count, as floats."""
    low, high = wilson_bounds(k, n, z)
    return float(low), float(high)


def wilson_lower(k: int, n: int, z: float = Z_ONE_SIDED_95) -> float:
    """One-sided Wilson lower bound of ``k / n`` (0 when ``n = 0``)."""
    return wilson_interval(k, n, z)[0]


__all__ = ["Z_95", "Z_ONE_SIDED_95", "wilson_bounds", "wilson_interval", "wilson_lower"]
