"""The tables. Some split their fields into ``XBase`` and the table ``X``; request and response
bodies live with the API (:mod:`orchestrator.api.schemas`), not here.

Conventions: UUID primary keys, timezone-aware UTC timestamps, statuses as ``StrEnum``,
money as exact ``Decimal`` USD (see :class:`orchestrator.db.types.Money`). Vendor ids
(``hit_id``, ``hit_type_id``, ``assignment_id``) live only on :class:`Hit` and
:class:`Assignment`; :class:`Worker` holds the platform's worker id as its identity.
Large arrays (features, latent vectors, posteriors) are ``.npy`` artifacts whose paths are
stored here, never rows.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, func, text
from sqlmodel import Field, SQLModel

from orchestrator.db.types import Money, UTCDateTime, utcnow


def _ts(nullable: bool = False) -> Any:
    return Field(
        default_factory=utcnow if not nullable else None,
        sa_type=UTCDateTime,
        nullable=nullable,
    )


def _money(default: Decimal = Decimal("0")) -> Any:
    return Field(default=default, sa_type=Money, nullable=False)


# --------------------------------------------------------------------------- enums


class FeatureKind(StrEnum):
    """What the feature matrix holds; picks the DPM's data likelihood."""

    CONTINUOUS = "continuous"  # real-valued features → Gaussian
    PIXELS = "pixels"  # intensities in [0, 1] → Bernoulli
    COUNTS = "counts"  # bag-of-words counts → Multinomial


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


class RoundStatus(StrEnum):
    PENDING = "pending"
    MODELLING = "modelling"
    SAMPLING = "sampling"
    PUBLISHING = "publishing"
    COLLECTING = "collecting"
    AGGREGATING = "aggregating"
    PROPAGATING = "propagating"
    COMPLETED = "completed"
    FAILED = "failed"


class HitStatus(StrEnum):
    INTENT = "intent"  # row written, CreateHIT not yet confirmed
    PUBLISHED = "published"  # platform returned a HITId
    COMPLETED = "completed"  # all answers collected and aggregated
    EXPIRED = "expired"
    DISPOSED = "disposed"
    FAILED = "failed"  # the platform refused it for good (validation error)


class AssignmentStatus(StrEnum):
    SUBMITTED = "submitted"
    APPROVE_PENDING = "approve_pending"  # decided, platform call not yet confirmed
    APPROVED = "approved"
    REJECT_PENDING = "reject_pending"
    REJECTED = "rejected"


class LedgerKind(StrEnum):
    HIT_RESERVATION = "hit_reservation"  # reward × max assignments × (1 + fee), held at publish
    REWARD = "reward"  # paid reward + fee for one approved assignment
    BONUS = "bonus"
    RELEASE = "release"  # negative: a reservation given back (rejected / unanswered)


class LabelSource(StrEnum):
    ORIGINAL = "original"
    MODEL = "model"
    CROWD = "crowd"
    PROPAGATED = "propagated"


class ApiKeyRole(StrEnum):
    REQUESTER = "requester"  # sees and steers its own campaigns only
    OPERATOR = "operator"  # sees every campaign and may act on any of them


# --------------------------------------------------------------------------- dataset


class DatasetBase(SQLModel):
    name: str = Field(
        index=True,
        max_length=200,
        description="Unique per owner (operator datasets share the owner ''): see migration 0004.",
    )
    source: str = Field(description="File path or built-in dataset name it was imported from.")
    feature_kind: FeatureKind
    n_items: int = Field(ge=0)
    n_features: int = Field(ge=0)
    classes: list[str] = Field(sa_column=Column(JSON, nullable=False))


class Dataset(DatasetBase, table=True):
    # Names are per owner, so one requester's names never collide with (or reveal) another's.
    # NULL owners (operator datasets) must collide with each other too, hence the coalesce.
    __table_args__ = (
        Index("uq_dataset_owner_name", func.coalesce(text("owner"), ""), "name", unique=True),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    owner: str | None = Field(
        default=None,
        max_length=200,
        index=True,
        description="Requester who imported it over the HTTP API; None = operator (CLI).",
    )
    artifact_dir: str = Field(
        description="Location of the artifact folder holding features.npy (n_items × n_features): "
        "an absolute local path or an s3:// URL (orchestrator.storage.artifacts)."
    )
    fingerprint: str = Field(description="SHA-256 of the imported content.")
    display: dict[str, Any] | None = Field(
        default=None,
        sa_column=Column(JSON, nullable=True),
        description="The table workers see per item: {'columns': [names], 'omitted': n}; the "
        "values are Item.display_values. None: items show their text, image or pixels.",
    )
    created_at: datetime = _ts()


class ItemBase(SQLModel):
    external_id: str = Field(max_length=512)
    position: int = Field(ge=0, description="Row of this item in the dataset's artifact arrays.")
    noisy_label: str
    gold_label: str | None = None
    is_validation: bool = False
    text: str | None = None
    image_path: str | None = Field(
        default=None,
        description="https URL, s3://bucket/key, or a local file path (see "
        "orchestrator.data.image_sources).",
    )
    display_values: list[str] | None = Field(
        default=None,
        sa_column=Column(JSON, nullable=True),
        description="This item's values of Dataset.display['columns'], in that order.",
    )


class Item(ItemBase, table=True):
    __table_args__ = (
        UniqueConstraint("dataset_id", "external_id", name="uq_item_dataset_external_id"),
        UniqueConstraint("dataset_id", "position", name="uq_item_dataset_position"),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    dataset_id: uuid.UUID = Field(foreign_key="dataset.id", index=True)


# --------------------------------------------------------------------------- campaign


class CampaignBase(SQLModel):
    name: str = Field(max_length=200)
    budget_usd: Decimal = _money()
    reward_usd: Decimal = _money(Decimal("0.05"))
    assignments_per_item: int = Field(default=3, ge=1, le=9)
    requester: str = Field(default="operator", max_length=200, index=True)
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Campaign(CampaignBase, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    dataset_id: uuid.UUID = Field(foreign_key="dataset.id", index=True)
    status: CampaignStatus = Field(default=CampaignStatus.DRAFT, index=True)
    current_round: int = 0
    artifact_dir: str = Field(
        default="", description="Location of the campaign's artifact folder (rounds, final/)."
    )
    error: str | None = None
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    # The scheduler process advancing the campaign holds this lease (see
    # orchestrator.scheduler.lease); a killed holder's lease lapses at lease_expires_at.
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_expires_at: datetime | None = _ts(nullable=True)


class RoundBase(SQLModel):
    number: int = Field(ge=0, description="0 is the validation round (stratified random).")
    strategy: str = ""
    n_selected: int = 0
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Round(RoundBase, table=True):
    __table_args__ = (UniqueConstraint("campaign_id", "number", name="uq_round_campaign_number"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    campaign_id: uuid.UUID = Field(foreign_key="campaign.id", index=True)
    status: RoundStatus = RoundStatus.PENDING
    artifact_dir: str = Field(
        default="",
        description="Location of the round's artifact folder: latent.npy (n×d_z), posterior.npy "
        "(n×K), the picks; an absolute local path or an s3:// URL.",
    )
    started_at: datetime = _ts()
    finished_at: datetime | None = _ts(nullable=True)


# --------------------------------------------------------------------------- crowd


class HitBase(SQLModel):
    attempt: int = Field(default=0, ge=0)
    max_assignments: int = Field(ge=1, le=9)
    reward_usd: Decimal = _money()
    is_gold_check: bool = Field(default=False, description="A control item with a known answer.")


class Hit(HitBase, table=True):
    __table_args__ = (
        UniqueConstraint("campaign_id", "item_id", "attempt", name="uq_hit_campaign_item_attempt"),
        Index("ix_hit_campaign_status", "campaign_id", "status"),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    campaign_id: uuid.UUID = Field(foreign_key="campaign.id")
    round_id: uuid.UUID = Field(foreign_key="round.id", index=True)
    item_id: uuid.UUID = Field(foreign_key="item.id", index=True)
    pair_item_id: uuid.UUID | None = Field(
        default=None,
        foreign_key="item.id",
        index=True,
        description="A pair HIT's second item (CINCER's counter-example; ``item_id`` is the "
        "suspicious one): one HIT, one reward, every assignment answers both. None: one item.",
    )
    unique_request_token: str = Field(unique=True, max_length=64)
    status: HitStatus = HitStatus.INTENT
    hit_id: str | None = Field(default=None, unique=True, max_length=64)
    hit_type_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = _ts()
    published_at: datetime | None = _ts(nullable=True)
    last_error: str | None = None


class WorkerBase(SQLModel):
    platform_worker_id: str = Field(unique=True, max_length=64)


class Worker(WorkerBase, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    n_answers: int = 0
    n_gold_answers: int = 0
    n_gold_correct: int = 0
    estimated_accuracy: float | None = None
    blocked: bool = False
    blocked_reason: str | None = None
    first_seen_at: datetime = _ts()


class Assignment(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    hit_pk: uuid.UUID = Field(foreign_key="hit.id", index=True)
    worker_pk: uuid.UUID = Field(foreign_key="worker.id", index=True)
    assignment_id: str = Field(unique=True, max_length=64)
    status: AssignmentStatus = AssignmentStatus.SUBMITTED
    answer_xml: str = Field(default="", description="Raw QuestionFormAnswers as received.")
    submitted_at: datetime = _ts()
    decided_at: datetime | None = _ts(nullable=True)
    feedback: str | None = Field(default=None, description="RequesterFeedback sent on rejection.")


class Answer(SQLModel, table=True):
    """One worker's parsed answer about one item (a pair HIT's assignment has two rows)."""

    __table_args__ = (
        UniqueConstraint("assignment_pk", "item_id", name="uq_answer_assignment_item"),
        # "Has this worker answered in this campaign before?" (the workers counter) and the
        # blocked-worker count of the status document, without a scan of the worker's answers.
        Index("ix_answer_campaign_worker", "campaign_id", "worker_pk"),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    campaign_id: uuid.UUID = Field(foreign_key="campaign.id", index=True)
    assignment_pk: uuid.UUID = Field(foreign_key="assignment.id")
    item_id: uuid.UUID = Field(foreign_key="item.id", index=True)
    worker_pk: uuid.UUID = Field(foreign_key="worker.id", index=True)
    label: str | None = Field(default=None, description="None when the answer was unusable.")
    said_correct: bool | None = Field(default=None, description="Worker's 'label is correct?'.")
    created_at: datetime = _ts()


# --------------------------------------------------------------------------- labels


class VerifiedLabel(SQLModel, table=True):
    """A label decided by aggregating crowd answers. Never overridden by propagation."""

    __table_args__ = (UniqueConstraint("campaign_id", "item_id", name="uq_verified_campaign_item"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    campaign_id: uuid.UUID = Field(foreign_key="campaign.id", index=True)
    item_id: uuid.UUID = Field(foreign_key="item.id")
    round_id: uuid.UUID = Field(foreign_key="round.id")
    label: str
    confidence: float = Field(ge=0, le=1)
    n_answers: int = Field(ge=0)
    vote_counts: dict[str, int] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    method: str = Field(default="dawid_skene", description="Aggregator that decided it.")
    is_validation: bool = Field(default=False, description="Came from the validation round.")
    created_at: datetime = _ts()


class PropagatedLabel(SQLModel, table=True):
    """A label copied from the nearest verified item of the same latent cluster."""

    __table_args__ = (
        UniqueConstraint("campaign_id", "item_id", name="uq_propagated_campaign_item"),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    campaign_id: uuid.UUID = Field(foreign_key="campaign.id", index=True)
    item_id: uuid.UUID = Field(foreign_key="item.id")
    round_id: uuid.UUID = Field(foreign_key="round.id")
    source_item_id: uuid.UUID = Field(foreign_key="item.id")
    label: str
    distance: float = Field(ge=0, description="Euclidean distance in latent space.")
    confidence: float = Field(ge=0, le=1)
    cluster: int = -1
    created_at: datetime = _ts()


# --------------------------------------------------------------------------- money


class LedgerEntry(SQLModel, table=True):
    """One movement of money, fees included. The campaign's spend is the sum of its rows.

    ``idempotency_key`` makes every write replay-safe: a restarted job that tries to book the
    same reservation, payment or bonus again hits the unique constraint instead of paying twice.
    """

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    campaign_id: uuid.UUID = Field(foreign_key="campaign.id", index=True)
    kind: LedgerKind
    amount_usd: Decimal = _money()
    fee_usd: Decimal = _money()
    idempotency_key: str = Field(unique=True, max_length=200)
    hit_pk: uuid.UUID | None = Field(default=None, foreign_key="hit.id")
    assignment_pk: uuid.UUID | None = Field(default=None, foreign_key="assignment.id")
    note: str = ""
    created_at: datetime = _ts()


class CampaignCounters(SQLModel, table=True):
    """Running totals of one campaign, kept by the steps that write the rows they count.

    The status document reads this one row instead of recounting answers, labels and ledger
    rows, so its cost does not grow with the campaign. Each writer updates it in the same
    transaction as its rows (:mod:`orchestrator.db.counters`), so a crash never leaves the two
    apart; :func:`orchestrator.db.counters.recount` rebuilds it from the rows.
    Money fields are USD, fees included where the name says so.
    """

    __tablename__ = "campaign_counters"

    campaign_id: uuid.UUID = Field(foreign_key="campaign.id", primary_key=True)
    n_answers: int = 0
    n_items_answered: int = Field(default=0, description="Distinct items with an answer.")
    n_workers: int = Field(default=0, description="Distinct workers who answered.")
    n_verified: int = 0
    n_validation: int = Field(default=0, description="Verified labels from round 0.")
    n_propagated: int = 0
    reserved_usd: Decimal = _money()
    rewards_usd: Decimal = _money()
    bonuses_usd: Decimal = _money()
    fees_usd: Decimal = _money()


# --------------------------------------------------------------------------- API keys


class ApiKey(SQLModel, table=True):
    """An HTTP API key. Only a SHA-256 digest of the key is stored, never the key itself.

    A key reads ``cc_<prefix>_<secret>``: ``prefix`` (12 hex chars) finds the row, the digest of
    the whole key (``key_hash``) is compared in constant time. The secret is 32 random bytes,
    so a fast digest is enough (nothing to brute-force, unlike a password).
    """

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    requester: str = Field(max_length=200, index=True)
    role: ApiKeyRole = ApiKeyRole.REQUESTER
    prefix: str = Field(unique=True, max_length=32)
    key_hash: str = Field(max_length=64, description="SHA-256 hex digest of the whole key.")
    note: str = ""
    created_at: datetime = _ts()
    revoked_at: datetime | None = _ts(nullable=True)


class BrowserSession(SQLModel, table=True):
    """A dashboard sign-in. The cookie carries a random session token, never the API key; only
    the token's SHA-256 digest is stored. Logout deletes the row; revoking the key behind it, or
    passing ``expires_at``, ends it too (checked on every request)."""

    __tablename__ = "browser_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    api_key_id: uuid.UUID = Field(foreign_key="apikey.id", index=True)
    created_at: datetime = _ts()
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
