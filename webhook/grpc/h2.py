"""HTTP/2 server connections (RFC 9113), as much of the protocol as gRPC uses.

One ``Connection`` is an asyncio protocol on the service's own event loop (uvloop), over
TLS (ALPN ``h2``) or cleartext with prior knowledge. It parses frames, answers SETTINGS
and PING, keeps both directions' flow-control windows, and hands each request stream to
an ``Application``: ``begin`` gets the decoded request headers and returns the
``Receiver`` that gets the stream's data, its end, or its reset. Answers go out through
the ``Stream``: header blocks the application encoded with ``encode_headers`` and DATA,
held back while the peer's window is shut.

Why not a library: the pure-Python ``h2`` state machine costs ~100 µs of CPU a call,
grpc.aio ~160; gRPC's calls need only this much, at ~30 (README, gRPC). Header blocks
are decoded by ``hpack`` (a single-byte indexed field, what a client sends for a header
it sent before, is looked up directly); ours are encoded without the dynamic table.

Limits a peer cannot get past: frame size, header list size and a CONTINUATION run,
concurrent streams (over: REFUSED_STREAM), windows (received data is handed on at once,
so a window reopens as data arrives and what a stream buffers is the application's to
bound), resets and pings (a flood of either ends the connection with ENHANCE_YOUR_CALM),
and output a peer does not read (the connection is dropped past ``OUTPUT_LIMIT`` written
or ``PENDING_LIMIT`` held for its window; DATA stops while the transport is paused).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol, cast

import hpack

log = logging.getLogger(__name__)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_HEAD = struct.Struct(">HBBBL")  # length (24 bits, as 16 + 8), type, flags, stream id
_SETTING = struct.Struct(">HL")
_WINDOW_MAX = 2**31 - 1
_DEFAULT_WINDOW = 65_535
_DEFAULT_FRAME = 16_384
OUTPUT_LIMIT = 16 * 1024 * 1024
"""Bytes written but not yet taken by the peer past which the connection is dropped."""
PENDING_LIMIT = 64 * 1024 * 1024
"""Bytes of answers waiting for the peer's window past which the connection is dropped
(a peer that keeps its window shut and asks on)."""
_BURST = 1024 * 1024
"""DATA bytes moved to the transport in one go; more waits for the next loop iteration,
so that ``pause_writing`` can stop it."""
CLOSE_GRACE = 5.0
"""Seconds a closing connection has to take what was written before it is dropped."""
_CALM_BUDGET = 1_000
"""Resets and pings a peer may send in a burst; ``_CALM_REFILL`` a second come back."""
_CALM_REFILL = 100.0


class Frame(enum.IntEnum):
    DATA = 0
    HEADERS = 1
    PRIORITY = 2
    RST_STREAM = 3
    SETTINGS = 4
    PUSH_PROMISE = 5
    PING = 6
    GOAWAY = 7
    WINDOW_UPDATE = 8
    CONTINUATION = 9


class Error(enum.IntEnum):
    NO_ERROR = 0
    PROTOCOL_ERROR = 1
    INTERNAL_ERROR = 2
    FLOW_CONTROL_ERROR = 3
    STREAM_CLOSED = 5
    FRAME_SIZE_ERROR = 6
    REFUSED_STREAM = 7
    CANCEL = 8
    COMPRESSION_ERROR = 9
    ENHANCE_YOUR_CALM = 11


class Setting(enum.IntEnum):
    HEADER_TABLE_SIZE = 1
    ENABLE_PUSH = 2
    MAX_CONCURRENT_STREAMS = 3
    INITIAL_WINDOW_SIZE = 4
    MAX_FRAME_SIZE = 5
    MAX_HEADER_LIST_SIZE = 6


END_STREAM = ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY = 0x20

Headers = list[tuple[bytes, bytes]]


class ConnectionError_(Exception):
    """The peer broke the protocol: the connection ends with GOAWAY ``code``."""

    def __init__(self, code: Error, reason: str) -> None:
        super().__init__(reason)
        self.code = code


class Receiver(Protocol):
    """What the application does with one request stream's events."""

    def data(self, chunk: bytes) -> None: ...

    def end(self) -> None:
        """The peer sent END_STREAM."""

    def reset(self) -> None:
        """The stream is gone before the answer finished (RST_STREAM from the peer, or
        the connection closed): stop working on it."""


class Application(Protocol):
    def begin(self, stream: Stream, headers: Headers) -> Receiver: ...


@dataclass(frozen=True, slots=True)
class Limits:
    max_streams: int = 100
    """Concurrent streams a connection may have open (SETTINGS_MAX_CONCURRENT_STREAMS):
    RFC 9113's suggested floor, well under the listener's calls in progress, so one
    connection cannot take them all."""
    max_header_list: int = 16_384
    """Decoded size of one request's header list (SETTINGS_MAX_HEADER_LIST_SIZE)."""
    window: int = 1 << 20
    """Receive window of each stream, and (x16, at least the 65,535 default) of the connection."""
    idle_timeout: float = 300.0
    """Seconds without an open stream before the connection is closed (GOAWAY)."""
    preface_timeout: float = 10.0
    """Seconds a new connection has to send the HTTP/2 preface."""


def frame(kind: Frame, flags: int, stream: int, payload: bytes = b"") -> bytes:
    """One frame, header and payload."""
    n = len(payload)
    return _HEAD.pack(n >> 8, n & 0xFF, kind, flags, stream) + payload


def encode_headers(headers: Iterable[tuple[str, str]]) -> bytes:
    """An HPACK block of literal fields that are never indexed (RFC 7541 §6.2.3): no
    dynamic table, so any block can be sent in any order, on any stream, or cached."""
    out = bytearray()
    for name, value in headers:
        out.append(0x10)
        for text in (name.encode(), value.encode()):
            _integer(out, len(text), 7, 0)
            out += text
    return bytes(out)


def _integer(out: bytearray, value: int, bits: int, prefix: int) -> None:
    limit = (1 << bits) - 1
    if value < limit:
        out.append(prefix | value)
        return
    out.append(prefix | limit)
    value -= limit
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)


class Stream:
    """One request stream: what the application answers through."""

    __slots__ = ("_connection", "_pending", "_trailers", "closed", "id", "receiver", "recv_window",
                 "window")

    def __init__(self, connection: Connection, stream_id: int, window: int) -> None:
        self._connection = connection
        self.id = stream_id
        self.window = window
        """What the peer lets us send on this stream."""
        self.recv_window = connection.limits.window
        """What the peer may still send on this stream."""
        self.receiver: Receiver | None = None
        self.closed = False
        """We sent END_STREAM or RST_STREAM: nothing more goes out."""
        self._pending: list[memoryview] = []
        """DATA payloads waiting for the window, in order (views: a large answer is cut
        into frames without copying its rest each time)."""
        self._trailers: bytes | None = None
        """The final header block, waiting behind ``_pending``."""

    def send(self, headers: bytes | None, data: bytes = b"", trailers: bytes | None = None) -> None:
        """Response headers (None: sent before), a DATA payload (b"": none) and the
        trailers that end the stream (None: more to come), in this order, together."""
        if self.closed:
            return
        out: list[bytes] = []
        self._connection.answered = True
        if headers is not None:
            self._connection.header_frames(out, self.id, headers, end=False)
        if data:
            self._pending.append(memoryview(data))
            self._connection.hold(len(data))
        if trailers is not None:
            self._trailers = trailers
        self.flush(out)
        self._connection.write(out)

    def send_only(self, block: bytes) -> None:
        """One header block that ends the stream (gRPC's trailers-only answer)."""
        if self.closed:
            return
        out: list[bytes] = []
        self._connection.answered = True
        self._connection.header_frames(out, self.id, block, end=True)
        self._close(out)
        self._connection.write(out)

    def flush(self, out: list[bytes]) -> None:
        """Move into ``out`` what the windows let through."""
        c = self._connection
        pending = self._pending
        while pending:
            if c.paused:
                return  # resume_writing flushes again
            room = min(self.window, c.send_window, c.peer_frame, c.burst)
            if room <= 0:
                if c.burst <= 0:
                    c.more()
                return
            data = pending[0]
            chunk = data[:room].tobytes()
            if len(data) > room:
                pending[0] = data[room:]
            else:
                pending.pop(0)
            self.window -= len(chunk)
            c.send_window -= len(chunk)
            c.burst -= len(chunk)
            c.held -= len(chunk)
            out.append(frame(Frame.DATA, 0, self.id, chunk))
        if self._trailers is not None:
            c.header_frames(out, self.id, self._trailers, end=True)
            self._trailers = None
            self._close(out)

    @property
    def blocked(self) -> bool:
        """Something waits for the peer's window."""
        return bool(self._pending)

    def reset(self, code: Error) -> None:
        """End the stream now (RST_STREAM ``code``)."""
        if self.closed:
            return
        self._connection.held -= sum(len(view) for view in self._pending)
        self._pending.clear()
        self._trailers = None
        out = [frame(Frame.RST_STREAM, 0, self.id, _code(code))]
        self.closed = True
        self._connection.forget(self, out, reset=False)
        self._connection.write(out)

    def _close(self, out: list[bytes]) -> None:
        self.closed = True
        self._connection.forget(self, out, reset=True)


class Connection(asyncio.Protocol):
    """One client connection."""

    def __init__(self, app: Application, limits: Limits, on_open: Callable[[Connection], bool],
                 on_close: Callable[[Connection], None]) -> None:
        self._app = app
        self.limits = limits
        self._on_open = on_open
        """Called once the connection is made (after its TLS handshake); False: close it."""
        self._on_close = on_close
        self._opened = False
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._preface = False
        self._decoder = hpack.Decoder(max_header_list_size=limits.max_header_list)
        self._table = self._decoder.header_table
        self.streams: dict[int, Stream] = {}
        """Streams the peer or we may still send on."""
        self._receiving: dict[int, Stream] = {}
        """Streams the peer has not ended yet."""
        self._last_id = 0
        self._continuing: tuple[int, int, bytearray] | None = None
        """A header block cut into CONTINUATION frames: stream id, flags, bytes so far."""
        self.send_window = _DEFAULT_WINDOW
        self.peer_frame = _DEFAULT_FRAME
        self._peer_window = _DEFAULT_WINDOW
        self._full_window = max(limits.window * 16, _DEFAULT_WINDOW)
        self._recv_window = self._full_window
        """What the peer may still send on the connection (our WINDOW_UPDATE at the
        preface makes it ``_full_window``)."""
        self.answered = False
        """A stream has sent something since the peer's last PING."""
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self.burst = _BURST
        """DATA bytes that may still go out in this loop iteration."""
        self._more_scheduled = False
        self.held = 0
        """Bytes of answers waiting for the peer's window."""
        self.paused = False
        self._going_away = False
        self._closing = False
        self._calm = float(_CALM_BUDGET)
        self._calm_at = self._loop.time()
        self._timer: asyncio.TimerHandle | None = None
        self._idle_since = self._loop.time()

    # --- asyncio -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._on_open(self):
            transport.close()
            return
        self._opened = True
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._timer = self._loop.call_later(self.limits.preface_timeout, self._check_idle)

    def _server_preface(self) -> None:
        """Our SETTINGS (and the connection window), once the peer's preface is in: an
        HTTP/1 client gets its 400 with no frame before it."""
        settings = b"".join(_SETTING.pack(k, v) for k, v in (
            (Setting.MAX_CONCURRENT_STREAMS, self.limits.max_streams),
            (Setting.INITIAL_WINDOW_SIZE, self.limits.window),
            (Setting.MAX_HEADER_LIST_SIZE, self.limits.max_header_list)))
        grow = self._full_window - _DEFAULT_WINDOW
        self.write([frame(Frame.SETTINGS, 0, 0, settings),
                    *([frame(Frame.WINDOW_UPDATE, 0, 0, grow.to_bytes(4, "big"))] if grow else [])])
        if self._going_away:  # shut down before the peer had spoken
            self._goaway()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._opened:
            return
        if self._timer is not None:
            self._timer.cancel()
        for stream in list(self.streams.values()):
            stream.closed = True
            if stream.receiver is not None:
                stream.receiver.reset()
        self.streams.clear()
        self._receiving.clear()
        self._transport = None
        self._on_close(self)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._flush_streams()
        self.write(())

    def data_received(self, data: bytes) -> None:
        if self._closing or not self._opened:  # after GOAWAY, or refused at the limit
            return
        buffer = self._buffer + data if self._buffer else data
        try:
            if not self._preface:
                if len(buffer) < len(PREFACE):
                    if not PREFACE.startswith(buffer[:len(PREFACE)]):
                        self._not_http2(buffer)
                        return
                    self._buffer = buffer
                    return
                if not buffer.startswith(PREFACE):
                    self._not_http2(buffer)
                    return
                self._preface = True
                self._server_preface()
                buffer = buffer[len(PREFACE):]
            self._buffer = self._frames(buffer)
        except ConnectionError_ as e:
            self._fail(e.code, str(e))
            return
        except hpack.HPACKError as e:
            self._fail(Error.COMPRESSION_ERROR, f"header block: {e}")
            return
        self._flush()

    # --- frames in -----------------------------------------------------------------

    def _frames(self, buffer: bytes) -> bytes:
        """Handle every whole frame in ``buffer``; what is left of it."""
        pos, size = 0, len(buffer)
        handlers = self._HANDLERS
        while size - pos >= 9:
            high, low, kind, flags, stream_id = _HEAD.unpack_from(buffer, pos)
            length = high << 8 | low
            if length > _DEFAULT_FRAME:
                raise ConnectionError_(Error.FRAME_SIZE_ERROR, f"a frame of {length} bytes")
            if size - pos - 9 < length:
                break
            payload = buffer[pos + 9:pos + 9 + length]
            pos += 9 + length
            stream_id &= _WINDOW_MAX
            if self._continuing is not None and kind != Frame.CONTINUATION:
                raise ConnectionError_(Error.PROTOCOL_ERROR, "a header block was interrupted")
            handler = handlers.get(kind)
            if handler is not None:  # unknown frame types are ignored (§5.5)
                handler(self, flags, stream_id, payload)
            if self._transport is None:
                return b""
        return buffer[pos:]

    def _on_data(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id == 0:
            raise ConnectionError_(Error.PROTOCOL_ERROR, "DATA on stream 0")
        length = len(payload)  # padding counts against the windows too
        self._recv_window -= length
        if self._recv_window < 0:
            raise ConnectionError_(Error.FLOW_CONTROL_ERROR, "DATA past the connection's window")
        full = self._full_window
        if self._recv_window <= full // 2:
            self._out.append(frame(Frame.WINDOW_UPDATE, 0, 0, (full - self._recv_window).to_bytes(4, "big")))
            self._recv_window = full
        if flags & PADDED:
            payload = _unpad(payload)
        stream = self._receiving.get(stream_id)
        if stream is None:
            if stream_id > self._last_id:
                raise ConnectionError_(Error.PROTOCOL_ERROR, f"DATA on idle stream {stream_id}")
            return  # a stream we ended or reset: its data still counted above
        stream.recv_window -= length
        if stream.recv_window < 0:
            self._reset(stream, Error.FLOW_CONTROL_ERROR)
            return
        if stream.recv_window <= self.limits.window // 2 and not flags & END_STREAM:
            # data is handed on at once: reopen what was used
            used = self.limits.window - stream.recv_window
            self._out.append(frame(Frame.WINDOW_UPDATE, 0, stream_id, used.to_bytes(4, "big")))
            stream.recv_window = self.limits.window
        receiver = stream.receiver
        if receiver is not None and payload:
            receiver.data(payload)
        if flags & END_STREAM:
            self._ended(stream)

    def _on_headers(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id == 0:
            raise ConnectionError_(Error.PROTOCOL_ERROR, "HEADERS on stream 0")
        if flags & PADDED:
            payload = _unpad(payload)
        if flags & PRIORITY:
            payload = payload[5:]
        if flags & END_HEADERS:
            self._header_block(stream_id, flags, payload)
        else:
            self._continuing = (stream_id, flags, bytearray(payload))

    def _on_continuation(self, flags: int, stream_id: int, payload: bytes) -> None:
        if self._continuing is None or self._continuing[0] != stream_id:
            raise ConnectionError_(Error.PROTOCOL_ERROR, "CONTINUATION without HEADERS")
        _, first_flags, block = self._continuing
        block += payload
        if len(block) > self.limits.max_header_list:
            raise ConnectionError_(Error.ENHANCE_YOUR_CALM, "a header block over the limit")
        if flags & END_HEADERS:
            self._continuing = None
            self._header_block(stream_id, first_flags, bytes(block))

    def _header_block(self, stream_id: int, flags: int, block: bytes) -> None:
        headers = self._decode(block)  # always: the block may change the dynamic table
        open_stream = self._receiving.get(stream_id)
        if open_stream is not None:  # trailers: gRPC clients send none; the end counts
            if not flags & END_STREAM:
                raise ConnectionError_(Error.PROTOCOL_ERROR, "a second header block without END_STREAM")
            self._ended(open_stream)
            return
        if stream_id <= self._last_id or not stream_id & 1:
            if stream_id in self.streams:
                raise ConnectionError_(Error.STREAM_CLOSED, f"HEADERS on half-closed stream {stream_id}")
            raise ConnectionError_(Error.PROTOCOL_ERROR, f"a new stream needs a new odd id, not {stream_id}")
        self._last_id = stream_id
        if self._going_away:
            return  # past GOAWAY: the peer retries elsewhere
        stream = Stream(self, stream_id, self._peer_window)
        if len(self.streams) >= self.limits.max_streams:
            self._out.append(frame(Frame.RST_STREAM, 0, stream_id, _code(Error.REFUSED_STREAM)))
            return
        self.streams[stream_id] = stream
        self._receiving[stream_id] = stream
        stream.receiver = self._app.begin(stream, headers)
        if flags & END_STREAM:
            self._ended(stream)

    def _decode(self, block: bytes) -> Headers:
        """The header list of ``block``. What clients send again and again (fields
        indexed in one byte; literals that are not indexed, short and not Huffman-coded,
        as gRPC clients send a token) is read here; the rest by ``hpack``."""
        fast = _read_simple(block, self._table.get_by_index, self.limits.max_header_list)
        if fast is not None:
            return fast
        return [(bytes(name), bytes(value)) for name, value in self._decoder.decode(block, raw=True)]

    def _on_priority(self, flags: int, stream_id: int, payload: bytes) -> None:
        if len(payload) != 5:
            raise ConnectionError_(Error.FRAME_SIZE_ERROR, "PRIORITY is 5 bytes")

    def _on_rst_stream(self, flags: int, stream_id: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise ConnectionError_(Error.FRAME_SIZE_ERROR, "RST_STREAM is 4 bytes")
        if stream_id == 0:
            raise ConnectionError_(Error.PROTOCOL_ERROR, "RST_STREAM on stream 0")
        if stream_id > self._last_id:
            raise ConnectionError_(Error.PROTOCOL_ERROR, f"RST_STREAM on idle stream {stream_id}")
        stream = self.streams.pop(stream_id, None)
        self._receiving.pop(stream_id, None)
        if stream is not None:  # a reset of an open stream costs (the "rapid reset" attack)
            self._spend_calm()
            stream.closed = True
            if stream.receiver is not None:
                stream.receiver.reset()
            self._closed_any()

    def _on_settings(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id:
            raise ConnectionError_(Error.PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & ACK:
            if payload:
                raise ConnectionError_(Error.FRAME_SIZE_ERROR, "a SETTINGS ACK with a payload")
            return
        if len(payload) % 6:
            raise ConnectionError_(Error.FRAME_SIZE_ERROR, "SETTINGS is 6 bytes a setting")
        self._spend_calm()
        for offset in range(0, len(payload), 6):
            key, value = _SETTING.unpack_from(payload, offset)
            if key == Setting.INITIAL_WINDOW_SIZE:
                if value > _WINDOW_MAX:
                    raise ConnectionError_(Error.FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE over 2^31-1")
                for stream in self.streams.values():
                    stream.window += value - self._peer_window
                self._peer_window = value
            elif key == Setting.MAX_FRAME_SIZE:
                if not _DEFAULT_FRAME <= value <= 16_777_215:
                    raise ConnectionError_(Error.PROTOCOL_ERROR, f"MAX_FRAME_SIZE {value}")
                self.peer_frame = value
            elif key == Setting.ENABLE_PUSH and value > 1:
                raise ConnectionError_(Error.PROTOCOL_ERROR, f"ENABLE_PUSH {value}")
        self._out.append(frame(Frame.SETTINGS, ACK, 0))
        self._flush_streams()

    def _on_push_promise(self, flags: int, stream_id: int, payload: bytes) -> None:
        raise ConnectionError_(Error.PROTOCOL_ERROR, "a client sent PUSH_PROMISE")

    def _on_ping(self, flags: int, stream_id: int, payload: bytes) -> None:
        if len(payload) != 8:
            raise ConnectionError_(Error.FRAME_SIZE_ERROR, "PING is 8 bytes")
        if stream_id:
            raise ConnectionError_(Error.PROTOCOL_ERROR, "PING on a stream")
        if not flags & ACK:
            # A ping after we answered something is free: gRPC clients ping to measure
            # the bandwidth as answers arrive. Only pings with nothing between cost.
            if self.answered:
                self.answered = False
            else:
                self._spend_calm()
            self._out.append(frame(Frame.PING, ACK, 0, payload))

    def _on_goaway(self, flags: int, stream_id: int, payload: bytes) -> None:
        self.shutdown()  # the peer opens nothing more; finish what is open

    def _on_window_update(self, flags: int, stream_id: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise ConnectionError_(Error.FRAME_SIZE_ERROR, "WINDOW_UPDATE is 4 bytes")
        increment = int.from_bytes(payload, "big") & _WINDOW_MAX
        if stream_id == 0:
            if not increment:
                raise ConnectionError_(Error.PROTOCOL_ERROR, "a WINDOW_UPDATE of 0")
            self.send_window += increment
            if self.send_window > _WINDOW_MAX:
                raise ConnectionError_(Error.FLOW_CONTROL_ERROR, "the connection window over 2^31-1")
            self._flush_streams()
            return
        stream = self.streams.get(stream_id)
        if stream is None:
            return
        if not increment or stream.window + increment > _WINDOW_MAX:
            self._spend_calm()  # a reset the peer provokes costs as one it sends
            self._reset(stream, Error.PROTOCOL_ERROR if not increment else Error.FLOW_CONTROL_ERROR)
            return
        stream.window += increment
        if stream.blocked:
            stream.flush(self._out)

    _HANDLERS: ClassVar[dict[int, Callable[[Connection, int, int, bytes], None]]] = {
        Frame.DATA: _on_data, Frame.HEADERS: _on_headers, Frame.PRIORITY: _on_priority,
        Frame.RST_STREAM: _on_rst_stream, Frame.SETTINGS: _on_settings,
        Frame.PUSH_PROMISE: _on_push_promise, Frame.PING: _on_ping, Frame.GOAWAY: _on_goaway,
        Frame.WINDOW_UPDATE: _on_window_update, Frame.CONTINUATION: _on_continuation,
    }

    # --- streams -------------------------------------------------------------------

    def _reset(self, stream: Stream, code: Error) -> None:
        """A stream error: reset it, and its receiver stops."""
        stream.reset(code)
        if stream.receiver is not None:
            stream.receiver.reset()

    def hold(self, size: int) -> None:
        """``size`` more bytes of answers wait for the peer's window."""
        self.held += size
        if self.held > PENDING_LIMIT and self._transport is not None:
            log.info("gRPC connection dropped: over %d bytes of answers wait for its window", PENDING_LIMIT)
            self._transport.abort()

    def more(self) -> None:
        """Move more DATA in the next loop iteration (this one's burst is spent)."""
        if not self._more_scheduled:
            self._more_scheduled = True
            self._loop.call_soon(self._continue)

    def _continue(self) -> None:
        self._more_scheduled = False
        self._flush_streams()
        self.write(())

    def _ended(self, stream: Stream) -> None:
        if self._receiving.pop(stream.id, None) is not None and stream.receiver is not None:
            stream.receiver.end()

    def forget(self, stream: Stream, out: list[bytes], *, reset: bool) -> None:
        """``stream`` has sent its end (into ``out``): forget it. With ``reset``, a
        request the peer is still sending is reset (NO_ERROR) so that it stops."""
        self.streams.pop(stream.id, None)
        if self._receiving.pop(stream.id, None) is not None and reset:
            out.append(frame(Frame.RST_STREAM, 0, stream.id, _code(Error.NO_ERROR)))
        self._closed_any()

    def _closed_any(self) -> None:
        if not self.streams:
            self._idle_since = self._loop.time()
            if self._going_away:
                self._close_soon()

    def header_frames(self, out: list[bytes], stream_id: int, block: bytes, *, end: bool) -> None:
        """``block`` as HEADERS (and CONTINUATION frames past the peer's frame size)."""
        limit = self.peer_frame
        end_flag = END_STREAM if end else 0
        if len(block) <= limit:
            out.append(frame(Frame.HEADERS, END_HEADERS | end_flag, stream_id, block))
            return
        out.append(frame(Frame.HEADERS, end_flag, stream_id, block[:limit]))
        for start in range(limit, len(block), limit):
            last = start + limit >= len(block)
            out.append(frame(Frame.CONTINUATION, END_HEADERS if last else 0, stream_id,
                             block[start:start + limit]))

    def _flush_streams(self) -> None:
        if self.paused:
            return
        for stream in list(self.streams.values()):
            if stream.blocked and self.send_window > 0:
                stream.flush(self._out)

    # --- frames out ----------------------------------------------------------------

    def write(self, frames: Sequence[bytes]) -> None:
        """Queue ``frames``; they go out together at the end of this loop iteration."""
        self._out.extend(frames)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        self.burst = _BURST
        transport = self._transport
        if transport is None:
            self._out.clear()
            return
        if self._out:
            data = b"".join(self._out)
            self._out.clear()
            transport.write(data)
            if transport.get_write_buffer_size() > OUTPUT_LIMIT:
                log.info("gRPC connection dropped: the peer does not read its answers")
                transport.abort()
                return
        if self._closing:
            transport.close()  # after what is written has gone out

    def _spend_calm(self) -> None:
        now = self._loop.time()
        self._calm = min(_CALM_BUDGET, self._calm + (now - self._calm_at) * _CALM_REFILL) - 1
        self._calm_at = now
        if self._calm < 0:
            raise ConnectionError_(Error.ENHANCE_YOUR_CALM, "too many resets, pings or settings")

    # --- the connection's end ------------------------------------------------------

    def shutdown(self) -> None:
        """GOAWAY: no new streams; the open ones finish, then the connection closes.
        Before the peer's preface, the GOAWAY follows our SETTINGS when it comes."""
        if self._going_away:
            return
        self._going_away = True
        if self._transport is not None and self._preface:
            self._goaway()

    def _goaway(self) -> None:
        self.write([frame(Frame.GOAWAY, 0, 0, self._last_id.to_bytes(4, "big") + _code(Error.NO_ERROR))])
        if not self.streams:
            self._close_soon()

    def abort(self) -> None:
        """Drop the connection now; open streams are reset."""
        if self._transport is not None:
            self._transport.abort()

    def _close_soon(self) -> None:
        """Close once what is queued now (and in this loop iteration) is written; drop
        the connection if the peer has not taken it within ``CLOSE_GRACE``."""
        if self._closing:
            return
        self._closing = True
        self.write(())
        self._loop.call_later(CLOSE_GRACE, self.abort)

    def _fail(self, code: Error, reason: str) -> None:
        log.info("gRPC connection closed: %s (%s)", reason, code.name)
        self._buffer = b""
        self._out.append(frame(Frame.GOAWAY, 0, 0, self._last_id.to_bytes(4, "big")
                               + _code(code) + reason.encode()[:256]))
        self._going_away = True
        self._close_soon()

    def _not_http2(self, data: bytes) -> None:
        if self._transport is None:
            return
        if data[:1].isalpha():  # an HTTP/1 request line
            body = b"this port speaks gRPC (HTTP/2); use a gRPC client\n"
            self._transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                                  b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        self._transport.close()

    def _check_idle(self) -> None:
        """Close a connection that sent no preface in time, or had no stream for the
        idle timeout; checked again at the next point either could pass."""
        if self._transport is None:
            return
        if not self._preface:
            log.info("gRPC connection closed: no HTTP/2 preface in %g s", self.limits.preface_timeout)
            self._transport.close()
            return
        now = self._loop.time()
        if not self.streams and now - self._idle_since >= self.limits.idle_timeout:
            self.shutdown()
            return
        wait = self.limits.idle_timeout - (now - self._idle_since if not self.streams else 0)
        self._timer = self._loop.call_later(max(wait, 0.01), self._check_idle)


def _read_simple(block: bytes, indexed: Callable[[int], tuple[bytes, bytes]], limit: int) -> Headers | None:
    """``block``'s fields if each is one-byte indexed or a literal not indexed whose
    name index and lengths fit their first byte and that is not Huffman-coded; else None
    (``hpack`` decodes it: nothing here changes the dynamic table). Over ``limit``
    (RFC 7541 §4.1 sizes): ``hpack``'s own error."""
    out: Headers = []
    size = 0
    at, end = 0, len(block)
    while at < end:
        first = block[at]
        if first & 0x80:  # indexed
            if first in (0x80, 0xFF):
                return None
            field = indexed(first & 0x7F)
            at += 1
        elif first < 0x20 and first & 0x0F != 0x0F:  # literal, not (or never) indexed
            at += 1
            if first & 0x0F:
                name = indexed(first & 0x0F)[0]
            else:
                if at >= end or block[at] >= 0x7F:  # Huffman-coded or long
                    return None
                name, at = block[at + 1:at + 1 + block[at]], at + 1 + block[at]
            if at >= end or block[at] >= 0x7F:
                return None
            field, at = (name, block[at + 1:at + 1 + block[at]]), at + 1 + block[at]
            if at > end:
                return None
        else:  # indexed into the table, or a table size update
            return None
        size += len(field[0]) + len(field[1]) + 32
        if size > limit:
            raise hpack.OversizedHeaderListError(f"a header list over {limit} bytes")
        out.append(field)
    return out


def _code(error: Error) -> bytes:
    return int(error).to_bytes(4, "big")


def _unpad(payload: bytes) -> bytes:
    if not payload or payload[0] >= len(payload):
        raise ConnectionError_(Error.PROTOCOL_ERROR, "padding longer than the frame")
    return payload[1:len(payload) - payload[0]]
