"""CINCER's counter-examples (Teso et al., "Interactive label cleaning with example-based
explanations", NeurIPS 2021) on a linear head over the DPM's latent vectors.

For a suspicious item ``s`` with delivered label ``ỹ_s``, the counter-example is the training
item ``k`` (with its delivered label ``y_k``) most *incompatible* with it under the model:
the one whose up-weighting most lowers the model's support for ``ỹ_s``. With ``g_i`` the
gradient of ``log p(y_i | x_i)`` and ``F`` the Fisher information, up-weighting ``k`` by ε moves
the parameters by ``ε F⁻¹ g_k`` and so changes ``log p(ỹ_s | x_s)`` by ``ε g_sᵀ F⁻¹ g_k`` (the
Fisher kernel). Incompatibility is its negative::

    incompatibility(s, k) = − g_sᵀ F⁻¹ g_k

Shown side by side, the two labels cannot both be right under the model: either ``ỹ_s`` is
wrong, or ``y_k`` is, and one pair task asks the worker which.

Why a linear head and not the DPM itself: the Fisher kernel needs per-item gradients and an
inverse Fisher matrix; the DPM has ~10⁵ parameters, the head on its latent vectors K·(d + 1)
(270 on digits), where ``F`` is exact (the softmax's Hessian) and one Cholesky factor serves
every suspicious item. The latent vectors already carry what the DPM learned, so the head's
geometry is the DPM's; what is lost is only the encoder's own sensitivity to a label change.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from orchestrator.sampling.linear_head import LinearHead, fit_linear_head

__all__ = ["counter_examples", "incompatibility"]


def incompatibility(
    head: LinearHead,
    phi: npt.NDArray[np.float64],
    labels: npt.NDArray[np.int64],
    suspicious: int,
) -> npt.NDArray[np.float64]:
    """(n,) ``−g_sᵀ F⁻¹ g_k`` of every item ``k`` against ``suspicious`` (nats per unit weight).

    Args:
        head: the fitted head (its Hessian factor is the Fisher matrix).
        phi: (n, d + 1) the head's features of every item (:meth:`LinearHead.features`).
        labels: (n,) int64 the labels the head was trained on (delivered labels).
        suspicious: row of the suspicious item.
    """
    v = head.solve(head.label_gradient(phi[suspicious], int(labels[suspicious])))
    return -head.gradient_products(phi, labels, v)


def counter_examples(
    latent: npt.NDArray[np.floating],
    labels: npt.NDArray[np.int64],
    n_classes: int,
    suspicious: npt.NDArray[np.int64],
    candidates: npt.NDArray[np.bool_],
    *,
    l2: float = 1e-2,
    head: LinearHead | None = None,
) -> npt.NDArray[np.int64]:
    """The most incompatible candidate for each suspicious item, without repeats.

    Args:
        latent: (n, d) latent vectors; labels: (n,) delivered labels (the training labels).
        suspicious: (m,) rows, in priority order (an earlier one chooses first).
        candidates: (n,) bool, rows that may serve as counter-examples (suspicious rows and
            already chosen counter-examples are excluded in any case).
        head: a head already fitted on ``(latent, labels)``; None fits one.

    Returns:
        (m,) int64 counter-example row per suspicious item, -1 where no candidate is left.
    """
    labels = np.asarray(labels, dtype=np.int64)
    head = head or fit_linear_head(latent, labels, n_classes, l2=l2)
    phi = head.features(latent)
    free = np.asarray(candidates, dtype=bool).copy()
    free[np.asarray(suspicious, dtype=np.int64)] = False
    out = np.full(len(suspicious), -1, dtype=np.int64)
    for j, s in enumerate(np.asarray(suspicious, dtype=np.int64)):
        if not free.any():
            break
        score = np.where(free, incompatibility(head, phi, labels, int(s)), -np.inf)
        k = int(np.argmax(score))
        out[j] = k
        free[k] = False
    return out
