"""The round runner's answer aggregation on a real sparse round.

``tests/data/sparse_round_answers.csv`` holds the answers of one simulated campaign round:
110 answers, 23 items, 40 workers, 10 digit classes — a handful of answers per worker, as in
any small campaign.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from orchestrator.campaigns.config import CampaignConfig
from orchestrator.scheduler.answer_posteriors import answer_posteriors

DATA = Path(__file__).resolve().parents[2] / "data" / "sparse_round_answers.csv"


@pytest.fixture(scope="module")
def answers() -> pd.DataFrame:
    return pd.read_csv(DATA, dtype=str)


def _clear_majorities(answers: pd.DataFrame) -> dict[str, str]:
    """Items whose top label has more than half the votes and leads by two or more.

    A one-vote lead (3 against 2) may rightly go the other way when the two are the better
    workers; a lead of two or more among a handful of votes should not.
    """
    counts = answers.groupby(["task", "label"]).size()
    out: dict[str, str] = {}
    for task, per_label in counts.groupby(level=0):
        ranked = per_label.droplevel(0).sort_values(ascending=False).to_numpy()
        labels = per_label.droplevel(0).sort_values(ascending=False).index
        top, runner_up = int(ranked[0]), int(ranked[1]) if len(ranked) > 1 else 0
        if top * 2 > int(ranked.sum()) and top - runner_up >= 2:
            out[str(task)] = str(labels[0])
    return out


def test_default_aggregator_keeps_every_clear_majority(answers: pd.DataFrame) -> None:
    method = CampaignConfig().aggregator
    proba = answer_posteriors(answers, method)
    majorities = _clear_majorities(answers)
    assert len(majorities) >= 15  # the file has enough clear items to mean something
    decided = proba.idxmax(axis=1)
    overturned = {t: (lab, decided[t]) for t, lab in majorities.items() if decided[t] != lab}
    assert not overturned, f"{method} overturned clear majorities: {overturned}"
    assert proba.to_numpy().sum(axis=1) == pytest.approx(1.0)


@pytest.mark.parametrize("method", ["one_coin_prior", "one_coin", "dawid_skene", "majority_vote"])
def test_every_method_labels_every_answered_item(answers: pd.DataFrame, method: str) -> None:
    proba = answer_posteriors(answers, method)
    assert set(proba.index) == set(answers["task"])


def test_unknown_method_is_named() -> None:
    frame = pd.DataFrame({"task": ["a"], "worker": ["w"], "label": ["1"]})
    with pytest.raises(ValueError, match="unknown aggregator 'wawa'"):
        answer_posteriors(frame, "wawa")


def test_config_refuses_an_unknown_aggregator() -> None:
    with pytest.raises(ValueError, match="aggregator"):
        CampaignConfig(aggregator="wawa")  # type: ignore[arg-type]
