"""The DPM: output contract, learning on an easy problem, β search, seeding, no gold."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from orchestrator.data.dataset import FeatureKind, LabeledData
from orchestrator.model import ModelConfig, fit_label_model
from orchestrator.model.dpm import choose_beta, choose_beta_heldout, heldout_rows, search_order

FAST = ModelConfig(
    latent_dim=4,
    hidden=(32,),
    epochs=40,
    search_epochs=6,
    patience=8,
    batch_size=64,
    torch_threads=1,
    device="cpu",
    beta_grid=(0.0, 0.1, 1.0),
)


def _easy(n_per: int = 150, k: int = 3, noise: float = 0.3, seed: int = 0) -> LabeledData:
    rng = np.random.default_rng(seed)
    gold = np.repeat(np.arange(k), n_per)
    centers = rng.normal(0, 1, (k, 8)) * 4
    x = (centers[gold] + rng.normal(0, 1, (len(gold), 8))).astype(np.float32)
    flip = rng.random(len(gold)) < noise
    noisy = np.where(flip, (gold + rng.integers(1, k, len(gold))) % k, gold)
    return LabeledData(
        ids=np.array([f"i{i}" for i in range(len(gold))]),
        features=x,
        feature_kind=FeatureKind.CONTINUOUS,
        noisy_labels=noisy.astype(np.int64),
        classes=tuple(f"c{j}" for j in range(k)),
        gold=gold.astype(np.int64),
        validation=np.zeros(len(gold), dtype=bool),
        name="easy",
    )


def _val(data: LabeledData, per_class: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    val = np.zeros(data.n_items, dtype=bool)
    for c in range(data.n_classes):
        val[rng.choice(np.flatnonzero(data.noisy_labels == c), per_class, replace=False)] = True
    observed = np.where(val, data.gold, -1).astype(np.int64)
    return observed, val


@pytest.fixture(scope="module")
def easy_fit() -> tuple[LabeledData, np.ndarray, np.ndarray, object]:
    data = _easy()
    observed, val = _val(data)
    out = fit_label_model(data, observed=observed, validation=val, config=FAST, seed=0)
    return data, observed, val, out


def test_output_contract(easy_fit: tuple) -> None:
    data, _, _, out = easy_fit
    assert out.posterior.shape == (data.n_items, 3) and out.posterior.dtype == np.float64
    assert np.allclose(out.posterior.sum(1), 1.0) and (out.posterior >= 0).all()
    assert out.latent.dtype == np.float32 and out.latent.shape[0] == data.n_items
    assert out.latent.shape[1] == FAST.latent_dim + 3  # z mean + class part (default)
    assert np.isfinite(out.latent).all()


def test_beats_noisy_labels_on_easy_problem(easy_fit: tuple) -> None:
    data, _, _, out = easy_fit
    assert data.label_accuracy() < 0.75
    assert data.label_accuracy(out.predicted) > 0.9


def test_beta_search_returns_validation_best(easy_fit: tuple) -> None:
    _, _, val, out = easy_fit
    scores = out.info["beta_scores"]
    assert set(scores) == set(FAST.beta_grid)
    # Walk the search order (the fallback first): a value takes over only with at least
    # beta_switch_items more validation items right; the NLL never decides.
    n_val = int(val.sum())
    incumbent = None
    for b in search_order(FAST.beta_grid, FAST.fallback_beta):
        right = round(scores[b][0] * n_val)
        if incumbent is None or right >= incumbent[1] + FAST.beta_switch_items:
            incumbent = (b, right)
    assert incumbent is not None and out.beta == incumbent[0]


def test_beta_search_needs_two_more_items_to_leave_the_incumbent() -> None:
    order = [0.1, 1e-4, 1.0]
    # 14 validation items: 1.0 gets one more right (11 vs 10) — chance, the fallback stays.
    one_up = {0.1: (10 / 14, -0.6), 1e-4: (10 / 14, -0.1), 1.0: (11 / 14, -0.7)}
    assert choose_beta(order, one_up, 14, switch_items=2) == 0.1
    assert choose_beta(order, one_up, 14, switch_items=1) == 1.0
    # Two more right: a real lead. The better NLL of 1e-4 at equal accuracy never counts.
    two_up = {**one_up, 1.0: (12 / 14, -0.9)}
    assert choose_beta(order, two_up, 14, switch_items=2) == 1.0
    # A later value must beat the current incumbent, not the first one.
    chain = {0.1: (10 / 20, 0.0), 1e-4: (12 / 20, 0.0), 1.0: (13 / 20, 0.0)}
    assert choose_beta(order, chain, 20, switch_items=2) == 1e-4


def test_beta_search_order_starts_from_the_fallback() -> None:
    assert search_order((1e-4, 1e-2, 0.1, 1.0), 0.1) == [0.1, 1e-4, 1e-2, 1.0]
    # A fallback outside the grid is not searched; the grid keeps its order.
    assert search_order((0.01, 1.0), 0.1) == [0.01, 1.0]


def test_seeded_fit_is_reproducible_and_ignores_gold() -> None:
    data = _easy(n_per=60)
    observed, val = _val(data, per_class=5)
    cfg = FAST.model_copy(update={"beta": 0.1, "epochs": 5})
    a = fit_label_model(data, observed=observed, validation=val, config=cfg, seed=3)
    b = fit_label_model(data, observed=observed, validation=val, config=cfg, seed=3)
    assert np.array_equal(a.posterior, b.posterior) and np.array_equal(a.latent, b.latent)
    # Gold is evaluation-only: scrambling it changes nothing.
    scrambled = replace(data, gold=np.full(data.n_items, -1, dtype=np.int64))
    c = fit_label_model(scrambled, observed=observed, validation=val, config=cfg, seed=3)
    assert np.array_equal(a.posterior, c.posterior)
    d = fit_label_model(data, observed=observed, validation=val, config=cfg, seed=4)
    assert not np.array_equal(a.posterior, d.posterior)


@pytest.mark.parametrize("kind", [FeatureKind.PIXELS, FeatureKind.COUNTS])
def test_other_likelihoods_run(kind: FeatureKind) -> None:
    data = _easy(n_per=40)
    rng = np.random.default_rng(0)
    if kind == FeatureKind.PIXELS:
        feats = 1 / (1 + np.exp(-data.features))
    else:
        feats = rng.poisson(np.exp(data.features / 4)).astype(np.float32)
    data = replace(data, features=feats.astype(np.float32), feature_kind=kind)
    observed, val = _val(data, per_class=4)
    observed[np.flatnonzero(~val)[:10]] = data.gold[np.flatnonzero(~val)[:10]]  # supervised
    cfg = FAST.model_copy(update={"beta": 1.0, "epochs": 3, "latent_class_weight": 0.0})
    out = fit_label_model(data, observed=observed, validation=val, config=cfg, seed=0)
    assert np.allclose(out.posterior.sum(1), 1.0)
    assert out.latent.shape == (data.n_items, cfg.latent_dim)


def test_rejects_validation_outside_observed() -> None:
    data = _easy(n_per=10)
    val = np.zeros(data.n_items, dtype=bool)
    val[0] = True
    with pytest.raises(ValueError, match="validation"):
        fit_label_model(data, observed=np.full(data.n_items, -1), validation=val, config=FAST)


def test_a_fit_given_the_searched_beta_does_not_search_again() -> None:
    """The round runner passes the first model round's β back as ``beta``: no second search."""
    data = _easy(n_per=30)
    observed, val = _val(data, per_class=4)
    cfg = FAST.model_copy(update={"epochs": 2, "search_epochs": 2})
    first = fit_label_model(data, observed=observed, validation=val, config=cfg, seed=0)
    assert first.info["beta_scores"]
    again = cfg.model_copy(update={"beta": first.beta})
    second = fit_label_model(data, observed=observed, validation=val, config=again, seed=1)
    assert second.info["beta_scores"] == {} and second.beta == first.beta


@pytest.mark.slow
def test_digits_random_noise_recovered() -> None:
    from orchestrator.data.builtin import load_builtin
    from orchestrator.data.noise import inject_noise

    rng = np.random.default_rng(0)
    data = inject_noise(load_builtin("digits"), rate=0.2, kind="random", rng=rng)
    observed, val = _val(data, per_class=4)
    out = fit_label_model(
        data, observed=observed, validation=val, config=ModelConfig(torch_threads=1), seed=0
    )
    assert data.label_accuracy(out.predicted) > 0.93


def test_flat_validation_accuracy_does_not_stop_training() -> None:
    # Well-separated clusters: the validation items are all right after an epoch or two and
    # stay right. Equal accuracy is not "worse", so the fit keeps training to its last epoch
    # (an NLL tie-break stopped such fits after `patience` epochs, under-trained).
    data = _easy(n_per=60, noise=0.1)
    observed, val = _val(data, per_class=4)
    cfg = FAST.model_copy(update={"beta": 0.1, "epochs": 25, "patience": 2})
    out = fit_label_model(data, observed=observed, validation=val, config=cfg, seed=0)
    assert out.info["val_accuracy"] == 1.0
    assert out.info["epochs_run"] == 25 and out.info["epochs"] == 25


def test_heldout_rows_are_stratified_and_seeded() -> None:
    noisy = np.repeat(np.arange(3), [50, 30, 1]).astype(np.int64)
    rows = heldout_rows(noisy, 0.2, seed=3)
    assert np.array_equal(rows, heldout_rows(noisy, 0.2, seed=3))
    counts = np.bincount(noisy[rows], minlength=3)
    assert counts.tolist() == [10, 6, 0]  # a one-item class keeps its only label


def test_crowd_free_search_scores_heldout_labels_and_rejects_a_useless_beta() -> None:
    # With no crowd label, each β is scored on delivered labels it did not train on; an
    # untrained network (the state before the first epoch) would score about log(1/K).
    data = _easy(n_per=80, noise=0.2)
    n = data.n_items
    cfg = FAST.model_copy(update={"beta_grid": (0.1, 1.0), "fallback_beta": 0.1, "epochs": 10})
    out = fit_label_model(
        data,
        observed=np.full(n, -1, dtype=np.int64),
        validation=np.zeros(n, dtype=bool),
        config=cfg,
        seed=0,
    )
    info = out.info
    assert info["beta_criterion"] == "heldout_noisy_label_loglik"
    held = info["beta_heldout"]
    assert isinstance(held, dict)
    assert held["n_heldout"] == len(heldout_rows(data.noisy_labels, 0.2, seed=0))
    table = held["table"]
    assert set(table) == {"0.1", "1"}
    # A trained model predicts the held-out delivered labels better than chance (the best
    # possible at 20 % noise over 3 classes is 0.8 ln 0.8 + 0.2 ln 0.1 = -0.64 nats).
    assert table["0.1"]["heldout_loglik"] > np.log(1 / 3) + 0.15
    assert out.beta in (0.1, 1.0)


def test_choose_beta_heldout_needs_a_significant_paired_gain() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(-1.0, 0.5, 400)
    small = base + rng.normal(0.01, 0.2, 400)  # +0.01 nats, SE 0.01: not evidence
    large = base + rng.normal(0.10, 0.2, 400)  # +0.10 nats, SE 0.01: evidence
    keep = choose_beta_heldout([0.1, 1.0], {0.1: base, 1.0: small}, switch_se=2.0)
    assert keep.beta == 0.1 and keep.n_heldout == 400
    move = choose_beta_heldout([0.1, 1.0], {0.1: base, 1.0: large}, switch_se=2.0)
    assert move.beta == 1.0
    assert move.table[1.0]["diff"] > 2 * move.table[1.0]["se"] > 0
    # A worse candidate never wins, however small its SE.
    worse = choose_beta_heldout([0.1, 1.0], {0.1: base, 1.0: base - 0.5}, switch_se=0.0)
    assert worse.beta == 0.1


def test_stored_configs_with_a_retired_key_still_load_but_unknown_keys_fail() -> None:
    # Campaigns stored before min_delta was deleted carry the key; they must still load.
    assert ModelConfig.model_validate({"min_delta": 0.001, "epochs": 3}).epochs == 3
    assert "min_delta" not in ModelConfig.model_fields
    with pytest.raises(ValueError, match="epoch"):
        ModelConfig.model_validate({"epoch": 3})  # a typo is still refused
