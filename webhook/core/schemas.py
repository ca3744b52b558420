"""Compiled JSON Schema validators that report every error with its path.

Pure, no I/O after the first load. The hot path uses jsonschema-rs (Rust, a few hundred
times faster than the pure-Python ``jsonschema``), built once per schema. ``jsonschema``
stays the reference implementation in the tests, which check that both agree; both
report through ``describe``, so a message reads the same whichever engine found it. A
pattern the REST schema states for a format (``formats.SCHEMAS``) or an integer given as
text is worded as the check of that format words it, not as the regex.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import jsonschema_rs

from webhook.core import formats, kubetypes, paths, schemagen, sources

Problem = tuple[paths.Path, str]


def _json(value: Any) -> str:
    if isinstance(value, str) and len(value) > paths.LONGEST_SHOWN:
        return json.dumps(paths.abbreviate(value), ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False)


_TYPE_NAMES = {"object": "an object", "array": "a list", "string": "a string",
               "integer": "an integer", "number": "a number", "boolean": "true or false",
               "null": "null"}


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {dict: "object", list: "array", str: "string", float: "number",
            type(None): "null"}.get(type(value), type(value).__name__)


def describe(keyword: str, value: Any, instance: Any, path: paths.Path,
             unexpected: Iterable[str] = ()) -> list[Problem]:
    """Our wording for one failed keyword; ``value`` is the keyword's schema value."""
    if keyword in ("additionalProperties", "unevaluatedProperties"):
        return [((*path, key), "unknown field") for key in unexpected]
    if keyword == "required":
        missing = [value] if isinstance(value, str) else [r for r in value if r not in instance]
        return [((*path, name), "required") for name in missing]
    if keyword == "type":
        # Sorted so both engines word it alike; null (an absent message) goes unsaid.
        types = sorted(t for t in value if t != "null") if isinstance(value, list) else [value]
        wanted = " or ".join(_TYPE_NAMES.get(str(t), str(t)) for t in types)
        return [(path, f"must be {wanted}, not {_TYPE_NAMES.get(_kind_of(instance), 'that')}")]
    if keyword == "enum":
        options = ", ".join(_json(o) for o in value if o != "")
        empty = " or empty" if "" in value else ""
        return [(path, f"must be one of {options}{empty}, not {_json(instance)}")]
    if keyword == "minimum":
        return [(path, f"must be at least {value}, not {instance}")]
    if keyword == "maximum":
        return [(path, f"must be at most {value}, not {instance}")]
    if keyword == "minItems":
        return [(path, f"must have at least {value} item{'s' if value != 1 else ''}")]
    if keyword == "maxItems":
        return [(path, f"must have at most {value} items, not {len(instance)}")]
    if keyword == "uniqueItems":
        return [(path, "must not hold the same item twice")]
    if keyword == "minLength":
        return [(path, "must not be empty" if value == 1 else f"must be at least {value} characters")]
    if keyword == "maxLength":
        return [(path, f"must be at most {value} characters")]
    if keyword == "pattern":
        if isinstance(instance, str) and "\n" in instance and value in formats.UNBOUNDED:
            return []  # its ``not`` says so, alike in both engines
        return [_pattern(value, instance, path)]
    if keyword == "not" and value == formats.NO_LINE_BREAK:
        return [(path, "must not contain a line break")]
    if keyword in ("oneOf", "anyOf", "oneOfNotValid", "oneOfMultipleValid"):
        # Alternative fields (crd.VALIDATIONS): validation's rules check the same and word
        # it in the field names of the caller's shape (a probe "needs exactly one handler").
        return []
    return [(path, f"fails {keyword}: {_json(value)}")]


def _pattern(pattern: str, instance: Any, path: paths.Path) -> Problem:
    """A failed ``pattern`` in the words of the format it states (``formats.SCHEMAS``), or
    of the integer it bounds (``formats.integer_text``)."""
    fmt = formats.BY_PATTERN.get(pattern)
    if fmt is not None and isinstance(instance, str):
        return path, formats.reason(fmt, instance)
    bounds = _integer_texts().get(pattern)
    if bounds is not None and isinstance(instance, str) and _DIGITS.fullmatch(instance):
        minimum, maximum = bounds
        if int(instance) < minimum:
            return path, f"must be at least {minimum}, not {instance}"
        if int(instance) > maximum:
            return path, f"must be at most {maximum}, not {instance}"
    if bounds is not None:  # an integer given as text (protobuf JSON)
        return path, f"must be an integer, not {_json(instance)}"
    return path, f"{_json(instance)} must match {pattern}"


_DIGITS = re.compile(r"-?[0-9]{1,20}")  # compared as a number; longer text is no int64


@functools.cache
def _integer_texts() -> dict[str, tuple[int, int]]:
    """The REST schema's patterns of integers written as text, with their bounds."""
    found: dict[str, tuple[int, int]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == ["integer", "string"] and "pattern" in node:
                found[node["pattern"]] = (node.get("minimum", 0),
                                          node.get("maximum", schemagen.INT64_MAX))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(rest_document())
    return found


class Validator:
    """One compiled schema. ``errors`` lists every problem, sorted by path."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = schema
        self._fast = jsonschema_rs.Draft202012Validator(dict(schema))

    def is_valid(self, instance: Any) -> bool:
        return bool(self._fast.is_valid(instance))

    def errors(self, instance: Any) -> list[Problem]:
        if self._fast.is_valid(instance):
            return []
        found: list[Problem] = []
        for e in self._fast.iter_errors(instance):
            kind = e.kind
            found += describe(kind.name, kind.value, e.instance, _keyed(instance, e.instance_path),
                              getattr(kind, "unexpected", ()))
        return _unique(found)


def _keyed(instance: Any, path: list[Any]) -> paths.Path:
    # jsonschema-rs reports an object key made of digits as an integer; walk the
    # instance and give keys of objects back their string form.
    out: list[paths.Token] = []
    for token in path:
        if isinstance(instance, dict):
            token = str(token)
            instance = instance.get(token)
        elif isinstance(instance, list) and isinstance(token, int) and token < len(instance):
            instance = instance[token]
        out.append(token)
    return tuple(out)


def _unique(found: list[Problem]) -> list[Problem]:
    return sorted(set(found), key=lambda p: (paths.format_path(p[0]), p[1]))


@functools.cache
def appimage() -> Validator:
    """The custom resource's schema (the admission object and the stored shape), the
    Kubernetes core types it embeds (affinity, securityContext…) included."""
    return Validator(kubetypes.with_core_types(sources.cr_schema()))


@functools.cache
def rest_document() -> dict[str, Any]:
    """The generated REST schema document (``schemas/appimage-rest.schema.json``)."""
    return sources.load(schemagen.REST_FILE)


@functools.cache
def rest(definition: str) -> Validator:
    """A REST body's validator, e.g. ``rest("CreateAppImageRequest")``.

    It leaves out ``propertyNames``: jsonschema-rs hands each of its errors the whole map,
    so 100,000 bad config_templates keys would cost 10^10 conversions. The rule of
    ``validation`` checks the same keys (tests/core/test_formats.py holds the pattern to it)
    and names each bad key at its path."""
    document = rest_document()
    return Validator({"$ref": f"#/$defs/{definition}", "$defs": _without_property_names(document["$defs"])})


def _without_property_names(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_property_names(v) for k, v in node.items() if k != "propertyNames"}
    if isinstance(node, list):
        return [_without_property_names(v) for v in node]
    return node
