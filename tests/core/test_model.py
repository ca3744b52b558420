"""The two shapes of an AppImage (SPEC §2): lossless conversion, proto3 zero values,
request spellings, and error paths in the caller's shape."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import strategies
from webhook.core import model, paths, schemas

# Deterministic in CI and quick: nested AppImages are slow to generate, so fewer examples.
PROPERTY = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

REQUEST = model.request_shape({"name": model.Scalar("string")}, with_spec=True)


def minimal_request(**container: Any) -> dict[str, Any]:
    """A REST body with only what the schema requires, plus ``container`` fields."""
    return {
        "name": "app",
        "image": {"name": "secretflow/app", "tag": "1.0"},
        "deploy_templates": [{"name": "t", "containers": [{"name": "c", **container}]}],
    }


def container_of(cr: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = cr["spec"]["deployTemplates"][0]["spec"]["containers"][0]
    return container


def assert_full_form(node: model.Node, value: Any, path: str = "") -> None:
    """Every field of every present message is emitted, zero values in REST spelling."""
    if isinstance(node, model.Message):
        if value is None:
            return
        assert set(value) == set(node.rest_fields), path
        for name, sub in node.rest_fields.items():
            assert_full_form(sub, value[name], f"{path}.{name}")
    elif isinstance(node, model.Array):
        for i, item in enumerate(value):
            assert_full_form(node.item, item, f"{path}[{i}]")
    elif isinstance(node, model.Map):
        for key, item in value.items():
            assert_full_form(node.value, item, f"{path}[{key}]")
    elif node.kind == "integer":
        assert isinstance(value, int), path
    else:  # string, quantity, and int64 / gRPC port rendered as protobuf JSON strings
        assert isinstance(value, str), path


def assert_omitempty(node: model.Node, value: Any, path: str = "") -> None:
    """No field holds a zero value ("", 0, [], {}, null); messages may be ``{}``, and the
    fields Kuscia's CRD requires (``x-rest-zero``) are there, zero or not."""
    if isinstance(node, model.Message):
        for f in node.fields:
            assert not f.zero or f.cr in value, f"{path}.{f.cr}"
        for key, item in value.items():
            f = node.by_cr[key]
            assert item not in (None, "", 0, [], {}) or f.zero or (
                isinstance(f.node, model.Message) and item == {}), f"{path}.{key}"
            assert_omitempty(f.node, item, f"{path}.{key}")
    elif isinstance(node, model.Array):
        for i, item in enumerate(value):
            assert_omitempty(node.item, item, f"{path}[{i}]")
    elif isinstance(node, model.Map):
        for key, item in value.items():
            assert_omitempty(node.value, item, f"{path}[{key}]")


def camelize(node: model.Node, value: Any, rng: random.Random) -> Any:
    """``value`` with each known key spelled in lowerCamelCase or not, at random."""
    if isinstance(node, model.Array) and isinstance(value, list):
        return [camelize(node.item, item, rng) for item in value]
    if isinstance(node, model.Map) and isinstance(value, dict):
        return {key: camelize(node.value, item, rng) for key, item in value.items()}
    if isinstance(node, model.Message) and isinstance(value, dict):
        return {(model.camel(key) if rng.random() < 0.5 else key):
                camelize(node.rest_fields[key], item, rng) for key, item in value.items()}
    return value


def without_nulls(node: model.Node, value: Any) -> Any:
    """What ``normalize`` makes of a full-form body: null fields are unset."""
    if isinstance(node, model.Array):
        return [without_nulls(node.item, item) for item in value]
    if isinstance(node, model.Map):
        return {key: without_nulls(node.value, item) for key, item in value.items()}
    if isinstance(node, model.Message):
        return {key: without_nulls(node.rest_fields[key], item)
                for key, item in value.items() if item is not None}
    return value


# --- Lossless both ways ----------------------------------------------------------


@PROPERTY
@given(strategies.rest_appimages())
def test_rest_to_cr_and_back_gives_the_same_object(appimage: dict[str, Any]) -> None:
    assert model.to_rest(model.to_cr(appimage)) == appimage


@PROPERTY
@given(strategies.cr_appimages())
def test_cr_to_rest_and_back_gives_the_same_object(cr: dict[str, Any]) -> None:
    assert model.to_cr(model.to_rest(cr)) == cr


# --- Responses: every field emitted ------------------------------------------------


@PROPERTY
@given(strategies.cr_appimages())
def test_response_emits_every_field(cr: dict[str, Any]) -> None:
    answer = model.to_rest(cr)
    assert answer["name"] == cr["metadata"]["name"]
    assert_full_form(REQUEST, answer)


def test_response_renders_unset_fields_as_zero_values_and_absent_messages_as_null() -> None:
    body = minimal_request()
    body["image"] = {"name": "secretflow/app"}

    assert model.to_rest(model.to_cr(body)) == {
        "name": "app",
        "image": {"name": "secretflow/app", "tag": "", "id": "", "sign": ""},
        "config_templates": {},
        "deploy_templates": [{
            "name": "t", "role": "", "replicas": 0, "restart_policy": "",
            "containers": [{
                "name": "c", "command": [], "args": [], "working_dir": "",
                "config_volume_mounts": [], "ports": [], "env_from": [], "env": [],
                "resources": None, "liveness_probe": None, "readiness_probe": None,
                "startup_probe": None, "image_pull_policy": "",
            }],
        }],
    }


def test_response_renders_int64_as_a_string_and_int32_as_a_number() -> None:
    probe = {"grpc": {"port": 9000}, "terminationGracePeriodSeconds": 30}
    cr = model.to_cr(minimal_request())
    container_of(cr)["livenessProbe"] = probe

    answer = model.to_rest(cr)["deploy_templates"][0]["containers"][0]["liveness_probe"]

    assert answer["grpc"] == {"port": 9000, "service": ""}
    assert answer["termination_grace_period_seconds"] == "30"


# --- Requests: proto3 zero values are "unset" --------------------------------------


@PROPERTY
@given(strategies.rest_appimages())
def test_rest_to_cr_drops_every_zero_value(appimage: dict[str, Any]) -> None:
    assert_omitempty(model.spec_message(), model.to_cr(appimage)["spec"])


def test_replicas_zero_in_rest_means_unset() -> None:
    body = minimal_request()
    body["deploy_templates"][0]["replicas"] = 0

    assert "replicas" not in model.to_cr(body)["spec"]["deployTemplates"][0]


@pytest.mark.parametrize(("field", "zero"), [
    pytest.param("command", [], id="empty-list"),
    pytest.param("image_pull_policy", "", id="empty-enum"),
])
def test_zero_container_field_in_rest_is_dropped(field: str, zero: Any) -> None:
    cr = model.to_cr(minimal_request(**{field: zero}))

    assert container_of(cr) == {"name": "c", "workingDir": ""}


def test_fields_kuscias_crd_requires_are_written_even_when_rest_leaves_them_out() -> None:
    body = minimal_request(config_volume_mounts=[{"mount_path": "/etc/app.conf"}],
                           liveness_probe={"http_get": {"http_headers": [{"name": "X-A"}]}},
                           readiness_probe={"tcp_socket": {}}, startup_probe={"grpc": {}})
    body["image"] = {"name": "secretflow/app"}

    cr = model.to_cr(body)

    assert cr["spec"]["image"] == {"name": "secretflow/app", "tag": ""}
    container = container_of(cr)
    assert container["workingDir"] == ""
    assert container["configVolumeMounts"] == [{"mountPath": "/etc/app.conf", "subPath": ""}]
    assert container["livenessProbe"]["httpGet"] == {
        "port": "", "httpHeaders": [{"name": "X-A", "value": ""}]}
    assert container["readinessProbe"]["tcpSocket"] == {"port": ""}
    assert container["startupProbe"]["grpc"] == {"port": 0}


@pytest.mark.parametrize(("field", "text", "number"), [
    pytest.param(("replicas",), "3", 3, id="int32-replicas"),
    pytest.param(("containers", 0, "liveness_probe", "grpc", "port"), "8080", 8080, id="int32-grpc-port"),
    pytest.param(("containers", 0, "liveness_probe", "termination_grace_period_seconds"), "30", 30,
                 id="int64"),
])
def test_integers_in_requests_may_be_numeric_strings(field: tuple[Any, ...], text: str,
                                                     number: int) -> None:
    body = minimal_request(liveness_probe={"grpc": {}})
    target = body["deploy_templates"][0]
    for token in field[:-1]:
        target = target[token]
    target[field[-1]] = text

    spec = model.to_cr(body)["spec"]["deployTemplates"][0]
    where = spec if field == ("replicas",) else spec["spec"]
    for token in field[:-1]:
        where = where[model.camel(token) if isinstance(token, str) else token]
    assert where[model.camel(field[-1])] == number


def test_empty_config_templates_in_rest_are_dropped() -> None:
    body = {**minimal_request(), "config_templates": {}}

    assert "configTemplates" not in model.to_cr(body)["spec"]


@pytest.mark.parametrize(("probe", "expected"), [
    pytest.param({"period_seconds": 0}, {}, id="int32-zero"),
    pytest.param({"termination_grace_period_seconds": "0"}, {}, id="int64-zero-string"),
    pytest.param({"termination_grace_period_seconds": 0}, {}, id="int64-zero-number"),
    pytest.param({"grpc": {"port": 0, "service": ""}}, {"grpc": {"port": 0}}, id="grpc-port-zero"),
    pytest.param({"exec": {"command": []}}, {"exec": {}}, id="exec-command-empty"),
])
def test_zero_probe_field_in_rest_is_dropped(probe: dict[str, Any], expected: Any) -> None:
    cr = model.to_cr(minimal_request(liveness_probe=probe))

    assert container_of(cr)["livenessProbe"] == expected


@pytest.mark.parametrize(("path", "number", "answer"), [
    pytest.param(("replicas",), 2.0, 2, id="int32-replicas"),
    pytest.param(("containers", 0, "liveness_probe", "period_seconds"), 5.0, 5, id="int32-probe"),
    pytest.param(("containers", 0, "liveness_probe", "termination_grace_period_seconds"), 30.0,
                 "30", id="int64"),
])
def test_integral_float_in_request_is_answered_as_an_integer(
        path: paths.Path, number: float, answer: int | str) -> None:
    body = minimal_request(liveness_probe={"exec": {"command": ["true"]}})
    strategies.at(body["deploy_templates"][0], path[:-1])[path[-1]] = number

    rendered = strategies.at(model.to_rest(model.to_cr(body))["deploy_templates"][0], path)

    assert (rendered, type(rendered)) == (answer, type(answer))


def test_empty_quantity_in_rest_is_dropped() -> None:
    resources = {"limits": {"cpu": "", "memory": "1Gi"}, "requests": None}

    cr = model.to_cr(minimal_request(resources=resources))

    assert container_of(cr)["resources"] == {"limits": {"memory": "1Gi"}}


def test_empty_message_in_rest_is_kept_because_proto3_messages_have_presence() -> None:
    cr = model.to_cr(minimal_request(resources={}, liveness_probe={"exec": {}}))

    assert container_of(cr)["resources"] == {}
    assert container_of(cr)["livenessProbe"] == {"exec": {}}


@pytest.mark.parametrize("container", [
    pytest.param({"liveness_probe": None}, id="probe"),
    pytest.param({"resources": None}, id="resources"),
    pytest.param({"resources": {"limits": None}}, id="resource-list"),
    pytest.param({"env_from": [{"prefix": "p", "config_map_ref": {"name": "cm"},
                                "secret_ref": None}]}, id="name-ref-in-list"),
    pytest.param({"startup_probe": {"exec": None, "http_get": {"port": "http"}}},
                 id="probe-handler"),
])
def test_null_message_in_request_is_treated_as_absent(container: dict[str, Any]) -> None:
    body, dupes = model.normalize(REQUEST, minimal_request(**container))

    assert dupes == []
    assert body == without_nulls(REQUEST, minimal_request(**container))
    assert schemas.rest("AppImage").errors(body) == []
    assert_omitempty(model.spec_message(), model.to_cr(body)["spec"])


def test_null_scalar_in_request_is_treated_as_absent() -> None:
    body = minimal_request(working_dir=None)

    normalized, _ = model.normalize(REQUEST, body)

    assert "working_dir" not in normalized["deploy_templates"][0]["containers"][0]


# --- Requests: accepted spellings --------------------------------------------------


@PROPERTY
@given(strategies.rest_appimages(), st.randoms(use_true_random=False))
def test_normalize_accepts_lower_camel_case_at_every_level(
        appimage: dict[str, Any], rng: random.Random) -> None:
    body, dupes = model.normalize(REQUEST, camelize(REQUEST, appimage, rng))

    assert dupes == []
    assert body == without_nulls(REQUEST, appimage)


@pytest.mark.parametrize("spelling", ["secret_ref", "secretRef", "secret_map_ref", "secretMapRef"])
def test_normalize_accepts_every_spelling_of_secret_ref(spelling: str) -> None:
    body = minimal_request(env_from=[{"prefix": "p", spelling: {"name": "s"}}])

    normalized, dupes = model.normalize(REQUEST, body)

    assert dupes == []
    assert normalized["deploy_templates"][0]["containers"][0]["env_from"] == [
        {"prefix": "p", "secret_ref": {"name": "s"}}]


@pytest.mark.parametrize(("body", "path"), [
    pytest.param({**minimal_request(), "config_templates": {}, "configTemplates": {}},
                 ("config_templates",), id="top-level"),
    pytest.param({**minimal_request(), "deploy_templates": [
        {"name": "t", "restart_policy": "Never", "restartPolicy": "Always",
         "containers": [{"name": "c"}]}]},
        ("deploy_templates", 0, "restart_policy"), id="flattened-template-spec"),
    pytest.param(minimal_request(env_from=[{"secret_ref": {"name": "a"},
                                            "secret_map_ref": {"name": "b"}}]),
                 ("deploy_templates", 0, "containers", 0, "env_from", 0, "secret_ref"),
                 id="alias"),
])
def test_normalize_reports_a_field_given_twice(body: dict[str, Any], path: paths.Path) -> None:
    _, dupes = model.normalize(REQUEST, body)

    assert dupes == [path]


def test_normalize_leaves_unknown_keys_for_the_schema_to_reject() -> None:
    body = {**minimal_request(workingDirectory="/w"), "Labels": {"imageName": "x"}}

    normalized, _ = model.normalize(REQUEST, body)

    assert normalized["Labels"] == {"imageName": "x"}
    assert normalized["deploy_templates"][0]["containers"][0]["workingDirectory"] == "/w"


def test_normalize_never_renames_keys_inside_config_templates() -> None:
    templates = {"imagePullPolicy": "a", "secret_map_ref": "b", "configTemplates": "c",
                 "deployTemplates": "d"}

    normalized, dupes = model.normalize(REQUEST, {**minimal_request(),
                                                  "configTemplates": templates})

    assert dupes == []
    assert normalized["config_templates"] == templates


# --- Error paths -------------------------------------------------------------------


@pytest.mark.parametrize(("cr_path", "rest"), [
    pytest.param(("spec", "deployTemplates", 0, "spec", "containers", 1, "ports", 0, "protocol"),
                 "deploy_templates[0].containers[1].ports[0].protocol", id="through-pod-spec"),
    pytest.param(("metadata", "name"), "name", id="metadata-name"),
    pytest.param(("spec", "deployTemplates", 0, "spec", "restartPolicy"),
                 "deploy_templates[0].restart_policy", id="flattened-field"),
    pytest.param(("spec", "deployTemplates", 0, "spec", "containers", 0, "livenessProbe",
                  "httpGet", "httpHeaders", 2, "name"),
                 "deploy_templates[0].containers[0].liveness_probe.http_get.http_headers[2].name",
                 id="deep"),
    pytest.param(("spec", "configTemplates", "configVolumeMounts"),
                 "config_templates[configVolumeMounts]", id="map-key-kept"),
    pytest.param(("spec", "image", "bogusField"), "image.bogusField", id="unknown-key-kept"),
])
def test_rest_path_spells_a_cr_path_the_rest_way(cr_path: paths.Path, rest: str) -> None:
    assert paths.format_path(paths.rest_path(cr_path)) == rest


@pytest.mark.parametrize(("path", "text"), [
    pytest.param(("config_templates", "task-config.conf"), "config_templates[task-config.conf]",
                 id="dotted-map-key"),
    pytest.param(("config_templates", "app_conf"), "config_templates[app_conf]",
                 id="identifier-map-key"),
    pytest.param(("spec", "configTemplates", "a.conf"), "spec.configTemplates[a.conf]",
                 id="cr-map-key"),
    pytest.param(("header", "custom_headers", "x-id"), "header.custom_headers[x-id]",
                 id="custom-headers-key"),
    pytest.param(("deploy_templates", 0, "name"), "deploy_templates[0].name", id="index"),
])
def test_format_path_puts_indices_and_map_keys_in_brackets(
        path: paths.Path, text: str) -> None:
    assert paths.format_path(path) == text


# --- Generated objects pass the schemas ----------------------------------------------
# The strategies honour every JSON Schema keyword (required, enum, minItems, bounds) and
# no semantic rule, so "no error at all" is the assertion: nothing to filter by kind.


@PROPERTY
@given(strategies.rest_appimages())
def test_rest_full_form_sent_back_as_a_request_passes_the_rest_schema(
        appimage: dict[str, Any]) -> None:
    body, _ = model.normalize(REQUEST, appimage)

    assert schemas.rest("AppImage").errors(body) == []


def test_answer_with_null_messages_passes_the_rest_schema() -> None:
    answer = model.to_rest(model.to_cr(minimal_request()))

    assert schemas.rest("AppImage").errors(answer) == []


@PROPERTY
@given(strategies.rest_appimages())
def test_cr_of_a_rest_full_form_passes_the_cr_schema(appimage: dict[str, Any]) -> None:
    assert schemas.appimage().errors(model.to_cr(appimage)) == []


@PROPERTY
@given(strategies.cr_appimages())
def test_omitempty_cr_passes_the_cr_schema(cr: dict[str, Any]) -> None:
    assert schemas.appimage().errors(cr) == []


def test_conversion_does_not_mutate_its_input() -> None:
    body = minimal_request(liveness_probe={"grpc": {"port": "80"}})
    before = copy.deepcopy(body)

    cr = model.to_cr(body)
    snapshot = copy.deepcopy(cr)
    model.to_rest(cr)

    assert body == before
    assert cr == snapshot
