"""The micro-task manager: publish HITs, collect answers, settle payments, cancel, reconcile.

Every function takes an engine and ids, opens its own sessions, is idempotent and is safe to
re-run after a crash at any point:

* **publish** writes each HIT's intent (``Hit`` row in ``INTENT`` + its spend reservation) in one
  transaction *before* calling CreateHITWithHITType with a ``UniqueRequestToken`` derived from
  (campaign, item, attempt), and writes the HIT id *after*. A re-run sends the same token; MTurk
  answers "HIT already exists" and the existing HIT is adopted (by the id in the message, or by
  listing HITs and matching the ``RequesterAnnotation``, which carries the token).
* **settle** marks decisions ``*_PENDING`` first, then calls Approve/Reject; refusals caused by
  MTurk's eventual consistency keep them pending for the next poll; "wrong status" answers are
  resolved with GetAssignment, so an approval can never be booked (or paid) twice.
* money goes through :mod:`orchestrator.crowd.ledger` under the campaign's hard cap.

Campaign-level options live in ``Campaign.config["crowd"]`` (see :class:`CrowdConfig`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

import numpy as np
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from orchestrator.crowd.answers import parse_answer
from orchestrator.crowd.config import CrowdConfig
from orchestrator.crowd.ledger import (
    BudgetExceededError,
    book,
    committed,
    lock_campaign,
    release_outstanding,
)
from orchestrator.crowd.money import (
    MoneyError,
    n_gold_for,
    validate_assignments,
    validate_usd,
    with_fee,
)
from orchestrator.crowd.platform import (
    QUAL_LOCALE,
    QUAL_PERCENT_APPROVED,
    AlreadyDoneError,
    CrowdPlatform,
    HitRequest,
    HitTypeSpec,
    InvalidRequestError,
    NotReadyError,
    PlatformAssignment,
    PlatformAssignmentStatus,
    PlatformError,
    QualificationRequirement,
    TransientPlatformError,
)
from orchestrator.crowd.render import ItemView, QuestionRenderer
from orchestrator.db.engine import session_scope
from orchestrator.db.models import (
    Answer,
    Assignment,
    AssignmentStatus,
    Campaign,
    Dataset,
    Hit,
    HitStatus,
    Item,
    LedgerEntry,
    LedgerKind,
    Worker,
)
from orchestrator.db.types import utcnow

log = logging.getLogger(__name__)

#: MTurk forgets a UniqueRequestToken after 24 h; past this age an intent is first looked up.
TOKEN_TRUST_WINDOW = timedelta(hours=23)
ANNOTATION_VERSION = 1
MAX_ANNOTATION_CHARS = 255
_LIVE = (HitStatus.PUBLISHED, HitStatus.COMPLETED, HitStatus.EXPIRED)


# --------------------------------------------------------------------------- configuration


# --------------------------------------------------------------------------- identities


def unique_request_token(campaign_id: uuid.UUID, item_id: uuid.UUID, attempt: int) -> str:
    """Deterministic CreateHIT token for (campaign, item, attempt): ``cc1-`` + 40 hex (44 chars)."""
    digest = hashlib.sha256(f"{campaign_id}:{item_id}:{attempt}".encode()).hexdigest()
    return f"cc1-{digest[:40]}"


def item_key(item: Item) -> str:
    """The item key shown to the simulator/oracle: ``Item.external_id`` (hashed past 120 chars)."""
    return key_of_external_id(item.external_id)


def key_of_external_id(external_id: str) -> str:
    """:func:`item_key` of an item with this ``external_id``."""
    if len(external_id) <= 120:
        return external_id
    return "sha256:" + hashlib.sha256(external_id.encode()).hexdigest()[:32]


def annotation_fits(external_id: str) -> bool:
    """Whether an item with this id can be published: its key, JSON-escaped in the requester
    annotation, keeps the annotation within MTurk's 255 characters (an id of up to 120
    characters is sent as is, so 26 non-ASCII characters, 6 each once escaped, are enough to
    overflow it)."""
    try:
        requester_annotation(uuid.UUID(int=0), "cc1-" + "0" * 40, key_of_external_id(external_id))
    except ValueError:
        return False
    return True


def requester_annotation(campaign_id: uuid.UUID, token: str, key: str) -> str:
    """``{"v":1,"c":<campaign hex>,"t":<token>,"k":<item key>}`` (≤ 255 chars)."""
    ann = json.dumps(
        {"v": ANNOTATION_VERSION, "c": campaign_id.hex, "t": token, "k": key},
        separators=(",", ":"),
    )
    if len(ann) > MAX_ANNOTATION_CHARS:
        raise ValueError(f"annotation of {len(ann)} chars exceeds {MAX_ANNOTATION_CHARS}")
    return ann


def parse_annotation(annotation: str) -> dict[str, str] | None:
    """The fields of one of our annotations, or None for a foreign HIT."""
    try:
        data = json.loads(annotation or "")
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("v") != ANNOTATION_VERSION:
        return None
    if not all(isinstance(data.get(k), str) for k in ("c", "t", "k")):
        return None
    return {k: str(data[k]) for k in ("c", "t", "k")}


# --------------------------------------------------------------------------- reports


@dataclass
class PublishReport:
    """Outcome of :func:`publish_items`. ``hits``: every Hit row of the batch (gold included)."""

    hits: list[Hit] = field(default_factory=list)
    created: int = 0
    recovered: int = 0  # adopted after "already exists" (a crash or lost response before)
    already_published: int = 0
    pending: list[uuid.UUID] = field(default_factory=list)  # still INTENT: re-run later
    failed: list[uuid.UUID] = field(default_factory=list)
    skipped_over_budget: list[uuid.UUID] = field(default_factory=list)  # item ids
    gold_item_ids: list[uuid.UUID] = field(default_factory=list)
    reserved_usd: Decimal = Decimal("0")


@dataclass
class CollectReport:
    """Outcome of :func:`collect_answers`."""

    new_answers: int = 0
    unusable_answers: int = 0
    outstanding_hits: list[uuid.UUID] = field(default_factory=list)  # Hit pks still open
    completed_hits: list[uuid.UUID] = field(default_factory=list)
    answers_per_item: dict[uuid.UUID, int] = field(default_factory=dict)
    blocked_workers: list[str] = field(default_factory=list)
    synced_decisions: int = 0  # approvals/rejections (auto-approvals too) learnt from MTurk
    pending_decisions: int = 0
    pending_bonuses: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        """No HIT of the campaign is still waiting for answers."""
        return not self.outstanding_hits


@dataclass(frozen=True)
class Decision:
    """Approve or reject one assignment (``Assignment.id`` or MTurk's AssignmentId).

    A rejection needs ``feedback`` (sent to the worker as RequesterFeedback) and ``evidence``
    (kept in the ledger), e.g. the gold answers the worker missed.
    """

    assignment: uuid.UUID | str
    approve: bool
    feedback: str | None = None
    evidence: str | None = None


@dataclass
class SettleReport:
    """Outcome of :func:`settle_assignments`."""

    approved: int = 0
    rejected: int = 0
    pending: int = 0  # platform not ready yet: retried on the next collect/settle
    skipped: int = 0  # already decided earlier
    released_usd: Decimal = Decimal("0")
    errors: list[str] = field(default_factory=list)


@dataclass
class CancelReport:
    """Outcome of :func:`cancel_campaign`."""

    expired: int = 0
    disposed: int = 0
    abandoned_intents: int = 0
    approved: int = 0
    still_open: dict[str, str] = field(default_factory=dict)  # hit id → why not disposed
    released_usd: Decimal = Decimal("0")

    def summary(self) -> dict[str, object]:
        """The report as JSON-ready values (money as a decimal string, USD)."""
        return {
            "expired": self.expired,
            "disposed": self.disposed,
            "approved": self.approved,
            "abandoned_intents": self.abandoned_intents,
            "released_usd": str(self.released_usd),
            "still_open": self.still_open,
        }


@dataclass
class ReconcileReport:
    """Outcome of :func:`reconcile_campaign`."""

    adopted: list[str] = field(default_factory=list)  # HITs matched to an INTENT row
    orphans: list[str] = field(default_factory=list)  # HITs the DB does not know
    disposed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # DB says published, platform does not
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BonusResult:
    """Outcome of :func:`send_bonus`: ``sent``, ``pending`` (retry later) or ``void``."""

    status: Literal["sent", "pending", "void"]
    amount_usd: Decimal
    key: str


class InsufficientBalanceError(Exception):
    """The requester account cannot cover the HITs about to be published."""


# --------------------------------------------------------------------------- helpers


ItemViewBuilder = Callable[[Item, Sequence[str], str], ItemView]


def default_item_view(item: Item, options: Sequence[str], current_label: str) -> ItemView:
    """Text items show ``Item.text``; image items ``Item.image_path`` (URL or file)."""
    if not item.text and not item.image_path:
        raise ValueError(
            f"item {item.external_id!r} has neither text nor image; pass item_view= to render it"
        )
    return ItemView(
        key=item_key(item),
        current_label=current_label,
        options=list(options),
        text=item.text,
        image_src=item.image_path,
    )


def _load(session: Session, campaign_id: uuid.UUID) -> tuple[Campaign, Dataset, CrowdConfig]:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"campaign {campaign_id} does not exist")
    dataset = session.get(Dataset, campaign.dataset_id)
    if dataset is None:
        raise LookupError(f"dataset {campaign.dataset_id} does not exist")
    return campaign, dataset, CrowdConfig.of(campaign)


def _exclusion_name(campaign_id: uuid.UUID) -> str:
    return f"crowdclean-excluded-{campaign_id.hex}"


def _exclusion_description(campaign_id: uuid.UUID) -> str:
    return f"Workers excluded from crowdclean campaign {campaign_id} after failing checks."


def _hit_type_spec(
    platform: CrowdPlatform, campaign: Campaign, cfg: CrowdConfig, reward: Decimal
) -> HitTypeSpec:
    quals: list[QualificationRequirement] = []
    if cfg.min_approval_rate is not None:
        quals.append(
            QualificationRequirement(
                QUAL_PERCENT_APPROVED, "GreaterThanOrEqualTo", (cfg.min_approval_rate,)
            )
        )
    if cfg.locales:
        quals.append(QualificationRequirement(QUAL_LOCALE, "In", locales=tuple(cfg.locales)))
    if cfg.use_exclusion_qualification:
        qid = platform.create_qualification_type(
            _exclusion_name(campaign.id), _exclusion_description(campaign.id)
        )
        quals.append(QualificationRequirement(qid, "DoesNotExist"))
    return HitTypeSpec(
        title=cfg.title,
        description=cfg.description,
        reward_usd=reward,
        assignment_duration_s=cfg.assignment_duration_s,
        auto_approval_delay_s=cfg.auto_approval_delay_s,
        keywords=cfg.keywords,
        qualification_requirements=tuple(quals),
    )


def _pick_gold(
    session: Session,
    campaign: Campaign,
    round_id: uuid.UUID,
    item_ids: Sequence[uuid.UUID],
    gold_rate: float,
) -> list[uuid.UUID]:
    """Deterministic gold items for a round: same DB state + round → same choice (crash-safe)."""
    n = n_gold_for(len(item_ids), gold_rate)
    if n == 0:
        return []
    used_elsewhere = set(
        session.exec(
            select(Hit.item_id).where(Hit.campaign_id == campaign.id, Hit.round_id != round_id)
        )
    )
    excluded = used_elsewhere | set(item_ids)
    candidates = [
        it.id
        for it in session.exec(
            select(Item)
            .where(Item.dataset_id == campaign.dataset_id, col(Item.gold_label).is_not(None))
            .order_by(col(Item.position))
        )
        if it.id not in excluded
    ]
    if not candidates:
        return []
    seed = int.from_bytes(hashlib.sha256(f"{campaign.id}:{round_id}".encode()).digest()[:8])
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(candidates), size=min(n, len(candidates)), replace=False)
    return [candidates[int(i)] for i in sorted(picks)]


def _find_by_token(platform: CrowdPlatform, token: str) -> str | None:
    for h in platform.iter_hits():
        ann = parse_annotation(h.requester_annotation)
        if ann is not None and ann["t"] == token:
            return h.hit_id
    return None


# --------------------------------------------------------------------------- publish


def publish_items(
    engine: Engine,
    platform: CrowdPlatform,
    campaign_id: uuid.UUID,
    round_id: uuid.UUID,
    item_ids: Sequence[uuid.UUID],
    *,
    renderer: QuestionRenderer,
    attempt: int = 0,
    gold_rate: float | None = None,
    current_labels: Mapping[uuid.UUID, str] | None = None,
    item_view: ItemViewBuilder | None = None,
    check_balance: bool = True,
) -> PublishReport:
    """Publish one HIT per item (plus gold checks), exactly once, within the campaign's cap.

    Args:
        item_ids: the items to verify (one HIT each, ``Campaign.assignments_per_item``
            assignments at ``Campaign.reward_usd`` USD each).
        renderer: turns an :class:`ItemView` into HTMLQuestion XML (``TaskRenderer``).
        attempt: bump to publish an item a second time on purpose (a new token).
        gold_rate: gold-check HITs per item; defaults to ``CrowdConfig.gold_rate``. Gold items
            are dataset items with a ``gold_label`` that no other round used.
        current_labels: label to verify per item id (default ``Item.noisy_label``).
        item_view: builds the view of an item (default: text or image path).
        check_balance: call GetAccountBalance first and refuse when it cannot cover the batch.

    Re-running with the same arguments after a crash resumes: existing intents are re-sent with
    their token and published HITs are left alone. Items that do not fit under the budget are
    reported in ``skipped_over_budget`` (nothing is reserved for them).

    Raises:
        MoneyError: bad reward or assignment count (before any call).
        InsufficientBalanceError: the account balance cannot cover the new reservations.
    """
    report = PublishReport()
    with session_scope(engine) as session:
        campaign, _dataset, cfg = _load(session, campaign_id)
        reward = validate_usd(campaign.reward_usd, what="reward")
        n_assign = validate_assignments(campaign.assignments_per_item)
        rate = cfg.gold_rate if gold_rate is None else gold_rate
        if not 0 <= rate < 1:
            raise MoneyError(f"gold_rate must be in [0, 1), got {rate}")
        gold_ids = _pick_gold(session, campaign, round_id, item_ids, rate)
        wanted = [(i, False) for i in dict.fromkeys(item_ids)] + [(g, True) for g in gold_ids]
        existing = {
            h.item_id: h
            for h in session.exec(
                select(Hit).where(
                    Hit.campaign_id == campaign_id,
                    col(Hit.item_id).in_([i for i, _ in wanted]),
                    Hit.attempt == attempt,
                )
            )
        }
    report.gold_item_ids = gold_ids
    per_hit = with_fee(reward * n_assign)
    new = [(i, g) for i, g in wanted if i not in existing]
    if check_balance and new:
        needed = per_hit * (
            len(new) + sum(1 for h in existing.values() if h.status == HitStatus.INTENT)
        )
        balance = platform.get_account_balance()
        if balance.available_usd < needed:
            raise InsufficientBalanceError(
                f"account balance {balance.available_usd} USD < {needed} USD needed"
            )

    # 1) intents + reservations, atomically, under the campaign lock
    if new:
        for attempt_no in range(2):
            try:
                with session_scope(engine) as session:
                    campaign = lock_campaign(session, campaign_id)
                    room = Decimal(campaign.budget_usd) - committed(session, campaign_id)
                    for item_id, is_gold in new:
                        if per_hit > room:
                            report.skipped_over_budget.append(item_id)
                            continue
                        hit = Hit(
                            campaign_id=campaign_id,
                            round_id=round_id,
                            item_id=item_id,
                            attempt=attempt,
                            max_assignments=n_assign,
                            reward_usd=reward,
                            is_gold_check=is_gold,
                            unique_request_token=unique_request_token(
                                campaign_id, item_id, attempt
                            ),
                        )
                        session.add(hit)
                        session.flush()
                        book(
                            session,
                            campaign,
                            LedgerKind.HIT_RESERVATION,
                            reward * n_assign,
                            f"reserve:{hit.id}",
                            hit_pk=hit.id,
                            note=f"{n_assign} × {reward} USD",
                        )
                        room -= per_hit
                        report.reserved_usd += per_hit
                        existing[item_id] = hit
                break
            except IntegrityError:
                # another process wrote the same intents first: reread and go on
                if attempt_no:
                    raise
                report.skipped_over_budget.clear()
                report.reserved_usd = Decimal("0")
                with session_scope(engine) as session:
                    for h in session.exec(
                        select(Hit).where(
                            Hit.campaign_id == campaign_id,
                            col(Hit.item_id).in_([i for i, _ in new]),
                            Hit.attempt == attempt,
                        )
                    ):
                        existing[h.item_id] = h
                new = [(i, g) for i, g in new if i not in existing]
        if report.skipped_over_budget:
            log.warning(
                "campaign %s: %d items skipped, budget exhausted",
                campaign_id,
                len(report.skipped_over_budget),
            )

    # 2) the platform calls
    batch = [existing[i] for i, _ in wanted if i in existing]
    intents = [h.id for h in batch if h.status == HitStatus.INTENT]
    report.already_published = sum(1 for h in batch if h.status != HitStatus.INTENT)
    if intents:
        _send_intents(
            engine,
            platform,
            campaign_id,
            intents,
            renderer=renderer,
            current_labels=current_labels or {},
            item_view=item_view or default_item_view,
            report=report,
        )
    with session_scope(engine) as session:
        report.hits = [h for h in (session.get(Hit, b.id) for b in batch) if h is not None]
    return report


def resume_publishing(
    engine: Engine,
    platform: CrowdPlatform,
    campaign_id: uuid.UUID,
    *,
    renderer: QuestionRenderer,
    current_labels: Mapping[uuid.UUID, str] | None = None,
    item_view: ItemViewBuilder | None = None,
) -> PublishReport:
    """Send every ``INTENT`` HIT of the campaign (e.g. after a crash), whatever its round."""
    with session_scope(engine) as session:
        intents = list(
            session.exec(
                select(Hit.id).where(Hit.campaign_id == campaign_id, Hit.status == HitStatus.INTENT)
            )
        )
    report = PublishReport()
    if intents:
        _send_intents(
            engine,
            platform,
            campaign_id,
            intents,
            renderer=renderer,
            current_labels=current_labels or {},
            item_view=item_view or default_item_view,
            report=report,
        )
    with session_scope(engine) as session:
        report.hits = [h for h in (session.get(Hit, i) for i in intents) if h is not None]
    return report


def _fail_hit(session: Session, hit: Hit, campaign: Campaign, error: str) -> None:
    hit.status = HitStatus.FAILED
    hit.last_error = error[:1000]
    session.add(hit)
    release_outstanding(session, campaign, hit.id, f"release-failed:{hit.id}", note=error[:200])


def _send_intents(
    engine: Engine,
    platform: CrowdPlatform,
    campaign_id: uuid.UUID,
    hit_pks: Sequence[uuid.UUID],
    *,
    renderer: QuestionRenderer,
    current_labels: Mapping[uuid.UUID, str],
    item_view: ItemViewBuilder,
    report: PublishReport,
) -> None:
    with session_scope(engine) as session:
        campaign, dataset, cfg = _load(session, campaign_id)
        reward = validate_usd(campaign.reward_usd, what="reward")
    hit_type_id = platform.create_hit_type(_hit_type_spec(platform, campaign, cfg, reward))
    options = [str(c) for c in dataset.classes]
    listing: dict[str, str] | None = None  # token → hit id, built lazily for old intents
    for pk in hit_pks:
        with session_scope(engine) as session:
            hit = session.get(Hit, pk)
            item = session.get(Item, hit.item_id) if hit else None
            if hit is None or item is None or hit.status != HitStatus.INTENT:
                continue
            camp = session.get(Campaign, campaign_id)
            assert camp is not None
            try:
                current = current_labels.get(item.id, item.noisy_label)
                opts = options if current in options else [*options, current]
                view = item_view(item, opts, current)
                if cfg.instructions and view.instructions is None:
                    view = ItemView(**{**view.__dict__, "instructions": cfg.instructions})
                question = renderer.render_item(view)
                annotation = requester_annotation(
                    campaign_id, hit.unique_request_token, item_key(item)
                )
            except ValueError as exc:  # includes QuestionTooLarge / unsafe image / money
                _fail_hit(session, hit, camp, f"render: {exc}")
                report.failed.append(hit.id)
                continue
            hit_id: str | None = None
            recovered = False
            created_at = hit.created_at
            if utcnow() - created_at > TOKEN_TRUST_WINDOW:
                # MTurk may have forgotten the token: look before creating a duplicate
                if listing is None:
                    listing = {}
                    for h in platform.iter_hits():
                        ann = parse_annotation(h.requester_annotation)
                        if ann is not None:
                            listing[ann["t"]] = h.hit_id
                hit_id = listing.get(hit.unique_request_token)
                recovered = hit_id is not None
            try:
                if hit_id is None:
                    hit_id = platform.create_hit(
                        HitRequest(
                            hit_type_id=hit_type_id,
                            question_xml=question,
                            max_assignments=hit.max_assignments,
                            lifetime_s=cfg.lifetime_s,
                            unique_request_token=hit.unique_request_token,
                            requester_annotation=annotation,
                        )
                    )
            except AlreadyDoneError as exc:
                hit_id = exc.hit_id or _find_by_token(platform, hit.unique_request_token)
                recovered = True
                if hit_id is None:
                    hit.last_error = f"token known to the platform but HIT not found: {exc}"
                    session.add(hit)
                    report.pending.append(hit.id)
                    continue
            except (TransientPlatformError, NotReadyError) as exc:
                hit.last_error = f"{type(exc).__name__}: {exc}"[:1000]
                session.add(hit)
                report.pending.append(hit.id)
                continue
            except InvalidRequestError as exc:
                _fail_hit(session, hit, camp, f"platform: {exc}")
                report.failed.append(hit.id)
                continue
            hit.hit_id = hit_id
            hit.hit_type_id = hit_type_id
            hit.status = HitStatus.PUBLISHED
            hit.published_at = utcnow()
            hit.last_error = None
            session.add(hit)
            if recovered:
                report.recovered += 1
            else:
                report.created += 1


# --------------------------------------------------------------------------- collect


def _get_or_create_worker(session: Session, platform_worker_id: str) -> Worker:
    """The worker row, created if new. Safe against a concurrent creator in another process.

    Workers are shared by all campaigns, so two schedulers collecting different campaigns can
    meet the same new worker at once; ``INSERT … ON CONFLICT DO NOTHING`` (PostgreSQL and
    SQLite) lets the second one adopt the first one's row instead of failing its whole collect.
    """
    query = select(Worker).where(Worker.platform_worker_id == platform_worker_id)
    worker = session.exec(query).first()
    if worker is None:
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        dialect = session.get_bind().dialect.name
        if dialect not in ("postgresql", "sqlite"):
            worker = Worker(platform_worker_id=platform_worker_id)
            session.add(worker)
            session.flush()
            return worker
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        values = Worker(platform_worker_id=platform_worker_id).model_dump()
        session.execute(
            insert(Worker)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["platform_worker_id"])
        )
        worker = session.exec(query).one()
    return worker


def _book_approval(session: Session, campaign: Campaign, hit: Hit, a: Assignment) -> None:
    reward = Decimal(hit.reward_usd)
    book(
        session,
        campaign,
        LedgerKind.REWARD,
        reward,
        f"reward:{a.id}",
        hit_pk=hit.id,
        assignment_pk=a.id,
        check_cap=False,
    )
    book(
        session,
        campaign,
        LedgerKind.RELEASE,
        -reward,
        f"convert:{a.id}",
        hit_pk=hit.id,
        assignment_pk=a.id,
        note="reservation → reward",
        check_cap=False,
    )
    a.status = AssignmentStatus.APPROVED
    a.decided_at = a.decided_at or utcnow()
    session.add(a)


def _book_rejection(
    session: Session, campaign: Campaign, hit: Hit, a: Assignment, evidence: str
) -> None:
    reward = Decimal(hit.reward_usd)
    book(
        session,
        campaign,
        LedgerKind.RELEASE,
        -reward,
        f"reject:{a.id}",
        hit_pk=hit.id,
        assignment_pk=a.id,
        note=f"rejected: {evidence}",
        check_cap=False,
    )
    a.status = AssignmentStatus.REJECTED
    a.decided_at = a.decided_at or utcnow()
    session.add(a)


def _store_assignment(
    session: Session,
    campaign: Campaign,
    hit: Hit,
    item: Item,
    pa: PlatformAssignment,
    options: Sequence[str],
    report: CollectReport,
) -> Worker:
    worker = _get_or_create_worker(session, pa.worker_id)
    a = Assignment(
        hit_pk=hit.id,
        worker_pk=worker.id,
        assignment_id=pa.assignment_id,
        answer_xml=pa.answer_xml[:200_000],
        submitted_at=pa.submit_time or utcnow(),
    )
    session.add(a)
    session.flush()
    parsed = parse_answer(pa.answer_xml, options)
    session.add(
        Answer(
            campaign_id=campaign.id,
            assignment_pk=a.id,
            item_id=item.id,
            worker_pk=worker.id,
            label=parsed.label,
            said_correct=parsed.said_correct,
        )
    )
    worker.n_answers += 1
    if hit.is_gold_check and item.gold_label is not None:
        worker.n_gold_answers += 1
        if parsed.label == item.gold_label:
            worker.n_gold_correct += 1
        worker.estimated_accuracy = worker.n_gold_correct / worker.n_gold_answers
    session.add(worker)
    report.new_answers += 1
    if parsed.label is None:
        report.unusable_answers += 1
    if pa.status == PlatformAssignmentStatus.APPROVED:
        _book_approval(session, campaign, hit, a)
        report.synced_decisions += 1
    elif pa.status == PlatformAssignmentStatus.REJECTED:
        _book_rejection(session, campaign, hit, a, "rejected on the platform")
        report.synced_decisions += 1
    return worker


def collect_answers(
    engine: Engine,
    platform: CrowdPlatform,
    campaign_id: uuid.UUID,
    *,
    round_id: uuid.UUID | None = None,
) -> CollectReport:
    """Poll MTurk for new assignments and store them (Worker, Assignment, Answer rows).

    Parses each ``QuestionFormAnswers`` defensively (unusable → ``Answer.label`` None), updates
    workers' gold accuracy and excludes/blocks those below the campaign's threshold, learns
    approvals/rejections made on the platform (auto-approval), retries pending decisions and
    bonuses, and marks HITs ``COMPLETED`` once MTurk lists them as reviewable. Limit to one
    round with ``round_id``. Safe to call as often as you like.
    """
    report = CollectReport()
    with session_scope(engine) as session:
        _campaign, dataset, cfg = _load(session, campaign_id)
        q = select(Hit).where(
            Hit.campaign_id == campaign_id,
            col(Hit.status).in_([HitStatus.PUBLISHED, HitStatus.COMPLETED, HitStatus.EXPIRED]),
            col(Hit.hit_id).is_not(None),
        )
        if round_id is not None:
            q = q.where(Hit.round_id == round_id)
        hits = list(session.exec(q))
        open_states = [
            AssignmentStatus.SUBMITTED,
            AssignmentStatus.APPROVE_PENDING,
            AssignmentStatus.REJECT_PENDING,
        ]
        with_undecided = set(
            session.exec(
                select(Assignment.hit_pk).where(
                    col(Assignment.hit_pk).in_([h.id for h in hits]),
                    col(Assignment.status).in_(open_states),
                )
            )
        )
    options = [str(c) for c in dataset.classes]
    to_poll = [h for h in hits if h.status == HitStatus.PUBLISHED or h.id in with_undecided]
    reviewable: set[str] = set()
    try:
        for type_id in sorted({h.hit_type_id for h in to_poll if h.hit_type_id}):
            reviewable.update(platform.iter_reviewable_hit_ids(type_id))
    except PlatformError as exc:
        report.errors.append(f"ListReviewableHITs: {exc}")
    seen_workers: set[uuid.UUID] = set()
    for h in to_poll:
        assert h.hit_id is not None
        try:
            platform_assignments = list(platform.iter_assignments(h.hit_id))
        except PlatformError as exc:
            report.errors.append(f"ListAssignmentsForHIT {h.hit_id}: {exc}")
            if h.status == HitStatus.PUBLISHED:
                report.outstanding_hits.append(h.id)
            continue
        with session_scope(engine) as session:
            hit = session.get(Hit, h.id)
            item = session.get(Item, h.item_id)
            camp = session.get(Campaign, campaign_id)
            assert hit is not None and item is not None and camp is not None
            known = {
                a.assignment_id: a
                for a in session.exec(select(Assignment).where(Assignment.hit_pk == hit.id))
            }
            for pa in platform_assignments:
                a = known.get(pa.assignment_id)
                if a is None:
                    w = _store_assignment(session, camp, hit, item, pa, options, report)
                    seen_workers.add(w.id)
                    continue
                if pa.status == PlatformAssignmentStatus.APPROVED and a.status in (
                    AssignmentStatus.SUBMITTED,
                    AssignmentStatus.APPROVE_PENDING,
                ):
                    _book_approval(session, camp, hit, a)
                    report.synced_decisions += 1
                elif pa.status == PlatformAssignmentStatus.REJECTED and a.status in (
                    AssignmentStatus.SUBMITTED,
                    AssignmentStatus.REJECT_PENDING,
                ):
                    _book_rejection(session, camp, hit, a, a.feedback or "platform")
                    report.synced_decisions += 1
            n = session.exec(
                select(Answer.id).where(
                    Answer.item_id == hit.item_id, Answer.campaign_id == campaign_id
                )
            ).all()
            report.answers_per_item[hit.item_id] = len(n)
            if hit.hit_id in reviewable and hit.status == HitStatus.PUBLISHED:
                hit.status = HitStatus.COMPLETED
                session.add(hit)
            if hit.status == HitStatus.PUBLISHED:
                report.outstanding_hits.append(hit.id)
            elif hit.status == HitStatus.COMPLETED:
                report.completed_hits.append(hit.id)
    report.blocked_workers = _enforce_quality(engine, platform, campaign_id, cfg, seen_workers)
    settle = _apply_pending(engine, platform, campaign_id)
    report.pending_decisions = settle.pending
    report.errors.extend(settle.errors)
    report.pending_bonuses = retry_pending_bonuses(engine, platform, campaign_id)
    return report


def _enforce_quality(
    engine: Engine,
    platform: CrowdPlatform,
    campaign_id: uuid.UUID,
    cfg: CrowdConfig,
    worker_pks: Iterable[uuid.UUID],
) -> list[str]:
    blocked: list[str] = []
    pks = list(worker_pks)
    if not pks:
        return blocked
    with session_scope(engine) as session:
        failing = [
            w
            for w in session.exec(select(Worker).where(col(Worker.id).in_(pks)))
            if not w.blocked
            and w.n_gold_answers >= cfg.gold_min_answers
            and (w.estimated_accuracy or 0.0) < cfg.gold_min_accuracy
        ]
    for w in failing:
        reason = (
            f"Answered {w.n_gold_correct} of {w.n_gold_answers} control questions correctly "
            f"(below {cfg.gold_min_accuracy:.0%})."
        )
        try:
            if cfg.use_exclusion_qualification:
                qid = platform.create_qualification_type(
                    _exclusion_name(campaign_id), _exclusion_description(campaign_id)
                )
                platform.associate_qualification(qid, w.platform_worker_id, 1)
            if cfg.block_on_gold_failure:
                platform.block_worker(w.platform_worker_id, reason)
        except PlatformError as exc:
            log.warning("could not exclude worker %s: %s", w.platform_worker_id, exc)
            continue
        with session_scope(engine) as session:
            row = session.get(Worker, w.id)
            if row is not None:
                row.blocked = cfg.block_on_gold_failure
                row.blocked_reason = reason
                session.add(row)
        blocked.append(w.platform_worker_id)
    return blocked


# --------------------------------------------------------------------------- more answers


def request_more_answers(
    engine: Engine, platform: CrowdPlatform, hit_pk: uuid.UUID, n_extra: int
) -> Hit:
    """Ask for ``n_extra`` more assignments on a HIT (CreateAdditionalAssignmentsForHIT).

    Refuses (``MoneyError``) to go past 9 assignments per HIT and (``BudgetExceededError``) past
    the campaign cap; the extra reward × 1.2 is reserved before the call. Idempotent: the
    request token and the ledger key are derived from (HIT, assignments before → after), so a
    re-run after a crash neither asks twice nor reserves twice. Extends the HIT's expiration
    by the campaign's lifetime when it would expire sooner.
    """
    if n_extra < 1:
        raise ValueError("n_extra must be >= 1")
    with session_scope(engine) as session:
        hit = session.get(Hit, hit_pk)
        if hit is None:
            raise LookupError(f"HIT {hit_pk} does not exist")
        if hit.hit_id is None or hit.status not in (HitStatus.PUBLISHED, HitStatus.COMPLETED):
            raise ValueError(f"HIT {hit_pk} is {hit.status}; only live HITs can get more answers")
        old = hit.max_assignments
        new = old + n_extra
        validate_assignments(new)
        campaign = lock_campaign(session, hit.campaign_id)
        reward = Decimal(hit.reward_usd)
        book(
            session,
            campaign,
            LedgerKind.HIT_RESERVATION,
            reward * n_extra,
            f"reserve-extra:{hit.id}:{old}-{new}",
            hit_pk=hit.id,
            note=f"{n_extra} more × {reward} USD",
        )
        hit_id, token = hit.hit_id, f"{hit.unique_request_token[:44]}-x{old}-{new}"
        lifetime = CrowdConfig.of(campaign).lifetime_s
    try:
        platform.create_additional_assignments(hit_id, n_extra, token)
    except AlreadyDoneError:
        pass
    except InvalidRequestError as exc:
        with session_scope(engine) as session:
            campaign = lock_campaign(session, hit.campaign_id)
            book(
                session,
                campaign,
                LedgerKind.RELEASE,
                -(reward * n_extra),
                f"release-extra:{hit_pk}:{old}-{new}",
                hit_pk=hit_pk,
                note=str(exc)[:200],
                check_cap=False,
            )
        raise
    with session_scope(engine) as session:
        row = session.get(Hit, hit_pk)
        assert row is not None
        if row.max_assignments == old:
            row.max_assignments = new
        row.status = HitStatus.PUBLISHED
        session.add(row)
    try:
        ph = platform.get_hit(hit_id)
        horizon = datetime.now(UTC) + timedelta(seconds=lifetime)
        if ph.expiration is None or ph.expiration < datetime.now(UTC) + timedelta(hours=1):
            platform.update_expiration(hit_id, horizon)
    except PlatformError as exc:
        log.warning("could not extend HIT %s: %s", hit_id, exc)
    with session_scope(engine) as session:
        out = session.get(Hit, hit_pk)
        assert out is not None
        return out


# --------------------------------------------------------------------------- settle


def default_decisions(
    engine: Engine, campaign_id: uuid.UUID, *, reject_failed_gold: bool = False
) -> list[Decision]:
    """Approve every submitted assignment; optionally reject wrong answers to gold checks.

    A rejection carries the control item's correct answer as feedback and evidence. Intended to
    be called after aggregation; callers with their own evidence build :class:`Decision` s.
    """
    out: list[Decision] = []
    with session_scope(engine) as session:
        rows = session.exec(
            select(Assignment, Hit, Answer, Item)
            .join(Hit, col(Hit.id) == col(Assignment.hit_pk))
            .join(Answer, col(Answer.assignment_pk) == col(Assignment.id))
            .join(Item, col(Item.id) == col(Answer.item_id))
            .where(Hit.campaign_id == campaign_id, Assignment.status == AssignmentStatus.SUBMITTED)
        ).all()
        for a, hit, ans, item in rows:
            if (
                reject_failed_gold
                and hit.is_gold_check
                and item.gold_label is not None
                and ans.label != item.gold_label
            ):
                out.append(
                    Decision(
                        a.id,
                        approve=False,
                        feedback=(
                            "This was a control question with a known answer: the correct label "
                            f"was '{item.gold_label}', your answer was '{ans.label or 'empty'}'."
                        ),
                        evidence=f"gold item {item.external_id}: expected {item.gold_label!r}, "
                        f"got {ans.label!r}",
                    )
                )
            else:
                out.append(Decision(a.id, approve=True))
    return out


def settle_assignments(
    engine: Engine,
    platform: CrowdPlatform,
    campaign_id: uuid.UUID,
    decisions: Sequence[Decision],
) -> SettleReport:
    """Approve or reject assignments (after aggregation), then release unused reservations.

    Decisions are validated first (a rejection without feedback or evidence raises
    ``ValueError`` before anything is written), recorded as ``APPROVE_PENDING`` /
    ``REJECT_PENDING``, then sent. Assignments already decided are skipped; platform refusals
    due to eventual consistency stay pending and are retried by the next
    :func:`collect_answers` or :func:`settle_assignments`.
    """
    for d in decisions:
        if not d.approve:
            if not (d.feedback and d.feedback.strip()):
                raise ValueError(f"rejecting {d.assignment} needs feedback for the worker")
            if not (d.evidence and d.evidence.strip()):
                raise ValueError(f"rejecting {d.assignment} needs evidence")
            if len(d.feedback) > 1024:
                raise ValueError("RequesterFeedback is limited to 1024 characters")
    report = SettleReport()
    with session_scope(engine) as session:
        for d in decisions:
            if isinstance(d.assignment, uuid.UUID):
                a = session.get(Assignment, d.assignment)
            else:
                a = session.exec(
                    select(Assignment).where(Assignment.assignment_id == d.assignment)
                ).first()
            hit = session.get(Hit, a.hit_pk) if a is not None else None
            if a is None or hit is None or hit.campaign_id != campaign_id:
                report.errors.append(f"unknown assignment {d.assignment}")
                continue
            if a.status != AssignmentStatus.SUBMITTED:
                report.skipped += 1
                continue
            if d.approve:
                a.status = AssignmentStatus.APPROVE_PENDING
            else:
                a.status = AssignmentStatus.REJECT_PENDING
                a.feedback = f"{d.feedback}\n\nEvidence: {d.evidence}"[:2000]
            session.add(a)
    applied = _apply_pending(engine, platform, campaign_id)
    report.approved = applied.approved
    report.rejected = applied.rejected
    report.pending = applied.pending
    report.errors.extend(applied.errors)
    report.released_usd = release_unused(engine, campaign_id)
    return report


def _split_feedback(stored: str | None) -> tuple[str, str]:
    text = stored or ""
    if "\n\nEvidence: " in text:
        fb, ev = text.split("\n\nEvidence: ", 1)
        return fb, ev
    return text or "Your answer did not meet the task's requirements.", text or "unspecified"


def _apply_pending(engine: Engine, platform: CrowdPlatform, campaign_id: uuid.UUID) -> SettleReport:
    report = SettleReport()
    with session_scope(engine) as session:
        pending = list(
            session.exec(
                select(Assignment.id)
                .join(Hit, col(Hit.id) == col(Assignment.hit_pk))
                .where(
                    Hit.campaign_id == campaign_id,
                    col(Assignment.status).in_(
                        [AssignmentStatus.APPROVE_PENDING, AssignmentStatus.REJECT_PENDING]
                    ),
                )
            )
        )
    for pk in pending:
        with session_scope(engine) as session:
            a = session.get(Assignment, pk)
            if a is None or a.status not in (
                AssignmentStatus.APPROVE_PENDING,
                AssignmentStatus.REJECT_PENDING,
            ):
                continue
            hit = session.get(Hit, a.hit_pk)
            campaign = session.get(Campaign, campaign_id)
            assert hit is not None and campaign is not None
            approve = a.status == AssignmentStatus.APPROVE_PENDING
            feedback, evidence = _split_feedback(a.feedback)
            try:
                if approve:
                    platform.approve_assignment(a.assignment_id)
                else:
                    platform.reject_assignment(a.assignment_id, feedback)
                final: PlatformAssignmentStatus | None = (
                    PlatformAssignmentStatus.APPROVED
                    if approve
                    else PlatformAssignmentStatus.REJECTED
                )
            except (NotReadyError, TransientPlatformError) as exc:
                log.info("assignment %s not settled yet: %s", a.assignment_id, exc)
                report.pending += 1
                continue
            except (InvalidRequestError, AlreadyDoneError) as exc:
                # e.g. approved before a crash, or auto-approved: ask what it is now
                try:
                    final = platform.get_assignment(a.assignment_id).status
                except PlatformError as exc2:
                    report.errors.append(f"{a.assignment_id}: {exc}; {exc2}")
                    report.pending += 1
                    continue
                if final == PlatformAssignmentStatus.SUBMITTED:
                    report.errors.append(f"{a.assignment_id}: {exc}")
                    report.pending += 1
                    continue
            if final == PlatformAssignmentStatus.APPROVED:
                _book_approval(session, campaign, hit, a)
                report.approved += 1
            else:
                _book_rejection(session, campaign, hit, a, evidence)
                report.rejected += 1
    return report


def release_unused(engine: Engine, campaign_id: uuid.UUID) -> Decimal:
    """Give back the reservations of HITs that can take no more answers, USD released.

    A HIT qualifies when it is ``COMPLETED`` (reviewable), ``EXPIRED``, ``DISPOSED`` or
    ``FAILED`` and none of its assignments awaits a decision.
    """
    released = Decimal("0")
    with session_scope(engine) as session:
        campaign = lock_campaign(session, campaign_id)
        hits = session.exec(
            select(Hit).where(
                Hit.campaign_id == campaign_id,
                col(Hit.status).in_(
                    [HitStatus.COMPLETED, HitStatus.EXPIRED, HitStatus.DISPOSED, HitStatus.FAILED]
                ),
            )
        ).all()
        for hit in hits:
            undecided = session.exec(
                select(Assignment.id).where(
                    Assignment.hit_pk == hit.id,
                    col(Assignment.status).in_(
                        [
                            AssignmentStatus.SUBMITTED,
                            AssignmentStatus.APPROVE_PENDING,
                            AssignmentStatus.REJECT_PENDING,
                        ]
                    ),
                )
            ).first()
            if undecided is not None:
                continue
            # the key carries max_assignments: a HIT given more answers later can release again
            released += release_outstanding(
                session,
                campaign,
                hit.id,
                f"release-unused:{hit.id}:{hit.max_assignments}",
                note="unanswered slots",
            )
    return released


# --------------------------------------------------------------------------- bonuses


def send_bonus(
    engine: Engine,
    platform: CrowdPlatform,
    assignment_pk: uuid.UUID,
    amount_usd: Decimal | str,
    reason: str,
    *,
    idempotency_key: str,
) -> BonusResult:
    """Pay a worker ``amount_usd`` (+ 20 % fee) for an assignment, exactly once per key.

    The bonus is booked in the ledger under the campaign cap *before* SendBonus (whose
    ``UniqueRequestToken`` is derived from ``idempotency_key``); a repeated key returns the
    earlier outcome. Refusals due to eventual consistency leave it ``pending`` (retried by
    :func:`collect_answers`); permanent refusals void the booking.
    """
    amount = validate_usd(amount_usd, what="bonus")
    if not reason.strip():
        raise ValueError("a bonus needs a reason")
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]
    key = f"bonus:{digest}"
    with session_scope(engine) as session:
        a = session.get(Assignment, assignment_pk)
        hit = session.get(Hit, a.hit_pk) if a else None
        if a is None or hit is None:
            raise LookupError(f"assignment {assignment_pk} does not exist")
        campaign = lock_campaign(session, hit.campaign_id)
        book(
            session,
            campaign,
            LedgerKind.BONUS,
            amount,
            key,
            hit_pk=hit.id,
            assignment_pk=a.id,
            note=reason[:500],
        )
        campaign_id = campaign.id
    status = _send_one_bonus(engine, platform, campaign_id, digest)
    return BonusResult(status=status, amount_usd=amount, key=key)


def _send_one_bonus(
    engine: Engine, platform: CrowdPlatform, campaign_id: uuid.UUID, digest: str
) -> Literal["sent", "pending", "void"]:
    with session_scope(engine) as session:
        if session.exec(
            select(LedgerEntry.id).where(LedgerEntry.idempotency_key == f"bonus-sent:{digest}")
        ).first():
            return "sent"
        if session.exec(
            select(LedgerEntry.id).where(LedgerEntry.idempotency_key == f"bonus-void:{digest}")
        ).first():
            return "void"
        entry = session.exec(
            select(LedgerEntry).where(LedgerEntry.idempotency_key == f"bonus:{digest}")
        ).one()
        a = session.get(Assignment, entry.assignment_pk)
        worker = session.get(Worker, a.worker_pk) if a else None
        assert a is not None and worker is not None
        amount, reason = Decimal(entry.amount_usd), entry.note or "bonus"
        assignment_id, worker_id = a.assignment_id, worker.platform_worker_id
        hit_pk, assignment_pk = entry.hit_pk, entry.assignment_pk
    outcome: Literal["sent", "pending", "void"]
    try:
        platform.send_bonus(worker_id, assignment_id, amount, reason, f"cc1b-{digest}")
        outcome = "sent"
    except AlreadyDoneError:
        outcome = "sent"
    except (NotReadyError, TransientPlatformError):
        return "pending"
    except InvalidRequestError as exc:
        log.warning("bonus %s refused: %s", digest, exc)
        outcome = "void"
    with session_scope(engine) as session:
        campaign = lock_campaign(session, campaign_id)
        if outcome == "sent":
            book(
                session,
                campaign,
                LedgerKind.BONUS,
                Decimal("0"),
                f"bonus-sent:{digest}",
                fee=Decimal("0"),
                hit_pk=hit_pk,
                assignment_pk=assignment_pk,
                note="confirmed",
                check_cap=False,
            )
        else:
            book(
                session,
                campaign,
                LedgerKind.BONUS,
                -amount,
                f"bonus-void:{digest}",
                hit_pk=hit_pk,
                assignment_pk=assignment_pk,
                note="refused",
                check_cap=False,
            )
    return outcome


def retry_pending_bonuses(engine: Engine, platform: CrowdPlatform, campaign_id: uuid.UUID) -> int:
    """Re-send bonuses booked but not confirmed; returns how many are still pending."""
    with session_scope(engine) as session:
        keys = {
            e.idempotency_key
            for e in session.exec(
                select(LedgerEntry).where(
                    LedgerEntry.campaign_id == campaign_id, LedgerEntry.kind == LedgerKind.BONUS
                )
            )
        }
    digests = [k.split(":", 1)[1] for k in keys if k.startswith("bonus:")]
    todo = [d for d in digests if f"bonus-sent:{d}" not in keys and f"bonus-void:{d}" not in keys]
    return sum(1 for d in todo if _send_one_bonus(engine, platform, campaign_id, d) == "pending")


# --------------------------------------------------------------------------- cancel / reconcile


def _is_gone(exc: PlatformError) -> bool:
    return isinstance(exc, NotReadyError) or "does not exist" in str(exc).lower()


def cancel_campaign(
    engine: Engine,
    platform: CrowdPlatform,
    campaign_id: uuid.UUID,
    *,
    approve_submitted: bool = True,
) -> CancelReport:
    """Stop a campaign's crowd work: expire every live HIT, settle, dispose, release money.

    Unsent intents are looked up on the platform (adopted if found, else abandoned). Work
    already submitted is collected and, with ``approve_submitted`` (default: workers did the
    work), approved before the HITs are deleted. HITs that cannot be deleted yet (pending
    approvals, workers still on an assignment) stay ``EXPIRED`` and are listed in
    ``still_open``; run cancel again later. Does not change ``Campaign.status``.
    """
    report = CancelReport()
    reconcile_campaign(engine, platform, campaign_id)  # adopt HITs of unsent intents
    with session_scope(engine) as session:
        intents = list(
            session.exec(
                select(Hit).where(Hit.campaign_id == campaign_id, Hit.status == HitStatus.INTENT)
            )
        )
        campaign = lock_campaign(session, campaign_id)
        for hit in intents:
            _fail_hit(session, hit, campaign, "campaign cancelled before publication")
            report.abandoned_intents += 1
        live = list(
            session.exec(
                select(Hit).where(
                    Hit.campaign_id == campaign_id,
                    col(Hit.status).in_(_LIVE),
                    col(Hit.hit_id).is_not(None),
                )
            )
        )
    past = datetime.now(UTC) - timedelta(minutes=1)
    for hit in live:
        assert hit.hit_id is not None
        if hit.status != HitStatus.EXPIRED:
            try:
                platform.update_expiration(hit.hit_id, past)
            except PlatformError as exc:
                if not _is_gone(exc):
                    report.still_open[hit.hit_id] = f"expire: {exc}"
                    continue
            with session_scope(engine) as session:
                row = session.get(Hit, hit.id)
                assert row is not None
                row.status = HitStatus.EXPIRED
                session.add(row)
            report.expired += 1
    collect_answers(engine, platform, campaign_id)
    if approve_submitted:
        decisions = [d for d in default_decisions(engine, campaign_id, reject_failed_gold=False)]
        report.approved = settle_assignments(engine, platform, campaign_id, decisions).approved
    with session_scope(engine) as session:
        expired = list(
            session.exec(
                select(Hit).where(
                    Hit.campaign_id == campaign_id,
                    col(Hit.status).in_(_LIVE),
                    col(Hit.hit_id).is_not(None),
                )
            )
        )
    for hit in expired:
        assert hit.hit_id is not None
        try:
            platform.delete_hit(hit.hit_id)
        except PlatformError as exc:
            if not _is_gone(exc):
                report.still_open[hit.hit_id] = f"delete: {exc}"
                continue
        with session_scope(engine) as session:
            row = session.get(Hit, hit.id)
            assert row is not None
            row.status = HitStatus.DISPOSED
            session.add(row)
        report.disposed += 1
    report.released_usd = release_unused(engine, campaign_id)
    return report


def reconcile_campaign(
    engine: Engine,
    platform: CrowdPlatform,
    campaign_id: uuid.UUID | None = None,
    *,
    dispose_orphans: bool = False,
) -> ReconcileReport:
    """Compare the platform's HITs (ListHITs) with the DB.

    * a platform HIT whose annotation token matches an ``INTENT`` (or ``FAILED``) row is
      adopted: the row gets its HIT id and becomes ``PUBLISHED``;
    * a HIT carrying our annotation that the DB does not know is an orphan: reported, and with
      ``dispose_orphans`` expired and deleted (when it has no undecided work);
    * a DB HIT marked published that the platform no longer lists is reported as missing.

    ``campaign_id=None`` considers every crowdclean HIT of the account.
    """
    report = ReconcileReport()
    ours: dict[str, tuple[str, dict[str, str]]] = {}  # hit id → (status, annotation)
    try:
        for ph in platform.iter_hits():
            ann = parse_annotation(ph.requester_annotation)
            if ann is None or (campaign_id is not None and ann["c"] != campaign_id.hex):
                continue
            ours[ph.hit_id] = (str(ph.status), ann)
    except PlatformError as exc:
        report.errors.append(f"ListHITs: {exc}")
        return report
    with session_scope(engine) as session:
        q = select(Hit)
        if campaign_id is not None:
            q = q.where(Hit.campaign_id == campaign_id)
        rows = list(session.exec(q))
        by_hit_id = {h.hit_id: h for h in rows if h.hit_id}
        by_token = {h.unique_request_token: h for h in rows}
        for hit_id, (_status, ann) in ours.items():
            if hit_id in by_hit_id:
                continue
            row = by_token.get(ann["t"])
            if row is not None and row.status in (HitStatus.INTENT, HitStatus.FAILED):
                if row.status == HitStatus.FAILED:
                    # money was released on failure: re-reserve what the HIT can still cost
                    campaign = lock_campaign(session, row.campaign_id)
                    book(
                        session,
                        campaign,
                        LedgerKind.HIT_RESERVATION,
                        Decimal(row.reward_usd) * row.max_assignments,
                        f"reserve-adopted:{row.id}",
                        hit_pk=row.id,
                        check_cap=False,
                        note="adopted after failure",
                    )
                row.hit_id = hit_id
                row.status = HitStatus.PUBLISHED
                row.published_at = row.published_at or utcnow()
                row.last_error = None
                session.add(row)
                report.adopted.append(hit_id)
            else:
                report.orphans.append(hit_id)
        for h in rows:
            if (
                h.hit_id
                and h.status in (HitStatus.PUBLISHED, HitStatus.COMPLETED)
                and (h.hit_id not in ours)
            ):
                report.missing.append(h.hit_id)
    if dispose_orphans:
        past = datetime.now(UTC) - timedelta(minutes=1)
        for hit_id in report.orphans:
            try:
                platform.update_expiration(hit_id, past)
                platform.delete_hit(hit_id)
                report.disposed.append(hit_id)
            except PlatformError as exc:
                report.errors.append(f"{hit_id}: {exc}")
    return report


def notify_campaign_workers(
    engine: Engine, platform: CrowdPlatform, campaign_id: uuid.UUID, subject: str, message: str
) -> dict[str, str]:
    """E-mail every worker who answered in the campaign (NotifyWorkers); returns failures."""
    with session_scope(engine) as session:
        ids = sorted(
            set(
                session.exec(
                    select(Worker.platform_worker_id)
                    .join(Answer, col(Answer.worker_pk) == col(Worker.id))
                    .where(Answer.campaign_id == campaign_id)
                )
            )
        )
    if not ids:
        return {}
    return dict(platform.notify_workers(ids, subject, message).failures)


__all__ = [
    "BonusResult",
    "BudgetExceededError",
    "CancelReport",
    "CollectReport",
    "CrowdConfig",
    "Decision",
    "InsufficientBalanceError",
    "ItemViewBuilder",
    "PublishReport",
    "ReconcileReport",
    "SettleReport",
    "cancel_campaign",
    "collect_answers",
    "default_decisions",
    "default_item_view",
    "item_key",
    "notify_campaign_workers",
    "parse_annotation",
    "publish_items",
    "reconcile_campaign",
    "release_unused",
    "request_more_answers",
    "requester_annotation",
    "resume_publishing",
    "retry_pending_bonuses",
    "send_bonus",
    "settle_assignments",
    "unique_request_token",
]
