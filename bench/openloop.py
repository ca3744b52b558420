"""Open-loop load: requests sent on a fixed schedule, whatever the answers do.

``python -m bench.openloop URL BODY_FILE EXPECT --rate 500 --seconds 5 --cafile CA``
prints one JSON object: counts, the percentiles of latency, and how late the generator
itself was. Request i is due at start + i/rate and its latency is measured from that
moment, not from when it got a connection, so a stalled server is charged for every
request that piled up behind it (no coordinated omission; what wrk2 does, which Debian
does not package). Connections are kept alive and opened as needed, up to
``--max-connections``; a few requests before the schedule open the first ones.

Run it pinned to the client CPU (bench/run does). The generator is Python: at 500
requests/s it uses a fraction of that CPU, and "lag" reports its own lateness, which
would otherwise be blamed on the server.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

PERCENTILES = (1, 5, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 95, 97, 98, 99, 99.5, 99.9, 100)
WARMUP_REQUESTS = 8
MAX_SECONDS = 600
MAX_RATE = 5000


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of an ascending list."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[min(int(rank), len(sorted_values)) - 1]


async def drive(url: str, body: bytes, expect: bytes, *, rate: float, seconds: float,
                cafile: str | None, max_connections: int) -> dict[str, Any]:
    context = ssl.create_default_context(cafile=cafile) if url.startswith("https") else None
    connector = aiohttp.TCPConnector(limit=max_connections, ssl=context if context else False)
    latencies: list[float] = []
    lags: list[float] = []
    bad: list[str] = []
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def one(due: float | None) -> None:
            try:
                async with session.post(url, data=body) as response:
                    answer = await response.read()
                ok = response.status == 200 and expect in answer
                problem = f"{response.status} {answer[:300]!r}"
            except (TimeoutError, aiohttp.ClientError, OSError) as e:
                ok, problem = False, f"{type(e).__name__}: {e}"
            if due is None:
                return
            latencies.append(time.perf_counter() - due)
            if not ok:
                bad.append(problem)

        await asyncio.gather(*(one(None) for _ in range(WARMUP_REQUESTS)))
        total = int(rate * seconds)
        start = time.perf_counter() + 0.05
        tasks = []
        for i in range(total):
            due = start + i / rate
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            lags.append(max(0.0, time.perf_counter() - due))
            tasks.append(asyncio.create_task(one(due)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    latencies.sort()
    lags.sort()
    return {
        "sent": total,
        "answered": len(latencies),
        "bad": len(bad),
        "sample": bad[0] if bad else "",
        "rate": total / elapsed if elapsed > 0 else 0.0,
        "latency_ms": {str(p): percentile(latencies, p) * 1000 for p in PERCENTILES},
        "lag_p99_ms": percentile(lags, 99) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("body_file", type=Path)
    parser.add_argument("expect")
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--cafile", default=None)
    parser.add_argument("--max-connections", type=int, default=64)
    args = parser.parse_args()
    if not 0 < args.rate <= MAX_RATE or not 0 < args.seconds <= MAX_SECONDS:
        parser.error(f"--rate must be in (0, {MAX_RATE}] and --seconds in (0, {MAX_SECONDS}]")
    try:
        import uvloop
    except ImportError:
        runner: Any = asyncio.run
    else:
        runner = uvloop.run
    result = runner(drive(args.url, args.body_file.read_bytes(), args.expect.encode(),
                          rate=args.rate, seconds=args.seconds, cafile=args.cafile,
                          max_connections=args.max_connections))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
