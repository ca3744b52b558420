"""The index of AppImages a workload review reads (``kuscia.Index``), kept by LIST and
WATCH of a real API server: what it holds follows creates, updates and deletes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from tests.support.apiserver import APPIMAGES, delete_all, kube_config
from tests.support.k8s.controlplane import ControlPlane
from tests.support.kuscia import appimage
from webhook.store import kube, kuscia

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FOLLOW_TIMEOUT = 10.0
"""Seconds the index gets to see a change: liveness, not speed."""


@pytest.fixture
async def index(control_plane: ControlPlane) -> AsyncIterator[kuscia.Index]:
    delete_all(control_plane)
    status, body = control_plane.request("POST", APPIMAGES, appimage(("t", "host", ("main",)), name="before"))
    assert status == 201, body
    client = kube.Client(kube_config(control_plane))
    kept = kuscia.Index(client)
    task = asyncio.create_task(kept.run())
    await until(lambda: kept.synced)
    yield kept
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await client.close()
    delete_all(control_plane)


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(FOLLOW_TIMEOUT):
        while not condition():  # noqa: ASYNC110 (the index has no event to wait on)
            await asyncio.sleep(0.02)


def roles(index: kuscia.Index, name: str) -> list[str] | None:
    kept = index.get(name)
    return None if kept is None else [t["role"] for t in kept["spec"]["deployTemplates"]]


async def test_the_index_starts_with_what_is_stored(index: kuscia.Index) -> None:
    assert roles(index, "before") == ["host"]
    assert len(index) == 1


async def test_the_index_follows_a_create_an_update_and_a_delete(
        index: kuscia.Index, control_plane: ControlPlane) -> None:
    obj = appimage(("t", "host", ("main",)), name="later")
    status, created = control_plane.request("POST", APPIMAGES, obj)
    assert status == 201, created
    await until(lambda: roles(index, "later") == ["host"])

    created["spec"]["deployTemplates"][0]["role"] = "guest"
    status, body = control_plane.request("PUT", f"{APPIMAGES}/later", created)
    assert status == 200, body
    await until(lambda: roles(index, "later") == ["guest"])

    status, body = control_plane.request("DELETE", f"{APPIMAGES}/later")
    assert status == 200, body
    await until(lambda: index.get("later") is None)
    assert roles(index, "before") == ["host"]
