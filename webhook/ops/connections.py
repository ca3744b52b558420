"""The listeners' sockets: bound before anything else starts, limited, and TLS explained.

aiohttp already closes a connection that has no complete request within its keep-alive
timeout (``Settings.idle_timeout``): idle between requests, and also from the moment
the connection opens to the end of the first request's headers, since that timer
starts with the connection and is not pushed back by partial data. Headers trickled a
byte at a time are therefore cut after ``idle_timeout`` too, and a slow body by the
request timeout. What ``Site`` adds, on aiohttp's public ``BaseSite`` and the runner's
protocol factory only (no private attribute of aiohttp, so an upgrade within our pin
cannot break startup):

* the socket is bound by ``bind`` before the service writes anything, so a port in use
  fails the start with one line and leaves no store file or certificate behind;
* a limit on open connections: past ``max_connections`` a new connection is answered
  ``503`` with ``Connection: close`` and closed, so that the connections being served
  keep the process's file descriptors, memory and event loop (the kernel's backlog is
  no help: asyncio accepts as fast as it can);
* on a TLS listener, the first byte of each connection is peeked before the handshake:
  a TLS handshake record (0x16) goes on to TLS, anything else is a client speaking plain
  HTTP and gets a ``400`` saying this port speaks HTTPS (as Go's net/http answers),
  rather than a handshake error it cannot read;
* a TLS handshake timeout shorter than asyncio's 60 s, covering the peek too, since a
  connection that never finishes its handshake is not yet counted;
* a refused handshake (a missing or untrusted client certificate, an old protocol) is
  logged once at INFO with the peer and the reason.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
from typing import Any, cast

from aiohttp import web

from webhook.ops import settings

log = logging.getLogger(__name__)

REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Content-Length: 21\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
           b"too many connections\n")
_HINT = b"Client sent an HTTP request to an HTTPS server: this port speaks HTTPS.\n"
PLAIN_ON_TLS = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_HINT), _HINT))
# The first byte of a TLS connection: the record type of a handshake (RFC 8446 §5.1).
TLS_HANDSHAKE_RECORD = 0x16
# After a refusal, what the client still sends is read and dropped for this long
# before closing: closing with unread data makes the kernel send a reset, which can
# destroy the answer on its way to the client.
REFUSAL_LINGER = 1.0
# A refused connection is logged at most this often (seconds), with a count.
LOG_INTERVAL = 60.0
BACKLOG = 128  # aiohttp's default
# The handshake's share of the timeout when the peek took nearly all of it.
MIN_HANDSHAKE_TIME = 0.001
# Out of file descriptors (or memory) while accepting: wait this long before trying
# again, as asyncio's own servers do, rather than spinning.
ACCEPT_RETRY_DELAY = 1.0
_ACCEPT_EXHAUSTED = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


def bind(address: settings.Address, flag: str) -> socket.socket:
    """A listening socket on ``address``; ``ValueError`` naming ``flag`` when the
    address cannot be had (in use, not local, not resolvable)."""
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(
            address.host, address.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as e:
        raise ValueError(f"{flag}: cannot listen on {address}: {e.strerror or e}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(sockaddr)
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError as e:
        sock.close()
        raise ValueError(f"{flag}: cannot listen on {address}: {e.strerror or e}") from None
    return sock


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
            log.warning("connection limit reached; refusing new connections",
                        extra={"listener": self.name, "limit": self.most,
                               "refused": self._unlogged})
            self._logged_at, self._unlogged = now, 0


def _answer_and_close(transport: asyncio.BaseTransport, answer: bytes) -> None:
    cast(asyncio.WriteTransport, transport).write(answer)
    asyncio.get_running_loop().call_later(REFUSAL_LINGER, transport.close)


class _Guarded(asyncio.Protocol):
    """aiohttp's protocol for one connection, let through only while under the limit."""

    def __init__(self, limit: Limit, inner: asyncio.Protocol) -> None:
        self._limit = limit
        self._inner = inner
        self._counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._limit.open >= self._limit.most:
            self._limit.refuse()
            _answer_and_close(transport, REFUSAL)
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


class _PlainOnTLS(asyncio.Protocol):
    """A plain-HTTP client on a TLS port: told so in a 400, then closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        _answer_and_close(transport, PLAIN_ON_TLS)


async def _first_byte(sock: socket.socket) -> bytes:
    """The connection's first byte, left in the socket for whoever reads next; b"" if
    the client closed without sending any."""
    loop = asyncio.get_running_loop()
    readable: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_reader(sock, ready)
    try:
        await readable
    finally:
        loop.remove_reader(sock)
    return sock.recv(1, socket.MSG_PEEK)


def _refusal_reason(e: Exception) -> str:
    if isinstance(e, ssl.SSLCertVerificationError):
        return f"client certificate refused: {e.verify_message}"
    if isinstance(e, ssl.SSLError) and e.reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE":
        return "client certificate required, none sent"
    return str(e)


class Site(web.BaseSite):
    """A listener on a socket from ``bind``: the connection limit, and on TLS the peek,
    the handshake timeout and the logged refusals. The socket is closed by ``stop``."""

    def __init__(self, runner: web.BaseRunner, sock: socket.socket, *,
                 ssl_context: ssl.SSLContext | None, max_connections: int,
                 handshake_timeout: float, name: str) -> None:
        super().__init__(runner)
        if runner.server is None:
            raise RuntimeError("the runner is not set up")
        self.protocols = runner.server
        self.sock = sock
        self.tls = ssl_context
        self.limit = Limit(name, max_connections)
        self.handshake_timeout = handshake_timeout
        self.listening: asyncio.Server | None = None
        self.accepting: asyncio.Task[None] | None = None
        self.opening: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The bound port (also when port 0 was asked for)."""
        return int(self.sock.getsockname()[1])

    @property
    def name(self) -> str:
        host = self.sock.getsockname()[0]
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def _guarded(self) -> asyncio.Protocol:
        return _Guarded(self.limit, self.protocols())

    async def start(self) -> None:
        await super().start()  # registers the site with its runner
        if self.tls is None:
            self.listening = await asyncio.get_running_loop().create_server(
                self._guarded, sock=self.sock, backlog=BACKLOG)
        else:
            self.accepting = asyncio.create_task(self._accept())

    async def stop(self) -> None:
        """Stop accepting. Connections accepted before, still in their TLS handshake,
        go on to be served; ``close_opening`` ends those still unfinished."""
        if self.listening is not None:
            self.listening.close()
        if self.accepting is not None:
            self.accepting.cancel()
            await asyncio.gather(self.accepting, return_exceptions=True)
        self.sock.close()
        await super().stop()

    async def close_opening(self) -> None:
        """Close the connections whose TLS handshake has not finished yet."""
        for task in self.opening:
            task.cancel()
        await asyncio.gather(*self.opening, return_exceptions=True)

    async def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, peer = await loop.sock_accept(self.sock)
            except OSError as e:
                if self.sock.fileno() == -1:
                    return  # the listener was closed
                if e.errno in _ACCEPT_EXHAUSTED:
                    log.warning("cannot accept connections: %s", e.strerror,
                                extra={"listener": self.limit.name})
                    await asyncio.sleep(ACCEPT_RETRY_DELAY)
                continue  # else one client's failure (it left before accept): the next
            task = asyncio.create_task(self._open(conn, peer))
            self.opening.add(task)
            task.add_done_callback(self.opening.discard)

    async def _open(self, conn: socket.socket, peer: tuple[Any, ...]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.handshake_timeout
        try:
            async with asyncio.timeout_at(deadline):
                first = await _first_byte(conn)
            if not first:
                conn.close()
            elif first[0] != TLS_HANDSHAKE_RECORD:
                await loop.connect_accepted_socket(_PlainOnTLS, conn)
            else:
                await loop.connect_accepted_socket(
                    self._guarded, conn, ssl=self.tls,
                    ssl_handshake_timeout=max(deadline - loop.time(), MIN_HANDSHAKE_TIME))
        except ssl.SSLError as e:
            log.info("TLS handshake refused: %s", _refusal_reason(e),
                     extra={"listener": self.limit.name, "peer": f"{peer[0]}:{peer[1]}"})
            conn.close()
        except OSError:  # the client left, or was too slow (TimeoutError): nothing to explain
            conn.close()
        except asyncio.CancelledError:
            conn.close()
            raise
