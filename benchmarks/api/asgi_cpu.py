"""CPU per cached status request inside the app (no sockets, no HTTP server), in-process.

Calls the ASGI app directly with a prepared GET /v1/campaigns/{id}/status scope and reports
process CPU milliseconds per request: the part of a request's cost that is ours (routing,
auth, the cached document), without uvicorn's HTTP parsing or the load generator.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/api/asgi_cpu.py --requests 5000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # for tests.factories, which is not installed


def main() -> None:
    from orchestrator.api import create_app
    from orchestrator.api.keys import create_api_key
    from orchestrator.db.engine import make_engine
    from orchestrator.db.migrate import upgrade
    from orchestrator.settings import Settings
    from tests.factories.stored_campaign import build_campaign

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="crowdclean-asgi-"))
    engine = make_engine(f"sqlite:///{work / 'bench.db'}")
    upgrade(engine)
    sc = build_campaign(engine, work / "data", n_items=2000, seed=1)
    _, key = create_api_key(engine, "alice")
    app = create_app(Settings(data_dir=work / "data", database_url=str(engine.url)), engine=engine)
    path = f"/v1/campaigns/{sc.campaign_id}/status"
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {key}".encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    async def run(n: int) -> None:
        for _ in range(n):
            sent.clear()
            await app(scope, receive, send)
            assert sent[0]["status"] == 200, sent[0]

    asyncio.run(run(200))  # warm: caches, imports
    cpu = time.process_time()
    asyncio.run(run(args.requests))
    per = 1000 * (time.process_time() - cpu) / args.requests
    print(f"{per:.3f} ms CPU per cached status request in the app ({args.requests} requests)")


if __name__ == "__main__":
    main()
