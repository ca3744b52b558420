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

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from webhook.core import formats, model, paths, podspec, report, schemas
from webhook.core.kuscia import bfia, roles
from webhook.core.kuscia import templates as config_templates

HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
# Kubernetes: liveness and startup probes must succeed once to count as succeeded.
SINGLE_SUCCESS_PROBES = ("livenessProbe", "startupProbe")
MAX_PORT = 65535


def _any(_: str) -> None:
    """The rule of a string that only must not be empty."""


def _unique(found: report.Report, seen: dict[str, paths.Path], name: Any, path: paths.Path,
            what: str) -> None:
    if not isinstance(name, str) or not name:
        return
    if name in seen:
        found.error(path, f"duplicate {what} {name!r} (also at {paths.ref(seen[name])})")
    else:
        seen[name] = path


@dataclass(frozen=True, slots=True)
class Policy:
    """An operator's rules on images, which Kuscia has not (its agent's registry settings
    hold only credentials): off unless set."""

    allowed_registries: tuple[str, ...] = ()
    """Registry hosts (``host:port`` too) or ``host/path`` prefixes an image must come
    from, compared as a runtime normalises the name (no host: docker.io)."""
    require_image_digest: bool = False
    """``image.id`` must be ``sha256:`` and 64 hex digits, the form Kuscia's agent
    checks the pulled image against."""


def _image(found: report.Report, image: dict[str, Any], path: paths.Path, policy: Policy) -> None:
    """Kuscia pulls ``name:tag``: both must make a reference every runtime reads."""
    name = image.get("name")
    found.check(path, "name", name, formats.image_name)
    if isinstance(name, str) and name and not formats.image_name(name):
        reason = formats.allowed_registry(name, policy.allowed_registries)
        if reason:
            found.error((*path, "name"), reason)
    found.check(path, "tag", image.get("tag"), formats.image_tag)
    image_id = image.get("id")
    reason = formats.image_id(image_id) if isinstance(image_id, str) and image_id else None
    if policy.require_image_digest and (reason or not image_id):
        found.error((*path, "id"), f"{reason or 'must not be empty'}: this service requires the "
                    "image's digest, which Kuscia's agent checks the pulled image against")
    elif reason:
        found.warn((*path, "id"), f"{reason}: Kuscia's agent compares only that form with the "
                   "local image, so this ID never matches")


def _resources(found: report.Report, resources: dict[str, Any], path: paths.Path) -> None:
    parsed: dict[str, dict[str, Decimal]] = {"limits": {}, "requests": {}}
    for kind in parsed:
        for resource, value in report.mapping(resources.get(kind)).items():
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                continue
            try:
                amount = formats.parse_quantity(value)
            except ValueError as e:
                found.error((*path, kind, resource), f"{value!r} {e}")
                continue
            if amount < 0:
                found.error((*path, kind, resource), f"must not be negative, not {value!r}")
            else:
                parsed[kind][resource] = amount
    for resource, request in parsed["requests"].items():
        limit = parsed["limits"].get(resource)
        if limit is not None and request > limit:
            found.error((*path, "requests", resource),
                         f"request {resources['requests'][resource]!r} exceeds the limit "
                         f"{resources['limits'][resource]!r}")


def _named_port(found: report.Report, port: Any, declared: set[str], path: paths.Path) -> None:
    found.check(path, "port", port, formats.port_name)
    if isinstance(port, str) and port and port not in declared and not formats.port_name(port):
        found.warn((*path, "port"), f"names no port declared by this container ({port!r})")


def _probe(found: report.Report, kind: str, probe: dict[str, Any], declared: set[str],
           path: paths.Path) -> None:
    handlers = [h for h in HANDLERS if probe.get(h) is not None]
    if len(handlers) != 1:
        def named(names: list[str] | tuple[str, ...]) -> str:
            return ", ".join(paths.field((*path, h)) for h in names)

        has = f"has {named(handlers)}" if handlers else "has none"
        found.error(path, f"needs exactly one handler of {named(HANDLERS)}; {has}")
    if isinstance(exec_ := probe.get("exec"), dict) and not exec_.get("command"):
        found.error((*path, "exec", "command"), "must not be empty")
    for handler in ("httpGet", "tcpSocket"):
        action = probe.get(handler)
        if isinstance(action, dict):
            _named_port(found, action.get("port", ""), declared, (*path, handler))
    for h, header in model.objects_in(report.mapping(probe.get("httpGet")).get("httpHeaders")):
        found.check((*path, "httpGet", "httpHeaders", h), "name", header.get("name"),
                     formats.header_name)
    grpc = probe.get("grpc")
    if isinstance(grpc, dict):
        port = grpc.get("port", 0)
        if isinstance(port, int) and not 0 < port <= MAX_PORT:
            found.error((*path, "grpc", "port"), f"must be a port number from 1 to {MAX_PORT}")
    threshold = probe.get("successThreshold", 0)
    if kind in SINGLE_SUCCESS_PROBES and isinstance(threshold, int) and threshold > 1:
        found.error((*path, "successThreshold"), f"must be 0 or 1 for a {kind}, not {threshold}")


def _env(found: report.Report, container: dict[str, Any], path: paths.Path) -> None:
    for e, env in model.objects_in(container.get("env")):
        found.check((*path, "env", e), "name", env.get("name"), formats.env_name)
    for e, source in model.objects_in(container.get("envFrom")):
        where = (*path, "envFrom", e)
        refs = [r for r in ("configMapRef", "secretRef") if source.get(r) is not None]
        if not refs:
            found.error(where, f"needs {paths.field((*where, 'configMapRef'))} or "
                        f"{paths.field((*where, 'secretRef'))}")
        elif len(refs) == 2:
            found.error(where, f"names both {paths.field((*where, 'configMapRef'))} and "
                        f"{paths.field((*where, 'secretRef'))}; set one per entry (the mutating "
                        "webhook splits such entries)")
        for ref in refs:
            found.check((*where, ref), "name", report.mapping(source.get(ref)).get("name"),
                         formats.dns_subdomain)
        prefix = source.get("prefix")
        reason = formats.env_prefix(prefix) if isinstance(prefix, str) else None
        if reason:
            found.error((*where, "prefix"), reason)


def _mounts(found: report.Report, container: dict[str, Any], templates: Mapping[str, Any],
            path: paths.Path) -> None:
    mounts = container.get("configVolumeMounts")
    if isinstance(mounts, list) and mounts and not templates:
        found.warn((*path, "configVolumeMounts"),
                   f"there are no {paths.field(('spec', 'configTemplates'))}: Kuscia mounts "
                   "nothing for these")
    mount_paths: dict[str, paths.Path] = {}
    for m, mount in model.objects_in(mounts):
        where = (*path, "configVolumeMounts", m)
        found.check(where, "mountPath", mount.get("mountPath"), _any)
        _unique(found, mount_paths, mount.get("mountPath"), (*where, "mountPath"), "mountPath")
        sub = mount.get("subPath")
        if not isinstance(sub, str) or not sub:
            continue
        reason = formats.sub_path(sub)
        if reason:
            found.error((*where, "subPath"), reason)
        elif templates and sub not in templates:
            found.warn((*where, "subPath"), f"names no {paths.field(('spec', 'configTemplates'))} key "
                       f"({paths.abbreviate(sub)!r})")


@dataclass(slots=True)
class _Pod:
    """What a deploy template's containers declare together: Kuscia maps ports per pod."""

    names: dict[str, paths.Path] = field(default_factory=dict)
    numbers: dict[str, paths.Path] = field(default_factory=dict)


def _port_number(found: report.Report, pod: _Pod, number: Any, path: paths.Path) -> None:
    if type(number) is not int or number == 0:
        return  # 0 or absent: Kuscia allocates one; other types are the schema's
    if not 0 < number <= MAX_PORT:
        found.error(path, f"must be a port number from 1 to {MAX_PORT}, or 0 for Kuscia to "
                     f"allocate one, not {number}")
    else:
        _unique(found, pod.numbers, str(number), path, "port number in this pod")


def _container(found: report.Report, container: dict[str, Any], pod: _Pod,
               templates: Mapping[str, Any], path: paths.Path) -> None:
    found.check(path, "name", container.get("name"), formats.dns_label)
    declared: set[str] = set()
    for p, port in model.objects_in(container.get("ports")):
        name = port.get("name")
        found.check((*path, "ports", p), "name", name, formats.port_name)
        _unique(found, pod.names, name, (*path, "ports", p, "name"), "port name")
        _port_number(found, pod, port.get("port"), (*path, "ports", p, "port"))
        if isinstance(name, str):
            declared.add(name)
    _env(found, container, path)
    _mounts(found, container, templates, path)
    _resources(found, report.mapping(container.get("resources")), (*path, "resources"))
    for kind in PROBES:
        if isinstance(probe := container.get(kind), dict):
            _probe(found, kind, probe, declared, (*path, kind))


def _metric_probe(found: report.Report, container: dict[str, Any], pod: _Pod, path: paths.Path) -> None:
    probe = container.get("metricProbe")
    if not isinstance(probe, dict):
        return
    port, metric_path = probe.get("port"), probe.get("path")
    if not (isinstance(port, str) and port and isinstance(metric_path, str) and metric_path):
        found.warn((*path, "metricProbe"), "needs both path and port: Kuscia ignores it otherwise")
    elif port not in pod.names:
        found.error((*path, "metricProbe", "port"), f"names no port of this pod ({port!r}): Kuscia "
                     "fails the pod with \"metric port name not found\"")


def _template(found: report.Report, template: dict[str, Any], templates: Mapping[str, Any],
              path: paths.Path) -> _Pod:
    found.check(path, "name", template.get("name"), _any)
    if template.get("replicas") == 0:
        found.warn((*path, "replicas"), "is 0: this template starts no pods")
    names: dict[str, paths.Path] = {}
    pod = _Pod()
    containers = list(model.objects_in(report.mapping(template.get("spec")).get("containers")))
    for c, container in containers:
        where = (*path, "spec", "containers", c)
        _unique(found, names, container.get("name"), (*where, "name"), "container name")
        _container(found, container, pod, templates, where)
    for c, container in containers:
        _metric_probe(found, container, pod, (*path, "spec", "containers", c))
    return pod


def _network_policy(found: report.Report, template: dict[str, Any], pod: _Pod, served: set[str],
                    path: paths.Path) -> None:
    for i, ingress in model.objects_in(report.mapping(template.get("networkPolicy")).get("ingresses")):
        where = (*path, "networkPolicy", "ingresses", i)
        for r, role in enumerate(report.mapping(ingress.get("from")).get("roles") or ()):
            if isinstance(role, str) and role not in served:
                found.warn((*where, "from", "roles", r), f"no deploy template serves role {role!r}")
        for p, port in model.objects_in(ingress.get("ports")):
            name = port.get("port")
            if isinstance(name, str) and name not in pod.names:
                found.warn((*where, "ports", p, "port"), f"names no port of this pod ({name!r})")


def validate(obj: Mapping[str, Any], checker: podspec.Checker | None = None,
             policy: Policy = Policy()) -> report.Report:
    """Every error and warning of an AppImage custom resource (defaulted or not)."""
    found = report.Report(errors=schemas.appimage().errors(obj))
    metadata = report.mapping(obj.get("metadata"))
    found.check(("metadata",), "name", metadata.get("name", ""), formats.dns_label)
    bfia.check(found, metadata)
    spec = report.mapping(obj.get("spec"))
    image = report.mapping(spec.get("image"))
    _image(found, image, ("spec", "image"), policy)
    templates = report.mapping(spec.get("configTemplates"))
    deploy_templates = list(model.objects_in(spec.get("deployTemplates")))
    config_templates.check(found, templates, deploy_templates)
    served = roles.check(found, deploy_templates)
    for t, template in deploy_templates:
        path = ("spec", "deployTemplates", t)
        pod = _template(found, template, templates, path)
        _network_policy(found, template, pod, served, path)
    if not found.errors:
        # Only a clean object is worth the PodSpec check: on a broken one it would
        # repeat what the rules above said in Kubernetes' words.
        checker = checker or podspec.checker()
        for t, template in model.objects_in(spec.get("deployTemplates")):
            found.errors += podspec.problems(checker, template, ("spec", "deployTemplates", t))
    return found
