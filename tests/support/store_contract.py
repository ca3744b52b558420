"""The Store contract: one behaviour suite that every storage backend passes unchanged.

A backend's test module subclasses ``StoreContract`` and provides a ``store`` fixture
that yields an opened, empty ``storage.Store`` (and closes it afterwards).

Rule: test only what ``storage.Store`` promises, so the suite runs as is against SQLite and
against the Kubernetes API server. Versions are opaque strings: compared for equality,
never ordered or parsed. Backends may add metadata of their own (the API server adds
uid, resourceVersion, timestamps), so objects are compared on what the caller wrote:
``apiVersion``, ``kind``, ``metadata.name`` and ``spec``.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from tests.support import builders
from webhook.core import errors, storage


def assert_holds(record: storage.Record, expected: dict[str, Any]) -> None:
    """``record`` is ``expected`` as written, whatever metadata the backend added."""
    obj = record.obj
    assert record.name == expected["metadata"]["name"]
    assert obj["metadata"]["name"] == expected["metadata"]["name"]
    assert (obj["apiVersion"], obj["kind"]) == (expected["apiVersion"], expected["kind"])
    assert obj["spec"] == expected["spec"]


class StoreContract:
    """Behaviour every ``storage.Store`` backend must show; needs a ``store`` fixture."""

    # --- create and get ---

    async def test_create_then_get_returns_the_object_and_its_version(self, store: storage.Store):
        created = await store.create(builders.appimage("app-a"))

        got = await store.get("app-a")

        assert_holds(created, builders.appimage("app-a"))
        assert_holds(got, builders.appimage("app-a"))
        assert isinstance(created.version, str)
        assert created.version
        assert got.version == created.version

    async def test_create_twice_raises_already_exists_and_keeps_the_first(self, store: storage.Store):
        first = await store.create(builders.appimage("app-a", tag="1.0"))

        with pytest.raises(errors.AlreadyExists):
            await store.create(builders.appimage("app-a", tag="2.0"))

        got = await store.get("app-a")
        assert_holds(got, builders.appimage("app-a", tag="1.0"))
        assert got.version == first.version

    async def test_concurrent_creates_of_one_name_let_exactly_one_win(self, store: storage.Store):
        results = await asyncio.gather(
            *(store.create(builders.appimage("app-a", tag=f"{i}.0")) for i in range(5)),
            return_exceptions=True,
        )

        winners = [r for r in results if isinstance(r, storage.Record)]
        losers = [r for r in results if not isinstance(r, storage.Record)]
        assert len(winners) == 1
        assert all(isinstance(e, errors.AlreadyExists) for e in losers), losers
        got = await store.get("app-a")
        assert got.version == winners[0].version
        assert got.obj["spec"] == winners[0].obj["spec"]

    async def test_get_missing_raises_not_found(self, store: storage.Store):
        with pytest.raises(errors.NotFound):
            await store.get("app-missing")

    # --- replace ---

    async def test_replace_with_current_version_stores_the_object_and_changes_the_version(
        self, store: storage.Store
    ):
        created = await store.create(builders.appimage("app-a", tag="1.0"))

        replaced = await store.replace(builders.appimage("app-a", tag="2.0"), created.version)

        assert_holds(replaced, builders.appimage("app-a", tag="2.0"))
        assert replaced.version != created.version
        got = await store.get("app-a")
        assert_holds(got, builders.appimage("app-a", tag="2.0"))
        assert got.version == replaced.version

    async def test_replace_can_follow_replace_with_each_new_version(self, store: storage.Store):
        record = await store.create(builders.appimage("app-a", tag="1.0"))
        seen = {record.version}

        for i in range(2, 5):
            record = await store.replace(builders.appimage("app-a", tag=f"{i}.0"), record.version)
            seen.add(record.version)

        assert len(seen) == 4
        assert_holds(await store.get("app-a"), builders.appimage("app-a", tag="4.0"))

    async def test_replace_with_stale_version_conflicts_and_changes_nothing(self, store: storage.Store):
        created = await store.create(builders.appimage("app-a", tag="1.0"))
        current = await store.replace(builders.appimage("app-a", tag="2.0"), created.version)

        with pytest.raises(errors.Conflict):
            await store.replace(builders.appimage("app-a", tag="3.0"), created.version)

        got = await store.get("app-a")
        assert_holds(got, builders.appimage("app-a", tag="2.0"))
        assert got.version == current.version

    async def test_replace_with_version_from_before_delete_and_recreate_conflicts(self, store: storage.Store):
        # A version must name one state of one object: after a delete and a re-create
        # under the same name, an old version may not match the new object.
        old = await store.create(builders.appimage("app-a", tag="1.0"))
        await store.delete("app-a")
        recreated = await store.create(builders.appimage("app-a", tag="2.0"))

        with pytest.raises(errors.Conflict):
            await store.replace(builders.appimage("app-a", tag="3.0"), old.version)

        got = await store.get("app-a")
        assert_holds(got, builders.appimage("app-a", tag="2.0"))
        assert got.version == recreated.version

    async def test_replace_missing_raises_not_found(self, store: storage.Store):
        gone = await store.create(builders.appimage("app-a"))
        await store.delete("app-a")

        with pytest.raises(errors.NotFound):
            await store.replace(builders.appimage("app-a"), gone.version)

        with pytest.raises(errors.NotFound):
            await store.get("app-a")

    async def test_concurrent_replaces_from_one_version_let_exactly_one_win(self, store: storage.Store):
        created = await store.create(builders.appimage("app-a", tag="1.0"))

        results = await asyncio.gather(
            store.replace(builders.appimage("app-a", tag="2.0"), created.version),
            store.replace(builders.appimage("app-a", tag="3.0"), created.version),
            return_exceptions=True,
        )

        winners = [r for r in results if isinstance(r, storage.Record)]
        losers = [r for r in results if not isinstance(r, storage.Record)]
        assert len(winners) == 1
        assert len(losers) == 1
        assert isinstance(losers[0], errors.Conflict), losers
        got = await store.get("app-a")
        assert got.version == winners[0].version
        assert got.obj["spec"] == winners[0].obj["spec"]

    # --- delete ---

    async def test_delete_then_get_raises_not_found(self, store: storage.Store):
        await store.create(builders.appimage("app-a"))

        await store.delete("app-a")

        with pytest.raises(errors.NotFound):
            await store.get("app-a")

    async def test_delete_missing_raises_not_found(self, store: storage.Store):
        with pytest.raises(errors.NotFound):
            await store.delete("app-missing")

    async def test_delete_leaves_other_objects_alone(self, store: storage.Store):
        await store.create(builders.appimage("app-a"))
        kept = await store.create(builders.appimage("app-b"))

        await store.delete("app-a")

        assert (await store.get("app-b")).version == kept.version

    async def test_create_after_delete_stores_the_new_object(self, store: storage.Store):
        await store.create(builders.appimage("app-a", tag="1.0"))
        await store.delete("app-a")

        created = await store.create(builders.appimage("app-a", tag="2.0"))

        got = await store.get("app-a")
        assert_holds(got, builders.appimage("app-a", tag="2.0"))
        assert got.version == created.version

    # --- get_many ---

    async def test_get_many_answers_in_request_order_with_none_for_missing(self, store: storage.Store):
        for name in ("app-a", "app-b", "app-c"):
            await store.create(builders.appimage(name, tag=name))

        records = await store.get_many(["app-c", "app-missing", "app-a", "app-b"])

        assert [r.name if r else None for r in records] == ["app-c", None, "app-a", "app-b"]
        for record in records:
            if record is not None:
                assert_holds(record, builders.appimage(record.name, tag=record.name))

    async def test_get_many_answers_a_repeated_name_at_each_position(self, store: storage.Store):
        await store.create(builders.appimage("app-a"))

        first, second = await store.get_many(["app-a", "app-a"])

        assert first is not None
        assert second is not None
        assert first.version == second.version
        assert first.obj is not second.obj

    async def test_get_many_of_no_names_is_empty(self, store: storage.Store):
        assert await store.get_many([]) == []

    async def test_get_many_versions_match_get(self, store: storage.Store):
        created = await store.create(builders.appimage("app-a", tag="1.0"))
        replaced = await store.replace(builders.appimage("app-a", tag="2.0"), created.version)

        (record,) = await store.get_many(["app-a"])

        assert record is not None
        assert record.version == replaced.version
        assert_holds(record, builders.appimage("app-a", tag="2.0"))

    # --- list ---

    async def test_list_of_empty_store_is_one_empty_last_page(self, store: storage.Store):
        page = await store.list(10)

        assert list(page.records) == []
        assert page.next_token == ""

    async def test_list_pages_through_every_object_once_in_name_order(self, store: storage.Store):
        names = [f"app-{i:02d}" for i in range(25)]
        # Created out of order, so a listing in insertion order would show.
        for name in random.Random(0).sample(names, len(names)):
            await store.create(builders.appimage(name, tag=name))

        pages: list[storage.Page] = []
        token = ""
        while True:
            page = await store.list(10, token)
            pages.append(page)
            token = page.next_token
            if not token:
                break
            assert len(pages) <= 3, "listing does not end"

        assert [len(p.records) for p in pages] == [10, 10, 5]
        listed = [r.name for p in pages for r in p.records]
        assert listed == sorted(names)
        for record in (r for p in pages for r in p.records):
            assert_holds(record, builders.appimage(record.name, tag=record.name))

    async def test_list_with_room_to_spare_returns_everything_and_no_token(self, store: storage.Store):
        for name in ("app-b", "app-a"):
            await store.create(builders.appimage(name))

        page = await store.list(10)

        assert [r.name for r in page.records] == ["app-a", "app-b"]
        assert page.next_token == ""

    async def test_list_versions_match_get(self, store: storage.Store):
        created = await store.create(builders.appimage("app-a"))

        page = await store.list(10)

        assert [r.version for r in page.records] == [created.version]

    async def test_list_continues_after_the_last_name_even_if_it_was_deleted(self, store: storage.Store):
        for name in ("app-a", "app-b", "app-c"):
            await store.create(builders.appimage(name))
        first = await store.list(1)
        assert [r.name for r in first.records] == ["app-a"]

        await store.delete("app-a")
        rest = await store.list(10, first.next_token)

        assert [r.name for r in rest.records] == ["app-b", "app-c"]
        assert rest.next_token == ""

    @pytest.mark.parametrize(
        "token",
        [
            pytest.param("not-a-token", id="words"),
            pytest.param("_w", id="invalid-utf8"),
            pytest.param("~~not a token~~", id="punctuation"),
            pytest.param("!!!!", id="non-alphabet-only"),
        ],
    )
    async def test_list_with_garbage_token_raises_refused(self, store: storage.Store, token: str):
        await store.create(builders.appimage("app-a"))

        with pytest.raises(errors.Refused):
            await store.list(10, token)

    # --- returned objects are the caller's own ---

    @pytest.mark.parametrize("source", ["create", "replace", "get", "get_many", "list"])
    async def test_mutating_a_returned_object_changes_nothing_stored(self, store: storage.Store, source: str):
        created = await store.create(builders.appimage("app-a", tag="1.0"))
        expected = builders.appimage("app-a", tag="1.0")
        if source == "create":
            record = created
        elif source == "replace":
            record = await store.replace(builders.appimage("app-a", tag="1.0"), created.version)
        elif source == "get":
            record = await store.get("app-a")
        elif source == "get_many":
            (found,) = await store.get_many(["app-a"])
            assert found is not None
            record = found
        else:
            (record,) = (await store.list(10)).records

        record.obj["spec"]["image"]["tag"] = "mutated"
        record.obj["metadata"]["name"] = "mutated"

        assert_holds(await store.get("app-a"), expected)
        (listed,) = (await store.list(10)).records
        assert_holds(listed, expected)

    async def test_mutating_the_written_object_after_the_call_changes_nothing_stored(
            self, store: storage.Store):
        obj = builders.appimage("app-a", tag="1.0")
        created = await store.create(obj)
        obj["spec"]["image"]["tag"] = "mutated"

        assert_holds(await store.get("app-a"), builders.appimage("app-a", tag="1.0"))

        replacement = builders.appimage("app-a", tag="2.0")
        await store.replace(replacement, created.version)
        replacement["spec"]["image"]["tag"] = "mutated"

        assert_holds(await store.get("app-a"), builders.appimage("app-a", tag="2.0"))

    # --- health ---

    async def test_ready_when_open(self, store: storage.Store):
        assert await store.ready() is True
