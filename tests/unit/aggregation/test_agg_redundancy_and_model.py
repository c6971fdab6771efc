"""needs_more_answers and the model-as-annotator helper."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import aggregation as ag
from tests.unit.aggregation.aggsim import accuracy, simulate


def test_needs_more_answers_rule() -> None:
    post = pd.DataFrame(
        {"x": [0.95, 0.6, 0.5, 0.7], "y": [0.05, 0.4, 0.5, 0.3]}, index=list("abcd")
    )
    counts = pd.Series({"a": 3, "b": 3, "c": 5, "e": 0})
    out = ag.needs_more_answers(post, counts, confidence=0.9, max_answers=5)
    assert out.to_dict() == {
        "a": False,  # confident
        "b": True,  # unsure, 3 < 5
        "c": False,  # unsure but capped
        "d": True,  # unsure, no count known -> 0 answers
        "e": True,  # no answer yet
    }
    assert out.dtype == bool and out.index.name == "task"
    assert (
        not ag.needs_more_answers(post, counts, confidence=0.5, max_answers=5)
        .loc[list("abcd")]
        .any()
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(confidence=0.0, max_answers=3), "confidence"),
        (dict(confidence=1.2, max_answers=3), "confidence"),
        (dict(confidence=0.9, max_answers=0), "max_answers"),
        (dict(confidence=0.9, max_answers=2.5), "max_answers"),
    ],
)
def test_needs_more_answers_validates(kwargs: dict, match: str) -> None:
    post = pd.DataFrame({"x": [1.0]}, index=["a"])
    with pytest.raises(ValueError, match=match):
        ag.needs_more_answers(post, pd.Series({"a": 1}), **kwargs)
    with pytest.raises(ValueError, match="non-negative"):
        ag.needs_more_answers(post, pd.Series({"a": -1}), confidence=0.9, max_answers=3)


def test_adaptive_loop_stops_when_confident_or_capped() -> None:
    """Ask one more simulated worker per round until the rule says stop."""
    rng = np.random.default_rng(0)
    truth = pd.Series(rng.integers(0, 2, 200))
    acc = 0.8
    rows: list[tuple[int, str, int]] = []
    pending = set(truth.index)
    for round_ in range(7):
        for t in pending:
            # the first round asks two workers, later rounds one more each
            for w in range(2 if round_ == 0 else 1):
                ans = truth[t] if rng.random() < acc else 1 - truth[t]
                rows.append((t, f"r{round_}-{w}", int(ans)))
        frame = pd.DataFrame(rows, columns=["task", "worker", "label"])
        post = ag.MajorityVote().fit_predict_proba(frame)
        more = ag.needs_more_answers(
            post, frame.groupby("task").size(), confidence=0.75, max_answers=5
        )
        pending = set(more.index[more])
    counts = frame.groupby("task").size()
    assert counts.max() <= 5 and not pending
    assert counts.min() == 2 and counts.max() == 5  # adaptive, not uniform
    post = ag.MajorityVote().fit_predict_proba(frame).max(axis=1)
    assert ((post >= 0.75) | (counts == 5)).all()


def test_with_model_annotator_appends_one_pseudo_worker() -> None:
    frame = pd.DataFrame({"task": [1, 1, 2], "worker": ["a", "b", "a"], "label": ["x", "y", "y"]})
    model = pd.Series({1: "x", 2: "x", 3: "y", 4: None})
    out = ag.with_model_annotator(frame, model)
    added = out[out["worker"] == "__model__"]
    assert added[["task", "label"]].to_dict("list") == {"task": [1, 2], "label": ["x", "x"]}
    assert len(frame) == 3  # input untouched
    every = ag.with_model_annotator(frame, model, worker_id="m", tasks="all")
    assert sorted(every.loc[every["worker"] == "m", "task"]) == [1, 2, 3]
    with pytest.raises(ValueError, match="already a worker"):
        ag.with_model_annotator(frame, model, worker_id="a")
    with pytest.raises(ValueError, match="tasks must be"):
        ag.with_model_annotator(frame, model, tasks="some")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="duplicate task"):
        ag.with_model_annotator(frame, pd.Series(["x", "y"], index=[1, 1]))


def test_a_good_model_annotator_helps_and_is_scored() -> None:
    frame, truth = simulate(600, 30, 3, 2, spammer_frac=0.3, seed=3)
    rng = np.random.default_rng(1)
    model_labels = truth.where(rng.random(len(truth)) < 0.9, (truth + 1) % 3)
    with_model = ag.with_model_annotator(frame, model_labels)
    before = accuracy(ag.DawidSkene().fit_predict(frame), truth)
    ds = ag.DawidSkene().fit(with_model)
    assert accuracy(ds.labels_, truth) > before
    q = ag.worker_quality(with_model, truth)
    assert q.loc["__model__", "accuracy"] == pytest.approx((model_labels == truth).mean())
