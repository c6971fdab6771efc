"""Seeded simulated crowd answers for the aggregation tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def simulate(
    n_tasks: int = 500,
    n_workers: int = 50,
    n_classes: int = 2,
    per_task: int = 3,
    *,
    spammer_frac: float = 0.1,
    seed: int = 0,
    labels: Sequence[object] | None = None,
) -> tuple[pd.DataFrame, pd.Series]:
    """Answers of a pool with Beta(17, 3) accuracies plus uniform-random spammers.

    Each task gets ``per_task`` distinct workers drawn uniformly. A diligent worker is
    right with their accuracy, otherwise picks a wrong class uniformly.

    Returns:
        (answers frame ``task, worker, label``, truth Series task → label)
    """
    rng = np.random.default_rng(seed)
    names = np.asarray(list(labels) if labels is not None else list(range(n_classes)), dtype=object)
    truth = rng.integers(0, n_classes, size=n_tasks)
    acc = rng.beta(17, 3, size=n_workers)
    n_spam = round(spammer_frac * n_workers)
    acc[:n_spam] = 1.0 / n_classes
    workers = np.argsort(rng.random((n_tasks, n_workers)), axis=1)[:, :per_task].ravel()
    tasks = np.repeat(np.arange(n_tasks), per_task)
    z = truth[tasks]
    right = rng.random(tasks.size) < acc[workers]
    wrong = (z + rng.integers(1, max(n_classes, 2), size=tasks.size)) % n_classes
    answer = np.where(right, z, wrong)
    # spammers answer uniformly at random, whatever the truth
    is_spam = workers < n_spam
    answer[is_spam] = rng.integers(0, n_classes, size=int(is_spam.sum()))
    frame = pd.DataFrame(
        {
            "task": tasks,
            "worker": np.char.add("w", workers.astype(str)),
            "label": names[answer].tolist() if labels is not None else answer,
        }
    )
    truth_s = pd.Series(
        names[truth].tolist() if labels is not None else truth, index=pd.RangeIndex(n_tasks)
    )
    return frame, truth_s


def add_perfect_worker(
    frame: pd.DataFrame, truth: pd.Series, worker: str = "perfect"
) -> pd.DataFrame:
    """Append a worker who answers every task correctly."""
    extra = pd.DataFrame({"task": truth.index, "worker": worker, "label": truth.to_numpy()})
    return pd.concat([frame, extra], ignore_index=True)


def accuracy(labels: pd.Series, truth: pd.Series) -> float:
    return float((labels == truth.reindex(labels.index)).mean())
