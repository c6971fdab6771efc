"""Dawid–Skene specifics: gold clamping, prior confusion matrices, fitted attributes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import aggregation as ag
from tests.unit.aggregation.aggsim import accuracy, simulate


def test_fitted_attributes_have_documented_shapes() -> None:
    frame, truth = simulate(300, 20, 3, 3, seed=4)
    ds = ag.DawidSkene().fit(frame)
    k, w = 3, frame["worker"].nunique()
    assert ds.probas_.shape == (300, k) and ds.probas_.index.name == "task"
    assert list(ds.classes_) == [0, 1, 2]
    assert ds.errors_.shape == (w * k, k)
    assert ds.errors_.index.names == ["worker", "label"]
    # every worker's columns (true classes) are distributions over the given label
    col_sums = ds.errors_.groupby(level="worker").sum().to_numpy()
    np.testing.assert_allclose(col_sums, 1.0, atol=1e-9)
    assert ds.priors_.sum() == pytest.approx(1.0)
    assert 1 <= ds.n_iter_ <= 100 and len(ds.loss_history_) == ds.n_iter_
    assert accuracy(ds.labels_, truth) > 0.85


def test_elbo_never_decreases_much() -> None:
    frame, _ = simulate(400, 30, 4, 3, seed=8)
    ds = ag.DawidSkene(40, -np.inf).fit(frame)
    assert ds.n_iter_ == 40
    assert np.all(np.diff(ds.loss_history_) >= -1e-9)


def test_spammers_get_lower_skill() -> None:
    frame, _ = simulate(1000, 20, 2, 5, spammer_frac=0.2, seed=9)
    ds = ag.DawidSkene().fit(frame)
    spam = ds.skills_[[f"w{i}" for i in range(4)]]
    honest = ds.skills_.drop(spam.index)
    assert spam.max() < honest.min()
    oc = ag.OneCoinDawidSkene().fit(frame)
    assert oc.skills_[spam.index].max() < oc.skills_.drop(spam.index).min()


def test_gold_labels_are_clamped_and_help() -> None:
    # A pool where the majority is systematically wrong on class 1: gold tells DS so.
    rng = np.random.default_rng(0)
    n = 400
    truth = pd.Series(rng.integers(0, 2, n))
    rows = []
    for t in range(n):
        for w in range(3):
            # workers 0-2 answer 0 for class 1 with prob .7 (confused), else correct
            ans = 0 if truth[t] == 1 and rng.random() < 0.7 else truth[t]
            rows.append((t, f"w{w}", int(ans)))
    frame = pd.DataFrame(rows, columns=["task", "worker", "label"])
    gold = truth.iloc[:100]
    plain = ag.DawidSkene().fit(frame)
    with_gold = ag.DawidSkene().fit(frame, true_labels=gold)
    assert (with_gold.labels_[gold.index] == gold).all()
    np.testing.assert_array_equal(with_gold.probas_.loc[gold.index].max(axis=1), 1.0)
    rest = truth.index[100:]
    assert accuracy(with_gold.labels_[rest], truth) >= accuracy(plain.labels_[rest], truth)


def _error_frame(worker: str, mat: list[list[float]], classes: list[object]) -> pd.DataFrame:
    index = pd.MultiIndex.from_product([[worker], classes], names=["worker", "label"])
    return pd.DataFrame(mat, index=index, columns=classes)


def test_initial_errors_assign_sets_the_starting_point() -> None:
    # Two workers always disagree; majority vote cannot decide, the assigned matrices can.
    rows = [(t, "good", t % 2) for t in range(10)] + [(t, "bad", 1 - t % 2) for t in range(10)]
    frame = pd.DataFrame(rows, columns=["task", "worker", "label"])
    prior = pd.concat(
        [
            _error_frame("good", [[0.9, 0.1], [0.1, 0.9]], [0, 1]),
            _error_frame("bad", [[0.1, 0.9], [0.9, 0.1]], [0, 1]),
        ]
    )
    ds = ag.DawidSkene(initial_errors_strategy="assign").fit(frame, initial_errors=prior)
    assert ds.labels_.to_dict() == {t: t % 2 for t in range(10)}
    flipped = prior.rename(index={"good": "bad", "bad": "good"}, level="worker")  # swap roles
    ds2 = ag.DawidSkene(initial_errors_strategy="assign").fit(frame, initial_errors=flipped)
    assert ds2.labels_.to_dict() == {t: 1 - t % 2 for t in range(10)}


@pytest.mark.parametrize("strategy", ["addition", "prior"])
def test_initial_error_counts_steer_em(strategy: str) -> None:
    rows = [(t, "good", t % 2) for t in range(10)] + [(t, "bad", 1 - t % 2) for t in range(10)]
    frame = pd.DataFrame(rows, columns=["task", "worker", "label"])
    history = _error_frame("good", [[50, 1], [1, 50]], [0, 1])  # counts from past campaigns
    ds = ag.DawidSkene(initial_errors_strategy=strategy).fit(  # type: ignore[arg-type]
        frame, initial_errors=history
    )
    assert ds.labels_.to_dict() == {t: t % 2 for t in range(10)}
    if strategy == "prior":  # the prior keeps pulling, so 'good' stays trusted
        assert ds.errors_.loc[("good", 0), 0] > 0.8


def test_initial_errors_validation() -> None:
    frame = pd.DataFrame({"task": [1, 1], "worker": ["a", "b"], "label": ["x", "y"]})
    with pytest.raises(ValueError, match=r"label\(s\) \['z'\]"):
        stranger = pd.DataFrame(
            [[1.0, 0.0]], index=pd.MultiIndex.from_tuples([("a", "z")]), columns=["x", "y"]
        )
        ag.DawidSkene().fit(frame, initial_errors=stranger)
    bad_cols = _error_frame("a", [[1, 0], [0, 1]], ["x", "y"]).rename(columns={"y": "q"})
    with pytest.raises(ValueError, match=r"true-label column\(s\) \['q'\]"):
        ag.DawidSkene().fit(frame, initial_errors=bad_cols)
    with pytest.raises(ValueError, match="non-negative"):
        ag.DawidSkene().fit(frame, initial_errors=_error_frame("a", [[-1, 0], [0, 1]], ["x", "y"]))
    with pytest.raises(ValueError, match=r"indexed by \(worker, label\)"):
        ag.DawidSkene().fit(frame, initial_errors=pd.DataFrame({"x": [1.0]}))
    # a worker absent from the answers is ignored
    ag.DawidSkene().fit(frame, initial_errors=_error_frame("zz", [[1, 0], [0, 1]], ["x", "y"]))


def test_smoothing_keeps_every_cell_positive() -> None:
    frame, _ = simulate(100, 10, 3, 3, seed=2)
    lazy = pd.DataFrame({"task": range(20), "worker": "lazy", "label": 0})  # only ever says 0
    frame = pd.concat([frame, lazy], ignore_index=True)
    ds = ag.DawidSkene(smoothing=1.0).fit(frame)
    assert (ds.errors_.to_numpy() > 0).all()
    plain = ag.DawidSkene().fit(frame)
    assert (plain.errors_.to_numpy() == 0).any()  # labels some worker never gave
