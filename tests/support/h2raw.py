"""A raw HTTP/2 client connection for flood drivers: frames as an attacker writes them.

Rule: nothing here behaves well on the caller's behalf. A ``RawConnection`` sends the
client preface and whatever frames it is given (built with ``hyperframe``, header blocks
with ``hpack``), in the order given, and never waits for the server between them. What
it does for the caller is the least any peer must do to stay connected: a reader
(optional: a zero-window flood never reads) that acknowledges the server's SETTINGS and
PINGs and counts what the server answers (GOAWAY, RST_STREAM, ended streams), so a
flood can say how the server pushed back. Plaintext is h2c with prior knowledge; TLS
offers ALPN ``h2`` only and fails if the server picks anything else.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
import struct

import hpack
from hyperframe import frame as hf

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_FRAME = 16384
"""The largest frame payload a server must accept (SETTINGS_MAX_FRAME_SIZE's default)."""
CONNECT_TIMEOUT = 10.0


@dataclasses.dataclass(frozen=True)
class Target:
    """Where a flood goes: loopback only, plaintext or TLS (with ALPN h2)."""

    host: str
    port: int
    tls: ssl.SSLContext | None = None
    token: str | None = None
    """Sent as the ``token`` metadata of calls that need it (AppImageService)."""

    def __post_init__(self) -> None:
        if not (self.host.startswith("127.") or self.host in ("localhost", "::1")):
            raise ValueError(f"floods go to loopback only, not {self.host!r}")

    @property
    def scheme(self) -> bytes:
        return b"https" if self.tls is not None else b"http"

    @property
    def authority(self) -> bytes:
        return f"{self.host}:{self.port}".encode()


@dataclasses.dataclass
class Tally:
    """What the server did to one flood, summed over its connections."""

    connections: int = 0
    frames_sent: int = 0
    goaways: int = 0
    resets_received: int = 0
    streams_ended: int = 0
    closed_by_server: int = 0
    connect_errors: int = 0

    def line(self) -> str:
        return " ".join(f"{k}={v}" for k, v in dataclasses.asdict(self).items())


def grpc_message(payload: bytes) -> bytes:
    """One length-prefixed, uncompressed gRPC message."""
    return b"\x00" + struct.pack(">I", len(payload)) + payload


def split_block(stream_id: int, block: bytes, *, end_stream: bool,
                end_headers: bool = True) -> list[hf.Frame]:
    """A header block as HEADERS plus CONTINUATION frames of at most ``MAX_FRAME`` bytes."""
    chunks = [block[i:i + MAX_FRAME] for i in range(0, len(block), MAX_FRAME)] or [b""]
    first = hf.HeadersFrame(stream_id, chunks[0])
    frames: list[hf.Frame] = [first]
    if end_stream:
        first.flags.add("END_STREAM")
    for chunk in chunks[1:]:
        frames.append(hf.ContinuationFrame(stream_id, chunk))
    if end_headers:
        frames[-1].flags.add("END_HEADERS")
    return frames


class RawConnection:
    """One client connection speaking raw frames; see the module docstring."""

    def __init__(self, target: Target, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 tally: Tally) -> None:
        self.target = target
        self.tally = tally
        self.encoder = hpack.Encoder()
        self.next_stream_id = 1
        self.closed = asyncio.Event()
        """Set once the server closed the connection (or sent GOAWAY) or a write failed."""
        self.ended: asyncio.Queue[int] = asyncio.Queue()
        """Stream ids the server reset or ended, for floods that keep a count of streams
        open; 0 once the connection is closed."""
        self._reader = reader
        self._writer = writer
        self._task: asyncio.Task[None] | None = None
        self._steady: dict[tuple[bytes, bool], bytes] = {}

    @classmethod
    async def open(cls, target: Target, tally: Tally, *, settings: dict[int, int] | None = None,
                   read: bool = True) -> RawConnection:
        """Connect, send the preface and our SETTINGS; start the reader unless ``read`` is False."""
        # asyncio.timeout, not wait_for: 3.11's wait_for loses a cancellation that comes as
        # the connection completes, and a flood reconnecting often would outlive its time.
        async with asyncio.timeout(CONNECT_TIMEOUT):
            reader, writer = await asyncio.open_connection(
                target.host, target.port, ssl=target.tls,
                server_hostname="localhost" if target.tls else None, limit=1 << 20)
        if target.tls is not None:
            chosen = writer.get_extra_info("ssl_object").selected_alpn_protocol()
            if chosen != "h2":
                writer.close()
                raise ConnectionError(f"the server chose ALPN {chosen!r}, not h2")
        conn = cls(target, reader, writer, tally)
        tally.connections += 1
        settings_frame = hf.SettingsFrame(0, settings or {})
        writer.write(PREFACE + settings_frame.serialize())
        if read:
            conn._task = asyncio.create_task(conn._read())
        return conn

    # --- writing -----------------------------------------------------------------

    def send(self, frames: list[hf.Frame]) -> None:
        """Queue frames for the socket (no wait: ``drain`` applies the back-pressure)."""
        if self.closed.is_set():
            raise ConnectionResetError("the connection is closed")
        self._writer.write(b"".join(f.serialize() for f in frames))
        self.tally.frames_sent += len(frames)

    def send_bytes(self, data: bytes, frames: int) -> None:
        """Queue frames serialized in advance (the hot loops of a flood)."""
        if self.closed.is_set():
            raise ConnectionResetError("the connection is closed")
        self._writer.write(data)
        self.tally.frames_sent += frames

    async def drain(self) -> None:
        try:
            await self._writer.drain()
        except (ConnectionError, OSError):
            self._mark_closed()
            raise ConnectionResetError("the server closed the connection") from None
        # drain() returns at once below the high-water mark: yield anyway, or a flood that
        # the server keeps up with never lets the reader (nor the time limit) run.
        await asyncio.sleep(0)

    def new_stream(self) -> int:
        stream_id = self.next_stream_id
        self.next_stream_id += 2
        return stream_id

    def request_block(self, path: bytes, *, token: bool = False,
                      extra: list[tuple[bytes, bytes]] | None = None) -> bytes:
        """The HPACK header block of a gRPC call to ``path``. This connection's encoder
        made it: blocks must be sent in the order they were made, each exactly once."""
        return bytes(self.encoder.encode(self._headers(path, token) + (extra or []), huffman=False))

    def call_block(self, path: bytes, *, token: bool = False) -> bytes:
        """The header block of a plain call to ``path``, for floods that send thousands:
        the first one adds the headers to the server's table, every later one is the
        same few bytes of indexes into it. Valid while nothing else on this connection
        is encoded with indexing (``request_block`` with ``extra`` may evict entries)."""
        key = (path, token)
        cached = self._steady.get(key)
        if cached is not None:
            return cached
        first = self.request_block(path, token=token)
        self._steady[key] = bytes(self.encoder.encode(self._headers(path, token), huffman=False))
        return first

    def _headers(self, path: bytes, token: bool) -> list[tuple[bytes, bytes]]:
        headers: list[tuple[bytes, bytes]] = [
            (b":method", b"POST"), (b":scheme", self.target.scheme), (b":path", path),
            (b":authority", self.target.authority), (b"content-type", b"application/grpc"),
            (b"te", b"trailers")]
        if token and self.target.token is not None:
            headers.append((b"token", self.target.token.encode()))
        return headers

    # --- reading -----------------------------------------------------------------

    async def _read(self) -> None:
        buffer = bytearray()
        try:
            while True:
                data = await self._reader.read(65536)
                if not data:
                    self.tally.closed_by_server += 1
                    break
                buffer += data
                answers = self._frames(buffer)
                if answers:
                    self._writer.write(answers)
        except (ConnectionError, OSError):
            self.tally.closed_by_server += 1
        finally:
            self._mark_closed()

    def _frames(self, buffer: bytearray) -> bytes:
        """Consume the whole frames in ``buffer``; the acknowledgements they ask for."""
        answers = bytearray()
        while len(buffer) >= 9:
            length = int.from_bytes(buffer[0:3], "big")
            if len(buffer) < 9 + length:
                break
            kind, flags = buffer[3], buffer[4]
            stream_id = int.from_bytes(buffer[5:9], "big") & 0x7FFFFFFF
            payload = bytes(buffer[9:9 + length])
            del buffer[:9 + length]
            if kind == 0x4 and not flags & 0x1:  # SETTINGS, not an ACK
                answers += hf.SettingsFrame(0, flags=["ACK"]).serialize()
            elif kind == 0x6 and not flags & 0x1:  # PING, not an ACK
                answers += hf.PingFrame(0, payload, flags=["ACK"]).serialize()
            elif kind == 0x7:  # GOAWAY: no new stream will be served here, so reconnect
                self.tally.goaways += 1
                self._mark_closed()
            elif kind == 0x3:  # RST_STREAM
                self.tally.resets_received += 1
                self.ended.put_nowait(stream_id)
            elif kind in (0x0, 0x1) and flags & 0x1 and stream_id:  # DATA/HEADERS with END_STREAM
                self.tally.streams_ended += 1
                self.ended.put_nowait(stream_id)
        return bytes(answers)

    # --- closing -----------------------------------------------------------------

    def _mark_closed(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            self.ended.put_nowait(0)  # wakes a flood waiting for ended streams: none will come

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            # wait() neither raises the reader's end nor swallows a cancellation of ours
            # (suppressing CancelledError here would outlive the flood's time limit).
            await asyncio.wait([self._task])
        self._writer.transport.abort()  # no graceful TLS close: a flood leaves abruptly
        self._mark_closed()
