"""``kuscia.proto.api.v1alpha1.kusciaapi.AppImageService``: its RPCs on ``api.AppImages``.

Every RPC that gets past the token is answered with gRPC status OK and Kuscia's code in
the response's ``status``, as Kuscia does (a request that does not decode is 11100 too,
like a bad REST body); a missing or wrong ``token`` metadata entry is UNAUTHENTICATED,
as Kuscia's token interceptor answers. Warnings travel as trailing metadata entries
named ``warning``. Figures go to ``metrics`` under go-grpc-prometheus's names.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from webhook import api, calls, instrument, messages, metrics
from webhook.grpc import wire

AUTH_FAILED = "auth failed: missing or wrong token metadata"


@dataclass(frozen=True, slots=True)
class Config:
    appimages: api.AppImages
    token: bytes
    """Empty: no token check."""
    timeout: float
    drain: instrument.Drain
    """Shared with the REST listeners: calls in progress hold up the shutdown."""


def _handler(method: messages.Method, config: Config) -> wire.Unary:
    async def handle(call: wire.Call, raw: bytes) -> bytes:
        if config.drain.closed:
            raise wire.Abort(wire.Status.UNAVAILABLE, "shutting down")
        if config.token and not hmac.compare_digest(call.fields.get(b"token", b""), config.token):
            raise wire.Abort(wire.Status.UNAUTHENTICATED, AUTH_FAILED)

        async def run() -> api.Outcome:
            return await method.operation(config.appimages, messages.decode(method, raw))

        config.drain.in_flight += 1
        try:
            answer = await calls.run(run, config.timeout, where=method.path)
        finally:
            config.drain.in_flight -= 1
        if answer.warnings:
            call.trailing += [("warning", calls.plain_warning(w)) for w in answer.warnings]
        return messages.encode(method, answer).SerializeToString()

    return handle


def methods(config: Config, metrics_: metrics.Metrics) -> dict[str, wire.Method]:
    """The service's methods by path, for ``wire.Router``."""
    return {method.path: wire.Method(unary=_handler(method, config),
                                      figures=metrics_.grpc(messages.SERVICE_NAME, name))
            for name, method in messages.METHODS.items()}
