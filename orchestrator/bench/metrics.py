"""Benchmark metrics: label accuracy, macro AUC, noisy-hit rate, crowd spend.

All functions are pure numpy/scikit-learn on arrays; ``gold`` is read here and in the protocol
runner only, never by a method (see :mod:`orchestrator.bench.methods`).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import numpy.typing as npt

from orchestrator.crowd.money import CENT, with_fee


def label_accuracy(labels: npt.NDArray[np.int64], gold: npt.NDArray[np.int64]) -> float:
    """Share of items whose label equals gold, over all (n,) items."""
    labels, gold = np.asarray(labels), np.asarray(gold)
    if labels.shape != gold.shape or labels.ndim != 1:
        raise ValueError(f"labels {labels.shape} and gold {gold.shape} must be the same (n,)")
    if labels.size == 0:
        raise ValueError("no items to score")
    return float((labels == gold).mean())


def one_hot(labels: npt.NDArray[np.int64], n_classes: int) -> npt.NDArray[np.float64]:
    """(n, K) float64 with a 1 at each item's label: the class scores of a label-only method."""
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must be class indices in [0, {n_classes})")
    out = np.zeros((labels.size, n_classes), dtype=np.float64)
    out[np.arange(labels.size), labels] = 1.0
    return out


def macro_auc(scores: npt.NDArray[np.floating], gold: npt.NDArray[np.int64]) -> float:
    """Macro one-vs-rest ROC AUC of (n, K) class scores against (n,) gold classes.

    For each class ``k`` present in gold with at least one other class, the AUC of
    ``scores[:, k]`` separating ``gold == k`` from the rest (ties count one half, the
    Mann-Whitney convention), averaged over those classes. For one-hot scores this equals the
    mean over classes of (recall + specificity) / 2, so label-only methods are comparable.
    """
    from sklearn.metrics import roc_auc_score

    scores = np.asarray(scores, dtype=np.float64)
    gold = np.asarray(gold, dtype=np.int64)
    if scores.ndim != 2 or scores.shape[0] != gold.shape[0]:
        raise ValueError(f"scores must be (n={gold.shape[0]}, K), got {scores.shape}")
    aucs = []
    for k in range(scores.shape[1]):
        positive = gold == k
        if positive.all() or not positive.any():
            continue
        aucs.append(float(roc_auc_score(positive, scores[:, k])))
    if not aucs:
        raise ValueError("macro AUC needs at least two gold classes")
    return float(np.mean(aucs))


def noisy_hit_rate(
    inspected: npt.NDArray[np.int64],
    noisy_labels: npt.NDArray[np.int64],
    gold: npt.NDArray[np.int64],
) -> float | None:
    """Share of the inspected rows whose delivered (noisy) label was wrong; None if none."""
    idx = np.unique(np.asarray(inspected, dtype=np.int64))
    if idx.size == 0:
        return None
    return float((np.asarray(noisy_labels)[idx] != np.asarray(gold)[idx]).mean())


def answers_cost_usd(n_answers: int, reward_usd: Decimal) -> Decimal:
    """USD for ``n_answers`` assignments at ``reward_usd`` each plus MTurk's 20 % fee (cents)."""
    if n_answers < 0:
        raise ValueError(f"n_answers must be >= 0, got {n_answers}")
    return with_fee(reward_usd * n_answers).quantize(CENT, rounding=ROUND_HALF_UP)


def budget_usd(n_items: int, answers_per_item: int, reward_usd: Decimal) -> Decimal:
    """The benchmark's dollar budget: ``n_items`` items × answers × (reward + 20 % fee)."""
    return answers_cost_usd(n_items * answers_per_item, reward_usd)


def budget_items(budget_fraction: float, n: int) -> int:
    """Items a budget of ``budget_fraction`` of ``n`` items pays for (at least 1)."""
    if not 0 < budget_fraction <= 1:
        raise ValueError(f"budget must be a fraction in (0, 1], got {budget_fraction}")
    return max(1, round(budget_fraction * n))
