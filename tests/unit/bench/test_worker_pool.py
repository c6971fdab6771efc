"""The benchmark's simulated crowd: Beta(17, 3) accuracies, spammers, rating-sign votes."""

from __future__ import annotations

import numpy as np

from orchestrator.bench.crowd import worker_pool
from orchestrator.simulator import SimulatorConfig
from orchestrator.simulator.workers import make_pool, true_label


def test_beta_pool_has_mean_accuracy_085_and_ten_percent_spammers() -> None:
    cfg = SimulatorConfig(seed=3, workers=worker_pool("beta", n_workers=2000))
    pool = make_pool(cfg)
    honest = np.array([w.accuracy for w in pool if w.kind == "diligent"])
    spammers = sum(w.kind == "spammer" for w in pool)
    assert abs(honest.mean() - 17 / 20) < 0.01
    assert abs(honest.std() - np.sqrt(17 * 3 / (20**2 * 21))) < 0.01  # Beta(17, 3) spread
    assert abs(spammers / len(pool) - 0.10) < 0.02
    # spammers pass the default 95 % approval qualification, so they really answer
    assert all(w.approval_rate >= 95 for w in pool)
    assert make_pool(cfg) == pool  # seeded


def test_rating_votes_are_the_sign_of_a_real_rating_and_zero_is_a_coin_flip() -> None:
    cfg = SimulatorConfig(
        rating_distributions={"a": [3.0], "b": [-2.0], "z": [0.0]},
        rating_labels=("negative", "positive"),
        rating_ties="coin",
    )
    rng = np.random.default_rng(0)
    opts = ["positive", "negative"]
    assert true_label(cfg, "a", opts, "negative", rng) == "positive"
    assert true_label(cfg, "b", opts, "positive", rng) == "negative"
    zeros = [true_label(cfg, "z", opts, "positive", rng) for _ in range(400)]
    assert 0.4 < zeros.count("positive") / 400 < 0.6
    low = cfg.model_copy(update={"rating_ties": "low"})
    assert true_label(low, "z", opts, "positive", rng) == "negative"  # the old behaviour
