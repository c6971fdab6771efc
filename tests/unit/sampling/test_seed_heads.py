"""The linear head's influence (CHEF) and counter-examples (CINCER): their defining properties."""

from __future__ import annotations

import numpy as np

from orchestrator.sampling.counter_examples import counter_examples, incompatibility
from orchestrator.sampling.influence import label_influence
from orchestrator.sampling.linear_head import _softmax, fit_linear_head


def _blobs(seed: int = 0, n_per: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gold = np.repeat(np.arange(3), n_per)
    centers = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    x = centers[gold] + rng.normal(0, 1.0, (len(gold), 2))
    noisy = gold.copy()
    flipped = rng.choice(len(gold), 18, replace=False)
    noisy[flipped] = (gold[flipped] + 1) % 3
    return x, noisy, gold


def _evidence_loss(x: np.ndarray, labels: np.ndarray, ev: np.ndarray, ev_y: np.ndarray) -> float:
    head = fit_linear_head(x, labels, 3, l2=1e-2)
    p = head.proba(head.features(x[ev]))
    return float(-np.log(p[np.arange(len(ev)), ev_y]).sum())


def test_head_fit_reaches_the_penalised_optimum_and_warm_starts() -> None:
    x, noisy, _ = _blobs()
    head = fit_linear_head(x, noisy, 3, l2=1e-2)
    phi = head.features(x)
    p = _softmax(phi @ head.weights.T)
    onehot = np.eye(3)[noisy]
    grad = (p - onehot).T @ phi / len(noisy) + 1e-2 * head.weights
    assert np.abs(grad).max() < 1e-6
    again = fit_linear_head(x, noisy, 3, l2=1e-2, init=head)
    assert again.iterations == 0  # already at the optimum
    np.testing.assert_allclose(again.weights, head.weights, atol=1e-6)


def test_head_fit_converges_on_nearly_separable_latents() -> None:
    # The DPM's latents carry its class posterior as columns: nearly separable classes. An
    # undamped Newton step overshoots there and never converged (30 of 30 steps on digits).
    rng = np.random.default_rng(7)
    y = rng.integers(0, 10, 1500)
    x = np.hstack([rng.normal(0, 1, (1500, 16)), 12.0 * np.eye(10)[y]])
    noisy = y.copy()
    noisy[:300] = (y[:300] + 1) % 10
    head = fit_linear_head(x, noisy, 10, l2=1e-2)
    phi = head.features(x)
    grad = (head.proba(phi) - np.eye(10)[noisy]).T @ phi / len(y) + 1e-2 * head.weights
    assert np.abs(grad).max() < 1e-6 and head.iterations < 50


def test_influence_sign_matches_retraining_on_a_constructed_example() -> None:
    # Evidence: clean items of every class. A flipped training item's change back to its true
    # class must be predicted to lower the evidence loss, and retraining must agree.
    x, noisy, gold = _blobs(seed=1)
    rng = np.random.default_rng(5)
    clean = np.flatnonzero(noisy == gold)
    ev = np.sort(rng.choice(clean, 30, replace=False))
    ranking = label_influence(x, noisy, 3, ev, gold[ev])
    base = _evidence_loss(x, noisy, ev, gold[ev])
    flipped = np.flatnonzero(noisy != gold)
    checked = 0
    for i in flipped[:6]:
        assert ranking.delta[i, gold[i]] < 0  # predicted: fixing the label helps
        fixed = noisy.copy()
        fixed[i] = gold[i]
        assert _evidence_loss(x, fixed, ev, gold[ev]) < base  # and it does
        checked += 1
    assert checked == 6
    # The delivered label's own entry is zero, and the flipped items rank high.
    assert np.allclose(ranking.delta[np.arange(len(noisy)), noisy], 0)
    top = np.argsort(-ranking.score)[: len(flipped)]
    assert len(set(top.tolist()) & set(flipped.tolist())) >= len(flipped) // 2
    assert (ranking.suggested[flipped] == gold[flipped]).mean() >= 0.7


def test_influence_matches_its_explicit_gradient_formula() -> None:
    x, noisy, gold = _blobs(seed=2, n_per=20)
    ev = np.arange(0, len(noisy), 7)
    ranking = label_influence(x, noisy, 3, ev, gold[ev])
    head = ranking.head
    phi = head.features(x)
    g_ev = sum(head.label_gradient(phi[e], int(gold[e])) for e in ev)
    u = head.solve(g_ev)
    i, c = 5, (noisy[5] + 1) % 3
    explicit = -float(
        np.sum(u * (head.label_gradient(phi[i], c) - head.label_gradient(phi[i], noisy[i])))
    ) / len(noisy)
    assert np.isclose(ranking.delta[i, c], explicit, rtol=1e-8, atol=1e-12)


def test_counter_example_is_the_argmax_of_the_fisher_incompatibility() -> None:
    x, noisy, gold = _blobs(seed=3)
    head = fit_linear_head(x, noisy, 3, l2=1e-2)
    phi = head.features(x)
    s = int(np.flatnonzero(noisy != gold)[0])
    # Brute force: -g_s^T F^-1 g_k with explicit gradient matrices and the explicit inverse.
    f_inv = np.linalg.inv(_dense_hessian(head, phi))
    g_s = head.label_gradient(phi[s], int(noisy[s])).ravel()
    brute = np.array(
        [-g_s @ f_inv @ head.label_gradient(phi[k], int(noisy[k])).ravel() for k in range(len(x))]
    )
    np.testing.assert_allclose(incompatibility(head, phi, noisy, s), brute, rtol=1e-6, atol=1e-9)
    cand = np.ones(len(x), dtype=bool)
    chosen = counter_examples(x, noisy, 3, np.array([s]), cand, head=head)
    brute[s] = -np.inf
    assert chosen[0] == int(np.argmax(brute))
    # It supports the class the model believes, against the suspicious label.
    assert noisy[chosen[0]] != noisy[s]


def test_counter_examples_do_not_repeat_and_respect_candidates() -> None:
    x, noisy, gold = _blobs(seed=4)
    sus = np.flatnonzero(noisy != gold)[:5]
    cand = np.ones(len(x), dtype=bool)
    cand[:30] = False
    out = counter_examples(x, noisy, 3, sus, cand)
    assert len(set(out.tolist())) == 5 and (out >= 30).all()
    assert not set(out.tolist()) & set(sus.tolist())


def _dense_hessian(head, phi):  # type: ignore[no-untyped-def]
    from orchestrator.sampling.linear_head import _hessian

    p = head.proba(phi)
    return _hessian(phi, p, np.ones(len(phi)), 1e-2)
