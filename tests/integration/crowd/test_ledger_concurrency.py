"""The spend cap holds when several connections book money at the same time.

Each thread books through its own session, as separate scheduler / API processes would. On
PostgreSQL the campaign row lock serialises them; on SQLite a Python ``sqlite3`` connection
runs plain SELECTs outside any transaction, so without taking the write lock first two bookers
could both read the same committed total and both pass the cap.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from orchestrator.crowd.ledger import (
    BudgetExceededError,
    book,
    campaign_spend,
    lock_campaign,
)
from orchestrator.db.models import LedgerKind
from tests.factories.crowd_campaign import make_crowd_campaign

N_THREADS = 8
PER_THREAD = 6


@pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)
def test_concurrent_bookings_never_pass_the_cap(engine: Engine) -> None:
    # 0.50 + 20 % fee = 0.60 per booking; a 6.00 cap admits exactly 10 of the 48 attempts.
    camp = make_crowd_campaign(engine, n_items=1, n_gold=0, budget="6.00")
    start = threading.Barrier(N_THREADS)
    booked: list[int] = []
    refused: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(t: int) -> None:
        try:
            start.wait()
            for i in range(PER_THREAD):
                with Session(engine) as s:
                    campaign = lock_campaign(s, camp.campaign_id)
                    try:
                        book(s, campaign, LedgerKind.HIT_RESERVATION, Decimal("0.50"), f"k{t}-{i}")
                    except BudgetExceededError:
                        s.rollback()
                        with lock:
                            refused.append(1)
                        continue
                    s.commit()
                    with lock:
                        booked.append(1)
        except BaseException as exc:  # surfaced below with the thread's traceback
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(N_THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors, errors
    summary = campaign_spend(engine, camp.campaign_id)
    assert summary.committed_usd <= Decimal("6.00")
    assert len(booked) == 10
    assert len(refused) == N_THREADS * PER_THREAD - 10
    assert summary.committed_usd == Decimal("6.00")
