"""Defaulting: an AppImage custom resource in, a defaulted copy out.

Pure, no I/O; never mutates its input, so the admission layer can diff the two into a
JSON Patch ("nothing changed" is "no patch"). Tolerates ill-typed input by leaving it
alone: validation names those fields afterwards.

Defaults are Kuscia's CRD defaults: ``replicas`` 1, port ``protocol`` HTTP and
``scope`` Local. An ``envFrom`` entry naming both a ConfigMap and a Secret (the API
document's own example does; Kubernetes takes one source per entry) becomes two
entries with the same prefix, ConfigMap first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook import model

DEFAULT_REPLICAS = 1
DEFAULT_PROTOCOL = "HTTP"
DEFAULT_SCOPE = "Local"

Warning_ = tuple[model.Path, str]


def _copy(value: Any) -> Any:
    # JSON values only: a few times faster than copy.deepcopy, which keeps a memo.
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _split_env_from(entries: list[Any], path: model.Path) -> tuple[list[Any], list[Warning_]]:
    out: list[Any] = []
    warnings: list[Warning_] = []
    for i, entry in enumerate(entries):
        if isinstance(entry, dict) and "configMapRef" in entry and "secretRef" in entry:
            rest = {k: v for k, v in entry.items() if k != "secretRef"}
            out.append(rest)
            out.append({k: v for k, v in entry.items() if k != "configMapRef"})
            warnings.append(((*path, i), "names both configMapRef and secretRef; split into two "
                             "entries with the same prefix (Kubernetes takes one source per entry)"))
        else:
            out.append(entry)
    return out, warnings


def _default_container(container: dict[str, Any], path: model.Path) -> list[Warning_]:
    for _, port in model.objects_in(container.get("ports")):
        if port.get("protocol") in (None, ""):
            port["protocol"] = DEFAULT_PROTOCOL
        if port.get("scope") in (None, ""):
            port["scope"] = DEFAULT_SCOPE
    env_from = container.get("envFrom")
    if isinstance(env_from, list):
        container["envFrom"], warnings = _split_env_from(env_from, (*path, "envFrom"))
        return warnings
    return []


def default(obj: Mapping[str, Any]) -> tuple[dict[str, Any], list[Warning_]]:
    """The defaulted copy of an AppImage custom resource, and what defaulting warns of."""
    out: dict[str, Any] = _copy(dict(obj))
    spec = out.get("spec")
    if not isinstance(spec, dict):
        return out, []
    warnings: list[Warning_] = []
    for t, template in model.objects_in(spec.get("deployTemplates")):
        if "replicas" not in template or template["replicas"] is None:
            template["replicas"] = DEFAULT_REPLICAS
        pod = template.get("spec")
        if not isinstance(pod, dict):
            continue
        for c, container in model.objects_in(pod.get("containers")):
            path = ("spec", "deployTemplates", t, "spec", "containers", c)
            warnings += _default_container(container, path)
    return out, warnings
