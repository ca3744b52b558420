"""Each deploy template as the Kubernetes PodSpec Kuscia would run, checked against
kubernetes-validate's bundled schema for one Kubernetes version.

What Kuscia hands to Kubernetes unchanged is checked as it stands: the containers
(without copying them) and the restart policy. The fields Kuscia reads or rewrites
itself (``KUSCIA_CONTAINER_FIELDS``: ports in Kuscia's shape, config volume mounts)
are left to the AppImage schema, which checks them. Checking in place instead of
building a PodSpec first took the check from ~17 to ~8 µs with cold caches.

Pure after loading. ``kubernetes_validate.validate()`` re-reads ~1.8 MB of definitions
on every call (~20 ms, FACTS.md); here the PodSpec schema and its definitions are read
once, merged into one self-contained schema and compiled with jsonschema-rs.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from kubernetes_validate import utils as kv_utils

from webhook import model, schemas

_REF_PREFIX = "/api/_definitions.json#/$defs/"
# Container fields Kuscia turns into something else before Kubernetes sees them.
KUSCIA_CONTAINER_FIELDS = ("ports", "configVolumeMounts")


def versions() -> list[str]:
    """Kubernetes versions kubernetes-validate bundles schemas for, oldest first."""
    return list(dict.fromkeys(kv_utils.all_versions()))  # it lists each twice (strict too)


def latest_version() -> str:
    return str(kv_utils.latest_version())


class Checker:
    """The compiled strict PodSpec schema of one Kubernetes version."""

    def __init__(self, version: str) -> None:
        known = versions()
        # 1.33, v1.33 and v1.33.0 all name the bundled 1.33.0 schemas.
        minor = ".".join(version.removeprefix("v").split(".")[:2])
        matches = [v for v in known if v == version.removeprefix("v") or v.startswith(f"{minor}.")]
        if not matches:
            raise ValueError(f"--kubernetes-version: no PodSpec schema for Kubernetes {version}; "
                             f"kubernetes-validate has {', '.join(known)}")
        version = matches[-1]
        self.version = version
        folder = resources.files("kubernetes_validate").joinpath(
            "kubernetes-json-schema", f"v{version}-local-strict")

        def read(name: str) -> Any:
            text = folder.joinpath(name).read_text().replace(_REF_PREFIX, "#/$defs/")
            return json.loads(text)

        schema = read("podspec-v1.json")
        definitions = read("_definitions.json")["$defs"]
        container = definitions["io.k8s.api.core.v1.Container"]
        for field in KUSCIA_CONTAINER_FIELDS:
            container["properties"][field] = True
        # Only the ~110 of ~860 definitions a PodSpec reaches: the rest cost ~6 MB of
        # resident memory compiled, and are never used.
        schema["$defs"] = _reachable(schema, definitions)
        self._validator = schemas.Validator(schema)

    def errors(self, pod_spec: Mapping[str, Any]) -> list[schemas.Problem]:
        return self._validator.errors(pod_spec)


def _reachable(schema: Any, definitions: dict[str, Any]) -> dict[str, Any]:
    """The definitions ``schema`` refers to, directly or through each other."""
    found: dict[str, Any] = {}
    pending = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                name = ref.removeprefix("#/$defs/")
                if name not in found:
                    found[name] = definitions[name]
                    pending.append(found[name])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return found


@functools.cache
def checker(version: str | None = None) -> Checker:
    """The shared checker for ``version`` (default: the newest bundled)."""
    return Checker(version or latest_version())


def pod_spec(template: Mapping[str, Any]) -> dict[str, Any]:
    """A deploy template (CR shape) as the PodSpec to check: its containers as they are
    and its restart policy, fields left empty ("" or null) left out as Kuscia leaves
    them out (a container is copied only when it has such a field)."""
    spec = template.get("spec", {})
    containers = [
        c if not isinstance(c, dict) or (None not in c.values() and "" not in c.values())
        else {k: v for k, v in c.items() if v is not None and v != ""}
        for c in spec.get("containers", [])
    ]
    pod: dict[str, Any] = {"containers": containers}
    if spec.get("restartPolicy"):
        pod["restartPolicy"] = spec["restartPolicy"]
    return pod


def problems(checker_: Checker, template: Mapping[str, Any], path: model.Path
             ) -> list[schemas.Problem]:
    """Why the template's PodSpec would be refused, reported on the template's path."""
    return [
        (path, f"as a Kubernetes {checker_.version} PodSpec, "
               f"{model.format_path(sub) or 'the pod'}: {message}")
        for sub, message in checker_.errors(pod_spec(template))
    ]
