"""Benchmark metrics on small fixed inputs."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from orchestrator.bench.metrics import (
    answers_cost_usd,
    budget_items,
    budget_usd,
    label_accuracy,
    macro_auc,
    noisy_hit_rate,
    one_hot,
)


def test_noisy_hit_rate_counts_wrong_delivered_labels_among_inspected() -> None:
    noisy = np.array([0, 1, 2, 0, 1])
    gold = np.array([0, 2, 2, 1, 1])  # rows 1 and 3 are wrong
    assert noisy_hit_rate(np.array([1, 3]), noisy, gold) == 1.0
    assert noisy_hit_rate(np.array([0, 1, 2, 3]), noisy, gold) == 0.5
    # a row inspected twice counts once
    assert noisy_hit_rate(np.array([1, 1, 0]), noisy, gold) == 0.5
    assert noisy_hit_rate(np.array([], dtype=np.int64), noisy, gold) is None


def test_macro_auc_of_one_hot_scores_is_mean_balanced_accuracy_per_class() -> None:
    gold = np.array([0, 0, 1, 1, 2, 2])
    labels = np.array([0, 1, 1, 1, 2, 0])
    expected = []
    for k in range(3):
        pos = gold == k
        tpr = (labels[pos] == k).mean()
        tnr = (labels[~pos] != k).mean()
        expected.append((tpr + tnr) / 2)
    assert macro_auc(one_hot(labels, 3), gold) == pytest.approx(np.mean(expected))
    assert macro_auc(one_hot(gold, 3), gold) == 1.0


def test_macro_auc_uses_the_ranking_of_soft_scores() -> None:
    gold = np.array([0, 0, 1, 1])
    # class-1 score ranks every positive above every negative although argmax is wrong once
    scores = np.array([[0.9, 0.1], [0.6, 0.4], [0.55, 0.45], [0.2, 0.8]])
    assert macro_auc(scores, gold) == 1.0
    with pytest.raises(ValueError, match="two gold classes"):
        macro_auc(scores, np.zeros(4, dtype=np.int64))


def test_spend_arithmetic_is_reward_plus_twenty_percent_fee_per_answer() -> None:
    assert answers_cost_usd(1, Decimal("0.05")) == Decimal("0.06")
    assert answers_cost_usd(150, Decimal("0.05")) == Decimal("9.00")
    assert budget_usd(40, 3, Decimal("0.05")) == Decimal("7.20")
    assert answers_cost_usd(0, Decimal("0.05")) == Decimal("0.00")
    with pytest.raises(ValueError):
        answers_cost_usd(-1, Decimal("0.05"))


def test_budget_items_and_accuracy() -> None:
    assert budget_items(0.028, 1438) == 40
    assert budget_items(0.01, 50) == 1  # never zero
    with pytest.raises(ValueError, match="fraction"):
        budget_items(2.8, 100)
    assert label_accuracy(np.array([1, 2, 3]), np.array([1, 0, 3])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        label_accuracy(np.array([1, 2]), np.array([1, 2, 3]))
