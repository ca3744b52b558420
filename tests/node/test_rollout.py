"""Our Pods come and go while clients write AppImages through the API server, which
calls our webhooks with ``failurePolicy: Fail``: a failed call is a refused write.

A ``helm upgrade`` to another image digest must refuse nothing (rolling update with
maxUnavailable 0, readiness, and the shutdown delay that keeps an old Pod serving until
the Service stops sending to it). A Pod that crashes cannot drain: the calls in flight
to it fail until kube-proxy stops routing there; from then on the other replica answers
everything.
"""

from __future__ import annotations

import json
import pathlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import figures
from tests.support.k8s import node as node_
from tests.support.release import (
    AdmissionLoad,
    Helm,
    await_service_routes,
    delete_appimages,
    pods,
    until,
)

pytestmark = [pytest.mark.node, pytest.mark.slow]

REPOSITORY = "docker.io/secretflow/appimage-webhook"


@pytest.fixture(scope="module")
def release(cluster: node_.Node, helm: Helm, namespace: str) -> Iterator[None]:
    helm.install("rollout", {})
    await_service_routes(cluster)
    yield
    delete_appimages(cluster)
    helm.uninstall()
    until("the release's Pods gone after uninstall", lambda: not pods(cluster), timeout=90)


@pytest.fixture(scope="module")
def next_digest(cluster: node_.Node, image_archive: pathlib.Path,
                tmp_path_factory: pytest.TempPathFactory) -> str:
    """The same image under another digest (one more label), imported into the node."""
    out = tmp_path_factory.mktemp("next") / "next.oci.tar"
    done = subprocess.run([sys.executable, str(node_.OCI_SCRIPT), "relabel", str(image_archive),
                           str(out), "--name", f"{REPOSITORY}:next",
                           "--label", "org.opencontainers.image.revision=next"],
                          capture_output=True, text=True, check=True)
    cluster.import_image(out)
    return done.stdout.strip()


def _ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in pod["status"].get("conditions") or [])


def test_helm_upgrade_to_a_new_image_digest_under_load_refuses_no_admission(
        release: None, cluster: node_.Node, helm: Helm, next_digest: str) -> None:
    old = {p["metadata"]["name"] for p in pods(cluster)}

    with AdmissionLoad(cluster, "upgrade") as load:
        load.wait_for(20)
        helm.upgrade("rollout-next", {"image": {"digest": next_digest}})
        # Until every old Pod has shut down: its graceful exit is the risky part.
        until("the old Pods gone", lambda: not old & {p["metadata"]["name"] for p in pods(cluster)},
              timeout=120)
        load.wait_for(20)

    figures.record("node: helm upgrade under load, failed admissions",
                   f"{len(load.failures)} of {load.total}")
    assert load.failures == []
    new = pods(cluster)
    assert len(new) == 2
    for pod in new:
        assert _ready(pod)
        (status,) = pod["status"]["containerStatuses"]
        assert status["imageID"].endswith(next_digest), status


def test_a_killed_pod_under_load_refuses_nothing_once_the_other_replica_answers(
        release: None, cluster: node_.Node) -> None:
    victim = pods(cluster, include_terminating=False)[0]
    name, ip = victim["metadata"]["name"], victim["status"]["podIP"]
    container_id = victim["status"]["containerStatuses"][0]["containerID"].split("://")[1]

    def switched() -> bool:
        """The kubelet saw the crash, and the Service routes to the victim only if its new
        container is Ready."""
        (pod,) = [p for p in pods(cluster) if p["metadata"]["name"] == name]
        if pod["status"]["containerStatuses"][0]["restartCount"] < 1:
            return False
        rules = cluster.run(["iptables-save", "-t", "nat"]).stdout
        return _ready(pod) or f"{ip}:9443" not in rules

    with AdmissionLoad(cluster, "kill") as load:
        load.wait_for(20)
        victims = cluster.container_pids(container_id)
        assert victims, f"no processes found for container {container_id}"
        for pid in victims:
            cluster.kill(pid, signal.SIGKILL)
        until("the Service switched away from the killed Pod", switched, timeout=60)
        during = len(load.failures)
        load.wait_for(40)
        after = load.failures[during:]

    figures.record("node: Pod killed under load, failed admissions during the switch",
                   f"{during} of {load.total}")
    assert after == [], json.dumps(after[:5])
