"""gRPC over HTTP/2 (gRPC's PROTOCOL-HTTP2), on ``h2`` streams: the server side.

``Router`` is the ``h2.Application``: it checks a request's headers (POST, a gRPC
content type, a known path, a well-formed ``grpc-timeout``) and the calls in progress
against the limit, then gives the stream to a ``Call``, which splits the body into
length-prefixed messages (inflating gzip or deflate ones, refusing one over the size
limit as RESOURCE_EXHAUSTED), runs the method's handler as a task within the call's
deadline, and answers: headers, messages and a trailer block with ``grpc-status`` (one
header block, "trailers-only", when there is no message). A reset by the client cancels
the handler. Figures go to the method's ``metrics.Endpoint`` under go-grpc-prometheus's
names.

A handler is unary (the one request message in, the answer message out) or streaming
(``Call.receive`` and ``Call.send`` until it returns). It ends a call with another
status by raising ``Abort``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
import time
import urllib.parse
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from webhook import metrics
from webhook.grpc import h2

log = logging.getLogger(__name__)


class Status(enum.IntEnum):
    """gRPC's status codes."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16

    @property
    def go_name(self) -> str:
        """Go's name of the code (go-grpc-prometheus's ``grpc_code`` label)."""
        return _GO_NAMES.get(self) or self.name.title().replace("_", "")


_GO_NAMES = {Status.OK: "OK", Status.CANCELLED: "Canceled"}


class Abort(Exception):
    """End the call with ``status`` and ``message``."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


Unary = Callable[["Call", bytes], Awaitable[bytes]]
Streaming = Callable[["Call"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Method:
    """One method's handler: ``unary`` or ``streaming``."""

    unary: Unary | None = None
    streaming: Streaming | None = None
    figures: metrics.Endpoint | None = None
    """Where the method's calls are counted; None: not counted."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_message: int
    """Bytes of one request message, inflated."""
    max_calls: int
    """Calls in progress on the listener; one more is RESOURCE_EXHAUSTED."""
    body_timeout: float
    """Seconds a unary call's request may take to arrive (its deadline if sooner)."""


_HEADERS = h2.encode_headers([(":status", "200"), ("content-type", "application/grpc"),
                              ("grpc-accept-encoding", "identity,deflate,gzip")])
_OK = h2.encode_headers([("grpc-status", "0")])
_TIMEOUT = re.compile(rb"([0-9]{1,8})([HMSmun])")
_UNITS = {b"H": 3600.0, b"M": 60.0, b"S": 1.0, b"m": 1e-3, b"u": 1e-6, b"n": 1e-9}
_PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")
"""What ``grpc-message`` carries as it is; the rest is percent-encoded (PROTOCOL-HTTP2)."""
_QUEUED_MAX = 64
"""Messages a streaming call may have waiting for its handler."""


def frame_message(payload: bytes) -> bytes:
    """One length-prefixed, uncompressed message."""
    return b"\x00" + len(payload).to_bytes(4, "big") + payload


def _trailers(status: Status, message: str, metadata: list[tuple[str, str]]) -> list[tuple[str, str]]:
    fields = [("grpc-status", str(int(status)))]
    if message:
        fields.append(("grpc-message", urllib.parse.quote(message, safe=_PRINTABLE)))
    return fields + metadata


class Router:
    """The listener's methods by path; an ``h2.Application``."""

    def __init__(self, methods: dict[str, Method], limits: Limits) -> None:
        self._methods = methods
        self._limits = limits
        self.active = 0
        """Calls in progress."""
        self.quiet = asyncio.Event()
        """Set while no call is in progress."""
        self.quiet.set()
        self.tasks: set[asyncio.Task[None]] = set()

    def begin(self, stream: h2.Stream, headers: h2.Headers) -> h2.Receiver:
        fields = dict(headers)
        method = self._methods.get(fields.get(b":path", b"").decode("latin-1"))
        call = Call(self, stream, fields, method)
        if fields.get(b":method") != b"POST":
            return call.refuse(405, "gRPC calls are POST requests")
        content_type = fields.get(b"content-type", b"")
        if not (content_type == b"application/grpc" or content_type.startswith((b"application/grpc+",
                                                                                 b"application/grpc;"))):
            return call.refuse(415, f"content-type {content_type.decode('latin-1')!r} is not gRPC")
        if method is None:
            return call.fail(Status.UNIMPLEMENTED, f"unknown method {call.metadata(':path')}")
        timeout = fields.get(b"grpc-timeout")
        if timeout is not None:
            parsed = _TIMEOUT.fullmatch(timeout)
            if parsed is None:
                return call.fail(Status.INTERNAL, f"malformed grpc-timeout {timeout.decode('latin-1')!r}")
            call.deadline = asyncio.get_running_loop().time() + int(parsed[1]) * _UNITS[parsed[2]]
        if self.active >= self._limits.max_calls:
            return call.fail(Status.RESOURCE_EXHAUSTED, "too many calls in progress; try again later")
        call.start()
        return call


class Call:
    """One call: an ``h2.Receiver`` for its request, and what its handler answers through."""

    __slots__ = ("_began", "_buffer", "_counted", "_final", "_late", "_queue", "_queued", "_router",
                 "_started", "_stream", "_task", "deadline", "fields", "method", "requests", "trailing")

    def __init__(self, router: Router, stream: h2.Stream, fields: dict[bytes, bytes],
                 method: Method | None) -> None:
        self._router = router
        self._stream = stream
        self.fields = fields
        """Request headers by name (the last value of a repeated one)."""
        self.method = method
        self.deadline: float | None = None
        """Event-loop time the client gives up at, from ``grpc-timeout``."""
        self.trailing: list[tuple[str, str]] = []
        """Metadata to send with the status."""
        self.requests: list[bytes] = []
        self._buffer = bytearray()
        self._queue: asyncio.Queue[bytes | None] | None = None
        self._queued = 0
        """Bytes of the messages in ``_queue``."""
        self._late: asyncio.TimerHandle | None = None
        """Fails a unary call whose request has not all arrived in time."""
        self._task: asyncio.Task[None] | None = None
        self._counted = False
        """In the listener's calls in progress (and the method's figures) until settled."""
        self._began = 0.0
        self._final: Status | None = None
        """The status sent, once sent."""
        self._started = False
        """Response headers sent."""

    def metadata(self, key: str) -> str | None:
        """A request metadata value (ASCII keys are lowercase on the wire)."""
        value = self.fields.get(key.encode())
        return None if value is None else value.decode("latin-1")

    # --- the request (h2.Receiver) ---------------------------------------------------

    def data(self, chunk: bytes) -> None:
        # A message in one chunk (the usual case) is read from the chunk; one that comes
        # in pieces collects in _buffer, a bytearray, so it is not copied per piece.
        buffer: bytes | bytearray = chunk
        if self._buffer:
            self._buffer += chunk
            buffer = self._buffer
        limit = self._router._limits.max_message
        at, end = 0, len(buffer)
        while end - at >= 5:
            size = int.from_bytes(buffer[at + 1:at + 5], "big")
            if size > limit:
                self.fail(Status.RESOURCE_EXHAUSTED, f"received message larger than max ({size} vs. {limit})")
                return
            if end - at - 5 < size:
                break
            compressed, payload = buffer[at], bytes(buffer[at + 5:at + 5 + size])
            at += 5 + size
            if compressed > 1:
                self.fail(Status.INTERNAL, f"a message flag of {compressed}: only 0 and 1 exist")
                return
            if compressed:
                try:
                    payload = self._inflate(payload, limit)
                except Abort as e:
                    self.fail(e.status, e.message)
                    return
            if not self._received(payload):
                return
        if buffer is self._buffer:
            del self._buffer[:at]
        elif at < end:
            self._buffer = bytearray(buffer[at:])

    def _inflate(self, payload: bytes, limit: int) -> bytes:
        encoding = self.fields.get(b"grpc-encoding", b"identity")
        if encoding not in (b"gzip", b"deflate"):
            raise Abort(Status.UNIMPLEMENTED if encoding != b"identity" else Status.INTERNAL,
                        f"a compressed message with grpc-encoding {encoding.decode('latin-1')!r}")
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 16 if encoding == b"gzip" else zlib.MAX_WBITS)
        try:
            out = inflater.decompress(payload, limit + 1)
        except zlib.error as e:
            raise Abort(Status.INTERNAL, f"a compressed message that does not inflate: {e}") from None
        if len(out) > limit:
            raise Abort(Status.RESOURCE_EXHAUSTED, f"received message larger than max (over {limit})")
        if not inflater.eof:
            raise Abort(Status.INTERNAL, "a compressed message cut short")
        return out

    def _received(self, message: bytes) -> bool:
        if self._queue is None:
            self.requests.append(message)
            if len(self.requests) > 1:
                self.fail(Status.UNIMPLEMENTED, "a unary method takes one request message")
                return False
            return True
        limit = self._router._limits.max_message
        if self._queue.qsize() >= _QUEUED_MAX or self._queued + len(message) > limit:
            self.fail(Status.RESOURCE_EXHAUSTED,
                      f"more than {_QUEUED_MAX} messages or {limit} bytes waiting to be read")
            return False
        self._queued += len(message)
        self._queue.put_nowait(message)
        return True

    def end(self) -> None:
        if self._stream.closed:
            return
        if self._buffer:
            self.fail(Status.INTERNAL, "the request ended inside a message")
        elif self._queue is not None:
            self._queue.put_nowait(None)
        elif len(self.requests) != 1:
            self.fail(Status.UNIMPLEMENTED, "a unary method takes one request message")
        else:
            self._run()

    def reset(self) -> None:
        if self._task is not None:
            self._task.cancel()  # its end settles the call
        else:
            self._settle(self._interrupted())

    # --- running -------------------------------------------------------------------

    def start(self) -> None:
        """Counted in; a streaming handler starts now, a unary one at the request's end."""
        self._router.active += 1
        self._router.quiet.clear()
        self._counted = True
        self._began = time.perf_counter()
        method = self.method
        if method is not None and method.figures is not None:
            method.figures.in_flight += 1
        if method is not None and method.streaming is not None:
            self._queue = asyncio.Queue()
            self._run()
        else:
            loop = asyncio.get_running_loop()
            due = loop.time() + self._router._limits.body_timeout
            self._late = loop.call_at(min(due, self.deadline or due), self._too_late)

    def _too_late(self) -> None:
        if self._task is None:
            self.fail(Status.DEADLINE_EXCEEDED, "the request did not arrive in time")

    def _run(self) -> None:
        if self.method is None:
            raise RuntimeError("a call without a method does not run")
        if self._late is not None:
            self._late.cancel()
        task = asyncio.get_running_loop().create_task(self._serve(self.method))
        self._task = task
        self._router.tasks.add(task)
        # Not a finally in _serve: a task cancelled before its first step never runs it.
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._router.tasks.discard(task)
        if self._final is None:  # cancelled: no answer was given
            self._stream.reset(h2.Error.CANCEL)
        self._settle(self._final if self._final is not None else self._interrupted())

    async def _serve(self, method: Method) -> None:
        try:
            async with asyncio.timeout_at(self.deadline):
                if method.unary is not None:
                    self._reply(await method.unary(self, self.requests[0]))
                elif method.streaming is not None:
                    await method.streaming(self)
                    self._finish(Status.OK, "")
        except Abort as e:
            self._finish(e.status, e.message)
        except TimeoutError:
            self._finish(Status.DEADLINE_EXCEEDED, "deadline exceeded")
        except Exception:
            log.exception("unexpected error in a gRPC call", extra={"path": self.metadata(":path")})
            self._finish(Status.UNKNOWN, "unexpected server error; see the server log")

    def _interrupted(self) -> Status:
        if self.deadline is not None and asyncio.get_running_loop().time() >= self.deadline:
            return Status.DEADLINE_EXCEEDED
        return Status.CANCELLED

    def _settle(self, status: Status) -> None:
        """Out of the calls in progress, into the figures; once."""
        if not self._counted:
            return
        self._counted = False
        if self._late is not None:
            self._late.cancel()
        self._router.active -= 1
        if not self._router.active:
            self._router.quiet.set()
        figures = self.method.figures if self.method is not None else None
        if figures is not None:
            figures.in_flight -= 1
            figures.observe(time.perf_counter() - self._began)
            figures.count(status.go_name)

    # --- the answer ----------------------------------------------------------------

    async def receive(self) -> bytes | None:
        """A streaming call's next request message; None when the client is done."""
        if self._queue is None:
            raise RuntimeError("only a streaming method receives messages")
        message = await self._queue.get()
        self._queued -= len(message or b"")
        return message

    def send(self, message: bytes) -> None:
        """One answer message (headers first)."""
        headers = None if self._started else _HEADERS
        self._started = True
        self._stream.send(headers, frame_message(message))

    def _reply(self, message: bytes) -> None:
        self._final = Status.OK
        trailers = _OK if not self.trailing else h2.encode_headers(_trailers(Status.OK, "", self.trailing))
        headers = None if self._started else _HEADERS
        self._started = True
        self._stream.send(headers, frame_message(message), trailers)

    def _finish(self, status: Status, message: str) -> None:
        self._final = status
        fields = _trailers(status, message, self.trailing)
        if self._started:
            self._stream.send(None, b"", h2.encode_headers(fields))
        else:
            self._started = True
            self._stream.send_only(_HEADERS + h2.encode_headers(fields))

    def fail(self, status: Status, message: str) -> Call:
        """End the call now with ``status`` (before or instead of its handler)."""
        self._finish(status, message)
        if self._task is not None:
            self._task.cancel()  # its end settles the call
        else:
            self._settle(status)
        return self

    def refuse(self, http_status: int, message: str) -> Call:
        """Not a gRPC request: an HTTP error status."""
        self._stream.send_only(h2.encode_headers([
            (":status", str(http_status)), ("content-type", "text/plain"),
            *_trailers(Status.INTERNAL, message, [])]))
        return self
