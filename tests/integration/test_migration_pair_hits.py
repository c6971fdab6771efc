"""Migration 0008 (``hit.pair_item_id``) on SQLite and PostgreSQL: down to 0007 with a pair HIT
in place (the row stays, its second item goes), up again (the HIT reads as a single-item HIT),
and the column takes a pair's second item again."""

from __future__ import annotations

from decimal import Decimal

from alembic import command
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from orchestrator.db.migrate import alembic_config, current_revision
from orchestrator.db.models import Hit
from tests.factories.crowd_campaign import make_crowd_campaign


def _columns(engine: Engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("hit")}


def test_pair_item_column_migrates_down_and_up(engine: Engine) -> None:
    c = make_crowd_campaign(engine, n_items=3, n_gold=0)
    with Session(engine) as s:
        s.add(
            Hit(
                campaign_id=c.campaign_id,
                round_id=c.round_id,
                item_id=c.item_ids[0],
                pair_item_id=c.item_ids[1],
                max_assignments=3,
                reward_usd=Decimal("0.10"),
                unique_request_token="cc1-pair",
            )
        )
        s.commit()
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    command.downgrade(cfg, "0007")
    assert "pair_item_id" not in _columns(engine)
    command.upgrade(cfg, "head")
    assert current_revision(engine) == "0008"
    fks = inspect(engine).get_foreign_keys("hit")
    assert any(
        fk["constrained_columns"] == ["pair_item_id"] and fk["referred_table"] == "item"
        for fk in fks
    )
    assert "ix_hit_pair_item_id" in {ix["name"] for ix in inspect(engine).get_indexes("hit")}
    with Session(engine) as s:
        (hit,) = s.exec(select(Hit)).all()
        assert hit.pair_item_id is None and hit.item_id == c.item_ids[0]
        hit.pair_item_id = c.item_ids[2]
        s.add(hit)
        s.commit()
    with Session(engine) as s:
        assert s.exec(select(Hit.pair_item_id)).one() == c.item_ids[2]
