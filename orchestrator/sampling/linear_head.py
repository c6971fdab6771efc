"""A softmax-regression head on the DPM's latent vectors: the cheap, differentiable model
behind the influence (CHEF) and counter-example (CINCER) strategies.

Parameters ``W`` are (K, d + 1): one row per class over the standardised latent vector and a
bias. The loss is the mean negative log-likelihood of the given labels plus
``l2 / 2 · ||W||²`` (the L2 term makes the Hessian positive definite: softmax logits are
otherwise only defined up to a constant per item). Its Hessian is also the Fisher information
of the head (for the softmax the expected and the observed Hessian coincide), so one Cholesky
factor serves the influence functions and the Fisher kernel.

Per-item gradients of ``log p(y | x)`` are ``(e_y − p(x)) φ(x)ᵀ``; for a direction ``V``
(K, d + 1) their inner products with every item need only ``Φ Vᵀ`` (n, K), never the (n, K(d+1))
gradient matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import linalg

__all__ = ["LinearHead", "fit_linear_head"]


@dataclass(frozen=True)
class LinearHead:
    """A fitted head.

    Attributes:
        weights: (K, d + 1) float64 class weights (last column: bias).
        mean, scale: (d,) standardisation of the latent vectors it was fitted on.
        hessian_factor: Cholesky factor (``scipy.linalg.cho_factor``) of the (P, P) Hessian of
            the mean training loss at ``weights``, ``P = K (d + 1)``, row-major over ``weights``.
        iterations: Newton steps the fit took.
    """

    weights: npt.NDArray[np.float64]
    mean: npt.NDArray[np.float64]
    scale: npt.NDArray[np.float64]
    hessian_factor: tuple[npt.NDArray[np.float64], bool]
    iterations: int

    @property
    def n_classes(self) -> int:
        return int(self.weights.shape[0])

    def features(self, latent: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        """(n, d) latent vectors → (n, d + 1) standardised features with a bias column."""
        z = (np.asarray(latent, dtype=np.float64) - self.mean) / self.scale
        return np.hstack([z, np.ones((z.shape[0], 1))])

    def proba(self, phi: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """(n, d + 1) features → (n, K) class probabilities."""
        return _softmax(phi @ self.weights.T)

    def solve(self, direction: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """``H⁻¹ g`` for a (K, d + 1) direction ``g``, same shape."""
        flat = linalg.cho_solve(self.hessian_factor, direction.ravel())
        return np.asarray(flat, dtype=np.float64).reshape(self.weights.shape)

    def label_gradient(self, phi: npt.NDArray[np.float64], label: int) -> npt.NDArray[np.float64]:
        """(K, d + 1) gradient of ``log p(label | x)`` for one item's (d + 1,) features."""
        p = self.proba(phi[None, :])[0]
        onehot = np.zeros(self.n_classes)
        onehot[label] = 1.0
        return np.outer(onehot - p, phi)

    def gradient_products(
        self,
        phi: npt.NDArray[np.float64],
        labels: npt.NDArray[np.int64],
        direction: npt.NDArray[np.float64],
    ) -> npt.NDArray[np.float64]:
        """(n,) ``⟨∇ log p(labels_i | x_i), direction⟩`` for every item, in O(n K (d + 1))."""
        a = phi @ direction.T  # (n, K)
        p = self.proba(phi)
        return np.asarray(
            a[np.arange(len(labels)), labels] - np.einsum("ik,ik->i", p, a), dtype=np.float64
        )


def _softmax(logits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    e = np.exp(logits - logits.max(1, keepdims=True))
    return np.asarray(e / e.sum(1, keepdims=True), dtype=np.float64)


def _hessian(
    phi: npt.NDArray[np.float64], p: npt.NDArray[np.float64], w: npt.NDArray[np.float64], l2: float
) -> npt.NDArray[np.float64]:
    """(P, P) Hessian of the weighted mean NLL: Σ_i w_i (diag p_i − p_i p_iᵀ) ⊗ φ_i φ_iᵀ / Σ w.

    As ``blockdiag_a(Φᵀ diag(w p_a) Φ) − Zᵀ diag(w) Z`` with ``Z_i = p_i ⊗ φ_i``: two GEMMs per
    block of 4,096 items, so memory stays O(4096 · P) whatever n is.
    """
    n, q = phi.shape
    k = p.shape[1]
    h = np.zeros((k * q, k * q))
    for s in range(0, n, 4096):
        ph, pp, ww = phi[s : s + 4096], p[s : s + 4096], w[s : s + 4096]
        z = (pp[:, :, None] * ph[:, None, :]).reshape(len(ph), k * q)
        h -= (z * ww[:, None]).T @ z
        for a in range(k):
            h[a * q : (a + 1) * q, a * q : (a + 1) * q] += (ph * (ww * pp[:, a])[:, None]).T @ ph
    h /= w.sum()
    h[np.diag_indices_from(h)] += l2
    return h


def fit_linear_head(
    latent: npt.NDArray[np.floating],
    labels: npt.NDArray[np.int64],
    n_classes: int,
    *,
    l2: float = 1e-2,
    sample_weight: npt.NDArray[np.float64] | None = None,
    init: LinearHead | None = None,
    max_iter: int = 50,
    tol: float = 1e-7,
) -> LinearHead:
    """Fit the head by damped Newton (backtracking line search; the loss is strictly convex).

    Args:
        latent: (n, d) latent vectors; labels: (n,) int64 classes in [0, n_classes).
        l2: weight of the L2 penalty (per parameter, on the mean loss).
        sample_weight: (n,) non-negative weights of the items' losses; None: all 1.
        init: a previous head to start from (its standardisation is kept): between rounds
            only a few labels change, so a warm start needs fewer steps.
        max_iter: Newton steps at most; tol: stop when the gradient's largest entry is below
            it (:attr:`LinearHead.iterations` says how many steps were taken).
    """
    x = np.asarray(latent, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if init is not None:
        mean, scale, weights = init.mean, init.scale, init.weights.copy()
    else:
        mean = x.mean(0)
        scale = np.maximum(x.std(0), 1e-8)
        weights = np.zeros((n_classes, x.shape[1] + 1))
    phi = np.hstack([(x - mean) / scale, np.ones((len(y), 1))])
    onehot = np.zeros((len(y), n_classes))
    onehot[np.arange(len(y)), y] = 1.0
    wsum = w.sum()

    def loss_and_proba(
        weights: npt.NDArray[np.float64],
    ) -> tuple[float, npt.NDArray[np.float64]]:
        logits = phi @ weights.T
        top = logits.max(1, keepdims=True)
        log_z = top[:, 0] + np.log(np.exp(logits - top).sum(1))
        nll = float(((log_z - logits[np.arange(len(y)), y]) * w).sum() / wsum)
        return nll + 0.5 * l2 * float((weights**2).sum()), _softmax(logits)

    factor: tuple[npt.NDArray[np.float64], bool] | None = None
    it = 0
    loss, p = loss_and_proba(weights)
    while it < max_iter:
        grad = ((p - onehot) * w[:, None]).T @ phi / wsum + l2 * weights
        if np.abs(grad).max() < tol:
            break  # at the optimum: the last factor is the Hessian here
        it += 1
        factor = linalg.cho_factor(_hessian(phi, p, w, l2))
        step = linalg.cho_solve(factor, grad.ravel()).reshape(weights.shape)
        # Backtracking (Armijo): a full Newton step overshoots on nearly separable latents
        # (the DPM's class columns), and undamped Newton then never converged on digits.
        slope = float((grad * step).sum())
        t = 1.0
        while True:
            new_loss, new_p = loss_and_proba(weights - t * step)
            if new_loss <= loss - 1e-4 * t * slope or t < 1e-8:
                break
            t *= 0.5
        weights, loss, p = weights - t * step, new_loss, new_p
        factor = None
    if factor is None:
        factor = linalg.cho_factor(_hessian(phi, p, w, l2))
    return LinearHead(weights, mean, scale, factor, it)
