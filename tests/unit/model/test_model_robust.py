"""Kim's robust update: the delivered labels the model contradicts lose their weight."""

from __future__ import annotations

import numpy as np
import torch

from orchestrator.model import fit_label_model
from orchestrator.model.dpm import robust_weights
from tests.unit.model.test_model_dpm import FAST, _easy


def test_weights_are_the_probability_ratio_with_a_floor_and_one_on_verified_items() -> None:
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.7, 0.2, 0.1], [0.98, 0.01, 0.01], [0.1, 0.8, 0.1]])
    noisy = torch.tensor([0, 1, 2, 0])
    observed = torch.tensor([-1, -1, -1, 1])
    w = robust_weights(probs, noisy, observed, floor=0.05)
    np.testing.assert_allclose(w.numpy(), [1.0, 0.2 / 0.7, 0.05, 1.0], rtol=1e-6)


def test_robust_weights_shrink_for_flipped_items() -> None:
    data = _easy(noise=0.3, seed=1)
    n = data.n_items
    config = FAST.model_copy(update={"robust_update": True, "beta": 0.1})
    out = fit_label_model(
        data,
        observed=np.full(n, -1, dtype=np.int64),
        validation=np.zeros(n, dtype=bool),
        config=config,
        seed=0,
    )
    assert out.label_weights is not None and out.label_weights.shape == (n,)
    flipped = data.noisy_labels != data.gold
    assert flipped.sum() > 50
    # Flipped labels end near the floor, clean ones near full weight.
    assert out.label_weights[flipped].mean() < 0.3
    assert out.label_weights[~flipped].mean() > 0.9
    assert 0.2 < float(out.info["robust_share_shrunk"]) < 0.4  # type: ignore[arg-type]


def test_without_the_option_there_are_no_weights() -> None:
    data = _easy(n_per=40)
    n = data.n_items
    out = fit_label_model(
        data,
        observed=np.full(n, -1, dtype=np.int64),
        validation=np.zeros(n, dtype=bool),
        config=FAST.model_copy(update={"beta": 0.1, "epochs": 3}),
        seed=0,
    )
    assert out.label_weights is None and "robust_mean_weight" not in out.info
