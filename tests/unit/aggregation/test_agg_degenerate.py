"""Degenerate and malformed input: documented behaviour of every aggregator."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

import aggregation as ag

pytestmark = pytest.mark.filterwarnings("ignore::Warning:crowdkit.*")

ALL: list[
    Callable[[], ag.MajorityVote | ag.DawidSkene | ag.OneCoinDawidSkene | ag.GLAD | ag.MACE]
] = [
    ag.MajorityVote,
    ag.DawidSkene,
    ag.OneCoinDawidSkene,
    lambda: ag.GLAD(n_iter=5),
    lambda: ag.MACE(n_restarts=1, n_iter=5),
]
IDS = ["MV", "DS", "OneCoin", "GLAD", "MACE"]
OURS = ALL[:3]


def frame_of(rows: list[tuple[object, object, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["task", "worker", "label"])


@pytest.mark.parametrize("make", ALL, ids=IDS)
def test_empty_frame_gives_empty_outputs(make) -> None:  # type: ignore[no-untyped-def]
    model = make().fit(frame_of([]))
    assert model.labels_.empty and model.probas_.empty
    assert model.labels_.index.name == "task"
    assert model.skills_.empty


@pytest.mark.parametrize("make", ALL, ids=IDS)
def test_all_labels_missing_is_like_empty(make) -> None:  # type: ignore[no-untyped-def]
    model = make().fit(frame_of([(1, "a", None), (2, "b", np.nan)]))
    assert model.labels_.empty


@pytest.mark.parametrize("make", ALL, ids=IDS)
def test_single_class_is_certain(make) -> None:  # type: ignore[no-untyped-def]
    model = make().fit(frame_of([(1, "a", "x"), (1, "b", "x"), (2, "a", "x")]))
    assert model.labels_.to_dict() == {1: "x", 2: "x"}
    assert (model.probas_["x"] == 1.0).all()


@pytest.mark.parametrize("make", OURS, ids=IDS[:3])
def test_single_worker_gets_their_answers(make) -> None:  # type: ignore[no-untyped-def]
    rows = [(t, "only", "pos" if t % 3 else "neg") for t in range(12)]
    labels = make().fit_predict(frame_of(rows))
    assert labels.to_dict() == {t: lab for t, _, lab in rows}


@pytest.mark.parametrize("make", ALL, ids=IDS)
@pytest.mark.parametrize("missing", ["task", "worker", "label"])
def test_missing_column_is_named(make, missing: str) -> None:  # type: ignore[no-untyped-def]
    frame = frame_of([(1, "a", 0)]).drop(columns=[missing])
    with pytest.raises(ValueError, match=missing):
        make().fit(frame)


@pytest.mark.parametrize("make", OURS, ids=IDS[:3])
@pytest.mark.parametrize("column", ["task", "worker"])
def test_missing_task_or_worker_value_is_an_error(make, column: str) -> None:  # type: ignore[no-untyped-def]
    frame = frame_of([(1, "a", 0), (2, "b", 1)])
    frame.loc[1, column] = None
    with pytest.raises(ValueError, match=f"missing '{column}'"):
        make().fit(frame)


def test_not_a_frame_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="DataFrame"):
        ag.DawidSkene().fit([(1, "a", 0)])  # type: ignore[arg-type]


@pytest.mark.parametrize("make", ALL, ids=IDS)
def test_nan_labels_are_dropped_and_ints_survive(make) -> None:  # type: ignore[no-untyped-def]
    frame = frame_of([(1, "a", 1), (1, "b", None), (1, "c", 1), (2, "a", 0), (2, "b", 0)])
    assert frame["label"].dtype.kind == "f"  # pandas turned the ints into floats
    model = make().fit(frame)
    assert model.labels_.to_dict() == {1: 1, 2: 0}
    assert model.labels_.dtype == np.int64
    assert list(model.probas_.columns) == [0, 1]


def test_task_with_only_missing_labels_disappears() -> None:
    frame = frame_of([(1, "a", "x"), (2, "a", None)])
    assert list(ag.MajorityVote().fit_predict(frame).index) == [1]


@pytest.mark.parametrize(("policy", "expected"), [("last", "y"), ("first", "x"), ("keep", "x")])
def test_duplicate_rows_follow_the_policy(policy: str, expected: str) -> None:
    # worker a answers task 1 twice (x then y); worker b says x.
    frame = frame_of([(1, "a", "x"), (1, "b", "x"), (1, "a", "y"), (1, "c", "y")])
    mv = ag.MajorityVote(duplicates=policy).fit(frame)  # type: ignore[arg-type]
    assert mv.labels_[1] == expected
    ds = ag.DawidSkene(duplicates=policy).fit(frame)  # type: ignore[arg-type]
    assert ds.probas_.shape == (1, 2)
    if policy == "keep":
        assert mv.probas_.loc[1, "x"] == pytest.approx(0.5)  # x, x vs y, y: tie -> lowest
    else:
        assert mv.probas_.loc[1, expected] == pytest.approx(2 / 3)


def test_duplicate_rows_can_be_an_error() -> None:
    frame = frame_of([(1, "a", "x"), (1, "a", "y")])
    with pytest.raises(ValueError, match=r"\(task, worker\)"):
        ag.DawidSkene(duplicates="error").fit(frame)
    with pytest.raises(ValueError, match="duplicates must be one of"):
        ag.MajorityVote(duplicates="sum").fit(frame)  # type: ignore[arg-type]


@pytest.mark.parametrize("make", ALL[:4], ids=IDS[:4])  # MACE's random start breaks symmetry
def test_ties_go_to_the_lowest_label(make) -> None:  # type: ignore[no-untyped-def]
    # Perfectly symmetric data: every task split 1-1 between two workers, labels swapped.
    rows = [(t, "a", "b" if t % 2 else "a") for t in range(6)]
    rows += [(t, "b", "a" if t % 2 else "b") for t in range(6)]
    model = make().fit(frame_of(rows))
    np.testing.assert_allclose(model.probas_.to_numpy(), 0.5, atol=1e-9)
    assert (model.labels_ == "a").all()


def test_tie_break_follows_declared_classes_order() -> None:
    rows = [(1, "u", "a"), (1, "v", "b")]
    assert ag.MajorityVote().fit_predict(frame_of(rows))[1] == "a"
    assert ag.MajorityVote(classes=["b", "a"]).fit_predict(frame_of(rows))[1] == "b"


@pytest.mark.parametrize("make", OURS, ids=IDS[:3])
def test_declared_classes_add_empty_columns_and_reject_strangers(make) -> None:  # type: ignore[no-untyped-def]
    frame = frame_of([(1, "a", "x"), (1, "b", "x"), (2, "a", "y")])
    model = make()
    model.classes = ["x", "y", "z"]
    probas = model.fit_predict_proba(frame)
    assert list(probas.columns) == ["x", "y", "z"]
    assert (probas["z"] < 1e-6).all()
    model.classes = ["x"]
    with pytest.raises(ValueError, match=r"'y'.*not among the declared classes"):
        model.fit(frame)


@pytest.mark.parametrize("make", ALL, ids=IDS)
@pytest.mark.parametrize(
    "labels",
    [[True, False], ["cat", "dog"], [3, 7], ["b", 1]],
    ids=["bool", "str", "int", "mixed"],
)
def test_label_values_round_trip(make, labels: list[object]) -> None:  # type: ignore[no-untyped-def]
    p, q = labels
    rows = [(1, "a", p), (1, "b", p), (1, "c", q), (2, "a", q), (2, "b", q), (2, "c", q)]
    out = make().fit_predict(frame_of(rows))
    assert out.to_dict() == {1: p, 2: q}


def test_unknown_gold_label_is_an_error_naming_it() -> None:
    frame = frame_of([(1, "a", "x"), (2, "a", "y")])
    with pytest.raises(ValueError, match=r"\['maybe'\].*classes="):
        ag.DawidSkene().fit(frame, true_labels=pd.Series({1: "maybe"}))
    # declaring the class makes it legal
    ds = ag.DawidSkene(classes=["maybe", "x", "y"]).fit(frame, true_labels=pd.Series({1: "maybe"}))
    assert ds.labels_[1] == "maybe"


def test_gold_for_unknown_tasks_and_nan_gold_are_ignored() -> None:
    frame = frame_of([(1, "a", "x"), (1, "b", "y"), (2, "a", "y")])
    ds = ag.DawidSkene().fit(frame, true_labels=pd.Series({1: "y", 99: "x", 2: None}))
    assert ds.labels_[1] == "y"
    assert set(ds.labels_.index) == {1, 2}


def test_gold_with_duplicate_tasks_is_an_error() -> None:
    frame = frame_of([(1, "a", "x")])
    with pytest.raises(ValueError, match="duplicate task"):
        ag.DawidSkene().fit(frame, true_labels=pd.Series(["x", "y"], index=[1, 1]))


@pytest.mark.parametrize("kwargs", [dict(n_iter=-1), dict(tol=float("nan")), dict(smoothing=-1.0)])
def test_bad_em_parameters(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        ag.DawidSkene(**kwargs).fit(frame_of([(1, "a", "x"), (1, "b", "y")]))


def test_bad_initial_errors_strategy() -> None:
    with pytest.raises(ValueError, match="initial_errors_strategy"):
        ag.DawidSkene(initial_errors_strategy="mix").fit(frame_of([(1, "a", "x")]))  # type: ignore[arg-type]


def test_zero_iterations_returns_the_first_e_step() -> None:
    frame = frame_of([(1, "a", "x"), (1, "b", "x"), (2, "a", "y")])
    ds = ag.DawidSkene(n_iter=0).fit(frame)
    assert ds.n_iter_ == 0 and ds.loss_history_ == []
    np.testing.assert_allclose(ds.probas_.sum(axis=1), 1.0)


def test_majority_vote_skill_weights() -> None:
    frame = frame_of([(1, "a", "x"), (1, "b", "y"), (1, "c", "y")])
    skills = pd.Series({"a": 3.0, "b": 1.0, "c": 1.0})
    mv = ag.MajorityVote(skills=skills).fit(frame)
    assert mv.labels_[1] == "x"
    assert mv.probas_.loc[1, "x"] == pytest.approx(0.6)
    # fit() weights win over the constructor's
    assert ag.MajorityVote(skills=skills).fit_predict(frame, skills=skills * 0 + 1)[1] == "y"
    with pytest.raises(ValueError, match=r"no skill.*'c'"):
        ag.MajorityVote(skills=skills.drop("c")).fit(frame)
    assert ag.MajorityVote(skills=skills.drop("c"), default_skill=10.0).fit_predict(frame)[1] == "y"
    with pytest.raises(ValueError, match="non-negative"):
        ag.MajorityVote(skills=skills - 2).fit(frame)
    zero = ag.MajorityVote(skills=skills * 0).fit(frame)
    np.testing.assert_allclose(zero.probas_.to_numpy(), 0.5)  # all-zero weights: uniform
