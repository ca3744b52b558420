"""The image hack/image.sh builds: its configuration, and what it does on the node —
`appimage-webhook --version` as a non-root user with a read-only root filesystem, and no
shell to run at all."""

from __future__ import annotations

import importlib.metadata
import json
import pathlib
import tarfile
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import figures
from tests.support.k8s import node as node_
from tests.support.release import NAMESPACE, until

pytestmark = [pytest.mark.node, pytest.mark.slow]

IMAGE = "docker.io/secretflow/appimage-webhook:0.1.0"
SIZE_TARGET = 80 * 2**20  # compressed, as a registry stores it


def _config(archive: pathlib.Path) -> dict[str, Any]:
    with tarfile.open(archive) as tar:
        def blob(digest: str) -> Any:
            member = tar.extractfile(f"blobs/sha256/{digest.split(':')[1]}")
            assert member is not None
            return json.load(member)
        index_file = tar.extractfile("index.json")
        assert index_file is not None
        (manifest,) = json.load(index_file)["manifests"]
        config: dict[str, Any] = blob(blob(manifest["digest"])["config"]["digest"])
    return config


def test_the_image_runs_serve_as_user_65532_and_is_small(image_archive: pathlib.Path) -> None:
    config = _config(image_archive)["config"]

    assert config["User"] == "65532:65532"
    assert config["Entrypoint"] == ["/usr/local/bin/appimage-webhook"]
    assert config["Cmd"] == ["serve"]
    size = image_archive.stat().st_size
    figures.record("node: image size, compressed", f"{size / 2**20:.1f} MiB")
    assert size <= SIZE_TARGET


def _pod(name: str, **container: Any) -> dict[str, Any]:
    """A Pod of our image under the restricted standard, run once."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"restartPolicy": "Never", "automountServiceAccountToken": False,
                     "securityContext": {"runAsNonRoot": True,
                                         "seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [{"name": "c", "image": IMAGE, "imagePullPolicy": "Never",
                                     "securityContext": {
                                         "allowPrivilegeEscalation": False,
                                         "readOnlyRootFilesystem": True,
                                         "capabilities": {"drop": ["ALL"]}},
                                     **container}]}}


@pytest.fixture
def run_pod(cluster: node_.Node, namespace: str) -> Iterator[Any]:
    names: list[str] = []

    def run(name: str, **container: Any) -> dict[str, Any]:
        names.append(name)
        cluster.kubectl("create", "-f", "-", input_=json.dumps(_pod(name, **container)))

        def finished() -> dict[str, Any] | None:
            got: dict[str, Any] = json.loads(cluster.kubectl(
                "get", "pod", "-n", NAMESPACE, name, "-o", "json").stdout)
            (status,) = got["status"].get("containerStatuses") or [{}]
            state = status.get("state", {})
            waiting = state.get("waiting", {}).get("reason", "")
            return got if "terminated" in state or waiting.endswith("Error") else None

        pod: dict[str, Any] = until(f"Pod {name} finished", finished, timeout=60)
        return pod

    yield run
    for name in names:
        cluster.kubectl("delete", "pod", "-n", NAMESPACE, name, "--wait=false", check=False)


def test_appimage_webhook_version_runs_in_the_image_as_non_root(
        cluster: node_.Node, run_pod: Any) -> None:
    pod = run_pod("version", args=["--version"])

    state = pod["status"]["containerStatuses"][0]["state"]
    assert state["terminated"]["exitCode"] == 0, state
    logs = cluster.kubectl("logs", "-n", NAMESPACE, "version").stdout
    assert logs.split() == ["appimage-webhook", importlib.metadata.version("appimage-webhook")]


def test_the_image_has_no_shell(run_pod: Any) -> None:
    pod = run_pod("shell", command=["/bin/sh", "-c", "true"])

    state = pod["status"]["containerStatuses"][0]["state"]
    message = json.dumps(state)
    assert "terminated" not in state or state["terminated"]["exitCode"] != 0, message
    assert "no such file or directory" in message, message
