"""SQLiteStore: the Store contract on a real file, plus what only SQLite promises
(durability settings, restart, clear failures when the file cannot be used)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st

from tests.support import builders, store_contract
from webhook.core import errors, storage
from webhook.store import sqlite


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[sqlite.SQLiteStore]:
    opened = await sqlite.SQLiteStore.open(tmp_path / "data" / "appimage.db")
    yield opened
    await opened.close()


class TestSQLiteStore(store_contract.StoreContract):
    """The shared contract, against a SQLite file in a fresh directory."""


# --- durability ---


async def test_objects_survive_close_and_reopen(tmp_path: Path):
    path = tmp_path / "appimage.db"
    first = await sqlite.SQLiteStore.open(path)
    kept = await first.create(builders.appimage("app-a", tag="1.0"))
    kept = await first.replace(builders.appimage("app-a", tag="2.0"), kept.version)
    await first.create(builders.appimage("app-b"))
    await first.delete("app-b")
    await first.close()

    second = await sqlite.SQLiteStore.open(path)
    try:
        got = await second.get("app-a")
        assert got.version == kept.version
        store_contract.assert_holds(got, builders.appimage("app-a", tag="2.0"))
        with pytest.raises(errors.NotFound):
            await second.get("app-b")
        # Versions keep counting after a restart: the old one cannot match anything new.
        recreated = await second.create(builders.appimage("app-b"))
        assert int(recreated.version) > int(kept.version)
    finally:
        await second.close()


async def writer_pragmas(store: sqlite.SQLiteStore) -> dict[str, Any]:
    """The durability settings the store's writer connection runs with, as SQLite
    reports them (``synchronous`` 2 is FULL)."""

    def read(conn: sqlite3.Connection) -> dict[str, Any]:
        return {name: conn.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("journal_mode", "synchronous", "busy_timeout")}

    return await store._call_writer(read)


async def test_file_is_in_wal_mode_and_writes_sync_fully(store: sqlite.SQLiteStore, tmp_path: Path):
    pragmas = await writer_pragmas(store)

    assert pragmas["journal_mode"] == "wal"
    assert pragmas["synchronous"] == 2  # FULL
    assert pragmas["busy_timeout"] > 0
    # WAL is a property of the file: any other connection sees it too.
    with contextlib.closing(sqlite3.connect(tmp_path / "data" / "appimage.db")) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_a_stored_body_that_is_not_json_reads_as_store_unavailable(
        store: sqlite.SQLiteStore, tmp_path: Path):
    await store.create(builders.appimage("broken"))
    with contextlib.closing(sqlite3.connect(tmp_path / "data" / "appimage.db")) as conn:
        conn.execute("UPDATE appimages SET body = ? WHERE name = 'broken'", (b"{not json",))
        conn.commit()
    record = await store.get("broken")
    with pytest.raises(errors.StoreUnavailable, match="stored appimage 'broken' is not valid JSON"):
        record.obj  # noqa: B018 - decoded on first use


@pytest.mark.parametrize("given", [{}, {"obj": {}, "decode": dict}], ids=["neither", "both"])
def test_a_record_holds_its_object_or_decodes_it_not_both_nor_neither(given: dict[str, Any]):
    with pytest.raises(TypeError, match="exactly one of obj and decode"):
        storage.Record("a", "1", **given)


def test_a_record_decodes_once_on_first_use():
    calls: list[int] = []

    def decode() -> dict[str, Any]:
        calls.append(1)
        return {"metadata": {"name": "a"}}

    record = storage.Record("a", "1", decode=decode)
    assert calls == []
    assert record.obj is record.obj
    assert calls == [1]


async def test_open_creates_missing_parent_directories(tmp_path: Path):
    path = tmp_path / "a" / "b" / "c" / "appimage.db"

    opened = await sqlite.SQLiteStore.open(str(path))
    await opened.close()

    assert path.is_file()


# --- failures are StoreUnavailable with a message that says what to fix ---


def _parent_is_a_file(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "file").write_text("not a directory")
    return tmp_path / "file" / "sub" / "appimage.db", tmp_path / "file" / "sub"


def _path_is_a_directory(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "appimage.db").mkdir()
    return tmp_path / "appimage.db", tmp_path / "appimage.db"


def _not_a_database(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "appimage.db").write_bytes(b"this is not an SQLite database file" * 200)
    return tmp_path / "appimage.db", tmp_path / "appimage.db"


@pytest.mark.parametrize(
    ("make_path", "problem"),
    [
        pytest.param(_parent_is_a_file, "cannot create directory", id="parent-is-a-file"),
        pytest.param(_path_is_a_directory, "it is a directory", id="path-is-a-directory"),
        pytest.param(_not_a_database, "not a database", id="not-a-database"),
    ],
)
async def test_open_fails_with_store_unavailable_naming_path_and_problem(
    tmp_path: Path, make_path: Any, problem: str
):
    path, named = make_path(tmp_path)

    with pytest.raises(errors.StoreUnavailable, match=problem) as caught:
        await sqlite.SQLiteStore.open(path)

    assert repr(str(named)) in str(caught.value)
    # Nothing is left running after a failed open.
    assert not any(t.name.startswith("sqlite-writer") for t in threading.enumerate())


async def test_open_refuses_a_file_from_a_newer_schema(tmp_path: Path):
    path = tmp_path / "appimage.db"
    await (await sqlite.SQLiteStore.open(path)).close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA user_version = 99")

    with pytest.raises(errors.StoreUnavailable, match="schema version 99"):
        await sqlite.SQLiteStore.open(path)


@pytest.mark.parametrize("path", ["", ":memory:", "file::memory:?cache=shared"])
async def test_open_rejects_in_memory_paths(path: str):
    with pytest.raises(ValueError, match="plain file path"):
        await sqlite.SQLiteStore.open(path)


# --- writes ---


async def test_fifty_concurrent_creates_of_distinct_names_all_land(store: sqlite.SQLiteStore):
    names = [f"app-{i:02d}" for i in range(50)]

    created = await asyncio.gather(*(store.create(builders.appimage(n)) for n in names))

    assert sorted(r.name for r in created) == names
    assert len({r.version for r in created}) == 50
    page = await store.list(storage.MAX_PAGE_SIZE)
    assert [r.name for r in page.records] == names
    assert {r.name: r.version for r in page.records} == {r.name: r.version for r in created}


@pytest.mark.parametrize("version", ["", "abc", "01", "+1", " 1", "-1", "0", "1.0", str(2**64)], ids=repr)
async def test_replace_with_a_version_never_issued_conflicts(store: sqlite.SQLiteStore, version: str):
    created = await store.create(builders.appimage("app-a"))
    assert created.version == "1"  # so "01", "+1" and " 1" would match if parsed loosely

    with pytest.raises(errors.Conflict):
        await store.replace(builders.appimage("app-a"), version)

    assert (await store.get("app-a")).version == created.version


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param({"metadata": {}}, id="no-name"),
        pytest.param({"metadata": {"name": ""}}, id="empty-name"),
        pytest.param({"metadata": {"name": 7}}, id="name-not-a-string"),
        pytest.param({"spec": {}}, id="no-metadata"),
    ],
)
async def test_create_without_a_name_is_invalid(store: sqlite.SQLiteStore, obj: Any):
    with pytest.raises(errors.Invalid, match=r"metadata\.name"):
        await store.create(obj)


async def test_create_of_something_json_cannot_hold_is_invalid(store: sqlite.SQLiteStore):
    with pytest.raises(errors.Invalid, match="JSON"):
        await store.create(builders.appimage("app-a", image={1, 2}))

    with pytest.raises(errors.NotFound):
        await store.get("app-a")


# --- reads ---


async def test_reads_do_not_wait_for_a_writer_holding_the_lock(store: sqlite.SQLiteStore, tmp_path: Path):
    await store.create(builders.appimage("app-a", tag="1.0"))
    # Another connection takes the write lock, so the store's writer must wait for it;
    # a read that went through the writer thread would wait too.
    blocker = sqlite3.connect(tmp_path / "data" / "appimage.db", isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        pending = asyncio.ensure_future(store.create(builders.appimage("app-b")))

        got = await asyncio.wait_for(store.get("app-a"), timeout=2)

        assert got.name == "app-a"
        assert not pending.done()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert (await pending).name == "app-b"


async def test_get_many_spans_more_names_than_one_query_holds(store: sqlite.SQLiteStore):
    present = {0: "app-a", 499: "app-b", 500: "app-c", 1199: "app-d"}
    for name in present.values():
        await store.create(builders.appimage(name))
    names = [present.get(i, f"missing-{i}") for i in range(1200)]

    records = await store.get_many(names)

    assert len(records) == 1200
    assert {i: r.name for i, r in enumerate(records) if r is not None} == present


async def test_list_rejects_a_limit_outside_the_page_bounds(store: sqlite.SQLiteStore):
    for limit in (0, -1, storage.MAX_PAGE_SIZE + 1):
        with pytest.raises(ValueError, match="page limit"):
            await store.list(limit)


# --- lifecycle ---


async def test_close_stops_the_writer_and_later_calls_are_unavailable(tmp_path: Path):
    opened = await sqlite.SQLiteStore.open(tmp_path / "appimage.db")
    await opened.create(builders.appimage("app-a"))
    writers = {t for t in threading.enumerate() if t.name.startswith("sqlite-writer")}
    assert writers

    await opened.close()
    await opened.close()  # a second close is harmless

    assert not any(t.is_alive() for t in writers)
    assert await opened.ready() is False
    with pytest.raises(errors.StoreUnavailable, match="closed"):
        await opened.get("app-a")
    with pytest.raises(errors.StoreUnavailable, match="closed"):
        await opened.create(builders.appimage("app-b"))


# --- properties ---

_json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=8)
)
_json = st.recursive(
    _json_leaf,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(st.characters(exclude_categories=["Cs"]), max_size=8), children)
    ),
    max_leaves=12,
)
_names = st.lists(
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12),
    unique=True,
    max_size=12,
)


@hypothesis.settings(max_examples=30, deadline=None, database=None)
@hypothesis.given(names=_names, extra=_json, limit=st.integers(min_value=1, max_value=5))
def test_any_names_and_json_round_trip_and_list_in_code_point_order(names: list[str], extra: Any, limit: int):
    # Its own event loop and directory per example: hypothesis runs the body many times,
    # which function-scoped fixtures cannot follow.
    async def scenario(path: str) -> None:
        opened = await sqlite.SQLiteStore.open(path)
        try:
            for name in names:
                await opened.create(builders.appimage(name, extra=extra))
            listed: list[str] = []
            token = ""
            while True:
                page = await opened.list(limit, token)
                assert len(page.records) <= limit
                listed += [r.name for r in page.records]
                for record in page.records:
                    store_contract.assert_holds(record, builders.appimage(record.name, extra=extra))
                token = page.next_token
                if not token:
                    break
            assert listed == sorted(names)
        finally:
            await opened.close()

    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(scenario(os.path.join(directory, "appimage.db")))
