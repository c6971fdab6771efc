"""Publish one HIT per item, exactly once, within the campaign's cap.

Each HIT's intent (a ``Hit`` row in ``INTENT`` and its spend reservation) is written in one
transaction *before* CreateHITWithHITType is called with a ``UniqueRequestToken`` derived from
(campaign, item, attempt), and the HIT id is written *after*. A re-run sends the same token;
MTurk answers "HIT already exists" and the existing HIT is adopted (by the id in the message, or
by listing HITs and matching the ``RequesterAnnotation``, which carries the token). So a crash
at any point can leave an unsent intent, never a second HIT or a second reservation.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from orchestrator.crowd.campaign_crowd import CampaignCrowd
from orchestrator.crowd.gold import pick_gold
from orchestrator.crowd.identity import (
    exclusion_qualification,
    find_hit_by_token,
    item_key,
    our_hits,
    requester_annotation,
    unique_request_token,
)
from orchestrator.crowd.ledger import book, committed, lock_campaign, release_outstanding
from orchestrator.crowd.money import MoneyError, validate_assignments, validate_usd, with_fee
from orchestrator.crowd.platform import (
    QUAL_LOCALE,
    QUAL_PERCENT_APPROVED,
    AlreadyDoneError,
    CrowdPlatform,
    HitRequest,
    HitTypeSpec,
    InvalidRequestError,
    NotReadyError,
    QualificationRequirement,
    TransientPlatformError,
)
from orchestrator.crowd.render import ItemView, QuestionRenderer
from orchestrator.db.engine import session_scope
from orchestrator.db.models import Campaign, Hit, HitStatus, Item, LedgerKind
from orchestrator.db.types import utcnow

log = logging.getLogger(__name__)

#: MTurk forgets a UniqueRequestToken after 24 h; past this age an intent is first looked up.
TOKEN_TRUST_WINDOW = timedelta(hours=23)

ItemViewBuilder = Callable[[Item, Sequence[str], str], ItemView]


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


class InsufficientBalanceError(Exception):
    """The requester account cannot cover the HITs about to be published."""


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


def publish_items(
    crowd: CampaignCrowd,
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
    reward = validate_usd(crowd.campaign.reward_usd, what="reward")
    n_assign = validate_assignments(crowd.campaign.assignments_per_item)
    rate = crowd.config.gold_rate if gold_rate is None else gold_rate
    if not 0 <= rate < 1:
        raise MoneyError(f"gold_rate must be in [0, 1), got {rate}")
    with session_scope(crowd.engine) as session:
        gold_ids = pick_gold(session, crowd.campaign, round_id, item_ids, rate)
        wanted = [(i, False) for i in dict.fromkeys(item_ids)] + [(g, True) for g in gold_ids]
        existing = _hits_of(session, crowd.campaign_id, [i for i, _ in wanted], attempt)
    report = PublishReport(gold_item_ids=gold_ids)
    spec = _BatchSpec(round_id, attempt, reward, n_assign)
    new = [(i, g) for i, g in wanted if i not in existing]
    if check_balance and new:
        unsent = sum(1 for h in existing.values() if h.status == HitStatus.INTENT)
        _check_balance(crowd.platform, spec.per_hit_usd * (len(new) + unsent))
    if new:
        _write_intents(crowd, spec, new, existing, report)
    batch = [existing[i] for i, _ in wanted if i in existing]
    report.already_published = sum(1 for h in batch if h.status != HitStatus.INTENT)
    _send_and_reread(
        crowd,
        [h.id for h in batch],
        [h.id for h in batch if h.status == HitStatus.INTENT],
        renderer=renderer,
        current_labels=current_labels,
        item_view=item_view,
        report=report,
    )
    return report


def resume_publishing(
    crowd: CampaignCrowd,
    *,
    renderer: QuestionRenderer,
    current_labels: Mapping[uuid.UUID, str] | None = None,
    item_view: ItemViewBuilder | None = None,
) -> PublishReport:
    """Send every ``INTENT`` HIT of the campaign (e.g. after a crash), whatever its round."""
    with session_scope(crowd.engine) as session:
        intents = list(
            session.exec(
                select(Hit.id).where(
                    Hit.campaign_id == crowd.campaign_id, Hit.status == HitStatus.INTENT
                )
            )
        )
    report = PublishReport()
    _send_and_reread(
        crowd,
        intents,
        intents,
        renderer=renderer,
        current_labels=current_labels,
        item_view=item_view,
        report=report,
    )
    return report


def fail_hit(session: Session, hit: Hit, campaign: Campaign, error: str) -> None:
    """Mark an unsent HIT ``FAILED`` and give its reservation back (it will never be created)."""
    hit.status = HitStatus.FAILED
    hit.last_error = error[:1000]
    session.add(hit)
    release_outstanding(session, campaign, hit.id, f"release-failed:{hit.id}", note=error[:200])


# --------------------------------------------------------------------------- intents


def _hits_of(
    session: Session, campaign_id: uuid.UUID, item_ids: Sequence[uuid.UUID], attempt: int
) -> dict[uuid.UUID, Hit]:
    """The campaign's Hit rows for these items at this attempt, by item id."""
    return {
        h.item_id: h
        for h in session.exec(
            select(Hit).where(
                Hit.campaign_id == campaign_id,
                col(Hit.item_id).in_(item_ids),
                Hit.attempt == attempt,
            )
        )
    }


def _check_balance(platform: CrowdPlatform, needed: Decimal) -> None:
    balance = platform.get_account_balance()
    if balance.available_usd < needed:
        raise InsufficientBalanceError(
            f"account balance {balance.available_usd} USD < {needed} USD needed"
        )


@dataclass(frozen=True)
class _BatchSpec:
    """What every new HIT of one publish call shares: its round, attempt and price."""

    round_id: uuid.UUID
    attempt: int
    reward: Decimal  # USD per assignment, validated
    n_assign: int  # assignments per HIT, validated

    @property
    def per_hit_usd(self) -> Decimal:
        """What one HIT reserves: every assignment's reward plus MTurk's fee, USD."""
        return with_fee(self.reward * self.n_assign)


def _write_intents(
    crowd: CampaignCrowd,
    spec: _BatchSpec,
    new: list[tuple[uuid.UUID, bool]],
    existing: dict[uuid.UUID, Hit],
    report: PublishReport,
) -> None:
    """Write the intents and reservations of ``new`` (item id, is gold) into ``existing``.

    All under the campaign lock in one transaction, so two publishers can never both fit under
    the cap. When another process wrote some of the same intents first (the unique token
    collides), its rows are adopted and the rest written again.
    """
    per_hit = spec.per_hit_usd
    for attempt_no in range(2):
        try:
            with session_scope(crowd.engine) as session:
                campaign = lock_campaign(session, crowd.campaign_id)
                room = Decimal(campaign.budget_usd) - committed(session, crowd.campaign_id)
                for item_id, is_gold in new:
                    if per_hit > room:
                        report.skipped_over_budget.append(item_id)
                        continue
                    existing[item_id] = _write_intent(session, campaign, spec, item_id, is_gold)
                    room -= per_hit
                    report.reserved_usd += per_hit
            break
        except IntegrityError:
            if attempt_no:
                raise
            report.skipped_over_budget.clear()
            report.reserved_usd = Decimal("0")
            with session_scope(crowd.engine) as session:
                existing.update(
                    _hits_of(session, crowd.campaign_id, [i for i, _ in new], spec.attempt)
                )
            new = [(i, g) for i, g in new if i not in existing]
    if report.skipped_over_budget:
        log.warning(
            "campaign %s: %d items skipped, budget exhausted",
            crowd.campaign_id,
            len(report.skipped_over_budget),
        )


def _write_intent(
    session: Session, campaign: Campaign, spec: _BatchSpec, item_id: uuid.UUID, is_gold: bool
) -> Hit:
    """One Hit row in ``INTENT`` and its reservation (the caller holds the campaign lock)."""
    hit = Hit(
        campaign_id=campaign.id,
        round_id=spec.round_id,
        item_id=item_id,
        attempt=spec.attempt,
        max_assignments=spec.n_assign,
        reward_usd=spec.reward,
        is_gold_check=is_gold,
        unique_request_token=unique_request_token(campaign.id, item_id, spec.attempt),
    )
    session.add(hit)
    session.flush()
    book(
        session,
        campaign,
        LedgerKind.HIT_RESERVATION,
        spec.reward * spec.n_assign,
        f"reserve:{hit.id}",
        hit_pk=hit.id,
        note=f"{spec.n_assign} × {spec.reward} USD",
    )
    return hit


# --------------------------------------------------------------------------- platform calls


class _TokenListing:
    """Token → HIT id of our HITs on the account, listed once, on first need.

    Only intents older than :data:`TOKEN_TRUST_WINDOW` need it, and listing every HIT of the
    account is slow, so a batch of fresh intents never pays for it.
    """

    def __init__(self, platform: CrowdPlatform) -> None:
        self._platform = platform
        self._by_token: dict[str, str] | None = None

    def get(self, token: str) -> str | None:
        if self._by_token is None:
            self._by_token = {ann["t"]: hit.hit_id for hit, ann in our_hits(self._platform)}
        return self._by_token.get(token)


def _send_and_reread(
    crowd: CampaignCrowd,
    batch: Sequence[uuid.UUID],
    intents: Sequence[uuid.UUID],
    *,
    renderer: QuestionRenderer,
    current_labels: Mapping[uuid.UUID, str] | None,
    item_view: ItemViewBuilder | None,
    report: PublishReport,
) -> None:
    """Send the ``intents`` (Hit pks), then put every Hit row of ``batch`` into the report."""
    if intents:
        hit_type_id = crowd.platform.create_hit_type(
            _hit_type_spec(crowd, validate_usd(crowd.campaign.reward_usd, what="reward"))
        )
        listing = _TokenListing(crowd.platform)
        for pk in intents:
            _send_one(
                crowd,
                pk,
                hit_type_id,
                listing,
                renderer=renderer,
                current_labels=current_labels or {},
                item_view=item_view or default_item_view,
                report=report,
            )
    with session_scope(crowd.engine) as session:
        report.hits = [h for h in (session.get(Hit, pk) for pk in batch) if h is not None]


def _hit_type_spec(crowd: CampaignCrowd, reward: Decimal) -> HitTypeSpec:
    cfg = crowd.config
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
        qid = exclusion_qualification(crowd.platform, crowd.campaign_id)
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


def _question(
    crowd: CampaignCrowd,
    item: Item,
    renderer: QuestionRenderer,
    current_labels: Mapping[uuid.UUID, str],
    item_view: ItemViewBuilder,
) -> str:
    """The HTMLQuestion XML of one item (raises ``ValueError`` when it cannot be shown)."""
    current = current_labels.get(item.id, item.noisy_label)
    # the label under review must be one the worker can pick to confirm it
    options = list(crowd.options)
    opts = options if current in options else [*options, current]
    view = item_view(item, opts, current)
    if crowd.config.instructions and view.instructions is None:
        view = dataclasses.replace(view, instructions=crowd.config.instructions)
    return renderer.render_item(view)


def _send_one(
    crowd: CampaignCrowd,
    pk: uuid.UUID,
    hit_type_id: str,
    listing: _TokenListing,
    *,
    renderer: QuestionRenderer,
    current_labels: Mapping[uuid.UUID, str],
    item_view: ItemViewBuilder,
    report: PublishReport,
) -> None:
    """Create (or adopt) the HIT of one intent and record its id; skips rows no longer INTENT."""
    with session_scope(crowd.engine) as session:
        hit = session.get(Hit, pk)
        item = session.get(Item, hit.item_id) if hit else None
        if hit is None or item is None or hit.status != HitStatus.INTENT:
            return
        camp = session.get(Campaign, crowd.campaign_id)
        assert camp is not None
        try:
            question = _question(crowd, item, renderer, current_labels, item_view)
            annotation = requester_annotation(
                crowd.campaign_id, hit.unique_request_token, item_key(item)
            )
        except ValueError as exc:  # includes QuestionTooLarge / unsafe image / money
            fail_hit(session, hit, camp, f"render: {exc}")
            report.failed.append(hit.id)
            return
        hit_id: str | None = None
        if utcnow() - hit.created_at > TOKEN_TRUST_WINDOW:
            # MTurk may have forgotten the token: look before creating a duplicate
            hit_id = listing.get(hit.unique_request_token)
        recovered = hit_id is not None
        try:
            if hit_id is None:
                hit_id = crowd.platform.create_hit(
                    HitRequest(
                        hit_type_id=hit_type_id,
                        question_xml=question,
                        max_assignments=hit.max_assignments,
                        lifetime_s=crowd.config.lifetime_s,
                        unique_request_token=hit.unique_request_token,
                        requester_annotation=annotation,
                    )
                )
        except AlreadyDoneError as exc:
            hit_id = exc.hit_id or find_hit_by_token(crowd.platform, hit.unique_request_token)
            recovered = True
            if hit_id is None:
                hit.last_error = f"token known to the platform but HIT not found: {exc}"
                session.add(hit)
                report.pending.append(hit.id)
                return
        except (TransientPlatformError, NotReadyError) as exc:
            hit.last_error = f"{type(exc).__name__}: {exc}"[:1000]
            session.add(hit)
            report.pending.append(hit.id)
            return
        except InvalidRequestError as exc:
            fail_hit(session, hit, camp, f"platform: {exc}")
            report.failed.append(hit.id)
            return
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
