"""A lean HTTP/1.1 load generator (asyncio streams, keep-alive), run as its own process.

``python benchmarks/api/loadgen.py URL --header 'Authorization: Bearer …' --concurrency 32
--duration 20`` prints one JSON object: requests, errors, seconds, rps, latency percentiles (ms).

Why not httpx: on a 2-core machine the client shares the CPU with the server, and a full
client library spends several times more CPU per request than these few lines; the numbers
would then measure the client. Each of ``concurrency`` connections sends a request, reads the
whole response (Content-Length bodies only, which is what the API sends for JSON), and repeats.
Latency is from writing the request to the last body byte.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit


async def _worker(
    host: str,
    port: int,
    request: bytes,
    stop_at: float,
    latencies: list[float],
    errors: list[int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:].strip())
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                errors.append(status)
    finally:
        writer.close()


async def run(url: str, headers: list[str], concurrency: int, duration: float) -> dict[str, object]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", *headers, "", ""]
    request = "\r\n".join(lines).encode()
    latencies: list[float] = []
    errors: list[int] = []
    started = time.perf_counter()
    stop_at = started + duration
    await asyncio.gather(
        *(_worker(host, port, request, stop_at, latencies, errors) for _ in range(concurrency))
    )
    seconds = time.perf_counter() - started
    latencies.sort()

    def pct(q: float) -> float:
        return round(1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))], 2)

    return {
        "requests": len(latencies),
        "errors": len(errors),
        "error_statuses": sorted(set(errors)),
        "seconds": round(seconds, 2),
        "rps": round(len(latencies) / seconds, 1),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": round(1000 * latencies[-1], 2) if latencies else None,
        "concurrency": concurrency,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=20.0)
    args = parser.parse_args()
    result = asyncio.run(run(args.url, args.header, args.concurrency, args.duration))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
