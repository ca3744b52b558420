"""The whole loop on the Kubernetes backend: REST -> our server -> API server -> our webhook.

``webhook_server`` is overridden here: the server the API server calls is itself a
server on ``--store kubernetes``, so a REST create is checked by our own code, written
through the API server, and admitted there by that same server's /mutate and /validate.
"""

from __future__ import annotations

import json
import pathlib
import time
from collections.abc import Iterator

import pytest

from tests.support import builders
from tests.support.apiserver import Webhooks, delete_all, kube_server, rest, stored, webhook_calls
from tests.support.k8s.controlplane import ControlPlane, free_ports
from tests.support.serverproc import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

OUTAGE_DEADLINE = 5.0
"""Seconds a REST call may take when the API server is unreachable: an answer, no hang."""
SUCCESS = {"code": 0, "message": "success", "details": []}


@pytest.fixture(scope="module")
def webhook_server(kubeconfig: pathlib.Path,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Overrides conftest's: the API server calls this server on the Kubernetes backend."""
    server = kube_server(tmp_path_factory.mktemp("kube-server"), kubeconfig)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _clean(control_plane: ControlPlane) -> Iterator[None]:
    delete_all(control_plane)
    yield
    delete_all(control_plane)


def test_a_rest_create_is_admitted_by_our_own_webhook_and_stored_as_the_resource(
        control_plane: ControlPlane, webhooks: Webhooks, webhook_server: ServerProcess) -> None:
    before = webhook_calls(webhook_server)

    assert rest(webhook_server, "create", builders.doc("create"))["status"] == SUCCESS

    after = webhook_calls(webhook_server)
    assert after["/mutate"] > before["/mutate"]
    assert after["/validate"] > before["/validate"]
    obj = stored(control_plane, "appimage-template")
    assert obj is not None
    container = obj["spec"]["deployTemplates"][0]["spec"]["containers"][0]
    assert container["envFrom"] == [
        {"prefix": "xxx", "configMapRef": {"name": "config-template"}},
        {"prefix": "xxx", "secretRef": {"name": "secret-template"}},
    ]
    answer = rest(webhook_server, "query", builders.doc("query"))
    assert answer["status"] == SUCCESS
    data = answer["data"]
    assert data["name"] == "appimage-template"
    assert data["image"] == builders.doc("create")["image"]
    assert data["deploy_templates"][0]["containers"][0]["env_from"] == [
        {"prefix": "xxx", "config_map_ref": {"name": "config-template"}, "secret_ref": None},
        {"prefix": "xxx", "config_map_ref": None, "secret_ref": {"name": "secret-template"}},
    ]


def test_a_rest_create_without_defaults_stores_them(
        control_plane: ControlPlane, webhooks: Webhooks, webhook_server: ServerProcess) -> None:
    body = builders.doc("create") | {"name": "defaults"}
    template = body["deploy_templates"][0]
    del template["replicas"]
    template["containers"][0]["ports"] = [{"name": "global"}]

    assert rest(webhook_server, "create", body)["status"] == SUCCESS

    obj = stored(control_plane, "defaults")
    assert obj is not None
    assert obj["spec"]["deployTemplates"][0]["replicas"] == 1
    assert obj["spec"]["deployTemplates"][0]["spec"]["containers"][0]["ports"] == [
        {"name": "global", "protocol": "HTTP", "scope": "Local"}]
    data = rest(webhook_server, "query", {"name": "defaults"})["data"]
    assert data["deploy_templates"][0]["replicas"] == 1
    assert data["deploy_templates"][0]["containers"][0]["ports"] == [
        {"name": "global", "protocol": "HTTP", "scope": "Local"}]


def test_an_invalid_rest_create_is_refused_before_the_api_server_is_called(
        control_plane: ControlPlane, webhooks: Webhooks, webhook_server: ServerProcess) -> None:
    body = builders.doc("create")
    container = body["deploy_templates"][0]["containers"][0]
    container["ports"][0]["protocol"] = "TCP"
    container["resources"]["limits"]["cpu"] = "1.2.3"
    before = webhook_calls(webhook_server)

    answer = rest(webhook_server, "create", body)

    assert answer["status"]["code"] == 11100
    message = answer["status"]["message"]
    assert "deploy_templates[0].containers[0].ports[0].protocol" in message
    assert "deploy_templates[0].containers[0].resources.limits.cpu" in message
    assert webhook_calls(webhook_server) == before  # the API server was not asked
    assert stored(control_plane, "appimage-template") is None


def test_two_servers_share_the_api_servers_state(
        control_plane: ControlPlane, webhooks: Webhooks, webhook_server: ServerProcess,
        kubeconfig: pathlib.Path, tmp_path: pathlib.Path) -> None:
    first = webhook_server
    second = kube_server(tmp_path, kubeconfig, name="second")
    try:
        assert rest(first, "create", builders.doc("create"))["status"] == SUCCESS
        seen = rest(second, "query", builders.doc("query"))
        assert seen["status"] == SUCCESS
        assert seen["data"] == rest(first, "query", builders.doc("query"))["data"]

        update = builders.doc("update")
        update["image"]["tag"] = "v2.0.0"
        assert rest(second, "update", update)["status"] == SUCCESS
        seen = rest(first, "query", builders.doc("query"))
        assert seen["data"]["image"]["tag"] == "v2.0.0"
        # Incremental update: the empty config_templates kept the stored ones.
        assert seen["data"]["config_templates"] == builders.doc("create")["config_templates"]

        assert rest(first, "delete", builders.doc("delete"))["status"] == SUCCESS
        gone = rest(second, "query", builders.doc("query"))
        assert gone["status"]["code"] == 13105
        assert "does not exist" in gone["status"]["message"]
    finally:
        second.stop()


def test_an_unreachable_api_server_is_the_operations_failure_quickly_and_not_ready(
        control_plane: ControlPlane, tmp_path: pathlib.Path) -> None:
    config = control_plane.kubeconfig()
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{free_ports(1)[0]}"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps(config))
    server = kube_server(tmp_path / "server", kubeconfig, wait_ready=False)
    try:
        for endpoint, body, failed in (("query", builders.doc("query"), 13101),
                                       ("create", builders.doc("create"), 13100), ("list", {}, 13107)):
            started = time.monotonic()
            answer = rest(server, endpoint, body)
            took = time.monotonic() - started
            assert answer["status"]["code"] == failed, (endpoint, answer)
            assert "unreachable" in answer["status"]["message"], answer
            assert config["clusters"][0]["cluster"]["server"] in answer["status"]["message"]
            assert took < OUTAGE_DEADLINE, (endpoint, took)
        assert server.readyz() == 503
    finally:
        server.stop()
