"""Our aggregators against crowd-kit's on the same seeded answers."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import aggregation as ag
from tests.unit.aggregation.aggsim import accuracy, simulate

ck = pytest.importorskip("crowdkit.aggregation")
pytestmark = pytest.mark.filterwarnings("ignore::Warning:crowdkit.*")

CASES = [
    pytest.param(dict(n_tasks=600, n_workers=40, n_classes=2, per_task=3, seed=1), id="K2"),
    pytest.param(dict(n_tasks=600, n_workers=40, n_classes=4, per_task=4, seed=2), id="K4"),
    pytest.param(
        dict(
            n_tasks=400, n_workers=30, n_classes=3, per_task=3, seed=3, labels=["neg", "neu", "pos"]
        ),
        id="K3-str",
    ),
]


def _ck_fit(model: object, frame: pd.DataFrame) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # crowd-kit's pandas deprecation noise
        model.fit(frame)  # type: ignore[attr-defined]
    return model


def _tied(probas: pd.DataFrame) -> pd.Series:
    top2 = np.sort(probas.to_numpy(), axis=1)[:, -2:]
    return pd.Series(top2[:, 1] - top2[:, 0] < 1e-9, index=probas.index)


def _aligned(ours: pd.DataFrame, theirs: pd.DataFrame) -> np.ndarray:
    return theirs.reindex(index=ours.index, columns=ours.columns).to_numpy(dtype=float)


@pytest.mark.parametrize("params", CASES)
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda: ag.MajorityVote(), lambda: ck.MajorityVote()),
        (lambda: ag.DawidSkene(100, 1e-5), lambda: ck.DawidSkene(100, 1e-5)),
        (lambda: ag.OneCoinDawidSkene(100, 1e-5), lambda: ck.OneCoinDawidSkene(100, 1e-5)),
    ],
    ids=["MV", "DS", "OneCoinDS"],
)
def test_labels_agree_with_crowdkit(params: dict, ours, theirs) -> None:  # type: ignore[no-untyped-def]
    frame, truth = simulate(**params)
    a = ours().fit(frame)
    b = _ck_fit(theirs(), frame)
    theirs_labels = b.labels_.reindex(a.labels_.index)  # type: ignore[attr-defined]
    # Exact ties are broken by column order on both sides (crowd-kit: its column order,
    # ours: lowest label), so compare decided tasks only and check our rule on the ties.
    tied = _tied(a.probas_)
    agree = (a.labels_[~tied] == theirs_labels[~tied]).mean()
    assert agree >= 0.99
    p = a.probas_.to_numpy()[tied.to_numpy()]
    first_max = np.argmax(p >= p.max(axis=1, keepdims=True) - 1e-9, axis=1)
    assert (a.labels_[tied].to_numpy() == a.probas_.columns.to_numpy()[first_max]).all()
    assert abs(accuracy(a.labels_, truth) - accuracy(theirs_labels, truth)) <= 0.01
    assert set(a.probas_.columns) == set(b.probas_.columns)  # type: ignore[attr-defined]


@pytest.mark.parametrize("params", CASES)
@pytest.mark.parametrize("n_iter", [1, 7])
def test_em_steps_match_crowdkit(params: dict, n_iter: int) -> None:
    """With the same number of iterations (tol=-inf) the posteriors are the same."""
    frame, _ = simulate(**params)
    for ours, theirs in [
        (ag.DawidSkene(n_iter, -np.inf), ck.DawidSkene(n_iter, -np.inf)),
        (ag.OneCoinDawidSkene(n_iter, -np.inf), ck.OneCoinDawidSkene(n_iter, -np.inf)),
    ]:
        ours.fit(frame)
        _ck_fit(theirs, frame)
        assert ours.n_iter_ == n_iter
        np.testing.assert_allclose(
            ours.probas_.to_numpy(), _aligned(ours.probas_, theirs.probas_), atol=1e-6
        )
        pri = theirs.priors_.reindex(ours.priors_.index).to_numpy(dtype=float)
        np.testing.assert_allclose(ours.priors_.to_numpy(), pri, atol=1e-6)


def test_errors_match_crowdkit_on_observed_cells() -> None:
    frame, _ = simulate(n_tasks=300, n_workers=20, n_classes=3, per_task=3, seed=7)
    ours = ag.DawidSkene(5, -np.inf).fit(frame)
    theirs = _ck_fit(ck.DawidSkene(5, -np.inf), frame)
    ck_err = theirs.errors_  # type: ignore[attr-defined]
    mine = ours.errors_.loc[ck_err.index, list(ck_err.columns)].to_numpy()
    np.testing.assert_allclose(mine, ck_err.to_numpy(dtype=float), atol=1e-6)


def test_glad_and_mace_adapters_match_crowdkit() -> None:
    frame, truth = simulate(n_tasks=200, n_workers=15, n_classes=3, per_task=3, seed=11)
    # crowd-kit's MACE result depends on whether worker ids sort in first-appearance order
    # (our adapter hands it integer codes, which do); use such ids for the comparison.
    codes, _ = pd.factorize(frame["worker"])
    frame = frame.assign(worker=[f"w{c:03d}" for c in codes])
    glad = ag.GLAD(n_iter=20).fit(frame)
    ck_glad = _ck_fit(ck.GLAD(n_iter=20), frame)
    np.testing.assert_allclose(
        glad.probas_.to_numpy(), _aligned(glad.probas_, ck_glad.probas_), atol=1e-9
    )
    assert list(glad.probas_.columns) == sorted(glad.probas_.columns)
    assert list(glad.skills_.index) == sorted(pd.unique(frame["worker"]))

    mace = ag.MACE(n_restarts=2, n_iter=10, random_state=3).fit(frame)
    ck_mace = _ck_fit(ck.MACE(n_restarts=2, n_iter=10, random_state=3), frame)
    np.testing.assert_allclose(
        mace.probas_.to_numpy(), _aligned(mace.probas_, ck_mace.probas_), atol=1e-9
    )
    assert accuracy(mace.labels_, truth) > 0.8
    assert accuracy(glad.labels_, truth) > 0.8
    assert ((mace.skills_ >= 0) & (mace.skills_ <= 1)).all()
    # With method="vb" crowd-kit's thetas are variational weights: ≤ 1, not normalised.
    assert (mace.spam_strategies_.to_numpy() > 0).all()
    assert (mace.spam_strategies_.sum(axis=1) <= 1 + 1e-9).all()


def test_mace_adapter_does_not_depend_on_worker_names() -> None:
    frame, _ = simulate(n_tasks=150, n_workers=12, n_classes=3, per_task=3, seed=5)
    renamed = frame.assign(worker=frame["worker"].map(lambda w: f"{w[::-1]}-x"))
    a = ag.MACE(n_restarts=1, n_iter=10).fit(frame)
    b = ag.MACE(n_restarts=1, n_iter=10).fit(renamed)
    np.testing.assert_allclose(a.probas_.to_numpy(), b.probas_.to_numpy(), atol=1e-12)
