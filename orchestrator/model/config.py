"""Hyper-parameters of the deep probabilistic model (DPM)."""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    field_validator,
    model_validator,
)

from orchestrator.config_types import AtLeastOne, Share, ShareBelowOne

#: Keys of fields that no longer exist, accepted (and ignored) in stored campaign configs.
_RETIRED_KEYS = frozenset({"min_delta"})


class ModelConfig(BaseModel):
    """Everything :func:`orchestrator.model.fit_label_model` needs besides the data.

    ``beta`` is the weight of the data term **per input dimension**: the training objective
    uses ``beta * beta_reference_dim / d * log p(x | z, y)`` for ``d`` input dimensions, so the
    same grid means the same trade-off on 64-pixel and 784-pixel images (see
    :mod:`orchestrator.model.dpm`). ``beta=None`` searches ``beta_grid`` on the validation items;
    pass the returned ``LabelModelOutput.beta`` back as ``beta`` in later rounds to skip the
    search.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    latent_dim: int = Field(default=16, ge=1, le=4096, description="Dimension d_z of z.")
    hidden: tuple[int, ...] = Field(
        default=(128,), description="Hidden layer widths of every MLP (encoders and decoders)."
    )
    epochs: int = Field(
        default=100, ge=1, le=100_000, description="Maximum epochs of the final fit."
    )
    search_epochs: int = Field(
        default=20,
        ge=1,
        le=100_000,
        description=(
            "Maximum epochs per beta candidate during the search. 20, not 10: under structural "
            "noise the data term overrules the regional wrong labels only after 15-60 epochs "
            "(validation accuracy flat, then rising), so 10 epochs ranked the candidates on "
            "no evidence (benchmarks/results/model.md, section 1)."
        ),
    )
    batch_size: int = Field(default=128, ge=1, le=1_000_000, description="Items per mini-batch.")
    lr: PositiveFloat = Field(default=5e-3, description="Adam learning rate.")
    weight_decay: NonNegativeFloat = Field(default=0.0, description="Adam L2 weight decay.")
    patience: AtLeastOne = Field(
        default=20,
        description=(
            "Epochs without a better validation score before stopping. Longer than the "
            "validation plateau (up to 15 epochs) seen before the data term starts to correct "
            "structural noise; the best state is restored, so only time is spent."
        ),
    )
    beta: float | None = Field(
        default=None, ge=0, description="Data-term weight; None searches beta_grid."
    )
    beta_grid: tuple[float, ...] = Field(default=(1e-4, 1e-3, 1e-2, 1e-1, 1.0))
    beta_switch_items: AtLeastOne = Field(
        default=2,
        description="The β search leaves the incumbent (fallback_beta first) only for a value "
        "that gets at least this many more validation items right (1: any strict gain).",
    )
    heldout_share: ShareBelowOne = Field(
        default=0.2,
        description="With no crowd-verified validation items, the beta search holds this share "
        "of the delivered labels (stratified by class) out of each candidate's training and "
        "scores the candidate by their log-likelihood through its noise channel. 0: no crowd-free "
        "search (fallback_beta is used).",
    )
    beta_switch_se: NonNegativeFloat = Field(
        default=2.0,
        description="The crowd-free beta search leaves fallback_beta only for the best candidate, "
        "and only if its mean held-out log-likelihood gain over fallback_beta exceeds this many "
        "standard errors of the paired per-item difference.",
    )
    beta_reference_dim: PositiveFloat = Field(
        default=256.0,
        description=(
            "The data log-likelihood is divided by the input dimension d and multiplied by "
            "this constant, so beta=1 weighs it like a 256-dimensional (16x16) input at full "
            "weight, whatever d is."
        ),
    )
    fallback_beta: NonNegativeFloat = Field(
        default=0.1,
        description="beta used when beta is None but there are no validation items to search.",
    )
    latent_class_weight: NonNegativeFloat = Field(
        default=1.0,
        description=(
            "0 reports the posterior mean of z alone as the latent vector (d_z columns). "
            "> 0 appends weight * sqrt(d_z) * p(y|x,ŷ) to the whitened z mean (d_z + K "
            "columns), so that latent neighbours share their inferred class as well as style."
        ),
    )
    supervised_weight: NonNegativeFloat = Field(
        default=1.0, description="Weight of log q(y|x) on crowd-verified training items."
    )
    noise_prior: float = Field(
        default=0.2,
        gt=0,
        lt=1,
        description="Initial flip probability of the noisy-label channel p(ŷ|z,y).",
    )
    noise_penalty: NonNegativeFloat = Field(
        default=10.0,
        description="L2 penalty on the z-dependent part of the noisy-label logits.",
    )
    robust_update: bool = Field(
        default=False,
        description="Kim's robust parameter update (ALC, ECCV 2022): after robust_warmup epochs, "
        "each unverified item's noisy-label term is weighted by how much the classifier q(y|x) "
        "believes its delivered label (q(ŷ|x) / max_k q(k|x), at least robust_floor), "
        "recomputed every epoch, so suspected-noisy items pull the fit less.",
    )
    robust_warmup: int = Field(
        default=5,
        ge=0,
        le=100_000,
        description="Epochs at full weight before the robust weights apply (the classifier "
        "first learns the easy, mostly clean part of the data).",
    )
    robust_floor: Share = Field(
        default=0.05,
        description="Smallest robust weight: an item the model doubts still teaches a little.",
    )
    posterior_samples: int = Field(
        default=8, ge=1, le=4096, description="Monte-Carlo samples of z for E_q(z|x,y) p(ŷ|z,y)."
    )
    device: str = Field(
        default="auto",
        pattern=r"^(auto|cpu|cuda(:[0-9]+)?|mps)$",
        description="'auto' (CUDA when present), 'cpu', 'cuda' (or 'cuda:N'), 'mps'.",
    )
    torch_threads: int | None = Field(
        default=1,
        ge=1,
        le=1024,
        description="torch.set_num_threads for the fit; None leaves it alone. 1, not 2: the "
        "MLPs are small, and on 2 cores with anything else running a second intra-op thread "
        "waits at every barrier (a 1,797-item digits fit took 3-8 s with 1 thread and 28-34 s "
        "with 2 at load average 2-4; benchmarks/results/model.md section 3).",
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_retired_keys(cls, data: Any) -> Any:
        """Campaign configs stored before a field was retired still load: its key is dropped.
        ``min_delta`` went when early stopping began to compare validation accuracy only."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in _RETIRED_KEYS}
        return data

    @field_validator("beta_grid")
    @classmethod
    def _grid_not_empty(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v or any(b < 0 for b in v):
            raise ValueError("beta_grid needs at least one non-negative value")
        return v

    @field_validator("hidden")
    @classmethod
    def _hidden_positive(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(h < 1 for h in v):
            raise ValueError("hidden needs at least one positive width")
        if len(v) > 16 or any(h > 16384 for h in v):
            raise ValueError("hidden allows at most 16 layers of at most 16384 units")
        return v
