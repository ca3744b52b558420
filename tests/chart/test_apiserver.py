"""The rendered chart in a real kube-apiserver, and the service running as the chart's
ServiceAccount with self-managed certificates.

The release (default values: Kubernetes store, self-managed certificates) is rendered
with ``webhook.url`` pointing at a local port, server-side applied object by object
into a namespace that enforces the ``restricted`` Pod Security Standard, and then the
service is started with the Deployment's own arguments and a token of the chart's
ServiceAccount. It must create its Secret, fill ``caBundle`` of both webhook
configurations, and answer the API server's calls over TLS — also while its
certificate is renewed under it.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime
import ipaddress
import json
import pathlib
import ssl
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import oid

from tests.support import builders, pki
from tests.support.apiserver import APPIMAGES, probe_webhooks, webhook_calls
from tests.support.chart import CHART, CI_VALUES, CUSTOM_KINDS, NAMESPACE, RELEASE, Helm, Kube, find, is_hook
from tests.support.k8s import controlplane
from tests.support.serverproc import ServerProcess
from webhook.app import server
from webhook.ops import certificates, selfcert, settings
from webhook.store import kube as webhook_kube

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FULLNAME = RELEASE
SECRET = f"{FULLNAME}-certs"
CONFIGURATIONS = {
    "MutatingWebhookConfiguration": "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
    "ValidatingWebhookConfiguration": "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
}
# Helm's install order, for the kinds the chart has: the CRD before anything could use it.
ORDER = ["CustomResourceDefinition", "ServiceAccount", "Secret", "PersistentVolumeClaim",
         "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Service", "Deployment",
         "PodDisruptionBudget", "NetworkPolicy", "MutatingWebhookConfiguration",
         "ValidatingWebhookConfiguration"]
CHECK_INTERVAL = 0.5
"""certificates.checkInterval for the test release: renewals show up within a second."""
DEADLINE = 20.0
ROTATION_MIN_CALLS = 20
DAY = datetime.timedelta(days=1)
CA = tuple[ec.EllipticCurvePrivateKey, x509.Certificate]


@dataclasses.dataclass
class Release:
    objects: list[dict[str, Any]]
    applied: dict[str, tuple[int, list[str]]]
    """kind/name -> (HTTP status, warnings) of its server-side apply."""
    kube: Kube
    service_account: Kube
    server: ServerProcess
    webhook_port: int


def _ordered(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(objects, key=lambda o: ORDER.index(o["kind"]))


def _kube_version(kube: Kube) -> str:
    return str(kube.get("/version")["gitVersion"]).lstrip("v").split("-")[0]


def _token(kube: Kube, service_account: str) -> str:
    answer = kube.call("POST", f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{service_account}/token",
                       {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                        "spec": {"expirationSeconds": 3600}})
    assert answer.status == 201, answer.body
    return str(answer.body["status"]["token"])


def _kubeconfig(path: pathlib.Path, plane: controlplane.ControlPlane, token: str) -> pathlib.Path:
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "chart",
        "clusters": [{"name": "chart", "cluster": {"server": plane.url,
                                                   "certificate-authority": str(plane.ca_path)}}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "chart", "context": {"cluster": "chart", "user": "sa"}}],
    }))
    path.chmod(0o600)
    return path


def _await(what: str, condition: Any, limit: float = DEADLINE) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {limit:g} s")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def release(helm: Helm, kube: Kube, chart_plane: controlplane.ControlPlane,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Release]:
    port = controlplane.free_ports(1)[0]
    objects = helm.render(set_=(f"webhook.url=https://127.0.0.1:{port}",
                                f"certificates.checkInterval={CHECK_INTERVAL}"),
                          kube_version=_kube_version(kube))
    applied: dict[str, tuple[int, list[str]]] = {}
    for obj in _ordered([o for o in objects if not is_hook(o)]):
        answer = kube.apply(obj)
        applied[f"{obj['kind']}/{obj['metadata']['name']}"] = (answer.status, answer.warnings)
        assert answer.status in (200, 201), f"{obj['kind']}/{obj['metadata']['name']}: {answer.body}"
        if obj["kind"] == "CustomResourceDefinition":
            kube.await_established(obj)

    # The service as the Deployment runs it, with the ServiceAccount's token; only where
    # it listens, keeps its files and how fast it stops are the test's.
    work = tmp_path_factory.mktemp("chart-release")
    sa_name = find(objects, "ServiceAccount")["metadata"]["name"]
    token = _token(kube, sa_name)
    chart_args = find(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert chart_args[0] == "serve"
    extra = [*chart_args[1:], f"--webhook-addr=127.0.0.1:{port}", "--rest-addr=127.0.0.1:0",
             "--probe-addr=127.0.0.1:0", "--grpc-addr=127.0.0.1:0", f"--cert-dir={work / 'certs'}",
             "--cert-dns-name=127.0.0.1", "--shutdown-delay=0"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KUBECONFIG", str(_kubeconfig(work / "kubeconfig", chart_plane, token)))
        with ServerProcess(work, extra_args=extra, name="chart-server") as process:
            yield Release(objects, applied, kube, kube.as_token(token), process, port)
    for path in CONFIGURATIONS.values():
        kube.call("DELETE", f"{path}/{FULLNAME}")


# --- the API server accepts the chart -------------------------------------------------------


def test_every_object_of_the_release_is_accepted_without_warnings(release):
    kinds = {key.split("/")[0] for key in release.applied}
    assert kinds == {o["kind"] for o in release.objects if not is_hook(o)}
    for key, (status, warnings) in release.applied.items():
        assert status in (200, 201), key
        assert warnings == [], f"{key}: {warnings}"  # e.g. Pod Security 'restricted' warnings


def _pod(template_spec: dict[str, Any], name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": template_spec}


def test_the_pods_pass_the_enforced_restricted_pod_security_standard(release):
    kube = release.kube
    pods = f"/api/v1/namespaces/{NAMESPACE}/pods"
    deployment_pod = find(release.objects, "Deployment")["spec"]["template"]["spec"]
    test_pod = find(release.objects, "Pod", f"{FULLNAME}-test")
    for pod in (_pod(deployment_pod, "deployment-pod"), test_pod):
        answer = kube.call("POST", pods, pod, params={"dryRun": "All"})
        assert answer.status == 201, answer.body
        assert answer.warnings == []
    # The control: the namespace does enforce it.
    loose = _pod({"containers": [{"name": "c", "image": "busybox"}]}, "loose")
    answer = kube.call("POST", pods, loose, params={"dryRun": "All"})
    assert answer.status == 403
    assert "restricted" in answer.body["message"]


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name.removesuffix("-values.yaml"))
def test_every_ci_variant_is_accepted_by_the_api_server(release, helm, values):
    """Server-side dry runs (nothing stored); kinds of CRDs this server lacks are skipped."""
    kube = release.kube
    objects = helm.render(values, kube_version=_kube_version(kube))
    checked = 0
    for obj in objects:
        if (obj["apiVersion"], obj["kind"]) in CUSTOM_KINDS:
            continue
        if obj["kind"] == "Pod":  # the helm test hook: created, not applied
            answer = kube.call("POST", f"/api/v1/namespaces/{NAMESPACE}/pods", obj, params={"dryRun": "All"})
        else:
            answer = kube.apply(obj, dry_run=True)
        where = f"{values.name}: {obj['kind']}/{obj['metadata']['name']}"
        assert answer.status in (200, 201), f"{where}: {answer.body}"
        assert answer.warnings == [], f"{where}: {answer.warnings}"
        checked += 1
    assert checked >= 8


def test_helm_accepts_the_chart_against_the_cluster_and_notes_say_how_to_reach_the_api(
        release, helm, tmp_path):
    plane = release.kube.plane
    kubeconfig = plane.write_kubeconfig(tmp_path / "admin-kubeconfig")
    # crd.install=false: helm does not adopt the CRD the release fixture applied (nor
    # one Kuscia installed) without its ownership annotations.
    output = helm.run("install", "notes", str(CHART), "--namespace", NAMESPACE, "--set", "crd.install=false",
                      "--dry-run=server", "--kubeconfig", str(kubeconfig))
    notes = output.split("NOTES:", 1)[1]
    assert f"https://notes-appimage-webhook.{NAMESPACE}.svc:8082" in notes
    assert f"kubectl -n {NAMESPACE} port-forward service/notes-appimage-webhook 8082:8082" in notes
    assert "/api/v1/appimage/list" in notes
    assert "client certificate" in notes


# --- self-managed certificates ---------------------------------------------------------------


def _secret(kube: Kube) -> dict[str, Any]:
    body: dict[str, Any] = kube.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/{SECRET}")
    return body


def _ca_bundles(kube: Kube) -> list[str]:
    return [hook["clientConfig"].get("caBundle", "")
            for path in CONFIGURATIONS.values()
            for hook in kube.get(f"{path}/{FULLNAME}")["webhooks"]]


def test_the_service_creates_its_secret_and_fills_ca_bundle_of_both_configurations(release):
    secret = _secret(release.kube)
    assert secret["type"] == "kubernetes.io/tls"
    assert set(secret["data"]) == {"ca.crt", "ca.key", "tls.crt", "tls.key"}
    bundles = _ca_bundles(release.kube)
    assert len(bundles) == 3  # mutating; validating AppImages, and Kuscia's workloads
    assert set(bundles) == {secret["data"]["ca.crt"]}
    served = x509.load_pem_x509_certificate(release.server.cert_paths.server_cert.read_bytes())
    assert served.public_bytes(serialization.Encoding.PEM) == base64.b64decode(secret["data"]["tls.crt"])


def test_the_api_server_calls_both_webhooks_over_tls(release):
    kube = release.kube
    before = webhook_calls(release.server)
    _await("the API server refusing through our validating webhook",
           lambda: probe_webhooks(kube.plane) == "refused")
    appimage = builders.appimage("chart-split", containers=[builders.container(envFrom=[
        {"prefix": "P_", "configMapRef": {"name": "cm"}, "secretRef": {"name": "s"}}])])
    answer = kube.call("POST", APPIMAGES, appimage)
    assert answer.status == 201, answer.body
    env_from = answer.body["spec"]["deployTemplates"][0]["spec"]["containers"][0]["envFrom"]
    assert env_from == [{"prefix": "P_", "configMapRef": {"name": "cm"}},
                        {"prefix": "P_", "secretRef": {"name": "s"}}]  # split by /mutate
    assert any("split into two entries" in w for w in answer.warnings)
    after = webhook_calls(release.server)
    assert after["/mutate"] > before["/mutate"]
    assert after["/validate"] > before["/validate"]
    assert kube.call("DELETE", f"{APPIMAGES}/chart-split").status == 200


def _client_context(release: Release, tmp_path: pathlib.Path) -> ssl.SSLContext:
    """mtls: a client certificate signed by the service's own CA, from its Secret."""
    data = {k: base64.b64decode(v) for k, v in _secret(release.kube)["data"].items()}
    ca_key = serialization.load_pem_private_key(data["ca.key"], password=None)
    ca_cert = x509.load_pem_x509_certificates(data["ca.crt"])[0]
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key, cert = certificates.issue_client((ca_key, ca_cert), "chart-test")
    (tmp_path / "ca.crt").write_bytes(data["ca.crt"])
    (tmp_path / "client.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "client.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return pki.client_context(tmp_path / "ca.crt", tmp_path / "client.crt", tmp_path / "client.key")


def _rest(release: Release, context: ssl.SSLContext, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(f"{release.server.rest_url}/api/v1/appimage/{operation}",
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, context=context, timeout=10) as r:
        answer: dict[str, Any] = json.load(r)
    return answer


def test_the_rest_api_stores_appimages_with_the_charts_rbac(release, tmp_path):
    """REST over mtls -> the Kubernetes store as the ServiceAccount -> the API server ->
    our own webhooks: every verb the ClusterRole grants is used."""
    context = _client_context(release, tmp_path)
    assert _rest(release, context, "create", builders.rest_appimage("chart-rest"))["status"]["code"] == 0
    update = {"name": "chart-rest", "image": {"name": "secretflow/app", "tag": "1.1"}}
    assert _rest(release, context, "update", update)["status"]["code"] == 0
    query = _rest(release, context, "query", {"name": "chart-rest"})
    assert query["data"]["image"]["tag"] == "1.1"
    listed = _rest(release, context, "list", {})
    assert [a["name"] for a in listed["data"]["appimage_list"]] == ["chart-rest"]
    assert _rest(release, context, "delete", {"name": "chart-rest"})["status"]["code"] == 0
    stored = release.kube.call("GET", f"{APPIMAGES}/chart-rest")
    assert stored.status == 404


@pytest.mark.parametrize(("method", "path"), [
    ("GET", f"/api/v1/namespaces/{NAMESPACE}/secrets"),
    ("GET", f"/api/v1/namespaces/{NAMESPACE}/secrets/other"),
    ("DELETE", f"/api/v1/namespaces/{NAMESPACE}/secrets/{SECRET}"),
    ("GET", "/api/v1/namespaces/kube-system/secrets/" + SECRET),
    ("GET", CONFIGURATIONS["MutatingWebhookConfiguration"]),
    ("GET", CONFIGURATIONS["ValidatingWebhookConfiguration"] + "/someone-elses"),
    ("DELETE", CONFIGURATIONS["MutatingWebhookConfiguration"] + "/" + FULLNAME),
    ("PATCH", f"{APPIMAGES}/anything"),
    ("GET", f"/api/v1/namespaces/{NAMESPACE}/pods"),
    ("POST", f"/api/v1/namespaces/{NAMESPACE}/configmaps"),
], ids=lambda v: v if v in ("GET", "POST", "PATCH", "DELETE") else "/".join(v.split("/")[-2:]))
def test_the_service_account_may_do_nothing_else(release, method, path):
    body = {} if method in ("POST", "PATCH") else None
    answer = release.service_account.call(method, path, body, content_type=(
        "application/merge-patch+json" if method == "PATCH" else "application/json"))
    assert answer.status == 403, answer.body


# --- renewal with no failed call ---------------------------------------------------------------


def _served_serial(port: int) -> int:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (ssl.create_connection(("127.0.0.1", port), timeout=5) as sock,
          context.wrap_socket(sock) as tls_sock):
        der = tls_sock.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


REVIEW = builders.review(builders.appimage("hammer"), uid="handshake")


class Hammer(threading.Thread):
    """Admission calls back to back, each of which must succeed: through the API server
    (dry-run creates; it keeps its connections to the webhook alive), or, with
    ``handshakes``, each on a new TLS connection that trusts only the caBundle the
    webhook configuration holds at that moment — what a new API-server connection does."""

    def __init__(self, kube: Kube, port: int, *, handshakes: bool = False) -> None:
        super().__init__(daemon=True)
        self.kube = kube
        self.port = port
        self.handshakes = handshakes
        self.stop = threading.Event()
        self.calls = 0
        self.failures: list[str] = []

    def _through_api_server(self) -> str | None:
        answer = self.kube.call("POST", APPIMAGES, REVIEW["request"]["object"], params={"dryRun": "All"})
        return None if answer.status == 201 else f"HTTP {answer.status}: {answer.body}"

    def _new_connection(self) -> str | None:
        bundle = base64.b64decode(_ca_bundles(self.kube)[1]).decode()
        context = ssl.create_default_context(cadata=bundle)
        request = urllib.request.Request(f"https://127.0.0.1:{self.port}/validate", method="POST",
                                         data=json.dumps(REVIEW).encode(),
                                         headers={"Content-Type": "application/json", "Connection": "close"})
        try:
            with urllib.request.urlopen(request, context=context, timeout=5) as r:
                allowed = json.load(r)["response"]["allowed"]
        except (OSError, ValueError) as e:
            return f"{type(e).__name__}: {e}"
        return None if allowed is True else "not allowed"

    def run(self) -> None:
        call = self._new_connection if self.handshakes else self._through_api_server
        while not self.stop.is_set():
            failure = call()
            self.calls += 1
            if failure:
                self.failures.append(failure)

    def calls_after(self, count: int) -> None:
        target = self.calls + count
        _await(f"{count} more admission calls", lambda: self.calls >= target or bool(self.failures))


def _put_serving(kube: Kube, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
    """Another writer (a replica, an operator) replaces the serving pair in the Secret."""
    secret = _secret(kube)
    secret["data"]["tls.crt"] = base64.b64encode(cert.public_bytes(serialization.Encoding.PEM)).decode()
    secret["data"]["tls.key"] = base64.b64encode(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())).decode()
    answer = kube.call("PUT", f"/api/v1/namespaces/{NAMESPACE}/secrets/{SECRET}", secret)
    assert answer.status == 200, answer.body


def _ca(kube: Kube) -> CA:
    data = _secret(kube)["data"]
    key = serialization.load_pem_private_key(base64.b64decode(data["ca.key"]), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key, x509.load_pem_x509_certificates(base64.b64decode(data["ca.crt"]))[0]


def _expiring(ca: CA) -> CA:
    """A serving certificate of ``ca`` with a tenth of its life left."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(oid.NameOID.COMMON_NAME, "expiring")]))
            .issuer_name(ca[1].subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - 9 * DAY).not_valid_after(now + DAY)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca[0], hashes.SHA256()))
    return key, cert


def test_renewals_under_load_fail_no_admission_call(release):
    kube = release.kube
    _await("webhooks effective", lambda: probe_webhooks(kube.plane) == "refused")
    bundles = _ca_bundles(kube)
    ca = _ca(kube)
    original = _served_serial(release.webhook_port)
    hammers = [Hammer(kube, release.webhook_port), Hammer(kube, release.webhook_port, handshakes=True)]
    for hammer in hammers:
        hammer.start()

    def calls_after(count: int) -> None:
        for hammer in hammers:
            hammer.calls_after(count)

    try:
        calls_after(ROTATION_MIN_CALLS)

        # Another replica renewed: this one adopts exactly that certificate.
        names = [n for n in release.server.argv if n.startswith("--cert-dns-name=")]
        dns = [n for arg in names for n in arg.split("=", 1)[1].split(",") if not n[0].isdigit()]
        adopted_key, adopted = certificates.issue_server(ca, dns, ["127.0.0.1"], days=30)
        _put_serving(kube, adopted_key, adopted)
        _await("the server serving the other replica's certificate",
               lambda: _served_serial(release.webhook_port) == adopted.serial_number)
        calls_after(ROTATION_MIN_CALLS)

        # A certificate near its expiry: the service renews it, under the same CA.
        expiring_key, expiring = _expiring(ca)
        _put_serving(kube, expiring_key, expiring)
        _await("the service renewing the expiring certificate", lambda: _served_serial(
            release.webhook_port) not in (original, adopted.serial_number, expiring.serial_number))
        calls_after(ROTATION_MIN_CALLS)
    finally:
        for hammer in hammers:
            hammer.stop.set()
        for hammer in hammers:
            hammer.join(timeout=10)
    for hammer in hammers:
        assert hammer.failures == [], hammer.failures[:3]
        assert hammer.calls >= 3 * ROTATION_MIN_CALLS
    renewed = x509.load_pem_x509_certificate(base64.b64decode(_secret(kube)["data"]["tls.crt"]))
    assert renewed.not_valid_after_utc - datetime.datetime.now(datetime.UTC) > datetime.timedelta(days=300)
    assert _ca_bundles(kube) == bundles  # renewals keep the CA: caBundle did not change


# --- readiness waits for the certificates --------------------------------------------------------


async def test_readiness_stays_false_until_the_certificates_exist(chart_plane, kube, tmp_path, monkeypatch):
    """In process: a Secret in a namespace that does not exist yet cannot be written, so
    there are no certificates and the service is not ready; once it can, it is."""
    namespace = "appimage-late"
    monkeypatch.setenv("KUBECONFIG", str(chart_plane.write_kubeconfig(tmp_path / "kubeconfig")))
    config = settings.Settings(
        rest_addr=settings.Address("127.0.0.1", 0), webhook_addr=settings.Address("127.0.0.1", 0),
        probe_addr=settings.Address("127.0.0.1", 0), grpc_addr=settings.Address("127.0.0.1", 0),
        tls_mode="tls", cert_dir=tmp_path / "certs",
        store=f"sqlite:///{tmp_path / 'appimage.db'}", cert_secret=f"{namespace}/certs",
        cert_dns_names=("localhost",), cert_reload_interval=0.1)
    service = server.Service(config)
    await service.start()
    try:
        await asyncio.sleep(0.5)
        assert await service.ready() is False
        assert not (tmp_path / "certs" / "server.crt").exists()
        answer = kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        assert answer.status in (200, 201)
        for _ in range(100):
            if await service.ready():
                break
            await asyncio.sleep(0.05)
        assert await service.ready() is True
        assert (tmp_path / "certs" / "server.crt").exists()
    finally:
        await service.stop()
        kube.call("DELETE", f"/api/v1/namespaces/{namespace}")


# --- replicas racing ---------------------------------------------------------------------------


class FirstReadHeld:
    """A manager's Secret read whose first answer waits at ``barrier`` for the other's."""

    def __init__(self, read: Any, barrier: asyncio.Barrier) -> None:
        self.read, self.barrier, self.first = read, barrier, True

    async def __call__(self) -> Any:
        secret = await self.read()
        if self.first:
            self.first = False
            await self.barrier.wait()
        return secret


async def test_replicas_starting_together_agree_on_the_winners_certificates(
        chart_plane, kube, tmp_path, caplog):
    """Both read "no Secret" before either writes; one create wins, the other gets 409,
    reads again and takes the winner's certificates."""
    config = webhook_kube.Config(server=chart_plane.url, ca_pem=chart_plane.ca_path.read_bytes(),
                                 token=chart_plane.token)
    managers = [selfcert.Manager(webhook_kube.Client(config), selfcert.Target(
        NAMESPACE, "race-certs", "", ("127.0.0.1",), tmp_path / f"replica-{i}")) for i in range(2)]
    barrier = asyncio.Barrier(2)
    for manager in managers:
        manager._read_secret = FirstReadHeld(manager._read_secret, barrier)  # type: ignore[method-assign]
    caplog.set_level("INFO", logger="webhook.ops.selfcert")
    try:
        decisions = await asyncio.gather(*(m.sync() for m in managers))
        served = [(tmp_path / f"replica-{i}" / "server.crt").read_bytes() for i in range(2)]
        stored = base64.b64decode(_secret_named(kube, "race-certs")["data"]["tls.crt"])
        assert served[0] == served[1] == stored
        assert sorted(d.changed for d in decisions) == [False, True]
        assert "changed under us" in caplog.text
    finally:
        for manager in managers:
            await manager.close()
        kube.call("DELETE", f"/api/v1/namespaces/{NAMESPACE}/secrets/race-certs")


def _secret_named(kube: Kube, name: str) -> dict[str, Any]:
    body: dict[str, Any] = kube.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/{name}")
    return body


async def test_a_release_without_the_mutating_webhook_is_said_once_and_validating_gets_its_ca(
        chart_plane, kube, tmp_path, caplog):
    """webhook.mutating=false installs only the validating configuration: each round
    publishes caBundle to it, and says once, not every round, that the other is missing."""
    name = "validating-only"
    validating = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
                  "metadata": {"name": name}, "webhooks": [{
                      "name": "validate.appimages.kuscia.secretflow", "admissionReviewVersions": ["v1"],
                      "sideEffects": "None", "clientConfig": {"url": "https://127.0.0.1:1/validate"},
                      "rules": [{"apiGroups": ["kuscia.secretflow"], "apiVersions": ["v1alpha1"],
                                 "resources": ["appimages"], "operations": ["CREATE"]}]}]}
    assert kube.apply(validating).status in (200, 201)
    config = webhook_kube.Config(server=chart_plane.url, ca_pem=chart_plane.ca_path.read_bytes(),
                                 token=chart_plane.token)
    manager = selfcert.Manager(webhook_kube.Client(config), selfcert.Target(
        NAMESPACE, f"{name}-certs", name, ("127.0.0.1",), tmp_path))
    caplog.set_level("INFO", logger="webhook.ops.selfcert")
    try:
        decisions = [await manager.sync() for _ in range(3)]
        published = kube.get(f"{CONFIGURATIONS['ValidatingWebhookConfiguration']}/{name}")
        bundle = published["webhooks"][0]["clientConfig"]["caBundle"]
        assert base64.b64decode(bundle) == decisions[-1].certificates.ca_bundle()
        missing = [r for r in caplog.records if "not found" in r.getMessage()]
        assert [r.getMessage() for r in missing] == [
            f"mutatingwebhookconfigurations {name} not found: caBundle not published (yet)"]
    finally:
        await manager.close()
        kube.call("DELETE", f"{CONFIGURATIONS['ValidatingWebhookConfiguration']}/{name}")
        kube.call("DELETE", f"/api/v1/namespaces/{NAMESPACE}/secrets/{name}-certs")
