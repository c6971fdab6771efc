"""Two schedulers collecting different campaigns may meet the same new worker at once: the
worker row is created once and both collects go on (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from orchestrator.crowd.workers import get_or_create_worker
from orchestrator.db.engine import make_engine
from orchestrator.db.models import Worker


def test_concurrent_first_sight_of_a_worker_creates_one_row(engine: Engine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    engines = [make_engine(url) for _ in range(4)]
    name = f"W{uuid.uuid4().hex[:12].upper()}"
    barrier = threading.Barrier(len(engines))
    got: list[uuid.UUID] = []
    errors: list[BaseException] = []

    def collect(e: Engine) -> None:
        try:
            with Session(e) as s:
                # as collect_answers does: look up (absent), then create inside a longer
                # transaction that other work shares
                s.exec(select(Worker).where(Worker.platform_worker_id == name)).first()
                barrier.wait()
                w = get_or_create_worker(s, name)
                w.n_answers += 1
                s.add(w)
                s.commit()
                got.append(w.id)
        except BaseException as exc:
            errors.append(exc)

    threads: list[Any] = [threading.Thread(target=collect, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for e in engines:
        e.dispose()
    assert not errors, errors
    assert len(set(got)) == 1 and len(got) == len(engines)
    with Session(engine) as s:
        rows = s.exec(select(Worker).where(Worker.platform_worker_id == name)).all()
        assert len(rows) == 1
        # the increments are not all lost-update safe (read-modify-write), but none failed
        assert rows[0].n_answers >= 1
        assert s.exec(select(func.count()).select_from(Worker)).one() == 1
