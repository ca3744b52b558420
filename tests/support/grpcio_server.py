"""A bare grpcio server, as the service will run it, for measuring options under floods.

Rule: nothing but what the options act on. It serves ``grpc.health.v1.Health`` from
grpcio-health-checking and a ListAppImage that answers an empty message at once (the
service's real one reads SQLite; the floods do not depend on what a call does), with
the given server options (channel args, JSON), either on grpc.aio in a uvloop event
loop, as the service will, or on grpcio's threaded server with a pool of N threads::

    python -m tests.support.grpcio_server --options '{"grpc.max_concurrent_streams": 100}'
    python -m tests.support.grpcio_server --sync-pool 10
    python -m tests.support.grpcio_server --max-rpcs 100 --cert-dir DIR   # TLS

It prints ``listening on PORT`` once serving and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import signal
import sys
import threading
from concurrent import futures
from typing import Any

import grpc
import uvloop
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from tests.support.floods import LIST_APP_IMAGE

SERVICE, METHOD = LIST_APP_IMAGE.decode().strip("/").split("/")


def _credentials(cert_dir: pathlib.Path | None) -> grpc.ServerCredentials | None:
    if cert_dir is None:
        return None
    pair = ((cert_dir / "server.key").read_bytes(), (cert_dir / "server.crt").read_bytes())
    return grpc.ssl_server_credentials([pair])


def _bind(server: grpc.Server | grpc.aio.Server, cert_dir: pathlib.Path | None) -> int:
    credentials = _credentials(cert_dir)
    if credentials is None:
        return server.add_insecure_port("127.0.0.1:0")
    return server.add_secure_port("127.0.0.1:0", credentials)


async def _serve_aio(options: list[tuple[str, Any]], max_rpcs: int | None,
                     cert_dir: pathlib.Path | None) -> None:
    async def list_app_image(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        return b""

    server = grpc.aio.server(options=options, maximum_concurrent_rpcs=max_rpcs)
    servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]  # stubs lack .aio
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
        SERVICE, {METHOD: grpc.unary_unary_rpc_method_handler(list_app_image)})])
    port = _bind(server, cert_dir)
    await server.start()
    print(f"listening on {port}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(1.0)


def _serve_sync(options: list[tuple[str, Any]], pool: int, max_rpcs: int | None,
                cert_dir: pathlib.Path | None) -> None:
    def list_app_image(request: bytes, context: grpc.ServicerContext) -> bytes:
        return b""

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=pool), options=options,
                         maximum_concurrent_rpcs=max_rpcs)
    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
        SERVICE, {METHOD: grpc.unary_unary_rpc_method_handler(list_app_image)})])
    port = _bind(server, cert_dir)
    server.start()
    print(f"listening on {port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop(1.0).wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--options", default="{}", help="server channel args, a JSON object")
    parser.add_argument("--max-rpcs", type=int, help="maximum_concurrent_rpcs (listener-wide)")
    parser.add_argument("--sync-pool", type=int, help="grpcio's threaded server with this many threads")
    parser.add_argument("--cert-dir", type=pathlib.Path, help="TLS with server.crt/server.key from here")
    args = parser.parse_args(argv)
    options = list(json.loads(args.options).items())
    if args.sync_pool:
        _serve_sync(options, args.sync_pool, args.max_rpcs, args.cert_dir)
    else:
        uvloop.run(_serve_aio(options, args.max_rpcs, args.cert_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
