"""The gRPC listener: grpcio's grpc.aio server in the service's own event loop (uvloop).

It serves ``AppImageService`` with the REST listener's TLS mode and certificate files
(``credentials``), token, body limit (as the largest message received) and request
timeout, plus ``grpc.health.v1.Health`` (grpcio-health-checking) and server reflection
(grpcio-reflection; ``standard``). Health and reflection need no token: like /healthz
and /openapi.json they hold nothing secret, and probes and tools that discover the API
send none.

grpc.aio, not grpcio's threaded server: the threaded server holds a pool thread per
call from its headers until its request message has arrived, so its pool is a
listener-wide limit that one peer fills by opening streams and sending no bodies, and
its calls would cross to the event loop (where the store and the operations live) and
back; a grpc.aio call is a coroutine in the loop (docs/architecture.md has the figures).

``options`` are grpcio's limits, each with its reason. None is listener-wide but the
connection count: streams are bounded per connection, connections by idle time and
age, so a peer holds at most what its own connections hold, for a bounded time.
``stop`` turns health to NOT_SERVING, refuses new calls at once (GOAWAY), and gives
the calls in progress the grace period.
"""

from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from webhook.ops import metrics, settings, tls
from webhook.proto import codec
from webhook.rpc import credentials, service, standard

# Streams one connection may have open at once: HTTP/2's recommended least (RFC 9113
# §6.5.2) and grpc-go's customary value. With grpcio's overload protection (its default,
# stated below) a stream counts until the server has freed it, not until the peer reset
# it: that is what holds off a rapid reset (tests/rpc/test_floods.py). A client keeping
# more calls than this in flight on one connection queues them, but may see one refused
# at the edge (UNAVAILABLE, which gRPC clients retry): 16 held off rapid reset from more
# connections, and refused 2-30 % of the calls of clients with 32 in flight.
MAX_STREAMS_PER_CONNECTION = 100
# Request metadata (headers) of one call, in bytes: past the soft limit a call may be
# refused, past the hard one it is (grpcio's defaults, stated; Kuscia's calls send a
# token and a few standard headers, far below).
METADATA_SOFT_LIMIT = 8 * 1024
METADATA_HARD_LIMIT = 16 * 1024
# A connection lives at most this long, then is asked to go (GOAWAY), so that nothing a
# peer opened (a stream that never sends its body) is held for longer, and clients
# spread over replicas again. Its calls in progress then get --request-timeout.
MAX_CONNECTION_AGE = 5 * 60.0
# Pings without data: a peer may send one every 10 s (idle clients' keepalives fit), more
# often is a strike, and two strikes end the connection (ENHANCE_YOUR_CALM): a PING flood.
MIN_PING_INTERVAL = 10.0
PING_STRIKES = 2
# Our own keepalive: a peer that stops reading never acknowledges, and goes after 60+20 s.
KEEPALIVE_TIME = 60.0
KEEPALIVE_TIMEOUT = 20.0


def options(config: settings.Settings) -> list[tuple[str, int]]:
    """grpcio's channel arguments for the listener."""
    return [
        ("grpc.so_reuseport", 0),  # a port in use is an error, never shared
        ("grpc.max_receive_message_length", config.rest_body_limit),
        ("grpc.max_concurrent_streams", MAX_STREAMS_PER_CONNECTION),
        ("grpc.http.overload_protection", 1),
        ("grpc.max_metadata_size", METADATA_SOFT_LIMIT),
        ("grpc.absolute_max_metadata_size", METADATA_HARD_LIMIT),
        # The file descriptors' bound, as on the REST listeners; one more is refused.
        ("grpc.max_allowed_incoming_connections", config.max_connections),
        ("grpc.max_connection_idle_ms", _ms(config.idle_timeout)),
        ("grpc.max_connection_age_ms", _ms(MAX_CONNECTION_AGE)),
        ("grpc.max_connection_age_grace_ms", _ms(config.request_timeout)),
        ("grpc.server_handshake_timeout_ms", _ms(config.handshake_timeout)),
        ("grpc.http2.min_ping_interval_without_data_ms", _ms(MIN_PING_INTERVAL)),
        ("grpc.http2.max_ping_strikes", PING_STRIKES),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.keepalive_time_ms", _ms(KEEPALIVE_TIME)),
        ("grpc.keepalive_timeout_ms", _ms(KEEPALIVE_TIMEOUT)),
    ]


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class Listener:
    """One gRPC server; ``start`` binds it."""

    def __init__(self, config: settings.Settings, calls: service.Config, figures: metrics.Metrics,
                 reloading: tls.ReloadingContext | None) -> None:
        self.settings = config
        self.port: int | None = None
        """The bound port once serving."""
        self._credentials = (None if reloading is None
                             else credentials.Credentials(reloading, config.tls_mode == "mtls"))
        self.service = service.Service(calls, figures)
        # grpc_health imports its asyncio servicer under a version check mypy does not follow.
        self.health = health.aio.HealthServicer()  # type: ignore[attr-defined]
        self._server = grpc.aio.server(handlers=[self.service.handler], options=options(config))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        standard.add_reflection(self._server, (codec.SERVICE_NAME, health.SERVICE_NAME))

    def ready(self) -> bool:
        """Serving, with a certificate from the files when on TLS (looked for again
        here until one has loaded: handshakes, which also look, may not come)."""
        if self._credentials is None:
            return self.port is not None
        reloading = self._credentials.reloading
        if not reloading.ready:
            reloading.poll()
        return self.port is not None and reloading.ready

    async def start(self) -> int:
        """Bind ``--grpc-addr`` and serve; the bound port."""
        address = str(self.settings.grpc_addr)
        try:
            if self._credentials is None:
                port = self._server.add_insecure_port(address)
            else:
                port = self._server.add_secure_port(address, self._credentials.server_credentials())
        except RuntimeError:  # grpcio says no more than that
            raise ValueError(f"--grpc-addr: cannot listen on {address}") from None
        await self._server.start()
        for name in ("", codec.SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self.port = port
        return port

    async def stop(self, grace: float) -> None:
        """Health NOT_SERVING, no new calls (GOAWAY), ``grace`` seconds for the calls in
        progress, then the rest is cancelled. As grpc-go's GracefulStop, a health watch
        (which never ends by itself) holds the grace period to its end."""
        await self.health.enter_graceful_shutdown()
        # One stop, not a second one with less grace once the service's calls are done:
        # two concurrent stops crash grpc.aio (a segmentation fault in half of the runs).
        await self._server.stop(grace)
