"""``kuscia.proto.api.v1alpha1.kusciaapi.AppImageService``: its RPCs on ``api.AppImages``.

Every RPC that gets past the token is answered with gRPC status OK and Kuscia's code in
the response's ``status``, as Kuscia does (a request that does not decode is 11100 too,
like a bad REST body); a missing or wrong ``token`` metadata entry is UNAUTHENTICATED,
as Kuscia's token interceptor answers. Warnings travel as trailing metadata entries
named ``warning``. Figures go to ``metrics`` under go-grpc-prometheus's names.

The handlers take and give serialized bytes (no (de)serializer is registered):
``codec.decode`` refuses unknown field numbers, which a generated deserializer would
keep unread, and answers an undecodable request with 11100 rather than grpcio's INTERNAL.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc

from webhook.core import api, calls
from webhook.ops import metrics, routing
from webhook.proto import codec

# go-grpc-prometheus labels calls with Go's names of the status codes: CamelCase, which
# ``go_name`` makes of Python's names, but for these two.
_GO_NAMES = {grpc.StatusCode.OK: "OK", grpc.StatusCode.CANCELLED: "Canceled"}
AUTH_FAILED = "auth failed: missing or wrong token metadata"

Context = grpc.aio.ServicerContext[bytes, bytes]
Handler = Callable[[bytes, Context], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class Config:
    appimages: api.AppImages
    token: bytes
    """Empty: no token check."""
    timeout: float
    drain: routing.Drain
    """Shared with the REST listeners: calls in progress hold up the service's drain."""


def go_name(code: grpc.StatusCode) -> str:
    """Go's name of ``code`` (go-grpc-prometheus's ``grpc_code`` label)."""
    return _GO_NAMES.get(code) or code.name.title().replace("_", "")


def _authorized(context: Context, token: bytes) -> bool:
    if not token:
        return True
    given = next((value for key, value in context.invocation_metadata() or () if key == "token"), "")
    return hmac.compare_digest(given.encode() if isinstance(given, str) else given, token)


def _interrupted(context: Context) -> grpc.StatusCode:
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return grpc.StatusCode.CANCELLED


class Service:
    """The generic handler of ``AppImageService``, for ``server.add_generic_rpc_handlers``."""

    def __init__(self, config: Config, figures: metrics.Metrics) -> None:
        self.config = config
        self.handler: grpc.GenericRpcHandler[bytes, bytes] = grpc.method_handlers_generic_handler(
            codec.SERVICE_NAME, {
                name: grpc.unary_unary_rpc_method_handler(
                    self._method(method, figures.grpc(codec.SERVICE_NAME, name)))
                for name, method in codec.METHODS.items()})

    def _method(self, method: codec.Method, bound: metrics.Endpoint) -> Handler:
        config = self.config

        async def handle(raw: bytes, context: Context) -> bytes:
            if config.drain.closed:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "shutting down")
            config.drain.in_flight += 1
            bound.in_flight += 1
            started = time.perf_counter()
            code = grpc.StatusCode.UNKNOWN  # what gRPC answers for an exception in a handler
            try:
                if not _authorized(context, config.token):
                    await context.abort(grpc.StatusCode.UNAUTHENTICATED, AUTH_FAILED)
                answer = await calls.run(lambda: self._run(method, raw), config.timeout, where=method.path)
                if answer.warnings:
                    context.set_trailing_metadata(
                        tuple(("warning", calls.plain_warning(w)) for w in answer.warnings))
                code = grpc.StatusCode.OK
                return codec.encode(method, answer).SerializeToString()
            except asyncio.CancelledError:
                code = _interrupted(context)
                raise
            except BaseException:
                code = context.code() or code  # set by abort (UNAUTHENTICATED)
                raise
            finally:
                config.drain.in_flight -= 1
                bound.in_flight -= 1
                bound.observe(time.perf_counter() - started)
                bound.count(go_name(code))

        return handle

    async def _run(self, method: codec.Method, raw: bytes) -> api.Outcome:
        return await self.config.appimages.operations[method.op](codec.decode(method, raw))
