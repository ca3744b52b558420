"""The AppImage CustomResourceDefinition, generated from ``schemas/appimage.schema.json``.

Pure after loading. Turns the JSON Schema into a structural OpenAPI v3 schema the API
server accepts, whose field paths, types, formats, enums and defaults are those of
Kuscia's own CRD (tests/core/test_crd.py holds them): ``$ref`` inlined, the Kubernetes core
types (``x-kubernetes-definition``) inlined from Kubernetes' own schema (``kubetypes``),
``additionalProperties: false`` dropped (the API server prunes or, with strict field
validation, refuses unknown fields itself), number-or-string values made
``x-kubernetes-int-or-string`` (quantities with the API server's pattern), the defaults
of ``defaulting`` written as ``default`` (so the API server defaults even when the
webhook is down) with proto3's "" left out of their enums, list items with unique names
marked ``x-kubernetes-list-type: map``, and CEL rules for what a schema cannot say
(exactly one probe handler).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from webhook.core import defaulting, kubetypes, model, sources

# Which $defs field takes which default: the same constants the webhook defaults with.
DEFAULTS = {
    ("DeployTemplate", "replicas"): defaulting.DEFAULT_REPLICAS,
    ("ContainerPort", "protocol"): defaulting.DEFAULT_PROTOCOL,
    ("ContainerPort", "scope"): defaulting.DEFAULT_SCOPE,
}
# Lists whose items are keyed by a unique name (server-side apply merges by it).
LIST_MAP_KEYS = {
    ("DeployTemplateSpec", "containers"): "name",
    ("Container", "ports"): "name",
}


@dataclass(frozen=True, slots=True)
class Rule:
    """A CEL rule of the CRD: exactly one of these fields is set. ``rule`` is the CEL the
    API server runs; ``holds`` its twin in Python, which the mutating webhook runs to
    know the API server will refuse an object (``webhook.crdcheck``) before it does."""

    one_of: tuple[str, ...]
    message: str

    @property
    def rule(self) -> str:
        return " + ".join(f"(has(self.{f}) ? 1 : 0)" for f in self.one_of) + " == 1"

    def holds(self, obj: Mapping[str, Any]) -> bool:
        return sum(obj.get(f) is not None for f in self.one_of) == 1


VALIDATIONS = {
    "Probe": [Rule(("exec", "httpGet", "tcpSocket", "grpc"),
                   "a probe needs exactly one handler of exec, httpGet, tcpSocket, grpc")],
    "EnvFromSource": [Rule(("configMapRef", "secretRef"),
                           "an envFrom entry needs exactly one of configMapRef, secretRef")],
}
_DROP = {"$schema", "$id", "$defs", "title", "additionalProperties", "x-rest-flatten",
         "x-rest-type", "x-rest-aliases", "x-rest-zero", "x-rest-format", "x-rest-key-format",
         "x-rest-schema", "x-cr-only", "x-kubernetes-definition", "oneOf"}
# A Kubernetes quantity as the API server's own CRDs spell it (resource.Quantity).
QUANTITY_PATTERN = (r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
                    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$")
QUANTITIES = ("Quantity", "io.k8s.apimachinery.pkg.api.resource.Quantity")


def _int_or_string(out: dict[str, Any], definition: str) -> None:
    out.pop("type", None)
    out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    out["x-kubernetes-int-or-string"] = True
    if definition in QUANTITIES:
        out["pattern"] = QUANTITY_PATTERN


def _structural(schema: Mapping[str, Any], root: Mapping[str, Any], definition: str) -> dict[str, Any]:
    name, body = model.resolve(schema, root)
    if name:
        merged = {**body, **{k: v for k, v in schema.items() if k != "$ref"}}
        return _structural(merged, root, name)
    out = {k: copy.deepcopy(v) for k, v in body.items() if k not in _DROP and k != "properties"}
    kinds = body.get("type")
    if isinstance(kinds, list):
        kinds = [k for k in kinds if k != "null"]  # Kubernetes' "absent" (null) is implicit
        if len(kinds) == 1:
            out["type"] = kinds[0]
        else:
            _int_or_string(out, definition)
    elif "oneOf" in body:  # Kubernetes' IntOrString and Quantity
        _int_or_string(out, definition)
    if isinstance(body.get("additionalProperties"), Mapping):
        # A map; named properties beside it (a ResourceList's cpu and memory) are values
        # of the same kind, which a structural schema cannot list next to the map.
        out["additionalProperties"] = _structural(body["additionalProperties"], root, definition)
    elif "properties" in body:
        out["properties"] = {}
        for prop_name, prop in body["properties"].items():
            converted = _structural(prop, root, definition)
            if (definition, prop_name) in DEFAULTS:
                converted["default"] = DEFAULTS[(definition, prop_name)]
                if "enum" in converted:  # "" is proto3's "unset", which the webhook defaults
                    converted["enum"] = [v for v in converted["enum"] if v != ""]
            if (definition, prop_name) in LIST_MAP_KEYS:
                converted["x-kubernetes-list-type"] = "map"
                converted["x-kubernetes-list-map-keys"] = [LIST_MAP_KEYS[(definition, prop_name)]]
            out["properties"][prop_name] = converted
    if "items" in body:
        out["items"] = _structural(body["items"], root, definition)
    if definition in VALIDATIONS and "properties" in body:
        out["x-kubernetes-validations"] = [{"rule": r.rule, "message": r.message}
                                           for r in VALIDATIONS[definition]]
    return out


def openapi_schema() -> dict[str, Any]:
    """The structural schema of the AppImage custom resource."""
    root = kubetypes.with_core_types(sources.cr_schema())
    schema = _structural(root, root, "")
    schema["description"] = ("AppImage: an application image and the templates Kuscia "
                             "deploys it with.")
    schema["properties"]["metadata"] = {"type": "object"}  # the API server owns metadata
    schema["properties"]["apiVersion"] = {"type": "string"}
    schema["properties"]["kind"] = {"type": "string"}
    schema["required"] = ["metadata", "spec"]
    return schema


def manifest() -> dict[str, Any]:
    """The CustomResourceDefinition manifest (apiextensions.k8s.io/v1)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{model.PLURAL}.{model.GROUP}"},
        "spec": {
            "group": model.GROUP,
            "names": {"kind": model.KIND, "listKind": f"{model.KIND}List",
                      "plural": model.PLURAL, "singular": model.KIND.lower(),
                      "shortNames": ["aimg"]},
            "scope": "Cluster",
            "versions": [{
                "name": model.API_VERSION.split("/")[1],
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": openapi_schema()},
                "additionalPrinterColumns": [
                    {"name": "Image", "type": "string", "jsonPath": ".spec.image.name"},
                    {"name": "Tag", "type": "string", "jsonPath": ".spec.image.tag"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
            }],
        },
    }
