"""Kubernetes' own schemas of the core types, as kubernetes-validate bundles them.

Pure after loading (the files are read once). An AppImage embeds some core types as
they are (a deploy template's ``affinity``, a container's ``securityContext``, an env
var's ``valueFrom``); ``schemas/appimage.schema.json`` names them with
``x-kubernetes-definition`` instead of restating them, and the validator (``with_core_types``)
and the CRD (``webhook.crd``) take their schema from here.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from kubernetes_validate import utils as kv_utils

_REF_PREFIX = "/api/_definitions.json#/$defs/"


def versions() -> list[str]:
    """Kubernetes versions kubernetes-validate bundles schemas for, oldest first."""
    return list(dict.fromkeys(kv_utils.all_versions()))  # it lists each twice (strict too)


def latest_version() -> str:
    return str(kv_utils.latest_version())


def read(version: str, name: str) -> Any:
    """A file of kubernetes-validate's strict schemas for ``version``, with its
    references made local (``#/$defs/…``)."""
    folder = resources.files("kubernetes_validate").joinpath(
        "kubernetes-json-schema", f"v{version}-local-strict")
    return json.loads(folder.joinpath(name).read_text().replace(_REF_PREFIX, "#/$defs/"))


@functools.cache
def core_definitions() -> dict[str, Any]:
    """Kubernetes' own definitions (``io.k8s.api.core.v1.Affinity``…) of the newest
    bundled version: the schema of the core types an AppImage embeds
    (``x-kubernetes-definition`` in ``schemas/appimage.schema.json``). Read-only."""
    definitions: dict[str, Any] = read(latest_version(), "_definitions.json")["$defs"]
    return definitions


def with_core_types(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` with each ``x-kubernetes-definition`` node turned into a reference
    to that core type, whose definitions (and what they reach) join ``$defs``."""
    def expand(node: Any) -> Any:
        if isinstance(node, list):
            return [expand(item) for item in node]
        if not isinstance(node, dict):
            return node
        name = node.get("x-kubernetes-definition")
        if isinstance(name, str):  # the node's own keywords (a description…) stay beside it
            kept = {k: v for k, v in node.items() if k not in ("x-kubernetes-definition", "type")}
            return {"$ref": f"#/$defs/{name}", **kept}
        return {key: expand(value) for key, value in node.items()}

    expanded: dict[str, Any] = expand(dict(schema))
    expanded["$defs"] = {**expanded.get("$defs", {}),
                         **reachable(expanded, core_definitions())}
    return expanded


def reachable(schema: Any, definitions: dict[str, Any]) -> dict[str, Any]:
    """The definitions ``schema`` refers to, directly or through each other."""
    found: dict[str, Any] = {}
    pending = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                name = ref.removeprefix("#/$defs/")
                if name not in found and name in definitions:
                    found[name] = definitions[name]
                    pending.append(found[name])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return found
