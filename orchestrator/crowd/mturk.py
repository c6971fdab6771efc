"""The production :class:`~orchestrator.crowd.platform.CrowdPlatform`: Amazon MTurk via boto3.

The same code path serves MTurk production (``endpoint_url=None``), the sandbox
(``https://mturk-requester-sandbox.us-east-1.amazonaws.com``) and the local simulator (whatever
URL it prints). Every call goes through a client-side :class:`TokenBucket` and botocore's
adaptive retry mode (``max_attempts=10``) which backs off on ``ThrottlingException`` and 5xx.

Error mapping (see ``CrowdPlatform``):

* a repeated ``UniqueRequestToken`` → :class:`AlreadyDoneError`. MTurk documents the answer as
  an ``AWS.MechanicalTurk.HitAlreadyExists`` error whose message contains the HIT id; we match on
  the ``TurkErrorCode`` containing ``AlreadyExists`` *or* the message mentioning the token, and
  extract a HIT id (30 upper-case alphanumerics) from the message when there is one. Callers that
  get no id find the HIT by its ``RequesterAnnotation`` (which carries the token).
* "does not exist" on an assignment → :class:`NotReadyError` (MTurk is eventually consistent:
  approving or bonusing right after submission can fail for a short while).
* throttling, ``ServiceFault``, 5xx or connection failures left after the retries →
  :class:`TransientPlatformError`; everything else → :class:`InvalidRequestError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from orchestrator.crowd.money import format_usd, validate_usd
from orchestrator.crowd.platform import (
    AccountBalance,
    AlreadyDoneError,
    BonusRequest,
    HitRequest,
    HitTypeSpec,
    InvalidRequestError,
    NotifyResult,
    NotReadyError,
    PlatformAssignment,
    PlatformAssignmentStatus,
    PlatformError,
    PlatformHit,
    PlatformHitStatus,
    TransientPlatformError,
)
from orchestrator.crowd.ratelimit import TokenBucket

if TYPE_CHECKING:
    from types_boto3_mturk import MTurkClient

    from orchestrator.settings import MTurkSettings

T = TypeVar("T")
P = ParamSpec("P")

PRODUCTION_ENDPOINT = "https://mturk-requester.us-east-1.amazonaws.com"
SANDBOX_ENDPOINT = "https://mturk-requester-sandbox.us-east-1.amazonaws.com"

_HIT_ID_RE = re.compile(r"\b([A-Z0-9]{30})\b")
_TRANSIENT_CODES = {
    "ServiceFault",
    "ThrottlingException",
    "Throttling",
    "ServiceUnavailable",
    "InternalFailure",
    "RequestTimeout",
}


def retry_config(*, connect_timeout_s: float = 10, read_timeout_s: float = 30) -> Config:
    """botocore config for every MTurk client: adaptive retries, 10 attempts, timeouts in s."""
    return Config(
        retries={"mode": "adaptive", "max_attempts": 10},
        connect_timeout=connect_timeout_s,
        read_timeout=read_timeout_s,
    )


def _utc(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def classify_client_error(exc: ClientError, operation: str) -> PlatformError:
    """Map a botocore ``ClientError`` to the platform error hierarchy (see module docstring)."""
    resp: dict[str, Any] = dict(exc.response)
    err = resp.get("Error", {}) or {}
    code = str(err.get("Code", ""))
    message = str(err.get("Message", "") or "")
    turk_code = str(resp.get("TurkErrorCode", "") or err.get("TurkErrorCode", "") or "")
    status = int(resp.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    full_code = turk_code or code
    low = message.lower()
    if "alreadyexists" in turk_code.lower() or "uniquerequesttoken" in low:
        m = _HIT_ID_RE.search(message)
        return AlreadyDoneError(
            message, code=full_code, operation=operation, hit_id=m.group(1) if m else None
        )
    if code in _TRANSIENT_CODES or status >= 500 or status == 429:
        return TransientPlatformError(message or code, code=full_code, operation=operation)
    if "does not exist" in low or "doesnotexist" in turk_code.lower():
        return NotReadyError(message, code=full_code, operation=operation)
    return InvalidRequestError(message or code, code=full_code, operation=operation)


@contextmanager
def _platform_errors(operation: str) -> Iterator[None]:
    """Raise botocore's errors from inside as the platform's (see the module docstring)."""
    try:
        yield
    except ClientError as exc:
        raise classify_client_error(exc, operation) from exc
    except BotoCoreError as exc:
        raise TransientPlatformError(
            str(exc), code=type(exc).__name__, operation=operation
        ) from exc


class MTurkPlatform:
    """:class:`CrowdPlatform` on boto3's ``mturk`` client.

    ``max_requests_per_second`` feeds the client-side token bucket (burst = 2 s worth).
    """

    def __init__(
        self,
        client: MTurkClient,
        *,
        max_requests_per_second: float = 5.0,
        bucket: TokenBucket | None = None,
    ) -> None:
        self._client = client
        self._bucket = bucket or TokenBucket(
            max_requests_per_second, capacity=max(1.0, 2 * max_requests_per_second)
        )

    # ------------------------------------------------------------------ construction

    @classmethod
    def connect(
        cls,
        endpoint_url: str | None = None,
        *,
        region_name: str = "us-east-1",
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        max_requests_per_second: float = 5.0,
    ) -> MTurkPlatform:
        """A platform for ``endpoint_url`` (None = production) with the given credentials.

        Credentials left ``None`` come from boto3's usual chain (env, profile, role).
        """
        session = boto3.session.Session(
            aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key,
            region_name=region_name,
        )
        client = session.client(
            "mturk", endpoint_url=endpoint_url, region_name=region_name, config=retry_config()
        )
        return cls(client, max_requests_per_second=max_requests_per_second)

    @classmethod
    def from_settings(cls, settings: MTurkSettings) -> MTurkPlatform:
        """A platform configured from ``Settings.mturk``."""
        return cls.connect(
            settings.endpoint_url,
            region_name=settings.region_name,
            aws_access_key_id=settings.aws_access_key_id,
            aws_secret_access_key=settings.aws_secret_access_key,
            max_requests_per_second=settings.max_requests_per_second,
        )

    @property
    def endpoint_url(self) -> str:
        """The URL requests go to."""
        return str(self._client.meta.endpoint_url)

    # ------------------------------------------------------------------ plumbing

    def _call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)``, a method of the boto3 client, behind the rate limit; its
        errors are reported under the MTurk operation's name (``send_bonus`` → ``SendBonus``)."""
        name = getattr(fn, "__name__", "")
        operation = str(self._client.meta.method_to_api_mapping.get(name, name))
        self._bucket.acquire()
        with _platform_errors(operation):
            return fn(*args, **kwargs)

    def _iter_pages(self, operation: str, pages: Iterator[T]) -> Iterator[T]:
        while True:
            self._bucket.acquire()
            with _platform_errors(operation):
                page = next(pages, None)
            if page is None:
                return
            yield page

    @staticmethod
    def _hit(raw: Any) -> PlatformHit:
        return PlatformHit(
            hit_id=str(raw["HITId"]),
            hit_type_id=str(raw.get("HITTypeId", "")),
            status=PlatformHitStatus(str(raw.get("HITStatus", "Assignable"))),
            max_assignments=int(raw.get("MaxAssignments", 0)),
            reward_usd=Decimal(str(raw.get("Reward", "0"))),
            requester_annotation=str(raw.get("RequesterAnnotation", "") or ""),
            expiration=_utc(raw.get("Expiration")),
            n_pending=int(raw.get("NumberOfAssignmentsPending", 0) or 0),
            n_available=int(raw.get("NumberOfAssignmentsAvailable", 0) or 0),
            n_completed=int(raw.get("NumberOfAssignmentsCompleted", 0) or 0),
        )

    @staticmethod
    def _assignment(raw: Any) -> PlatformAssignment:
        return PlatformAssignment(
            assignment_id=str(raw["AssignmentId"]),
            hit_id=str(raw.get("HITId", "")),
            worker_id=str(raw.get("WorkerId", "")),
            status=PlatformAssignmentStatus(str(raw.get("AssignmentStatus", "Submitted"))),
            answer_xml=str(raw.get("Answer", "") or ""),
            submit_time=_utc(raw.get("SubmitTime")),
            approval_time=_utc(raw.get("ApprovalTime")),
            rejection_time=_utc(raw.get("RejectionTime")),
        )

    # ------------------------------------------------------------------ operations

    def create_hit_type(self, spec: HitTypeSpec) -> str:
        """CreateHITType. MTurk returns the same id for identical properties."""
        reward = format_usd(validate_usd(spec.reward_usd, what="reward"))
        quals: list[Any] = []
        for q in spec.qualification_requirements:
            item: dict[str, Any] = {
                "QualificationTypeId": q.qualification_type_id,
                "Comparator": q.comparator,
                "ActionsGuarded": "DiscoverPreviewAndAccept" if q.required_to_preview else "Accept",
            }
            if q.integer_values:
                item["IntegerValues"] = list(q.integer_values)
            if q.locales:
                item["LocaleValues"] = [{"Country": c} for c in q.locales]
            quals.append(item)
        resp = self._call(
            self._client.create_hit_type,
            AutoApprovalDelayInSeconds=spec.auto_approval_delay_s,
            AssignmentDurationInSeconds=spec.assignment_duration_s,
            Reward=reward,
            Title=spec.title,
            Keywords=spec.keywords,
            Description=spec.description,
            QualificationRequirements=quals,
        )
        return str(resp["HITTypeId"])

    def create_hit(self, request: HitRequest) -> str:
        """CreateHITWithHITType with an HTMLQuestion; idempotent through the request token."""
        if not 1 <= len(request.unique_request_token) <= 64:
            raise ValueError("unique_request_token must be 1..64 characters")
        resp = self._call(
            self._client.create_hit_with_hit_type,
            HITTypeId=request.hit_type_id,
            MaxAssignments=request.max_assignments,
            LifetimeInSeconds=request.lifetime_s,
            Question=request.question_xml,
            RequesterAnnotation=request.requester_annotation,
            UniqueRequestToken=request.unique_request_token,
        )
        return str(resp["HIT"]["HITId"])

    def get_hit(self, hit_id: str) -> PlatformHit:
        """GetHIT."""
        resp = self._call(self._client.get_hit, HITId=hit_id)
        return self._hit(resp["HIT"])

    def iter_hits(self) -> Iterator[PlatformHit]:
        """ListHITs through boto3's paginator."""
        pages = iter(
            self._client.get_paginator("list_hits").paginate(PaginationConfig={"PageSize": 100})
        )
        for page in self._iter_pages("ListHITs", pages):
            for raw in page.get("HITs", []):
                yield self._hit(raw)

    def iter_reviewable_hit_ids(self, hit_type_id: str | None = None) -> Iterator[str]:
        """ListReviewableHITs (status Reviewable) through boto3's paginator."""
        paginator = self._client.get_paginator("list_reviewable_hits")
        if hit_type_id:
            it = paginator.paginate(
                HITTypeId=hit_type_id, Status="Reviewable", PaginationConfig={"PageSize": 100}
            )
        else:
            it = paginator.paginate(Status="Reviewable", PaginationConfig={"PageSize": 100})
        for page in self._iter_pages("ListReviewableHITs", iter(it)):
            for raw in page.get("HITs", []):
                yield str(raw["HITId"])

    def iter_assignments(self, hit_id: str) -> Iterator[PlatformAssignment]:
        """ListAssignmentsForHIT (all three statuses) through boto3's paginator."""
        it = self._client.get_paginator("list_assignments_for_hit").paginate(
            HITId=hit_id,
            AssignmentStatuses=["Submitted", "Approved", "Rejected"],
            PaginationConfig={"PageSize": 100},
        )
        for page in self._iter_pages("ListAssignmentsForHIT", iter(it)):
            for raw in page.get("Assignments", []):
                yield self._assignment(raw)

    def get_assignment(self, assignment_id: str) -> PlatformAssignment:
        """GetAssignment."""
        resp = self._call(self._client.get_assignment, AssignmentId=assignment_id)
        return self._assignment(resp["Assignment"])

    def approve_assignment(self, assignment_id: str, feedback: str | None = None) -> None:
        """ApproveAssignment (pays reward + 20 % fee)."""
        if feedback:
            self._call(
                self._client.approve_assignment,
                AssignmentId=assignment_id,
                RequesterFeedback=feedback[:1024],
            )
        else:
            self._call(self._client.approve_assignment, AssignmentId=assignment_id)

    def reject_assignment(self, assignment_id: str, feedback: str) -> None:
        """RejectAssignment; MTurk requires the feedback (≤ 1024 chars)."""
        if not feedback.strip():
            raise ValueError("a rejection needs RequesterFeedback")
        self._call(
            self._client.reject_assignment,
            AssignmentId=assignment_id,
            RequesterFeedback=feedback[:1024],
        )

    def send_bonus(self, request: BonusRequest) -> None:
        """SendBonus (pays ``amount_usd`` + 20 % fee); idempotent through the token."""
        amount = format_usd(validate_usd(request.amount_usd, what="bonus"))
        self._call(
            self._client.send_bonus,
            WorkerId=request.worker_id,
            BonusAmount=amount,
            AssignmentId=request.assignment_id,
            Reason=request.reason,
            UniqueRequestToken=request.unique_request_token,
        )

    def get_account_balance(self) -> AccountBalance:
        """GetAccountBalance."""
        resp = self._call(self._client.get_account_balance)
        return AccountBalance(
            available_usd=Decimal(str(resp.get("AvailableBalance", "0"))),
            on_hold_usd=Decimal(str(resp.get("OnHoldBalance", "0") or "0")),
        )

    def create_additional_assignments(
        self, hit_id: str, n_extra: int, unique_request_token: str
    ) -> None:
        """CreateAdditionalAssignmentsForHIT; idempotent through the token."""
        self._call(
            self._client.create_additional_assignments_for_hit,
            HITId=hit_id,
            NumberOfAdditionalAssignments=n_extra,
            UniqueRequestToken=unique_request_token,
        )

    def update_expiration(self, hit_id: str, expire_at: datetime) -> None:
        """UpdateExpirationForHIT (a time in the past expires the HIT now)."""
        self._call(self._client.update_expiration_for_hit, HITId=hit_id, ExpireAt=expire_at)

    def delete_hit(self, hit_id: str) -> None:
        """DeleteHIT."""
        self._call(self._client.delete_hit, HITId=hit_id)

    def create_qualification_type(self, name: str, description: str) -> str:
        """CreateQualificationType, or ListQualificationTypes to find an existing one by name."""
        try:
            resp = self._call(
                self._client.create_qualification_type,
                Name=name,
                Description=description,
                QualificationTypeStatus="Active",
            )
            return str(resp["QualificationType"]["QualificationTypeId"])
        except (InvalidRequestError, AlreadyDoneError) as exc:
            if "already" not in str(exc).lower():
                raise
        it = self._client.get_paginator("list_qualification_types").paginate(
            Query=name, MustBeRequestable=False, MustBeOwnedByCaller=True
        )
        for page in self._iter_pages("ListQualificationTypes", iter(it)):
            for q in page.get("QualificationTypes", []):
                if q.get("Name") == name:
                    return str(q["QualificationTypeId"])
        raise InvalidRequestError(
            f"qualification type {name!r} exists but cannot be listed", operation="Create"
        )

    def associate_qualification(
        self, qualification_type_id: str, worker_id: str, value: int
    ) -> None:
        """AssociateQualificationWithWorker without notifying the worker."""
        self._call(
            self._client.associate_qualification_with_worker,
            QualificationTypeId=qualification_type_id,
            WorkerId=worker_id,
            IntegerValue=value,
            SendNotification=False,
        )

    def block_worker(self, worker_id: str, reason: str) -> None:
        """CreateWorkerBlock."""
        self._call(self._client.create_worker_block, WorkerId=worker_id, Reason=reason)

    def notify_workers(self, worker_ids: Sequence[str], subject: str, message: str) -> NotifyResult:
        """NotifyWorkers (at most 100 workers per call; longer lists are sent in chunks)."""
        failures: dict[str, str] = {}
        ids = list(worker_ids)
        for start in range(0, len(ids), 100):
            chunk = ids[start : start + 100]
            resp = self._call(
                self._client.notify_workers,
                Subject=subject[:200],
                MessageText=message[:4096],
                WorkerIds=chunk,
            )
            for f in resp.get("NotifyWorkersFailureStatuses", []):
                failures[str(f.get("WorkerId", ""))] = str(f.get("NotifyWorkersFailureMessage", ""))
        return NotifyResult(failures=failures)
