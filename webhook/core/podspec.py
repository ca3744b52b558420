"""Each deploy template as the Kubernetes PodSpec Kuscia would run, checked against
kubernetes-validate's bundled schema for one Kubernetes version.

What Kuscia hands to Kubernetes unchanged is checked as it stands: the containers
(without copying them) and the restart policy. The fields Kuscia reads or rewrites
itself (``KUSCIA_CONTAINER_FIELDS``: ports in Kuscia's shape, config volume mounts)
are left to the AppImage schema, which checks them. Checking in place instead of
building a PodSpec first halved the check's time with cold caches.

Pure after loading. ``kubernetes_validate.validate()`` re-reads ~1.8 MB of definitions
on every call; here the PodSpec schema and its definitions are read
once, merged into one self-contained schema and compiled with jsonschema-rs.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from webhook.core import kubetypes, paths, schemas

# Container fields Kuscia turns into something else before Kubernetes sees them.
KUSCIA_CONTAINER_FIELDS = ("ports", "configVolumeMounts", "metricProbe")


class Checker:
    """The compiled strict PodSpec schema of one Kubernetes version."""

    def __init__(self, version: str) -> None:
        known = kubetypes.versions()
        # 1.33, v1.33 and v1.33.0 all name the bundled 1.33.0 schemas.
        minor = ".".join(version.removeprefix("v").split(".")[:2])
        matches = [v for v in known if v == version.removeprefix("v") or v.startswith(f"{minor}.")]
        if not matches:
            raise ValueError(f"--kubernetes-version: no PodSpec schema for Kubernetes {version}; "
                             f"kubernetes-validate has {', '.join(known)}")
        version = matches[-1]
        self.version = version
        schema = kubetypes.read(version, "podspec-v1.json")
        definitions = dict(kubetypes.read(version, "_definitions.json")["$defs"])
        container = definitions["io.k8s.api.core.v1.Container"]
        # Kuscia's fields are checked by the AppImage schema; only a copy is changed.
        definitions["io.k8s.api.core.v1.Container"] = {
            **container, "properties": {**container["properties"],
                                        **dict.fromkeys(KUSCIA_CONTAINER_FIELDS, True)}}
        # Only the ~110 of ~860 definitions a PodSpec reaches: the rest cost ~6 MB of
        # resident memory compiled, and are never used.
        schema["$defs"] = kubetypes.reachable(schema, definitions)
        self._validator = schemas.Validator(schema)

    def errors(self, pod_spec: Mapping[str, Any]) -> list[schemas.Problem]:
        return self._validator.errors(pod_spec)


@functools.cache
def checker(version: str | None = None) -> Checker:
    """The shared checker for ``version`` (default: the newest bundled)."""
    return Checker(version or kubetypes.latest_version())


def pod_spec(template: Mapping[str, Any]) -> dict[str, Any]:
    """A deploy template (CR shape) as the PodSpec to check: its containers as they are,
    its restart policy and affinity, fields left empty ("" or null) left out as Kuscia leaves
    them out (a container is copied only when it has such a field)."""
    spec = template.get("spec", {})
    containers = [
        c if not isinstance(c, dict) or (None not in c.values() and "" not in c.values())
        else {k: v for k, v in c.items() if v is not None and v != ""}
        for c in spec.get("containers", [])
    ]
    pod: dict[str, Any] = {"containers": containers}
    for kept in ("restartPolicy", "affinity"):
        if spec.get(kept):
            pod[kept] = spec[kept]
    return pod


def problems(schema: Checker, template: Mapping[str, Any], path: paths.Path
             ) -> list[schemas.Problem]:
    """Why the template's PodSpec would be refused by ``schema``, reported on the
    template's path."""
    return [
        (path, f"as a Kubernetes {schema.version} PodSpec, "
               f"{paths.format_path(sub) or 'the pod'}: {message}")
        for sub, message in schema.errors(pod_spec(template))
    ]
