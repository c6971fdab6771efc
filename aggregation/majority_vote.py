"""(Weighted) majority vote."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import pandas as pd

from aggregation._answers import DuplicatePolicy, encode_answers
from aggregation._base import BaseAggregator, normalize_rows, vote_counts


class MajorityVote(BaseAggregator):
    """Majority vote, optionally weighted by a per-worker skill.

    ``probas_[t, k]`` is the (weighted) share of the votes of task ``t`` that went to class
    ``k``: ``sum of weights of workers answering k / sum of weights of all answers to t``.
    A task whose answers all carry weight 0 gets the uniform distribution.

    Args:
        skills: optional ``pd.Series`` worker → non-negative weight. ``None`` = every
            worker weighs 1. Can also be passed to :meth:`fit` (which then wins).
        default_skill: weight of workers absent from ``skills``. ``None`` (default) makes a
            missing worker an error, so a typo in the skills index cannot go unnoticed.
        duplicates: policy for repeated ``(task, worker)`` rows, see :mod:`aggregation`.
        classes: full label set / column order (default: sorted labels in the data).

    Ties: broken towards the first class of ``classes_`` (the lowest label when the labels
    are sortable), deterministically.

    Fitted attributes:
        labels_: ``(n_tasks,)`` Series task → label.
        probas_: ``(n_tasks, n_classes)`` DataFrame, rows sum to 1.
        classes_: ``(n_classes,)`` Index of labels.
        skills_: ``(n_workers,)`` Series worker → fraction of the worker's answers that
            agree with ``labels_`` (not the input weights).
        n_iter_: always 1 (for interface symmetry with the EM models).

    Degenerate input: an empty frame (or one whose labels are all missing) gives empty
    ``labels_``/``probas_``/``skills_``; a single class gives probability 1 everywhere.
    """

    skills_: pd.Series
    n_iter_: int

    def __init__(
        self,
        skills: pd.Series | None = None,
        *,
        default_skill: float | None = None,
        duplicates: DuplicatePolicy = "last",
        classes: Sequence[Hashable] | pd.Index | None = None,
    ) -> None:
        super().__init__(duplicates=duplicates, classes=classes)
        self.skills = skills
        self.default_skill = default_skill

    def fit(self, frame: pd.DataFrame, skills: pd.Series | None = None) -> MajorityVote:
        """Aggregate ``frame``; ``skills`` overrides the constructor's weights."""
        enc = encode_answers(frame, duplicates=self.duplicates, classes=self.classes)
        skills = skills if skills is not None else self.skills
        weights = None
        if skills is not None:
            weights = self._answer_weights(skills, enc.workers)[enc.worker]
        probas = normalize_rows(vote_counts(enc, weights))
        self._set_posteriors(probas, enc)
        hit = (
            (self.labels_.to_numpy()[enc.task] == enc.classes.to_numpy()[enc.label])
            if len(enc.task)
            else np.zeros(0, dtype=bool)
        )
        n = np.bincount(enc.worker, minlength=enc.n_workers)
        agree = np.bincount(enc.worker, weights=hit.astype(np.float64), minlength=enc.n_workers)
        self.skills_ = pd.Series(
            agree / np.maximum(n, 1), index=pd.Index(enc.workers, name="worker"), name="skill"
        )
        self.n_iter_ = 1
        return self

    def fit_predict(self, frame: pd.DataFrame, skills: pd.Series | None = None) -> pd.Series:
        """Fit and return ``labels_``."""
        return self.fit(frame, skills).labels_

    def fit_predict_proba(
        self, frame: pd.DataFrame, skills: pd.Series | None = None
    ) -> pd.DataFrame:
        """Fit and return ``probas_``."""
        return self.fit(frame, skills).probas_

    def _answer_weights(self, skills: pd.Series, workers: pd.Index) -> np.ndarray:
        if not isinstance(skills, pd.Series):
            raise ValueError(f"skills must be a pandas Series worker → weight, got {type(skills)}")
        if not skills.index.is_unique:
            raise ValueError("skills index has duplicate workers")
        w = skills.reindex(workers).to_numpy(dtype=np.float64, copy=True)
        missing = np.isnan(w) & ~workers.isin(skills.index)
        if missing.any():
            if self.default_skill is None:
                raise ValueError(
                    f"{int(missing.sum())} worker(s) have no skill, e.g. "
                    f"{list(workers[missing][:5])}; pass default_skill= to weigh them"
                )
            w[missing] = self.default_skill
        if np.isnan(w).any() or (w < 0).any():
            raise ValueError("skills must be non-negative numbers (found NaN or a negative)")
        return w
