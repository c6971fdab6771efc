"""A campaign's running totals: the migration fills them from existing rows, the status
document reads them instead of recounting, and :func:`counters.add` is exact on money."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session

from orchestrator.campaigns.status import status_document, without_accuracy
from orchestrator.db import counters
from orchestrator.db.migrate import alembic_config
from orchestrator.db.models import CampaignCounters
from tests.factories.stored_campaign import build_campaign


def test_migration_backfills_the_totals_of_existing_campaigns(
    engine: Engine, tmp_path: Path
) -> None:
    sc = build_campaign(engine, tmp_path, n_items=200, seed=3)
    with Session(engine) as s:
        expected = counters.counted(s, sc.campaign_id)
    assert expected["n_verified"] == 60 and expected["n_propagated"] == 60
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    command.downgrade(cfg, "0005")  # drops the table: the rows stay, the totals go
    command.upgrade(cfg, "head")
    with Session(engine) as s:
        kept = counters.read(s, sc.campaign_id).model_dump(exclude={"campaign_id"})
    assert kept == expected


def test_status_reads_the_kept_totals_not_the_rows(sqlite_engine: Engine, tmp_path: Path) -> None:
    sc = build_campaign(sqlite_engine, tmp_path, n_items=200, seed=4)
    doc = status_document(sqlite_engine, sc.campaign_id, accuracy_of=without_accuracy)
    assert doc["items"]["verified"] == 60 and doc["items"]["validation"] == 30
    assert doc["items"]["propagated"] == 60
    with Session(sqlite_engine) as s:
        counters.add(s, sc.campaign_id, n_propagated=5, fees_usd=Decimal("0.0001"))
        s.commit()
    after = status_document(sqlite_engine, sc.campaign_id, accuracy_of=without_accuracy)
    assert after["items"]["propagated"] == 65
    assert Decimal(after["fees_usd"]) - Decimal(doc["fees_usd"]) <= Decimal("0.01")
    # A campaign whose totals row is missing (made outside the writers) reads as zero.
    with Session(sqlite_engine) as s:
        s.execute(delete(CampaignCounters))
        s.commit()
    empty = status_document(sqlite_engine, sc.campaign_id, accuracy_of=without_accuracy)
    assert empty["items"]["verified"] == 0 and empty["spent_usd"] == "0.00"


def test_add_is_exact_on_money_and_refuses_unknown_names(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    sc = build_campaign(sqlite_engine, tmp_path, n_items=100, n_propagated=10, seed=5)
    with Session(sqlite_engine) as s:
        before = counters.read(s, sc.campaign_id).rewards_usd
        for _ in range(1000):
            counters.add(s, sc.campaign_id, rewards_usd=Decimal("0.0001"))
        s.commit()
        s.expire_all()
        assert counters.read(s, sc.campaign_id).rewards_usd - before == Decimal("0.1000")
        with pytest.raises(ValueError, match="unknown counters"):
            counters.add(s, sc.campaign_id, n_hits=1)
