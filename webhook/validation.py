"""Validation: the schema plus every semantic rule, one implementation for both paths.

Pure, no I/O. Works on the custom-resource shape and reports paths in it; the REST
layer maps them to its own spelling with ``model.rest_path``. Every problem is
reported at once. Rules guard their own types, so an ill-typed field that the schema
already named never hides the problems of its neighbours.

Errors refuse the object; warnings (a ``subPath`` naming no template, a probe on an
undeclared port, zero replicas) are passed back to the caller and change nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from webhook import formats, model, podspec, schemas

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

    def error(self, path: model.Path, message: str) -> None:
        self.errors.append((path, message))

    def warn(self, path: model.Path, message: str) -> None:
        self.warnings.append((path, message))

    def check(self, path: model.Path, key: model.Token, value: Any,
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


def _unique(report: Report, seen: dict[str, model.Path], name: Any, path: model.Path,
            what: str) -> None:
    if not isinstance(name, str) or not name:
        return
    if name in seen:
        report.error(path, f"duplicate {what} {name!r} (also at {model.format_path(seen[name])})")
    else:
        seen[name] = path


def _image(report: Report, image: dict[str, Any], path: model.Path) -> None:
    report.check(path, "name", image.get("name"), formats.image_name)
    tag = image.get("tag")
    if tag:
        report.check(path, "tag", tag, formats.image_tag)


def _resources(report: Report, resources: dict[str, Any], path: model.Path) -> None:
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


def _named_port(report: Report, port: Any, declared: set[str], path: model.Path) -> None:
    report.check(path, "port", port, formats.port_name)
    if isinstance(port, str) and port and port not in declared and not formats.port_name(port):
        report.warn((*path, "port"), f"names no port declared by this container ({port!r})")


def _probe(report: Report, kind: str, probe: dict[str, Any], declared: set[str],
           path: model.Path) -> None:
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


def _env(report: Report, container: dict[str, Any], path: model.Path) -> None:
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
        if "=" in str(source.get("prefix", "")):
            report.error((*where, "prefix"), "must not contain '='")


def _mounts(report: Report, container: dict[str, Any], templates: Mapping[str, Any],
            path: model.Path) -> None:
    for m, mount in model.objects_in(container.get("configVolumeMounts")):
        where = (*path, "configVolumeMounts", m)
        report.check(where, "mountPath", mount.get("mountPath"), _any)
        sub = mount.get("subPath")
        if not isinstance(sub, str) or not sub:
            continue
        if sub.startswith("/") or ".." in sub.split("/"):
            report.error((*where, "subPath"), "must be a relative path without '..'")
        elif sub not in templates:
            report.warn((*where, "subPath"), f"names no configTemplates key ({model.abbreviate(sub)!r})")


def _container(report: Report, container: dict[str, Any], ports: dict[str, model.Path],
               templates: Mapping[str, Any], path: model.Path) -> None:
    report.check(path, "name", container.get("name"), formats.dns_label)
    declared: set[str] = set()
    for p, port in model.objects_in(container.get("ports")):
        name = port.get("name")
        report.check((*path, "ports", p), "name", name, formats.port_name)
        _unique(report, ports, name, (*path, "ports", p, "name"), "port name")
        if isinstance(name, str):
            declared.add(name)
    _env(report, container, path)
    _mounts(report, container, templates, path)
    _resources(report, _dict(container.get("resources")), (*path, "resources"))
    for kind in PROBES:
        if isinstance(probe := container.get(kind), dict):
            _probe(report, kind, probe, declared, (*path, kind))


def _template(report: Report, template: dict[str, Any], templates: Mapping[str, Any],
              path: model.Path) -> None:
    report.check(path, "name", template.get("name"), _any)
    if template.get("replicas") == 0:
        report.warn((*path, "replicas"), "is 0: this template starts no pods")
    names: dict[str, model.Path] = {}
    ports: dict[str, model.Path] = {}
    for c, container in model.objects_in(_dict(template.get("spec")).get("containers")):
        where = (*path, "spec", "containers", c)
        _unique(report, names, container.get("name"), (*where, "name"), "container name")
        _container(report, container, ports, templates, where)


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
    names: dict[str, model.Path] = {}
    for t, template in model.objects_in(spec.get("deployTemplates")):
        path = ("spec", "deployTemplates", t)
        _unique(report, names, template.get("name"), (*path, "name"), "deploy template name")
        _template(report, template, templates, path)
    if not report.errors:
        # Only a clean object is worth the PodSpec check: on a broken one it would
        # repeat what the rules above said in Kubernetes' words.
        checker = checker or podspec.checker()
        for t, template in model.objects_in(spec.get("deployTemplates")):
            report.errors += podspec.problems(checker, template, ("spec", "deployTemplates", t))
    return report
