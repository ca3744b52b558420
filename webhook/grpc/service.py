"""``kuscia.proto.api.v1alpha1.kusciaapi.AppImageService``: its RPCs on ``api.AppImages``.

Every RPC that gets past the token is answered with gRPC status OK and Kuscia's code in
the response's ``status``, as Kuscia does (a request that does not decode is 11100 too,
like a bad REST body); a missing or wrong ``token`` metadata entry is UNAUTHENTICATED,
as Kuscia's token interceptor answers. Warnings travel as trailing metadata entries
named ``warning``. Figures go to ``metrics`` under go-grpc-prometheus's names.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from dataclasses import dataclass

import grpc

from webhook import api, calls, instrument, messages, metrics

# go-grpc-prometheus labels calls with Go's names of the status codes: CamelCase, which
# ``_go_name`` makes of Python's names, but for these two.
_GO_NAMES = {grpc.StatusCode.OK: "OK", grpc.StatusCode.CANCELLED: "Canceled"}
AUTH_FAILED = "auth failed: missing or wrong token metadata"


@dataclass(frozen=True, slots=True)
class Config:
    appimages: api.AppImages
    token: bytes
    """Empty: no token check."""
    timeout: float
    drain: instrument.Drain
    """Shared with the REST listeners: calls in progress hold up the shutdown."""


def _authorized(context: grpc.aio.ServicerContext[bytes, bytes], token: bytes) -> bool:
    if not token:
        return True
    given = next((value for key, value in context.invocation_metadata() or () if key == "token"), "")
    return hmac.compare_digest(given.encode() if isinstance(given, str) else given, token)


async def _answer(method: messages.Method, raw: bytes, context: grpc.aio.ServicerContext[bytes, bytes],
                  config: Config) -> bytes:
    if not _authorized(context, config.token):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, AUTH_FAILED)

    async def call() -> api.Outcome:
        return await method.operation(config.appimages, messages.decode(method, raw))

    answer = await calls.run(call, config.timeout, where=method.path)
    if answer.warnings:
        context.set_trailing_metadata(tuple(("warning", calls.plain_warning(w)) for w in answer.warnings))
    return messages.encode(method, answer).SerializeToString()


def _handler(method: messages.Method, config: Config, bound: metrics.Endpoint
             ) -> grpc.RpcMethodHandler[bytes, bytes]:
    async def handle(raw: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        if config.drain.closed:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "shutting down")
        config.drain.in_flight += 1
        bound.in_flight += 1
        started = time.perf_counter()
        code = grpc.StatusCode.UNKNOWN  # what gRPC answers for an exception in a handler
        try:
            response = await _answer(method, raw, context, config)
            code = grpc.StatusCode.OK
            return response
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
            bound.count(_go_name(code))

    # No deserializer: a request that does not decode is answered 11100 by messages.decode.
    return grpc.unary_unary_rpc_method_handler(handle)


def _go_name(code: grpc.StatusCode) -> str:
    return _GO_NAMES.get(code) or code.name.title().replace("_", "")


def _interrupted(context: grpc.aio.ServicerContext[bytes, bytes]) -> grpc.StatusCode:
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return grpc.StatusCode.CANCELLED


def handler(config: Config, metrics_: metrics.Metrics) -> grpc.GenericRpcHandler[bytes, bytes]:
    """The service's generic handler, for ``server.add_generic_rpc_handlers``."""
    return grpc.method_handlers_generic_handler(messages.SERVICE_NAME, {
        name: _handler(method, config, metrics_.grpc(messages.SERVICE_NAME, name))
        for name, method in messages.METHODS.items()})
