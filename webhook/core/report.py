"""What the rules found in one object: errors and warnings by path, as ``validation``
and the rules it calls (``kuscia.roles``, ``kuscia.templates``, ``kuscia.bfia``)
report them.

Pure. Paths are custom-resource shaped tuples; the front ends spell them for their
callers (``paths``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from webhook.core import paths, schemas


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


def mapping(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (the schema names wrong types)."""
    return value if isinstance(value, dict) else {}
