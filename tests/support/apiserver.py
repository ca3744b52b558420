"""A real API server (etcd + kube-apiserver, tests/support/k8s/controlplane.py) as the
end-to-end tests use it: the AppImage CRD installed from ``webhook.crd``, our admission
webhooks registered with it (``Webhooks``: effective once the API server calls that very
server), and admin calls that keep the API server's warnings.

Rule: helpers only; the fixtures built on them are tests/e2e/conftest.py's. tests/chart,
tests/node and bench/e2e.py use them too.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import pathlib
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.support import builders, kuscia
from tests.support.k8s import controlplane
from tests.support.serverproc import ServerProcess
from webhook.core import crd, model
from webhook.core.kuscia import workloads
from webhook.store import kube as kube_client

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
MATCH_CONDITIONS = pathlib.Path(__file__).parents[2] / "charts/appimage-webhook/files/match-conditions.yaml"
CRD_NAME = crd.manifest()["metadata"]["name"]
APPIMAGES = f"/apis/{model.API_VERSION}/{model.PLURAL}"
ADMISSION_API = "/apis/admissionregistration.k8s.io/v1"
WEBHOOK_CONFIGURATION = "appimage-e2e"
"""Name of both configurations: one fixed name means one pair at a time, whoever set it."""
WEBHOOKS = {  # our path -> (configuration kind, webhook name: at least three segments)
    "/mutate": ("MutatingWebhookConfiguration", "mutate.appimages.kuscia.secretflow"),
    "/validate": ("ValidatingWebhookConfiguration", "validate.appimages.kuscia.secretflow"),
}
WEBHOOK_SWITCH_TIMEOUT = 30.0
"""Seconds the API server gets to start (or stop) calling webhooks; it takes about two."""
WORKLOADS_WEBHOOK = "validate.workloads.kuscia.secretflow"
PROBE_NAME = "e2e-webhook-probe"
REST = "/api/v1/appimage/"
REST_TIMEOUT = 30.0
_WARNING = re.compile(r'^299 - "((?:[^"\\]|\\.)*)"$')


Call = Callable[..., tuple[int, Any]]
"""How a helper calls the API server as admin: ``ControlPlane.request``, ``Node.api``."""


def ensure(call: Call, path: str, obj: dict[str, Any]) -> None:
    """POST ``obj`` to the collection ``path`` unless it exists (409)."""
    status, body = call("POST", path, obj)
    assert status in (201, 409), body


def install_crd(plane: controlplane.ControlPlane) -> None:
    ensure(plane.request, CRDS, crd.manifest())
    plane.await_crd(CRD_NAME)


def install_kuscia_kinds(call: Call) -> None:
    """Kuscia's KusciaJob, KusciaTask and KusciaDeployment served (tests/support/kuscia.py's
    CRDs), and the namespace Kuscia runs them in."""
    for kind in kuscia.PLURALS:
        ensure(call, CRDS, kuscia.manifest(kind))
    for kind in kuscia.PLURALS:
        controlplane.await_crd(call, kuscia.manifest(kind)["metadata"]["name"])
    ensure(call, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                        "metadata": {"name": kuscia.NAMESPACE}})


def delete_workloads(call: Call) -> None:
    """Every object of Kuscia's workload kinds (they hold AppImages: delete them first)."""
    for kind in kuscia.PLURALS:
        status, body = call("DELETE", kuscia.path(kind))
        assert status in (200, 404), body


def remove_kuscia_kinds(call: Call) -> None:
    delete_workloads(call)
    for kind in kuscia.PLURALS:
        status, body = call("DELETE", f"{CRDS}/{kuscia.manifest(kind)['metadata']['name']}")
        assert status in (200, 404), body


def kube_config(plane: controlplane.ControlPlane) -> kube_client.Config:
    return kube_client.Config(server=plane.url, ca_pem=plane.ca_path.read_bytes(), token=plane.token)


def delete_all(plane: controlplane.ControlPlane) -> None:
    status, body = plane.request("DELETE", "/apis/kuscia.secretflow/v1alpha1/appimages")
    assert status == 200, body


# --- our admission webhooks in the API server -------------------------------------------


class WebhookTimeout(RuntimeError):
    """The API server did not pick up a webhook configuration change in time (not an
    AssertionError, so a test expected to fail an assertion cannot swallow it)."""


def match_conditions() -> dict[str, list[dict[str, str]]]:
    """The chart's matchConditions (files/match-conditions.yaml), by webhook: ``appimages``
    and ``workloads``. The tests register exactly what the chart installs."""
    loaded: dict[str, list[dict[str, str]]] = yaml.safe_load(MATCH_CONDITIONS.read_text())
    return loaded


def _webhook(name: str, url: str, ca_pem: bytes, failure_policy: str, resources: list[str],
             scope: str, operations: list[str], conditions: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "name": name,
        "clientConfig": {"url": url, "caBundle": base64.b64encode(ca_pem).decode()},
        "rules": [{
            "apiGroups": [model.GROUP],
            "apiVersions": [model.API_VERSION.split("/")[1]],
            "resources": resources,
            "scope": scope,
            "operations": operations,
        }],
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "failurePolicy": failure_policy,
        "timeoutSeconds": 5,
        "matchPolicy": "Equivalent",
        "matchConditions": conditions,
    }


def webhook_configuration(path: str, url: str, ca_pem: bytes, failure_policy: str = "Fail",
                          links: bool = False) -> dict[str, Any]:
    """The Mutating- or ValidatingWebhookConfiguration that sends AppImage CREATE and
    UPDATE to ``url`` + ``path`` (``/mutate`` or ``/validate``), trusting ``ca_pem``, with
    the chart's matchConditions. With
    ``links`` the validating one also gets AppImage DELETE and the CREATE and UPDATE of
    Kuscia's workload kinds, as the chart registers them."""
    kind, name = WEBHOOKS[path]
    validating = links and path == "/validate"
    operations = ["CREATE", "UPDATE", "DELETE"] if validating else ["CREATE", "UPDATE"]
    conditions = match_conditions()
    webhooks = [_webhook(name, url + path, ca_pem, failure_policy, [model.PLURAL], "Cluster", operations,
                         conditions["appimages"])]
    if validating:
        webhooks.append(_webhook(WORKLOADS_WEBHOOK, url + path, ca_pem, failure_policy,
                                 sorted(workloads.PLURALS.values()), "Namespaced", ["CREATE", "UPDATE"],
                                 conditions["workloads"]))
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
            "metadata": {"name": WEBHOOK_CONFIGURATION}, "webhooks": webhooks}


def _collection(path: str) -> str:
    return f"{ADMISSION_API}/{WEBHOOKS[path][0].lower()}s"


def minimal(name: str) -> dict[str, Any]:
    """A valid AppImage without replicas, port protocol or scope, and no envFrom: what the
    CRD accepts on its own, too."""
    return builders.appimage(name, replicas=None, configTemplates={"task.conf": "x"}, containers=[
        builders.container(ports=[{"name": "global"}], configVolumeMounts=[
            {"mountPath": "/etc/kuscia/task.conf", "subPath": "task.conf"}])])


def probe_appimage() -> dict[str, Any]:
    """An AppImage the CRD accepts and only our validating webhook refuses: an env name
    with '='."""
    obj = minimal(PROBE_NAME)
    obj["spec"]["deployTemplates"][0]["spec"]["containers"][0]["env"] = [{"name": "A=B", "value": "x"}]
    return obj


def probe_webhooks(plane: controlplane.ControlPlane) -> str:
    """``refused`` (our webhook said no), ``accepted`` (no webhook was called), or what
    else the API server answered. A server-side dry run: nothing is ever stored."""
    status, body = plane.request("POST", APPIMAGES + "?dryRun=All", probe_appimage())
    message = str(body.get("message", "")) if isinstance(body, dict) else str(body)
    if status == 201:
        return "accepted"
    if status == 422 and WEBHOOKS["/validate"][1] in message:
        return "refused"
    return f"HTTP {status}: {message}"


def webhook_calls(server: ServerProcess) -> dict[str, float]:
    """How many admission requests the server answered, per path, from its /metrics."""
    with urllib.request.urlopen(server.probe_url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    calls = dict.fromkeys(WEBHOOKS, 0.0)
    for line in text.splitlines():
        if line.startswith("controller_runtime_webhook_requests_total{"):
            for path in WEBHOOKS:
                if f'webhook="{path}"' in line:
                    calls[path] += float(line.rsplit(" ", 1)[1])
    return calls


def _await(what: str, condition: Callable[[], bool], observed: Callable[[], str]) -> None:
    deadline = time.monotonic() + WEBHOOK_SWITCH_TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise WebhookTimeout(f"{what}: not within {WEBHOOK_SWITCH_TIMEOUT:g} s; "
                                 f"last probe: {observed()}")
        time.sleep(0.1)


def apply_configuration(plane: controlplane.ControlPlane, path: str, url: str, ca_pem: bytes,
                        failure_policy: str = "Fail", links: bool = False) -> None:
    """Create or repoint the configuration of ``path`` (``webhook_configuration``)."""
    manifest = webhook_configuration(path, url, ca_pem, failure_policy, links)
    status, body = plane.request("POST", _collection(path), manifest)
    if status == 409:
        item = f"{_collection(path)}/{WEBHOOK_CONFIGURATION}"
        _, current = plane.request("GET", item)
        manifest["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        status, body = plane.request("PUT", item, manifest)
    assert status in (200, 201), body


def remove_configuration(plane: controlplane.ControlPlane, path: str) -> None:
    status, body = plane.request("DELETE", f"{_collection(path)}/{WEBHOOK_CONFIGURATION}")
    assert status in (200, 404), body


class Webhooks:
    """Our webhook configurations in the API server, pointed at one server at a time.

    ``register`` creates or repoints them (``paths``: both, or only ``/validate`` as the
    chart's ``webhook.mutating=false`` installs it, the other removed) and returns once
    the API server calls that very server and only those paths (a dry-run probe is
    refused, and the server's own metrics count one call per registered path for it: a
    refusal could still come from the previous server). ``unregister`` deletes them and
    returns once the probe is accepted again.
    """

    def __init__(self, plane: controlplane.ControlPlane) -> None:
        self.plane = plane
        self.server: ServerProcess | None = None
        self.last_probe = ""

    def _probe(self) -> str:
        self.last_probe = probe_webhooks(self.plane)
        return self.last_probe

    def register(self, server: ServerProcess, *, failure_policy: str = "Fail", links: bool = False,
                 paths: tuple[str, ...] = tuple(WEBHOOKS)) -> None:
        ca_pem = server.cert_paths.ca.read_bytes()
        for path in WEBHOOKS:
            if path in paths:
                apply_configuration(self.plane, path, server.webhook_url, ca_pem, failure_policy, links)
            else:
                remove_configuration(self.plane, path)
        self.server = server

        def switched() -> bool:
            before = webhook_calls(server)
            if self._probe() != "refused":
                return False
            now = webhook_calls(server)
            return all(now[path] - before[path] == (path in paths) for path in WEBHOOKS)

        _await(f"the API server calling {server.webhook_url} at {', '.join(paths)}", switched,
               lambda: self.last_probe)

    def unregister(self) -> None:
        for path in WEBHOOKS:
            remove_configuration(self.plane, path)
        self.server = None
        _await("the API server no longer calling our webhooks", lambda: self._probe() == "accepted",
               lambda: self.last_probe)


# --- talking to the API server, with its headers ----------------------------------


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    warnings: list[str]
    """The texts of the API server's ``Warning: 299 - "…"`` headers."""

    @property
    def message(self) -> str:
        return str(self.body.get("message", ""))


def _warning_text(header: str) -> str:
    match = _WARNING.match(header)
    assert match, f"not a Kubernetes warning header: {header!r}"
    return re.sub(r"\\(.)", r"\1", match[1])


def kube(plane: controlplane.ControlPlane, method: str, path: str, body: Any = None) -> Answer:
    """Call the API server as admin: status, JSON body and warnings (``ControlPlane.request``
    drops the headers)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(plane.url + path, data=data, method=method, headers={
        "Authorization": f"Bearer {plane.token}", "Accept": "application/json",
        "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, context=plane.ssl_context(), timeout=30) as r:
            status, raw, headers = r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        status, raw, headers = e.code, e.read(), e.headers
    warnings = [_warning_text(h) for h in headers.get_all("Warning") or []]
    return Answer(status, json.loads(raw), warnings)


def stored(plane: controlplane.ControlPlane, name: str) -> dict[str, Any] | None:
    answer = kube(plane, "GET", f"{APPIMAGES}/{name}")
    if answer.status == 404:
        return None
    assert answer.status == 200, answer
    return answer.body


# --- our server on the Kubernetes backend ------------------------------------------------


def kube_server(work_dir: pathlib.Path, kubeconfig: pathlib.Path, *, name: str = "server",
                wait_ready: bool = True, extra_args: tuple[str, ...] = ()) -> ServerProcess:
    """A started server on ``--store kubernetes`` that reads ``kubeconfig``."""
    server = ServerProcess(work_dir, tls_mode="tls", extra_args=["--store", "kubernetes", *extra_args],
                           name=name, wait_ready=wait_ready)
    with pytest.MonkeyPatch.context() as env:  # the subprocess inherits os.environ
        env.setenv("KUBECONFIG", str(kubeconfig))
        server.start()
    return server


def rest(server: ServerProcess, endpoint: str, body: Any) -> dict[str, Any]:
    """POST a Kuscia REST call over TLS (no client certificate in mode tls); the answer."""
    request = urllib.request.Request(server.rest_url + REST + endpoint, method="POST",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    context = server.client_context(with_cert=False)
    with urllib.request.urlopen(request, context=context, timeout=REST_TIMEOUT) as response:
        assert response.status == 200
        answer: dict[str, Any] = json.loads(response.read())
    return answer
