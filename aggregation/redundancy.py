"""Adaptive redundancy: should a task be shown to one more worker?"""

from __future__ import annotations

import numpy as np
import pandas as pd


def needs_more_answers(
    posteriors: pd.DataFrame,
    answers_per_task: pd.Series,
    *,
    confidence: float,
    max_answers: int,
) -> pd.Series:
    """Decide, per task, whether to request another assignment.

    A task needs another answer when its most probable label is still below
    ``confidence`` **and** it has fewer than ``max_answers`` answers:
    ``max(posteriors[t]) < confidence and answers_per_task[t] < max_answers``.

    Args:
        posteriors: ``(n_tasks, n_classes)`` DataFrame indexed by task, e.g. an
            aggregator's ``probas_``. Rows should sum to 1; a row of NaN counts as
            "no information" (max posterior 0).
        answers_per_task: Series task → number of answers collected so far (e.g.
            ``frame.groupby("task").size()``). Tasks listed here but absent from
            ``posteriors`` (no usable answer yet) have max posterior 0; tasks in
            ``posteriors`` but absent here count as 0 answers.
        confidence: required max posterior, in ``(0, 1]``. Keyword-only.
        max_answers: cap on answers per task, ``>= 1``. Keyword-only. (MTurk: keep the
            total ``MaxAssignments`` ≤ 9 to avoid the 20 % surcharge.)

    Returns:
        Boolean Series named ``needs_more_answers`` indexed by the union of both indexes
        (``posteriors`` order first, then the new tasks of ``answers_per_task``).

    Raises:
        ValueError: ``confidence`` outside ``(0, 1]``, ``max_answers < 1``, negative or
            missing answer counts, or duplicate tasks in either input.
    """
    if not 0.0 < confidence <= 1.0:
        raise ValueError(f"confidence must be in (0, 1], got {confidence!r}")
    if int(max_answers) != max_answers or max_answers < 1:
        raise ValueError(f"max_answers must be an integer >= 1, got {max_answers!r}")
    if not posteriors.index.is_unique:
        raise ValueError("posteriors has duplicate tasks in its index")
    if not answers_per_task.index.is_unique:
        raise ValueError("answers_per_task has duplicate tasks in its index")
    counts = pd.to_numeric(answers_per_task, errors="coerce")
    if counts.isna().any() or (counts < 0).any():
        raise ValueError("answers_per_task must hold non-negative numbers (found NaN or negative)")

    new_tasks = answers_per_task.index[~answers_per_task.index.isin(posteriors.index)]
    index = posteriors.index.append(new_tasks)
    best = posteriors.max(axis=1, skipna=True).reindex(index).fillna(0.0)
    n = counts.reindex(index).fillna(0)
    decision = (best.to_numpy(dtype=np.float64) < confidence) & (
        n.to_numpy(dtype=np.float64) < max_answers
    )
    return pd.Series(decision, index=pd.Index(index, name="task"), name="needs_more_answers")
