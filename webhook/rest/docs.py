"""GET /openapi.json and the /docs explorer page, on the REST listener.

HTTP glue only: the document is ``openapi.document_bytes()``; the page is three static
files in ``webhook/rest/explorer/`` (no CDN, so it works on a machine without internet).
Neither needs the token: they hold nothing secret, and the page sends the token the
user types with each API request. The listener's TLS and client-certificate check
still apply. The page runs under a strict Content-Security-Policy: only its own script
and style, and requests only to this origin. ``/docs/`` (a habit of typing, and what
relative links from the page's folder resolve to) is a permanent redirect to ``/docs``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources

from aiohttp import web

from webhook.ops import routing
from webhook.rest import openapi

ASSETS = {  # path -> (file in webhook/rest/explorer, content type)
    "/docs": ("index.html", "text/html"),
    "/docs/explorer.js": ("explorer.js", "text/javascript"),
    "/docs/explorer.css": ("explorer.css", "text/css"),
}
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "connect-src 'self'; img-src 'self'; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _static(body: bytes, content_type: str) -> Callable[[web.BaseRequest], Awaitable[web.Response]]:
    async def handle(_: web.BaseRequest) -> web.Response:
        return web.Response(body=body, content_type=content_type, charset="utf-8",
                            headers=HEADERS)

    return handle


async def _to_page(_: web.BaseRequest) -> web.Response:
    # 308, not 301: keeps the method, and browsers cache it like 301.
    return web.Response(status=308, headers={"Location": "/docs"})


def add_routes(routes: routing.Routes) -> None:
    """Add GET /openapi.json, /docs (and its /docs/ redirect) and the page's script and
    style to ``routes``."""
    folder = resources.files("webhook.rest").joinpath("explorer")
    for path, (name, content_type) in ASSETS.items():
        routes.add("GET", path, _static(folder.joinpath(name).read_bytes(), content_type))
    routes.add("GET", "/docs/", _to_page)
    routes.add("GET", "/openapi.json", _static(openapi.document_bytes(), "application/json"))
