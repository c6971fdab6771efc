"""Wilson score interval used by the quality-target stop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aggregation.proportions import wilson_interval


def test_known_values() -> None:
    # textbook example: 8 of 10 → (0.4902, 0.9433) at 95 %
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4)
    assert hi == pytest.approx(0.9433, abs=1e-4)
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and hi == pytest.approx(0.1611, abs=1e-4)
    lo, hi = wilson_interval(20, 20)
    assert hi == 1.0 and lo == pytest.approx(0.8389, abs=1e-4)


def test_no_data_is_the_whole_range_and_bad_counts_are_refused() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="k must be in"):
        wilson_interval(5, 4)
    with pytest.raises(ValueError, match="k must be in"):
        wilson_interval(-1, 4)


def test_coverage_close_to_nominal() -> None:
    """Simulated: the interval covers the true share in about 95 % of draws."""
    rng = np.random.default_rng(0)
    p, n, trials = 0.8, 40, 4000
    ks = rng.binomial(n, p, size=trials)
    covered = sum(lo <= p <= hi for lo, hi in (wilson_interval(int(k), n) for k in ks))
    # Wilson coverage oscillates around the nominal level with n and p (discreteness)
    assert 0.91 <= covered / trials <= 0.985
    # narrower with more data
    w1 = np.subtract(*wilson_interval(32, 40)[::-1])
    w2 = np.subtract(*wilson_interval(320, 400)[::-1])
    assert w2 < w1 / math.sqrt(5)
