"""The campaign service: APScheduler jobs that advance running campaigns, crash-safely.

One periodic job, the *tick*, runs every ``Settings.scheduler.interval_s`` seconds. It lists
the running campaigns and, for each one whose lease it can claim
(:mod:`orchestrator.scheduler.lease`), calls :meth:`RoundRunner.step` until the step reports
nothing to do now, the campaign leaves ``running`` (an operator paused or cancelled it, the
budget is spent, the quality target is met) or ``slice_s`` seconds have passed; then it
releases the lease and moves to the next campaign. A campaign whose slice ran out is skipped
for one tick, so another scheduler process gets a turn. The campaign status is re-read between
steps, so a pause or cancel takes effect after the step in flight. Cancelled campaigns whose
HITs are still live are disposed of here too, under the same lease, so that disposing never
races a publish in flight.

Everything a tick does is keyed by campaign id and stored in the database after every step, so
a process killed at any point (SIGKILL included) loses nothing: its leases lapse after
``lease_ttl_s`` and another process, or the restarted one, continues the round where the
database says it stopped. Several scheduler processes may share one PostgreSQL database; the
leases spread the campaigns over them.

A step that raises is retried on later ticks with exponential back-off (``interval_s · 2^k``,
at most 10 minutes); after ``max_failures`` consecutive failures the campaign is marked
``failed`` with the error (an operator can resume it). ``Campaign.error`` shows the last error
meanwhile.

This module imports neither FastAPI nor anything that opens a resource at import time.
``crowdclean scheduler`` uses :func:`build_scheduler` with ``background=False``;
``crowdclean serve`` embeds it with ``background=True``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from orchestrator.db.models import Campaign, CampaignStatus, Hit, HitStatus
from orchestrator.scheduler.lease import Lease, LeaseKeeper, new_owner_id

if TYPE_CHECKING:
    from orchestrator.crowd.platform import CrowdPlatform
    from orchestrator.scheduler.crowd_stage import CrowdStage
    from orchestrator.scheduler.runner import RoundRunner
    from orchestrator.settings import SchedulerSettings, Settings

log = logging.getLogger(__name__)

TICK_JOB_ID = "crowdclean-tick"
MAX_BACKOFF_S = 600.0
CANCEL_SWEEP_EVERY_S = 60.0
_RUNNER_CACHE = 8  # runners keep their campaign's dataset in memory
_OPEN_HIT_STATES = (HitStatus.INTENT, HitStatus.PUBLISHED, HitStatus.EXPIRED)


@dataclass
class AdvanceResult:
    """What one :meth:`CampaignService.advance` call did to one campaign.

    ``claimed``: whether this process got the lease (False: another process holds it, or the
    campaign is backing off after errors); ``steps``: transitions made; ``status``: the
    campaign's status afterwards; ``error``: the exception text when a step failed.
    """

    campaign_id: uuid.UUID
    claimed: bool
    steps: int = 0
    status: CampaignStatus | None = None
    error: str | None = None


@dataclass
class TickReport:
    """Outcome of one tick: per-campaign results and the cancelled campaigns swept."""

    advanced: list[AdvanceResult] = field(default_factory=list)
    cancelled_swept: list[uuid.UUID] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def steps(self) -> int:
        """Transitions made in this tick over all campaigns."""
        return sum(a.steps for a in self.advanced)


@dataclass
class _Failures:
    count: int = 0
    retry_at: float = 0.0  # time.monotonic() before which the campaign is skipped


class CampaignService:
    """Advances running campaigns under leases. One per process; ticks never overlap.

    Args:
        settings: the service settings (``database_url``, ``mturk``, ``scheduler``).
        engine: the database (default: a new engine on ``settings.database_url``).
        platform: the crowd platform (default: MTurk via boto3 from ``settings.mturk``,
            created on first use).
        stage_factory: builds the runner's crowd stage per campaign (default:
            :class:`~orchestrator.scheduler.platform_stage.PlatformStage` on ``platform``).
        owner: lease owner id (default: ``host:pid:random``, unique per process).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine | None = None,
        platform: CrowdPlatform | None = None,
        stage_factory: Any = None,
        owner: str | None = None,
    ) -> None:
        from orchestrator.db.engine import make_engine

        self.settings = settings
        self.options: SchedulerSettings = settings.scheduler
        self.engine = engine if engine is not None else make_engine(settings.database_url)
        self.owner = owner or new_owner_id()
        self._platform = platform
        self._stage_factory = stage_factory
        self._stop = threading.Event()
        self._busy = threading.Lock()  # held for the whole of a tick
        self._runners: OrderedDict[uuid.UUID, RoundRunner] = OrderedDict()
        self._failures: dict[uuid.UUID, _Failures] = {}
        self._last_sweep: dict[uuid.UUID, float] = {}
        self._yielded: set[uuid.UUID] = set()
        self._rotation = 0

    # ------------------------------------------------------------------ plumbing

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called (ticks end after their current step)."""
        return self._stop.is_set()

    def stop(self) -> None:
        """Ask a running tick to return after its current step; later ticks do nothing."""
        self._stop.set()

    def wait_idle(self, timeout_s: float | None = None) -> bool:
        """Wait until no tick runs; True if idle within ``timeout_s`` seconds."""
        acquired = self._busy.acquire(timeout=-1 if timeout_s is None else timeout_s)
        if acquired:
            self._busy.release()
        return acquired

    def close(self) -> None:
        """Release every lease this process still holds (when idle); safe to call twice."""
        if not self.wait_idle(timeout_s=0):
            return  # a step is still running: its lease must lapse by itself
        with self.engine.begin() as conn:
            conn.execute(
                update(Campaign)
                .where(col(Campaign.lease_owner) == self.owner)
                .values(lease_owner=None, lease_expires_at=None)
            )

    def beat(self) -> None:
        """Rewrite the heartbeat file (``Settings.scheduler.heartbeat_path``), if configured."""
        path = self.options.heartbeat_path
        if path is None:
            return
        try:
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(datetime.now(UTC).isoformat() + "\n", encoding="utf-8")
            os.replace(tmp, path)
        except OSError:  # a health signal must never stop the work
            log.warning("could not write heartbeat %s", path, exc_info=True)

    def platform(self) -> CrowdPlatform:
        """The crowd platform, connected on first use."""
        if self._platform is None:
            from orchestrator.crowd.mturk import MTurkPlatform

            self._platform = MTurkPlatform.from_settings(self.settings.mturk)
        return self._platform

    def _stage(self) -> CrowdStage:
        if self._stage_factory is not None:
            stage: CrowdStage = self._stage_factory(self.engine)
            return stage
        from orchestrator.scheduler.platform_stage import PlatformStage

        return PlatformStage(self.engine, self.platform())

    def runner(self, campaign_id: uuid.UUID) -> RoundRunner:
        """The campaign's round runner (a small LRU: runners hold their dataset in memory)."""
        from orchestrator.scheduler.runner import RoundRunner

        runner = self._runners.pop(campaign_id, None)
        if runner is None:

            def progress(event: str, info: dict[str, Any]) -> None:
                log.info("campaign %s: %s %s", campaign_id, event, info)

            runner = RoundRunner(self.engine, self._stage(), progress=progress)
        self._runners[campaign_id] = runner
        while len(self._runners) > _RUNNER_CACHE:
            self._runners.popitem(last=False)
        return runner

    def _status(self, campaign_id: uuid.UUID) -> CampaignStatus | None:
        with Session(self.engine) as s:
            status = s.exec(select(Campaign.status).where(Campaign.id == campaign_id)).first()
        return CampaignStatus(status) if status is not None else None

    # ------------------------------------------------------------------ queries

    def running_campaigns(self) -> list[uuid.UUID]:
        """Ids of campaigns in ``running``, oldest first."""
        with Session(self.engine) as s:
            return list(
                s.exec(
                    select(Campaign.id)
                    .where(Campaign.status == CampaignStatus.RUNNING)
                    .order_by(col(Campaign.created_at), col(Campaign.id))
                ).all()
            )

    def cancelled_with_open_hits(self) -> list[uuid.UUID]:
        """Cancelled campaigns that still have HITs not yet disposed of."""
        with Session(self.engine) as s:
            return list(
                s.exec(
                    select(Hit.campaign_id)
                    .join(Campaign, col(Campaign.id) == col(Hit.campaign_id))
                    .where(
                        Campaign.status == CampaignStatus.CANCELLED,
                        col(Hit.status).in_(_OPEN_HIT_STATES),
                    )
                    .distinct()
                ).all()
            )

    # ------------------------------------------------------------------ jobs

    def tick(self) -> TickReport:
        """The periodic job: advance every running campaign we can lease, sweep cancelled ones.

        Never raises for a campaign's error (it is recorded and backed off); overlapping
        calls wait for each other.
        """
        started = time.monotonic()
        report = TickReport()
        with self._busy:
            if self.stopping:
                return report
            self.beat()
            ids = self.running_campaigns()
            if ids:  # rotate the start so a slow campaign cannot starve the ones after it
                k = self._rotation % len(ids)
                ids = ids[k:] + ids[:k]
                self._rotation += 1
            for campaign_id in ids:
                if self.stopping:
                    break
                if campaign_id in self._yielded:
                    # its slice ran out last tick: let another process take a turn first
                    self._yielded.discard(campaign_id)
                    continue
                report.advanced.append(self.advance(campaign_id))
            now = time.monotonic()
            for campaign_id in self.cancelled_with_open_hits():
                if self.stopping:
                    break
                if now - self._last_sweep.get(campaign_id, -1e18) < CANCEL_SWEEP_EVERY_S:
                    continue
                self._last_sweep[campaign_id] = now
                if self.dispose_cancelled(campaign_id):
                    report.cancelled_swept.append(campaign_id)
            self.beat()
        report.seconds = time.monotonic() - started
        return report

    def advance(self, campaign_id: uuid.UUID, *, slice_s: float | None = None) -> AdvanceResult:
        """Step one campaign for up to ``slice_s`` seconds (default ``Settings.scheduler``).

        Returns without doing anything when another process holds the campaign's lease.
        """
        result = AdvanceResult(campaign_id, claimed=False)
        failures = self._failures.get(campaign_id)
        if failures is not None and time.monotonic() < failures.retry_at:
            return result
        lease = Lease(self.engine, campaign_id, self.owner, self.options.lease_ttl_s)
        if not lease.claim():
            return result
        result.claimed = True
        deadline = time.monotonic() + (self.options.slice_s if slice_s is None else slice_s)
        with LeaseKeeper(lease) as keeper:
            while not self.stopping and not keeper.lost.is_set():
                status = self._status(campaign_id)
                result.status = status
                if status != CampaignStatus.RUNNING:
                    break
                try:
                    progressed = self.runner(campaign_id).step(campaign_id)
                except Exception as exc:
                    result.error = f"{type(exc).__name__}: {exc}"
                    self._record_failure(campaign_id, result.error)
                    break
                self._clear_failures(campaign_id)
                self.beat()
                if progressed:
                    result.steps += 1
                if not progressed:
                    break
                if time.monotonic() >= deadline:
                    self._yielded.add(campaign_id)
                    break
            result.status = self._status(campaign_id)
            if result.status == CampaignStatus.CANCELLED and not keeper.lost.is_set():
                # cancelled while we were publishing: dispose of what we just created
                self._dispose(campaign_id)
        return result

    def dispose_cancelled(self, campaign_id: uuid.UUID) -> bool:
        """Expire and dispose a cancelled campaign's open HITs under its lease; True if done."""
        lease = Lease(self.engine, campaign_id, self.owner, self.options.lease_ttl_s)
        if not lease.claim():
            return False
        with LeaseKeeper(lease):
            if self._status(campaign_id) != CampaignStatus.CANCELLED:
                return False
            return self._dispose(campaign_id)

    def _dispose(self, campaign_id: uuid.UUID) -> bool:
        try:
            self.runner(campaign_id).crowd.cancel(campaign_id)
        except Exception:
            log.exception("campaign %s: disposing HITs after cancel failed", campaign_id)
            return False
        return True

    # ------------------------------------------------------------------ failures

    def _record_failure(self, campaign_id: uuid.UUID, error: str) -> None:
        from orchestrator.db.types import utcnow

        log.exception("campaign %s: step failed", campaign_id)
        f = self._failures.setdefault(campaign_id, _Failures())
        f.count += 1
        delay = min(MAX_BACKOFF_S, self.options.interval_s * 2 ** (f.count - 1))
        f.retry_at = time.monotonic() + delay
        give_up = f.count >= self.options.max_failures
        with Session(self.engine) as s:
            campaign = s.get(Campaign, campaign_id, with_for_update=True)
            if campaign is None:
                return
            campaign.error = (
                f"{error} (failure {f.count} of {self.options.max_failures}"
                + (", campaign failed)" if give_up else f", retry in {delay:.0f} s)")
            )[:2000]
            if give_up and campaign.status == CampaignStatus.RUNNING:
                campaign.status = CampaignStatus.FAILED
            campaign.updated_at = utcnow()
            s.add(campaign)
            s.commit()
        if give_up:
            log.error("campaign %s failed after %d errors: %s", campaign_id, f.count, error)
            self._failures.pop(campaign_id, None)

    def _clear_failures(self, campaign_id: uuid.UUID) -> None:
        if self._failures.pop(campaign_id, None) is None:
            return
        with Session(self.engine) as s:
            campaign = s.get(Campaign, campaign_id)
            if campaign is not None and campaign.error is not None:
                campaign.error = None
                s.add(campaign)
                s.commit()


# ---------------------------------------------------------------------- APScheduler


_SERVICES: weakref.WeakKeyDictionary[BaseScheduler, CampaignService] = weakref.WeakKeyDictionary()


class _ServiceMixin:
    """Stops the service's tick before the scheduler waits for it, and releases leases."""

    def shutdown(self, wait: bool = True) -> None:
        service = _SERVICES.get(self)
        if service is not None:
            service.stop()
        super().shutdown(wait)  # type: ignore[misc]
        if service is not None and wait:
            service.close()


class _BlockingCampaignScheduler(_ServiceMixin, BlockingScheduler):
    pass


class _BackgroundCampaignScheduler(_ServiceMixin, BackgroundScheduler):
    pass


def build_scheduler(
    settings: Settings,
    *,
    engine: Engine | None = None,
    background: bool,
    service: CampaignService | None = None,
) -> BaseScheduler:
    """An APScheduler 3 scheduler (not started) running the campaign tick.

    ``background=False`` gives a ``BlockingScheduler`` for ``crowdclean scheduler`` (``start()``
    blocks); ``True`` a ``BackgroundScheduler`` for use inside ``crowdclean serve``. The tick
    runs at once and then ``settings.scheduler.interval_s`` seconds after the previous one ended,
    in a single worker thread, so ticks never overlap.
    ``shutdown()`` makes the running tick stop after its current step and releases leases.
    """
    svc = service or CampaignService(settings, engine=engine)
    interval = settings.scheduler.interval_s
    cls = _BackgroundCampaignScheduler if background else _BlockingCampaignScheduler
    scheduler: BaseScheduler = cls(
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=UTC,
    )

    def tick_job() -> None:
        # One-shot jobs that re-arm themselves: the pause is measured from the end of a tick,
        # so a long tick (a model fit) neither overlaps the next nor makes it skip with a
        # warning, as an interval trigger would.
        try:
            svc.tick()
        finally:
            if not svc.stopping and scheduler.running:
                scheduler.add_job(
                    tick_job,
                    "date",
                    run_date=datetime.now(UTC) + timedelta(seconds=interval),
                    id=TICK_JOB_ID,
                    name="advance running campaigns",
                    replace_existing=True,
                )

    scheduler.add_job(
        tick_job,
        "date",
        run_date=datetime.now(UTC),
        id=TICK_JOB_ID,
        name="advance running campaigns",
    )
    _SERVICES[scheduler] = svc
    return scheduler


def service_of(scheduler: BaseScheduler) -> CampaignService:
    """The :class:`CampaignService` behind a scheduler from :func:`build_scheduler`."""
    svc = _SERVICES.get(scheduler)
    if svc is None:
        raise LookupError("this scheduler was not built by build_scheduler")
    return svc
