"""The generated CRD: structural, with the webhook's defaults, from the one schema."""

from __future__ import annotations

import pathlib

from webhook.core import crd, defaulting


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


# --- Kuscia's CRD: every field of it, with its facts -------------------------------

KUSCIA_FIELDS = pathlib.Path(__file__).parents[1] / "support" / "kuscia_crd_fields.txt"


def kuscia_fields() -> dict[str, dict[str, str]]:
    """Path (``.spec.deployTemplates[].name``) -> its facts in Kuscia's CRD."""
    fields = {}
    for line in KUSCIA_FIELDS.read_text().splitlines():
        if line and not line.startswith("#"):
            path, kind, *facts = line.split(" ")
            fields[path] = {"type": kind, **dict(fact.split("=", 1) for fact in facts)}
    return fields


def ours() -> dict[str, dict]:
    root = version()["schema"]["openAPIV3Schema"]
    return {path.removeprefix("openAPIV3Schema") or ".": node for path, node in walk(root)}


def facts_of(node: dict) -> dict[str, str]:
    """A node of our CRD described the way kuscia_crd_fields.txt describes Kuscia's."""
    facts = {"type": "int-or-string" if node.get("x-kubernetes-int-or-string") else node["type"]}
    if "format" in node:
        facts["format"] = node["format"]
    if "enum" in node:
        facts["enum"] = "|".join(node["enum"])
    if "default" in node:
        facts["default"] = str(node["default"])
    return facts


def test_every_field_of_kuscias_crd_is_in_ours_with_its_type_format_and_enum():
    # An enum where Kuscia has none (restartPolicy, imagePullPolicy…) is a rule we add:
    # only values Kubernetes would refuse at pod start are outside it.
    mine = ours()
    missing = [path for path in kuscia_fields() if path not in mine]
    differ = {path: (want, facts_of(mine[path])) for path, want in kuscia_fields().items()
              if path in mine and any(facts_of(mine[path]).get(key) != want.get(key)
                                      for key in ("type", "format", "enum")
                                      if key != "enum" or key in want)}
    assert missing == []
    assert differ == {}


def test_kuscias_defaults_are_ours():
    mine = ours()
    defaults = {path: want["default"] for path, want in kuscia_fields().items() if "default" in want}
    assert defaults  # protocol and scope
    assert {path: facts_of(mine[path]).get("default") for path in defaults} == defaults


def test_ours_requires_at_least_what_kuscias_crd_requires():
    mine = ours()
    lacking = {path: sorted(set(want["required"].split("|")) - set(mine[path].get("required", ())))
               for path, want in kuscia_fields().items() if "required" in want}
    assert {path: fields for path, fields in lacking.items() if fields} == {}


def test_quantities_have_the_api_servers_pattern_and_any_resource_name():
    mine = ours()
    limits = ".spec.deployTemplates[].spec.containers[].resources.limits"
    assert "properties" not in mine[limits]
    assert mine[f"{limits}{{}}"]["pattern"] == crd.QUANTITY_PATTERN
    assert mine[f"{limits}{{}}"]["anyOf"] == [{"type": "integer"}, {"type": "string"}]
