"""Two replicas sharing the Kubernetes store, on the node: what one Pod's REST API writes
the other serves, and the PodDisruptionBudget keeps one of them through a drain.

The release uses an existing Secret (the platform's PKI): its CA also signed the client
certificate the REST calls present (``rest.tlsMode: mtls``, client CA unset: the serving
certificate's CA).
"""

from __future__ import annotations

import json
import pathlib
import ssl
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.builders import doc
from tests.support.k8s import node as node_
from tests.support.release import (
    FULLNAME,
    NAMESPACE,
    TLS_SECRET,
    Helm,
    await_service_routes,
    delete_appimages,
    existing_tls_secret,
    pods,
    until,
)

pytestmark = [pytest.mark.node, pytest.mark.slow]

REST_PORT = 8082


@pytest.fixture(scope="module")
def pki(cluster: node_.Node, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return tmp_path_factory.mktemp("platform-pki")


@pytest.fixture(scope="module")
def release(cluster: node_.Node, helm: Helm, namespace: str, pki: pathlib.Path) -> Iterator[None]:
    ca_bundle = existing_tls_secret(cluster, pki, TLS_SECRET)
    helm.install("store", {"store": {"type": "kubernetes"}, "replicaCount": 2,
                           "certificates": {"mode": "existingSecret", "existingSecret": {
                               "name": TLS_SECRET, "caBundle": ca_bundle}}})
    await_service_routes(cluster)
    yield
    cluster.kubectl("uncordon", node_.NODE_NAME, check=False)
    delete_appimages(cluster)
    helm.uninstall()
    cluster.kubectl("delete", "secret", "-n", NAMESPACE, TLS_SECRET, "--ignore-not-found")
    until("the release's Pods gone after uninstall", lambda: not pods(cluster), timeout=90)


def _rest(cluster: node_.Node, pki: pathlib.Path, pod_ip: str, path: str,
          body: dict[str, Any]) -> dict[str, Any]:
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.load_cert_chain(pki / "client.crt", pki / "client.key")
    conn = cluster.https(pod_ip, REST_PORT, context=context,
                         server_hostname=f"{FULLNAME}.{NAMESPACE}.svc")
    try:
        conn.request("POST", path, body=json.dumps(body),
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        answer: dict[str, Any] = json.loads(response.read())
    finally:
        conn.close()
    assert response.status == 200, answer
    return answer


def test_an_appimage_created_over_rest_on_one_pod_is_served_by_the_other(
        release: None, cluster: node_.Node, pki: pathlib.Path) -> None:
    first, second = (p["status"]["podIP"] for p in pods(cluster, include_terminating=False))
    created = _rest(cluster, pki, first, "/api/v1/appimage/create", doc("create"))
    assert created["status"]["code"] == 0, created

    answer = _rest(cluster, pki, second, "/api/v1/appimage/query", doc("query"))

    assert answer["status"]["code"] == 0, answer
    assert answer["data"]["name"] == doc("create")["name"]
    # And the API server has it: the custom resource is the store.
    got = json.loads(cluster.kubectl("get", "appimage", doc("create")["name"], "-o", "json").stdout)
    assert got["metadata"]["name"] == doc("create")["name"]


def test_a_drain_evicts_one_pod_and_the_budget_keeps_the_other_serving(
        release: None, cluster: node_.Node) -> None:
    done = cluster.kubectl("drain", node_.NODE_NAME, "--pod-selector",
                           "app.kubernetes.io/instance=appimage-webhook", "--ignore-daemonsets",
                           "--delete-emptydir-data", "--timeout=12s", check=False)

    assert done.returncode != 0, done.stdout
    assert "disruption budget" in done.stderr, done.stderr
    # The one left keeps admitting (its replacement cannot schedule on the cordoned node).
    running = [p for p in pods(cluster, include_terminating=False)
               if p["status"].get("phase") == "Running"]
    assert len(running) == 1
    await_service_routes(cluster, timeout=30)
    cluster.kubectl("uncordon", node_.NODE_NAME)
    until("two Pods Ready again", lambda: len([
        p for p in pods(cluster, include_terminating=False)
        if any(c["type"] == "Ready" and c["status"] == "True"
               for c in p["status"].get("conditions") or [])]) == 2, timeout=90)
