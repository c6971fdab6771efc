"""CHEF's influence of each training label on a loss over evidence items (Wu et al., "CHEF:
a cheap and fast pipeline for iteratively cleaning label uncertainties", VLDB 2021), on a
linear head over the DPM's latent vectors.

The evidence loss is ``L_ev = − Σ_e log p(y_e | x_e)`` over evidence items with trusted
labels. Changing training item ``i``'s label from ``ŷ_i`` to ``c`` (removing ``(x_i, ŷ_i)`` and
adding ``(x_i, c)``, influence-function approximation, Koh & Liang 2017) changes it by about::

    ΔL_ev(i, c) = −(1/n) uᵀ (g_i(c) − g_i(ŷ_i)) = −(1/n) (A_ic − A_iŷ),   u = H⁻¹ Σ_e g_e

with ``g_i(c)`` the gradient of ``log p(c | x_i)``, ``H`` the Hessian of the mean training loss
and ``A = Φ Uᵀ`` (n, K). The ``p(x_i)`` parts of the two gradients cancel, so one solve and one
(n, K) product rank every item and every candidate label. An item's score is the largest
predicted reduction, ``max_c (A_ic − A_iŷ) / n`` (≥ 0), and its **suggested label** the ``c``
that achieves it (its delivered label where no change helps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from orchestrator.sampling.linear_head import LinearHead, fit_linear_head

__all__ = ["InfluenceRanking", "label_influence"]


@dataclass(frozen=True)
class InfluenceRanking:
    """Per-item influence of a label change on the evidence loss.

    Attributes:
        delta: (n, K) predicted change of ``L_ev`` (nats) when item i's label becomes c
            (0 at the delivered label; negative means the change helps).
        score: (n,) ``−min_c delta`` ≥ 0: the largest predicted reduction.
        suggested: (n,) int64 the label achieving it (the delivered label when none helps).
        head: the fitted head (warm start for the next round's fit).
    """

    delta: npt.NDArray[np.float64]
    score: npt.NDArray[np.float64]
    suggested: npt.NDArray[np.int64]
    head: LinearHead


def label_influence(
    latent: npt.NDArray[np.floating],
    labels: npt.NDArray[np.int64],
    n_classes: int,
    evidence_rows: npt.NDArray[np.int64],
    evidence_labels: npt.NDArray[np.int64],
    *,
    l2: float = 1e-2,
    init: LinearHead | None = None,
) -> InfluenceRanking:
    """Influence of each training label on the evidence loss (see the module docstring).

    Args:
        latent: (n, d) latent vectors; labels: (n,) training labels (delivered, with crowd
            labels where verified).
        evidence_rows, evidence_labels: (e,) items whose labels are trusted and their labels
            (crowd-verified items; see :func:`evidence_for` for the crowd-free choice).
        init: the previous round's head: incremental recomputation warm-starts the Newton fit
            (CHEF's Increm-INFL reuses the previous model the same way).
    """
    labels = np.asarray(labels, dtype=np.int64)
    head = fit_linear_head(latent, labels, n_classes, l2=l2, init=init)
    phi = head.features(latent)
    ev = np.asarray(evidence_rows, dtype=np.int64)
    ev_y = np.asarray(evidence_labels, dtype=np.int64)
    p_ev = head.proba(phi[ev])
    onehot = np.zeros_like(p_ev)
    onehot[np.arange(len(ev)), ev_y] = 1.0
    g_ev = (onehot - p_ev).T @ phi[ev]  # Σ_e ∇ log p(y_e | x_e), (K, d + 1)
    u = head.solve(g_ev)
    a = phi @ u.T  # (n, K)
    n = len(labels)
    delta = -(a - a[np.arange(n), labels][:, None]) / n
    best = np.argmin(delta, axis=1)
    score = -delta[np.arange(n), best]
    suggested = np.where(score > 0, best, labels).astype(np.int64)
    return InfluenceRanking(delta, np.maximum(score, 0.0), suggested, head)


def evidence_for(
    posterior: npt.NDArray[np.float64],
    validation_idx: npt.NDArray[np.int64] | None,
    validation_labels: npt.NDArray[np.int64] | None,
    *,
    confidence: float = 0.9,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The evidence items: crowd-verified validation items when there are any, else the
    items the DPM is at least ``confidence`` sure of, with its argmax as their label.

    Why the crowd-free fallback: CHEF assumes a small clean validation set; a campaign's first
    model round has none, and the DPM's confident beliefs (which already weigh the delivered
    label through its noise channel) are the best crowd-free stand-in. Rows (e,), labels (e,).
    """
    if validation_idx is not None and validation_labels is not None and len(validation_idx) > 0:
        return np.asarray(validation_idx, np.int64), np.asarray(validation_labels, np.int64)
    rows = np.flatnonzero(posterior.max(1) >= confidence)
    return rows.astype(np.int64), posterior[rows].argmax(1).astype(np.int64)
