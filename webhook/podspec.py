"""Each deploy template as the Kubernetes PodSpec Kuscia would run, checked against
kubernetes-validate's bundled schema for one Kubernetes version.

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

CONFIG_VOLUME = "config-template"
# Kuscia allocates real port numbers at deploy time; any valid number stands in here.
PLACEHOLDER_PORT_BASE = 20000

_REF_PREFIX = "/api/_definitions.json#/$defs/"
_CONTAINER_FIELDS = ("command", "args", "workingDir", "env", "envFrom", "resources",
                     "livenessProbe", "readinessProbe", "startupProbe", "imagePullPolicy")


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
        # Only the ~110 of ~860 definitions a PodSpec reaches: the rest cost ~6 MB of
        # resident memory compiled, and are never used.
        schema["$defs"] = _reachable(schema, read("_definitions.json")["$defs"])
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


def image_reference(image: Mapping[str, Any]) -> str:
    """``name:tag`` as Kuscia composes it (just ``name`` without a tag)."""
    name, tag = str(image.get("name", "")), str(image.get("tag", ""))
    return f"{name}:{tag}" if tag else name


def pod_spec(image: Mapping[str, Any], template: Mapping[str, Any]) -> dict[str, Any]:
    """A deploy template (CR shape) as a PodSpec: Kuscia-only fields left out, ports
    given placeholder numbers, config volume mounts mounting one ConfigMap volume."""
    spec = template.get("spec", {})
    containers = []
    port_number = PLACEHOLDER_PORT_BASE
    mounts_config = False
    for source in spec.get("containers", []):
        container: dict[str, Any] = {"name": source.get("name"), "image": image_reference(image)}
        container.update({k: source[k] for k in _CONTAINER_FIELDS if source.get(k) not in (None, "")})
        if ports := source.get("ports"):
            container["ports"] = []
            for port in ports:
                port_number += 1
                container["ports"].append(
                    {"name": port.get("name"), "containerPort": port_number, "protocol": "TCP"})
        if mounts := source.get("configVolumeMounts"):
            mounts_config = True
            container["volumeMounts"] = [
                {"name": CONFIG_VOLUME, "mountPath": m.get("mountPath"),
                 **({"subPath": m["subPath"]} if m.get("subPath") else {})}
                for m in mounts
            ]
        containers.append(container)
    pod: dict[str, Any] = {"containers": containers}
    if spec.get("restartPolicy"):
        pod["restartPolicy"] = spec["restartPolicy"]
    if mounts_config:
        pod["volumes"] = [{"name": CONFIG_VOLUME, "configMap": {"name": CONFIG_VOLUME}}]
    return pod


def problems(checker_: Checker, image: Mapping[str, Any], template: Mapping[str, Any],
             path: model.Path) -> list[schemas.Problem]:
    """Why the template's PodSpec would be refused, reported on the template's path."""
    return [
        (path, f"as a Kubernetes {checker_.version} PodSpec, "
               f"{model.format_path(sub) or 'the pod'}: {message}")
        for sub, message in checker_.errors(pod_spec(image, template))
    ]
