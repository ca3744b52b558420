"""The floor of what any webhook costs the API server: an aiohttp server on the same TLS
that answers every AdmissionReview ``allowed`` at once, reading nothing but the uid.

bench/e2e.py registers it with the same webhook configurations as our service (same
rules, same matchConditions), so the difference between the two is what our handlers
cost, and the difference between it and no webhook is what the API server pays for a
call at all. It also counts what the calls look like on the wire, which is the same
whoever answers: requests, connections (each a TLS handshake; resumed sessions counted
apart) and bytes each way, per path. ``GET /stats`` returns them as JSON.

    python -m bench.floor --port PORT --cert FILE --key FILE
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
from collections import Counter
from pathlib import Path

import orjson
from aiohttp import web

ANSWER = (b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",'
          b'"response":{"uid":"%s","allowed":true}}')


class Figures:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.bytes_in: Counter[str] = Counter()
        self.bytes_out: Counter[str] = Counter()
        self.connections: set[int] = set()
        self.resumed = 0
        self.bodies: dict[str, bytes] = {}
        """The last review of each path, for replaying it to another server."""

    def seen(self, request: web.BaseRequest) -> None:
        transport = request.transport
        key = id(transport)
        if key not in self.connections:
            self.connections.add(key)
            ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
            if ssl_object is not None and ssl_object.session_reused:
                self.resumed += 1


def app(figures: Figures) -> web.Application:
    async def review(request: web.Request) -> web.Response:
        figures.seen(request)
        body = await request.read()
        uid = orjson.loads(body)["request"]["uid"]
        answer = ANSWER % uid.encode()
        figures.requests[request.path] += 1
        figures.bytes_in[request.path] += len(body)
        figures.bytes_out[request.path] += len(answer)
        figures.bodies[request.path] = body
        return web.Response(body=answer, content_type="application/json")

    async def stats(_: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps({
            "requests": figures.requests, "bytes_in": figures.bytes_in, "bytes_out": figures.bytes_out,
            "connections": len(figures.connections), "resumed": figures.resumed}),
            content_type="application/json")

    async def body(request: web.Request) -> web.Response:
        return web.Response(body=figures.bodies.get("/" + request.match_info["path"], b""))

    application = web.Application()
    application.router.add_post("/mutate", review)
    application.router.add_post("/validate", review)
    application.router.add_get("/stats", stats)
    application.router.add_get("/body/{path}", body)
    return application


async def serve(port: int, cert: Path, key: Path) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    runner = web.AppRunner(app(Figures()), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", type=Path, required=True, help="serving certificate (PEM)")
    parser.add_argument("--key", type=Path, required=True, help="its private key (PEM)")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.cert, args.key))


if __name__ == "__main__":
    main()
