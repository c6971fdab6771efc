"""The boundary between the scheduler and the sampler."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Selection:
    """Items chosen for the crowd in one round.

    Attributes:
        indices: (m,) int64 row indices of the chosen items, none previously inspected.
        clusters: (n,) int64 cluster id of every item (k-means on the latent vectors).
        strategy: the ranking strategy that was used (after ``auto`` resolved it).
        n_clusters: the number of clusters ``c`` that was used (after tuning).
        info: diagnostics of the tuning (coverage per candidate).
    """

    indices: npt.NDArray[np.int64]
    clusters: npt.NDArray[np.int64]
    strategy: str
    n_clusters: int
    info: dict[str, object] = field(default_factory=dict)
