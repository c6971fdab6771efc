"""Workers: their rows, shared by every campaign, and excluding those who fail the gold checks.

A worker is excluded from the campaign (the exclusion qualification its HIT type requires the
absence of) and, when the campaign says so, blocked requester-wide (CreateWorkerBlock) once
they have answered enough gold checks with too low an accuracy.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

from sqlmodel import Session, col, select

from orchestrator.crowd.campaign_crowd import CampaignCrowd
from orchestrator.crowd.identity import exclusion_qualification
from orchestrator.crowd.platform import PlatformError
from orchestrator.db.engine import session_scope
from orchestrator.db.models import Worker

log = logging.getLogger(__name__)


def get_or_create_worker(session: Session, platform_worker_id: str) -> Worker:
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


def exclude_failing_workers(crowd: CampaignCrowd, worker_pks: Iterable[uuid.UUID]) -> list[str]:
    """Exclude (and block, if configured) the workers among ``worker_pks`` below the gold bar.

    Returns their platform worker ids. A worker the platform call failed for is left as is and
    tried again the next time they answer.
    """
    cfg = crowd.config
    blocked: list[str] = []
    pks = list(worker_pks)
    if not pks:
        return blocked
    with session_scope(crowd.engine) as session:
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
                qid = exclusion_qualification(crowd.platform, crowd.campaign_id)
                crowd.platform.associate_qualification(qid, w.platform_worker_id, 1)
            if cfg.block_on_gold_failure:
                crowd.platform.block_worker(w.platform_worker_id, reason)
        except PlatformError as exc:
            log.warning("could not exclude worker %s: %s", w.platform_worker_id, exc)
            continue
        with session_scope(crowd.engine) as session:
            row = session.get(Worker, w.id)
            if row is not None:
                row.blocked = cfg.block_on_gold_failure
                row.blocked_reason = reason
                session.add(row)
        blocked.append(w.platform_worker_id)
    return blocked
