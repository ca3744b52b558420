"""Connection limits of a listener: how many at once, and how long a TLS handshake takes.

aiohttp already closes a connection that has no complete request within its keep-alive
timeout (``Settings.idle_timeout``): idle between requests, and also from the moment
the connection opens to the end of the first request's headers, since that timer
starts with the connection and is not pushed back by partial data. Headers trickled a
byte at a time are therefore cut after ``idle_timeout`` too, and a slow body by the
request timeout. What aiohttp lacks, and ``Site`` adds to its ``TCPSite``:

* a limit on open connections: past ``max_connections`` a new connection is answered
  ``503`` with ``Connection: close`` and closed, so that the connections being served
  keep the process's file descriptors, memory and event loop (the kernel's backlog is
  no help: asyncio accepts as fast as it can);
* a TLS handshake timeout shorter than asyncio's 60 s, since a connection that never
  finishes its handshake is not yet counted (the HTTP protocol sees it only after).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import cast

from aiohttp import web

log = logging.getLogger(__name__)

REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Content-Length: 21\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
           b"too many connections\n")
# After the refusal, what the client still sends is read and dropped for this long
# before closing: closing with unread data makes the kernel send a reset, which can
# destroy the 503 on its way to the client.
REFUSAL_LINGER = 1.0
# A refused connection is logged at most this often (seconds), with a count.
LOG_INTERVAL = 60.0


class Limit:
    """The open connections of one listener, and the most it may have."""

    def __init__(self, name: str, most: int) -> None:
        self.name = name
        self.most = most
        self.open = 0
        self.refused = 0
        self._logged_at = -LOG_INTERVAL
        self._unlogged = 0

    def refuse(self) -> None:
        self.refused += 1
        self._unlogged += 1
        now = asyncio.get_running_loop().time()
        if now - self._logged_at >= LOG_INTERVAL:
            log.warning("connection limit reached; refusing new connections with 503",
                        extra={"listener": self.name, "limit": self.most,
                               "refused": self._unlogged})
            self._logged_at, self._unlogged = now, 0


class _Guarded(asyncio.Protocol):
    """aiohttp's protocol for one connection, let through only while under the limit."""

    def __init__(self, limit: Limit, inner: asyncio.Protocol) -> None:
        self._limit = limit
        self._inner = inner
        self._counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._limit.open >= self._limit.most:
            self._limit.refuse()
            cast(asyncio.WriteTransport, transport).write(REFUSAL)
            asyncio.get_running_loop().call_later(REFUSAL_LINGER, transport.close)
            return
        self._limit.open += 1
        self._counted = True
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._counted:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._counted else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._counted:
            self._counted = False
            self._limit.open -= 1
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._counted:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._counted:
            self._inner.resume_writing()


class Site(web.TCPSite):
    """``web.TCPSite`` with a connection limit and a TLS handshake timeout."""

    __slots__ = ("_handshake_timeout", "limit")

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *,
                 ssl_context: ssl.SSLContext | None, max_connections: int,
                 handshake_timeout: float, name: str) -> None:
        super().__init__(runner, host, port, ssl_context=ssl_context, reuse_address=True)
        self.limit = Limit(name, max_connections)
        self._handshake_timeout = handshake_timeout

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with its runner
        factory = self._runner.server
        if factory is None:
            raise RuntimeError("the runner is not set up")
        limit = self.limit

        def guarded() -> asyncio.Protocol:
            return _Guarded(limit, factory())

        server = await asyncio.get_running_loop().create_server(
            guarded, self._host, self._port, ssl=self._ssl_context, backlog=self._backlog,
            reuse_address=self._reuse_address, reuse_port=self._reuse_port,
            ssl_handshake_timeout=self._handshake_timeout if self._ssl_context else None)
        self._server = server
        self._bound_port = server.sockets[0].getsockname()[1] if server.sockets else self._port
