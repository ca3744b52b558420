"""HTTP/1.1 floods against the REST listener, and its victim: another client of the API.

Rule: as for the gRPC floods (tests/support/floods.py), every flood is bounded in
seconds and connections and goes to loopback only; what a test pins is that another
client is still answered, never how fast. The floods hold many connections the server
must keep reading from: headers trickled a byte at a time, requests pipelined by the
thousand and never read, and connections that finish their TLS handshake and send
nothing. They run in a thread with their own event loop (``Flood``); the victim is a
kept-alive ``http.client`` connection that reconnects when the server closes it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import http.client
import json
import ssl
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

from tests.support.victim import Outcome

LIST = "/api/v1/appimage/list"
DEADLINE = 2.0
TRICKLERS = 200
PIPELINERS = 8
PIPELINED = 5000
"""Requests each pipelining connection writes, none of whose answers it reads."""
IDLERS = 500


def _request(token: str) -> bytes:
    body = b"{}"
    return (f"POST {LIST} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Token: {token}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


OPENED: collections.Counter[str] = collections.Counter()
"""Connections each flood got to open (its thread's loop is the only writer): a test
checks the flood happened before trusting that the victim got through it."""


async def _connect(host: str, port: int, tls: ssl.SSLContext | None, flood: str
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    async with asyncio.timeout(10):
        opened = await asyncio.open_connection(host, port, ssl=tls,
                                               server_hostname="localhost" if tls else None)
    OPENED[flood] += 1
    return opened


async def slow_headers(host: str, port: int, tls: ssl.SSLContext | None, token: str) -> None:
    """200 connections, each trickling its request's headers a byte every 0.2 s."""
    async def one() -> None:
        with contextlib.suppress(OSError, TimeoutError):
            _, writer = await _connect(host, port, tls, "slow-headers")
            try:
                for byte in _request(token)[:-4]:  # never the blank line that ends the headers
                    writer.write(bytes((byte,)))
                    await writer.drain()
                    await asyncio.sleep(0.2)
            finally:
                writer.transport.abort()
    await _gather(TRICKLERS, one)


async def pipelining(host: str, port: int, tls: ssl.SSLContext | None, token: str) -> None:
    """8 connections, each writing 5000 requests at once and reading no answer."""
    async def one() -> None:
        with contextlib.suppress(OSError, TimeoutError):
            _, writer = await _connect(host, port, tls, "pipelining")
            try:
                writer.write(_request(token) * PIPELINED)
                await writer.drain()
                await asyncio.Event().wait()
            finally:
                writer.transport.abort()
    await _gather(PIPELINERS, one)


async def idle(host: str, port: int, tls: ssl.SSLContext | None, token: str) -> None:
    """500 connections that finish the TLS handshake and send nothing."""
    gate = asyncio.Semaphore(50)
    writers: list[asyncio.StreamWriter] = []

    async def one() -> None:
        async with gate:
            with contextlib.suppress(OSError, TimeoutError):
                writers.append((await _connect(host, port, tls, "idle-connections"))[1])
    try:
        await _gather(IDLERS, one)
        await asyncio.Event().wait()
    finally:
        for writer in writers:
            writer.transport.abort()


async def _gather(count: int, make: Callable[[], Coroutine[Any, Any, None]]) -> None:
    async with asyncio.TaskGroup() as group:
        for _ in range(count):
            group.create_task(make())


FLOODS = {"slow-headers": slow_headers, "pipelining": pipelining, "idle-connections": idle}
PLANNED = {"slow-headers": TRICKLERS, "pipelining": PIPELINERS, "idle-connections": IDLERS}


class Flood:
    """One flood in a thread of its own, for ``seconds``."""

    def __init__(self, name: str, host: str, port: int, tls: ssl.SSLContext | None, token: str,
                 seconds: float) -> None:
        async def bounded() -> None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await FLOODS[name](host, port, tls, token)
        self._thread = threading.Thread(target=asyncio.run, args=(bounded(),), name=name, daemon=True)

    def __enter__(self) -> Flood:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join()


class RestVictim:
    """POST /api/v1/appimage/list with the token, on a kept-alive connection."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None, token: str) -> None:
        self._address = (host, port)
        self._tls = tls
        self._token = token
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            host, port = self._address
            self._conn = (
                http.client.HTTPSConnection(host, port, timeout=DEADLINE, context=self._tls)
                if self._tls is not None else http.client.HTTPConnection(host, port, timeout=DEADLINE))
        return self._conn

    def call(self, outcome: Outcome) -> None:
        begun = time.monotonic()
        outcome.calls += 1
        try:
            conn = self._connection()
            conn.request("POST", LIST, body=b"{}", headers={"Token": self._token,
                                                             "Content-Type": "application/json"})
            answer = conn.getresponse()
            body = answer.read()
        except (OSError, http.client.HTTPException) as e:
            outcome.failures[type(e).__name__] += 1
            self.close()
            return
        if answer.status != 200 or json.loads(body)["status"]["code"] != 0:
            outcome.failures[f"HTTP {answer.status}"] += 1
            return
        outcome.ok += 1
        outcome.latencies.append(time.monotonic() - begun)

    def calls_until(self, until: float) -> Outcome:
        """Call in turn until ``until`` (time.monotonic()), none started with less than
        a deadline left."""
        outcome = Outcome()
        while until - time.monotonic() > DEADLINE:
            self.call(outcome)
            time.sleep(0.01)
        return outcome

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
