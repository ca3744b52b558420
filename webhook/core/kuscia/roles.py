"""Which deploy template of an AppImage serves a party's role, as Kuscia selects it.

Pure, no I/O. Kuscia picks a template for every party of a task or deployment with
``SelectDeployTemplate`` (``pkg/utils/resources/appimage.go``), the rule ``select``
follows exactly: a template's ``role`` is split on commas once its outer commas are
trimmed, and compared byte for byte, spaces and case included; the first template
listing the role wins; else the last template whose role is empty serves it; else a
party without a role gets the first template, and one with a role gets none ("not found
deploy template for role"). ``check`` is our stricter rule where Kuscia's choice would
surprise (two templates listing one role is an error).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from webhook.core import paths, report


def listed(template: Mapping[str, Any]) -> list[str]:
    """The roles a template lists, split as Kuscia splits them (outer commas trimmed,
    no spaces trimmed); ``[]`` for a template without a role."""
    role = template.get("role")
    if not isinstance(role, str) or not role:
        return []
    return role.strip(",").split(",")


def select(templates: Sequence[Mapping[str, Any]], role: str) -> int | None:
    """The index of the template Kuscia runs a party of ``role`` with, or None when it
    would fail the party."""
    fallback = None
    for i, template in enumerate(templates):
        own = template.get("role")
        own = own if isinstance(own, str) else ""
        if role in own.strip(",").split(","):
            return i
        if not own:
            fallback = i
    if fallback is not None:
        return fallback
    return 0 if not role and templates else None


def check(found: report.Report, deploy_templates: list[tuple[int, dict[str, Any]]]) -> set[str]:
    """What makes Kuscia's choice of a template surprising (``select``): two templates
    listing one role (Kuscia would always pick the first: an error here), spaces in a
    role, several templates without a role (only the last serves unlisted roles).
    Returns every role some template lists."""
    served: dict[str, paths.Path] = {}
    roleless: list[paths.Path] = []
    for t, template in deploy_templates:
        path = ("spec", "deployTemplates", t, "role")
        names = listed(template)
        if not names:
            roleless.append(path)
        for role in names:
            if role != role.strip() or not role:
                found.warn(path, f"role {role!r} has spaces or is empty: Kuscia matches the "
                           "party's role against it as it is")
        if len(set(names)) != len(names):
            found.warn(path, "lists a role twice")
        for role in dict.fromkeys(names):
            if role in served:
                found.error(path, f"role {role!r} is also served by {paths.ref(served[role][:3])}"
                            ": Kuscia would always pick that one")
            else:
                served[role] = path
    if len(roleless) > 1:
        found.warn(roleless[-1][:3], f"{len(roleless)} templates have no role: Kuscia uses only "
                   "the last of them for a party whose role no template lists")
    return set(served)
