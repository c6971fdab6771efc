"""The seed rows' own rules: agreement in the relabelling protocol, the model's vote."""

from __future__ import annotations

import pandas as pd

from orchestrator.bench.methods import groups_for
from orchestrator.bench.report import SEED_METHODS
from orchestrator.bench.seed_methods import agreed_label, vote_with_model


def test_two_matching_answers_with_a_unique_lead_agree() -> None:
    assert agreed_label([3]) is None
    assert agreed_label([3, 1]) is None
    assert agreed_label([3, 3]) == 3
    assert agreed_label([3, 1, 1]) == 1
    assert agreed_label([3, 3, 1, 1]) is None  # tied leaders: ask again
    assert agreed_label([0, 2, 2, 1, 0, 2]) == 2


def test_the_model_breaks_a_split_between_two_humans() -> None:
    answers = pd.DataFrame(
        {"row": [5, 5, 9, 9], "worker": ["a", "b", "a", "b"], "label": [1, 2, 0, 0]}
    )
    rows, labels = vote_with_model(answers, {5: 2, 9: 1}, 3)
    assert dict(zip(rows.tolist(), labels.tolist(), strict=True)) == {5: 2, 9: 0}


def test_every_seed_method_is_registered() -> None:
    groups = groups_for(list(SEED_METHODS))
    assert {v for g in groups for v in g.variants} == set(SEED_METHODS)
    assert not any(g.uses_gold for g in groups)
