"""The check shared by the crowd and scheduler invariant tests: a campaign's running totals
(:mod:`orchestrator.db.counters`), kept step by step across faults, kills and restarts, equal a
recount of its rows."""

from __future__ import annotations

import uuid

from sqlalchemy.engine import Engine
from sqlmodel import Session

from orchestrator.db import counters


def assert_counters_match_rows(engine: Engine, campaign_id: uuid.UUID) -> None:
    """Assert the kept totals equal a recount, and that there was something to count."""
    with Session(engine) as s:
        kept = counters.read(s, campaign_id).model_dump(exclude={"campaign_id"})
        recounted = counters.counted(s, campaign_id)
    assert kept == recounted
    assert kept["n_answers"] > 0 and kept["rewards_usd"] > 0
