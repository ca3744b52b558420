"""Fixtures of the node tests: the image hack/image.sh builds, a real single-node cluster
(tests/support/k8s/node.py) with that image imported, and helm and kubectl run inside the
cluster's namespace. The helpers they wrap are tests/support/release.py's.

The node needs root, Debian's containerd, runc, CNI plugins and iptables (scripts/test
installs them) and the binaries of hack/k8s-bin.sh and hack/node-bin.sh. Without them the
tests skip saying what is missing; under ``REQUIRE_E2E=1`` (CI) they fail instead.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
from collections.abc import Iterator

import pytest

from tests.support.k8s import controlplane
from tests.support.k8s import node as node_
from tests.support.release import IMAGE_ENV, IMAGE_SCRIPT, NAMESPACE, Helm, unavailable


@pytest.fixture(scope="session")
def image_archive() -> pathlib.Path:
    """The OCI archive of our image: ``$APPIMAGE_IMAGE``, or built now by hack/image.sh."""
    given = os.environ.get(IMAGE_ENV)
    if given:
        if not pathlib.Path(given).is_file():
            unavailable(f"{IMAGE_ENV}={given} is not a file")
        return pathlib.Path(given)
    try:
        done = subprocess.run(["bash", str(IMAGE_SCRIPT)], stdout=subprocess.PIPE, text=True,
                              check=True, timeout=900)
    except (OSError, subprocess.SubprocessError) as e:
        unavailable(f"hack/image.sh failed: {e}")
    return pathlib.Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def cluster(image_archive: pathlib.Path, tmp_path_factory: pytest.TempPathFactory,
            ) -> Iterator[node_.Node]:
    missing = node_.missing_prerequisites()
    if missing:
        unavailable(f"missing on this machine: {', '.join(missing)} (see docs/testing.md)")
    try:
        k8s = controlplane.find_assets(os.environ.get(controlplane.ASSETS_ENV) or None)
        node_assets = node_.find_node_assets()
    except (controlplane.ControlPlaneError, node_.NodeError) as e:
        unavailable(str(e))
    with node_.Node([image_archive], k8s_assets=k8s, node_assets=node_assets) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def helm(cluster: node_.Node, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    k8s = controlplane.find_assets(os.environ.get(controlplane.ASSETS_ENV) or None)
    return Helm(cluster, k8s / "helm", tmp_path_factory.mktemp("values"))


@pytest.fixture(scope="session")
def namespace(cluster: node_.Node) -> str:
    """The release namespace, under the restricted Pod Security Standard (enforced)."""
    cluster.kubectl("apply", "-f", "-", input_=json.dumps({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/warn-version": "latest"}}}))
    return NAMESPACE
