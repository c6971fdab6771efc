"""Worker quality, confusion, spammer detection, gold scoring (aggregation.worker_scoring)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import aggregation as ag
from tests.unit.aggregation.aggsim import simulate


def _frame(rows: list[tuple[object, object, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["task", "worker", "label"])


def test_worker_quality_counts_by_hand() -> None:
    frame = _frame(
        [(1, "a", "x"), (1, "b", "x"), (1, "c", "y"), (2, "a", "y"), (2, "b", "x"), (3, "c", "y")]
    )
    truth = pd.Series({1: "x", 2: "y"})  # task 3 unknown
    q = ag.worker_quality(frame, truth, min_answers=0)
    assert list(q.index) == ["a", "b", "c"]
    assert q["n_answers"].tolist() == [2, 2, 2]
    assert q["n_scored"].tolist() == [2, 2, 1]
    assert q["accuracy"].tolist() == [1.0, 0.5, 0.0]
    # a: task1 agrees with b, not c; task2 disagrees with b -> 1 of 3 pairs
    # b: task1 agrees a, not c; task2 no -> 1/3; c: task1 0/2, task3 alone -> 0/2
    np.testing.assert_allclose(q["agreement"], [1 / 3, 1 / 3, 0.0])


def test_worker_quality_with_probabilities_is_soft() -> None:
    frame = _frame([(1, "a", "x"), (2, "a", "y")])
    probas = pd.DataFrame({"x": [0.8, 0.3], "y": [0.2, 0.7]}, index=[1, 2])
    q = ag.worker_quality(frame, probas)
    assert q.loc["a", "accuracy"] == pytest.approx((0.8 + 0.7) / 2)
    assert np.isnan(q.loc["a", "agreement"])  # never shares a task


def test_worker_confusion_layout() -> None:
    frame = _frame([(1, "a", "x"), (2, "a", "x"), (3, "a", "y")])
    conf = ag.worker_confusion(frame, pd.Series({1: "x", 2: "y", 3: "y", 4: "z"}))
    assert conf.index.names == ["worker", "label"]
    assert list(conf.columns) == ["x", "y", "z"]  # classes of answers and reference
    assert conf.loc[("a", "x"), "x"] == 1 and conf.loc[("a", "x"), "y"] == 1
    assert conf.loc[("a", "y"), "y"] == 1 and conf.to_numpy().sum() == 3


@pytest.mark.parametrize(("sens", "spec"), [(0.9, 0.8), (0.5, 0.5), (0.2, 0.3), (1.0, 1.0)])
def test_binary_spammer_score_matches_raykar_yu(sens: float, spec: float) -> None:
    # columns: true class; rows: label given
    conf = pd.DataFrame(
        [[spec, 1 - sens], [1 - spec, sens]],
        index=pd.MultiIndex.from_product([["w"], [0, 1]], names=["worker", "label"]),
        columns=[0, 1],
    )
    assert ag.spammer_score(conf)["w"] == pytest.approx(1 - abs(sens + spec - 1))


def test_spammer_score_extremes() -> None:
    idx = pd.MultiIndex.from_product([["const", "perfect", "swap", "one"], [0, 1, 2]])
    const = [[5, 7, 2], [0, 0, 0], [0, 0, 0]]  # always answers 0
    perfect = np.eye(3) * 4
    swap = np.roll(np.eye(3), 1, axis=0) * 4
    one = [[3, 0, 0], [0, 0, 0], [0, 0, 0]]  # only ever saw true class 0
    conf = pd.DataFrame(np.vstack([const, perfect, swap, one]), index=idx, columns=[0, 1, 2])
    s = ag.spammer_score(conf)
    assert s["const"] == pytest.approx(1.0)
    assert s["perfect"] == pytest.approx(0.0)
    assert s["swap"] == pytest.approx(0.0)
    assert np.isnan(s["one"])


@pytest.mark.parametrize("n_classes", [2, 4])
def test_spammers_are_detected_in_a_simulated_pool(n_classes: int) -> None:
    frame, _ = simulate(3000, 30, n_classes, 5, spammer_frac=0.2, seed=n_classes)
    labels = ag.DawidSkene().fit_predict(frame)
    q = ag.worker_quality(frame, labels, spammer_threshold=0.75, min_answers=50)
    spammers = {f"w{i}" for i in range(6)}
    assert set(q.index[q["is_spammer"]]) == spammers
    assert (
        q.loc[list(spammers), "spammer_score"].min() > q.drop(list(spammers))["spammer_score"].max()
    )


def test_kappa_catches_spammers_with_few_answers_per_class() -> None:
    # K = 10 and ~50 answers per worker: 5 per class, too few for the column score.
    frame, truth = simulate(2500, 50, 10, 1, spammer_frac=0.2, seed=12)
    q = ag.worker_quality(frame, truth, min_answers=20)
    spammers = [f"w{i}" for i in range(10)]
    assert q.loc[spammers, "kappa"].abs().max() < 0.15
    assert q.drop(spammers)["kappa"].min() > 0.4
    assert set(q.index[q["is_spammer"]]) == set(spammers)


def test_kappa_by_hand() -> None:
    # 4 answers: truth x,x,y,y; answers x,y,y,y -> accuracy 3/4, chance = .25*.5 + .75*.5
    frame = _frame([(1, "a", "x"), (2, "a", "y"), (3, "a", "y"), (4, "a", "y")])
    q = ag.worker_quality(frame, pd.Series({1: "x", 2: "x", 3: "y", 4: "y"}))
    assert q.loc["a", "kappa"] == pytest.approx((0.75 - 0.5) / (1 - 0.5))
    constant = ag.worker_quality(
        _frame([(1, "a", "x"), (2, "a", "x")]), pd.Series({1: "x", 2: "y"})
    )
    assert constant.loc["a", "kappa"] == pytest.approx(0.0)


def test_spammer_flag_needs_enough_answers() -> None:
    frame = _frame([(t, "lazy", "x") for t in range(5)] + [(t, "ok", "x") for t in range(5)])
    truth = pd.Series({t: "x" if t < 3 else "y" for t in range(5)})
    q = ag.worker_quality(frame, truth, min_answers=10)
    assert q.loc["lazy", "spammer_score"] == pytest.approx(1.0)
    assert not q["is_spammer"].any()
    assert ag.worker_quality(frame, truth, min_answers=5)["is_spammer"].all()


def test_score_on_gold_wilson_and_jeffreys() -> None:
    rows = [(t, "a", "x" if t < 8 else "y") for t in range(10)]  # 8 of 10 right
    rows += [(t, "b", "x") for t in range(3)] + [(99, "c", "x")]
    gold = pd.Series({t: "x" for t in range(10)})
    s = ag.score_on_gold(_frame(rows), gold)
    assert s.loc["a", ["n_gold", "n_correct"]].tolist() == [10, 8]
    # Wilson 95 % for 8/10 (textbook value 0.490–0.943)
    assert s.loc["a", "ci_low"] == pytest.approx(0.4902, abs=1e-4)
    assert s.loc["a", "ci_high"] == pytest.approx(0.9433, abs=1e-4)
    assert s.loc["b", "accuracy"] == 1.0 and s.loc["b", "ci_high"] == pytest.approx(1.0)
    assert s.loc["c", "n_gold"] == 0 and np.isnan(s.loc["c", "accuracy"])
    assert (s.loc["c", "ci_low"], s.loc["c", "ci_high"]) == (0.0, 1.0)
    j = ag.score_on_gold(_frame(rows), gold, method="jeffreys", confidence=0.9)
    assert j.loc["a", "ci_low"] == pytest.approx(stats.beta.ppf(0.05, 8.5, 2.5))
    assert j.loc["b", "ci_high"] == 1.0
    assert j.loc["b", "ci_low"] == pytest.approx(stats.beta.ppf(0.05, 3.5, 0.5))


def test_score_on_gold_rejects_bad_options() -> None:
    frame = _frame([(1, "a", "x")])
    with pytest.raises(ValueError, match="confidence"):
        ag.score_on_gold(frame, pd.Series({1: "x"}), confidence=1.5)
    with pytest.raises(ValueError, match="method"):
        ag.score_on_gold(frame, pd.Series({1: "x"}), method="exact")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="duplicate"):
        ag.score_on_gold(frame, pd.Series(["x", "y"], index=[1, 1]))
