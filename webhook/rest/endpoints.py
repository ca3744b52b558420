"""The REST API's HTTP glue: Kuscia's paths, status envelope, token and Warning headers.

Every answer that carries a Kuscia ``status`` is HTTP 200 (Kuscia's convention), a
missing or wrong token is 401, a body over the limit 413, unknown paths and methods
404/405. Errors become a ``status`` in ``calls.run``, the place every front end shares;
anything unexpected is logged and answered 11101, never a 500. A failed call's JSON
answer carries ``data`` as Kuscia's does for that endpoint (``codec.error_fields``). Bodies are JSON, or
protobuf (``application/x-protobuf``, as Kuscia's API accepts) decoded by ``messages``
into the same JSON; the answer comes in the request's encoding.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from webhook.core import api, bodies, calls, errors, operations, paths
from webhook.ops import metrics, routing
from webhook.proto import codec
from webhook.rest import docs

PREFIX = "/api/v1/appimage/"
# JSON bodies arrive as application/json, with no Content-Type at all, as text/plain
# (Kuscia's decorator reads all three as JSON), or as curl's default for -d without -H
# (form type): the body is parsed as JSON in every case.
JSON_TYPES = ("application/json", "", "text/plain", "application/x-www-form-urlencoded")
X_PROTOBUF = "application/x-protobuf"

ENDPOINTS: dict[str, codec.Method] = {path: codec.METHODS[op.method]
                                       for op in operations.ALL for path in op.paths}
"""Each REST path under ``PREFIX`` (the operations' table), with its RPC's messages for
``application/x-protobuf`` bodies."""


def _answer(answer: calls.Answer, *, http_status: int = 200, protobuf: codec.Method | None = None,
            failed: dict[str, Any] | None = None) -> web.Response:
    """The response; ``failed``: the fields besides ``status`` of a failed call's JSON
    answer (``codec.error_fields``). A protobuf answer needs none: an absent field
    reads as null or []."""
    if protobuf is None:
        body = answer.envelope() if answer.code == errors.Code.SUCCESS or failed is None else {
            **answer.envelope(), **failed}
        response = web.Response(body=orjson.dumps(body), status=http_status,
                                content_type="application/json")
    else:
        response = web.Response(body=codec.encode(protobuf, answer).SerializeToString(),
                                status=http_status, content_type=X_PROTOBUF)
    for warning in answer.warnings:
        response.headers.add("Warning", warning_header(warning))
    return response


def warning_header(text: str) -> str:
    """RFC 7234 ``Warning: 299 - "text"``, as the Kubernetes API server sends; the text
    is made fit for a header (``calls.plain_warning``) and its quotes escaped."""
    safe = calls.plain_warning(text).replace("\\", "\\\\").replace('"', '\\"')
    return f'299 - "{safe}"'


def _authorized(request: web.BaseRequest, token: bytes) -> bool:
    if not token:
        return True
    given = request.headers.get("Token", "").encode()
    return hmac.compare_digest(given, token)


async def _body(request: web.BaseRequest, protobuf: codec.Method | None) -> Any:
    raw = await request.read()
    if protobuf is not None:
        return codec.decode(protobuf, raw)
    if not raw.strip():
        return {}  # an empty body is an empty request, as protobuf JSON reads it
    content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type not in JSON_TYPES and not content_type.endswith("+json"):
        raise errors.Invalid([errors.FieldError(
            "Content-Type", f"must be application/json or {X_PROTOBUF}, not {content_type!r}")])
    try:
        return bodies.parse(raw, strict=True)
    except bodies.Unreadable as e:
        where = paths.format_path(e.path) if e.path else "body"
        raise errors.Invalid([errors.FieldError(where, e.message)]) from e


@dataclass(frozen=True, slots=True)
class _Config:
    appimages: api.AppImages
    token: bytes
    """Empty: no token check."""
    timeout: float


async def _serve(request: web.BaseRequest, method: codec.Method, config: _Config
                 ) -> tuple[int, web.Response]:
    """The Kuscia code (0 for the HTTP-level refusals) and the response."""
    content_type = request.headers.get("Content-Type", "")
    protobuf = method if content_type[:len(X_PROTOBUF)].lower() == X_PROTOBUF else None
    if not _authorized(request, config.token):
        code = errors.Code.AUTH_FAILED
        return code, _answer(calls.Answer(code, "auth failed: missing or wrong Token header"),
                             http_status=401, protobuf=protobuf)

    async def call() -> api.Outcome:
        return await config.appimages.operations[method.op](await _body(request, protobuf))

    try:
        answer = await calls.run(call, config.timeout, where=request.path,
                                 passthrough=(web.HTTPRequestEntityTooLarge,))
    except web.HTTPRequestEntityTooLarge as e:
        return 0, web.json_response({"message": f"body: {e.text}"}, status=413)
    return answer.code, _answer(answer, protobuf=protobuf, failed=codec.error_fields(method))


def routes(appimages: api.AppImages, *, figures: metrics.Metrics, token: str | None,
           body_limit: int, timeout: float, drain: routing.Drain | None = None
           ) -> routing.Routes:
    """The REST listener's routes: POST /api/v1/appimage/{create,update,delete,query,...},
    and GET /openapi.json and /docs (``docs``; no token needed)."""
    config = _Config(appimages, (token or "").encode(), timeout)
    table = routing.Routes(body_limit)
    drain = drain or routing.Drain()
    for endpoint, method in ENDPOINTS.items():
        async def serve(request: web.BaseRequest, method: codec.Method = method
                        ) -> tuple[routing.Labels, web.Response]:
            code, response = await _serve(request, method, config)
            return (str(response.status), str(int(code))), response

        table.add("POST", PREFIX + endpoint, routing.instrumented(serve, figures.api(endpoint), drain))
    docs.add_routes(table)
    return table
