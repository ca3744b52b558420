"""The rules of an AppImage that JSON Schema cannot state, by name, for the REST schema.

Pure data. ``validation`` enforces them in code (on both paths); ``schemagen`` lists them
as ``x-rules`` of each request that carries an AppImage, so a reader of the OpenAPI
document (or a generator of requests) knows what the schema does not say. What a schema
can state it states instead (patterns, lengths, bounds, ``required``, ``oneOf``…);
these are what remains: rules over several fields, and the few a pattern cannot state
alike in every engine. tests/rest/test_openapi_positives.py holds the list to the
server: every refusal of a request generated from the document must be one of these.

``paths`` are REST paths with ``[]`` for every list item or map key. A rule with
``unique_within`` says the values at its paths must not repeat within each node at that
path (``""``: the whole request), after splitting each value at ``separator`` if given.
Warnings change nothing: the answer carries them as HTTP ``Warning`` headers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

_CONTAINER = "deploy_templates[].containers[]"
_PROBES = [f"{_CONTAINER}.{probe}" for probe in ("liveness_probe", "readiness_probe", "startup_probe")]
_QUANTITIES = [f"{_CONTAINER}.resources.{kind}.{resource}"
               for kind in ("limits", "requests") for resource in ("cpu", "memory")]


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule, as ``x-rules`` lists it."""

    id: str
    description: str
    paths: tuple[str, ...]
    severity: Literal["error", "warning"] = "error"
    unique_within: str | None = None
    separator: str | None = None

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "severity": self.severity,
                               "paths": list(self.paths), "description": self.description}
        if self.unique_within is not None:
            out["unique_within"] = self.unique_within
        if self.separator is not None:
            out["separator"] = self.separator
        return out


RULES = (
    Rule("unique-container-names", "Container names are unique within a deploy template.",
         (f"{_CONTAINER}.name",), unique_within="deploy_templates[]"),
    Rule("unique-port-names", "Port names are unique within a deploy template, across its "
         "containers: Kuscia allocates and names ports per pod.",
         (f"{_CONTAINER}.ports[].name",), unique_within="deploy_templates[]"),
    Rule("unique-mount-paths", "Config volume mount paths are unique within a container.",
         (f"{_CONTAINER}.config_volume_mounts[].mount_path",), unique_within=_CONTAINER),
    Rule("one-template-per-role", "A role is served by one deploy template at most: Kuscia "
         "picks the first template whose role list (comma-separated, outer commas ignored) "
         "names the party's role.", ("deploy_templates[].role",), unique_within="",
         separator=","),
    Rule("request-within-limit", "A container's cpu or memory request does not exceed its "
         "limit.", tuple(q for q in _QUANTITIES if ".requests." in q)),
    Rule("quantity-in-range", "A quantity's value fits the server's decimal arithmetic "
         "(an exponent up to about 10^6).", tuple(_QUANTITIES)),
    Rule("config-template-renders", "A config template holding '{{' is one Kuscia's renderer "
         "(Go text/template) parses and runs: valid syntax, Go's functions with their "
         "arguments, and port selections naming ports the containers mounting it declare.",
         ("config_templates[]",)),
    Rule("image-name-as-pulled", "An image name is at most 255 characters as container "
         "runtimes spell it: docker.io/ added when it names no registry, and library/ too "
         "when it is one component.", ("image.name",)),
    Rule("pod-spec", "Each deploy template, as the Kubernetes PodSpec Kuscia runs, passes "
         "Kubernetes' PodSpec schema (kubernetes-validate, the configured Kubernetes version).",
         ("deploy_templates[]",)),
    Rule("sub-path-names-a-config-template", "A config volume mount's sub_path names a "
         "config_templates key.", (f"{_CONTAINER}.config_volume_mounts[].sub_path",),
         severity="warning"),
    Rule("mounts-need-config-templates", "Config volume mounts mount config_templates: "
         "without any, Kuscia mounts nothing.", (f"{_CONTAINER}.config_volume_mounts",),
         severity="warning"),
    Rule("one-template-without-role", "Of the deploy templates without a role, Kuscia uses "
         "only the last.", ("deploy_templates[]",), severity="warning"),
    Rule("probe-port-declared", "An http_get or tcp_socket probe port names a port its "
         "container declares.", tuple(f"{p}.{h}.port" for p in _PROBES
                                      for h in ("http_get", "tcp_socket")), severity="warning"),
)
"""Every rule, errors first; ids are stable."""
