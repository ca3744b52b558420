"""The gRPC framework's limit: grpcio's server answering QueryAppImage at once, over TLS.

Run by ``bench/run`` as the baseline of its gRPC rows, as ``bench/bare.py`` is REST's:
``python bench/bare_grpc.py --port PORT --cert-dir DIR [--threaded N]``. The service's
own server in every respect but the work: grpcio's grpc.aio server on uvloop, with the
listener's options (``webhook.rpc.listener.options``) and TLS credentials
(``webhook.rpc.credentials``, following ``server.crt``/``server.key``), and a unary
handler registered as the service's are (bytes in, bytes out) that parses the request
and answers a query answer made once at start. What the service costs beyond this is
its own work: token, metrics, decoding, the operation, the store and the answer.

``--threaded N`` serves the same with grpcio's threaded server (N pool threads) handing
each call to an event loop in another thread and waiting for it, as the service would
have to (its operations and store live in its event loop): the alternative to grpc.aio
that docs/architecture.md weighs, measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import pathlib
import threading

import grpc
import uvloop

from bench import workloads
from webhook import certificates, messages, settings, tls
from webhook.rpc import credentials, listener

METHOD = messages.METHODS["QueryAppImage"]


def answer() -> bytes:
    """A successful query answer of the API document's example, serialized."""
    response = METHOD.response()
    response.status.message = "success"
    response.data.name = workloads.QUERY_NAME
    response.data.image.name = str(workloads.create_body()["image"]["name"])
    response.data.image.tag = str(workloads.create_body()["image"]["tag"])
    return response.SerializeToString()


def _credentials(cert_dir: pathlib.Path) -> grpc.ServerCredentials:
    reloading = tls.ReloadingContext(certificates.Paths.in_dir(cert_dir), "tls")
    return credentials.Credentials(reloading, mtls=False).server_credentials()


def _options() -> list[tuple[str, int]]:
    return listener.options(settings.Settings())


async def serve_aio(port: int, cert_dir: pathlib.Path) -> None:
    reply = answer()

    async def query(raw: bytes, _: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        METHOD.request.FromString(raw)
        return reply

    server = grpc.aio.server(options=_options(), handlers=[grpc.method_handlers_generic_handler(
        messages.SERVICE_NAME, {"QueryAppImage": grpc.unary_unary_rpc_method_handler(query)})])
    server.add_secure_port(f"127.0.0.1:{port}", _credentials(cert_dir))
    await server.start()
    await server.wait_for_termination()


def serve_threaded(port: int, cert_dir: pathlib.Path, threads: int) -> None:
    reply = answer()
    loop = uvloop.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    async def work(raw: bytes) -> bytes:
        METHOD.request.FromString(raw)
        return reply

    def query(raw: bytes, _: grpc.ServicerContext) -> bytes:
        return asyncio.run_coroutine_threadsafe(work(raw), loop).result()

    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=threads), options=_options(),
                         handlers=[grpc.method_handlers_generic_handler(
                             messages.SERVICE_NAME,
                             {"QueryAppImage": grpc.unary_unary_rpc_method_handler(query)})])
    server.add_secure_port(f"127.0.0.1:{port}", _credentials(cert_dir))
    server.start()
    server.wait_for_termination()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert-dir", type=pathlib.Path, required=True,
                        help="directory holding server.crt and server.key")
    parser.add_argument("--threaded", type=int, default=0, metavar="N",
                        help="grpcio's threaded server with N threads instead of grpc.aio")
    args = parser.parse_args()
    if args.threaded:
        serve_threaded(args.port, args.cert_dir, args.threaded)
    else:
        uvloop.run(serve_aio(args.port, args.cert_dir))


if __name__ == "__main__":
    main()
