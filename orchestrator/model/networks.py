"""The torch networks of the DPM and its per-item evidence lower bound.

Generative story per item (K classes, d input dimensions, d_z latent dimensions)::

    z ~ N(0, I_{d_z}),  y ~ Cat(1/K),  x ~ p_θ(x | z, y),  ŷ ~ p_γ(ŷ | z, y)

Variational family ``q(z, y | x) = q_ψ(y | x) · q_φ(z | x, y)`` (categorical × diagonal
Gaussian). Every network is an MLP. The networks that take ``y`` are evaluated for all K
classes at once: the first layer is ``W·input + E[y]`` with a per-class embedding ``E``, so the
(often wide) input is projected once per item, not K times.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F  # noqa: N812

from orchestrator.data.dataset import FeatureKind


def _mlp(widths: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(widths[:-1]):
        layers += [nn.Linear(a, b), nn.SiLU()]
    layers.append(nn.Linear(widths[-2], widths[-1]))
    return nn.Sequential(*layers)


class _ClassConditioned(nn.Module):
    """MLP of ``(input, y)`` evaluated for every class: (B, d_in) → (B, K, d_out)."""

    def __init__(self, d_in: int, n_classes: int, hidden: tuple[int, ...], d_out: int) -> None:
        super().__init__()
        self.first = nn.Linear(d_in, hidden[0])
        self.class_embedding = nn.Parameter(torch.randn(n_classes, hidden[0]) * 0.1)
        self.rest = _mlp([hidden[0], *hidden[1:], d_out])

    def forward(self, inp: Tensor) -> Tensor:
        # inp is (B, d_in) or (B, K, d_in) when it already depends on the class.
        h = self.first(inp)
        if h.dim() == 2:
            h = h[:, None, :]
        return self.rest(F.silu(h + self.class_embedding))


class DPMNetwork(nn.Module):
    """All networks of the DPM.

    Args:
        d: input dimension.
        n_classes: K.
        feature_kind: picks the data likelihood (Gaussian / Bernoulli / Multinomial).
        latent_dim: d_z.
        hidden: hidden widths of each MLP.
        noise_prior: initial flip probability of the noisy-label channel.
    """

    def __init__(
        self,
        d: int,
        n_classes: int,
        feature_kind: FeatureKind,
        latent_dim: int,
        hidden: tuple[int, ...],
        noise_prior: float,
    ) -> None:
        super().__init__()
        self.d = d
        self.n_classes = n_classes
        self.feature_kind = feature_kind
        self.latent_dim = latent_dim
        self.classifier = _mlp([d, *hidden, n_classes])  # q_ψ(y | x)
        self.encoder = _ClassConditioned(d, n_classes, hidden, 2 * latent_dim)  # q_φ(z | x, y)
        self.decoder = _ClassConditioned(latent_dim, n_classes, tuple(reversed(hidden)), d)
        if feature_kind == FeatureKind.CONTINUOUS:
            self.log_sigma = nn.Parameter(torch.zeros(d))
        # p_γ(ŷ | z, y): a class-to-class channel plus a z-dependent correction that starts at 0,
        # so training starts from "the noisy label is right with probability 1 - noise_prior".
        diag = math.log((1 - noise_prior) * (n_classes - 1) / noise_prior) if n_classes > 1 else 0
        self.channel = nn.Parameter(torch.eye(n_classes) * diag)
        self.noise_net = _ClassConditioned(latent_dim, n_classes, (64,), n_classes)
        last = self.noise_net.rest[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def encode(self, x_in: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(B, d) encoder input → class logits (B, K), z mean (B, K, d_z), z log-variance."""
        logits = self.classifier(x_in)
        stats = self.encoder(x_in)
        mu, logvar = stats.chunk(2, dim=-1)
        return logits, mu, logvar.clamp(-8.0, 8.0)

    def noisy_label_logits(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """z (..., B, K, d_z) → logits of ŷ (..., B, K, K) and the z-dependent part."""
        shape = z.shape
        flat = z.reshape(-1, shape[-2], shape[-1])
        extra = self.noise_net(flat).reshape(*shape[:-1], self.n_classes)
        return self.channel + extra, extra

    def data_log_likelihood(self, z: Tensor, x: Tensor) -> Tensor:
        """log p(x | z, y) in nats for every class: z (B, K, d_z), x (B, d) → (B, K)."""
        out = self.decoder(z)
        xb = x[:, None, :].expand_as(out)
        if self.feature_kind == FeatureKind.PIXELS:
            return -F.binary_cross_entropy_with_logits(out, xb, reduction="none").sum(-1)
        if self.feature_kind == FeatureKind.COUNTS:
            # Multinomial without the (constant) multinomial coefficient.
            return (xb * F.log_softmax(out, dim=-1)).sum(-1)
        log_sigma = self.log_sigma.clamp(-5.0, 5.0)
        resid = (xb - out) * torch.exp(-log_sigma)
        return (-0.5 * resid.pow(2) - log_sigma - 0.5 * math.log(2 * math.pi)).sum(-1)

    def elbo_terms(
        self,
        x_in: Tensor,
        x: Tensor,
        noisy: Tensor,
        observed: Tensor,
        *,
        data_weight: float,
        supervised_weight: float,
        generator: torch.Generator | None,
        label_seen: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Per-item objective to maximise and the noise-net penalty.

        Args:
            x_in: (B, d) encoder input (standardised / log-scaled features).
            x: (B, d) features in the likelihood's space.
            noisy: (B,) int64 noisy labels ŷ.
            observed: (B,) int64 crowd-verified y, -1 where unknown.
            data_weight: the effective weight of log p(x|z,y) (β · reference_dim / d).
            supervised_weight: weight of log q(y|x) for observed items.
            generator: torch generator for the reparameterisation noise.
            label_seen: (B,) bool or float weight in [0, 1] of the term ``log p(ŷ | z, y)``.
                False / 0 where the noisy label is held out: the term is dropped, so the item
                trains like an unlabelled one (the β search scores held-out noisy labels; see
                :mod:`orchestrator.model.dpm`). Fractions: the robust update's weights
                (``ModelConfig.robust_update``). None: every noisy label at full weight.

        Returns:
            (B,) per-item objective (nats) and a scalar mean squared z-dependent noise logit.
        """
        logits, mu, logvar = self.encode(x_in)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps
        noise_logits, extra = self.noisy_label_logits(z)  # (B, K, K)
        log_p_noisy = F.log_softmax(noise_logits, dim=-1)
        idx = noisy[:, None, None].expand(-1, self.n_classes, 1)
        ll_noisy = log_p_noisy.gather(-1, idx).squeeze(-1)  # (B, K)
        if label_seen is not None:
            ll_noisy = ll_noisy * label_seen[:, None].to(ll_noisy.dtype)
        kl_z = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)  # (B, K)
        per_class = ll_noisy - kl_z
        if data_weight > 0:
            per_class = per_class + data_weight * self.data_log_likelihood(z, x)
        log_q = F.log_softmax(logits, dim=-1)
        q = log_q.exp()
        # Unobserved y: E_q(y)[per_class] - KL(q(y|x) || Cat(1/K)).
        unobs = (q * (per_class - log_q)).sum(-1) - math.log(self.n_classes)
        is_obs = observed >= 0
        y_obs = observed.clamp(min=0)[:, None]
        obs = per_class.gather(-1, y_obs).squeeze(-1) + supervised_weight * log_q.gather(
            -1, y_obs
        ).squeeze(-1)
        objective = torch.where(is_obs, obs, unobs)
        return objective, extra.pow(2).mean()

    @torch.no_grad()
    def noisy_label_log_likelihood(
        self, x_in: Tensor, noisy: Tensor, *, samples: int, generator: torch.Generator | None
    ) -> Tensor:
        """``log p(ŷ | x) = log Σ_y q(y | x) · E_{q(z|x,y)} p(ŷ | z, y)`` per item, nats.

        The model's own prediction of the delivered label through its noise channel: the β
        search's crowd-free criterion on items whose label was held out of training.

        Returns:
            (B,) float64.
        """
        logits, mu, logvar = self.encode(x_in)
        log_evidence = self._log_evidence(mu, logvar, noisy, samples, generator)
        return torch.logsumexp(F.log_softmax(logits, dim=-1) + log_evidence, dim=-1).double()

    def _log_evidence(
        self,
        mu: Tensor,
        logvar: Tensor,
        noisy: Tensor,
        samples: int,
        generator: torch.Generator | None,
    ) -> Tensor:
        """(B, K) Monte-Carlo ``log E_{q(z|x,y)} p(ŷ | z, y)`` from ``samples`` draws of z."""
        eps = torch.randn(
            (samples, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype
        )
        z = mu + torch.exp(0.5 * logvar) * eps  # (S, B, K, d_z)
        noise_logits, _ = self.noisy_label_logits(z)
        log_p = F.log_softmax(noise_logits, dim=-1)
        idx = noisy[None, :, None, None].expand(samples, -1, self.n_classes, 1)
        ll = log_p.gather(-1, idx).squeeze(-1)  # (S, B, K)
        return torch.logsumexp(ll, dim=0) - math.log(samples)

    @torch.no_grad()
    def beliefs(
        self, x_in: Tensor, noisy: Tensor, *, samples: int, generator: torch.Generator | None
    ) -> tuple[Tensor, Tensor]:
        """Posterior over the true class and latent mean for a batch.

        ``p(y | x, ŷ) ∝ q(y | x) · E_{q(z|x,y)} p(ŷ | z, y)`` with the expectation estimated by
        ``samples`` draws of z. The latent vector is the mean of ``q(z | x, ŷ)``:
        ``Σ_y p(y | x, ŷ) · μ(x, y)``.

        Returns:
            posterior (B, K) float64 rows summing to 1, latent (B, d_z) float32.
        """
        logits, mu, logvar = self.encode(x_in)
        log_evidence = self._log_evidence(mu, logvar, noisy, samples, generator)
        log_post = F.log_softmax(logits, dim=-1) + log_evidence
        post = F.softmax(log_post.double(), dim=-1)
        latent = (post.float()[:, :, None] * mu).sum(1)
        return post, latent
