"""An AppImage's config templates as Kuscia uses them: copied into one ConfigMap, then
rendered by its agent when a pod starts.

Pure. The keys are ConfigMap keys and the values together fit the one ConfigMap Kuscia
copies them into (the API server refuses one past 1 MiB of values); each template is
checked the way Kuscia's agent will render it (``render``), with the ports and
variables of the pods that mount it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook.core import formats, model, report
from webhook.core.kuscia import render

MAX_TOTAL = 1024 * 1024
"""Bytes (UTF-8) of all values together: Kubernetes' ConfigMap limit (MaxSecretSize)."""


def check(found: report.Report, templates: Mapping[str, Any],
          deploy_templates: list[tuple[int, dict[str, Any]]]) -> None:
    """Every key a ConfigMap key, the values within ``MAX_TOTAL``, every text renderable."""
    for key in templates:
        found.check(("spec", "configTemplates"), key, key, formats.config_key)
    size = sum(len(text.encode()) for text in templates.values() if isinstance(text, str))
    if size > MAX_TOTAL:
        found.error(("spec", "configTemplates"), f"hold {size:,} bytes in all; Kuscia copies them into "
                    f"one ConfigMap, which holds at most {MAX_TOTAL:,} (1 MiB)")
    _rendered(found, templates, deploy_templates)


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
        containers = [c for _, c in model.objects_in(report.mapping(template.get("spec")).get("containers"))]
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


def _rendered(found: report.Report, templates: Mapping[str, Any],
              deploy_templates: list[tuple[int, dict[str, Any]]]) -> None:
    """What Kuscia's renderer would trip over in each config template, by line and column."""
    for key, text in templates.items():
        if not isinstance(text, str) or "{{" not in text:
            continue  # no action: nothing to render
        ports, env = _render_context(key, deploy_templates)
        for problem in _render_problems(text, ports, env):
            message = f"line {problem.line}, column {problem.column}: {problem.message}"
            if problem.error:
                found.error(("spec", "configTemplates", key), message)
            else:
                found.warn(("spec", "configTemplates", key), message)
