"""An API app on a test database with three keys: two requesters (alice, bob) and an operator.

Requests go through Starlette's TestClient (in-process ASGI). A module of its own (not the
conftest) so that test modules can import it by a name no other test directory uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def make_api(
    engine: Engine,
    tmp_path: Path,
    *,
    mturk_endpoint: str = "http://127.0.0.1:9",
    **api_settings: Any,
) -> Api:
    """An app whose MTurk endpoint is ``mturk_endpoint`` (default: a closed loopback port, so
    nothing can reach MTurk; tests that cancel open HITs pass a simulator's URL)."""
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=str(engine.url),
        mturk={
            "endpoint_url": mturk_endpoint,
            "aws_access_key_id": "AKIDSIMULATOR",
            "aws_secret_access_key": "simulator-secret",
            "max_requests_per_second": 200,
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
