"""The REST API's HTTP glue: Kuscia's paths, status envelope, token and Warning headers.

Every answer that carries a Kuscia ``status`` is HTTP 200 (Kuscia's convention), a
missing or wrong token is 401, a body over the limit 413, unknown paths and methods
404/405. Errors are mapped to a ``status`` in one place (``_serve``); anything
unexpected is logged and answered 11101, never a 500.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from webhook import api, bodies, docs, errors, instrument, metrics, model, routing

log = logging.getLogger(__name__)

PREFIX = "/api/v1/appimage/"
# JSON bodies arrive as application/json, with no Content-Type at all, or as curl's
# default for -d without -H (form type): the body is parsed as JSON in every case.
JSON_TYPES = ("application/json", "", "application/x-www-form-urlencoded")

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


def status_body(code: int, message: str, data: Any = None) -> bytes:
    body: dict[str, Any] = {"status": {"code": code, "message": message, "details": []}}
    if data is not None:
        body["data"] = data
    return orjson.dumps(body)


def _answer(code: int, message: str, data: Any = None, *, http_status: int = 200,
            warnings: Sequence[str] = ()) -> web.Response:
    response = web.Response(body=status_body(code, message, data), status=http_status,
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


async def _serve(request: web.BaseRequest, operation: Operation, config: _Config
                 ) -> tuple[int, web.Response]:
    """The Kuscia code (0 for the HTTP-level refusals) and the response."""
    if not _authorized(request, config.token):
        code = errors.Code.AUTH_FAILED
        return code, _answer(code, "auth failed: missing or wrong Token header", http_status=401)
    try:
        async with asyncio.timeout(config.timeout):
            body = await _body(request)
            outcome = await operation(config.appimages, body)
    except errors.ServiceError as e:
        return e.code, _answer(e.code, e.message)
    except web.HTTPRequestEntityTooLarge as e:
        return 0, web.json_response({"message": f"body: {e.text}"}, status=413)
    except TimeoutError:
        log.warning("request timed out", extra={"path": request.path})
        code = errors.Code.UNEXPECTED
        return code, _answer(code, f"request took longer than {config.timeout:g} s "
                                   "and was abandoned")
    except Exception:
        log.exception("unexpected error", extra={"path": request.path})
        return errors.Code.UNEXPECTED, _answer(errors.Code.UNEXPECTED,
                                               "unexpected server error; see the server log")
    return errors.Code.SUCCESS, _answer(errors.Code.SUCCESS, "success", outcome.data,
                                        warnings=outcome.warnings)


def routes(appimages: api.AppImages, *, metrics_: metrics.Metrics, token: str | None,
           body_limit: int, timeout: float, drain: instrument.Drain | None = None
           ) -> routing.Routes:
    """The REST listener's routes: POST /api/v1/appimage/{create,update,delete,query,...},
    and GET /openapi.json and /docs (``webhook.docs``; no token needed)."""
    config = _Config(appimages, (token or "").encode(), timeout)
    table = routing.Routes(body_limit)
    drain = drain or instrument.Drain()
    for endpoint, operation in ENDPOINTS.items():
        async def serve(request: web.BaseRequest, operation: Operation = operation
                        ) -> tuple[instrument.Labels, web.Response]:
            code, response = await _serve(request, operation, config)
            return (str(response.status), str(int(code))), response

        table.add("POST", PREFIX + endpoint, instrument.handler(serve, metrics_.api(endpoint), drain))
    docs.add_routes(table)
    return table
