"""The real service as a process, over the network on 127.0.0.1 (integration).

Each test talks to ``python -m webhook serve`` started by ``serverproc.ServerProcess``
with real clients: the ``curl`` binary (the API document's examples, as written, and
the curl ``serve`` prints), ``http.client`` over raw TLS sockets, and aiohttp's client.
Servers that tests do not disturb are shared per module; reload, shutdown and restart
get their own.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import http.client
import json
import pathlib
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import jsonpatch
import pytest
from cryptography import x509

from tests.support import builders, figures, pki, prerequisites, serverproc
from webhook.ops import certificates

# Slow: real server processes, restarted and signalled.
pytestmark = pytest.mark.slow

TOKEN = "kuscia-api-token-3f9c2e"
API = "/api/v1/appimage/"
DEADLINE = 10.0
"""Seconds any one awaited condition gets before the test fails."""
CURL_TIMEOUT = 20.0

SUCCESS = {"code": 0, "message": "success", "details": []}
APPIMAGE_FIELDS = {"name", "image", "config_templates", "deploy_templates"}

# --- clients ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: http.client.HTTPMessage
    serial: int | None
    """Serial number of the certificate the server presented (None over plain HTTP)."""


def host_port(url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"{url}: no host and port")
    return parts.hostname, parts.port


def post(url: str, path: str, body: Any, *, ctx: ssl.SSLContext | None = None,
         token: str | None = TOKEN, headers: dict[str, str] | None = None) -> Answer:
    """POST JSON on a new connection with ``http.client``; the answer and the server's
    certificate serial."""
    host, port = host_port(url)
    conn: http.client.HTTPConnection
    if url.startswith("https://"):
        conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=DEADLINE)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=DEADLINE)
    try:
        conn.connect()
        serial = None
        if isinstance(conn.sock, ssl.SSLSocket):
            der = conn.sock.getpeercert(binary_form=True)
            assert der is not None
            serial = x509.load_der_x509_certificate(der).serial_number
        sent = {"Content-Type": "application/json", **(headers or {})}
        if token is not None:
            sent["Token"] = token
        conn.request("POST", path, body=json.dumps(body), headers=sent)
        response = conn.getresponse()
        raw = response.read()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw.decode(errors="replace")
        return Answer(response.status, parsed, response.headers, serial)
    finally:
        conn.close()


def _raw_request() -> bytes:
    return (f"POST {API}list HTTP/1.1\r\nHost: localhost\r\nToken: {TOKEN}\r\n"
            "Content-Type: application/json\r\nContent-Length: 2\r\n"
            "Connection: close\r\n\r\n{}").encode()


def tls_exchange(url: str, ctx: ssl.SSLContext) -> bytes:
    """A TLS handshake and one raw HTTP request; all the server sends back."""
    host, port = host_port(url)
    with socket.create_connection((host, port), timeout=DEADLINE) as raw, \
            ctx.wrap_socket(raw, server_hostname="localhost") as conn:
        conn.sendall(_raw_request())
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
        return received


def tls_refusal(url: str, ctx: ssl.SSLContext) -> str:
    """How the server turns a TLS client away: "handshake" (the handshake fails) or
    "closed" (the connection ends, by error or EOF, before any answer). Fails the test
    if an HTTP answer arrives."""
    host, port = host_port(url)
    with socket.create_connection((host, port), timeout=DEADLINE) as raw:
        try:
            conn = ctx.wrap_socket(raw, server_hostname="localhost")
        except (ssl.SSLError, ConnectionError):
            return "handshake"
        with conn:
            received = b""
            try:
                conn.sendall(_raw_request())
                while chunk := conn.recv(65536):
                    received += chunk
            except (ssl.SSLError, ConnectionError):
                pass
            assert received == b"", f"the server answered: {received[:200]!r}"
            return "closed"


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([prerequisites.binary("curl"), *args], capture_output=True, text=True,
                          timeout=CURL_TIMEOUT, check=False)


def cert_serial(path: pathlib.Path) -> int:
    return x509.load_pem_x509_certificate(path.read_bytes()).serial_number


def app_image(name: str) -> dict[str, Any]:
    """A small valid create request in the REST shape."""
    return builders.rest_appimage(name, config_templates={"task.conf": "{}"}, containers=[
        builders.rest_container(command=["sh"], config_volume_mounts=[
            {"mount_path": "/etc/app/task.conf", "sub_path": "task.conf"}])])


def admission_review(uid: str, operation: str = "CREATE") -> dict[str, Any]:
    """An AdmissionReview as the API server sends it for an AppImage missing defaults
    (replicas, port protocol and scope)."""
    obj = builders.appimage("webhook-demo", replicas=None, containers=[
        builders.container(command=["sh"], ports=[{"name": "global"}])])
    return builders.review(obj, uid=uid, operation=operation,
                           old=obj if operation == "UPDATE" else None)


def defaults_added(review: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    """The object of ``review`` with the answer's JSON Patch applied."""
    patch = json.loads(base64.b64decode(answer["response"]["patch"]))
    patched: dict[str, Any] = jsonpatch.apply_patch(review["request"]["object"], patch)
    return patched


def wait_for(condition: Any, what: str, deadline: float = DEADLINE) -> Any:
    """Call ``condition`` until it returns something truthy; fail after ``deadline``."""
    end = time.monotonic() + deadline
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"{what}: not within {deadline:g} s")


# --- servers shared by the module --------------------------------------------------


@pytest.fixture(scope="module")
def ctr_certs_root(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The directory the API document's curls read as ${CTR_CERTS_ROOT}, made by
    ``gen-certs --kuscia`` (``ca.crt``, ``kusciaapi-server.crt``/``.key``, ``token``),
    with the tests' known token written over the generated one."""
    root = tmp_path_factory.mktemp("ctr-certs")
    made = subprocess.run([sys.executable, "-m", "webhook", "gen-certs", "--kuscia", "--out",
                           str(root)], capture_output=True, text=True, timeout=60, check=False)
    assert made.returncode == 0, made.stderr
    (root / "token").write_text(TOKEN + "\n")
    return root


@pytest.fixture(scope="module")
def mtls_server(tmp_path_factory: pytest.TempPathFactory,
                ctr_certs_root: pathlib.Path) -> Iterator[serverproc.ServerProcess]:
    """The default mode (mtls) with a token, serving from ${CTR_CERTS_ROOT}: the Kuscia
    API as the document uses it."""
    work = tmp_path_factory.mktemp("mtls")
    with serverproc.ServerProcess(work, cert_dir=ctr_certs_root,
                                  token_file=ctr_certs_root / "token") as server:
        yield server


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[serverproc.ServerProcess]:
    """tls mode on an empty cert dir, so serve makes its own development set."""
    with serverproc.ServerProcess(tmp_path_factory.mktemp("tls"), tls_mode="tls") as server:
        yield server


@pytest.fixture(scope="module")
def notls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[serverproc.ServerProcess]:
    with serverproc.ServerProcess(tmp_path_factory.mktemp("notls"), tls_mode="notls") as server:
        yield server


# --- the API document, with curl ---------------------------------------------------


def doc_curl(server: serverproc.ServerProcess, root: pathlib.Path, endpoint: str,
             body: str) -> list[str]:
    """The document's curl for ``endpoint``, flag for flag, with the real port and
    ${CTR_CERTS_ROOT} expanded as the shell would (``$(cat …)`` drops the newline)."""
    url = f"{server.printed['rest']}{API}{endpoint}"  # https://localhost:PORT
    token = (root / "token").read_text().rstrip("\n")
    return ["curl", "-k", "-X", "POST", url,
            "--header", f"Token: {token}",
            "--header", "Content-Type: application/json",
            "--cert", f"{root}/kusciaapi-server.crt",
            "--key", f"{root}/kusciaapi-server.key",
            "--cacert", f"{root}/ca.crt",
            "-d", body]


def run_doc_curl(server: serverproc.ServerProcess, root: pathlib.Path,
                 endpoint: str) -> dict[str, Any]:
    prerequisites.binary("curl")
    body = (builders.EXAMPLES / f"doc_{endpoint}.json").read_text()
    result = subprocess.run(doc_curl(server, root, endpoint, body), capture_output=True,
                            text=True, timeout=CURL_TIMEOUT, check=False)
    assert result.returncode == 0, f"curl {endpoint}: exit {result.returncode}: {result.stderr}"
    try:
        answer: dict[str, Any] = json.loads(result.stdout)
    except ValueError:
        pytest.fail(f"{endpoint}: not JSON: {result.stdout!r}")
    assert answer["status"] == SUCCESS, f"{endpoint}: {answer}"
    return answer


def test_document_curl_examples_succeed_in_order_with_the_documented_shapes(
        mtls_server: serverproc.ServerProcess, ctr_certs_root: pathlib.Path) -> None:
    assert run_doc_curl(mtls_server, ctr_certs_root, "create") == {"status": SUCCESS}
    assert run_doc_curl(mtls_server, ctr_certs_root, "update") == {"status": SUCCESS}

    query = run_doc_curl(mtls_server, ctr_certs_root, "query")
    data = query["data"]
    assert set(data) == APPIMAGE_FIELDS
    assert data["name"] == "appimage-template"
    assert data["image"] == {"name": "app-image", "tag": "v1.0.0", "id": "adlipoidu8yuahd6",
                             "sign": "nkdy7pad09iuadjd"}
    # The update sent "config_templates": {} which, in proto3, is "not given": kept.
    created = builders.doc("create")
    assert data["config_templates"] == created["config_templates"]
    # The update's deploy templates replaced the created ones (no env, no probes).
    [template] = data["deploy_templates"]
    [container] = template["containers"]
    assert (template["name"], template["role"], template["replicas"]) == ("app", "server", 1)
    assert template["restart_policy"] == "Never"
    assert container["env"] == []
    assert container["env_from"] == []
    assert container["liveness_probe"] is None
    assert container["ports"] == [{"name": "global", "protocol": "HTTP", "scope": "Cluster"}]

    batch = run_doc_curl(mtls_server, ctr_certs_root, "batchQuery")
    assert batch["data"] == [data]

    assert run_doc_curl(mtls_server, ctr_certs_root, "delete") == {"status": SUCCESS}
    gone = post(mtls_server.rest_url, API + "query", {"name": "appimage-template"},
                ctx=mtls_server.client_context())
    assert (gone.status, gone.body["status"]["code"]) == (200, 13105)


# --- TLS modes ---------------------------------------------------------------------


# TLS 1.2 fails the handshake itself. In TLS 1.3 the client's side of the handshake is
# done before the server has checked the client certificate, so the refusal may come
# after it (the server closes the connection without an answer).
TLS_VERSIONS = [pytest.param(ssl.TLSVersion.TLSv1_2, {"handshake"}, id="tls1.2"),
                pytest.param(ssl.TLSVersion.TLSv1_3, {"handshake", "closed"}, id="tls1.3")]


@pytest.mark.parametrize(("version", "refusals"), TLS_VERSIONS)
def test_mtls_refuses_a_client_without_a_certificate(
        mtls_server: serverproc.ServerProcess, version: ssl.TLSVersion,
        refusals: set[str]) -> None:
    ctx = mtls_server.client_context(with_cert=False)
    ctx.minimum_version = ctx.maximum_version = version
    assert tls_refusal(mtls_server.rest_url, ctx) in refusals


@pytest.mark.parametrize(("version", "refusals"), TLS_VERSIONS)
def test_mtls_refuses_a_client_certificate_from_another_ca(
        mtls_server: serverproc.ServerProcess, tmp_path: pathlib.Path,
        version: ssl.TLSVersion, refusals: set[str]) -> None:
    other = certificates.write_cert_set(tmp_path / "other", ["localhost"], ["127.0.0.1"])
    ctx = pki.client_context(mtls_server.cert_paths.ca, other.client_cert, other.client_key)
    ctx.minimum_version = ctx.maximum_version = version
    assert tls_refusal(mtls_server.rest_url, ctx) in refusals


@pytest.mark.parametrize("listener", ["rest", "webhook"])
def test_plain_http_on_a_tls_port_gets_400_saying_the_port_speaks_https(
        mtls_server: serverproc.ServerProcess, listener: str) -> None:
    url = mtls_server.printed[listener].replace("https://", "http://")
    result = curl("-sS", "-i", "-X", "POST", "-d", "{}", url + "/")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("HTTP/1.1 400 Bad Request")
    assert result.stdout.endswith("this port speaks HTTPS.\n")


def refusal_logs(server: serverproc.ServerProcess, port: int) -> list[str]:
    """The server's log lines about refusing a TLS client from local ``port``."""
    return [line for line in server.stderr().splitlines()
            if "TLS handshake refused" in line and f'"127.0.0.1:{port}"' in line]


@pytest.mark.parametrize(("client_cert", "reason"), [
    pytest.param(False, "client certificate required, none sent", id="no-certificate"),
    pytest.param(True, "client certificate refused: unable to get local issuer certificate",
                 id="another-ca"),
])
def test_a_refused_client_certificate_is_logged_once_with_the_peer_and_reason(
        mtls_server: serverproc.ServerProcess, tmp_path: pathlib.Path, client_cert: bool,
        reason: str) -> None:
    if client_cert:
        other = certificates.write_cert_set(tmp_path / "other", ["localhost"], ["127.0.0.1"])
        ctx = pki.client_context(mtls_server.cert_paths.ca, other.client_cert, other.client_key)
    else:
        ctx = mtls_server.client_context(with_cert=False)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # the refusal ends the client's handshake
    with socket.create_connection(host_port(mtls_server.rest_url), timeout=DEADLINE) as raw:
        port = raw.getsockname()[1]
        with pytest.raises(ssl.SSLError):
            ctx.wrap_socket(raw, server_hostname="localhost")
    [line] = wait_for(lambda: refusal_logs(mtls_server, port), "the refusal in the log")
    logged = json.loads(line)
    assert (logged["level"], logged["listener"]) == ("info", "rest")
    assert logged["message"] == f"TLS handshake refused: {reason}"


def test_mtls_accepts_the_client_certificate_of_its_ca(
        mtls_server: serverproc.ServerProcess) -> None:
    received = tls_exchange(mtls_server.rest_url, mtls_server.client_context())
    assert received.startswith(b"HTTP/1.1 200 ")


def test_tls_mode_accepts_a_client_without_a_certificate(
        tls_server: serverproc.ServerProcess) -> None:
    answer = post(tls_server.rest_url, API + "list", {}, ctx=tls_server.client_context(
        with_cert=False), token=None)
    assert answer.status == 200
    assert answer.body["status"] == SUCCESS
    assert tls_server.printed["rest"].startswith("https://")


def test_notls_serves_plain_http_on_rest_and_webhook(
        notls_server: serverproc.ServerProcess) -> None:
    assert notls_server.printed["rest"].startswith("http://")
    assert notls_server.printed["webhook"].startswith("http://")
    answer = post(notls_server.rest_url, API + "list", {}, token=None)
    assert (answer.status, answer.body["status"]) == (200, SUCCESS)
    review = admission_review("uid-notls")
    answer = post(notls_server.webhook_url, "/mutate", review, token=None)
    assert answer.status == 200
    assert answer.body["response"]["uid"] == "uid-notls"
    assert answer.body["response"]["allowed"] is True


# --- what the server says about itself ------------------------------------------------


def _server_header(server: serverproc.ServerProcess, listener: str) -> str | None:
    if listener == "probe":
        with urllib.request.urlopen(server.probe_url + "/healthz", timeout=DEADLINE) as r:
            return str(r.headers["Server"])
    if listener == "aiohttp-400":  # an answer aiohttp writes itself, to a malformed request
        with socket.create_connection(host_port(server.probe_url), timeout=DEADLINE) as conn:
            conn.sendall(b"NOT HTTP\r\n\r\n")
            head = conn.recv(65536).decode()
        assert head.split("\r\n")[0].endswith(" 400 Bad Request"), head
        server_line = re.search(r"^Server: (.*)\r$", head, re.MULTILINE)
        return server_line[1] if server_line else None
    url = server.rest_url if listener == "rest" else server.webhook_url
    path = API + "list" if listener == "rest" else "/mutate"
    body = {} if listener == "rest" else admission_review("u-server")
    return post(url, path, body, ctx=server.client_context()).headers["Server"]


@pytest.mark.parametrize("listener", ["probe", "rest", "webhook", "aiohttp-400"])
def test_no_answer_names_the_server_software_version(
        mtls_server: serverproc.ServerProcess, listener: str) -> None:
    assert _server_header(mtls_server, listener) == "appimage-webhook"


# --- token -------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [
    pytest.param({}, id="missing"),
    pytest.param({"Token": ""}, id="empty"),
    pytest.param({"Token": TOKEN + "x"}, id="longer"),
    pytest.param({"Token": TOKEN[:-1]}, id="shorter"),
    pytest.param({"Token": TOKEN.upper()}, id="other-case"),
    pytest.param({"Authorization": f"Bearer {TOKEN}"}, id="bearer-instead"),
])
def test_wrong_or_missing_token_is_http_401_with_code_11102(
        mtls_server: serverproc.ServerProcess, headers: dict[str, str]) -> None:
    answer = post(mtls_server.rest_url, API + "list", {}, ctx=mtls_server.client_context(),
                  token=None, headers=headers)
    assert answer.status == 401
    assert answer.body["status"]["code"] == 11102


@pytest.mark.parametrize("header", ["Token", "token", "TOKEN"])
def test_right_token_is_accepted_whatever_the_header_case(
        mtls_server: serverproc.ServerProcess, header: str) -> None:
    answer = post(mtls_server.rest_url, API + "list", {}, ctx=mtls_server.client_context(),
                  token=None, headers={header: TOKEN})
    assert (answer.status, answer.body["status"]) == (200, SUCCESS)


# --- admission webhook --------------------------------------------------------------


async def test_webhook_speaks_tls_without_a_client_certificate_and_answers_reviews(
        mtls_server: serverproc.ServerProcess) -> None:
    ctx = mtls_server.client_context(with_cert=False)
    review = admission_review("0d7c0c2e-5e7b-4d0e-9e4e-1b5f3c2a9a01")
    async with aiohttp.ClientSession() as session:
        async with session.post(mtls_server.webhook_url + "/mutate", json=review,
                                ssl=ctx) as response:
            assert response.status == 200
            mutated = await response.json()
        async with session.post(mtls_server.webhook_url + "/validate", json=review,
                                ssl=ctx) as response:
            assert response.status == 200
            validated = await response.json()

    assert (mutated["apiVersion"], mutated["kind"]) == ("admission.k8s.io/v1", "AdmissionReview")
    assert mutated["response"]["uid"] == review["request"]["uid"]
    assert mutated["response"]["allowed"] is True
    assert mutated["response"]["patchType"] == "JSONPatch"
    obj = defaults_added(review, mutated)
    [template] = obj["spec"]["deployTemplates"]
    assert template["replicas"] == 1
    assert template["spec"]["containers"][0]["ports"] == [
        {"name": "global", "protocol": "HTTP", "scope": "Local"}]
    assert validated["response"]["uid"] == review["request"]["uid"]
    assert validated["response"]["allowed"] is True


def test_only_the_rest_listener_asks_for_a_client_certificate_in_mtls(
        mtls_server: serverproc.ServerProcess) -> None:
    ca = str(mtls_server.cert_paths.ca)
    webhook = curl("-v", "-sS", "--tlsv1.3", "--cacert", ca, "-H",
                   "Content-Type: application/json", "-d", json.dumps(admission_review("u1")),
                   mtls_server.webhook_url + "/mutate")
    assert webhook.returncode == 0, webhook.stderr
    assert "Request CERT" not in webhook.stderr
    assert json.loads(webhook.stdout)["response"]["uid"] == "u1"

    paths = mtls_server.cert_paths
    rest = curl("-v", "-sS", "--tlsv1.3", "--cacert", ca, "--cert", str(paths.client_cert),
                "--key", str(paths.client_key), "-H", f"Token: {TOKEN}", "-H",
                "Content-Type: application/json", "-d", "{}", mtls_server.rest_url + API + "list")
    assert rest.returncode == 0, rest.stderr
    assert "Request CERT" in rest.stderr


# --- serve's own output ------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["mtls_server", "tls_server", "notls_server"])
def test_serve_prints_listening_urls_and_a_first_curl_that_works(
        request: pytest.FixtureRequest, fixture: str) -> None:
    server: serverproc.ServerProcess = request.getfixturevalue(fixture)
    https = server.tls_mode != "notls"
    assert re.fullmatch(r"http://localhost:\d+", server.printed["probe"])
    for name in ("rest", "webhook"):
        scheme = "https" if https else "http"
        assert re.fullmatch(rf"{scheme}://localhost:\d+", server.printed[name]), server.printed
    assert server.first_request.startswith("curl ")
    prerequisites.binary("curl")
    # It is printed to be pasted into a shell (it may hold "$(cat TOKEN_FILE)"), so a
    # shell runs it, in the directory serve ran in.
    result = subprocess.run(["sh", "-c", server.first_request], cwd=server.work_dir,
                            capture_output=True, text=True, timeout=CURL_TIMEOUT, check=False)
    assert result.returncode == 0, f"{server.first_request}\n{result.stderr}"
    assert json.loads(result.stdout)["status"] == SUCCESS


# --- certificate reload ------------------------------------------------------------


def test_replaced_certificate_is_served_to_new_connections_without_failed_requests(
        tmp_path: pathlib.Path) -> None:
    certs = certificates.write_cert_set(tmp_path / "certs", ["localhost"], ["127.0.0.1"])
    with serverproc.ServerProcess(tmp_path, cert_dir=certs.ca.parent,
                                  extra_args=["--cert-reload-interval", "0.2"]) as server:
        ctx = server.client_context()
        old = cert_serial(certs.server_cert)
        assert post(server.rest_url, API + "list", {}, ctx=ctx).serial == old

        failures: list[str] = []
        answered: list[int] = []  # appended to by every thread (atomic under the GIL)
        stop = threading.Event()

        def traffic() -> None:
            # Requests on new connections all through the swap; none may fail.
            while not stop.is_set():
                try:
                    answer = post(server.rest_url, API + "list", {}, ctx=ctx)
                except (OSError, http.client.HTTPException) as e:
                    failures.append(repr(e))
                    continue
                if answer.status != 200 or answer.body["status"]["code"] != 0:
                    failures.append(f"{answer.status} {answer.body}")
                answered.append(1)

        def kept_alive() -> None:
            # One connection for every request: its handshake was made with the old
            # certificate, and the swap must not disturb it.
            conn = http.client.HTTPSConnection(*host_port(server.rest_url), context=ctx,
                                               timeout=DEADLINE)
            try:
                while not stop.is_set():
                    conn.request("POST", API + "list", body="{}",
                                 headers={"Content-Type": "application/json"})
                    response = conn.getresponse()
                    body = json.loads(response.read())
                    if response.status != 200 or body["status"]["code"] != 0:
                        failures.append(f"kept alive: {response.status} {body}")
                    answered.append(1)
            except (OSError, http.client.HTTPException) as e:
                failures.append(f"kept alive: {e!r}")
            finally:
                conn.close()

        # Sustained load: three clients handshaking for every request, two on one
        # kept-alive connection each.
        threads = [threading.Thread(target=traffic, daemon=True) for _ in range(3)]
        threads += [threading.Thread(target=kept_alive, daemon=True) for _ in range(2)]
        for thread in threads:
            thread.start()
        try:
            pki.issue_server_cert(certs.ca, certs.ca.parent / "ca.key", certs.ca.parent,
                                  ["localhost"], ["127.0.0.1"])
            new = cert_serial(certs.server_cert)
            assert new != old

            def serving_new(url: str, path: str, body: Any) -> bool:
                answer = post(url, path, body, ctx=ctx)
                assert answer.status == 200, answer
                return answer.serial == new

            wait_for(lambda: serving_new(server.rest_url, API + "list", {}),
                     "the REST listener serving the new certificate")
            wait_for(lambda: serving_new(server.webhook_url, "/mutate", admission_review("r")),
                     "the webhook listener serving the new certificate")
            during = len(answered)
            wait_for(lambda: len(answered) > during + 50, "traffic after the swap")
        finally:
            stop.set()
            for thread in threads:
                thread.join(DEADLINE)
        assert failures == []
        assert server.stop() == 0
    figures.record("certificate rotation under load",
                   f"{len(answered)} requests from 5 clients, 0 failed; new handshakes "
                   "got the new certificate")


# --- graceful shutdown -------------------------------------------------------------

SHUTDOWN_TIMEOUT = 5.0
EXIT_SLACK = 3.0
"""Seconds beyond the shutdown timeout for the interpreter to wind down."""
LOOPS = 20
def in_flight(server: serverproc.ServerProcess, endpoint: str) -> float:
    """The REST requests of ``endpoint`` being served, from /metrics."""
    match = re.search(rf'^appimage_api_requests_in_flight{{endpoint="{endpoint}"}} (\S+)$',
                      server.metrics(), re.MULTILINE)
    return float(match[1]) if match else 0.0


@contextlib.asynccontextmanager
async def _session(ctx: ssl.SSLContext, *, keep_alive: bool = False
                   ) -> AsyncIterator[aiohttp.ClientSession]:
    # keep_alive=False: a new connection per request. keep_alive=True: connections are
    # reused; the server's answers during the drain close them, so no request is ever
    # sent on a connection the server is about to close.
    connector = aiohttp.TCPConnector(ssl=ctx, force_close=not keep_alive, limit=0)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=20)) as session:
        yield session


SHUTDOWN_DELAY = 0.3
"""Seconds the server keeps serving with /readyz already 503 after SIGTERM."""


@pytest.fixture
def draining_server(tmp_path: pathlib.Path) -> Iterator[serverproc.ServerProcess]:
    """A server of its own, since the test ends it, with a short shutdown timeout."""
    with serverproc.ServerProcess(
            tmp_path, extra_args=["--shutdown-timeout", str(SHUTDOWN_TIMEOUT),
                                  "--shutdown-delay", str(SHUTDOWN_DELAY)]) as server:
        yield server


def _idle_connection(server: serverproc.ServerProcess) -> ssl.SSLSocket:
    """A kept-alive connection that made one request and now sits idle."""
    conn = server.client_context().wrap_socket(
        socket.create_connection(host_port(server.rest_url), timeout=DEADLINE),
        server_hostname="localhost")
    conn.sendall(f"POST {API}list HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n"
                 "Content-Type: application/json\r\n\r\n{}".encode())
    answer = b""
    while not answer.endswith(b"}}"):
        answer += conn.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b"Connection: close" not in answer
    return conn


def _closed_by_server(conn: ssl.SSLSocket) -> bool:
    """True if the server closed ``conn`` without sending anything more."""
    conn.settimeout(DEADLINE)
    try:
        return conn.recv(65536) == b""
    except (ConnectionError, ssl.SSLError):
        return True


async def _await_not_ready(server: serverproc.ServerProcess) -> int | None:
    end = time.monotonic() + DEADLINE
    while (status := await asyncio.to_thread(server.readyz)) == 200:
        assert time.monotonic() < end, "/readyz stayed 200 after SIGTERM"
    return status


@pytest.mark.parametrize("keep_alive", [False, True], ids=["new-connections", "kept-alive"])
async def test_sigterm_answers_every_request_sent_and_exits_zero(
        draining_server: serverproc.ServerProcess, keep_alive: bool) -> None:
    server = draining_server
    list_url = server.rest_url + API + "list"
    answered = 0
    after_not_ready = 0  # answered once /readyz said 503: readiness went first
    refused = 0
    failures: list[str] = []
    not_ready = asyncio.Event()
    exited = asyncio.Event()
    busy = asyncio.Event()  # traffic is flowing: three answers per client, on average
    idle = [_idle_connection(server) for _ in range(3)]

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal answered, after_not_ready, refused
        while True:
            last = exited.is_set()
            late = not_ready.is_set()
            try:
                async with session.post(list_url, json={"page_size": 10}) as r:
                    answer = await r.json()
                if r.status == 200 and answer["status"]["code"] == 0:
                    answered += 1
                    after_not_ready += late
                else:
                    failures.append(f"{r.status} {answer}")
            except aiohttp.ClientConnectorError:
                refused += 1  # never connected, so nothing was sent: a clean refusal
                return  # the listener is closed; more tries would only spin
            except (aiohttp.ClientError, TimeoutError) as e:
                failures.append(repr(e))  # sent, and not answered
            if answered >= 3 * LOOPS:
                busy.set()
            if last:
                return

    async with _session(server.client_context(), keep_alive=keep_alive) as session:
        for i in range(10):  # something for list to render
            async with session.post(server.rest_url + API + "create",
                                    json=app_image(f"busy-{i}")) as r:
                assert (await r.json())["status"] == SUCCESS
        clients = [asyncio.create_task(client(session)) for _ in range(LOOPS)]
        await asyncio.wait_for(busy.wait(), DEADLINE)

        signalled = time.monotonic()
        server.terminate()
        assert await _await_not_ready(server) in (503, None)
        not_ready.set()
        code = await asyncio.to_thread(server.wait, SHUTDOWN_TIMEOUT + EXIT_SLACK)
        took = time.monotonic() - signalled
        exited.set()
        await asyncio.wait_for(asyncio.gather(*clients), DEADLINE)

    assert answered > 0
    assert after_not_ready > 0  # still serving while readiness said no
    assert refused == LOOPS  # each client ended on the closed listener
    assert code == 0, server.stderr()
    assert took < SHUTDOWN_TIMEOUT + EXIT_SLACK  # idle connections did not hold it up
    assert server.readyz(timeout=1.0) is None
    assert failures == []
    for conn in idle:  # idle kept-alive connections were closed, with nothing sent
        with conn:
            assert _closed_by_server(conn)
    figures.record(f"SIGTERM under load ({'kept-alive' if keep_alive else 'new'} connections)",
                   f"{LOOPS} clients, {answered} answered ({after_not_ready} after /readyz "
                   f"turned 503), 0 client errors, 3 idle connections closed, exit in {took:.1f} s")


async def test_sigterm_finishes_a_request_whose_body_is_still_arriving(
        draining_server: serverproc.ServerProcess) -> None:
    server = draining_server
    body = json.dumps(app_image("in-flight")).encode()
    release = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield body[:20]
        await release.wait()
        yield body[20:]

    async def create() -> tuple[int, Any]:
        async with session.post(server.rest_url + API + "create", data=slow_body(),
                                headers={"Content-Type": "application/json"}) as r:
            return r.status, await r.json()

    async with _session(server.client_context()) as session:
        held = asyncio.create_task(create())
        end = time.monotonic() + DEADLINE
        while await asyncio.to_thread(in_flight, server, "create") < 1:  # handler started
            assert time.monotonic() < end, "the held request never reached its handler"
        server.terminate()
        await _await_not_ready(server)  # shutdown has begun
        release.set()
        try:
            status, answer = await asyncio.wait_for(held, SHUTDOWN_TIMEOUT + EXIT_SLACK)
        finally:
            code = await asyncio.to_thread(server.wait, SHUTDOWN_TIMEOUT + EXIT_SLACK)
    assert (status, answer["status"]) == (200, SUCCESS)
    assert code == 0


def _hold(url: str, path: str) -> socket.socket:
    """A plain-HTTP request in flight: headers and the start of a body, then nothing."""
    host, port = host_port(url)
    conn = socket.create_connection((host, port), timeout=DEADLINE)
    conn.sendall(f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json"
                 "\r\nContent-Length: 100\r\n\r\n{".encode())
    return conn


def test_sigterm_stops_accepting_on_every_listener_at_once(tmp_path: pathlib.Path) -> None:
    timeout = 1.0
    with serverproc.ServerProcess(tmp_path, tls_mode="notls",
                                  extra_args=["--shutdown-timeout", str(timeout)]) as server, \
            contextlib.closing(_hold(server.webhook_url, "/mutate")):
        metric = 'controller_runtime_webhook_requests_in_flight{webhook="/mutate"} 1.0'
        wait_for(lambda: metric in server.metrics(), "the held review reaching its handler")
        signalled = time.monotonic()
        server.terminate()
        wait_for(lambda: server.readyz() != 200, "/readyz turning 503")
        with pytest.raises(ConnectionError):  # refused: the listener is closed
            post(server.rest_url, API + "list", {}, token=None)
        code = server.wait(timeout + EXIT_SLACK)
        assert code == 0
        assert time.monotonic() - signalled < timeout + 1.0


# --- durability --------------------------------------------------------------------


def test_data_survives_a_restart_on_the_same_sqlite_file(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "appimage.db"
    certs = tmp_path / "certs"
    with serverproc.ServerProcess(tmp_path / "first", cert_dir=certs, db_path=db) as first:
        answer = post(first.rest_url, API + "create", app_image("durable"),
                      ctx=first.client_context())
        assert answer.body["status"] == SUCCESS
        assert first.stop() == 0
    with serverproc.ServerProcess(tmp_path / "second", cert_dir=certs, db_path=db) as second:
        answer = post(second.rest_url, API + "query", {"name": "durable"},
                      ctx=second.client_context())
    assert answer.body["status"] == SUCCESS
    assert answer.body["data"]["name"] == "durable"
    assert answer.body["data"]["config_templates"] == {"task.conf": "{}"}
