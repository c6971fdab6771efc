"""Fixed-size sampling with known inclusion probabilities: sizes, certainty, frequencies."""

from __future__ import annotations

import numpy as np
import pytest

from orchestrator.sampling.inclusion import inclusion_probabilities, systematic_sample


def test_probabilities_sum_to_the_sample_size_and_follow_the_scores() -> None:
    scores = np.array([1.0, 2.0, 3.0, 4.0])
    pi = inclusion_probabilities(scores, 2)
    assert pi.sum() == pytest.approx(2.0)
    assert np.allclose(pi, scores / scores.sum() * 2)


def test_large_scores_become_certain() -> None:
    scores = np.array([100.0, 1.0, 1.0, 1.0, 1.0])
    pi = inclusion_probabilities(scores, 2)
    assert pi[0] == 1.0
    assert np.allclose(pi[1:], 0.25) and pi.sum() == pytest.approx(2.0)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        inclusion_probabilities(np.ones(3), 4)
    with pytest.raises(ValueError, match="positive"):
        inclusion_probabilities(np.array([1.0, 0.0]), 1)
    assert inclusion_probabilities(np.ones(3), 0).sum() == 0


def test_systematic_sample_has_the_size_and_the_inclusion_frequencies() -> None:
    rng = np.random.default_rng(0)
    scores = rng.gamma(0.5, size=40) + 0.01
    pi = inclusion_probabilities(scores, 7)
    hits = np.zeros(40)
    draws = 20_000
    for _ in range(draws):
        picked = systematic_sample(pi, rng)
        assert len(picked) == 7 and len(np.unique(picked)) == 7
        hits[picked] += 1
    # Each item's empirical frequency is its π (binomial standard error ≤ 0.0036).
    assert np.abs(hits / draws - pi).max() < 0.015
