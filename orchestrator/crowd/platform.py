"""The crowd platform boundary: one protocol, plain data in and out, typed errors.

:class:`CrowdPlatform` is what the task manager talks to. The production implementation is
:class:`orchestrator.crowd.mturk.MTurkPlatform` (boto3); MTurk production, the MTurk sandbox and
the local simulator differ only in its ``endpoint_url`` and credentials. Amounts are ``Decimal``
USD with two decimals; times are timezone-aware UTC ``datetime``; durations are seconds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

# --------------------------------------------------------------------------- errors


class PlatformError(Exception):
    """Any failure reported by the platform. ``code`` is MTurk's error type or TurkErrorCode."""

    def __init__(self, message: str, *, code: str = "", operation: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.operation = operation


class TransientPlatformError(PlatformError):
    """Throttling, 5xx or a network failure that outlived botocore's retries.

    The outcome of the call is unknown; repeat it later with the same idempotency token.
    """


class InvalidRequestError(PlatformError):
    """The platform refused the request for good (validation, unknown id, wrong state)."""


class AlreadyDoneError(PlatformError):
    """A request with the same ``UniqueRequestToken`` was already processed.

    ``hit_id`` is the existing HIT when the platform's message names it (CreateHIT*).
    """

    def __init__(
        self, message: str, *, code: str = "", operation: str = "", hit_id: str | None = None
    ) -> None:
        super().__init__(message, code=code, operation=operation)
        self.hit_id = hit_id


class NotReadyError(PlatformError):
    """The platform does not know an object yet (eventual consistency); retry on the next poll."""


# --------------------------------------------------------------------------- data


class PlatformHitStatus(StrEnum):
    ASSIGNABLE = "Assignable"
    UNASSIGNABLE = "Unassignable"
    REVIEWABLE = "Reviewable"
    REVIEWING = "Reviewing"
    DISPOSED = "Disposed"


class PlatformAssignmentStatus(StrEnum):
    SUBMITTED = "Submitted"
    APPROVED = "Approved"
    REJECTED = "Rejected"


@dataclass(frozen=True)
class QualificationRequirement:
    """One worker filter. ``comparator`` is MTurk's (``GreaterThanOrEqualTo``, ``In``, ...)."""

    qualification_type_id: str
    comparator: str
    integer_values: tuple[int, ...] = ()
    locales: tuple[str, ...] = ()  # ISO 3166 country codes, e.g. ("US", "CA")
    required_to_preview: bool = False


#: MTurk system qualification: percent of a worker's assignments approved (0-100).
QUAL_PERCENT_APPROVED = "000000000000000000L0"
#: MTurk system qualification: the worker's country.
QUAL_LOCALE = "00000000000000000071"


@dataclass(frozen=True)
class HitTypeSpec:
    """The properties shared by all HITs of a campaign (MTurk groups HITs by these)."""

    title: str
    description: str
    reward_usd: Decimal
    assignment_duration_s: int = 600
    auto_approval_delay_s: int = 3 * 24 * 3600
    keywords: str = ""
    qualification_requirements: tuple[QualificationRequirement, ...] = ()


@dataclass(frozen=True)
class HitRequest:
    """One HIT to create. ``unique_request_token`` (≤ 64 chars) makes the call idempotent."""

    hit_type_id: str
    question_xml: str
    max_assignments: int
    lifetime_s: int
    unique_request_token: str
    requester_annotation: str = ""


@dataclass(frozen=True)
class BonusRequest:
    """One bonus of ``amount_usd`` (USD, before the fee) to ``worker_id`` for one of their
    assignments. ``unique_request_token`` (≤ 64 chars) makes the call idempotent."""

    worker_id: str
    assignment_id: str
    amount_usd: Decimal
    reason: str
    unique_request_token: str


@dataclass(frozen=True)
class PlatformHit:
    """A HIT as the platform reports it."""

    hit_id: str
    hit_type_id: str
    status: PlatformHitStatus
    max_assignments: int
    reward_usd: Decimal
    requester_annotation: str
    expiration: datetime | None
    n_pending: int = 0
    n_available: int = 0
    n_completed: int = 0


@dataclass(frozen=True)
class PlatformAssignment:
    """A worker's submission. ``answer_xml`` is the raw ``QuestionFormAnswers`` document."""

    assignment_id: str
    hit_id: str
    worker_id: str
    status: PlatformAssignmentStatus
    answer_xml: str
    submit_time: datetime | None = None
    approval_time: datetime | None = None
    rejection_time: datetime | None = None


@dataclass(frozen=True)
class AccountBalance:
    """Requester balance, USD."""

    available_usd: Decimal
    on_hold_usd: Decimal = Decimal("0")


@dataclass(frozen=True)
class NotifyResult:
    """Workers the notification could not reach, with the platform's reason."""

    failures: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- protocol


@runtime_checkable
class CrowdPlatform(Protocol):
    """The operations the task manager needs from a crowd marketplace.

    Every method either succeeds, or raises a :class:`PlatformError` subclass:
    :class:`TransientPlatformError` (retry later with the same token),
    :class:`AlreadyDoneError` (an idempotent repeat), :class:`NotReadyError` (eventual
    consistency) or :class:`InvalidRequestError` (permanent).
    """

    def create_hit_type(self, spec: HitTypeSpec) -> str:
        """Create (or find: identical specs give the same id) a HIT type; returns its id."""
        ...

    def create_hit(self, request: HitRequest) -> str:
        """Create one HIT of an existing type; returns the HIT id."""
        ...

    def get_hit(self, hit_id: str) -> PlatformHit:
        """One HIT's current state."""
        ...

    def iter_hits(self) -> Iterator[PlatformHit]:
        """Every HIT of this requester that is not yet deleted (paginated lazily)."""
        ...

    def iter_reviewable_hit_ids(self, hit_type_id: str | None = None) -> Iterator[str]:
        """Ids of HITs whose assignments are all submitted or that expired."""
        ...

    def iter_assignments(self, hit_id: str) -> Iterator[PlatformAssignment]:
        """All submitted, approved or rejected assignments of a HIT (paginated lazily)."""
        ...

    def get_assignment(self, assignment_id: str) -> PlatformAssignment:
        """One assignment's current state."""
        ...

    def approve_assignment(self, assignment_id: str, feedback: str | None = None) -> None:
        """Pay the reward (plus fee) for one assignment."""
        ...

    def reject_assignment(self, assignment_id: str, feedback: str) -> None:
        """Refuse one assignment; ``feedback`` tells the worker why."""
        ...

    def send_bonus(self, request: BonusRequest) -> None:
        """Pay ``request.amount_usd`` (plus fee) to a worker on top of a reward."""
        ...

    def get_account_balance(self) -> AccountBalance:
        """The requester's prepaid balance."""
        ...

    def create_additional_assignments(
        self, hit_id: str, n_extra: int, unique_request_token: str
    ) -> None:
        """Ask for ``n_extra`` more answers on a HIT."""
        ...

    def update_expiration(self, hit_id: str, expire_at: datetime) -> None:
        """Move a HIT's expiration (the past expires it now)."""
        ...

    def delete_hit(self, hit_id: str) -> None:
        """Dispose of a reviewable or expired HIT whose assignments are all decided."""
        ...

    def create_qualification_type(self, name: str, description: str) -> str:
        """Create a requester-owned qualification type, or return the existing one's id."""
        ...

    def associate_qualification(
        self, qualification_type_id: str, worker_id: str, value: int
    ) -> None:
        """Grant a worker a qualification with an integer ``value``, silently."""
        ...

    def block_worker(self, worker_id: str, reason: str) -> None:
        """Block a worker from all of this requester's HITs."""
        ...

    def notify_workers(self, worker_ids: Sequence[str], subject: str, message: str) -> NotifyResult:
        """Send an e-mail to up to 100 workers."""
        ...
