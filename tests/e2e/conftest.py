"""End-to-end fixtures: a real etcd + kube-apiserver (built by hack/k8s-bin.sh), the
AppImage CRD installed from ``webhook.crd``, and stores on top of it.

Without the binaries these tests skip with the command that builds them; CI sets
``REQUIRE_E2E=1`` so a missing binary fails instead of skipping.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.k8s import controlplane
from webhook import crd, kube
from webhook.store import kubernetes

CRD_NAME = crd.manifest()["metadata"]["name"]
CRD_READY_TIMEOUT = 30.0


def _assets() -> str:
    try:
        return str(controlplane.find_assets(os.environ.get(controlplane.ASSETS_ENV) or None))
    except controlplane.ControlPlaneError as e:
        if os.environ.get("REQUIRE_E2E") == "1":
            pytest.fail(f"REQUIRE_E2E=1 but the control-plane binaries are missing: {e}")
        pytest.skip(f"no kube-apiserver/etcd: {e}; build them with "
                    "`export APPIMAGE_K8S_ASSETS=$(hack/k8s-bin.sh | tail -1)`")


def install_crd(plane: controlplane.ControlPlane) -> None:
    status, body = plane.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                 crd.manifest())
    assert status in (201, 409), body
    deadline = time.monotonic() + CRD_READY_TIMEOUT
    while time.monotonic() < deadline:
        _, got = plane.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}")
        conditions = {c["type"]: c["status"] for c in (got.get("status") or {}).get("conditions") or []}
        if conditions.get("Established") == "True":
            return
        time.sleep(0.05)
    raise AssertionError(f"CRD not established in {CRD_READY_TIMEOUT}s: {got}")


@pytest.fixture(scope="session")
def control_plane() -> Iterator[controlplane.ControlPlane]:
    with controlplane.ControlPlane(_assets()) as plane:
        install_crd(plane)
        yield plane


def kube_config(plane: controlplane.ControlPlane) -> kube.Config:
    return kube.Config(server=plane.url, ca_pem=plane.ca_path.read_bytes(), token=plane.token)


def delete_all(plane: controlplane.ControlPlane) -> None:
    status, body = plane.request("DELETE", "/apis/kuscia.secretflow/v1alpha1/appimages")
    assert status == 200, body


@pytest.fixture
async def kube_store(control_plane: controlplane.ControlPlane) -> AsyncIterator[kubernetes.KubernetesStore]:
    """A Kubernetes-backed store on an empty AppImage collection."""
    delete_all(control_plane)
    store = await kubernetes.KubernetesStore.open(kube_config(control_plane))
    yield store
    await store.close()
    delete_all(control_plane)
