"""Would the API server's own checks of the CRD refuse this AppImage?

Pure after building (once). The API server runs mutating webhooks, then the CRD's
schema (structure, enums, patterns, list-map keys, CEL rules), and only then the
validating webhooks, which it skips once the schema has refused. So an object with a
bad enum and a bad probe port would show ``kubectl`` the enum alone. The mutating
webhook asks ``refuses`` of the defaulted object and, when the API server would refuse
it, denies it itself with every error of ``validation`` (the schema's and the rules').

The generated CRD (``crd.openapi_schema``) is the one source: its structural schema is
checked as a JSON Schema (the OpenAPI keywords the API server validates with mean the
same in JSON Schema; ``x-kubernetes-*`` ones are read here), each CEL rule through its
Python twin (``crd.Rule.holds``), and each ``x-kubernetes-list-type: map`` for
duplicate keys. Only the subtrees holding a rule or a list map are walked.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from webhook.core import crd, schemas

Check = Callable[[Any], bool]
"""True when the value breaks a rule somewhere beneath it."""


def _duplicate_keys(keys: list[str]) -> Check:
    def check(value: Any) -> bool:
        if not isinstance(value, list):
            return False
        seen = [tuple(item.get(k) for k in keys) for item in value if isinstance(item, dict)]
        return len(seen) != len(set(seen))
    return check


def _rules(holds: list[Callable[[Mapping[str, Any]], bool]]) -> Check:
    def check(value: Any) -> bool:
        return isinstance(value, dict) and not all(h(value) for h in holds)
    return check


def _field(name: str, inner: Check) -> Check:
    def check(value: Any) -> bool:
        return isinstance(value, dict) and name in value and inner(value[name])
    return check


def _items(inner: Check) -> Check:
    def check(value: Any) -> bool:
        return isinstance(value, list) and any(inner(item) for item in value)
    return check


def _values(inner: Check) -> Check:
    def check(value: Any) -> bool:
        return isinstance(value, dict) and any(inner(item) for item in value.values())
    return check


def _compile(schema: Mapping[str, Any]) -> Check | None:
    """The check of a CRD schema node, or None when nothing beneath it has a rule."""
    checks: list[Check] = []
    rules = schema.get("x-kubernetes-validations")
    if rules:
        by_text = {r.rule: r.holds for rs in crd.VALIDATIONS.values() for r in rs}
        checks.append(_rules([by_text[r["rule"]] for r in rules]))
    if schema.get("x-kubernetes-list-type") == "map":
        checks.append(_duplicate_keys(list(schema["x-kubernetes-list-map-keys"])))
    for name, prop in (schema.get("properties") or {}).items():
        inner = _compile(prop)
        if inner is not None:
            checks.append(_field(name, inner))
    if isinstance(schema.get("items"), Mapping) and (inner := _compile(schema["items"])):
        checks.append(_items(inner))
    additional = schema.get("additionalProperties")
    if isinstance(additional, Mapping) and (inner := _compile(additional)):
        checks.append(_values(inner))
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]
    return lambda value: any(c(value) for c in checks)


@functools.cache
def _checks() -> tuple[schemas.Validator, Check]:
    schema = crd.openapi_schema()
    return schemas.Validator(schema), _compile(schema) or (lambda _: False)


def refuses(obj: Mapping[str, Any]) -> bool:
    """Whether the CRD's schema, list-map keys or CEL rules refuse ``obj``."""
    structure, rules = _checks()
    return not structure.is_valid(obj) or rules(obj)
