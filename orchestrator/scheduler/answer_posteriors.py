"""Answers to posteriors by the campaign's aggregator (:attr:`CampaignConfig.aggregator`).

One function per campaign setting, so the round runner, the tests and the benchmarks turn the
same name into the same aggregator.
"""

from __future__ import annotations

import pandas as pd

#: Pseudo-answers at the crowd's pooled accuracy behind each worker's accuracy in the default
#: aggregator (``OneCoinDawidSkene(prior_strength=…)``): the lowest mean ECE over the sparse
#: and dense simulated image crowds on tuning seeds, confirmed on other seeds and on the movie
#: snippets' real ratings (benchmarks/results/calibration.md).
DEFAULT_PRIOR_STRENGTH = 20.0


def answer_posteriors(frame: pd.DataFrame, method: str) -> pd.DataFrame:
    """task × label posterior (rows sum to 1) for an answers frame (``task, worker, label``).

    ``method``: :attr:`CampaignConfig.aggregator`. The default, ``one_coin_prior``, is one-coin
    Dawid-Skene with an empirical-Bayes Beta prior: each worker's accuracy is shrunk toward the
    crowd's pooled accuracy by :data:`DEFAULT_PRIOR_STRENGTH` pseudo-answers. One accuracy per
    worker because a campaign gives each worker a handful of answers spread over K classes, too
    few for a K × K confusion matrix, and full Dawid-Skene then collapses rare classes (on a
    23-item, 40-worker, 10-class round it overturned strict majorities on 8 items, two of them
    unanimous; tests/data/sparse_round_answers.csv). The prior because without it a worker
    seen once who agrees with the posterior gets accuracy 1 and a 1-1-1 split becomes certain,
    so adaptive redundancy never fired and verified-label confidences meant nothing.
    ``one_coin`` is the maximum-likelihood fit (crowd-kit's), kept for stored campaigns.
    """
    from aggregation import DawidSkene, MajorityVote, OneCoinDawidSkene

    if frame.empty:
        return pd.DataFrame()
    if method == "majority_vote":
        return MajorityVote().fit_predict_proba(frame)
    if method == "dawid_skene":
        return DawidSkene().fit_predict_proba(frame)
    if method == "one_coin_prior":
        return OneCoinDawidSkene(prior_strength=DEFAULT_PRIOR_STRENGTH).fit_predict_proba(frame)
    if method == "one_coin":
        return OneCoinDawidSkene().fit_predict_proba(frame)
    raise ValueError(
        f"unknown aggregator {method!r}: one_coin_prior | one_coin | dawid_skene | majority_vote"
    )
