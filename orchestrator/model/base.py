"""The boundary between the scheduler and the label model.

The scheduler calls :func:`orchestrator.model.fit_label_model` once per round; whatever model
sits behind it returns a :class:`LabelModelOutput`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from orchestrator.data.dataset import LabeledData


@dataclass(frozen=True)
class LabelModelOutput:
    """What a fitted label model tells the rest of the round.

    Attributes:
        posterior: (n, K) float64, rows sum to 1: the model's belief about each item's true
            class given its features and its noisy label.
        latent: (n, d_z) float32, a latent vector per item (the posterior mean of ``z``), the
            space in which the sampler clusters and the propagator measures distances.
        beta: the data-term weight that was used (after tuning).
        info: free-form diagnostics for the round report (validation accuracy, epochs, ...).
        label_weights: (n,) float64 in [0, 1], the robust update's final per-item weight of the
            delivered label's term (``ModelConfig.robust_update``); None when it was off.
    """

    posterior: npt.NDArray[np.float64]
    latent: npt.NDArray[np.float32]
    beta: float
    info: dict[str, object] = field(default_factory=dict)
    label_weights: npt.NDArray[np.float64] | None = None

    @property
    def predicted(self) -> npt.NDArray[np.int64]:
        """(n,) argmax of the posterior."""
        return np.asarray(self.posterior.argmax(axis=1), dtype=np.int64)


class LabelModel(Protocol):
    """Anything that turns (features, noisy labels, crowd-verified labels) into beliefs."""

    def fit(
        self,
        data: LabeledData,
        *,
        observed: npt.NDArray[np.int64],
        validation: npt.NDArray[np.bool_],
        seed: int,
    ) -> LabelModelOutput:
        """Fit and return per-item beliefs.

        Args:
            data: the dataset (its ``gold`` must not be read: it is evaluation-only).
            observed: (n,) crowd-verified true class per item, ``-1`` where not verified.
                Verified items are observed ``y`` (the semi-supervised term).
            validation: (n,) bool, the verified items held out for early stopping and tuning;
                always a subset of ``observed != -1``.
            seed: seeds every generator of the fit.
        """
        ...
