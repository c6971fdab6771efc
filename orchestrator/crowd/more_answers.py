"""More answers on a published HIT (CreateAdditionalAssignmentsForHIT), within every limit.

Used where an item's answers disagree: buying two more on the same HIT is cheaper than a new
HIT, and keeps all of the item's answers on one HIT. The extra reward is reserved before the
call, so the cap holds even if the process dies right after MTurk accepted it.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from orchestrator.crowd.campaign_crowd import CampaignCrowd
from orchestrator.crowd.ledger import book, lock_campaign
from orchestrator.crowd.money import validate_assignments
from orchestrator.crowd.platform import AlreadyDoneError, InvalidRequestError, PlatformError
from orchestrator.db.engine import session_scope
from orchestrator.db.models import Hit, HitStatus, LedgerKind

log = logging.getLogger(__name__)

#: A HIT given more answers is kept open at least this long, so workers can still take them.
MIN_REMAINING_LIFETIME = timedelta(hours=1)


def request_more_answers(crowd: CampaignCrowd, hit_pk: uuid.UUID, n_extra: int) -> Hit:
    """Ask for ``n_extra`` more assignments on one of the campaign's HITs.

    Refuses (``MoneyError``) to go past 9 assignments per HIT and (``BudgetExceededError``) past
    the campaign cap; the extra reward plus MTurk's fee is reserved before the call.
    Idempotent: the request token and the ledger key are derived from (HIT, assignments before
    → after), so a re-run after a crash neither asks twice nor reserves twice. Extends the
    HIT's expiration by the campaign's lifetime when it would expire sooner.

    Raises:
        LookupError: the HIT does not exist or is not the campaign's.
        ValueError: ``n_extra`` < 1, or the HIT is not live.
    """
    if n_extra < 1:
        raise ValueError("n_extra must be >= 1")
    with session_scope(crowd.engine) as session:
        hit = session.get(Hit, hit_pk)
        if hit is None or hit.campaign_id != crowd.campaign_id:
            raise LookupError(f"HIT {hit_pk} does not exist in campaign {crowd.campaign_id}")
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
    try:
        crowd.platform.create_additional_assignments(hit_id, n_extra, token)
    except AlreadyDoneError:
        pass
    except InvalidRequestError as exc:
        with session_scope(crowd.engine) as session:
            campaign = lock_campaign(session, crowd.campaign_id)
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
    with session_scope(crowd.engine) as session:
        row = session.get(Hit, hit_pk)
        assert row is not None
        if row.max_assignments == old:
            row.max_assignments = new
        row.status = HitStatus.PUBLISHED
        session.add(row)
    _keep_open(crowd, hit_id)
    with session_scope(crowd.engine) as session:
        out = session.get(Hit, hit_pk)
        assert out is not None
        return out


def _keep_open(crowd: CampaignCrowd, hit_id: str) -> None:
    """Push the HIT's expiration out by the campaign's lifetime if it ends within the hour.

    Best effort: the extra assignments are bought either way; if the HIT expires before they
    are taken, their reservation is released with the HIT's other unused slots.
    """
    try:
        ph = crowd.platform.get_hit(hit_id)
        horizon = datetime.now(UTC) + timedelta(seconds=crowd.config.lifetime_s)
        if ph.expiration is None or ph.expiration < datetime.now(UTC) + MIN_REMAINING_LIFETIME:
            crowd.platform.update_expiration(hit_id, horizon)
    except PlatformError as exc:
        log.warning("could not extend HIT %s: %s", hit_id, exc)
