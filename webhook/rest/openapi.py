"""The OpenAPI 3.1 document of the REST API, built from the REST schema.

Pure. Nothing in it is written by hand twice: the component schemas are the ``$defs``
of ``schemagen.rest_schema`` (itself generated from ``schemas/appimage.schema.json``),
the request examples are the API document's (``webhook/rest/examples/doc_*.json``), the
paths, summaries and codes of each operation are ``operations``' and the error codes
are ``errors.Code``. What is written here is what no schema holds: what the codes mean,
and the answer envelopes.

The REST listener serves the document at ``/openapi.json`` and a page that renders it
at ``/docs``, both without the token (they hold nothing secret) but behind the
listener's TLS and client-certificate check like everything else on it.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from webhook.core import bodies, errors, operations, schemagen, sources
from webhook.proto import codec

PREFIX = "/api/v1/appimage/"
VERSION = "3.1.0"
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# The header's name, not a secret.
TOKEN_HEADER = "Token"  # nosec B105

Code = errors.Code
MEANING: dict[Code, str] = {
    Code.SUCCESS: "success",
    Code.REQUEST_INVALID: "request invalid: malformed JSON, wrong types, unknown fields or "
                          "a broken rule; the message names every bad field",
    Code.UNEXPECTED: "unexpected server error (a bug, or the request timed out)",
    Code.AUTH_FAILED: "auth failed: missing or wrong Token header (HTTP 401)",
    Code.CREATE_FAILED: "create failed: the store failed or refused it; the message says how",
    Code.QUERY_FAILED: "query failed: the store failed; the message says how",
    Code.UPDATE_FAILED: "update failed: the store failed or refused it, or the AppImage kept "
                        "changing under the update (retry); the message says how",
    Code.DELETE_FAILED: "delete failed, e.g. the AppImage does not exist, or the store failed",
    Code.BATCH_QUERY_FAILED: "batch query failed: the store failed; the message says how",
    Code.NOT_EXISTS: "the AppImage does not exist",
    Code.ALREADY_EXISTS: "an AppImage of that name exists already",
    Code.LIST_FAILED: "list failed: a page_token this server did not issue (or that expired), "
                      "or the store failed",
}

DESCRIPTION = f"""\
Kuscia's AppImage API: `POST` a JSON body to `/api/v1/appimage/{{operation}}`.

Every answer that carries a Kuscia `status` is **HTTP 200**, errors included; `status.code`
says what happened (0 is success). A missing or wrong `Token` header is HTTP 401 (code
11102), a body over the size limit HTTP 413. Requests may use snake_case or lowerCamelCase
names; answers use snake_case and emit every field. Unknown fields, keys given twice,
numbers beyond int64 and JSON nested deeper than {bodies.MAX_DEPTH} levels are refused with code
11100.

The request schemas state what the server checks wherever JSON Schema can (name formats,
bounds, one probe handler…); a body they allow is created unless it breaks one of the rules
listed by name in the request's `x-rules` (unique container and port names, one template
per role, requests within limits…), which no schema can state. Rules of severity
`warning` change nothing: the answer carries them as `Warning` headers.

The same operations take and answer **protobuf** bodies (`Content-Type:
application/x-protobuf`; the messages of the gRPC service below), with the same codes and
HTTP statuses; a body that does not decode is code 11100 naming the message type.

They are also served over **gRPC** as Kuscia's `{codec.SERVICE_NAME}`
({", ".join(f"`{m}`" for m in codec.METHODS)}) on the gRPC port (8083 by default), with the
same TLS, certificates and codes: every call is gRPC OK with Kuscia's `status` in the
response, a missing or wrong `token` metadata entry is UNAUTHENTICATED, warnings are
trailing metadata entries named `warning`. The server offers reflection and
`grpc.health.v1.Health`. Each operation names its method in `x-grpc`.

This document (`/openapi.json`) and the explorer page (`/docs`) need no token; they are
behind the listener's TLS (and client certificate, in mtls mode) like the API.
"""


def _refs(value: Any) -> Any:
    """``#/$defs/X`` -> ``#/components/schemas/X`` throughout."""
    if isinstance(value, dict):
        return {k: (v.replace("#/$defs/", "#/components/schemas/") if k == "$ref" else _refs(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_refs(v) for v in value]
    return value


def _code_schema(codes: Sequence[Code]) -> dict[str, Any]:
    return {"oneOf": [{"const": int(c), "title": c.name, "description": MEANING[c]}
                      for c in codes]}


def _envelope(description: str, data: Mapping[str, Any] | None, on_error: str = ""
              ) -> dict[str, Any]:
    """An answer's schema; ``on_error`` says what ``data`` holds in an error answer
    (``codec.error_fields``): ``null`` makes the schema take it."""
    properties: dict[str, Any] = {"status": {"$ref": "#/components/schemas/Status"}}
    if data is not None:
        schema = {"anyOf": [data, {"type": "null"}]} if on_error == "null" else dict(data)
        properties["data"] = {**schema, "description": f"`{on_error}` in an error answer, "
                                                       "as Kuscia renders it."}
    return {"description": description, "type": "object", "additionalProperties": False,
            "required": ["status"], "properties": properties}


def _answers() -> dict[str, Any]:
    appimage = {"$ref": "#/components/schemas/AppImage"}
    return {
        "Status": {
            "description": "Kuscia's status: code 0 is success; see the code table.",
            "type": "object", "additionalProperties": False,
            "required": ["code", "message", "details"],
            "properties": {
                "code": _code_schema(list(Code)),
                "message": {"type": "string", "description": "\"success\", or what went wrong"},
                "details": {"type": "array", "items": {}},
            },
        },
        "Answer": _envelope("An answer without data (errors included).", None),
        "QueryAnswer": _envelope("The AppImage, every field emitted.", appimage, "null"),
        "BatchQueryAnswer": _envelope("The AppImages, in the order asked.",
                                      {"type": "array", "items": appimage}, "[]"),
        "ListAnswer": _envelope("One page of AppImages in name order.", {
            "type": "object", "additionalProperties": False,
            "required": ["appimage_list", "next_page_token"],
            "properties": {
                "appimage_list": {"type": "array", "items": appimage},
                "next_page_token": {"type": "string",
                                    "description": "Empty on the last page; else send it as "
                                                   "page_token for the next."},
            },
        }, "null"),
        "TooLarge": {
            "description": "The body was over the listener's limit (HTTP 413).",
            "type": "object", "required": ["message"],
            "properties": {"message": {"type": "string"}},
        },
    }


def _example_bodies() -> dict[str, Any]:
    """The API document's request bodies by name (``doc_create.json`` -> ``create``)."""
    folder = resources.files("webhook.rest.examples")
    return {entry.name.removeprefix("doc_").removesuffix(".json"): json.loads(entry.read_text())
            for entry in folder.iterdir()
            if entry.name.startswith("doc_") and entry.name.endswith(".json")}


def _operation(op: operations.Operation, path: str, bodies: Mapping[str, Any]) -> dict[str, Any]:
    """``op`` at its REST path ``path`` (one of ``op.paths``)."""
    if op.example:
        examples = {f"document-{op.example}": {"summary": f"The API document's {op.example} example",
                                               "value": bodies[op.example]}}
    else:
        examples = {"first-page": {"summary": "The first page of ten", "value": {}},
                    "page-of-two": {"summary": "Two at a time", "value": {"page_size": 2}}}
    codes = "\n".join(f"* `{int(c)}` {c.name}: {MEANING[c]}" for c in op.answers)
    answer = {"$ref": f"#/components/schemas/{op.answer}"}
    method = codec.METHODS[op.method]
    request_type = method.request.DESCRIPTOR.full_name
    response_type = method.response.DESCRIPTOR.full_name
    summary = op.summary if path == op.name else f"{op.summary} (Kuscia's other spelling of {op.name})"
    return {
        "operationId": path,
        "x-grpc": {"service": codec.SERVICE_NAME, "method": method.name,
                   "request": request_type, "response": response_type},
        "summary": summary,
        "description": f"Codes this operation answers with (HTTP 200):\n\n{codes}",
        "tags": ["AppImage"],
        "requestBody": {
            "description": "An empty body is read as `{}`.",
            "required": bool(op.required),  # `{}` lacks the required fields
            "content": {
                "application/json": {
                    "schema": {"$ref": f"#/components/schemas/{op.request}"},
                    "examples": examples,
                },
                "application/x-protobuf": {"schema": _protobuf(request_type)},
            },
        },
        "responses": {
            "200": {"description": "Answered; `status.code` says how; in the request's encoding.",
                    "content": {
                        "application/json": {"schema": {"allOf": [answer, {"properties": {
                            "status": {"properties": {"code": _code_schema(op.answers)}}}}]}},
                        "application/x-protobuf": {"schema": _protobuf(response_type)}}},
            "401": {"description": "Missing or wrong Token header (code 11102).", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Answer"}}}},
            "413": {"description": "Body over the listener's limit.", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/TooLarge"}}}},
            "503": {"description": "Shutting down, or too many connections; retry.",
                    "content": {"text/plain": {"schema": {"type": "string"}}}},
        },
    }


def _protobuf(type_name: str) -> dict[str, Any]:
    return {"type": "string", "contentMediaType": "application/x-protobuf",
            "description": f"A serialized `{type_name}`."}


def _version() -> str:
    try:
        return importlib.metadata.version("appimage-webhook")
    except importlib.metadata.PackageNotFoundError:
        return "0"


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (built once; treat as read-only)."""
    rest = schemagen.rest_schema(sources.cr_schema())
    components = {**_refs(rest["$defs"]), **_answers()}
    bodies = _example_bodies()
    return {
        "openapi": VERSION,
        "jsonSchemaDialect": SCHEMA_DIALECT,
        "info": {"title": "Kuscia AppImage API", "version": _version(),
                 "description": DESCRIPTION},
        "servers": [{"url": "/", "description": "this server"}],
        "security": [{"token": []}],
        "tags": [{"name": "AppImage", "description": "kuscia.secretflow/v1alpha1 AppImage"}],
        "paths": {PREFIX + path: {"post": _operation(op, path, bodies)}
                  for op in operations.ALL for path in op.paths},
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {"token": {
                "type": "apiKey", "in": "header", "name": TOKEN_HEADER,
                "description": "Only when the server runs with --token-file."}},
        },
    }


@functools.cache
def document_bytes() -> bytes:
    """The document as served: compact JSON."""
    return json.dumps(document(), ensure_ascii=False, separators=(",", ":")).encode()
