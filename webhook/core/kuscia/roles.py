"""Which deploy template of an AppImage serves a party's role, as Kuscia selects it.

Pure, no I/O. Kuscia picks a template for every party of a task or deployment with
``SelectDeployTemplate`` (``pkg/utils/resources/appimage.go``), the rule ``select``
follows exactly: a template's ``role`` is split on commas once its outer commas are
trimmed, and compared byte for byte, spaces and case included; the first template
listing the role wins; else the last template whose role is empty serves it; else a
party without a role gets the first template, and one with a role gets none ("not found
deploy template for role"). Our validation is stricter where Kuscia's choice would
surprise (two templates listing one role is an error there); this module only says
what Kuscia would pick.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


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
