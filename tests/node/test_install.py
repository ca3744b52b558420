"""`helm install` of our chart on a real node: Pods of our image Ready, and the API
server calling our webhooks through the chart's Service, as kubectl users see it.

Both certificate modes that need nothing else installed: self-managed (the default
values: the service makes its CA, keeps it in a Secret and injects the caBundle) and an
existing Secret (a platform's own PKI, caBundle given in the values). Kuscia's workload
kinds are served (tests/support/kuscia.py's CRDs) before the chart is installed, so the
links from them are guarded as in a Kuscia cluster.
"""

from __future__ import annotations

import base64
import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import figures, kuscia
from tests.support.apiserver import install_kuscia_kinds, minimal, remove_kuscia_kinds
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

CONTAINER = "spec.deployTemplates[0].spec.containers[0]"


def _values(mode: str, cluster: node_.Node, work: pathlib.Path) -> dict[str, Any]:
    if mode == "self-managed":
        return {}  # the chart's defaults
    ca_bundle = existing_tls_secret(cluster, work, TLS_SECRET)
    return {"certificates": {"mode": "existingSecret",
                             "existingSecret": {"name": TLS_SECRET, "caBundle": ca_bundle}}}


@pytest.fixture(scope="module")
def kuscia_kinds(cluster: node_.Node) -> Iterator[None]:
    """KusciaJob, KusciaTask and KusciaDeployment served, and Kuscia's namespace."""
    install_kuscia_kinds(cluster.api)
    yield
    remove_kuscia_kinds(cluster.api)


@pytest.fixture(scope="module", params=["self-managed", "existing-secret"])
def release(request: pytest.FixtureRequest, cluster: node_.Node, helm: Helm, namespace: str,
            kuscia_kinds: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    mode: str = request.param
    values = _values(mode, cluster, tmp_path_factory.mktemp(mode))
    seconds = helm.install(mode, values)
    figures.record(f"node: helm install --wait ({mode})", f"{seconds:.1f} s")
    figures.record("node: cluster up, node Ready", f"{cluster.timings['node_ready']:.1f} s")
    await_service_routes(cluster)
    yield mode
    delete_appimages(cluster)
    helm.uninstall()
    cluster.kubectl("delete", "secret", "-n", NAMESPACE, TLS_SECRET, "--ignore-not-found")
    # The next release must not count this one's Pods, still shutting down gracefully.
    until("the release's Pods gone after uninstall", lambda: not pods(cluster), timeout=90)


def test_pods_of_our_image_are_ready_with_green_probes_and_no_restarts(
        release: str, cluster: node_.Node) -> None:
    webhook_pods = pods(cluster)
    assert len(webhook_pods) == 2  # the Kubernetes store's default
    for pod in webhook_pods:
        conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert conditions["Ready"] == "True", pod["status"]
        (status,) = pod["status"]["containerStatuses"]
        assert status["ready"], status
        assert status["restartCount"] == 0, status
        assert status["image"] == "docker.io/secretflow/appimage-webhook:0.1.0"
        assert pod["spec"]["securityContext"]["runAsUser"] == 65532


def test_the_ca_bundle_is_injected_and_the_webhooks_call_the_service(
        release: str, cluster: node_.Node) -> None:
    for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"):
        config = json.loads(cluster.kubectl("get", kind, FULLNAME, "-o", "json").stdout)
        for hook in config["webhooks"]:
            client = hook["clientConfig"]
            assert client["service"]["name"] == FULLNAME
            assert "url" not in client
            assert base64.b64decode(client["caBundle"]).startswith(b"-----BEGIN CERTIFICATE-----")
            # Kuscia's workloads: our outage must not stop Kuscia's jobs (the chart's default).
            workloads = hook["name"] == "validate.workloads.kuscia.secretflow"
            assert hook["failurePolicy"] == ("Ignore" if workloads else "Fail"), hook["name"]


def test_kubectl_create_of_a_valid_appimage_stores_it_defaulted_by_our_webhook(
        release: str, cluster: node_.Node) -> None:
    obj = minimal(f"valid-{release}")
    # An empty protocol and scope: the CRD's own defaults leave them, only our webhook fills.
    obj["spec"]["deployTemplates"][0]["spec"]["containers"][0]["ports"].append(
        {"name": "inner", "protocol": "", "scope": ""})

    done = cluster.kubectl("create", "-f", "-", "-o", "json", input_=json.dumps(obj))

    stored = json.loads(done.stdout)
    assert stored["spec"]["deployTemplates"][0]["replicas"] == 1
    assert stored["spec"]["deployTemplates"][0]["spec"]["containers"][0]["ports"] == [
        {"name": "global", "protocol": "HTTP", "scope": "Local"},
        {"name": "inner", "protocol": "HTTP", "scope": "Local"},
    ]


def test_kubectl_create_of_an_invalid_appimage_is_refused_naming_every_error(
        release: str, cluster: node_.Node) -> None:
    obj = minimal(f"invalid-{release}")
    c = obj["spec"]["deployTemplates"][0]["spec"]["containers"][0]
    c["env"] = [{"name": "A=B", "value": "x"}]                  # only our webhook refuses
    c["ports"][0].update(name="Bad_Port", protocol="TCP")       # our check, and a CRD enum
    c["imagePullPolicy"] = "Sometimes"                           # a CRD enum
    fields = [f"{CONTAINER}.env[0].name", f"{CONTAINER}.ports[0].name",
              f"{CONTAINER}.ports[0].protocol", f"{CONTAINER}.imagePullPolicy"]

    done = cluster.kubectl("create", "-f", "-", input_=json.dumps(obj), check=False)

    assert done.returncode != 0
    # kubectl prints the API server's Invalid status: our causes, all of them at once (env
    # names with '=' the CRD accepts: only our webhook can have refused it).
    assert f'The AppImage "{obj["metadata"]["name"]}" is invalid' in done.stderr, done.stderr
    for field in fields:
        assert field in done.stderr, (field, done.stderr)
    got = cluster.kubectl("get", "appimage", obj["metadata"]["name"], check=False)
    assert "NotFound" in got.stderr


def test_kubectl_delete_of_an_appimage_a_running_job_uses_is_refused_naming_the_job(
        release: str, cluster: node_.Node) -> None:
    name = f"used-{release}"
    job = kuscia.job(f"train-{release}", (name, ("host",)))
    cluster.kubectl("create", "-f", "-", input_=json.dumps(kuscia.appimage(("t", "", ("main",)), name=name)))
    cluster.kubectl("create", "-f", "-", input_=json.dumps(job))
    try:
        done = cluster.kubectl("delete", "appimage", name, check=False)

        assert done.returncode != 0
        assert f"KusciaJob {kuscia.NAMESPACE}/{job['metadata']['name']}" in done.stderr, done.stderr
        assert cluster.kubectl("get", "appimage", name, check=False).returncode == 0
    finally:
        cluster.kubectl("delete", "kusciajob", "-n", kuscia.NAMESPACE, job["metadata"]["name"])
    assert cluster.kubectl("delete", "appimage", name).returncode == 0
