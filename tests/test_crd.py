"""The generated CRD: structural, with the webhook's defaults, from the one schema."""

from __future__ import annotations

from webhook import crd, defaulting


def walk(schema, path="openAPIV3Schema"):
    yield path, schema
    for name, prop in schema.get("properties", {}).items():
        yield from walk(prop, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from walk(schema["additionalProperties"], f"{path}{{}}")


def version():
    return crd.manifest()["spec"]["versions"][0]


def test_crd_names_the_appimage_resource():
    manifest = crd.manifest()
    assert manifest["metadata"]["name"] == "appimages.kuscia.secretflow"
    assert manifest["spec"]["group"] == "kuscia.secretflow"
    assert manifest["spec"]["names"]["plural"] == "appimages"
    assert version()["name"] == "v1alpha1"


def test_crd_schema_is_structural():
    for path, node in walk(version()["schema"]["openAPIV3Schema"]):
        assert "$ref" not in node, path
        assert not any(key.startswith("x-rest") for key in node), path
        assert "type" in node or node.get("x-kubernetes-int-or-string"), path
        if "properties" in node:
            assert "additionalProperties" not in node, path


def test_crd_defaults_are_the_webhooks():
    nodes = dict(walk(version()["schema"]["openAPIV3Schema"]))
    template = "openAPIV3Schema.spec.deployTemplates[]"
    port = f"{template}.spec.containers[].ports[]"
    assert nodes[f"{template}.replicas"]["default"] == defaulting.DEFAULT_REPLICAS
    assert nodes[f"{port}.protocol"]["default"] == defaulting.DEFAULT_PROTOCOL
    assert nodes[f"{port}.scope"]["default"] == defaulting.DEFAULT_SCOPE


def test_crd_keeps_the_enums():
    nodes = dict(walk(version()["schema"]["openAPIV3Schema"]))
    restart = nodes["openAPIV3Schema.spec.deployTemplates[].spec.restartPolicy"]
    assert restart["enum"] == ["", "Always", "OnFailure", "Never"]


def test_crd_has_a_cel_rule_for_one_probe_handler():
    nodes = dict(walk(version()["schema"]["openAPIV3Schema"]))
    probe = nodes["openAPIV3Schema.spec.deployTemplates[].spec.containers[].livenessProbe"]
    assert "exactly one handler" in probe["x-kubernetes-validations"][0]["message"]


def test_crd_marks_named_lists_as_maps():
    nodes = dict(walk(version()["schema"]["openAPIV3Schema"]))
    containers = nodes["openAPIV3Schema.spec.deployTemplates[].spec.containers"]
    assert containers["x-kubernetes-list-type"] == "map"
    assert containers["x-kubernetes-list-map-keys"] == ["name"]
