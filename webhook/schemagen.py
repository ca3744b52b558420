"""Generates the REST (protobuf JSON) schemas from the custom resource's schema.

Pure. ``schemas/appimage.schema.json`` is the source of truth; this module derives
``schemas/appimage-rest.schema.json`` from it with the same rules ``model`` converts
objects by (snake_case names, flattened deploy template ``spec``, int64 and ports as
strings), plus the request body of each of ``operations``. ``python -m webhook.schemagen``
rewrites the file; a test fails when the file and the generator drift apart.
"""

from __future__ import annotations

import json
import pathlib
import sys
from collections.abc import Mapping
from typing import Any

from webhook import model, operations, sources
from webhook.store import base

REST_FILE = "appimage-rest.schema.json"

# A batch_query may name at most this many AppImages: it bounds one request's work.
MAX_BATCH_NAMES = 1000

_INT64_TEXT = "^[0-9]{1,18}$"  # 18 digits always fit an int64
_INT32_TEXT = "^-?[0-9]{1,10}$"  # the range is the custom resource schema's to check
INTEGER_TEXT = frozenset((_INT64_TEXT, _INT32_TEXT))
"""The patterns of integers written as text: ``schemas.describe`` words their failure."""


def _scalar(prop: Mapping[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in prop.items() if not k.startswith("x-rest-")}
    kind = model.scalar_kind(prop)
    if kind == "int64":
        kept["type"] = ["integer", "string"]
        kept["pattern"] = _INT64_TEXT
    elif kind == "integer":  # protobuf JSON: a number or a numeric string
        kept["type"] = ["integer", "string"]
        kept["pattern"] = _INT32_TEXT
    elif kind == "quantity":
        kept["type"] = "string"
    return kept


def _property(prop: Mapping[str, Any], root: Mapping[str, Any]) -> dict[str, Any]:
    if "$ref" in prop:
        name, body = model.resolve(prop, root)
        if body.get("type") == "object":
            return {"$ref": f"#/$defs/{name}"}
        return _property(body, root)  # a named scalar (Quantity, Int32) is inlined
    if prop.get("type") == "array":
        return {**prop, "items": _property(prop["items"], root)}
    if prop.get("type") == "object":
        return {**prop, "additionalProperties": _property(prop["additionalProperties"], root)}
    return _scalar(prop)


def _message(body: Mapping[str, Any], root: Mapping[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for cr_name, prop in body["properties"].items():
        if prop.get("x-cr-only"):
            continue
        if prop.get("x-rest-flatten"):
            _, nested = model.resolve(prop, root)
            inlined = _message(nested, root)
            properties.update(inlined["properties"])
            required.extend(inlined.get("required", ()))
        else:
            properties[model.snake(cr_name)] = _property(prop, root)
    required.extend(model.snake(r) for r in body.get("required", ()) if r in body["properties"]
                    and not any(body["properties"][r].get(k) for k in ("x-rest-flatten", "x-rest-zero")))
    out = {k: v for k, v in body.items() if k not in ("properties", "required")}
    out["properties"] = properties
    out["additionalProperties"] = False  # e.g. a ResourceList: REST carries cpu and memory only
    if required:
        out["required"] = required
    return out


def _request(description: str, properties: Mapping[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "description": description,
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": {"header": {"$ref": "#/$defs/RequestHeader"}, **properties},
    }


def rest_schema(cr: Mapping[str, Any]) -> dict[str, Any]:
    """The REST schema document: every message in snake_case and each request body."""
    defs: dict[str, Any] = {}
    for name, body in cr["$defs"].items():
        if (body.get("type") == "object" and "properties" in body and name != "DeployTemplateSpec"
                and not body.get("x-cr-only")):
            defs[name] = _message(body, cr)
    for body in defs.values():
        # Answers render an absent message as null (protobuf JSON); requests may send it.
        body["type"] = ["object", "null"]
    spec = defs.pop("AppImageSpec")
    name = {"description": "AppImage name, an RFC 1123 DNS label.", "type": "string"}
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
        "name": name,
        "names": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH_NAMES,
                  "items": {"type": "string"}},
        "page_size": {"description": f"0 means the default, 10; more than {base.MAX_PAGE_SIZE} "
                                     f"gives {base.MAX_PAGE_SIZE} (and a next_page_token).",
                      "type": ["integer", "string"], "format": "int64", "minimum": 0,
                      "pattern": _INT64_TEXT},
        "page_token": {"description": "next_page_token of the previous page.", "type": "string"},
    }
    for op in operations.ALL:
        own = {f: fields[f] for f in op.fields}
        properties = {**own, **spec["properties"]} if op.with_spec else own
        defs[op.request] = _request(op.description, properties, list(op.required))
    return {
        "$schema": cr["$schema"],
        "$id": cr["$id"].replace("appimage.schema.json", REST_FILE),
        "title": "AppImage REST API",
        "description": "GENERATED by `python -m webhook.schemagen` from appimage.schema.json; "
        "do not edit. Request and answer bodies of /api/v1/appimage/*.",
        "$defs": dict(sorted(defs.items())),
    }


def render(schema: Mapping[str, Any]) -> str:
    """The file text: stable key order and indentation so diffs stay readable."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    """Rewrite ``schemas/appimage-rest.schema.json`` next to the source schema."""
    target = pathlib.Path(__file__).resolve().parent.parent / "schemas" / REST_FILE
    target.write_text(render(rest_schema(sources.cr_schema())))
    sys.stdout.write(f"wrote {target}\n")


if __name__ == "__main__":
    main()
