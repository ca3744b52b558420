"""Chart fixtures: the real helm binary (built with kube-apiserver and etcd by
hack/k8s-bin.sh), and a control plane of the chart tests' own — the chart's webhook
configurations must not intercept the AppImage writes of tests/e2e. The helpers they wrap
are tests/support/chart.py's.

Without the binaries these tests skip with the command that builds them; CI sets
``REQUIRE_E2E=1`` so a missing binary fails instead of skipping.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.chart import NAMESPACE, Helm, Kube, assets
from tests.support.k8s import controlplane


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(assets() / "helm", tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="session")
def chart_plane() -> Iterator[controlplane.ControlPlane]:
    with controlplane.ControlPlane(assets()) as plane:
        yield plane


@pytest.fixture(scope="session")
def kube(chart_plane: controlplane.ControlPlane) -> Kube:
    """Admin calls to the chart tests' API server, with the release namespace created
    under the ``restricted`` Pod Security Standard (enforced, and warned about)."""
    client = Kube(chart_plane)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": "latest",
    }}}
    answer = client.apply(namespace)
    assert answer.status in (200, 201), answer.body
    return client
