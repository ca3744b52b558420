"""The gRPC listener: our HTTP/2 server (``h2``, ``wire``) in the service's own event loop.

It serves ``AppImageService`` with the REST listener's TLS mode, certificates (a
``tls.ReloadingContext`` that offers ALPN ``h2``), token, body limit (as the largest
message received), request timeout and connection limit (``--max-connections`` bounds
both the connections — one more is closed at once — and the calls in progress, past
which a call is RESOURCE_EXHAUSTED), plus the standard ``grpc.health.v1.Health`` and
server reflection (``standard``). ``stop`` refuses new calls at once (GOAWAY) and gives
the ones in progress a grace period (the service's drain also waits for them).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from webhook import connections, messages, metrics, settings, tls
from webhook.grpc import h2, service, standard, wire


class Listener:
    """One gRPC server; ``start`` binds it."""

    def __init__(self, config: settings.Settings, calls: service.Config, metrics_: metrics.Metrics,
                 context: tls.ReloadingContext | None) -> None:
        self.settings = config
        self.port: int | None = None
        """The bound port once serving."""
        self._context = context
        self.health = standard.Health((messages.SERVICE_NAME,))
        reflection = standard.Reflection((messages.SERVICE_NAME, standard.HEALTH, standard.REFLECTION,
                                          standard.REFLECTION_V1))
        self._router = wire.Router(
            {**service.methods(calls, metrics_), **self.health.methods(), **reflection.methods()},
            wire.Limits(max_message=config.rest_body_limit, max_calls=config.max_connections,
                        body_timeout=config.request_timeout))
        self._limits = h2.Limits(idle_timeout=config.idle_timeout, preface_timeout=config.handshake_timeout)
        self._connections: set[h2.Connection] = set()
        self._none_open = asyncio.Event()
        self._none_open.set()
        self._limit = connections.Limit("grpc", config.max_connections)
        self._server: asyncio.Server | None = None
        self._stopping = False

    @property
    def in_progress(self) -> int:
        """Calls counted in: started and not yet answered, failed or reset."""
        return self._router.active

    def ready(self) -> bool:
        """Serving, with a certificate from the files when on TLS (looked for again
        here until one has loaded)."""
        if self._context is not None and not self._context.ready:
            self._context.poll()
        return self.port is not None and (self._context is None or self._context.ready)

    async def start(self, sock: socket.socket | None = None) -> int:
        """Serve on ``sock`` (None: bind ``--grpc-addr``); the bound port."""
        sock = sock or connections.bind(self.settings.grpc_addr, "--grpc-addr")
        self._server = await asyncio.get_running_loop().create_server(
            self._connection, sock=sock, backlog=connections.BACKLOG,
            ssl=None if self._context is None else self._context.context,
            ssl_handshake_timeout=None if self._context is None else self.settings.handshake_timeout)
        self.port = int(sock.getsockname()[1])
        return self.port

    def _connection(self) -> asyncio.Protocol:
        if self._context is not None:
            # Before its handshake: a few stat calls, and a rotated certificate serves
            # this connection already (gRPC clients keep connections long; the poll of
            # every --cert-reload-interval is for the REST listeners' short ones).
            self._context.poll()
        return h2.Connection(self._router, self._limits, self._opened, self._closed)

    def _opened(self, connection: h2.Connection) -> bool:
        """Count a connection in once made (after its TLS handshake: one that fails it
        never is); False past the limit or once stopping."""
        if self._stopping:
            return False
        if len(self._connections) >= self._limit.most:
            self._limit.refuse()
            return False
        self._connections.add(connection)
        self._none_open.clear()
        return True

    def _closed(self, connection: h2.Connection) -> None:
        self._connections.discard(connection)
        if not self._connections:
            self._none_open.set()

    async def stop(self, grace: float) -> None:
        """Health NOT_SERVING, no new connections or calls, ``grace`` seconds for the
        calls in progress; then every connection is dropped."""
        self._stopping = True
        self.health.stop_serving()
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.shutdown()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self._router.quiet.wait()
                await self._none_open.wait()  # each closes once its answers are written
        for connection in list(self._connections):
            connection.abort()
        for task in list(self._router.tasks):
            task.cancel()
        await asyncio.gather(*self._router.tasks, return_exceptions=True)
