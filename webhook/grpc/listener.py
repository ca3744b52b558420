"""The gRPC listener: a grpc.aio server in the service's own event loop (uvloop too).

It serves ``AppImageService`` with the REST listener's TLS mode, certificates (reloaded
as they change), token, body limit (as the largest message received), request
timeout and connection limit (``--max-connections`` bounds both the connections and
the calls in progress; a call past it is RESOURCE_EXHAUSTED), plus the standard
``grpc.health.v1.Health`` and server reflection. Health and reflection need no token:
like /healthz and /openapi.json they hold nothing secret, and probes and tools that
discover the API send none. ``stop`` refuses new calls at once and gives the ones in
progress a grace period (the service's drain also waits for them).
"""

from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from webhook import messages, metrics, settings
from webhook.grpc import credentials, service


class Listener:
    """One gRPC server; ``start`` binds it."""

    def __init__(self, config: settings.Settings, calls: service.Config, metrics_: metrics.Metrics,
                 certificates: credentials.Certificates | None) -> None:
        self.settings = config
        self.port: int | None = None
        """The bound port once serving."""
        self._certificates = certificates
        # health.aio is imported under a version check that mypy does not follow.
        self._health = health.aio.HealthServicer()  # type: ignore[attr-defined]
        self._server = grpc.aio.server(
            maximum_concurrent_rpcs=config.max_connections,
            options=[
                ("grpc.so_reuseport", 0),  # a port in use is an error, never shared
                ("grpc.max_receive_message_length", config.rest_body_limit),
                ("grpc.max_allowed_incoming_connections", config.max_connections),
                ("grpc.max_connection_idle_ms", int(config.idle_timeout * 1000)),
                ("grpc.server_handshake_timeout_ms", int(config.handshake_timeout * 1000)),
            ])
        self._server.add_generic_rpc_handlers((service.handler(calls, metrics_),))
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            (messages.SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self._server)

    def ready(self) -> bool:
        """Serving, with a certificate from the files when on TLS (looked for again
        here until one has loaded: handshakes, which also look, may not come)."""
        if self._certificates is not None and not self._certificates.ready:
            self._certificates.refresh()
        return self.port is not None and (self._certificates is None or self._certificates.ready)

    async def start(self) -> int:
        """Bind and serve; the bound port."""
        address = str(self.settings.grpc_addr)
        try:
            if self._certificates is None:
                port = self._server.add_insecure_port(address)
            else:
                port = self._server.add_secure_port(address, self._certificates.credentials())
        except RuntimeError:  # grpc says no more than that
            raise ValueError(f"--grpc-addr: cannot listen on {address}") from None
        await self._server.start()
        for name in ("", messages.SERVICE_NAME):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self.port = port
        return port

    async def stop(self, grace: float) -> None:
        """Health NOT_SERVING, no new calls, ``grace`` seconds for those in progress."""
        await self._health.enter_graceful_shutdown()
        await self._server.stop(grace)
