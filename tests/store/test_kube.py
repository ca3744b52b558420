"""The Kubernetes client raises its own errors; the store wraps them at its boundary."""

from __future__ import annotations

import pathlib
import socket

import pytest

from webhook.core import errors
from webhook.store import kube, kubernetes


@pytest.fixture
def closed_server() -> kube.Config:
    """An API server address on loopback where nothing listens: refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return kube.Config(server=f"https://127.0.0.1:{port}")


async def test_an_unreachable_api_server_is_the_clients_unreachable(closed_server):
    client = kube.Client(closed_server)
    with pytest.raises(kube.Unreachable, match="unreachable"):
        await client.request("GET", "/version")
    await client.close()


async def test_an_unreadable_token_file_is_credentials_unreadable(closed_server, tmp_path: pathlib.Path):
    config = kube.Config(server=closed_server.server, token_file=tmp_path / "missing")
    client = kube.Client(config)
    with pytest.raises(kube.CredentialsUnreadable, match="missing"):
        await client.request("GET", "/version")
    await client.close()


async def test_the_store_turns_client_errors_into_store_unavailable(closed_server):
    store = kubernetes.KubernetesStore(kube.Client(closed_server))
    with pytest.raises(errors.StoreUnavailable, match="unreachable") as caught:
        await store.get("x")
    assert isinstance(caught.value.__cause__, kube.Unreachable)
    await store.close()


async def test_the_store_is_not_ready_when_the_client_fails(closed_server):
    store = kubernetes.KubernetesStore(kube.Client(closed_server))
    assert await store.ready() is False
    await store.close()
