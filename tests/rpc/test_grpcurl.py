"""The gRPC listener of the real service (``python -m webhook serve``: uvloop, TLS),
driven by grpcurl and by Python's grpc client over 127.0.0.1.

grpcurl is built from its pinned Go module by ``hack/grpcurl-bin.sh`` (``scripts/test``
does, and exports ``APPIMAGE_GRPCURL``); without it those tests skip, unless
``REQUIRE_E2E=1``, where they fail.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from tests.support import serverproc
from tests.support.builders import doc
from webhook.ops import certificates
from webhook.proto import codec

TOKEN = "grpc-process-token-52a1"
SERVICE = codec.SERVICE_NAME
GRPCURL_TIMEOUT = 20.0
ROOT = pathlib.Path(__file__).resolve().parents[2]
"""The checkout: grpcurl reads our .proto from it."""


def grpcurl_binary() -> str:
    """The grpcurl to run; a skip (or under REQUIRE_E2E=1 a failure) when there is none."""
    found = os.environ.get("APPIMAGE_GRPCURL") or shutil.which("grpcurl")
    if found and os.access(found, os.X_OK):
        return found
    if os.environ.get("REQUIRE_E2E") == "1":
        pytest.fail("REQUIRE_E2E=1 but grpcurl is missing; build it with hack/grpcurl-bin.sh")
    pytest.skip("no grpcurl: `export APPIMAGE_GRPCURL=$(hack/grpcurl-bin.sh | tail -1)`")


@pytest.fixture(scope="module")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("token") / "token"
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture(scope="module")
def mtls_server(tmp_path_factory: pytest.TempPathFactory,
                token_file: pathlib.Path) -> Iterator[serverproc.ServerProcess]:
    with serverproc.ServerProcess(tmp_path_factory.mktemp("grpc-mtls"), token_file=token_file) as server:
        yield server


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory,
               token_file: pathlib.Path) -> Iterator[serverproc.ServerProcess]:
    with serverproc.ServerProcess(tmp_path_factory.mktemp("grpc-tls"), tls_mode="tls",
                                  token_file=token_file) as server:
        yield server


def _as_grpc(body: dict[str, Any]) -> str:
    # Kuscia's proto has no secret_map_ref (REST's alias of secret_ref).
    return json.dumps(body).replace('"secret_map_ref"', '"secret_ref"')


def grpcurl(server: serverproc.ServerProcess, *args: str, body: str | None = None,
            token: str | None = TOKEN, client_cert: bool = True) -> subprocess.CompletedProcess[str]:
    paths = server.cert_paths
    argv = [grpcurl_binary(), "-cacert", str(paths.ca)]
    if client_cert:
        argv += ["-cert", str(paths.client_cert), "-key", str(paths.client_key)]
    if token is not None:
        argv += ["-H", f"token: {token}"]
    if body is not None:
        argv += ["-d", "@"]
    return subprocess.run([*argv, *args], input=body, capture_output=True, text=True,
                          timeout=GRPCURL_TIMEOUT, check=False)


def _answer(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def test_grpcurl_lists_the_services_through_reflection(mtls_server):
    done = grpcurl(mtls_server, mtls_server.grpc_target, "list", token=None)
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.split()) == {SERVICE, "grpc.health.v1.Health",
                                        "grpc.reflection.v1.ServerReflection",
                                        "grpc.reflection.v1alpha.ServerReflection"}


def test_grpcurl_runs_the_document_examples_through_reflection(mtls_server):
    target = mtls_server.grpc_target
    created = grpcurl(mtls_server, "-v", target, f"{SERVICE}/CreateAppImage", body=_as_grpc(doc("create")))
    assert created.returncode == 0, created.stderr
    assert '"message": "success"' in created.stdout
    assert "warning: deploy_templates[0].containers[0].env_from[0]" in created.stdout  # a trailer
    updated = _answer(grpcurl(mtls_server, target, f"{SERVICE}/UpdateAppImage", body=_as_grpc(doc("update"))))
    assert updated["status"]["message"] == "success"
    queried = _answer(grpcurl(mtls_server, target, f"{SERVICE}/QueryAppImage", body=json.dumps(doc("query"))))
    assert queried["data"]["name"] == doc("query")["name"]
    batch = _answer(grpcurl(mtls_server, target, f"{SERVICE}/BatchQueryAppImage",
                            body=json.dumps(doc("batchQuery"))))
    assert [d["name"] for d in batch["data"]] == doc("batchQuery")["names"]
    deleted = _answer(grpcurl(mtls_server, target, f"{SERVICE}/DeleteAppImage",
                              body=json.dumps(doc("delete"))))
    assert deleted["status"]["message"] == "success"
    gone = _answer(grpcurl(mtls_server, target, f"{SERVICE}/QueryAppImage", body=json.dumps(doc("query"))))
    assert gone["status"]["code"] == 13105


def test_grpcurl_works_from_our_proto_files_without_reflection(mtls_server):
    done = grpcurl(mtls_server, "-import-path", str(ROOT), "-proto", "webhook/proto/appimage.proto",
                   mtls_server.grpc_target, f"{SERVICE}/ListAppImage", body='{"page_size": 3}')
    assert _answer(done)["status"]["message"] == "success"


@pytest.mark.parametrize("token", [None, "wrong"], ids=["missing", "wrong"])
def test_grpcurl_without_the_right_token_is_unauthenticated(mtls_server, token):
    done = grpcurl(mtls_server, mtls_server.grpc_target, f"{SERVICE}/ListAppImage", body="{}", token=token)
    assert done.returncode != 0
    assert "Code: Unauthenticated" in done.stderr


def test_grpcurl_without_a_client_certificate_is_refused_under_mtls(mtls_server):
    done = grpcurl(mtls_server, mtls_server.grpc_target, f"{SERVICE}/ListAppImage", body="{}",
                   client_cert=False)
    assert done.returncode != 0
    assert "Code: Unauthenticated" not in done.stderr  # refused in the handshake, before the call


def test_grpcurl_over_tls_needs_no_client_certificate(tls_server):
    done = grpcurl(tls_server, tls_server.grpc_target, f"{SERVICE}/ListAppImage", body="{}",
                   client_cert=False)
    assert _answer(done)["status"]["message"] == "success"


# --- Python's client: certificate rotation -------------------------------------------


def _list(server: serverproc.ServerProcess, ca: pathlib.Path) -> int:
    """ListAppImage's status code over a new TLS connection trusting ``ca``."""
    credentials = grpc.ssl_channel_credentials(root_certificates=ca.read_bytes())
    method = codec.METHODS["ListAppImage"]
    with grpc.secure_channel(server.grpc_target, credentials) as channel:
        call = channel.unary_unary(method.path, request_serializer=method.request.SerializeToString,
                                   response_deserializer=method.response.FromString)
        response = call(method.request(), metadata=(("token", TOKEN),), timeout=GRPCURL_TIMEOUT)
    code: int = response.status.code
    return code


def test_new_connections_get_rotated_certificates_without_a_restart(tmp_path, token_file):
    with serverproc.ServerProcess(tmp_path / "server", tls_mode="tls", token_file=token_file) as server:
        old_ca = tmp_path / "old-ca.crt"
        shutil.copyfile(server.cert_paths.ca, old_ca)
        assert _list(server, old_ca) == 0
        fresh = certificates.write_cert_set(tmp_path / "fresh", ["localhost"], ["127.0.0.1"])
        for source, target in ((fresh.server_key, server.cert_paths.server_key),
                               (fresh.server_cert, server.cert_paths.server_cert)):
            shutil.copyfile(source, target.with_suffix(".new"))
            target.with_suffix(".new").replace(target)
        assert _list(server, fresh.ca) == 0
        with pytest.raises(grpc.RpcError) as refused:
            _list(server, old_ca)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
