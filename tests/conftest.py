"""Shared fixtures: a migrated database per test on SQLite and on PostgreSQL.

PostgreSQL comes from ``CROWDCLEAN_TEST_POSTGRES_URL`` (default: the local server at
127.0.0.1:5432, database ``test``). Each test gets a fresh database created on that server and
dropped afterwards. When the server cannot be reached the PostgreSQL tests are skipped with a
message, unless ``CROWDCLEAN_REQUIRE_POSTGRES=1`` (set by ``.ci/run``), which makes them fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

# The loopback S3-compatible server (``s3_server``, ``s3_bucket``) for any test.
pytest_plugins = ["tests.factories.s3_server"]

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_admin_url() -> str:
    return os.environ.get("CROWDCLEAN_TEST_POSTGRES_URL", DEFAULT_PG_URL)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    from orchestrator.db.engine import make_engine
    from orchestrator.db.migrate import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'crowdclean.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_engine() -> Iterator[Engine]:
    from orchestrator.db.engine import make_engine
    from orchestrator.db.migrate import upgrade

    admin_url = make_url(postgres_admin_url())
    try:
        admin = make_engine(
            admin_url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        msg = (
            f"PostgreSQL not reachable at {admin_url.render_as_string()} ({type(exc).__name__}); "
            "start a server or set CROWDCLEAN_TEST_POSTGRES_URL to run these tests"
        )
        if os.environ.get("CROWDCLEAN_REQUIRE_POSTGRES") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    name = f"crowdclean_t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(admin_url.set(database=name).render_as_string(hide_password=False))
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """A migrated database, once on SQLite and once on PostgreSQL."""
    fixture = "sqlite_engine" if request.param == "sqlite" else "postgres_engine"
    return request.getfixturevalue(fixture)
