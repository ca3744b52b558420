"""The SQLite store's SQL: its tables, its two connections and the transactions of a write.

Run on the store's writer thread (``open_writer``, the transactions) or on the event loop
(``open_reader``); ``sqlite`` decides which. Versions are a store-wide revision (the
``revision`` table), bumped by every create and replace.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable
from typing import Final, TypeVar

from webhook.core import errors

_T = TypeVar("_T")

# Versions are SQLite integers; anything larger was not issued here.
_MAX_VERSION: Final = 2**63 - 1

# How long a statement waits for a lock another process holds (someone running the
# sqlite3 shell on the file) before giving up. The writer thread can afford to wait: only
# queued writes wait with it. A reader would wait on the event loop, stalling every
# request, and in WAL mode readers wait only while another process recovers the WAL
# index after a crash, so they give up early instead.
_WRITER_BUSY_TIMEOUT_MS: Final = 5000
_READER_BUSY_TIMEOUT_MS: Final = 200

# The layout of the tables below, kept in ``PRAGMA user_version``. A file written by a
# newer release is refused rather than misread.
_SCHEMA_VERSION: Final = 1

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS appimages (
        name    TEXT    PRIMARY KEY,
        version INTEGER NOT NULL,
        body    BLOB    NOT NULL
    )""",
    # One row: the last version handed out. It outlives deleted rows, so versions never
    # repeat (no ABA on compare-and-swap after a delete and re-create).
    """CREATE TABLE IF NOT EXISTS revision (
        id    INTEGER PRIMARY KEY CHECK (id = 1),
        value INTEGER NOT NULL
    )""",
    "INSERT OR IGNORE INTO revision (id, value) VALUES (1, 0)",
)

def open_writer(path: str) -> sqlite3.Connection:
    """The writing connection, with WAL and the tables set up; runs on the writer thread."""
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as e:
        raise errors.StoreUnavailable(
            f"cannot create directory {parent!r} for SQLite store: {e.strerror}"
        ) from e
    if os.path.isdir(path):
        raise errors.StoreUnavailable(f"cannot open SQLite store {path!r}: it is a directory")
    try:
        conn = sqlite3.connect(path, isolation_level=None)
    except sqlite3.Error as e:
        raise errors.StoreUnavailable(f"cannot open SQLite store {path!r}: {e}") from e
    try:
        conn.execute(f"PRAGMA busy_timeout = {_WRITER_BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            # E.g. a filesystem without shared memory; without WAL, reads on the loop
            # would wait for commits.
            raise errors.StoreUnavailable(
                f"cannot open SQLite store {path!r}: journal_mode is {mode!r}, not 'wal'"
            )
        conn.execute("PRAGMA synchronous = FULL")
        in_transaction(conn, migrate)
    except sqlite3.Error as e:
        conn.close()
        raise errors.StoreUnavailable(f"cannot open SQLite store {path!r}: {e}") from e
    except BaseException:
        conn.close()
        raise
    return conn


def migrate(conn: sqlite3.Connection) -> None:
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > _SCHEMA_VERSION:
        raise errors.StoreUnavailable(
            f"SQLite store has schema version {found}; this release reads up to {_SCHEMA_VERSION}"
        )
    for statement in _SCHEMA:
        conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")


def open_reader(path: str) -> sqlite3.Connection:
    """The reading connection, for the event-loop thread."""
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {_READER_BUSY_TIMEOUT_MS}")
            # A write through this connection would run on the loop; refuse it outright.
            conn.execute("PRAGMA query_only = ON")
        except BaseException:
            conn.close()
            raise
    except sqlite3.Error as e:
        raise errors.StoreUnavailable(f"cannot open SQLite store {path!r}: {e}") from e
    return conn


def in_transaction(conn: sqlite3.Connection, txn: Callable[[sqlite3.Connection], _T]) -> _T:
    # IMMEDIATE takes the write lock up front: a deferred transaction that reads first
    # could fail to upgrade if another process wrote in between.
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = txn(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            # The original error is the one worth reporting.
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise
    return result


def next_version(conn: sqlite3.Connection) -> int:
    conn.execute("UPDATE revision SET value = value + 1 WHERE id = 1")
    return int(conn.execute("SELECT value FROM revision WHERE id = 1").fetchone()[0])


def insert(conn: sqlite3.Connection, name: str, body: bytes) -> int:
    version = next_version(conn)
    inserted = conn.execute(
        "INSERT INTO appimages (name, version, body) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
        (name, version, body),
    ).rowcount
    if not inserted:
        raise errors.AlreadyExists(f"appimage {name!r} already exists")
    return version


def update(conn: sqlite3.Connection, name: str, body: bytes, expected: str) -> int:
    version = next_version(conn)
    # The compare-and-swap: the row changes only if nobody changed it since ``expected``.
    # A version never issued here binds as NULL, which matches no row.
    updated = conn.execute(
        "UPDATE appimages SET version = ?, body = ? WHERE name = ? AND version = ?",
        (version, body, name, parse_version(expected)),
    ).rowcount
    if updated:
        return version
    if conn.execute("SELECT 1 FROM appimages WHERE name = ?", (name,)).fetchone() is None:
        raise errors.NotFound(f"appimage {name!r} does not exist")
    raise errors.Conflict(f"appimage {name!r} has changed since version {expected!r}")


def delete(conn: sqlite3.Connection, name: str) -> None:
    if not conn.execute("DELETE FROM appimages WHERE name = ?", (name,)).rowcount:
        raise errors.NotFound(f"appimage {name!r} does not exist")


def parse_version(version: str) -> int | None:
    """The revision ``version`` names, or ``None`` for a string this store never issued
    (``"01"``, ``"abc"``), which then matches no row."""
    try:
        number = int(version)
    except (TypeError, ValueError):
        return None
    if str(number) != version or not 0 < number <= _MAX_VERSION:
        return None
    return number
