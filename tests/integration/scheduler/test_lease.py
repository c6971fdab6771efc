"""Campaign leases on SQLite and PostgreSQL: a live lease excludes others, an expired one is
taken over, renewal and release only work for the holder, and racing claims have one winner."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from orchestrator.db.engine import session_scope
from orchestrator.db.models import Campaign, Dataset, FeatureKind
from orchestrator.db.types import utcnow
from orchestrator.scheduler.lease import Lease, LeaseKeeper, new_owner_id


def _campaign(engine: Engine) -> uuid.UUID:
    with session_scope(engine) as s:
        ds = Dataset(
            name=f"d-{uuid.uuid4().hex[:8]}",
            source="test",
            feature_kind=FeatureKind.CONTINUOUS,
            n_items=0,
            n_features=1,
            classes=["a", "b"],
            artifact_dir="",
            fingerprint="x",
        )
        s.add(ds)
        s.flush()
        c = Campaign(name="c", dataset_id=ds.id, budget_usd=Decimal("1.00"))
        s.add(c)
        s.flush()
        return c.id


def _holder(engine: Engine, campaign_id: uuid.UUID) -> str | None:
    with Session(engine) as s:
        c = s.get(Campaign, campaign_id)
        assert c is not None
        return c.lease_owner


def test_live_lease_excludes_expired_lease_is_taken_over(engine: Engine) -> None:
    cid = _campaign(engine)
    a, b = new_owner_id(), new_owner_id()
    assert a != b
    la, lb = Lease(engine, cid, a, 30), Lease(engine, cid, b, 30)
    t0 = utcnow()
    assert la.claim(now=t0)
    assert not lb.claim(now=t0 + timedelta(seconds=29))
    assert _holder(engine, cid) == a
    assert la.claim(now=t0 + timedelta(seconds=10))  # re-entrant extend
    # a was extended to t0 + 40 s: still live at +39 s, lapsed at +41 s
    assert not lb.claim(now=t0 + timedelta(seconds=39))
    assert lb.claim(now=t0 + timedelta(seconds=41))
    assert _holder(engine, cid) == b
    # the old holder notices: it can neither renew nor release b's lease
    assert not la.renew()
    assert not la.release()
    assert _holder(engine, cid) == b
    assert lb.renew()
    assert lb.release()
    assert _holder(engine, cid) is None
    assert la.claim()  # a free lease is anyone's
    assert not Lease(engine, uuid.uuid4(), a, 30).claim()  # no such campaign
    with pytest.raises(ValueError, match="ttl_s"):
        Lease(engine, cid, a, 0)


def test_racing_claims_have_exactly_one_winner(engine: Engine) -> None:
    cid = _campaign(engine)
    owners = [new_owner_id() for _ in range(8)]
    wins: list[str] = []
    barrier = threading.Barrier(len(owners))

    def race(owner: str) -> None:
        barrier.wait()
        if Lease(engine, cid, owner, 30).claim():
            wins.append(owner)

    threads = [threading.Thread(target=race, args=(o,)) for o in owners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(wins) == 1
    assert _holder(engine, cid) == wins[0]


def test_keeper_renews_while_working_and_notices_a_takeover(engine: Engine) -> None:
    cid = _campaign(engine)
    a, b = new_owner_id(), new_owner_id()
    ttl = 0.3
    lease = Lease(engine, cid, a, ttl)
    assert lease.claim()
    with LeaseKeeper(lease) as keeper:
        # renewed every ttl/3: after several lifetimes the lease is still ours
        assert not keeper.lost.wait(ttl * 3)
        assert not Lease(engine, cid, b, ttl).claim()
        # someone takes it over (as if we had stalled past the expiry)
        assert Lease(engine, cid, b, 60).claim(now=utcnow() + timedelta(seconds=ttl + 1))
        assert keeper.lost.wait(ttl * 3)
    assert _holder(engine, cid) == b  # the keeper did not release b's lease on exit
    lease = Lease(engine, cid, a, 60)
    assert lease.claim(now=utcnow() + timedelta(seconds=120))
    with LeaseKeeper(lease):
        pass
    assert _holder(engine, cid) is None  # released on a clean exit


def test_sqlite_lease_across_processes_file(tmp_path: Path) -> None:
    """Two engines (as two processes would have) on one SQLite file see one holder."""
    from orchestrator.db.engine import make_engine
    from orchestrator.db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'two.db'}"
    e1, e2 = make_engine(url), make_engine(url)
    upgrade(e1)
    cid = _campaign(e1)
    p1, p2 = Lease(e1, cid, "p1", 30), Lease(e2, cid, "p2", 30)
    assert p1.claim()
    assert not p2.claim()
    assert p2.claim(now=utcnow() + timedelta(seconds=31))
    assert not p1.renew()
    e1.dispose()
    e2.dispose()
