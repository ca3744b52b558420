"""Fill a SQLite store with many AppImages fast, before the service opens it.

The store itself creates the file and its tables (``SQLiteStore.open``); the rows then
go in through plain sqlite3 in one transaction, as the store writes them (name,
version, the custom resource as JSON) with the store-wide revision moved past them.
100,000 rows take seconds this way, where as many REST creates would take minutes of
fsyncs. The preflight reads some back through the REST API, so a change of the
store's layout fails the run instead of measuring an empty table.
"""

from __future__ import annotations

import asyncio
import copy
import sqlite3
from pathlib import Path
from typing import Any

import orjson

from bench import workloads
from webhook.store import sqlite as sqlite_store


async def _create_tables(path: Path) -> None:
    store = await sqlite_store.SQLiteStore.open(path)
    await store.close()


def seed(path: Path, count: int) -> None:
    """``count`` defaulted copies of the document's example, named seed-000000, ..."""
    asyncio.run(_create_tables(path))
    template: dict[str, Any] = workloads.defaulted(workloads.appimage())

    def rows() -> Any:
        for i in range(count):
            obj = copy.copy(template)
            obj["metadata"] = {"name": workloads.seed_name(i)}
            yield workloads.seed_name(i), i + 1, orjson.dumps(obj)

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = NORMAL")  # one fsync at the end is enough here
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO appimages (name, version, body) VALUES (?, ?, ?)", rows())
        conn.execute("UPDATE revision SET value = max(value, ?) WHERE id = 1", (count,))
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
