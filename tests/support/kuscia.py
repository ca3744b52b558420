"""Kuscia's workloads for the tests: minimal CustomResourceDefinitions of KusciaJob,
KusciaTask and KusciaDeployment (what links them to AppImages, as Kuscia's own CRDs spell
it), objects of those kinds, and ``Table``, the links' lookup in memory.

Kuscia's kinds are namespaced (Kuscia runs them in ``cross-domain``), with a status
subresource and ``status.phase``. Only the fields the links read are declared, with the
fields Kuscia's CRDs require; the rest of a spec is kept as it comes
(``x-kubernetes-preserve-unknown-fields``), so a test object may carry more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from webhook.core.kuscia import workloads

GROUP = "kuscia.secretflow"
VERSION = "v1alpha1"
NAMESPACE = "cross-domain"
"""Where Kuscia creates and reconciles its workloads."""


def _string() -> dict[str, Any]:
    return {"type": "string"}


def _object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties,
                              "x-kubernetes-preserve-unknown-fields": True}
    if required:
        schema["required"] = list(required)
    return schema


def _list(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


_CONTAINER = _object({"name": _string(), "workingDir": _string()}, ("name", "workingDir"))
_PARTY_TEMPLATE = _object({"replicas": {"type": "integer"},
                           "spec": _object({"containers": _list(_CONTAINER)})})
_PARTY = _object({"domainID": _string(), "appImageRef": _string(), "role": _string(),
                  "template": _PARTY_TEMPLATE}, ("domainID", "appImageRef"))
SPECS = {
    "KusciaJob": _object({
        "initiator": _string(),
        "tasks": _list(_object({
            "alias": _string(), "appImage": _string(), "taskInputConfig": _string(),
            "parties": _list(_object({"domainID": _string(), "role": _string()}, ("domainID",))),
        }, ("alias", "appImage", "parties", "taskInputConfig"))),
    }, ("initiator", "tasks")),
    "KusciaTask": _object({"initiator": _string(), "taskInputConfig": _string(), "parties": _list(_PARTY)},
                          ("initiator", "parties", "taskInputConfig")),
    "KusciaDeployment": _object({"initiator": _string(), "inputConfig": _string(), "parties": _list(_PARTY)},
                                ("initiator", "inputConfig", "parties")),
}
PLURALS = workloads.PLURALS
SHORT_NAMES = {"KusciaJob": "kj", "KusciaTask": "kt", "KusciaDeployment": "kd"}


def manifest(kind: str) -> dict[str, Any]:
    """The CustomResourceDefinition of ``kind``."""
    plural = PLURALS[kind]
    schema = _object({"spec": SPECS[kind], "status": _object({"phase": _string()})}, ("spec",))
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP, "scope": "Namespaced",
            "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural,
                      "singular": kind.lower(), "shortNames": [SHORT_NAMES[kind]]},
            "versions": [{"name": VERSION, "served": True, "storage": True,
                          "subresources": {"status": {}},
                          "schema": {"openAPIV3Schema": schema}}],
        },
    }


def path(kind: str, name: str = "", namespace: str = NAMESPACE) -> str:
    """The API path of the namespaced collection of ``kind`` (or of one object)."""
    base = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURALS[kind]}"
    return f"{base}/{name}" if name else base


def _phased(obj: dict[str, Any], phase: str | None) -> dict[str, Any]:
    if phase is not None:
        obj["status"] = {"phase": phase}
    return obj


def job(name: str, *tasks: tuple[str, tuple[str, ...]], phase: str | None = None) -> dict[str, Any]:
    """A KusciaJob of a task per (AppImage, roles), a party for each role (none: a task
    without parties), in ``phase`` when given."""
    return _phased({
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "KusciaJob",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"initiator": "alice", "tasks": [
            {"alias": f"task-{t}", "appImage": appimage, "taskInputConfig": "{}",
             "parties": [{"domainID": f"domain-{i}", "role": role} for i, role in enumerate(roles)]}
            for t, (appimage, roles) in enumerate(tasks)]}}, phase)


def task(name: str, appimage: str, *roles: str, phase: str | None = None) -> dict[str, Any]:
    """A KusciaTask whose parties run ``appimage``, one for each role."""
    return _phased({
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "KusciaTask",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"initiator": "alice", "taskInputConfig": "{}", "parties": [
            {"domainID": f"domain-{i}", "appImageRef": appimage, "role": role}
            for i, role in enumerate(roles)]}}, phase)


def deployment(name: str, appimage: str, role: str, *containers: str) -> dict[str, Any]:
    """A KusciaDeployment of one party of ``role`` running ``appimage``, naming ``containers``."""
    template = {"replicas": 1, "spec": {"containers": [{"name": c, "workingDir": ""} for c in containers]}}
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "KusciaDeployment",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"initiator": "alice", "inputConfig": "", "parties": [
                {"domainID": "alice", "appImageRef": appimage, "role": role, "template": template}]}}


def appimage(*templates: tuple[str, str, tuple[str, ...]], name: str = "app",
             image: str = "secretflow/app:1") -> dict[str, Any]:
    """An AppImage with deploy templates of (name, role, container names)."""
    repository, _, tag = image.partition(":")
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AppImage", "metadata": {"name": name}, "spec": {
        "image": {"name": repository, "tag": tag},
        "deployTemplates": [{"name": n, "role": r, "replicas": 1, "spec": {
            "containers": [{"name": c, "workingDir": "/work"} for c in cs]}}
            for n, r, cs in templates]}}


class Table:
    """A ``workloads.Lookup`` over objects in memory, for the rules without a cluster
    (tests/e2e runs them on a real API server); ``broken`` makes every lookup fail."""

    def __init__(self, appimages: Mapping[str, dict[str, Any]] = {}, users: Iterable[dict[str, Any]] = (),
                 broken: bool = False) -> None:
        self._appimages = dict(appimages)
        self.cached: dict[str, dict[str, Any]] = dict(appimages)
        """What a cache says (the same until a test makes it lag)."""
        self.asked: list[tuple[tuple[str, ...], bool]] = []
        """Each ``appimages`` call: (names, fresh)."""
        self._users = [w for w in map(workloads.parse, users) if w is not None]
        self.broken = broken

    async def users(self, appimage: str) -> list[workloads.Workload]:
        if self.broken:
            raise workloads.Unavailable("the API server did not answer")
        return [w for w in self._users if any(u.appimage == appimage for u in w.uses)]

    async def appimages(self, names: Iterable[str], *, fresh: bool = False
                        ) -> dict[str, Mapping[str, Any] | None]:
        if self.broken:
            raise workloads.Unavailable("the API server did not answer")
        self.asked.append((tuple(sorted(names)), fresh))
        seen = self._appimages if fresh else self.cached
        return {name: seen.get(name) for name in names}
