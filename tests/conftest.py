"""Shared fixtures: a valid AppImage to break (tests/support/builders.py makes the rest), and
app clients; and the refusal to test a stale compiled module (tests/support/native.py)."""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import test_utils, web

# The shared helpers' asserts explain a failure as a test's own do (pytest rewrites only
# test modules, conftests and plugins unless told): registered before the first import.
pytest.register_assert_rewrite("tests.support")

from tests.support import builders  # noqa: E402
from tests.support.native import ROOT, native_sources, stale_extensions  # noqa: E402
from webhook.admission import webhooks  # noqa: E402
from webhook.core import api, podspec  # noqa: E402
from webhook.ops import metrics, routing  # noqa: E402
from webhook.rest import endpoints  # noqa: E402
from webhook.store import sqlite  # noqa: E402

# Prints what the robustness tests measured ("guarantees") at the end of the run.
pytest_plugins = ("tests.support.figures",)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Refuse to test an extension module older than its source: an editable install
    compiles the hot path next to the sources (setup.py), and Python imports the
    extension first, so an edit not yet rebuilt would go untested."""
    stale = [str(so.relative_to(ROOT)) for so in stale_extensions(ROOT / "webhook", native_sources())]
    if stale:
        pytest.exit(f"compiled modules older than their sources, or no longer compiled: "
                    f"{', '.join(stale)}; delete them and rebuild with `pip install -e .` "
                    "(scripts/test does)", returncode=2)


@pytest.fixture
def appimage() -> dict[str, Any]:
    """A fresh copy of a valid AppImage custom resource to break in a test."""
    return builders.doc_appimage()


@pytest.fixture
def clean_appimage(appimage: dict[str, Any]) -> dict[str, Any]:
    """``appimage`` with an image ID Kuscia's agent can match: valid, and no warning."""
    appimage["spec"]["image"]["id"] = builders.IMAGE_DIGEST
    return appimage


@pytest.fixture
def container(appimage: dict[str, Any]) -> dict[str, Any]:
    """The first container of ``appimage`` (the same dict: edit it to edit the object)."""
    container: dict[str, Any] = appimage["spec"]["deployTemplates"][0]["spec"]["containers"][0]
    return container


@pytest.fixture
async def store(tmp_path: pathlib.Path) -> AsyncIterator[sqlite.SQLiteStore]:
    opened = await sqlite.SQLiteStore.open(tmp_path / "appimage.db")
    yield opened
    await opened.close()


ClientFactory = Callable[..., Any]


class RoutesServer(test_utils.BaseTestServer):
    """aiohttp's test server for a listener's ``routing.Routes`` (it has ones for a
    ``web.Application`` and a bare handler)."""

    def __init__(self, routes: routing.Routes) -> None:
        self.routes = routes
        super().__init__()

    async def _make_runner(self, **kwargs: Any) -> web.ServerRunner:
        return web.ServerRunner(self.routes.server(**kwargs))


@pytest.fixture
def routes_client(aiohttp_client: ClientFactory) -> Callable[[routing.Routes], Any]:
    """A coroutine function: the test client of a listener's routes."""
    async def client(routes: routing.Routes) -> test_utils.TestClient:
        made: test_utils.TestClient = await aiohttp_client(RoutesServer(routes))
        return made

    return client


@pytest.fixture
def body_limit() -> int:
    """The body limit of ``rest_client`` and ``webhook_client``, in bytes: small, so that
    a test goes past it cheaply."""
    return 64 * 1024


@pytest.fixture
async def rest_client(routes_client: ClientFactory, store: sqlite.SQLiteStore,
                      body_limit: int) -> test_utils.TestClient:
    """The REST routes over a fresh SQLite store, no token, ``body_limit``."""
    client: test_utils.TestClient = await routes_client(endpoints.routes(
        api.AppImages(store, podspec.checker()), figures=metrics.Metrics(), token=None,
        body_limit=body_limit, timeout=5.0))
    return client


@pytest.fixture
async def webhook_client(routes_client: ClientFactory, body_limit: int) -> test_utils.TestClient:
    client: test_utils.TestClient = await routes_client(webhooks.routes(
        checker=podspec.checker(), figures=metrics.Metrics(), body_limit=body_limit, timeout=5.0))
    return client
