"""Validation: the schema plus every semantic rule, one implementation for both paths.

Pure, no I/O. Works on the custom-resource shape and reports paths in it; the REST
layer maps them to its own spelling with ``paths.rest_path``. Every problem is
reported at once. Rules guard their own types, so an ill-typed field that the schema
already named never hides the problems of its neighbours.

Errors refuse the object; warnings (a ``subPath`` naming no template, a probe on an
undeclared port, zero replicas) are passed back to the caller and change nothing. Where
Kuscia itself would fail later (two templates for one role, a metric probe on an
undeclared port, a config template its renderer cannot parse), it is an error here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from webhook.core import formats, model, paths, podspec, schemas
from webhook.core.kuscia import render

HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
# Kubernetes: liveness and startup probes must succeed once to count as succeeded.
SINGLE_SUCCESS_PROBES = ("livenessProbe", "startupProbe")
MAX_PORT = 65535


@dataclass(slots=True)
class Report:
    """What validation found: paths are CR-shaped tuples."""

    errors: list[schemas.Problem] = field(default_factory=list)
    warnings: list[schemas.Problem] = field(default_factory=list)

    def error(self, path: paths.Path, message: str) -> None:
        self.errors.append((path, message))

    def warn(self, path: paths.Path, message: str) -> None:
        self.warnings.append((path, message))

    def check(self, path: paths.Path, key: paths.Token, value: Any,
              rule: Callable[[str], str | None]) -> None:
        """Apply a ``formats`` rule to the string at ``path + (key,)``; an empty string
        is "required". The path is built only for an error: most values are fine."""
        if type(value) is not str:
            return  # the schema names wrong types
        reason = rule(value) if value else "must not be empty"
        if reason:
            self.error((*path, key), reason)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _any(_: str) -> None:
    """The rule of a string that only must not be empty."""


def _unique(report: Report, seen: dict[str, paths.Path], name: Any, path: paths.Path,
            what: str) -> None:
    if not isinstance(name, str) or not name:
        return
    if name in seen:
        report.error(path, f"duplicate {what} {name!r} (also at {paths.format_path(seen[name])})")
    else:
        seen[name] = path


def _image(report: Report, image: dict[str, Any], path: paths.Path) -> None:
    report.check(path, "name", image.get("name"), formats.image_name)
    tag = image.get("tag")
    if tag:
        report.check(path, "tag", tag, formats.image_tag)
    image_id = image.get("id")
    reason = formats.image_id(image_id) if isinstance(image_id, str) and image_id else None
    if reason:
        report.warn((*path, "id"), f"{reason}: Kuscia's agent compares only that form with the "
                    "local image, so this ID never matches")


def _resources(report: Report, resources: dict[str, Any], path: paths.Path) -> None:
    parsed: dict[str, dict[str, Decimal]] = {"limits": {}, "requests": {}}
    for kind in parsed:
        for resource, value in _dict(resources.get(kind)).items():
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                continue
            try:
                amount = formats.parse_quantity(value)
            except ValueError as e:
                report.error((*path, kind, resource), f"{value!r} {e}")
                continue
            if amount < 0:
                report.error((*path, kind, resource), f"must not be negative, not {value!r}")
            else:
                parsed[kind][resource] = amount
    for resource, request in parsed["requests"].items():
        limit = parsed["limits"].get(resource)
        if limit is not None and request > limit:
            report.error((*path, "requests", resource),
                         f"request {resources['requests'][resource]!r} exceeds the limit "
                         f"{resources['limits'][resource]!r}")


def _named_port(report: Report, port: Any, declared: set[str], path: paths.Path) -> None:
    report.check(path, "port", port, formats.port_name)
    if isinstance(port, str) and port and port not in declared and not formats.port_name(port):
        report.warn((*path, "port"), f"names no port declared by this container ({port!r})")


def _probe(report: Report, kind: str, probe: dict[str, Any], declared: set[str],
           path: paths.Path) -> None:
    handlers = [h for h in HANDLERS if probe.get(h) is not None]
    if len(handlers) != 1:
        found = f"has {', '.join(handlers)}" if handlers else "has none"
        report.error(path, f"needs exactly one handler of {', '.join(HANDLERS)}; {found}")
    if isinstance(exec_ := probe.get("exec"), dict) and not exec_.get("command"):
        report.error((*path, "exec", "command"), "must not be empty")
    for handler in ("httpGet", "tcpSocket"):
        action = probe.get(handler)
        if isinstance(action, dict):
            _named_port(report, action.get("port", ""), declared, (*path, handler))
    for h, header in model.objects_in(_dict(probe.get("httpGet")).get("httpHeaders")):
        report.check((*path, "httpGet", "httpHeaders", h), "name", header.get("name"),
                     formats.header_name)
    grpc = probe.get("grpc")
    if isinstance(grpc, dict):
        port = grpc.get("port", 0)
        if isinstance(port, int) and not 0 < port <= MAX_PORT:
            report.error((*path, "grpc", "port"), f"must be a port number from 1 to {MAX_PORT}")
    threshold = probe.get("successThreshold", 0)
    if kind in SINGLE_SUCCESS_PROBES and isinstance(threshold, int) and threshold > 1:
        report.error((*path, "successThreshold"), f"must be 0 or 1 for a {kind}, not {threshold}")


def _env(report: Report, container: dict[str, Any], path: paths.Path) -> None:
    for e, env in model.objects_in(container.get("env")):
        report.check((*path, "env", e), "name", env.get("name"), formats.env_name)
    for e, source in model.objects_in(container.get("envFrom")):
        where = (*path, "envFrom", e)
        refs = [r for r in ("configMapRef", "secretRef") if source.get(r) is not None]
        if not refs:
            report.error(where, "needs configMapRef or secretRef")
        elif len(refs) == 2:
            report.error(where, "names both configMapRef and secretRef; set one per entry "
                         "(the mutating webhook splits such entries)")
        for ref in refs:
            report.check((*where, ref), "name", _dict(source.get(ref)).get("name"),
                         formats.dns_subdomain)
        prefix = source.get("prefix")
        reason = formats.env_prefix(prefix) if isinstance(prefix, str) else None
        if reason:
            report.error((*where, "prefix"), reason)


def _mounts(report: Report, container: dict[str, Any], templates: Mapping[str, Any],
            path: paths.Path) -> None:
    mounts = container.get("configVolumeMounts")
    if isinstance(mounts, list) and mounts and not templates:
        report.warn((*path, "configVolumeMounts"),
                    "there are no configTemplates: Kuscia mounts nothing for these")
    mount_paths: dict[str, paths.Path] = {}
    for m, mount in model.objects_in(mounts):
        where = (*path, "configVolumeMounts", m)
        report.check(where, "mountPath", mount.get("mountPath"), _any)
        _unique(report, mount_paths, mount.get("mountPath"), (*where, "mountPath"), "mountPath")
        sub = mount.get("subPath")
        if not isinstance(sub, str) or not sub:
            continue
        reason = formats.sub_path(sub)
        if reason:
            report.error((*where, "subPath"), reason)
        elif templates and sub not in templates:
            report.warn((*where, "subPath"), f"names no configTemplates key ({paths.abbreviate(sub)!r})")


@dataclass(slots=True)
class _Pod:
    """What a deploy template's containers declare together: Kuscia maps ports per pod."""

    names: dict[str, paths.Path] = field(default_factory=dict)
    numbers: dict[str, paths.Path] = field(default_factory=dict)


def _port_number(report: Report, pod: _Pod, number: Any, path: paths.Path) -> None:
    if type(number) is not int or number == 0:
        return  # 0 or absent: Kuscia allocates one; other types are the schema's
    if not 0 < number <= MAX_PORT:
        report.error(path, f"must be a port number from 1 to {MAX_PORT}, or 0 for Kuscia to "
                     f"allocate one, not {number}")
    else:
        _unique(report, pod.numbers, str(number), path, "port number in this pod")


def _container(report: Report, container: dict[str, Any], pod: _Pod,
               templates: Mapping[str, Any], path: paths.Path) -> None:
    report.check(path, "name", container.get("name"), formats.dns_label)
    declared: set[str] = set()
    for p, port in model.objects_in(container.get("ports")):
        name = port.get("name")
        report.check((*path, "ports", p), "name", name, formats.port_name)
        _unique(report, pod.names, name, (*path, "ports", p, "name"), "port name")
        _port_number(report, pod, port.get("port"), (*path, "ports", p, "port"))
        if isinstance(name, str):
            declared.add(name)
    _env(report, container, path)
    _mounts(report, container, templates, path)
    _resources(report, _dict(container.get("resources")), (*path, "resources"))
    for kind in PROBES:
        if isinstance(probe := container.get(kind), dict):
            _probe(report, kind, probe, declared, (*path, kind))


def _metric_probe(report: Report, container: dict[str, Any], pod: _Pod, path: paths.Path) -> None:
    probe = container.get("metricProbe")
    if not isinstance(probe, dict):
        return
    port, metric_path = probe.get("port"), probe.get("path")
    if not (isinstance(port, str) and port and isinstance(metric_path, str) and metric_path):
        report.warn((*path, "metricProbe"), "needs both path and port: Kuscia ignores it otherwise")
    elif port not in pod.names:
        report.error((*path, "metricProbe", "port"), f"names no port of this pod ({port!r}): Kuscia "
                     "fails the pod with \"metric port name not found\"")


def _template(report: Report, template: dict[str, Any], templates: Mapping[str, Any],
              path: paths.Path) -> _Pod:
    report.check(path, "name", template.get("name"), _any)
    if template.get("replicas") == 0:
        report.warn((*path, "replicas"), "is 0: this template starts no pods")
    names: dict[str, paths.Path] = {}
    pod = _Pod()
    containers = list(model.objects_in(_dict(template.get("spec")).get("containers")))
    for c, container in containers:
        where = (*path, "spec", "containers", c)
        _unique(report, names, container.get("name"), (*where, "name"), "container name")
        _container(report, container, pod, templates, where)
    for c, container in containers:
        _metric_probe(report, container, pod, (*path, "spec", "containers", c))
    return pod


def roles(template: Mapping[str, Any]) -> list[str]:
    """The roles a template serves, split as Kuscia splits them (outer commas trimmed,
    no spaces trimmed); ``[]`` for a template without a role."""
    role = template.get("role")
    if not isinstance(role, str) or not role:
        return []
    return role.strip(",").split(",")


def _roles(report: Report, deploy_templates: list[tuple[int, dict[str, Any]]]) -> set[str]:
    """Kuscia selects a template by role: the first one listing the party's role, else
    the last one without a role. Returns every role some template serves."""
    served: dict[str, paths.Path] = {}
    roleless: list[paths.Path] = []
    for t, template in deploy_templates:
        path = ("spec", "deployTemplates", t, "role")
        listed = roles(template)
        if not listed:
            roleless.append(path)
        for role in listed:
            if role != role.strip() or not role:
                report.warn(path, f"role {role!r} has spaces or is empty: Kuscia matches the "
                            "party's role against it as it is")
        if len(set(listed)) != len(listed):
            report.warn(path, "lists a role twice")
        for role in dict.fromkeys(listed):
            if role in served:
                report.error(path, f"role {role!r} is also served by {paths.format_path(served[role][:3])}"
                             ": Kuscia would always pick that one")
            else:
                served[role] = path
    if len(roleless) > 1:
        report.warn(roleless[-1][:3], f"{len(roleless)} templates have no role: Kuscia uses only "
                    "the last of them for a party whose role no template lists")
    return set(served)


def _network_policy(report: Report, template: dict[str, Any], pod: _Pod, served: set[str],
                    path: paths.Path) -> None:
    for i, ingress in model.objects_in(_dict(template.get("networkPolicy")).get("ingresses")):
        where = (*path, "networkPolicy", "ingresses", i)
        for r, role in enumerate(_dict(ingress.get("from")).get("roles") or ()):
            if isinstance(role, str) and role not in served:
                report.warn((*where, "from", "roles", r), f"no deploy template serves role {role!r}")
        for p, port in model.objects_in(ingress.get("ports")):
            name = port.get("port")
            if isinstance(name, str) and name not in pod.names:
                report.warn((*where, "ports", p, "port"), f"names no port of this pod ({name!r})")


# Config templates recur in every review of an AppImage (kubectl apply, REST update),
# and their check parses Go template syntax in Python: it is remembered, for texts up
# to RENDER_MEMO_TEXT, in a table that starts over when full.
RENDER_MEMO_SIZE = 512
RENDER_MEMO_TEXT = 64 * 1024
_render_memo: dict[tuple[str, frozenset[str], frozenset[str]], list[render.Problem]] = {}


def _render_problems(text: str, ports: frozenset[str], env: frozenset[str]
                     ) -> list[render.Problem]:
    key = (text, ports, env)
    found = _render_memo.get(key)
    if found is None:
        found = render.check(text, ports=ports, env=env)
        if len(text) <= RENDER_MEMO_TEXT:
            if len(_render_memo) >= RENDER_MEMO_SIZE:
                _render_memo.clear()
            _render_memo[key] = found
    return found


def _render_context(key: str, deploy_templates: list[tuple[int, dict[str, Any]]]
                    ) -> tuple[frozenset[str], frozenset[str]]:
    """The port names and env var names Kuscia renders config template ``key`` with: those
    of the pods and containers that mount it (of all, when none does)."""
    mounted = False
    ports: set[str] = set()
    env: set[str] = set()
    every_port: set[str] = set()
    every_env: set[str] = set()
    for _, template in deploy_templates:
        containers = [c for _, c in model.objects_in(_dict(template.get("spec")).get("containers"))]
        pod_ports = {p.get("name") for c in containers for _, p in model.objects_in(c.get("ports"))}
        names = {p for p in pod_ports if isinstance(p, str)}
        every_port |= names
        for container in containers:
            container_env = {str(e["name"]) for _, e in model.objects_in(container.get("env"))
                             if isinstance(e.get("name"), str)}
            every_env |= container_env
            mounts = model.objects_in(container.get("configVolumeMounts"))
            if any(m.get("subPath") == key for _, m in mounts):
                mounted = True
                ports |= names
                env |= container_env
    if not mounted:
        return frozenset(every_port), frozenset(every_env)
    return frozenset(ports), frozenset(env)


def _config_templates(report: Report, templates: Mapping[str, Any],
                      deploy_templates: list[tuple[int, dict[str, Any]]]) -> None:
    """What Kuscia's renderer would trip over in each config template, by line and column."""
    for key, text in templates.items():
        if not isinstance(text, str) or "{{" not in text:
            continue  # no action: nothing to render
        ports, env = _render_context(key, deploy_templates)
        for problem in _render_problems(text, ports, env):
            message = f"line {problem.line}, column {problem.column}: {problem.message}"
            if problem.error:
                report.error(("spec", "configTemplates", key), message)
            else:
                report.warn(("spec", "configTemplates", key), message)


def validate(obj: Mapping[str, Any], checker: podspec.Checker | None = None) -> Report:
    """Every error and warning of an AppImage custom resource (defaulted or not)."""
    report = Report(errors=schemas.appimage().errors(obj))
    report.check(("metadata",), "name", _dict(obj.get("metadata")).get("name", ""), formats.dns_label)
    spec = _dict(obj.get("spec"))
    image = _dict(spec.get("image"))
    _image(report, image, ("spec", "image"))
    templates = _dict(spec.get("configTemplates"))
    for key in templates:
        report.check(("spec", "configTemplates"), key, key, formats.config_key)
    deploy_templates = list(model.objects_in(spec.get("deployTemplates")))
    _config_templates(report, templates, deploy_templates)
    served = _roles(report, deploy_templates)
    for t, template in deploy_templates:
        path = ("spec", "deployTemplates", t)
        pod = _template(report, template, templates, path)
        _network_policy(report, template, pod, served, path)
    if not report.errors:
        # Only a clean object is worth the PodSpec check: on a broken one it would
        # repeat what the rules above said in Kubernetes' words.
        checker = checker or podspec.checker()
        for t, template in model.objects_in(spec.get("deployTemplates")):
            report.errors += podspec.problems(checker, template, ("spec", "deployTemplates", t))
    return report
