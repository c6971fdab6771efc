"""Publish one HIT per item (or per pair of items), exactly once, within the campaign's cap.

Each HIT's intent (a ``Hit`` row in ``INTENT`` and its spend reservation) is written in one
transaction *before* CreateHITWithHITType is called with a ``UniqueRequestToken`` derived from
(campaign, item, attempt) (a pair HIT's from both items), and the HIT id is written *after*.
A re-run sends the same token; MTurk answers "HIT already exists" and the existing HIT is
adopted (by the id in the message, or by listing HITs and matching the ``RequesterAnnotation``,
which carries the token). So a crash at any point can leave an unsent intent, never a second
HIT or a second reservation.

A pair HIT (CINCER's counter-example task, ``task_templates/label_verification_pair``) is one
``Hit`` row: its first item in ``item_id``, its second in ``pair_item_id``. It shows both items
with their delivered labels and one list of options, pays :func:`~orchestrator.crowd.money.
pair_reward` per assignment under a HIT type of its own (MTurk sets the reward per HIT type),
and reserves its whole cost before CreateHIT like any HIT.
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
from orchestrator.crowd.config import MAX_DESCRIPTION_CHARS, MAX_TITLE_CHARS
from orchestrator.crowd.gold import pick_gold
from orchestrator.crowd.identity import (
    exclusion_qualification,
    find_hit_by_token,
    item_key,
    our_hits,
    pair_request_token,
    requester_annotation,
    unique_request_token,
)
from orchestrator.crowd.ledger import book, committed, lock_campaign, release_outstanding
from orchestrator.crowd.money import (
    MoneyError,
    pair_reward,
    validate_assignments,
    validate_usd,
    with_fee,
)
from orchestrator.crowd.pair_task import PairView
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
#: Two item ids published as one pair HIT: (first, second).
ItemPair = tuple[uuid.UUID, uuid.UUID]


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
    item_ids: Sequence[uuid.UUID | ItemPair],
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
            assignments at ``Campaign.reward_usd`` USD each); a ``(first, second)`` pair is one
            pair HIT showing both (:func:`~orchestrator.crowd.money.pair_reward` per
            assignment). No item may appear twice.
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
        ValueError: an item appears twice (in two pairs, or in a pair and alone).
    """
    reward = validate_usd(crowd.campaign.reward_usd, what="reward")
    n_assign = validate_assignments(crowd.campaign.assignments_per_item)
    rate = crowd.config.gold_rate if gold_rate is None else gold_rate
    if not 0 <= rate < 1:
        raise MoneyError(f"gold_rate must be in [0, 1), got {rate}")
    wants = _wants(item_ids)
    with session_scope(crowd.engine) as session:
        flat = [i for w in wants for i in w.items]
        gold_ids = pick_gold(session, crowd.campaign, round_id, flat, rate)
        wanted = wants + [_Want(g, is_gold=True) for g in gold_ids]
        existing = _hits_of(session, crowd.campaign_id, [w.item_id for w in wanted], attempt)
    report = PublishReport(gold_item_ids=gold_ids)
    spec = _BatchSpec(round_id, attempt, reward, n_assign)
    new = [w for w in wanted if w.item_id not in existing]
    if check_balance and new:
        unsent = [h for h in existing.values() if h.status == HitStatus.INTENT]
        needed = sum((spec.cost_usd(w) for w in new), Decimal("0"))
        needed += sum((with_fee(h.reward_usd * h.max_assignments) for h in unsent), Decimal("0"))
        _check_balance(crowd.platform, needed)
    if new:
        _write_intents(crowd, spec, new, existing, report)
    batch = [existing[w.item_id] for w in wanted if w.item_id in existing]
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


@dataclass(frozen=True)
class _Want:
    """One HIT a publish call wants: an item, or a pair (``pair_item_id`` set), or a gold check."""

    item_id: uuid.UUID
    pair_item_id: uuid.UUID | None = None
    is_gold: bool = False

    @property
    def items(self) -> tuple[uuid.UUID, ...]:
        """The item ids the HIT shows."""
        return (self.item_id,) if self.pair_item_id is None else (self.item_id, self.pair_item_id)


def _wants(item_ids: Sequence[uuid.UUID | ItemPair]) -> list[_Want]:
    """The HITs of ``item_ids`` (an item repeated alone counts once; in two HITs, refused)."""
    out: list[_Want] = []
    seen: set[uuid.UUID] = set()
    for entry in dict.fromkeys(item_ids):
        want = _Want(entry) if isinstance(entry, uuid.UUID) else _Want(entry[0], entry[1])
        if seen & set(want.items) or len(set(want.items)) != len(want.items):
            raise ValueError(f"item in two HITs of one batch: {want.items}")
        seen.update(want.items)
        out.append(want)
    return out


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
    reward: Decimal  # USD per assignment of a single-item HIT, validated
    n_assign: int  # assignments per HIT, validated

    def reward_of(self, want: _Want) -> Decimal:
        """USD per assignment of the wanted HIT (a pair's: :func:`pair_reward`)."""
        return self.reward if want.pair_item_id is None else pair_reward(self.reward)

    def cost_usd(self, want: _Want) -> Decimal:
        """What the HIT reserves: every assignment's reward plus MTurk's fee, USD."""
        return with_fee(self.reward_of(want) * self.n_assign)


def _write_intents(
    crowd: CampaignCrowd,
    spec: _BatchSpec,
    new: list[_Want],
    existing: dict[uuid.UUID, Hit],
    report: PublishReport,
) -> None:
    """Write the intents and reservations of ``new`` into ``existing`` (by first item id).

    All under the campaign lock in one transaction, so two publishers can never both fit under
    the cap. When another process wrote some of the same intents first (the unique token
    collides), its rows are adopted and the rest written again. A pair that does not fit
    whole is skipped whole (both its items are reported).
    """
    for attempt_no in range(2):
        try:
            with session_scope(crowd.engine) as session:
                campaign = lock_campaign(session, crowd.campaign_id)
                room = Decimal(campaign.budget_usd) - committed(session, crowd.campaign_id)
                for want in new:
                    cost = spec.cost_usd(want)
                    if cost > room:
                        report.skipped_over_budget.extend(want.items)
                        continue
                    existing[want.item_id] = _write_intent(session, campaign, spec, want)
                    room -= cost
                    report.reserved_usd += cost
            break
        except IntegrityError:
            if attempt_no:
                raise
            report.skipped_over_budget.clear()
            report.reserved_usd = Decimal("0")
            with session_scope(crowd.engine) as session:
                existing.update(
                    _hits_of(session, crowd.campaign_id, [w.item_id for w in new], spec.attempt)
                )
            new = [w for w in new if w.item_id not in existing]
    if report.skipped_over_budget:
        log.warning(
            "campaign %s: %d items skipped, budget exhausted",
            crowd.campaign_id,
            len(report.skipped_over_budget),
        )


def _write_intent(session: Session, campaign: Campaign, spec: _BatchSpec, want: _Want) -> Hit:
    """One Hit row in ``INTENT`` and its reservation (the caller holds the campaign lock)."""
    if want.pair_item_id is None:
        token = unique_request_token(campaign.id, want.item_id, spec.attempt)
    else:
        token = pair_request_token(campaign.id, want.item_id, want.pair_item_id, spec.attempt)
    reward = spec.reward_of(want)
    hit = Hit(
        campaign_id=campaign.id,
        round_id=spec.round_id,
        item_id=want.item_id,
        pair_item_id=want.pair_item_id,
        attempt=spec.attempt,
        max_assignments=spec.n_assign,
        reward_usd=reward,
        is_gold_check=want.is_gold,
        unique_request_token=token,
    )
    session.add(hit)
    session.flush()
    book(
        session,
        campaign,
        LedgerKind.HIT_RESERVATION,
        reward * spec.n_assign,
        f"reserve:{hit.id}",
        hit_pk=hit.id,
        note=f"{spec.n_assign} × {reward} USD" + (" (pair)" if want.pair_item_id else ""),
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
        hit_types = _HitTypes(crowd)
        listing = _TokenListing(crowd.platform)
        for pk in intents:
            _send_one(
                crowd,
                pk,
                hit_types,
                listing,
                renderer=renderer,
                current_labels=current_labels or {},
                item_view=item_view or default_item_view,
                report=report,
            )
    with session_scope(crowd.engine) as session:
        report.hits = [h for h in (session.get(Hit, pk) for pk in batch) if h is not None]


class _HitTypes:
    """The campaign's HIT type ids, created on first need: one for single-item HITs, one for
    pair HITs (MTurk sets the reward per HIT type, and a pair's is twice an item's)."""

    def __init__(self, crowd: CampaignCrowd) -> None:
        self._crowd = crowd
        self._ids: dict[bool, str] = {}

    def get(self, pair: bool) -> str:
        if pair not in self._ids:
            reward = validate_usd(self._crowd.campaign.reward_usd, what="reward")
            spec = _hit_type_spec(self._crowd, pair_reward(reward) if pair else reward)
            if pair:
                spec = dataclasses.replace(
                    spec,
                    title=f"{spec.title} (two items)"[:MAX_TITLE_CHARS],
                    description=f"{spec.description} Two items side by side: say which label "
                    "is wrong, if any."[:MAX_DESCRIPTION_CHARS],
                )
            self._ids[pair] = self._crowd.platform.create_hit_type(spec)
        return self._ids[pair]


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


def _pair_question(
    crowd: CampaignCrowd,
    items: tuple[Item, Item],
    renderer: QuestionRenderer,
    current_labels: Mapping[uuid.UUID, str],
    item_view: ItemViewBuilder,
) -> str:
    """The HTMLQuestion XML of a pair HIT: both items, their labels under review, one list of
    options holding both labels (raises ``ValueError`` when it cannot be shown)."""
    labels = [current_labels.get(item.id, item.noisy_label) for item in items]
    options = list(crowd.options)
    options += [label for label in dict.fromkeys(labels) if label not in options]
    first, second = (item_view(i, options, lab) for i, lab in zip(items, labels, strict=True))
    pair = PairView(first, second, instructions=crowd.config.instructions or None)
    return renderer.render_pair(pair)


def _question_of(
    crowd: CampaignCrowd,
    session: Session,
    hit: Hit,
    renderer: QuestionRenderer,
    current_labels: Mapping[uuid.UUID, str],
    item_view: ItemViewBuilder,
) -> tuple[str, str] | None:
    """(question XML, requester annotation) of a HIT, None when an item row is gone."""
    item = session.get(Item, hit.item_id)
    second = session.get(Item, hit.pair_item_id) if hit.pair_item_id else None
    if item is None or (hit.pair_item_id is not None and second is None):
        return None
    if second is None:
        question = _question(crowd, item, renderer, current_labels, item_view)
    else:
        question = _pair_question(crowd, (item, second), renderer, current_labels, item_view)
    # a pair carries its first item's key: the form names both, the token the pair
    annotation = requester_annotation(crowd.campaign_id, hit.unique_request_token, item_key(item))
    return question, annotation


def _send_one(
    crowd: CampaignCrowd,
    pk: uuid.UUID,
    hit_types: _HitTypes,
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
        if hit is None or hit.status != HitStatus.INTENT:
            return
        camp = session.get(Campaign, crowd.campaign_id)
        assert camp is not None
        try:
            rendered = _question_of(crowd, session, hit, renderer, current_labels, item_view)
            hit_type_id = hit_types.get(hit.pair_item_id is not None)
        except ValueError as exc:  # includes QuestionTooLarge / unsafe image / money
            fail_hit(session, hit, camp, f"render: {exc}")
            report.failed.append(hit.id)
            return
        if rendered is None:
            return
        question, annotation = rendered
        # MTurk may have forgotten an old intent's token: look before creating a duplicate
        old = utcnow() - hit.created_at > TOKEN_TRUST_WINDOW
        hit_id = listing.get(hit.unique_request_token) if old else None
        recovered = hit_id is not None
        request = HitRequest(
            hit_type_id=hit_type_id,
            question_xml=question,
            max_assignments=hit.max_assignments,
            lifetime_s=crowd.config.lifetime_s,
            unique_request_token=hit.unique_request_token,
            requester_annotation=annotation,
        )
        try:
            hit_id = hit_id or crowd.platform.create_hit(request)
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
        _mark_published(session, hit, hit_id, hit_type_id)
        if recovered:
            report.recovered += 1
        else:
            report.created += 1


def _mark_published(session: Session, hit: Hit, hit_id: str, hit_type_id: str) -> None:
    """Record the platform's ids on the intent: it is a published HIT now."""
    hit.hit_id = hit_id
    hit.hit_type_id = hit_type_id
    hit.status = HitStatus.PUBLISHED
    hit.published_at = utcnow()
    hit.last_error = None
    session.add(hit)
