"""Crowd-free cleaning: fit the label model on the delivered labels alone, and read per item the
probability that its label is wrong and the class the model suggests instead.

No crowd, no gold: the model is fitted with no observed ``y`` and no validation items, so every
choice it makes (β among them) rests on the delivered labels, and costs nothing but compute.
``crowdclean clean``, ``POST /v1/datasets/{ref}/clean`` and :func:`crowdclean.find_label_issues`
all call :func:`find_issues_without_crowd`; the first two write its rows in the export schema
(:func:`issue_export_chunks`).

The suggested label is the posterior's argmax. The posterior ``p(y | x, ŷ)`` already weighs the
delivered label through the model's noise channel, so the argmax departs from it only where the
features outweigh it; with no crowd there is no evidence to set a stricter threshold on, so a
consumer who wants fewer, surer changes filters on ``p_label_wrong`` instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from orchestrator.data.dataset import LabeledData
from orchestrator.db.models import LabelSource
from orchestrator.export.writer import ExportRow

if TYPE_CHECKING:
    from orchestrator.model.config import ModelConfig

#: Export rows per chunk (the campaign export's chunk, so both stream alike).
CHUNK_ROWS = 10_000


@dataclass(frozen=True)
class LabelIssues:
    """Per-item result of a crowd-free fit (rows aligned with the dataset's items).

    Attributes:
        posterior: (n, K) float64, rows sum to 1: ``p(y | x, ŷ)``.
        given: (n,) int64 class index of the delivered label.
        suggested: (n,) int64 class index the model suggests (the posterior's argmax).
        p_label_wrong: (n,) float64 in [0, 1], ``1 - posterior[i, given[i]]``.
        beta: the data-term weight the fit used.
        info: the fit's diagnostics (``LabelModelOutput.info``: epochs, seconds, β scores …).
    """

    posterior: npt.NDArray[np.float64]
    given: npt.NDArray[np.int64]
    suggested: npt.NDArray[np.int64]
    p_label_wrong: npt.NDArray[np.float64]
    beta: float
    info: dict[str, object] = field(default_factory=dict)

    @property
    def is_issue(self) -> npt.NDArray[np.bool_]:
        """(n,) True where the suggested class differs from the delivered one."""
        return np.asarray(self.suggested != self.given, dtype=np.bool_)

    @property
    def n_issues(self) -> int:
        return int(self.is_issue.sum())


def label_wrong_probability(
    posterior: npt.NDArray[np.float64], labels: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """(n,) ``1 - posterior[i, labels[i]]`` clipped to [0, 1] (float rounding may step past 1)."""
    rows = np.arange(len(labels))
    return np.clip(1.0 - posterior[rows, labels], 0.0, 1.0)


def find_issues_without_crowd(
    data: LabeledData, *, config: ModelConfig | None = None, seed: int = 0
) -> LabelIssues:
    """Fit the label model with no crowd (no observed ``y``, no validation) and read the issues.

    Args:
        data: the dataset; ``gold`` and ``validation`` are not read (crowd-free and gold-free:
            a user's own gold items are for scoring the result).
        config: model hyper-parameters (default :class:`ModelConfig`).
        seed: seeds every generator of the fit (same data, seed and config: same result).

    Imports torch (through :mod:`orchestrator.model.dpm`) on the first call.
    """
    from orchestrator.model import fit_label_model

    n = data.n_items
    out = fit_label_model(
        data,
        observed=np.full(n, -1, dtype=np.int64),
        validation=np.zeros(n, dtype=np.bool_),
        config=config,
        seed=seed,
    )
    posterior = np.asarray(out.posterior, dtype=np.float64)
    given = np.asarray(data.noisy_labels, dtype=np.int64)
    return LabelIssues(
        posterior=posterior,
        given=given,
        suggested=out.predicted,
        p_label_wrong=label_wrong_probability(posterior, given),
        beta=float(out.beta),
        info=dict(out.info),
    )


def issue_export_chunks(
    data: LabeledData, issues: LabelIssues, *, chunk_size: int = CHUNK_ROWS
) -> Iterator[list[ExportRow]]:
    """The crowd-free result as export rows (schema v2), ``chunk_size`` items a chunk.

    ``cleaned_label`` is the suggested class (``source`` ``model`` where it differs from the
    original, else ``original``), ``confidence`` its posterior, ``p_label_wrong`` the original
    label's chance of being wrong; no crowd columns (``{}``, 0 workers, round and cluster -1).
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    names = np.asarray(list(data.classes), dtype=object)
    rows = np.arange(data.n_items)
    confidence = np.round(issues.posterior[rows, issues.suggested], 6)
    p_wrong = np.round(issues.p_label_wrong, 6)
    sources = np.where(issues.is_issue, LabelSource.MODEL.value, LabelSource.ORIGINAL.value)
    for lo in range(0, data.n_items, chunk_size):
        sl = slice(lo, lo + chunk_size)
        m = len(rows[sl])
        yield list(
            map(
                ExportRow,
                data.ids[sl].tolist(),
                names[issues.given[sl]].tolist(),
                names[issues.suggested[sl]].tolist(),
                sources[sl].tolist(),
                confidence[sl].tolist(),
                ["{}"] * m,
                [0] * m,
                [-1] * m,
                [-1] * m,
                p_wrong[sl].tolist(),
            )
        )
