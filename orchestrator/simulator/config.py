"""Configuration of the MTurk simulator. All simulated durations are multiplied by
``time_factor`` (0.001 makes a 60 s worker arrival take 60 ms); ``latency_s`` is real time."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator


class WorkerKindConfig(BaseModel):
    """One kind of simulated worker.

    ``accuracy``: probability (0-1) of perceiving the true label (each worker's own value is
    drawn around it with ``accuracy_spread``, or from ``Beta(*accuracy_beta)`` when set); errors
    are spread uniformly over the other options, except for ``adversarial`` workers who pick a
    wrong label on purpose and ``spammer`` workers who answer at random. ``approval_rate`` is
    the worker's MTurk approval percentage (0-100) used by qualification requirements.
    ``garbage_rate``: chance of submitting an empty or unusable form.
    """

    share: float = Field(ge=0)
    accuracy: float = Field(ge=0, le=1)
    accuracy_spread: float = Field(default=0.02, ge=0, le=0.5)
    accuracy_beta: tuple[float, float] | None = Field(
        default=None,
        description="(a, b): draw each worker's accuracy from Beta(a, b) instead of "
        "Normal(accuracy, accuracy_spread), e.g. (17, 3) for mean 0.85.",
    )
    approval_rate: int = Field(default=98, ge=0, le=100)
    garbage_rate: float = Field(default=0.0, ge=0, le=1)
    mean_work_s: float = Field(default=30.0, gt=0, description="Simulated seconds per HIT.")


def _default_kinds() -> dict[str, WorkerKindConfig]:
    return {
        "diligent": WorkerKindConfig(share=0.55, accuracy=0.95, approval_rate=99),
        "sloppy": WorkerKindConfig(share=0.25, accuracy=0.70, approval_rate=96, mean_work_s=10),
        "spammer": WorkerKindConfig(
            share=0.10, accuracy=0.0, approval_rate=93, garbage_rate=0.2, mean_work_s=3
        ),
        "adversarial": WorkerKindConfig(share=0.10, accuracy=0.15, approval_rate=97),
    }


class WorkerPoolConfig(BaseModel):
    """The simulated crowd: ``n_workers`` drawn with the ``kinds`` mix (shares are normalised)."""

    n_workers: int = Field(default=40, ge=1)
    kinds: dict[str, WorkerKindConfig] = Field(default_factory=_default_kinds)
    locales: dict[str, float] = Field(
        default_factory=lambda: {"US": 0.7, "GB": 0.1, "IN": 0.15, "CA": 0.05},
        description="Country code → share of workers.",
    )
    anchoring: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Probability that a worker shown a suggested label (the form's hidden "
        "suggested_label field, CampaignConfig.show_suggestion) answers with it instead of "
        "what they perceive: a configurable anchoring effect. 0: suggestions change nothing.",
    )
    mean_arrival_s: float = Field(
        default=60.0, gt=0, description="Mean simulated seconds from HIT creation to acceptance."
    )

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, v: dict[str, WorkerKindConfig]) -> dict[str, WorkerKindConfig]:
        unknown = set(v) - {"diligent", "sloppy", "spammer", "adversarial"}
        if unknown:
            raise ValueError(f"unknown worker kinds {sorted(unknown)}")
        if sum(k.share for k in v.values()) <= 0:
            raise ValueError("worker kind shares must sum to > 0")
        return v


class FaultConfig(BaseModel):
    """Injected faults, all drawn from the seeded generator.

    ``throttle_rate`` / ``error_rate``: fraction of API calls answered with
    ``ThrottlingException`` (400) / ``ServiceFault`` (500). Half of the 5xx happen *after* a
    mutating call took effect (a lost response), so clients must rely on idempotency tokens.
    ``latency_s``: real seconds added to every API call. ``visibility_delay_s``: simulated
    seconds a submitted assignment stays invisible to ListAssignmentsForHIT/GetAssignment.
    ``consistency_lag_s``: simulated seconds after submission during which Approve/Reject/SendBonus
    answer "does not exist". ``no_show_rate``: fraction of assignment slots no worker ever fills.
    """

    throttle_rate: float = Field(default=0.0, ge=0, le=1)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    latency_s: float = Field(default=0.0, ge=0)
    visibility_delay_s: float = Field(default=0.0, ge=0)
    consistency_lag_s: float = Field(default=0.0, ge=0)
    no_show_rate: float = Field(default=0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _rates(self) -> FaultConfig:
        if self.throttle_rate + self.error_rate >= 1:
            raise ValueError("throttle_rate + error_rate must be < 1")
        return self


class SimulatorConfig(BaseModel):
    """Everything the simulator needs. Loadable from JSON (``crowdclean simulator serve -c``).

    ``oracle``: item key → true label. ``rating_distributions``: item key → list of real ratings;
    a simulated vote draws one rating and answers ``rating_labels[1]`` when it is above
    ``rating_threshold`` else ``rating_labels[0]`` (e.g. movie snippets). Items unknown to both
    are judged against their current label. The item key of a HIT is read from its
    ``RequesterAnnotation`` (JSON field ``"k"``, or the whole annotation when it is not JSON),
    falling back to the form's hidden ``item_key`` field.
    """

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535, description="0 picks a free port.")
    state_path: Path | None = Field(
        default=None, description="SQLite file for the simulator's state; None = a temp file."
    )
    seed: int = 0
    time_factor: float = Field(default=1.0, gt=0)
    initial_balance_usd: Decimal = Decimal("10000.00")
    simulate_workers: bool = True
    require_auth: bool = Field(default=True, description="Demand a SigV4 Authorization header.")
    oracle: dict[str, str] = Field(default_factory=dict)
    rating_distributions: dict[str, list[float]] = Field(default_factory=dict)
    rating_labels: tuple[str, str] = ("negative", "positive")
    rating_threshold: float = 0.0
    rating_ties: Literal["low", "coin"] = Field(
        default="low",
        description="A rating equal to the threshold: 'low' answers rating_labels[0], 'coin' "
        "picks either label with probability 1/2 (a zero rating has no sign).",
    )
    workers: WorkerPoolConfig = Field(default_factory=WorkerPoolConfig)
    faults: FaultConfig = Field(default_factory=FaultConfig)
