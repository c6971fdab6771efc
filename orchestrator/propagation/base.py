"""The boundary between the scheduler and the label propagator."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Propagation:
    """Labels copied from verified items to their latent-space neighbours.

    All arrays have one entry per propagated item (length m).

    Attributes:
        indices: (m,) rows that receive a label; never a crowd-verified row.
        labels: (m,) class indices copied from the source.
        sources: (m,) row of the verified item each label came from.
        distances: (m,) Euclidean distance in latent space to the source.
        confidence: (m,) in [0, 1], decreasing with distance.
        fraction: the fraction ``p`` of each cluster that was used (after tuning).
        info: diagnostics of the tuning (validation accuracy and coverage per p).
    """

    indices: npt.NDArray[np.int64]
    labels: npt.NDArray[np.int64]
    sources: npt.NDArray[np.int64]
    distances: npt.NDArray[np.float64]
    confidence: npt.NDArray[np.float64]
    fraction: float
    info: dict[str, object] = field(default_factory=dict)
