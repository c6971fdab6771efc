"""Hypothesis property tests of the aggregators' invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aggregation as ag
from tests.unit.aggregation.aggsim import accuracy, add_perfect_worker, simulate

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def answer_frames(draw: st.DrawFn) -> pd.DataFrame:
    """Small arbitrary answer frames: any mix of tasks/workers/labels, duplicates allowed."""
    n = draw(st.integers(1, 40))
    n_tasks = draw(st.integers(1, 8))
    n_workers = draw(st.integers(1, 6))
    n_classes = draw(st.integers(1, 4))
    rows = draw(
        st.lists(
            st.tuples(
                st.integers(0, n_tasks - 1),
                st.integers(0, n_workers - 1),
                st.integers(0, n_classes - 1),
            ),
            min_size=n,
            max_size=n,
        )
    )
    frame = pd.DataFrame(rows, columns=["task", "worker", "label"])
    frame["worker"] = "w" + frame["worker"].astype(str)
    return frame


def _models() -> list[ag.MajorityVote | ag.DawidSkene | ag.OneCoinDawidSkene]:
    return [
        ag.MajorityVote(),
        ag.DawidSkene(30),
        ag.OneCoinDawidSkene(30),
        ag.DawidSkene(30, smoothing=1.0),
    ]


@FAST
@given(answer_frames())
def test_probabilities_are_distributions(frame: pd.DataFrame) -> None:
    tasks = set(frame["task"])
    for model in _models():
        probas = model.fit_predict_proba(frame)
        assert set(probas.index) == tasks
        kept = frame.drop_duplicates(["task", "worker"], keep="last")  # default policy
        assert list(probas.columns) == sorted(set(kept["label"]))
        values = probas.to_numpy()
        assert np.all(np.isfinite(values)) and np.all(values >= 0)
        np.testing.assert_allclose(values.sum(axis=1), 1.0, atol=1e-9)
        # the label is a most probable class of its task
        picked = probas.to_numpy()[
            np.arange(len(probas)), probas.columns.get_indexer(model.labels_)
        ]
        assert np.all(picked >= values.max(axis=1) - 1e-9)


@FAST
@given(answer_frames(), st.randoms(use_true_random=False))
def test_relabelling_classes_permutes_output(frame: pd.DataFrame, rnd) -> None:  # type: ignore[no-untyped-def]
    classes = sorted(set(frame["label"]))
    shuffled = classes[:]
    rnd.shuffle(shuffled)
    mapping = {c: f"c{s}" for c, s in zip(classes, shuffled, strict=True)}
    renamed = frame.assign(label=frame["label"].map(mapping))
    for model_a, model_b in zip(_models(), _models(), strict=True):
        pa = model_a.fit_predict_proba(frame)
        pb = model_b.fit_predict_proba(renamed)
        expected = pa.rename(columns=mapping)[list(pb.columns)]
        np.testing.assert_allclose(pb.to_numpy(), expected.to_numpy(), atol=1e-7)
        top2 = np.sort(pa.to_numpy(), axis=1)[:, -2:] if pa.shape[1] > 1 else None
        decided = (top2[:, 1] - top2[:, 0] > 1e-6) if top2 is not None else np.ones(len(pa), bool)
        a_labels = model_a.labels_.map(mapping)[decided]
        assert (a_labels == model_b.labels_.reindex(a_labels.index)).all()


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_classes=st.sampled_from([2, 3, 5]),
    per_task=st.integers(3, 5),
)
def test_adding_a_perfect_worker_never_lowers_accuracy(
    seed: int, n_classes: int, per_task: int
) -> None:
    frame, truth = simulate(200, 25, n_classes, per_task, seed=seed)
    with_perfect = add_perfect_worker(frame, truth)
    for make in (ag.MajorityVote, lambda: ag.DawidSkene(50), lambda: ag.OneCoinDawidSkene(50)):
        before = accuracy(make().fit_predict(frame), truth)
        after = accuracy(make().fit_predict(with_perfect), truth)
        assert after >= before
