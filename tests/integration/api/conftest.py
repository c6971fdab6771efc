"""Fixtures of the API tests: ``api``, an app on the ``engine`` fixture's database (SQLite and
PostgreSQL) with keys for alice, bob and an operator (see :mod:`api_client`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests.integration.api.api_client import Api, make_api


@pytest.fixture
def api(engine: Engine, tmp_path: Path) -> Iterator[Api]:
    a = make_api(engine, tmp_path)
    with a.client:
        yield a
