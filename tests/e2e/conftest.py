"""End-to-end fixtures: a real etcd + kube-apiserver (built by hack/k8s-bin.sh), the
AppImage CRD installed from ``webhook.crd``, stores on top of it, and our admission
webhooks registered with it (``webhooks``: the API server calls a running server).
The helpers they wrap are tests/support/apiserver.py's.

Without the binaries these tests skip with the command that builds them; CI sets
``REQUIRE_E2E=1`` so a missing binary fails instead of skipping.
"""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.apiserver import Webhooks, delete_all, install_crd, kube_config
from tests.support.k8s import controlplane
from tests.support.serverproc import ServerProcess
from webhook.store import kubernetes


@pytest.fixture(scope="session")
def control_plane() -> Iterator[controlplane.ControlPlane]:
    with controlplane.ControlPlane(controlplane.required_assets()) as plane:
        install_crd(plane)
        yield plane


@pytest.fixture(scope="module")
def kubeconfig(control_plane: controlplane.ControlPlane,
               tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """An admin kubeconfig of the control plane, for servers on ``--store kubernetes``."""
    return control_plane.write_kubeconfig(tmp_path_factory.mktemp("kube") / "kubeconfig")


@pytest.fixture
async def kube_store(control_plane: controlplane.ControlPlane) -> AsyncIterator[kubernetes.KubernetesStore]:
    """A Kubernetes-backed store on an empty AppImage collection."""
    delete_all(control_plane)
    store = await kubernetes.KubernetesStore.open(kube_config(control_plane))
    yield store
    await store.close()
    delete_all(control_plane)


@pytest.fixture(scope="module")
def webhook_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The server the API server calls: TLS, its own dev CA (SAN 127.0.0.1), the default
    SQLite store. A module that needs another server overrides this fixture."""
    with ServerProcess(tmp_path_factory.mktemp("webhook-server"), tls_mode="tls") as server:
        yield server


@pytest.fixture(scope="module")
def webhooks(control_plane: controlplane.ControlPlane,
             webhook_server: ServerProcess) -> Iterator[Webhooks]:
    """Our mutating and validating webhooks, effective, calling ``webhook_server``; removed
    (and no longer called) after the module."""
    hooks = Webhooks(control_plane)
    hooks.register(webhook_server)
    yield hooks
    hooks.unregister()
