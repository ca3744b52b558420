"""The framework's limit: a bare aiohttp app that echoes a JSON body, over TLS.

Run by ``bench/run`` as the baseline its ratios are measured against:
``python bench/bare.py --port PORT --cert-dir DIR``. One POST handler on ``/`` reads
the body, parses it with orjson and answers it serialized with orjson — the least any
JSON endpoint does. Same aiohttp, same one process, the same event loop as ``serve``
(uvloop) and the same TLS handshake policy as the service's webhook listener (TLS 1.2
floor, no client certificate, ``server.crt`` and ``server.key`` of the given
directory), so what the service costs beyond this is its own work: metrics,
review/request handling, schemas, rules and the store. It is an ordinary aiohttp app
(``web.Application``); the service's listeners route on the low-level ``web.Server``
(webhook/routing.py), which saves this echo ~8 µs of its ~70 µs per request, so the
service's ratios include that saving.
"""

from __future__ import annotations

import argparse
import pathlib
import ssl

import orjson
import uvloop
from aiohttp import web


async def echo(request: web.Request) -> web.Response:
    body = orjson.loads(await request.read())
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def tls_context(cert_dir: pathlib.Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_dir / "server.crt", cert_dir / "server.key")
    return ctx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert-dir", type=pathlib.Path, required=True,
                        help="directory holding server.crt and server.key")
    args = parser.parse_args()
    app = web.Application()
    app.router.add_post("/", echo)
    web.run_app(app, host=args.host, port=args.port, ssl_context=tls_context(args.cert_dir),
                access_log=None, print=None, loop=uvloop.new_event_loop())


if __name__ == "__main__":
    main()
