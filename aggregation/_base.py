"""Common scaffolding of the aggregators (crowd-kit calling convention)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from aggregation._answers import (
    DuplicatePolicy,
    EncodedAnswers,
    FloatArray,
    argmax_lowest,
    labels_series,
    probas_frame,
)


class BaseAggregator(ABC):
    """Base of every classification aggregator.

    Subclasses implement :meth:`fit`; this class supplies ``fit_predict`` and
    ``fit_predict_proba`` and the helpers that turn a ``(n_tasks, n_classes)`` posterior
    matrix into the public fitted attributes.

    Fitted attributes (all aggregators):
        labels_: ``pd.Series`` indexed by ``task`` (index name ``"task"``), the aggregated
            label of each task, same values as the input labels. Ties go to the first
            class in ``classes_`` (the lowest label when labels are sortable).
        probas_: ``pd.DataFrame``, tasks × ``classes_``; each row sums to 1.
        classes_: ``pd.Index`` of the label values, in column order of ``probas_``.
    """

    duplicates: DuplicatePolicy
    classes: Sequence[Hashable] | pd.Index | None

    labels_: pd.Series
    probas_: pd.DataFrame
    classes_: pd.Index

    def __init__(
        self,
        *,
        duplicates: DuplicatePolicy = "last",
        classes: Sequence[Hashable] | pd.Index | None = None,
    ) -> None:
        self.duplicates = duplicates
        self.classes = classes

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (public attributes without a trailing underscore)."""
        return {
            k: v for k, v in vars(self).items() if not k.startswith("_") and not k.endswith("_")
        }

    @abstractmethod
    def fit(self, frame: pd.DataFrame) -> BaseAggregator:
        """Fit on an answers frame (columns ``task``, ``worker``, ``label``); return self."""

    def fit_predict(self, frame: pd.DataFrame) -> pd.Series:
        """Fit and return ``labels_`` (task → aggregated label)."""
        return self.fit(frame).labels_

    def fit_predict_proba(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Fit and return ``probas_`` (tasks × classes, rows summing to 1)."""
        return self.fit(frame).probas_

    def _set_posteriors(self, probas: FloatArray, enc: EncodedAnswers) -> None:
        self.classes_ = enc.classes
        self.probas_ = probas_frame(probas, enc.tasks, enc.classes)
        self.labels_ = labels_series(argmax_lowest(probas), enc.tasks, enc.classes)


def vote_counts(enc: EncodedAnswers, weights: FloatArray | None = None) -> FloatArray:
    """``(n_tasks, n_classes)`` (weighted) number of votes for each class of each task."""
    k = enc.n_classes
    flat = np.bincount(enc.task * k + enc.label, weights=weights, minlength=enc.n_tasks * k)
    return np.asarray(flat, dtype=np.float64).reshape(enc.n_tasks, k)


def normalize_rows(mat: FloatArray) -> FloatArray:
    """Divide each row by its sum; rows summing to 0 become uniform."""
    sums = mat.sum(axis=1, keepdims=True)
    k = mat.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(sums > 0, mat / np.where(sums > 0, sums, 1.0), 1.0 / max(k, 1))
    return np.asarray(out, dtype=np.float64)
