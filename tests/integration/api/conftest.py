"""An API app on the test database (SQLite and PostgreSQL) with three keys: two requesters
(alice, bob) and an operator. Requests go through Starlette's TestClient (in-process ASGI)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from orchestrator.api import create_app
from orchestrator.api.keys import create_api_key
from orchestrator.db.models import ApiKeyRole
from orchestrator.settings import Settings


@dataclass
class Api:
    client: TestClient
    engine: Engine
    settings: Settings
    keys: dict[str, str]
    data_dir: Path

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def get(self, who: str, url: str, **kw: Any) -> Any:
        return self.client.get(url, headers={**self.auth(who), **kw.pop("headers", {})}, **kw)

    def post(self, who: str, url: str, **kw: Any) -> Any:
        return self.client.post(url, headers={**self.auth(who), **kw.pop("headers", {})}, **kw)


def make_api(engine: Engine, tmp_path: Path, **api_settings: Any) -> Api:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=str(engine.url),
        # Nothing here may reach MTurk: a cancel with open HITs needs a simulator of its own.
        mturk={
            "endpoint_url": "http://127.0.0.1:9",
            "aws_access_key_id": "x",
            "aws_secret_access_key": "x",
        },
        api={"status_cache_ttl_s": 0.0, "auth_cache_ttl_s": 0.0, **api_settings},
    )
    app = create_app(settings, engine=engine)
    keys = {
        "alice": create_api_key(engine, "alice")[1],
        "bob": create_api_key(engine, "bob")[1],
        "op": create_api_key(engine, "ops", role=ApiKeyRole.OPERATOR)[1],
    }
    return Api(TestClient(app, raise_server_exceptions=False), engine, settings, keys, tmp_path)


@pytest.fixture
def api(engine: Engine, tmp_path: Path) -> Iterator[Api]:
    a = make_api(engine, tmp_path)
    with a.client:
        yield a
