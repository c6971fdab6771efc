"""``crowdclean scheduler``: the campaign service as its own process (mounted by orchestrator.cli).

Runs :func:`orchestrator.scheduler.service.build_scheduler` with a ``BlockingScheduler`` until
SIGTERM or Ctrl-C, which stop the tick after its current step, release this process's campaign
leases and exit 0. ``--once`` runs a single tick in the foreground and prints its outcome as
JSON (for cron jobs and tests); its exit status is 1 when a campaign's step failed. Exit status
2: the database is not at the newest migration (run ``crowdclean db upgrade``). Several
scheduler processes may run against one PostgreSQL database; campaign leases keep each campaign
in one process at a time.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from orchestrator.scheduler.service import CampaignService
    from orchestrator.settings import Settings

log = logging.getLogger("orchestrator.scheduler")


def _check_schema(engine: object) -> None:
    """Refuse to run against a database that is not at the newest migration."""
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import Engine

    from orchestrator.db.migrate import alembic_config, current_revision

    assert isinstance(engine, Engine)
    head = ScriptDirectory.from_config(
        alembic_config(engine.url.render_as_string(hide_password=False))
    ).get_current_head()
    current = current_revision(engine)
    if current != head:
        typer.echo(
            f"error: database {engine.url.render_as_string()} is at revision {current}, "
            f"not {head}; run `crowdclean db upgrade` first",
            err=True,
        )
        raise typer.Exit(2)


def _check_artifacts(settings: Settings) -> None:
    """Refuse to run when ``CROWDCLEAN_ARTIFACTS_URL`` names a store this host cannot use
    (bad URL, missing bucket, unreachable endpoint, no credentials): say so now, not at the
    first round's first write."""
    from orchestrator.storage.artifacts import artifact_root
    from orchestrator.storage.errors import StorageError

    if not settings.artifacts_url:
        return  # the local default: the data directory is created by the first write
    try:
        artifact_root(settings).check()
    except StorageError as exc:
        typer.echo(f"error: artifact storage: {exc}", err=True)
        raise typer.Exit(2) from None


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        # APScheduler logs every run of the tick and Alembic its plugins at INFO
        for noisy in ("apscheduler", "alembic"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def _tick_once(service: CampaignService) -> None:
    """``--once``: one tick, printed as JSON; exit 1 when a campaign's step failed."""
    report = service.tick()
    service.close()
    typer.echo(
        json.dumps(
            {
                "seconds": round(report.seconds, 3),
                "steps": report.steps,
                "campaigns": [
                    {
                        "id": str(a.campaign_id),
                        "claimed": a.claimed,
                        "steps": a.steps,
                        "status": a.status.value if a.status else None,
                        "error": a.error,
                    }
                    for a in report.advanced
                ],
                "cancelled_swept": [str(c) for c in report.cancelled_swept],
            }
        )
    )
    if any(a.error for a in report.advanced):
        raise typer.Exit(1)


def scheduler(
    once: Annotated[
        bool, typer.Option("--once", help="Run one tick, print it as JSON and exit.")
    ] = False,
    interval: Annotated[
        float | None,
        typer.Option(
            "--interval", min=0.01, help="Seconds between ticks (CROWDCLEAN_SCHEDULER__INTERVAL_S)."
        ),
    ] = None,
) -> None:
    """Advance running campaigns (model → sample → publish → collect → aggregate → propagate)."""
    from orchestrator.db.engine import make_engine
    from orchestrator.scheduler.service import CampaignService, build_scheduler
    from orchestrator.settings import get_settings

    settings = get_settings()
    if interval is not None:
        settings = settings.model_copy(
            update={"scheduler": settings.scheduler.model_copy(update={"interval_s": interval})}
        )
    _configure_logging(settings.log_level)
    engine = make_engine(settings.database_url)
    _check_schema(engine)
    _check_artifacts(settings)
    service = CampaignService(settings, engine=engine)

    if once:
        _tick_once(service)
        return

    sched = build_scheduler(settings, engine=engine, background=False, service=service)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if not stopping.is_set():
            log.info("%s: stopping after the current step", signal.Signals(signum).name)
        stopping.set()
        service.stop()
        if sched.running:  # wake the blocking loop; the tick in flight is awaited below
            sched.shutdown(wait=False)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info(
        "scheduler %s on %s, tick every %.3g s",
        service.owner,
        engine.url.render_as_string(),
        settings.scheduler.interval_s,
    )
    if not stopping.is_set():
        sched.start()
    service.wait_idle()
    service.close()
    log.info("scheduler %s stopped", service.owner)
