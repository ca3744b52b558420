"""The REST API's HTTP glue: Kuscia's paths, status envelope, token and Warning headers.

Every answer that carries a Kuscia ``status`` is HTTP 200 (Kuscia's convention), a
missing or wrong token is 401, a body over the limit 413, unknown paths and methods
404/405. Errors are mapped to a ``status`` in one place (``_serve``); anything
unexpected is logged and answered 11101, never a 500. An error answer carries ``data``
as Kuscia's does for that endpoint (``ERROR_DATA``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from webhook import api, bodies, docs, errors, instrument, metrics, model, routing

log = logging.getLogger(__name__)

PREFIX = "/api/v1/appimage/"
# JSON bodies arrive as application/json, with no Content-Type at all, as text/plain
# (Kuscia's decorator reads all three as JSON), or as curl's default for -d without -H
# (form type): the body is parsed as JSON in every case.
JSON_TYPES = ("application/json", "", "text/plain", "application/x-www-form-urlencoded")

WARNING_MAX = 1024  # characters of one Warning header's text (see warning_header)

Operation = Callable[[api.AppImages, Any], Awaitable[api.Outcome]]
ENDPOINTS: dict[str, Operation] = {
    "create": api.AppImages.create,
    "update": api.AppImages.update,
    "delete": api.AppImages.delete,
    "query": api.AppImages.query,
    "batch_query": api.AppImages.batch_query,
    "batchQuery": api.AppImages.batch_query,
    "list": api.AppImages.list,
}
# The fields besides ``status`` of each endpoint's error answer. Kuscia renders its
# response messages with every field (protojson, EmitUnpopulated): an unset message
# ``data`` (query, list) is null, an empty repeated one (batch query) is [], and the
# create, update and delete answers have no ``data`` field at all.
ERROR_DATA: dict[str, Mapping[str, Any]] = {
    "create": {},
    "update": {},
    "delete": {},
    "query": {"data": None},
    "batch_query": {"data": []},
    "batchQuery": {"data": []},
    "list": {"data": None},
}


def status_body(code: int, message: str, fields: Mapping[str, Any] | None = None) -> bytes:
    """Kuscia's answer: ``status`` and ``fields`` (``data``, when the answer has one)."""
    body = {"status": {"code": code, "message": message, "details": []}, **(fields or {})}
    return orjson.dumps(body)


def _answer(code: int, message: str, fields: Mapping[str, Any] | None = None, *,
            http_status: int = 200, warnings: Sequence[str] = ()) -> web.Response:
    response = web.Response(body=status_body(code, message, fields), status=http_status,
                            content_type="application/json")
    for warning in warnings:
        response.headers.add("Warning", warning_header(warning))
    return response


def warning_header(text: str) -> str:
    """RFC 7234 ``Warning: 299 - "text"``, as the Kubernetes API server sends; the text
    is made ASCII and its quotes escaped so any field value can travel in a header, and
    cut at ``WARNING_MAX`` characters: clients refuse long header lines (64 KiB in
    Python's http.client, less in others)."""
    if len(text) > WARNING_MAX:
        text = text[:WARNING_MAX] + "…"
    safe = text.encode("ascii", "backslashreplace").decode().replace("\\", "\\\\").replace('"', '\\"')
    return f'299 - "{" ".join(safe.split())}"'


def _authorized(request: web.BaseRequest, token: bytes) -> bool:
    if not token:
        return True
    given = request.headers.get("Token", "").encode()
    return hmac.compare_digest(given, token)


async def _body(request: web.BaseRequest) -> Any:
    raw = await request.read()
    if not raw.strip():
        return {}  # an empty body is an empty request, as protobuf JSON reads it
    content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type not in JSON_TYPES and not content_type.endswith("+json"):
        raise errors.Invalid([errors.FieldError(
            "Content-Type", f"must be application/json, not {content_type!r}")])
    try:
        return bodies.parse(raw, strict=True)
    except bodies.Unreadable as e:
        where = model.format_path(e.path) if e.path else "body"
        raise errors.Invalid([errors.FieldError(where, e.message)]) from e


@dataclass(frozen=True, slots=True)
class _Config:
    appimages: api.AppImages
    token: bytes
    """Empty: no token check."""
    timeout: float


async def _serve(request: web.BaseRequest, endpoint: str, config: _Config
                 ) -> tuple[int, web.Response]:
    """The Kuscia code (0 for the HTTP-level refusals) and the response."""
    failed = ERROR_DATA[endpoint]
    if not _authorized(request, config.token):
        code = errors.Code.AUTH_FAILED
        return code, _answer(code, "auth failed: missing or wrong Token header", http_status=401)
    try:
        async with asyncio.timeout(config.timeout):
            body = await _body(request)
            outcome = await ENDPOINTS[endpoint](config.appimages, body)
    except errors.ServiceError as e:
        return e.code, _answer(e.code, e.message, failed)
    except web.HTTPRequestEntityTooLarge as e:
        return 0, web.json_response({"message": f"body: {e.text}"}, status=413)
    except TimeoutError:
        log.warning("request timed out", extra={"path": request.path})
        code = errors.Code.UNEXPECTED
        return code, _answer(code, f"request took longer than {config.timeout:g} s "
                                   "and was abandoned", failed)
    except Exception:
        log.exception("unexpected error", extra={"path": request.path})
        return errors.Code.UNEXPECTED, _answer(errors.Code.UNEXPECTED,
                                               "unexpected server error; see the server log",
                                               failed)
    data = {} if outcome.data is None else {"data": outcome.data}
    return errors.Code.SUCCESS, _answer(errors.Code.SUCCESS, "success", data,
                                        warnings=outcome.warnings)


def routes(appimages: api.AppImages, *, metrics_: metrics.Metrics, token: str | None,
           body_limit: int, timeout: float, drain: instrument.Drain | None = None
           ) -> routing.Routes:
    """The REST listener's routes: POST /api/v1/appimage/{create,update,delete,query,...},
    and GET /openapi.json and /docs (``webhook.docs``; no token needed)."""
    config = _Config(appimages, (token or "").encode(), timeout)
    table = routing.Routes(body_limit)
    drain = drain or instrument.Drain()
    for endpoint in ENDPOINTS:
        async def serve(request: web.BaseRequest, endpoint: str = endpoint
                        ) -> tuple[instrument.Labels, web.Response]:
            code, response = await _serve(request, endpoint, config)
            return (str(response.status), str(int(code))), response

        table.add("POST", PREFIX + endpoint, instrument.handler(serve, metrics_.api(endpoint), drain))
    docs.add_routes(table)
    return table
