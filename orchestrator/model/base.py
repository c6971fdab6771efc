"""What a label model fit returns: the boundary between the label model and its callers.

The round runner (and the crowd-free cleaning) call :func:`orchestrator.model.fit_label_model`
once per fit and read only the :class:`LabelModelOutput` it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt


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
