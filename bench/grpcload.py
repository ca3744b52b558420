"""Closed-loop gRPC load: ``python -m bench.grpcload TARGET METHOD --cafile CA``.

The gRPC counterpart of wrk for bench/run: ``--connections`` calls in flight at all times
on one TLS channel (HTTP/2 multiplexes them), grpcio's asyncio client on uvloop in its
own process (pinned to the client CPU by the caller), every answer checked (gRPC OK and
Kuscia code 0). Prints one JSON object: rps, requests, errors, latency_ms by percentile
(keys as wrk's: "50" ... "99.9", "100"), and the first bad answer. A Python client is
slower than wrk, so compare the server's CPU per request more than req/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import grpc
import uvloop
from google.protobuf import json_format, message

from bench import workloads
from webhook import messages

PERCENTILES = (50, 75, 90, 99, 99.9, 99.99, 100)
METHODS = ("CreateAppImage", "QueryAppImage")


def _request(method: str) -> message.Message:
    """The REST case's body as a message; creates get their name per call."""
    m = messages.METHODS[method]
    if method == "CreateAppImage":
        # Kuscia's proto has no secret_map_ref, REST's alias of secret_ref.
        body = json.loads(json.dumps(workloads.create_body()).replace('"secret_map_ref"', '"secret_ref"'))
    else:
        body = {"name": workloads.QUERY_NAME}
    return json_format.ParseDict(body, m.request())


async def load(target: str, method: str, ca: bytes, seconds: float, connections: int,
               tag: str) -> dict[str, Any]:
    m = messages.METHODS[method]
    template = _request(method)
    latencies: list[float] = []
    errors = 0
    sample = ""
    counter = 0
    async with grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(ca)) as channel:
        call = channel.unary_unary(m.path, request_serializer=m.request.SerializeToString,
                                   response_deserializer=m.response.FromString)
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors, sample, counter
            request = m.request()
            request.CopyFrom(template)
            while time.perf_counter() < deadline:
                counter += 1
                if method == "CreateAppImage":
                    request.name = f"grpc-{tag}-{counter}"
                started = time.perf_counter()
                try:
                    response: Any = await call(request, timeout=30)
                    ok = response.status.code == 0
                    bad = "" if ok else f"code {response.status.code}: {response.status.message[:300]}"
                except grpc.aio.AioRpcError as e:
                    ok, bad = False, f"{e.code().name}: {e.details()}"
                latencies.append(time.perf_counter() - started)
                if not ok:
                    errors += 1
                    sample = sample or bad

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {"rps": len(latencies) / elapsed, "requests": len(latencies), "errors": errors,
            "latency_ms": {f"{p:g}": _percentile(latencies, p) * 1000 for p in PERCENTILES},
            "sample": sample}


def _percentile(ordered: Sequence[float], p: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.grpcload", description=__doc__.splitlines()[0])
    parser.add_argument("target", help="HOST:PORT of the gRPC listener")
    parser.add_argument("method", choices=METHODS)
    parser.add_argument("--cafile", required=True, help="CA of the server's certificate")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32, help="calls in flight")
    parser.add_argument("--tag", default="x", help="makes created names unique per run")
    args = parser.parse_args(argv)
    with open(args.cafile, "rb") as f:
        ca = f.read()
    result = uvloop.run(load(args.target, args.method, ca, args.seconds, args.connections, args.tag))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
