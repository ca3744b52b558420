"""SQLite storage: the embedded default backend, durable in one file.

Rule: the event loop never waits for a disk flush, and never hops threads to read.

* Writes go to one dedicated writer thread that owns the only writing connection. Each
  write is its own ``BEGIN IMMEDIATE`` transaction, committed with ``synchronous=FULL``
  (the WAL is fsynced before the awaiting coroutine resumes), so an acknowledged write
  survives a power cut. One writer also means writes never contend for SQLite's lock.
* Reads run inline on the event-loop thread on a second, query-only connection. In WAL
  mode a reader never waits for the writer, and a point read costs far less than the
  thread hop it would take to move it off the loop.
* Versions are a store-wide revision, bumped by every create and replace (like etcd's,
  which the Kubernetes backend exposes), not a per-row counter: a version read before a
  delete can never match the object created again under the same name.

Usage: ``store = await SQLiteStore.open(path)`` and ``await store.close()`` at shutdown.
A store belongs to the event loop, and thread, that opened it: its read connection
refuses to be used from any other thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeVar

import orjson

from webhook.core import errors, storage
from webhook.store import sql

_T = TypeVar("_T")

# SQLite before 3.32 allows 999 bound parameters per statement; this fits every build.
_MAX_NAMES_PER_QUERY: Final = 500


class SQLiteStore(storage.Store):
    """AppImages in one SQLite file; open with ``await SQLiteStore.open(path)``.

    The constructor takes parts ``open`` has already set up; do not call it directly.
    """

    def __init__(
        self,
        path: str,
        writer: concurrent.futures.ThreadPoolExecutor,
        write_conn: sqlite3.Connection,
        read_conn: sqlite3.Connection,
    ) -> None:
        self.path = path
        self._writer = writer
        # Created on, and only ever used on, the writer thread.
        self._write_conn = write_conn
        # Created on, and only ever used on, the event-loop thread.
        self._read_conn = read_conn
        self._closed = False

    @classmethod
    async def open(cls, path: str | os.PathLike[str]) -> SQLiteStore:
        """Open (creating if missing) the store at ``path`` and its parent directory.

        ``errors.StoreUnavailable`` when the file cannot be created or opened, is not a
        database, or was written by a newer release; ``ValueError`` for an in-memory path,
        which would give the reader and the writer two different databases.
        """
        path = os.fspath(path)
        if path in ("", ":memory:") or path.startswith("file:"):
            raise ValueError(f"SQLite store needs a plain file path, got {path!r}")
        writer = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        loop = asyncio.get_running_loop()
        write_conn: sqlite3.Connection | None = None
        try:
            write_conn = await loop.run_in_executor(writer, sql.open_writer, path)
            # Only after the writer has set up WAL and the tables, which the reader
            # relies on; opening a file is cheap enough for the loop at startup.
            read_conn = sql.open_reader(path)
        except BaseException:
            if write_conn is not None:
                await loop.run_in_executor(writer, write_conn.close)
            writer.shutdown(wait=True)
            raise
        return cls(path, writer, write_conn, read_conn)

    async def create(self, obj: Mapping[str, Any]) -> storage.Record:
        name = _name_of(obj)
        body = _encode(obj)
        version = await self._write(lambda conn: sql.insert(conn, name, body))
        return _record(name, version, body)

    async def get(self, name: str) -> storage.Record:
        rows = self._read("SELECT version, body FROM appimages WHERE name = ?", (name,))
        if not rows:
            raise errors.NotFound(f"appimage {name!r} does not exist")
        version, body = rows[0]
        return _record(name, version, body)

    async def get_many(self, names: Sequence[str]) -> list[storage.Record | None]:
        wanted = list(dict.fromkeys(names))
        chunks = [wanted[i : i + _MAX_NAMES_PER_QUERY] for i in range(0, len(wanted), _MAX_NAMES_PER_QUERY)]
        rows = self._read_chunks(
            [
                (_select_names(len(chunk)), tuple(chunk))
                for chunk in chunks
            ]
        )
        found = {name: (version, body) for name, version, body in rows}
        # Decoded per position, not per name: a name asked twice gets two dicts, so
        # the caller may mutate one without changing the other.
        return [_record(name, *found[name]) if name in found else None for name in names]

    async def replace(self, obj: Mapping[str, Any], version: str) -> storage.Record:
        name = _name_of(obj)
        body = _encode(obj)
        new_version = await self._write(lambda conn: sql.update(conn, name, body, version))
        return _record(name, new_version, body)

    async def delete(self, name: str) -> None:
        await self._write(lambda conn: sql.delete(conn, name))

    async def list(self, limit: int, token: str = "") -> storage.Page:
        if not 1 <= limit <= storage.MAX_PAGE_SIZE:
            raise ValueError(f"page limit must be 1..{storage.MAX_PAGE_SIZE}, got {limit}")
        after = storage.decode_token(token)
        # One row more than asked tells whether another page follows, so the last page
        # carries an empty token instead of leading to an empty page.
        rows = self._read(
            "SELECT name, version, body FROM appimages WHERE name > ? ORDER BY name LIMIT ?",
            (after, limit + 1),
        )
        records = [_record(name, version, body) for name, version, body in rows[:limit]]
        next_token = storage.encode_token(records[-1].name) if len(rows) > limit else ""
        return storage.Page(records=records, next_token=next_token)

    async def ready(self) -> bool:
        if self._closed:
            return False
        try:
            self._read_conn.execute("SELECT 1 FROM appimages LIMIT 1").fetchall()
        except sqlite3.Error:
            return False
        return True

    async def close(self) -> None:
        """Close both connections and stop the writer thread; writes already queued
        finish first. Later calls raise ``errors.StoreUnavailable``; closing again is a
        no-op."""
        if self._closed:
            return
        self._closed = True
        try:
            # The reader first: the last connection to close checkpoints the WAL into the
            # database file, and that fsync belongs on the writer thread, not the loop.
            try:
                self._read_conn.close()
            finally:
                await asyncio.get_running_loop().run_in_executor(self._writer, self._write_conn.close)
        except sqlite3.Error as e:
            raise errors.StoreUnavailable(f"closing SQLite store {self.path!r}: {e}") from e
        finally:
            # The worker is idle now (its last job was the close above), so this join is
            # immediate rather than a blocking wait on the loop.
            self._writer.shutdown(wait=True)

    async def _write(self, txn: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``txn`` on the writer thread as one transaction."""
        return await self._call_writer(lambda conn: sql.in_transaction(conn, txn))

    async def _call_writer(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        self._check_open()
        conn = self._write_conn
        try:
            # A cancelled caller stops a write still queued; one already running completes
            # (as a request to any remote store would), and its result is dropped.
            return await asyncio.get_running_loop().run_in_executor(self._writer, fn, conn)
        except sqlite3.Error as e:
            raise errors.StoreUnavailable(f"SQLite write failed: {e}") from e

    def _read(self, sql: str, params: Sequence[Any]) -> Sequence[Any]:
        return self._read_chunks([(sql, params)])

    def _read_chunks(self, queries: Sequence[tuple[str, Sequence[Any]]]) -> Sequence[Any]:
        """Rows of every query, on the event-loop thread; several queries share one
        snapshot, so a batch never mixes states from before and after a write."""
        self._check_open()
        conn = self._read_conn
        rows: list[Any] = []
        # A lone statement is its own snapshot; only a batch pays for BEGIN and COMMIT.
        batch = len(queries) > 1
        try:
            if batch:
                conn.execute("BEGIN")
            try:
                # fetchall() runs each statement to its end: a half-read cursor would hold
                # its snapshot open, hiding later writes and blocking WAL checkpoints.
                for sql, params in queries:
                    rows.extend(conn.execute(sql, params).fetchall())
            finally:
                if batch:
                    conn.execute("COMMIT")
        except sqlite3.Error as e:
            raise errors.StoreUnavailable(f"SQLite read failed: {e}") from e
        return rows

    def _check_open(self) -> None:
        if self._closed:
            raise errors.StoreUnavailable(f"SQLite store {self.path!r} is closed")


def _select_names(count: int) -> str:
    # Only placeholders go into the text; the names are bound.
    marks = ", ".join("?" * count)
    return f"SELECT name, version, body FROM appimages WHERE name IN ({marks})"  # nosec B608


def _name_of(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    if not isinstance(name, str) or not name:
        raise errors.Invalid([errors.FieldError("metadata.name", "is required")])
    return name


def _encode(obj: Mapping[str, Any]) -> bytes:
    # Serialized on the caller's side, before the write is queued: the stored bytes are
    # the object as it was at the call, whatever the caller does with it afterwards.
    try:
        return orjson.dumps(obj, default=_plain)
    except orjson.JSONEncodeError as e:
        raise errors.Invalid([errors.FieldError("", f"cannot be stored as JSON: {e}")]) from e


def _plain(value: Any) -> Any:
    """orjson's fallback: the protocol takes any ``Mapping``, orjson only ``dict``."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"type {type(value).__name__} is not JSON serializable")


def _record(name: str, version: Any, body: bytes) -> storage.Record:
    # Decoding the stored bytes gives every caller a fresh dict of its own.
    def decode() -> dict[str, Any]:
        try:
            obj: dict[str, Any] = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise errors.StoreUnavailable(f"stored appimage {name!r} is not valid JSON: {e}") from e
        return obj

    return storage.Record(name, str(version), decode=decode)
