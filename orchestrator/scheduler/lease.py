"""Campaign leases: at most one scheduler process advances a campaign at a time.

A lease is two columns on the campaign row, ``lease_owner`` and ``lease_expires_at``. It is
claimed with one conditional ``UPDATE … WHERE`` the lease is free, already ours, or expired, so
the database decides the race: on PostgreSQL a second concurrent UPDATE of the row waits for the
first to commit and then re-checks the condition against the new row version; SQLite serialises
writers. The holder renews the lease while it works (:class:`LeaseKeeper`); a process killed
with SIGKILL simply stops renewing and its lease lapses after ``ttl_s`` seconds, when another
process (or the restarted one) may claim it.

Times are the scheduler hosts' UTC clocks, so their skew must stay well below ``ttl_s``.

The lease is an efficiency and ordering guard, not the last line of defence for money: a
process that stalls past its lease (a long GC pause, a suspended VM) may finish the step it is
in while another process has taken over. Publishing stays exactly-once even then, because each
HIT's intent row is unique per (campaign, item, attempt) and carries a deterministic MTurk
``UniqueRequestToken`` (see :mod:`orchestrator.crowd.identity`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType

from sqlalchemy import ColumnElement, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import col

from orchestrator.db.models import Campaign
from orchestrator.db.types import utcnow

log = logging.getLogger(__name__)


def new_owner_id() -> str:
    """A lease owner id unique to this process: ``host:pid:random`` (≤ 200 chars)."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Lease:
    """One owner's lease on one campaign, ``ttl_s`` seconds long; ``owner`` as from
    :func:`new_owner_id`. The methods are one conditional UPDATE each, in their own transaction.
    """

    engine: Engine
    campaign_id: uuid.UUID
    owner: str
    ttl_s: float

    def __post_init__(self) -> None:
        if self.ttl_s <= 0:
            raise ValueError(f"ttl_s must be > 0, got {self.ttl_s}")

    def claim(self, *, now: datetime | None = None) -> bool:
        """Take (or extend) the lease for ``ttl_s`` seconds; True when we hold it.

        Succeeds when the lease is free, expired at ``now`` (default: the current UTC time), or
        already held by ``owner``. Fails when another owner holds a live lease or the campaign
        does not exist.
        """
        now = now or utcnow()
        claimable = or_(
            col(Campaign.lease_owner).is_(None),
            col(Campaign.lease_owner) == self.owner,
            col(Campaign.lease_expires_at).is_(None),
            col(Campaign.lease_expires_at) < now,
        )
        return self._update(
            claimable, lease_owner=self.owner, lease_expires_at=now + timedelta(seconds=self.ttl_s)
        )

    def renew(self, *, now: datetime | None = None) -> bool:
        """Push our lease's expiry to ``now + ttl_s``; False when we no longer hold it.

        Unlike :meth:`claim` this never takes a lease that is free or someone else's: a holder
        that lost its lease must notice, not silently re-acquire it mid-step.
        """
        now = now or utcnow()
        return self._update(self._ours(), lease_expires_at=now + timedelta(seconds=self.ttl_s))

    def release(self) -> bool:
        """Give our lease back so another process can continue at once; False if not ours."""
        return self._update(self._ours(), lease_owner=None, lease_expires_at=None)

    def _ours(self) -> ColumnElement[bool]:
        return col(Campaign.lease_owner) == self.owner

    def _update(self, condition: ColumnElement[bool], **lease: str | datetime | None) -> bool:
        return _update_lease(self.engine, self.campaign_id, condition, **lease)


def _update_lease(
    engine: Engine,
    campaign_id: uuid.UUID,
    condition: ColumnElement[bool],
    **lease: str | datetime | None,
) -> bool:
    """Set the campaign row's ``lease`` columns in one conditional UPDATE, in its own
    transaction; True when the row exists and met ``condition`` (the database decides races)."""
    stmt = update(Campaign).where(col(Campaign.id) == campaign_id, condition).values(**lease)
    with engine.begin() as conn:
        return conn.execute(stmt).rowcount == 1


class LeaseKeeper:
    """Renews a held lease from a daemon thread every ``ttl_s / 3`` seconds until closed.

    ``lost`` is set when a renewal finds the lease gone (someone took over after we stalled);
    the holder checks it between steps and stops. Use as a context manager around the work;
    leaving it stops the thread and, with ``release=True``, releases the lease.
    """

    def __init__(self, lease: Lease, *, release: bool = True) -> None:
        self.lease = lease
        self.release = release
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"lease-{lease.campaign_id.hex[:8]}", daemon=True
        )

    def _run(self) -> None:
        period = self.lease.ttl_s / 3
        campaign_id = self.lease.campaign_id
        while not self._stop.wait(period):
            try:
                ok = self.lease.renew()
            except Exception:  # a DB hiccup: try again next period, the lease has slack
                log.warning("could not renew lease on campaign %s", campaign_id, exc_info=True)
                continue
            if not ok:
                log.error("lost the lease on campaign %s", campaign_id)
                self.lost.set()
                return

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self.release and not self.lost.is_set():
            try:
                self.lease.release()
            except Exception:  # it lapses by itself after ttl_s
                log.warning("could not release lease on %s", self.lease.campaign_id, exc_info=True)
