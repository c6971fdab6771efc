"""Benchmark ``GET /v1/campaigns/{id}/status`` under concurrent load on loopback.

For each database (SQLite file, PostgreSQL): build a campaign with stored state (the synthetic
builder of the API tests: items, two rounds, crowd answers, verified and propagated labels,
money), create an API key, start ``crowdclean serve`` as its own process (one uvicorn worker,
access log off), warm up, then run ``loadgen.py`` as a separate process against the status
endpoint. Prints one Markdown table row per run and the raw JSON, with the load average
(the machine may be shared: compare rows only with their load average).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/api/bench_status.py --db sqlite postgres \\
        --items 100000 --concurrency 32 --duration 20 --cache-ttl 1.0 0
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))  # for tests.factories, which is not installed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live children (uvicorn workers), seconds."""
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _database(kind: str, workdir: Path) -> tuple[str, object]:
    """(url, cleanup) for a fresh database of ``kind``."""
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}", lambda: None
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from orchestrator.db.engine import make_engine

    admin_url = make_url(
        os.environ.get(
            "CROWDCLEAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        )
    )
    admin = make_engine(
        admin_url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT"
    )
    name = f"crowdclean_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin_url.set(database=name).render_as_string(hide_password=False), drop


def bench_one(kind: str, args: argparse.Namespace, cache_ttl: float) -> list[dict[str, Any]]:
    from orchestrator.api.keys import create_api_key
    from orchestrator.db.engine import make_engine
    from orchestrator.db.migrate import upgrade
    from tests.factories.stored_campaign import build_campaign

    workdir = Path(tempfile.mkdtemp(prefix="crowdclean-bench-api-"))
    url, cleanup = _database(kind, workdir)
    proc = None
    try:
        engine = make_engine(url)
        upgrade(engine)
        t0 = time.perf_counter()
        sc = build_campaign(
            engine,
            workdir / "data",
            n_items=args.items,
            n_validation=args.items // 100,
            n_verified=args.items // 50,
            n_propagated=args.items // 5,
            seed=1,
        )
        build_s = time.perf_counter() - t0
        _, key = create_api_key(engine, "alice")
        engine.dispose()
        port = _free_port()
        env = {
            **os.environ,
            "CROWDCLEAN_DATABASE_URL": url,
            "CROWDCLEAN_DATA_DIR": str(workdir / "data"),
            "CROWDCLEAN_API__STATUS_CACHE_TTL_S": str(cache_ttl),
            "OMP_NUM_THREADS": "1",
        }
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "orchestrator",
                "serve",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--workers",
                str(args.workers),
            ],
            env=env,
            cwd=workdir,
        )
        base = f"http://127.0.0.1:{port}"
        target = f"{base}/v1/campaigns/{sc.campaign_id}/status"
        auth = {"Authorization": f"Bearer {key}"}
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("server did not start")
            time.sleep(0.2)
        first = httpx.get(target, headers=auth, timeout=30)
        first.raise_for_status()
        for _ in range(50):  # warm up
            httpx.get(target, headers=auth, timeout=30)
        results = []
        for concurrency in args.concurrency:
            load_before = os.getloadavg()
            cpu_before = _cpu_seconds(proc.pid)
            out = subprocess.run(
                [
                    sys.executable,
                    str(HERE / "loadgen.py"),
                    target,
                    "--header",
                    f"Authorization: Bearer {key}",
                    "--concurrency",
                    str(concurrency),
                    "--duration",
                    str(args.duration),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            load_after = os.getloadavg()
            server_cpu = _cpu_seconds(proc.pid) - cpu_before
            result = json.loads(out.stdout)
            # CPU the server spent per answered request: independent of how busy the shared
            # machine was, so it tells what one free core could serve (1000 / this req/s).
            result["server_cpu_ms_per_request"] = round(
                1000 * server_cpu / max(1, result["requests"]), 3
            )
            result.update(
                db=kind,
                workers=args.workers,
                items=args.items,
                status_cache_ttl_s=cache_ttl,
                build_s=round(build_s, 1),
                status_bytes=len(first.content),
                load_before=[round(x, 2) for x in load_before],
                load_after=[round(x, 2) for x in load_after],
            )
            results.append(result)
        return results
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        cleanup()  # type: ignore[operator]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--db", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"]
    )
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--cache-ttl", type=float, nargs="+", default=[1.0])
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes.")
    parser.add_argument("--json", type=Path, default=None, help="Append raw results here.")
    args = parser.parse_args()
    print(
        "| db | workers | status cache | concurrency | req/s | p50 ms | p99 ms | errors "
        "| server CPU ms/req | load avg 1/5/15 min (before → after) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for kind in args.db:
        for ttl in args.cache_ttl:
            for r in bench_one(kind, args, ttl):
                lb, la = r["load_before"], r["load_after"]
                cache = "off" if ttl == 0 else f"{ttl:g} s"
                print(
                    f"| {kind} | {r['workers']} | {cache} | {r['concurrency']} | {r['rps']} "
                    f"| {r['p50_ms']} | {r['p99_ms']} | {r['errors']} "
                    f"| {r['server_cpu_ms_per_request']} "
                    f"| {'/'.join(map(str, lb))} → {'/'.join(map(str, la))} |",
                    flush=True,
                )
                if args.json:
                    with args.json.open("a") as fh:
                        fh.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
