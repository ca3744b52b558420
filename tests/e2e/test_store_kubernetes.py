"""The store contract, unchanged, against the real API server; and its own failures."""

from __future__ import annotations

import pytest

from tests.support.store_contract import StoreContract
from webhook.core import errors
from webhook.store import kube, kubernetes

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


class TestKubernetesStore(StoreContract):
    @pytest.fixture
    def store(self, kube_store):
        return kube_store


async def test_an_unreachable_api_server_is_store_unavailable_quickly():
    from tests.support.k8s.controlplane import free_ports

    config = kube.Config(server=f"https://127.0.0.1:{free_ports(1)[0]}")
    store = kubernetes.KubernetesStore(kube.Client(config, timeout=1.0))
    with pytest.raises(errors.StoreUnavailable, match="unreachable"):
        await store.get("x")
    assert await store.ready() is False
    await store.close()
