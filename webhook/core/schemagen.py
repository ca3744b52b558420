"""Generates the REST (protobuf JSON) schemas from the custom resource's schema.

Pure. ``schemas/appimage.schema.json`` is the source of truth; this module derives
``schemas/appimage-rest.schema.json`` from it with the same rules ``model`` converts
objects by (snake_case names, flattened deploy template ``spec``, int64 and ports as
strings), plus the request body of each of ``operations``. ``python -m webhook schema
--rest > schemas/appimage-rest.schema.json`` rewrites the file; a test fails when the
file and the generator drift apart.

What the server refuses, the REST schema states wherever JSON Schema can, so the REST
validator, the OpenAPI document (``openapi``) and a client read one set of rules:

* the formats ``validation`` checks (``x-rest-format``: ``formats.SCHEMAS``' patterns and
  lengths, exact in every engine; tests/core/test_formats.py holds them to the checks);
* proto3's "a zero value is absent": a required string is not empty, a required message
  and a list item not null, and a field whose zero value the rules refuse is required;
* integers given as text, bounded as the numbers are (``formats.integer_text``);
* ``crd.VALIDATIONS``' alternative fields, as ``oneOf`` (``anyOf``: ``AT_LEAST_ONE``);
* ``x-rest-schema``: keywords for the rules ``validation`` checks in code (an exec probe's
  non-empty command, a single-success probe's threshold…).

What no schema can say is listed by name as ``x-rules`` (``unstated``). The custom
resource's schema and the CRD say none of this: Kuscia's CRD takes more, and admission
words these rules once, through ``validation``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jsonschema_rs

from webhook.core import crd, formats, model, operations, storage, unstated

REST_FILE = "appimage-rest.schema.json"

# A batch_query may name at most this many AppImages: it bounds one request's work.
MAX_BATCH_NAMES = 1000
# Integers as text (protobuf JSON): 18 digits always fit an int64; an int32's text is
# what fits 10 digits, signed, its range the schema's.
INT64_DIGITS = 18
INT32_DIGITS = 10
INT64_MAX = 10**INT64_DIGITS - 1
# Messages whose alternative fields (crd.VALIDATIONS) REST takes at least one of, not
# exactly one: defaulting splits an env_from entry naming both refs, with a warning.
AT_LEAST_ONE = frozenset({"EnvFromSource"})

_NAME = {"description": "AppImage name, an RFC 1123 DNS label.", "type": "string",
         "minLength": 1, **formats.SCHEMAS["dns-label"]}
# Every request but create names a stored AppImage: its format is not judged (SPEC §3),
# a name no AppImage can have is not found.
_STORED_NAME = {"description": "Name of a stored AppImage; one no AppImage can have is not found.",
                "type": "string"}


def _integer(kept: dict[str, Any], int64: bool) -> None:
    """An integer as protobuf JSON carries it: a number, or its decimal text in range."""
    minimum, maximum = kept.get("minimum", 0), kept.get("maximum", INT64_MAX)
    if minimum < 0:
        raise ValueError("schemagen: integers as text are written for minimum >= 0 only")
    kept["type"] = ["integer", "string"]
    kept["pattern"] = formats.integer_text(
        minimum, min(maximum, INT64_MAX), INT64_DIGITS if int64 else INT32_DIGITS,
        negative_zero=not int64)


def _scalar(prop: Mapping[str, Any]) -> dict[str, Any]:
    prop = {**prop, **prop.get("x-rest-schema", {})}
    kept = {k: v for k, v in prop.items() if not k.startswith("x-rest-")}
    kind = model.scalar_kind(prop)
    if kind in ("int64", "integer"):
        _integer(kept, kind == "int64")
    elif kind == "quantity":
        kept["type"] = "string"
    if "x-rest-format" in prop:
        kept.update(formats.SCHEMAS[prop["x-rest-format"]])
    return kept


def _object(ref: str) -> dict[str, Any]:
    """A message that must be there: not null, which a request would read as absent."""
    return {"$ref": ref, "type": "object"}


def _property(prop: Mapping[str, Any], root: Mapping[str, Any]) -> dict[str, Any]:
    if "$ref" in prop:
        name, body = model.resolve(prop, root)
        if body.get("type") == "object":
            out: dict[str, Any] = {"$ref": f"#/$defs/{name}"}
            extra = prop.get("x-rest-schema", {}).get("properties", {})
            if extra:  # a narrower rule for this use of the message
                out["properties"] = {model.snake(k): _property({**body["properties"][k], **v}, root)
                                     for k, v in extra.items()}
            return out
        return _property({**body, **{k: v for k, v in prop.items() if k != "$ref"}}, root)
    if prop.get("type") == "array":
        items = _property(prop["items"], root)
        if "$ref" in items:  # a list has no absent items: null is refused at its index
            items = _object(items["$ref"])
        return {**{k: v for k, v in prop.items() if not k.startswith("x-rest-")},
                **prop.get("x-rest-schema", {}), "items": items}
    if prop.get("type") == "object":
        out = {k: v for k, v in prop.items() if not k.startswith("x-rest-")}
        out["additionalProperties"] = _property(prop["additionalProperties"], root)
        if "x-rest-key-format" in prop:
            out["propertyNames"] = formats.SCHEMAS[prop["x-rest-key-format"]]
        return out
    return _scalar(prop)


def _refuses_zero(schema: Mapping[str, Any]) -> bool:
    """Whether a scalar's REST schema refuses its proto3 zero value ("" or 0)."""
    zero = 0 if "integer" in schema.get("type", ()) else ""
    return not jsonschema_rs.is_valid(dict(schema), zero)


def _alternatives(name: str, body: dict[str, Any]) -> None:
    """crd.VALIDATIONS' "exactly one of these fields", stated with ``oneOf`` (or
    ``anyOf``: ``AT_LEAST_ONE``); a field given as null is absent, and so is the message
    itself when null (the one branch a null takes)."""
    for rule in crd.VALIDATIONS.get(name, ()):
        fields = [model.snake(f) for f in rule.one_of]
        keyword = "anyOf" if name in AT_LEAST_ONE else "oneOf"
        body[keyword] = [{"type": "null"}, *({"type": "object", "required": [f],
                                               "properties": {f: {"type": "object"}}}
                                              for f in fields)]


def _message(name: str, body: Mapping[str, Any], root: Mapping[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    cr_required = set(body.get("required", ()))
    for cr_name, prop in body["properties"].items():
        if prop.get("x-cr-only"):
            continue
        if prop.get("x-rest-flatten"):
            nested_name, nested = model.resolve(prop, root)
            inlined = _message(nested_name, nested, root)
            properties.update(inlined["properties"])
            required.extend(inlined.get("required", ()))
            continue
        rest = model.snake(cr_name)
        converted = _property(prop, root)
        if cr_name in cr_required and not prop.get("x-rest-zero"):
            # proto3: a zero value is an absent field, so a required one is not its zero.
            required.append(rest)
            if "$ref" in converted:
                converted["type"] = "object"
            elif converted.get("type") == "string":
                converted["minLength"] = max(converted.get("minLength", 0), 1)
        elif cr_name in cr_required and "$ref" not in converted and _refuses_zero(converted):
            required.append(rest)  # left out, it would be written as a zero the rules refuse
        properties[rest] = converted
    extra = body.get("x-rest-schema", {})
    required.extend(model.snake(r) for r in extra.get("required", ()))
    out = {k: v for k, v in body.items()
           if k not in ("properties", "required") and not k.startswith("x-rest-")}
    out["properties"] = properties
    out["additionalProperties"] = False  # e.g. a ResourceList: REST carries cpu and memory only
    if required:
        out["required"] = list(dict.fromkeys(required))
    _alternatives(name, out)
    return out


def _request(op: operations.Operation, properties: Mapping[str, Any]) -> dict[str, Any]:
    out = {
        "description": op.description,
        "type": "object",
        "additionalProperties": False,
        "required": list(op.required),
        "properties": {"header": {"$ref": "#/$defs/RequestHeader"}, **properties},
    }
    if op.with_spec:  # what the schema cannot say of the AppImage it carries
        out["x-rules"] = [rule.schema() for rule in unstated.RULES]
    return out


def rest_schema(cr: Mapping[str, Any]) -> dict[str, Any]:
    """The REST schema document: every message in snake_case and each request body."""
    defs: dict[str, Any] = {}
    for name, body in cr["$defs"].items():
        if (body.get("type") == "object" and "properties" in body and name != "DeployTemplateSpec"
                and not body.get("x-cr-only")):
            defs[name] = _message(name, body, cr)
    for body in defs.values():
        # Answers render an absent message as null (protobuf JSON); requests may send it.
        body["type"] = ["object", "null"]
    spec = defs.pop("AppImageSpec")
    name = _NAME
    defs["AppImage"] = {
        **spec,
        "type": "object",
        "description": "An AppImage as the REST API carries it (protobuf JSON).",
        "properties": {"name": name, **spec["properties"]},
        "required": ["name", *spec["required"]],
    }
    defs["RequestHeader"] = {
        "type": ["object", "null"],
        "additionalProperties": False,
        "properties": {
            "custom_headers": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    # The requests' own fields; ``operations`` says which request has which.
    fields = {
        "name": _STORED_NAME,
        "names": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH_NAMES, "items": _STORED_NAME},
        "page_size": {"description": f"0 means the default, 10; more than {storage.MAX_PAGE_SIZE} "
                                     f"gives {storage.MAX_PAGE_SIZE} (and a next_page_token).",
                      **_scalar({"type": "integer", "format": "int64", "minimum": 0})},
        "page_token": {"description": "next_page_token of the previous page.", "type": "string"},
    }
    for op in operations.ALL:
        own = {f: name if (f, op) == ("name", operations.CREATE) else fields[f] for f in op.fields}
        properties = {**own, **spec["properties"]} if op.with_spec else own
        defs[op.request] = _request(op, properties)
    return {
        "$schema": cr["$schema"],
        "$id": cr["$id"].replace("appimage.schema.json", REST_FILE),
        "title": "AppImage REST API",
        "description": "GENERATED from appimage.schema.json by `python -m webhook schema --rest "
        "> schemas/appimage-rest.schema.json`; do not edit. Request and answer bodies of "
        "/api/v1/appimage/*.",
        "$defs": dict(sorted(defs.items())),
    }


def render(schema: Mapping[str, Any]) -> str:
    """The file text: stable key order and indentation so diffs stay readable."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
