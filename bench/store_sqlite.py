"""Benchmark: SQLiteStore against raw sqlite3 doing the same writes on the same disk.

Run from the repository root: ``python -m bench.store_sqlite [--count N] [--dir DIR]``.

Prints creates/s (one awaited after another, and 32 in flight) and get p50 in µs for
~3 KB objects, each beside a baseline measured in the same run: plain sqlite3 on one
thread, WAL, ``synchronous=FULL``, one transaction per insert. The ratio ours/raw is the
price of the writer thread and the compare-and-swap. No assertions: the numbers are
noisy and for choosing, not gating. Use a ``--dir`` on the disk the service will use:
on tmpfs fsync is free and every write figure is meaningless.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import tempfile
import time
from typing import Any

import orjson

from webhook.store import sqlite

BODY_BYTES = 3 * 1024
CONCURRENCY = 32


def appimage(name: str) -> dict[str, Any]:
    """An AppImage padded with a config template to about ``BODY_BYTES`` of JSON."""
    obj: dict[str, Any] = {
        "apiVersion": "kuscia.secretflow/v1alpha1",
        "kind": "AppImage",
        "metadata": {"name": name},
        "spec": {
            "image": {"name": "secretflow/app", "tag": "1.0"},
            "configTemplates": {"task-config.conf": ""},
            "deployTemplates": [
                {"name": "default", "replicas": 1,
                 "spec": {"containers": [{"name": "app", "workingDir": "/app"}]}}
            ],
        },
    }
    padding = BODY_BYTES - len(orjson.dumps(obj))
    obj["spec"]["configTemplates"]["task-config.conf"] = "x" * max(padding, 0)
    return obj


def p50_us(samples_ns: list[int]) -> float:
    return statistics.median(samples_ns) / 1000


async def ours(directory: str, count: int) -> dict[str, float]:
    results: dict[str, float] = {}
    store = await sqlite.SQLiteStore.open(os.path.join(directory, "ours.db"))
    try:
        objs = [appimage(f"seq-{i:06d}") for i in range(count)]
        start = time.perf_counter()
        for obj in objs:
            await store.create(obj)
        results["creates/s sequential"] = count / (time.perf_counter() - start)

        objs = [appimage(f"par-{i:06d}") for i in range(count)]

        async def worker(share: list[dict[str, Any]]) -> None:
            for obj in share:
                await store.create(obj)

        start = time.perf_counter()
        await asyncio.gather(*(worker(objs[i::CONCURRENCY]) for i in range(CONCURRENCY)))
        results[f"creates/s {CONCURRENCY} concurrent"] = count / (time.perf_counter() - start)

        samples = []
        for i in range(count):
            start_ns = time.perf_counter_ns()
            await store.get(f"seq-{i:06d}")
            samples.append(time.perf_counter_ns() - start_ns)
        results["get p50 µs"] = p50_us(samples)
    finally:
        await store.close()
    return results


def raw(directory: str, count: int) -> dict[str, float]:
    results: dict[str, float] = {}
    conn = sqlite3.connect(os.path.join(directory, "raw.db"), isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute(
            "CREATE TABLE appimages (name TEXT PRIMARY KEY, version INTEGER NOT NULL, body BLOB NOT NULL)"
        )
        bodies = [(f"seq-{i:06d}", orjson.dumps(appimage(f"seq-{i:06d}"))) for i in range(count)]
        start = time.perf_counter()
        for version, (name, body) in enumerate(bodies, start=1):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO appimages (name, version, body) VALUES (?, ?, ?)",
                (name, version, body),
            )
            conn.execute("COMMIT")
        rate = count / (time.perf_counter() - start)
        # One thread cannot have writes in flight: the same figure stands for both rows.
        results["creates/s sequential"] = rate
        results[f"creates/s {CONCURRENCY} concurrent"] = rate

        samples = []
        for name, _ in bodies:
            start_ns = time.perf_counter_ns()
            version, body = conn.execute(
                "SELECT version, body FROM appimages WHERE name = ?", (name,)
            ).fetchone()
            orjson.loads(body)
            samples.append(time.perf_counter_ns() - start_ns)
        results["get p50 µs"] = p50_us(samples)
    finally:
        conn.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="objects per measurement")
    parser.add_argument("--dir", default=None, help="where the temporary files go")
    args = parser.parse_args()
    if not 1 <= args.count <= 100_000:
        raise SystemExit("--count must be 1..100000")

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-store-sqlite-") as directory:
        body = len(orjson.dumps(appimage("seq-000000")))
        print(f"{args.count} objects of {body} bytes in {directory}")
        raw_results = raw(directory, args.count)
        our_results = asyncio.run(ours(directory, args.count))

    print(f"{'':28}{'SQLiteStore':>12}{'raw sqlite3':>12}{'ours/raw':>10}")
    for key, value in our_results.items():
        baseline = raw_results[key]
        print(f"{key:28}{value:12.1f}{baseline:12.1f}{value / baseline:10.2f}")


if __name__ == "__main__":
    main()
