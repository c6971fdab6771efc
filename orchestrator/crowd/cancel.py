"""Stop a campaign's crowd work, reconcile the platform with the database, notify workers.

Cancelling expires every live HIT, collects and (by default) pays the work already submitted,
deletes the HITs and releases what they still reserved. Reconciling compares the account's
HITs (ListHITs) with the ``Hit`` rows: it adopts HITs created by an intent whose id was never
written (a crash between CreateHIT and the commit) and reports the rest.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from orchestrator.crowd.campaign_crowd import LIVE_HIT_STATUSES, CampaignCrowd
from orchestrator.crowd.collect import collect_answers
from orchestrator.crowd.identity import our_hits
from orchestrator.crowd.ledger import book, lock_campaign
from orchestrator.crowd.platform import CrowdPlatform, NotReadyError, PlatformError
from orchestrator.crowd.publish import fail_hit
from orchestrator.crowd.settle import default_decisions, release_unused, settle_assignments
from orchestrator.db.engine import session_scope
from orchestrator.db.models import Answer, Hit, HitStatus, LedgerKind, Worker
from orchestrator.db.types import utcnow


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


def _is_gone(exc: PlatformError) -> bool:
    """Whether the refusal means the HIT no longer exists (nothing left to expire or delete)."""
    return isinstance(exc, NotReadyError) or "does not exist" in str(exc).lower()


def _a_minute_ago() -> datetime:
    # an expiration in the past is how MTurk is told to stop offering a HIT now
    return datetime.now(UTC) - timedelta(minutes=1)


def cancel_campaign(crowd: CampaignCrowd, *, approve_submitted: bool = True) -> CancelReport:
    """Stop a campaign's crowd work: expire every live HIT, settle, dispose, release money.

    Unsent intents are looked up on the platform (adopted if found, else abandoned). Work
    already submitted is collected and, with ``approve_submitted`` (default: workers did the
    work), approved before the HITs are deleted. HITs that cannot be deleted yet (pending
    approvals, workers still on an assignment) stay ``EXPIRED`` and are listed in
    ``still_open``; run cancel again later. Does not change ``Campaign.status``.
    """
    report = CancelReport()
    # adopt the HITs of unsent intents first, so they are expired below instead of abandoned
    reconcile_campaign(crowd.engine, crowd.platform, crowd.campaign_id)
    _abandon_intents(crowd, report)
    _expire_live(crowd, report)
    collect_answers(crowd)
    if approve_submitted:
        decisions = default_decisions(crowd, reject_failed_gold=False)
        report.approved = settle_assignments(crowd, decisions).approved
    _dispose_expired(crowd, report)
    report.released_usd = release_unused(crowd)
    return report


def _abandon_intents(crowd: CampaignCrowd, report: CancelReport) -> None:
    """Fail every intent still unsent (its reservation is released)."""
    with session_scope(crowd.engine) as session:
        intents = list(
            session.exec(
                select(Hit).where(
                    Hit.campaign_id == crowd.campaign_id, Hit.status == HitStatus.INTENT
                )
            )
        )
        campaign = lock_campaign(session, crowd.campaign_id)
        for hit in intents:
            fail_hit(session, hit, campaign, "campaign cancelled before publication")
            report.abandoned_intents += 1


def _expire_live(crowd: CampaignCrowd, report: CancelReport) -> None:
    """Expire every published HIT, so no worker can take a new assignment."""
    past = _a_minute_ago()
    report.expired += _on_live_hits(
        crowd,
        report,
        "expire",
        lambda hit_id: crowd.platform.update_expiration(hit_id, past),
        HitStatus.EXPIRED,
        skip=HitStatus.EXPIRED,
    )


def _dispose_expired(crowd: CampaignCrowd, report: CancelReport) -> None:
    """Delete every HIT still live or expired (MTurk refuses while work awaits a decision)."""
    report.disposed += _on_live_hits(
        crowd, report, "delete", crowd.platform.delete_hit, HitStatus.DISPOSED
    )


def _on_live_hits(
    crowd: CampaignCrowd,
    report: CancelReport,
    verb: str,
    call: Callable[[str], None],
    then: HitStatus,
    *,
    skip: HitStatus | None = None,
) -> int:
    """``call`` each live HIT's id and set its row to ``then``; returns how many went through.

    A HIT the platform says is gone counts as done; any other refusal leaves the row as it
    is and lists the HIT in ``still_open``, for the next cancel to try again.
    """
    with session_scope(crowd.engine) as session:
        live = list(
            session.exec(
                select(Hit).where(
                    Hit.campaign_id == crowd.campaign_id,
                    col(Hit.status).in_(LIVE_HIT_STATUSES),
                    col(Hit.hit_id).is_not(None),
                )
            )
        )
    done = 0
    for hit in live:
        assert hit.hit_id is not None
        if hit.status == skip:
            continue
        try:
            call(hit.hit_id)
        except PlatformError as exc:
            if not _is_gone(exc):
                report.still_open[hit.hit_id] = f"{verb}: {exc}"
                continue
        with session_scope(crowd.engine) as session:
            row = session.get(Hit, hit.id)
            assert row is not None
            row.status = then
            session.add(row)
        done += 1
    return done


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

    ``campaign_id=None`` considers every crowdclean HIT of the account, which is why this
    takes the engine and platform rather than one campaign's :class:`CampaignCrowd`.
    """
    report = ReconcileReport()
    ours: dict[str, dict[str, str]] = {}  # hit id → annotation fields
    try:
        for ph, ann in our_hits(platform):
            if campaign_id is None or ann["c"] == campaign_id.hex:
                ours[ph.hit_id] = ann
    except PlatformError as exc:
        report.errors.append(f"ListHITs: {exc}")
        return report
    with session_scope(engine) as session:
        q = select(Hit)
        if campaign_id is not None:
            q = q.where(Hit.campaign_id == campaign_id)
        rows = list(session.exec(q))
        _adopt_or_report(session, rows, ours, report)
    if dispose_orphans:
        past = _a_minute_ago()
        for hit_id in report.orphans:
            try:
                platform.update_expiration(hit_id, past)
                platform.delete_hit(hit_id)
                report.disposed.append(hit_id)
            except PlatformError as exc:
                report.errors.append(f"{hit_id}: {exc}")
    return report


def _adopt_or_report(
    session: Session, rows: list[Hit], ours: dict[str, dict[str, str]], report: ReconcileReport
) -> None:
    """Adopt the platform HITs that match an unsent or failed row; list orphans and missing."""
    by_hit_id = {h.hit_id: h for h in rows if h.hit_id}
    by_token = {h.unique_request_token: h for h in rows}
    for hit_id, ann in ours.items():
        if hit_id in by_hit_id:
            continue
        row = by_token.get(ann["t"])
        if row is None or row.status not in (HitStatus.INTENT, HitStatus.FAILED):
            report.orphans.append(hit_id)
            continue
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
    for h in rows:
        if (
            h.hit_id
            and h.status in (HitStatus.PUBLISHED, HitStatus.COMPLETED)
            and h.hit_id not in ours
        ):
            report.missing.append(h.hit_id)


def notify_campaign_workers(crowd: CampaignCrowd, subject: str, message: str) -> dict[str, str]:
    """E-mail every worker who answered in the campaign (NotifyWorkers); returns failures."""
    with session_scope(crowd.engine) as session:
        ids = sorted(
            set(
                session.exec(
                    select(Worker.platform_worker_id)
                    .join(Answer, col(Answer.worker_pk) == col(Worker.id))
                    .where(Answer.campaign_id == crowd.campaign_id)
                )
            )
        )
    if not ids:
        return {}
    return dict(crowd.platform.notify_workers(ids, subject, message).failures)
