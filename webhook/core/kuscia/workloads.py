"""Kuscia's workloads and the AppImages they run: the cross-resource rules.

Pure, no I/O but the ``Lookup`` protocol. Kuscia's KusciaJob (``spec.tasks[].appImage``,
with ``tasks[].parties[].role``), KusciaTask and KusciaDeployment
(``spec.parties[].appImageRef`` with ``.role``; a deployment's party also names containers
in ``template.spec.containers[].name``) run AppImages, and Kuscia checks none of these
links before it runs them: a missing AppImage or a role no template serves fails a task
at pod start (after three retries) and a deployment at its next reconcile; a deleted
AppImage pulls the ground from under everything that uses it. ``Guard`` holds the links
to the rules, for admission and for the REST and gRPC delete and update alike:

* an AppImage in use is not deleted: by any KusciaDeployment (they run for ever), a
  KusciaJob not finished (``Succeeded``, ``Cancelled``, ``ApprovalReject``; ``Failed`` and
  ``Suspended`` jobs can be restarted) or a KusciaTask not finished (``Succeeded``,
  ``Failed``); no phase yet is not finished;
* an update is refused when a user's role would get no template (as ``roles.select``
  picks them) or a deployment's named container would be gone; a changed image is a
  warning naming the deployments that will roll;
* a new or changed workload must name AppImages that exist, with a template for every
  party's role and the containers a deployment's party names.

Users are named ``Kind namespace/name``, at most ``MAX_NAMED``, then a count. The policy
(``deny``, ``warn``, ``off``) decides what a finding is; a lookup that fails is, under
``deny``, a refusal that says so, and under ``warn`` a warning: never an unexpected error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from webhook.core.kuscia import roles

Policy = Literal["deny", "warn", "off"]
POLICIES: tuple[Policy, ...] = ("deny", "warn", "off")
MAX_NAMED = 10
"""Users named in one message; the rest are counted."""

JOB, TASK, DEPLOYMENT = "KusciaJob", "KusciaTask", "KusciaDeployment"
PLURALS = {JOB: "kusciajobs", TASK: "kusciatasks", DEPLOYMENT: "kusciadeployments"}
"""Kuscia's kinds that run AppImages, and their resource names."""
FINISHED = {JOB: frozenset({"Succeeded", "Cancelled", "ApprovalReject"}),
            TASK: frozenset({"Succeeded", "Failed"}), DEPLOYMENT: frozenset()}
"""The phases after which a workload never runs its AppImage again."""
ADVICE = ("to change what it runs, update it in place (kubectl apply), or serve with "
          "--kuscia-references warn")


@dataclass(frozen=True, slots=True)
class Use:
    """One party of a workload (or a task without parties) and the AppImage it runs."""

    appimage: str
    ref: str
    """Where the workload names the AppImage, e.g. ``spec.tasks[1].appImage``."""
    role: str | None
    """The party's role (``""``: none); None for a task with no party to place."""
    where: str
    """The party, e.g. ``spec.tasks[1].parties[0]``."""
    containers: tuple[tuple[str, str], ...] = ()
    """(name, path) of each container a deployment's party names."""

    @property
    def key(self) -> tuple[str, str | None, tuple[str, ...]]:
        """What the rules judge: an UPDATE that keeps every key of a workload is not judged."""
        return self.appimage, self.role, tuple(name for name, _ in self.containers)


@dataclass(frozen=True, slots=True)
class Workload:
    kind: str
    namespace: str
    name: str
    phase: str
    uses: tuple[Use, ...]

    @property
    def finished(self) -> bool:
        return self.phase in FINISHED.get(self.kind, frozenset())

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def _dicts(value: Any) -> list[tuple[int, dict[str, Any]]]:
    return [(i, v) for i, v in enumerate(value) if isinstance(v, dict)] if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def parse(obj: Mapping[str, Any]) -> Workload | None:
    """The workload ``obj`` is (a custom resource of one of ``PLURALS``' kinds), or None."""
    kind = obj.get("kind")
    if kind not in PLURALS:
        return None
    metadata, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    status = obj.get("status") or {}
    uses: list[Use] = []
    if kind == JOB:
        for t, task in _dicts(spec.get("tasks")):
            ref, appimage = f"spec.tasks[{t}].appImage", _str(task.get("appImage"))
            parties = _dicts(task.get("parties"))
            uses += [Use(appimage, ref, _str(party.get("role")), f"spec.tasks[{t}].parties[{p}]")
                     for p, party in parties]
            if not parties:
                uses.append(Use(appimage, ref, None, f"spec.tasks[{t}]"))
    else:
        for p, party in _dicts(spec.get("parties")):
            where = f"spec.parties[{p}]"
            containers = tuple(
                (_str(c.get("name")), f"{where}.template.spec.containers[{k}].name")
                for k, c in _dicts(((party.get("template") or {}).get("spec") or {}).get("containers"))
            ) if kind == DEPLOYMENT else ()
            uses.append(Use(_str(party.get("appImageRef")), f"{where}.appImageRef", _str(party.get("role")),
                            where, containers))
    return Workload(str(kind), _str(metadata.get("namespace")), _str(metadata.get("name")),
                    _str(status.get("phase")) if isinstance(status, dict) else "", tuple(uses))


def changed(old: Workload | None, new: Workload) -> list[Use]:
    """The uses of ``new`` that ``old`` did not have: on UPDATE, only those are judged."""
    before = {use.key for use in old.uses} if old is not None else set()
    return [use for use in new.uses if use.appimage and use.key not in before]


# --- the rules on an AppImage's templates ---------------------------------------------------


def _templates(appimage: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [t for _, t in _dicts((appimage.get("spec") or {}).get("deployTemplates"))]


def _containers(template: Mapping[str, Any]) -> set[str]:
    return {_str(c.get("name")) for _, c in _dicts((template.get("spec") or {}).get("containers"))}


def essentials(appimage: Mapping[str, Any]) -> dict[str, Any]:
    """What the rules read of an AppImage, and only that: its deploy templates' names,
    roles and container names (what a cache of every AppImage needs to keep)."""
    return {"spec": {"deployTemplates": [
        {"name": t.get("name"), "role": t.get("role"),
         "spec": {"containers": [{"name": name} for name in sorted(_containers(t))]}}
        for t in _templates(appimage)]}}


def placement(use: Use, appimage: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What keeps ``use`` from running on ``appimage``: (path in the workload, message)."""
    if use.role is None:
        return []
    templates = _templates(appimage)
    chosen = roles.select(templates, use.role)
    name = use.appimage
    if chosen is None:
        return [(f"{use.where}.role", f'no deploy template of AppImage "{name}" serves role "{use.role}"')]
    template = templates[chosen]
    have = _containers(template)
    return [(path, f'deploy template "{_str(template.get("name"))}" of AppImage "{name}" has no '
                   f'container "{container}"')
            for container, path in use.containers if container not in have]


def named(users: Sequence[Workload]) -> str:
    """``Kind namespace/name, …`` of at most ``MAX_NAMED`` users, then how many more."""
    shown = ", ".join(str(u) for u in users[:MAX_NAMED])
    rest = len(users) - MAX_NAMED
    return shown + (f" and {rest} more" if rest > 0 else "")


def _uses_of(users: Iterable[Workload], name: str) -> list[tuple[Workload, Use]]:
    return [(user, use) for user in users for use in user.uses if use.appimage == name]


def broken_by_update(name: str, new: Mapping[str, Any], users: Sequence[Workload]) -> list[str]:
    """Why the AppImage ``name`` updated to ``new`` would break the unfinished ``users``."""
    found: dict[str, list[Workload]] = {}
    for user, use in _uses_of((u for u in users if not u.finished), name):
        for _, problem in placement(use, new):
            found.setdefault(problem, []).append(user)
    return [f"after this update {problem}, as {named(list(dict.fromkeys(who)))} needs"
            for problem, who in found.items()]


def rolling(name: str, old: Mapping[str, Any], new: Mapping[str, Any],
            users: Sequence[Workload]) -> str | None:
    """A warning naming the KusciaDeployments that run a new image once ``name`` changes
    its ``spec.image``; None when the image stays or no deployment uses it."""
    if (old.get("spec") or {}).get("image") == (new.get("spec") or {}).get("image"):
        return None
    deployments = list(dict.fromkeys(u for u, _ in _uses_of(users, name) if u.kind == DEPLOYMENT))
    if not deployments:
        return None
    return f"the new image rolls out to the Pods of {named(deployments)} at their next reconcile"


# --- the guard ----------------------------------------------------------------------------------


class Unavailable(Exception):
    """A lookup failed (the API server did not answer, or refused): the message says how."""


class Lookup(Protocol):
    """What the rules need to know of the cluster; ``Unavailable`` when it cannot say."""

    async def users(self, appimage: str) -> list[Workload]:
        """Every workload naming ``appimage``, finished ones included."""

    async def appimages(self, names: Iterable[str], *, fresh: bool = False
                        ) -> dict[str, Mapping[str, Any] | None]:
        """Each named AppImage (the custom resource, or at least its ``essentials``), None
        for one that does not exist; ``fresh``: asked of the source of truth, not of a
        cache that may lag behind it."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the policy makes of the findings: ``errors`` refuse, ``warnings`` do not.
    An error is a (path, message) pair; the path is ``""`` where no field is at fault."""

    errors: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Guard:
    """The rules over ``lookup`` under ``policy``."""

    lookup: Lookup | None
    """None: nothing to look in (the SQLite store, or Kuscia's CRDs absent)."""
    policy: Policy = "deny"

    @property
    def active(self) -> bool:
        return self.lookup is not None and self.policy != "off"

    def _verdict(self, errors: list[tuple[str, str]], warnings: Sequence[str] = ()) -> Verdict:
        if self.policy == "warn":
            return Verdict([], [*(f"{p}: {m}" if p else m for p, m in errors), *warnings])
        return Verdict(errors, list(warnings))

    def _failed(self, what: str, e: Unavailable) -> Verdict:
        return self._verdict([("", f"cannot check {what}: {e}")])

    async def delete(self, name: str) -> Verdict:
        """Deleting the AppImage ``name``."""
        if not self.active or self.lookup is None:
            return Verdict()
        try:
            users = await self.lookup.users(name)
        except Unavailable as e:
            return self._failed(f"which workloads use AppImage {name!r}", e)
        busy = list(dict.fromkeys(u for u in users if not u.finished))
        if not busy:
            return Verdict()
        return self._verdict([("", f"AppImage {name!r} is in use by {named(busy)}; {ADVICE}")])

    async def update(self, name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> Verdict:
        """Updating the AppImage ``name`` from ``old`` to ``new``."""
        if not self.active or self.lookup is None:
            return Verdict()
        try:
            users = await self.lookup.users(name)
        except Unavailable as e:
            return self._failed(f"which workloads use AppImage {name!r}", e)
        problems = [("spec.deployTemplates", p) for p in broken_by_update(name, new, users)]
        roll = rolling(name, old, new, users)
        return self._verdict(problems, [roll] if roll else [])

    async def workload(self, old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> Verdict:
        """A KusciaJob, KusciaTask or KusciaDeployment created (``old`` None) or updated."""
        workload = parse(new)
        if not self.active or self.lookup is None or workload is None:
            return Verdict()
        before = parse(old) if old is not None else None
        judged = changed(before, workload)
        if not judged:
            return Verdict()
        names = {use.appimage for use in judged}
        try:
            errors = _misplaced(judged, await self.lookup.appimages(names))
            if errors:  # a cache may lag: what it refuses is asked again of the source
                errors = _misplaced(judged, await self.lookup.appimages(names, fresh=True))
        except Unavailable as e:
            return self._failed("the AppImages it names", e)
        return self._verdict(errors)


def _misplaced(uses: Iterable[Use], found: Mapping[str, Mapping[str, Any] | None]) -> list[tuple[str, str]]:
    """What keeps each of ``uses`` from running on the AppImages ``found``."""
    errors: list[tuple[str, str]] = []
    for use in uses:
        appimage = found.get(use.appimage)
        if appimage is None:
            errors.append((use.ref, f"AppImage {use.appimage!r} does not exist"))
        else:
            errors += placement(use, appimage)
    return list(dict.fromkeys(errors))


NO_GUARD: Guard = Guard(None)
"""Nothing looked up, nothing judged: the SQLite store, or ``--kuscia-references off``."""
