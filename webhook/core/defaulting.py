"""Defaulting: what an AppImage custom resource lacks, as edits, and the defaulted copy.

Pure, no I/O; never mutates its input. ``edits`` is the one place the rules live: it
reads the object and says what to set where; the admission layer turns the edits
straight into a JSON Patch (no copy of the object, no diff), and ``default`` applies
them to a copy for the REST API. No edits is "nothing to change", i.e. no patch.
Tolerates ill-typed input by leaving it alone: validation names those fields afterwards.

Defaults are Kuscia's CRD defaults: ``replicas`` 1, port ``protocol`` HTTP and
``scope`` Local. An ``envFrom`` entry naming both a ConfigMap and a Secret (the API
document's own example does; Kubernetes takes one source per entry) becomes two
entries with the same prefix, ConfigMap first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook.core import model, paths

DEFAULT_REPLICAS = 1
DEFAULT_PROTOCOL = "HTTP"
DEFAULT_SCOPE = "Local"

Warning_ = tuple[paths.Path, str]
Edit = tuple[paths.Path, Any]
"""Set the value at a path; its parent object exists (the key itself may not)."""


def _copy(value: Any) -> Any:
    # JSON values only: a few times faster than copy.deepcopy, which keeps a memo. A
    # null field is left out: it means absent, as the API server prunes it from a
    # custom resource before anyone sees it (a manifest read from a file still has it).
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _split_env_from(entries: list[Any], path: paths.Path, edits: list[Edit],
                    warnings: list[Warning_]) -> None:
    out: list[Any] = []
    for i, entry in enumerate(entries):
        if isinstance(entry, dict) and "configMapRef" in entry and "secretRef" in entry:
            out.append({k: v for k, v in entry.items() if k != "secretRef"})
            out.append({k: v for k, v in entry.items() if k != "configMapRef"})
            warnings.append(((*path, i), "names both configMapRef and secretRef; split into two "
                             "entries with the same prefix (Kubernetes takes one source per entry)"))
        else:
            out.append(entry)
    if len(out) != len(entries):
        edits.append((path, out))


def _container(container: dict[str, Any], path: paths.Path, edits: list[Edit],
               warnings: list[Warning_]) -> None:
    for p, port in model.objects_in(container.get("ports")):
        if port.get("protocol") in (None, ""):
            edits.append(((*path, "ports", p, "protocol"), DEFAULT_PROTOCOL))
        if port.get("scope") in (None, ""):
            edits.append(((*path, "ports", p, "scope"), DEFAULT_SCOPE))
    env_from = container.get("envFrom")
    if isinstance(env_from, list):
        _split_env_from(env_from, (*path, "envFrom"), edits, warnings)


def edits(obj: Mapping[str, Any]) -> tuple[list[Edit], list[Warning_]]:
    """What defaulting sets in ``obj`` (read, never written), and what it warns of."""
    found: list[Edit] = []
    warnings: list[Warning_] = []
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return found, warnings
    for t, template in model.objects_in(spec.get("deployTemplates")):
        path = ("spec", "deployTemplates", t)
        if template.get("replicas") is None:
            found.append(((*path, "replicas"), DEFAULT_REPLICAS))
        pod = template.get("spec")
        if isinstance(pod, dict):
            for c, container in model.objects_in(pod.get("containers")):
                _container(container, (*path, "spec", "containers", c), found, warnings)
    return found, warnings


def apply(obj: Mapping[str, Any], changes: list[Edit]) -> dict[str, Any]:
    """A copy of ``obj`` without its null fields and with ``changes`` (its ``edits``) made."""
    out: dict[str, Any] = _copy(dict(obj))
    for path, value in changes:
        parent: Any = out
        for token in path[:-1]:
            parent = parent[token]
        parent[path[-1]] = value
    return out


def overlay(obj: Mapping[str, Any], changes: list[Edit]) -> Mapping[str, Any]:
    """``obj`` as ``changes`` leave it, for reading only: the objects and lists on the
    changes' paths are copied, everything else is shared with ``obj`` (the admission
    webhook checks the defaulted object on every review; a whole copy would cost more
    than the check)."""
    if not changes:
        return obj
    out: dict[str, Any] = dict(obj)
    copied = {id(out)}
    for path, value in changes:
        parent: Any = out
        for token in path[:-1]:
            child = parent[token]
            if id(child) not in copied:
                child = dict(child) if isinstance(child, dict) else list(child)
                copied.add(id(child))
                parent[token] = child
            parent = child
        parent[path[-1]] = value
    return out


def default(obj: Mapping[str, Any]) -> tuple[dict[str, Any], list[Warning_]]:
    """The defaulted copy of an AppImage custom resource, and what defaulting warns of."""
    changes, warnings = edits(obj)
    return apply(obj, changes), warnings
