"""One-coin Dawid–Skene with a pooled Beta prior on worker accuracy, on a sparse campaign.

The campaign of issue 12: 30 items × 3 answers from 60 workers (1.5 answers each), 10
classes. Without a prior, a worker seen once who agrees with the posterior gets accuracy 1
and EM makes even a 1-1-1 split certain.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aggregation import OneCoinDawidSkene
from orchestrator.campaigns.config import CampaignConfig
from orchestrator.scheduler.answer_posteriors import answer_posteriors

SPLIT = range(0, 10)  # answers t, t+1, t+2 (mod 10)
UNANIMOUS = range(10, 20)
TWO_ONE = range(20, 30)


def sparse_campaign(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(30):
        if t in SPLIT:
            labels = [t % 10, (t + 1) % 10, (t + 2) % 10]
        elif t in UNANIMOUS:
            labels = [t % 10] * 3
        else:
            labels = [t % 10, t % 10, (t + 1) % 10]
        for w, lab in zip(rng.choice(60, size=3, replace=False), labels, strict=True):
            rows.append((f"item{t}", f"w{w}", lab))
    return pd.DataFrame(rows, columns=["task", "worker", "label"])


def _max_posterior(proba: pd.DataFrame, items: range) -> np.ndarray:
    return proba.loc[[f"item{t}" for t in items]].max(axis=1).to_numpy()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_campaign_default_keeps_a_split_uncertain_and_unanimity_short_of_certain(
    seed: int,
) -> None:
    frame = sparse_campaign(seed)
    proba = answer_posteriors(frame, CampaignConfig().aggregator)
    assert _max_posterior(proba, SPLIT).max() < 0.6
    unanimous = _max_posterior(proba, UNANIMOUS)
    assert unanimous.min() > 0.9
    assert unanimous.max() < 1 - 1e-6
    two_one = _max_posterior(proba, TWO_ONE)
    assert (two_one > _max_posterior(proba, SPLIT).max()).all()
    assert (two_one < unanimous.min()).all()
    # the majority still decides where there is one
    for t in [*UNANIMOUS, *TWO_ONE]:
        assert proba.loc[f"item{t}"].idxmax() == t % 10


def test_maximum_likelihood_one_coin_is_certain_on_splits() -> None:
    """The failure the prior fixes (and crowd-kit's behaviour, kept for prior_strength=0)."""
    proba = OneCoinDawidSkene().fit_predict_proba(sparse_campaign(0))
    assert _max_posterior(proba, SPLIT).max() > 0.999
    assert _max_posterior(proba, UNANIMOUS).min() > 1 - 1e-9


def test_prior_strength_shrinks_sparse_workers_toward_the_crowd() -> None:
    frame = sparse_campaign(0)
    weak = OneCoinDawidSkene(prior_strength=1.0).fit(frame)
    strong = OneCoinDawidSkene(prior_strength=20.0).fit(frame)
    assert strong.skills_.std() < weak.skills_.std()
    assert ((strong.skills_ > 0.05) & (strong.skills_ < 0.95)).all()


def test_prior_strength_zero_is_the_maximum_likelihood_fit() -> None:
    frame = sparse_campaign(1)
    a = OneCoinDawidSkene().fit_predict_proba(frame)
    b = OneCoinDawidSkene(prior_strength=0.0).fit_predict_proba(frame)
    pd.testing.assert_frame_equal(a, b)


def test_a_dense_worker_outweighs_the_prior() -> None:
    """A worker with many answers keeps their own record (the prior is worth m answers)."""
    rng = np.random.default_rng(3)
    rows = []
    for t in range(200):
        truth = int(rng.integers(10))
        rows += [(t, "good1", truth), (t, "good2", truth), (t, "good3", truth)]
        rows.append((t, "spam", int(rng.integers(10))))
    model = OneCoinDawidSkene(prior_strength=3.0).fit(
        pd.DataFrame(rows, columns=["task", "worker", "label"])
    )
    assert model.skills_["spam"] < 0.2
    assert model.skills_["good1"] > 0.98


def test_negative_prior_strength_is_refused() -> None:
    with pytest.raises(ValueError, match="prior_strength"):
        OneCoinDawidSkene(prior_strength=-1.0).fit(sparse_campaign(0))
