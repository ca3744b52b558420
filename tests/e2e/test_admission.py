"""Our admission webhooks as the real API server calls them.

The ``webhooks`` fixture registers /mutate and /validate of a running server with the
session's kube-apiserver (``failurePolicy: Fail``); every write here goes through the
API server's own chain: CRD defaulting, our mutating webhook, the CRD's schema and CEL
rules, then our validating webhook. The API server answers the client, so what is
checked is what a kubectl user would see: status, message and ``Warning`` headers.
"""

from __future__ import annotations

import copy
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import builders
from tests.support.apiserver import (
    APPIMAGES,
    WEBHOOKS,
    Webhooks,
    delete_all,
    kube,
    minimal,
    stored,
    webhook_calls,
)
from tests.support.k8s.controlplane import ControlPlane
from tests.support.serverproc import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MUTATE = WEBHOOKS["/mutate"][1]
VALIDATE = WEBHOOKS["/validate"][1]
CONTAINER = "spec.deployTemplates[0].spec.containers[0]"
SPLIT_WARNING = (f"{CONTAINER}.envFrom[0]: names both configMapRef and secretRef; split into two "
                 "entries with the same prefix (Kubernetes takes one source per entry)")


@pytest.fixture(autouse=True)
def _clean(control_plane: ControlPlane) -> Iterator[None]:
    delete_all(control_plane)
    yield
    delete_all(control_plane)


# --- objects ---------------------------------------------------------------------------


def container(obj: dict[str, Any]) -> dict[str, Any]:
    first: dict[str, Any] = obj["spec"]["deployTemplates"][0]["spec"]["containers"][0]
    return first


def bad_enum(name: str) -> dict[str, Any]:
    obj = minimal(name)
    container(obj)["ports"][0]["protocol"] = "TCP"
    return obj


# --- defaulting ------------------------------------------------------------------------


def test_create_stores_the_defaulted_object(control_plane: ControlPlane, webhooks: Webhooks) -> None:
    obj = minimal("defaults")
    # Absent fields the CRD's own defaults fill before our webhook sees the object; empty
    # ones (the CRD enums allow "") only our mutating webhook fills.
    container(obj)["ports"].append({"name": "inner", "protocol": "", "scope": ""})

    answer = kube(control_plane, "POST", APPIMAGES, obj)

    assert answer.status == 201, answer
    got = stored(control_plane, "defaults")
    assert got is not None
    assert got["spec"]["deployTemplates"][0]["replicas"] == 1
    assert container(got)["ports"] == [
        {"name": "global", "protocol": "HTTP", "scope": "Local"},
        {"name": "inner", "protocol": "HTTP", "scope": "Local"},
    ]


def test_the_documents_create_example_is_accepted_and_its_env_from_split(
        control_plane: ControlPlane, webhooks: Webhooks) -> None:
    answer = kube(control_plane, "POST", APPIMAGES, builders.doc_appimage(defaulted=False))

    assert answer.status == 201, answer
    assert SPLIT_WARNING in answer.warnings
    expected = builders.doc_appimage(defaulted=False)
    container(expected)["envFrom"] = [
        {"prefix": "xxx", "configMapRef": {"name": "config-template"}},
        {"prefix": "xxx", "secretRef": {"name": "secret-template"}},
    ]
    got = stored(control_plane, "appimage-template")
    assert got is not None
    assert got["spec"] == expected["spec"]  # split, and nothing else changed


# --- validation ------------------------------------------------------------------------


def _with(obj: dict[str, Any], breaker: Any) -> dict[str, Any]:
    breaker(obj)
    return obj


def _webhook_only(obj: dict[str, Any]) -> list[str]:
    """Problems the CRD accepts and only our validating webhook refuses."""
    c = container(obj)
    c["env"] = [{"name": "A=B", "value": "x"}]
    c["ports"][0]["name"] = "Bad_Port"
    c["resources"] = {"limits": {"cpu": "1", "memory": "100Mi"},
                      "requests": {"memory": "1Gi"}}
    c["livenessProbe"] = {"exec": {"command": ["true"]}, "successThreshold": 2}
    return [f"{CONTAINER}.env[0].name", f"{CONTAINER}.ports[0].name",
            f"{CONTAINER}.resources.requests.memory", f"{CONTAINER}.livenessProbe.successThreshold"]


def _crd_enums(obj: dict[str, Any]) -> list[str]:
    """Bad enums: the CRD's schema refuses them before any validating webhook runs."""
    c = container(obj)
    c["ports"][0].update(protocol="TCP", scope="Global")
    c["imagePullPolicy"] = "Sometimes"
    obj["spec"]["deployTemplates"][0]["spec"]["restartPolicy"] = "Maybe"
    return [f"{CONTAINER}.ports[0].protocol", f"{CONTAINER}.ports[0].scope",
            f"{CONTAINER}.imagePullPolicy", "spec.deployTemplates[0].spec.restartPolicy"]


def _two_handlers(obj: dict[str, Any]) -> list[str]:
    """Two probe handlers: the CRD's CEL rule refuses them (as would our webhook)."""
    container(obj)["readinessProbe"] = {"exec": {"command": ["true"]}, "tcpSocket": {"port": "global"}}
    return [f"{CONTAINER}.readinessProbe"]


def _bad_quantity(obj: dict[str, Any]) -> list[str]:
    """A quantity the CRD's pattern refuses, as Kuscia's CRD does."""
    container(obj)["resources"] = {"limits": {"cpu": "1.2.3"}}
    return [f"{CONTAINER}.resources.limits.cpu"]


@pytest.mark.parametrize(("breaker", "denier"), [
    pytest.param(_webhook_only, VALIDATE, id="webhook-only"),
    pytest.param(_crd_enums, MUTATE, id="crd-enums"),
    pytest.param(_two_handlers, MUTATE, id="crd-cel-two-handlers"),
    pytest.param(_bad_quantity, MUTATE, id="crd-quantity-pattern"),
])
def test_an_invalid_appimage_is_refused_naming_every_bad_field(
        control_plane: ControlPlane, webhooks: Webhooks, breaker: Any, denier: str) -> None:
    # What the CRD's own checks would refuse, the mutating webhook denies before them:
    # the API server would otherwise never call the validating one.
    obj = minimal("invalid")
    fields = breaker(obj)

    answer = kube(control_plane, "POST", APPIMAGES, obj)

    assert answer.status == 422, answer
    assert answer.body["reason"] == "Invalid"
    # The API server puts our denial in its message and keeps our causes.
    assert (f'admission webhook "{denier}" denied the request: '
            'AppImage.kuscia.secretflow "invalid" is invalid: ' in answer.message), answer.message
    assert {c["field"] for c in answer.body["details"]["causes"]} == set(fields)
    assert stored(control_plane, "invalid") is None


def test_kubectl_sees_every_error_at_once_when_the_crd_would_refuse_some(
        control_plane: ControlPlane, webhooks: Webhooks) -> None:
    """The API server checks the CRD's schema before it calls validating webhooks, and
    calls none when the schema fails: without the mutating webhook's denial, a kubectl
    user would fix in two rounds what one REST answer names at once."""
    obj = minimal("mixed")
    fields = [*_crd_enums(obj), *_webhook_only(obj)]

    answer = kube(control_plane, "POST", APPIMAGES, obj)

    assert answer.status == 422, answer
    assert f'admission webhook "{MUTATE}" denied the request' in answer.message
    assert {c["field"] for c in answer.body["details"]["causes"]} == set(fields)


def test_a_dangling_sub_path_is_accepted_with_our_warning(
        control_plane: ControlPlane, webhooks: Webhooks) -> None:
    obj = minimal("dangling")
    container(obj)["configVolumeMounts"][0]["subPath"] = "missing.conf"

    answer = kube(control_plane, "POST", APPIMAGES, obj)

    assert answer.status == 201, answer
    assert answer.warnings == [
        f"{CONTAINER}.configVolumeMounts[0].subPath: names no configTemplates key ('missing.conf')"]
    assert stored(control_plane, "dangling") is not None


# --- dry run, update, delete -----------------------------------------------------------


def test_server_side_dry_run_answers_the_defaulted_object_and_stores_nothing(
        control_plane: ControlPlane, webhooks: Webhooks) -> None:
    obj = builders.doc_appimage("dry", defaulted=False)
    answer = kube(control_plane, "POST", APPIMAGES + "?dryRun=All", obj)

    assert answer.status == 201, answer
    assert SPLIT_WARNING in answer.warnings
    assert len(container(answer.body)["envFrom"]) == 2
    assert answer.body["spec"]["deployTemplates"][0]["replicas"] == 1
    assert stored(control_plane, "dry") is None

    bad = kube(control_plane, "POST", APPIMAGES + "?dryRun=All", _with(minimal("dry"), _webhook_only))
    assert bad.status == 422
    assert VALIDATE in bad.message


def test_update_and_delete(control_plane: ControlPlane, webhooks: Webhooks) -> None:
    assert kube(control_plane, "POST", APPIMAGES, minimal("changing")).status == 201
    current = stored(control_plane, "changing")
    assert current is not None

    changed = copy.deepcopy(current)
    changed["spec"]["image"]["tag"] = "2.0"
    container(changed)["ports"] = [{"name": "global", "protocol": ""}, {"name": "extra"}]
    container(changed)["configVolumeMounts"][0]["subPath"] = "other.conf"
    answer = kube(control_plane, "PUT", f"{APPIMAGES}/changing", changed)

    assert answer.status == 200, answer
    assert answer.warnings == [
        f"{CONTAINER}.configVolumeMounts[0].subPath: names no configTemplates key ('other.conf')"]
    got = stored(control_plane, "changing")
    assert got is not None
    assert got["spec"]["image"]["tag"] == "2.0"
    assert container(got)["ports"] == [{"name": "global", "protocol": "HTTP", "scope": "Local"},
                                       {"name": "extra", "protocol": "HTTP", "scope": "Local"}]

    refused = kube(control_plane, "PUT", f"{APPIMAGES}/changing", _with(copy.deepcopy(got), _webhook_only))
    assert refused.status == 422
    assert VALIDATE in refused.message
    assert stored(control_plane, "changing") == got

    assert kube(control_plane, "DELETE", f"{APPIMAGES}/changing").status == 200
    assert stored(control_plane, "changing") is None


def test_a_metadata_only_update_of_an_object_stored_without_the_webhook_is_allowed(
        control_plane: ControlPlane, webhooks: Webhooks, webhook_server: ServerProcess) -> None:
    legacy = minimal("legacy")
    container(legacy)["env"] = [{"name": "A=B", "value": "x"}]  # the CRD accepts it
    webhooks.unregister()
    try:
        created = kube(control_plane, "POST", APPIMAGES, legacy)
    finally:
        webhooks.register(webhook_server)
    if created.status != 201:  # not an AssertionError: only the last one is expected
        pytest.fail(f"setup: the CRD alone refused the object: {created.message}")
    current = created.body
    current["metadata"]["labels"] = {"team": "a"}

    answer = kube(control_plane, "PUT", f"{APPIMAGES}/legacy", current)

    assert answer.status == 200, answer.message


# --- which updates reach us (the chart's matchConditions) ------------------------------


def _relabelled(control_plane: ControlPlane, name: str, labels: dict[str, str]) -> dict[str, Any]:
    current = stored(control_plane, name)
    assert current is not None
    current["metadata"]["labels"] = labels
    return current


def test_a_label_only_update_never_reaches_our_webhooks(
        control_plane: ControlPlane, webhooks: Webhooks, webhook_server: ServerProcess) -> None:
    assert kube(control_plane, "POST", APPIMAGES, minimal("labelled")).status == 201
    before = webhook_calls(webhook_server)

    answer = kube(control_plane, "PUT", f"{APPIMAGES}/labelled",
                  _relabelled(control_plane, "labelled", {"team": "a"}))

    assert answer.status == 200, answer
    assert webhook_calls(webhook_server) == before


def test_a_spec_change_still_reaches_both_webhooks(
        control_plane: ControlPlane, webhooks: Webhooks, webhook_server: ServerProcess) -> None:
    assert kube(control_plane, "POST", APPIMAGES, minimal("retagged")).status == 201
    before = webhook_calls(webhook_server)
    changed = _relabelled(control_plane, "retagged", {"team": "a"})
    changed["spec"]["image"]["tag"] = "2.0"

    answer = kube(control_plane, "PUT", f"{APPIMAGES}/retagged", changed)

    assert answer.status == 200, answer
    after = webhook_calls(webhook_server)
    assert all(after[path] == before[path] + 1 for path in WEBHOOKS), (before, after)


def test_a_change_of_the_annotation_a_rule_reads_reaches_us_and_is_judged(
        control_plane: ControlPlane, webhooks: Webhooks) -> None:
    assert kube(control_plane, "POST", APPIMAGES, minimal("annotated")).status == 201
    changed = _relabelled(control_plane, "annotated", {})
    changed["metadata"]["annotations"] = {"kuscia.secretflow/component-spec": "{not json"}

    answer = kube(control_plane, "PUT", f"{APPIMAGES}/annotated", changed)

    assert answer.status == 422, answer
    assert "metadata.annotations" in answer.message


def test_with_only_the_validating_webhook_the_crd_fills_absent_defaults_and_refuses_empty_ones(
        control_plane: ControlPlane, webhooks: Webhooks, webhook_server: ServerProcess) -> None:
    empty = minimal("empty-protocol")
    container(empty)["ports"][0]["protocol"] = ""
    webhooks.register(webhook_server, paths=("/validate",))  # the chart's webhook.mutating=false
    try:
        absent = kube(control_plane, "POST", APPIMAGES, minimal("crd-defaults"))
        refused = kube(control_plane, "POST", APPIMAGES, empty)
    finally:
        webhooks.register(webhook_server)

    assert absent.status == 201, absent
    got = stored(control_plane, "crd-defaults")
    assert got is not None
    assert got["spec"]["deployTemplates"][0]["replicas"] == 1
    assert container(got)["ports"] == [{"name": "global", "protocol": "HTTP", "scope": "Local"}]
    assert refused.status == 422, refused
    assert f"{CONTAINER}.ports[0].protocol" in refused.message
    assert VALIDATE not in refused.message  # the CRD's refusal: our webhook was never asked


# --- our server down -------------------------------------------------------------------


def test_with_our_server_stopped_writes_fail_and_the_crd_still_validates(
        control_plane: ControlPlane, webhooks: Webhooks, webhook_server: ServerProcess,
        tmp_path: pathlib.Path) -> None:
    down = ServerProcess(tmp_path, tls_mode="tls", name="down")
    try:
        down.start()
        webhooks.register(down)
        down.stop()

        # failurePolicy Fail: nothing is written unchecked, and the error says why. The
        # mutating webhook is called first, so a bad enum gets the same answer.
        for obj in (minimal("while-down"), bad_enum("bad-while-down")):
            answer = kube(control_plane, "POST", APPIMAGES, obj)
            assert answer.status == 500, answer
            assert answer.body["reason"] == "InternalError"
            assert f'failed calling webhook "{MUTATE}"' in answer.message
            assert f"{down.webhook_url}/mutate" in answer.message
            assert "connection refused" in answer.message

        # Without our webhooks the CRD alone still refuses the bad enum, and defaults.
        webhooks.unregister()
        answer = kube(control_plane, "POST", APPIMAGES, bad_enum("bad-while-down"))
        assert answer.status == 422, answer
        assert f'{CONTAINER}.ports[0].protocol: Unsupported value: "TCP"' in answer.message
        assert "admission webhook" not in answer.message
        answer = kube(control_plane, "POST", APPIMAGES, minimal("while-down"))
        assert answer.status == 201, answer
        assert container(answer.body)["ports"] == [{"name": "global", "protocol": "HTTP", "scope": "Local"}]
        assert stored(control_plane, "bad-while-down") is None
    finally:
        down.stop()
        webhooks.register(webhook_server)  # what the other tests of this module expect
