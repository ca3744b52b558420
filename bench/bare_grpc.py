"""The gRPC framework's limit: a bare grpcio server answering at once, over TLS.

The baseline of bench/run's gRPC rows, as ``bench/bare.py`` is REST's, and the server
bench/grpc_floods.py floods with one set of options after another. The service's own
server in every respect but the work: grpcio's grpc.aio server on uvloop with the
listener's options (``webhook.rpc.listener.options``; ``--options`` gives others) and
TLS credentials (``webhook.rpc.credentials``, following ``server.crt``/``server.key`` of
``--cert-dir``; plaintext without), ``grpc.health.v1.Health`` from grpcio-health-checking,
and AppImageService's QueryAppImage and ListAppImage registered as the service's are
(bytes in, bytes out): each parses its request and answers an answer made once at start.
What the service costs beyond this is its own work: token, metrics, decoding, the
operation, the store and the answer::

    python -m bench.bare_grpc --port PORT [--cert-dir DIR] [--options JSON]
                              [--max-rpcs N] [--threaded N]

``--threaded N`` serves the same on grpcio's threaded server (N pool threads), handing
each call to an event loop in another thread and waiting for it, as the service would
have to (its operations and store live in its event loop): the alternative to grpc.aio
that the listener's docstring weighs, measured in the same run. It prints ``listening
on PORT`` once serving and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import pathlib
import signal
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import grpc
import uvloop
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from bench import workloads
from webhook.ops import certificates, settings, tls
from webhook.proto import codec
from webhook.rpc import credentials, listener

Answer = Callable[[bytes], Coroutine[Any, Any, bytes]]


def answers() -> dict[str, bytes]:
    """Each served method's answer, serialized: a query of the API document's example, an
    empty list page."""
    query: Any = codec.METHODS["QueryAppImage"].response()
    query.status.message = "success"
    query.data.name = workloads.QUERY_NAME
    query.data.image.name = str(workloads.create_body()["image"]["name"])
    query.data.image.tag = str(workloads.create_body()["image"]["tag"])
    listed: Any = codec.METHODS["ListAppImage"].response()
    listed.status.message = "success"
    return {"QueryAppImage": query.SerializeToString(), "ListAppImage": listed.SerializeToString()}


def _work(method: str, reply: bytes) -> Answer:
    request = codec.METHODS[method].request

    async def answer(raw: bytes) -> bytes:
        request.FromString(raw)
        return reply

    return answer


def _credentials(cert_dir: pathlib.Path | None) -> grpc.ServerCredentials | None:
    if cert_dir is None:
        return None
    reloading = tls.ReloadingContext(certificates.Paths.in_dir(cert_dir), "tls")
    return credentials.Credentials(reloading, mtls=False).server_credentials()


def _bind(server: grpc.Server | grpc.aio.Server, port: int, cert_dir: pathlib.Path | None) -> int:
    found = _credentials(cert_dir)
    address = f"127.0.0.1:{port}"
    return server.add_insecure_port(address) if found is None else server.add_secure_port(address, found)


async def serve_aio(port: int, cert_dir: pathlib.Path | None, options: list[tuple[str, Any]],
                    max_rpcs: int | None) -> None:
    def handler(work: Answer) -> grpc.RpcMethodHandler[bytes, bytes]:
        async def call(raw: bytes, _: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
            return await work(raw)

        return grpc.unary_unary_rpc_method_handler(call)

    server = grpc.aio.server(options=options, maximum_concurrent_rpcs=max_rpcs, handlers=[
        grpc.method_handlers_generic_handler(codec.SERVICE_NAME, {
            method: handler(_work(method, reply)) for method, reply in answers().items()})])
    # grpc_health imports its asyncio servicer under a version check mypy does not follow.
    servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    bound = _bind(server, port, cert_dir)
    await server.start()
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    print(f"listening on {bound}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(1.0)


def serve_threaded(port: int, cert_dir: pathlib.Path | None, options: list[tuple[str, Any]],
                   max_rpcs: int | None, threads: int) -> None:
    loop = uvloop.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    def handler(work: Answer) -> grpc.RpcMethodHandler[bytes, bytes]:
        def call(raw: bytes, _: grpc.ServicerContext) -> bytes:
            return asyncio.run_coroutine_threadsafe(work(raw), loop).result()

        return grpc.unary_unary_rpc_method_handler(call)

    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=threads), options=options,
                         maximum_concurrent_rpcs=max_rpcs, handlers=[
                             grpc.method_handlers_generic_handler(codec.SERVICE_NAME, {
                                 method: handler(_work(method, reply))
                                 for method, reply in answers().items()})])
    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    bound = _bind(server, port, cert_dir)
    server.start()
    print(f"listening on {bound}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop(1.0).wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    parser.add_argument("--cert-dir", type=pathlib.Path, help="TLS with server.crt and server.key of it")
    parser.add_argument("--options", help="grpcio's server options, a JSON object "
                                          "(default: the service's listener's; {}: grpcio's defaults)")
    parser.add_argument("--max-rpcs", type=int, help="maximum_concurrent_rpcs (listener-wide)")
    parser.add_argument("--threaded", type=int, default=0, metavar="N",
                        help="grpcio's threaded server with N threads instead of grpc.aio")
    args = parser.parse_args()
    options = (listener.options(settings.Settings()) if args.options is None
               else list(json.loads(args.options).items()))
    if args.threaded:
        serve_threaded(args.port, args.cert_dir, options, args.max_rpcs, args.threaded)
    else:
        uvloop.run(serve_aio(args.port, args.cert_dir, options, args.max_rpcs))


if __name__ == "__main__":
    main()
