"""Exact-path routing on aiohttp's low-level ``web.Server``, for every listener.

Each listener serves a fixed set of paths, so it needs neither ``web.Application`` nor
its URL dispatcher: ``Routes`` is the server's one handler, a dict from path to method
to handler. A request then skips building a ``web.Request`` with its match info, the
dispatcher's resolution and the response-prepare signal: about an eighth of the bare
echo's time per request over TLS (bench/results/latest.md). What the dispatcher did and the
service relies on is done here: 404 for an unknown path, 405 with ``Allow`` for a known
one asked with another method, HEAD wherever GET is served, ``Expect: 100-continue``
(curl sends it before a large body and otherwise waits a second), and the body limit,
which aiohttp enforces from the request object (``BaseRequest.read`` answers 413).

Every answer, aiohttp's own error answers included, says ``Server: appimage-webhook``
instead of aiohttp's default, which names the Python and aiohttp versions.

``instrumented`` is the wrapper every REST and webhook handler runs in: one place counts
requests in flight for a graceful stop (``Drain``), times them, counts them by their
labels, and during the drain makes every answer close its connection (so kept-alive
clients reconnect elsewhere instead of being cut off). A plain wrapper, not an aiohttp
middleware: aiohttp builds the middleware chain anew for every request, which cost
about 8% of a review's CPU under load.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import abc, http, streams, web

from webhook.ops import metrics

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
Labels = metrics.Labels
Serve = Callable[[web.BaseRequest], Awaitable[tuple[Labels, web.Response]]]
"""A handler that answers with the labels to count its answer by."""

DEFAULT_BODY_LIMIT = 1024**2  # aiohttp's own default
# No version: what runs behind a port is nobody's business but its operator's.
SERVER = "appimage-webhook"


class Routes:
    """The paths of one listener and their handlers; ``server`` serves them."""

    def __init__(self, body_limit: int = DEFAULT_BODY_LIMIT) -> None:
        self.body_limit = body_limit
        self._paths: dict[str, dict[str, Handler]] = {}

    def add(self, method: str, path: str, handler: Handler) -> None:
        methods = self._paths.setdefault(path, {})
        methods[method] = handler
        if method == "GET":
            methods.setdefault("HEAD", handler)  # aiohttp leaves out a HEAD answer's body

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        methods = self._paths.get(request.path)
        if methods is None:
            return web.Response(status=404, text="404: Not Found")
        handler = methods.get(request.method)
        if handler is None:
            return web.Response(status=405, text="405: Method Not Allowed",
                                headers={"Allow": ", ".join(sorted(methods))})
        if "Expect" in request.headers:
            refusal = await _expect(request)
            if refusal is not None:
                return refusal
        return await handler(request)

    def server(self, **kwargs: Any) -> web.Server:
        """A ``web.Server`` for these routes (in the running loop); ``kwargs`` go to
        aiohttp's connection handler (``keepalive_timeout``, ``access_log``, ...)."""
        loop = asyncio.get_running_loop()
        limit = self.body_limit

        def request(message: http.RawRequestMessage, payload: streams.StreamReader,
                    protocol: web.RequestHandler, writer: abc.AbstractStreamWriter,
                    task: asyncio.Task[None]) -> web.BaseRequest:
            return web.BaseRequest(message, payload, protocol, writer, task, loop,
                                   client_max_size=limit)

        return _Server(self, request_factory=request, **kwargs)


class _Handler(web.RequestHandler):
    """aiohttp's connection handler; every answer, its own error answers included,
    passes ``finish_response`` before it is prepared."""

    async def finish_response(self, request: web.BaseRequest, resp: web.StreamResponse,
                              start_time: float | None) -> tuple[web.StreamResponse, bool]:
        if not resp.prepared:
            resp.headers["Server"] = SERVER
        return await super().finish_response(request, resp, start_time)


class _Server(web.Server):
    """``web.Server`` making ``_Handler`` connections with the options it was given."""

    def __init__(self, handler: Handler, **kwargs: Any) -> None:
        server_keys = ("request_factory", "handler_cancellation", "loop")
        super().__init__(handler, **kwargs)
        self.handler_options = {k: v for k, v in kwargs.items() if k not in server_keys}

    def __call__(self) -> web.RequestHandler:
        return _Handler(self, loop=asyncio.get_running_loop(), **self.handler_options)


async def _expect(request: web.BaseRequest) -> web.Response | None:
    """Answer ``Expect: 100-continue`` (RFC 9110 §10.1.1) before the body is read;
    any other expectation is 417."""
    if request.headers["Expect"].lower() != "100-continue":
        return web.Response(status=417, text=f"Expect: {request.headers['Expect']!r} is not supported")
    if request.version >= http.HttpVersion11 and request.transport is not None:
        # Straight to the transport: an interim line, not part of the answer, which
        # aiohttp's writer would otherwise count as sent (and then refuse an error answer).
        request.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    return None


class Drain:
    """Shared by the listeners of one service; ``server.Service.stop`` drives it."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.draining = False
        """Answers close their connections."""
        self.closed = False
        """The store is closed: a late request gets 503."""


def instrumented(serve: Serve, bound: metrics.Endpoint, drain: Drain) -> Handler:
    """``serve`` answering with the labels to count the answer by, instrumented."""
    async def handle(request: web.BaseRequest) -> web.Response:
        if drain.closed:
            return web.Response(status=503, text="shutting down", headers={"Connection": "close"})
        drain.in_flight += 1
        bound.in_flight += 1
        started = time.perf_counter()
        try:
            labels, response = await serve(request)
        finally:
            drain.in_flight -= 1
            bound.in_flight -= 1
            bound.observe(time.perf_counter() - started)
        bound.count(*labels)
        if drain.draining:
            response.force_close()
        return response

    return handle
