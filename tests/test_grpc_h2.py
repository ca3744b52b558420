"""The gRPC listener's HTTP/2 (``webhook/grpc/h2.py``) and gRPC framing (``wire.py``)
at the byte level: a raw HTTP/2 client on a plain TCP connection to the listener in
process (cleartext, prior knowledge).

What grpcio's client cannot show (tests/test_grpc.py covers the calls themselves): the
connection preface and SETTINGS, PING, header blocks cut into CONTINUATION frames, the
protocol errors that end a connection with GOAWAY, flow control, the stream limit,
reset and ping floods, the preface and idle timeouts, the answers to requests that are
not gRPC, compressed and oversized messages; and that the HPACK fast path reads what
``hpack`` reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gzip
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import hpack
import pytest
from hpack.hpack import encode_integer
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.test_grpc import BODY_LIMIT, serve_grpc
from webhook import messages
from webhook.grpc import h2, listener, standard, wire
from webhook.grpc.h2 import Error, Frame, Setting
from webhook.proto import appimage_pb2, health_pb2, reflection_pb2
from webhook.store import sqlite

WAIT = 5.0
"""Bound on any one wait for the server; a failure, not a measurement."""
CHECK = f"/{standard.HEALTH}/Check"
REFLECT = f"/{standard.REFLECTION}/ServerReflectionInfo"
SERVING = health_pb2.HealthCheckResponse.SERVING


@dataclasses.dataclass(frozen=True)
class Received:
    kind: int
    flags: int
    stream: int
    payload: bytes


@dataclasses.dataclass
class Answer:
    """What the server sent on one stream up to its end."""

    blocks: list[dict[str, str]] = dataclasses.field(default_factory=list)
    """Header blocks, decoded, in order (headers, then trailers)."""
    data: bytes = b""
    reset: int | None = None
    """The RST_STREAM code, if the server reset the stream."""

    @property
    def last(self) -> dict[str, str]:
        return self.blocks[-1]

    def messages(self) -> list[bytes]:
        """The gRPC messages of the DATA (all uncompressed)."""
        out, data = [], self.data
        while data:
            assert data[0] == 0, "the server sends uncompressed messages"
            size = int.from_bytes(data[1:5], "big")
            assert len(data) >= 5 + size, "a message cut short"
            out.append(data[5:5 + size])
            data = data[5 + size:]
        return out


class Peer:
    """A raw HTTP/2 client connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.server_settings: dict[int, int] = {}
        self._head: bytes | None = None

    @classmethod
    async def connect(cls, port: int, *, preface: bool = True,
                      client_settings: dict[Setting, int] | None = None) -> Peer:
        async with asyncio.timeout(WAIT):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        peer = cls(reader, writer)
        if preface:
            payload = b"".join(int(k).to_bytes(2, "big") + v.to_bytes(4, "big")
                               for k, v in (client_settings or {}).items())
            peer.send(h2.PREFACE + h2.frame(Frame.SETTINGS, 0, 0, payload))
        return peer

    def send(self, *data: bytes) -> None:
        self.writer.write(b"".join(data))

    def block(self, headers: list[tuple[str, str]]) -> bytes:
        return self.encoder.encode(headers)

    def request(self, stream: int, path: str, *, end: bool = False, method: str = "POST",
                content_type: str = "application/grpc", extra: list[tuple[str, str]] | None = None
                ) -> bytes:
        """A HEADERS frame of a gRPC request (END_STREAM with ``end``)."""
        block = self.block([(":method", method), (":scheme", "http"), (":path", path),
                            (":authority", "localhost"), ("content-type", content_type),
                            ("te", "trailers"), *(extra or [])])
        return h2.frame(Frame.HEADERS, h2.END_HEADERS | (h2.END_STREAM if end else 0), stream, block)

    async def frame(self) -> Received:
        """The server's next frame (the values of a SETTINGS frame are noted). A wait
        cut short by the caller's timeout loses nothing: the next call goes on."""
        async with asyncio.timeout(WAIT):
            if self._head is None:
                self._head = await self.reader.readexactly(9)
            high, low, kind, flags, stream = h2._HEAD.unpack(self._head)
            payload = await self.reader.readexactly(high << 8 | low)
            self._head = None
        received = Received(kind, flags, stream & 0x7FFF_FFFF, payload)
        if kind == Frame.SETTINGS and not flags & h2.ACK:
            for at in range(0, len(payload), 6):
                self.server_settings[int.from_bytes(payload[at:at + 2], "big")] = int.from_bytes(
                    payload[at + 2:at + 6], "big")
        return received

    async def next(self, kind: Frame, *, flags: int | None = None) -> Received:
        """The next frame of ``kind`` (with ``flags`` set), skipping others."""
        async with asyncio.timeout(WAIT):
            while True:
                got = await self.frame()
                if got.kind == kind and (flags is None or got.flags & flags == flags):
                    return got

    async def frames_for(self, seconds: float) -> list[Received]:
        """Every frame the server sends in the next ``seconds``."""
        got: list[Received] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while True:
                    got.append(await self.frame())
        return got

    async def goaway(self) -> tuple[int, Error, bytes]:
        """The server's GOAWAY (frames before it are skipped): last stream id, code, debug data."""
        got = await self.next(Frame.GOAWAY)
        assert got.stream == 0
        return (int.from_bytes(got.payload[:4], "big") & 0x7FFF_FFFF,
                Error(int.from_bytes(got.payload[4:8], "big")), got.payload[8:])

    async def closed(self) -> bytes:
        """Everything the server still sends until it closes the connection."""
        async with asyncio.timeout(WAIT):
            return await self.reader.read()

    async def answer(self, stream: int) -> Answer:
        """The server's frames on ``stream`` until it ends (END_STREAM or RST_STREAM);
        other streams' and connection frames are skipped."""
        answer = Answer()
        block, ending = b"", False
        async with asyncio.timeout(WAIT):
            while True:
                got = await self.frame()
                if got.kind == Frame.GOAWAY:
                    raise AssertionError(f"GOAWAY while waiting for stream {stream}: {got.payload!r}")
                if got.stream != stream:
                    continue
                if got.kind == Frame.RST_STREAM:
                    answer.reset = int.from_bytes(got.payload, "big")
                    return answer
                if got.kind == Frame.DATA:
                    answer.data += got.payload
                    if got.flags & h2.END_STREAM:
                        return answer
                    continue
                if got.kind == Frame.HEADERS:
                    block, ending = got.payload, bool(got.flags & h2.END_STREAM)
                elif got.kind == Frame.CONTINUATION:
                    block += got.payload
                if got.flags & h2.END_HEADERS:
                    answer.blocks.append({str(k): str(v) for k, v in self.decoder.decode(block)})
                    if ending:
                        return answer

    async def close(self) -> None:
        self.writer.close()
        try:
            async with asyncio.timeout(WAIT):
                await self.writer.wait_closed()
        except (ConnectionError, TimeoutError):
            pass


Connect = Callable[..., Awaitable["Peer"]]


def grpc_message(payload: bytes, *, compressed: bool = False) -> bytes:
    return bytes([int(compressed)]) + len(payload).to_bytes(4, "big") + payload


def data(stream: int, payload: bytes, *, end: bool = True) -> bytes:
    return h2.frame(Frame.DATA, h2.END_STREAM if end else 0, stream, payload)


def check_request(service: str = "") -> bytes:
    return health_pb2.HealthCheckRequest(service=service).SerializeToString()


@pytest.fixture
async def served(store: sqlite.SQLiteStore) -> AsyncIterator[listener.Listener]:
    server, _ = await serve_grpc(store)
    yield server
    await server.stop(0)


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """A coroutine function: a new ``Peer`` to a port; each is closed at the end."""
    peers: list[Peer] = []

    async def connect(port: int | None, **options: Any) -> Peer:
        assert port is not None
        peers.append(await Peer.connect(port, **options))
        return peers[-1]

    yield connect
    for opened in peers:
        await opened.close()


@pytest.fixture
async def peer(served: listener.Listener, connect: Connect) -> Peer:
    return await connect(served.port)


@contextlib.asynccontextmanager
async def serving(store: sqlite.SQLiteStore, **options: Any) -> AsyncIterator[listener.Listener]:
    server, _ = await serve_grpc(store, **options)
    try:
        yield server
    finally:
        await server.stop(0)


# --- the connection's start ----------------------------------------------------------


async def test_the_servers_first_frame_is_settings_with_max_concurrent_streams(peer):
    first = await peer.frame()
    assert (first.kind, first.flags, first.stream) == (Frame.SETTINGS, 0, 0)
    assert peer.server_settings[Setting.MAX_CONCURRENT_STREAMS] == h2.Limits().max_streams


async def test_the_clients_settings_are_acknowledged(peer):
    ack = await peer.next(Frame.SETTINGS, flags=h2.ACK)
    assert (ack.stream, ack.payload) == (0, b"")


async def test_a_ping_is_answered_with_an_ack_carrying_the_same_eight_bytes(peer):
    peer.send(h2.frame(Frame.PING, 0, 0, b"\x01\x02\x03\x04\x05\x06\x07\x08"))
    pong = await peer.next(Frame.PING)
    assert (pong.flags, pong.stream, pong.payload) == (h2.ACK, 0, b"\x01\x02\x03\x04\x05\x06\x07\x08")


async def test_an_http1_request_gets_a_400_saying_the_port_speaks_grpc_then_close(served, connect):
    peer = await connect(served.port, preface=False)
    peer.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    answer = await peer.closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer[:40]
    assert b"speaks gRPC" in body


# --- protocol errors end the connection ------------------------------------------------


async def test_a_frame_over_16384_bytes_is_a_frame_size_error(peer):
    peer.send(h2.frame(Frame.DATA, 0, 1, b"x" * 16_385))
    _, code, _ = await peer.goaway()
    assert code == Error.FRAME_SIZE_ERROR
    assert await peer.closed() == b""


async def test_a_header_block_interrupted_before_end_headers_is_a_protocol_error(peer):
    block = peer.block([(":method", "POST"), (":path", CHECK)])
    peer.send(h2.frame(Frame.HEADERS, 0, 1, block),
              h2.frame(Frame.PING, 0, 0, b"12345678"))
    _, code, _ = await peer.goaway()
    assert code == Error.PROTOCOL_ERROR
    await peer.closed()


async def test_headers_on_an_even_stream_id_is_a_protocol_error(peer):
    peer.send(peer.request(2, CHECK, end=True))
    _, code, _ = await peer.goaway()
    assert code == Error.PROTOCOL_ERROR


async def test_data_on_stream_0_is_a_protocol_error(peer):
    peer.send(data(0, b"hello"))
    _, code, _ = await peer.goaway()
    assert code == Error.PROTOCOL_ERROR


# --- requests -------------------------------------------------------------------------


async def test_a_header_block_split_over_headers_and_continuation_frames_is_served(peer):
    block = peer.block([(":method", "POST"), (":scheme", "http"), (":path", CHECK),
                        (":authority", "localhost"), ("content-type", "application/grpc"),
                        ("te", "trailers")])
    third = len(block) // 3
    peer.send(h2.frame(Frame.HEADERS, 0, 1, block[:third]),
              h2.frame(Frame.CONTINUATION, 0, 1, block[third:2 * third]),
              h2.frame(Frame.CONTINUATION, h2.END_HEADERS, 1, block[2 * third:]),
              data(1, grpc_message(check_request())))
    answer = await peer.answer(1)
    assert answer.blocks[0][":status"] == "200"
    assert answer.last["grpc-status"] == "0"
    [message] = answer.messages()
    assert health_pb2.HealthCheckResponse.FromString(message).status == SERVING


async def test_a_request_message_cut_into_several_data_frames_is_put_back_together(peer):
    # A string field's last occurrence wins: a long first one makes the message ~30 KB.
    payload = check_request("x" * 30_000) + check_request(messages.SERVICE_NAME)
    message = grpc_message(payload)
    pieces = [message[at:at + 10_000] for at in range(0, len(message), 10_000)]
    peer.send(peer.request(1, CHECK), *(data(1, piece, end=False) for piece in pieces), data(1, b""))
    answer = await peer.answer(1)
    assert answer.last["grpc-status"] == "0"
    [reply] = answer.messages()
    assert health_pb2.HealthCheckResponse.FromString(reply).status == SERVING


async def test_an_unknown_method_gets_a_trailers_only_answer_with_status_12(peer):
    peer.send(peer.request(1, "/no.such.Service/Nothing"), data(1, grpc_message(b"")))
    answer = await peer.answer(1)
    assert len(answer.blocks) == 1, "trailers-only: one header block"
    assert answer.last[":status"] == "200"
    assert answer.last["grpc-status"] == "12"
    assert answer.data == b""


async def test_a_get_request_is_answered_http_405(peer):
    peer.send(peer.request(1, CHECK, method="GET", end=True))
    answer = await peer.answer(1)
    assert answer.blocks[0][":status"] == "405"


async def test_a_content_type_that_is_not_grpc_is_answered_http_415(peer):
    peer.send(peer.request(1, CHECK, content_type="text/plain"), data(1, grpc_message(check_request())))
    answer = await peer.answer(1)
    assert answer.blocks[0][":status"] == "415"


async def test_a_malformed_grpc_timeout_is_status_13(peer):
    peer.send(peer.request(1, CHECK, extra=[("grpc-timeout", "soon")]),
              data(1, grpc_message(check_request())))
    answer = await peer.answer(1)
    assert answer.last["grpc-status"] == "13"
    assert "grpc-timeout" in answer.last["grpc-message"]


@pytest.mark.parametrize(("encoding", "compress"), [("gzip", gzip.compress), ("deflate", zlib.compress)])
async def test_a_compressed_request_message_is_inflated_and_answered(peer, encoding, compress):
    peer.send(peer.request(1, CHECK, extra=[("grpc-encoding", encoding)]),
              data(1, grpc_message(compress(check_request(messages.SERVICE_NAME)), compressed=True)))
    answer = await peer.answer(1)
    assert answer.last["grpc-status"] == "0"
    [message] = answer.messages()
    assert health_pb2.HealthCheckResponse.FromString(message).status == SERVING


async def test_a_compressed_message_with_grpc_encoding_identity_is_status_13(peer):
    peer.send(peer.request(1, CHECK, extra=[("grpc-encoding", "identity")]),
              data(1, grpc_message(gzip.compress(check_request()), compressed=True)))
    answer = await peer.answer(1)
    assert answer.last["grpc-status"] == "13"


async def test_a_message_declared_longer_than_the_limit_is_status_8(peer):
    # Only the 5-byte prefix: the length alone is refused, before any of the body.
    peer.send(peer.request(1, CHECK), data(1, b"\x00" + (BODY_LIMIT + 1).to_bytes(4, "big"), end=False))
    answer = await peer.answer(1)
    assert answer.last["grpc-status"] == "8"


# --- flow control and limits ------------------------------------------------------------


async def test_a_small_initial_window_holds_the_answer_until_a_window_update(served, connect):
    peer = await connect(served.port, client_settings={Setting.INITIAL_WINDOW_SIZE: 100})
    request = reflection_pb2.ServerReflectionRequest(file_by_filename=appimage_pb2.DESCRIPTOR.name)
    peer.send(peer.request(1, REFLECT), data(1, grpc_message(request.SerializeToString())))
    held = b""
    async with asyncio.timeout(WAIT):
        while len(held) < 100:
            got = await peer.frame()
            assert got.kind not in (Frame.GOAWAY, Frame.RST_STREAM), got
            if got.kind == Frame.DATA and got.stream == 1:
                held += got.payload
            assert not (got.stream == 1 and got.flags & h2.END_STREAM), "ended inside the window"
    assert len(held) == 100
    assert [f for f in await peer.frames_for(0.3) if f.stream == 1] == [], "nothing while the window is shut"
    peer.send(h2.frame(Frame.WINDOW_UPDATE, 0, 1, (1 << 20).to_bytes(4, "big")))
    rest = await peer.answer(1)
    answer = dataclasses.replace(rest, data=held + rest.data)
    assert answer.last["grpc-status"] == "0"
    [message] = answer.messages()
    response = reflection_pb2.ServerReflectionResponse.FromString(message)
    assert response.file_descriptor_response.file_descriptor_proto[0] == appimage_pb2.DESCRIPTOR.serialized_pb


async def test_streams_past_max_concurrent_streams_are_refused(peer):
    await peer.next(Frame.SETTINGS)
    limit = peer.server_settings[Setting.MAX_CONCURRENT_STREAMS]
    ids = [1 + 2 * n for n in range(limit + 1)]
    # Open streams (no END_STREAM): each one holds its place (a call in progress: the
    # listener's calls limit, --max-connections, is as high by default).
    peer.send(*(peer.request(stream, CHECK) for stream in ids))
    refused = await peer.next(Frame.RST_STREAM)
    assert refused.stream == ids[-1]
    assert int.from_bytes(refused.payload, "big") == Error.REFUSED_STREAM
    # the streams within the limit are still served
    peer.send(data(ids[0], grpc_message(check_request())))
    answer = await peer.answer(ids[0])
    assert answer.last["grpc-status"] == "0"


async def test_a_burst_of_resets_past_the_budget_is_enhance_your_calm(peer):
    # The "rapid reset" attack: open a stream, cancel it, again and again.
    frames = []
    for n in range(h2._CALM_BUDGET + 200):
        frames += [peer.request(1 + 2 * n, CHECK), h2.frame(Frame.RST_STREAM, 0, 1 + 2 * n,
                                                             int(Error.CANCEL).to_bytes(4, "big"))]
    peer.send(*frames)
    _, code, _ = await peer.goaway()
    assert code == Error.ENHANCE_YOUR_CALM
    await peer.closed()


async def test_a_burst_of_pings_past_the_budget_is_enhance_your_calm(peer):
    count = h2._CALM_BUDGET + 200
    peer.send(*(h2.frame(Frame.PING, 0, 0, n.to_bytes(8, "big")) for n in range(count)))
    acks = 0
    async with asyncio.timeout(WAIT):
        while (got := await peer.frame()).kind != Frame.GOAWAY:
            acks += got.kind == Frame.PING
    assert Error(int.from_bytes(got.payload[4:8], "big")) == Error.ENHANCE_YOUR_CALM
    assert acks < count
    await peer.closed()


async def test_pings_each_after_an_answer_never_exhaust_the_budget(peer):
    # gRPC clients (grpc-go's BDP estimator) ping as answers arrive, thousands a second
    # under load: a ping with an answer since the last one is free.
    for n in range(h2._CALM_BUDGET + 100):
        stream = 1 + 2 * n
        peer.send(peer.request(stream, CHECK), data(stream, grpc_message(check_request())),
                  h2.frame(Frame.PING, 0, 0, n.to_bytes(8, "big")))
        assert (await peer.answer(stream)).last["grpc-status"] == "0"
    assert not [f for f in await peer.frames_for(0.2) if f.kind == Frame.GOAWAY]


async def test_a_reset_of_a_stream_never_opened_is_a_protocol_error(peer):
    peer.send(h2.frame(Frame.RST_STREAM, 0, 7, int(Error.CANCEL).to_bytes(4, "big")))
    _, code, _ = await peer.goaway()
    assert code == Error.PROTOCOL_ERROR


async def test_data_past_the_streams_window_resets_it_with_flow_control_error(connect):
    async def echo(call: wire.Call, raw: bytes) -> bytes:
        return raw

    router = wire.Router({"/t.T/Echo": wire.Method(unary=echo)},
                         wire.Limits(max_message=4096, max_calls=10, body_timeout=WAIT))
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: h2.Connection(router, h2.Limits(window=1000), lambda _: True, lambda _: None), "127.0.0.1", 0)
    try:
        peer = await connect(server.sockets[0].getsockname()[1])
        peer.send(peer.request(1, "/t.T/Echo"), data(1, grpc_message(b"x" * 1200)))
        assert (await peer.answer(1)).reset == Error.FLOW_CONTROL_ERROR
        peer.send(peer.request(3, "/t.T/Echo"), data(3, grpc_message(b"fits")))
        assert (await peer.answer(3)).messages() == [b"fits"], "the connection goes on"
    finally:
        server.close()


async def _until_no_call_in_progress(served: listener.Listener) -> None:
    async with asyncio.timeout(WAIT):
        while served.in_progress:  # noqa: ASYNC110 (a counter has no event to wait on)
            await asyncio.sleep(0.01)


async def test_a_call_reset_in_the_same_read_as_its_request_is_not_left_in_progress(served, peer):
    # The handler's task is cancelled before it first runs: it must still be counted out.
    for stream in (1, 3, 5):
        peer.send(peer.request(stream, CHECK), data(stream, grpc_message(check_request())),
                  h2.frame(Frame.RST_STREAM, 0, stream, int(Error.CANCEL).to_bytes(4, "big")))
    await _until_no_call_in_progress(served)


async def test_a_request_that_never_ends_is_deadline_exceeded_and_frees_its_slot(store, connect):
    async with serving(store, request_timeout=0.2) as served:
        peer = await connect(served.port)
        peer.send(peer.request(1, CHECK))  # and no DATA, no END_STREAM
        answer = await peer.answer(1)
        assert answer.last["grpc-status"] == str(int(wire.Status.DEADLINE_EXCEEDED))
        await _until_no_call_in_progress(served)


async def test_a_zero_window_update_resets_the_stream_and_frees_its_call(served, peer):
    peer.send(peer.request(1, CHECK), h2.frame(Frame.WINDOW_UPDATE, 0, 1, (0).to_bytes(4, "big")))
    assert (await peer.answer(1)).reset == Error.PROTOCOL_ERROR
    await _until_no_call_in_progress(served)


async def test_answers_held_for_a_shut_window_past_the_limit_drop_the_connection(served, connect,
                                                                               monkeypatch):
    monkeypatch.setattr(h2, "PENDING_LIMIT", 64 * 1024)
    peer = await connect(served.port, client_settings={Setting.INITIAL_WINDOW_SIZE: 0})
    request = grpc_message(reflection_pb2.ServerReflectionRequest(
        file_by_filename=appimage_pb2.DESCRIPTOR.name).SerializeToString())
    peer.send(peer.request(1, REFLECT))
    with contextlib.suppress(ConnectionError):  # the server drops it while we write
        for _ in range(40):  # each answer is ~10 KB and none can go out
            peer.send(data(1, request * 5, end=False))
            await peer.writer.drain()
            await asyncio.sleep(0.01)
    with contextlib.suppress(ConnectionError):
        await peer.closed()
    assert peer.reader.at_eof() or peer.writer.is_closing()
    await _until_no_call_in_progress(served)


class _Transport(asyncio.Transport):
    """A transport that keeps what is written; the test pauses and resumes it."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def get_write_buffer_size(self) -> int:
        return 0

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


async def test_data_stops_while_the_transport_is_paused_and_goes_out_on_resume():
    big = b"y" * 300_000

    async def answer(call: wire.Call, raw: bytes) -> bytes:
        return big

    router = wire.Router({"/t.T/Big": wire.Method(unary=answer)},
                         wire.Limits(max_message=4096, max_calls=10, body_timeout=WAIT))
    connection = h2.Connection(router, h2.Limits(), lambda _: True, lambda _: None)
    transport = _Transport()
    connection.connection_made(transport)
    client = Peer(asyncio.StreamReader(), None)  # type: ignore[arg-type]
    window = (1 << 30).to_bytes(4, "big")
    settings_ = int(Setting.INITIAL_WINDOW_SIZE).to_bytes(2, "big") + window
    connection.data_received(h2.PREFACE + h2.frame(Frame.SETTINGS, 0, 0, settings_)
                             + client.request(1, "/t.T/Big") + data(1, grpc_message(b"go"))
                             + h2.frame(Frame.WINDOW_UPDATE, 0, 0, window))
    connection.pause_writing()
    await asyncio.sleep(0.05)  # the handler answers; its DATA must wait
    assert _data_sent(transport.written, 1) == 0
    connection.resume_writing()
    await asyncio.sleep(0.05)
    assert _data_sent(transport.written, 1) == len(grpc_message(big))


def _data_sent(written: bytes | bytearray, stream: int) -> int:
    """Bytes of DATA payload on ``stream`` in ``written`` (frames from a server)."""
    total, at = 0, 0
    while at + 9 <= len(written):
        high, low, kind, _, sid = h2._HEAD.unpack_from(written, at)
        length = high << 8 | low
        if kind == Frame.DATA and sid & 0x7FFF_FFFF == stream:
            total += length
        at += 9 + length
    return total


# --- timeouts ---------------------------------------------------------------------------


async def test_a_connection_without_the_preface_in_time_is_closed(store, connect):
    async with serving(store, handshake_timeout=0.2) as served:
        peer = await connect(served.port, preface=False)
        loop = asyncio.get_running_loop()
        began = loop.time()
        assert await peer.closed() == b"", "no frame to a peer that has not spoken HTTP/2"
        assert loop.time() - began >= 0.15


async def test_an_idle_connection_gets_goaway_no_error_and_is_closed(store, connect):
    async with serving(store, idle_timeout=0.3, handshake_timeout=0.2) as served:
        peer = await connect(served.port)
        loop = asyncio.get_running_loop()
        began = loop.time()
        last, code, _ = await peer.goaway()
        assert (last, code) == (0, Error.NO_ERROR)
        assert loop.time() - began >= 0.25
        assert await peer.closed() == b""


async def test_a_connection_with_a_stream_open_is_not_closed_as_idle(store, connect):
    async with serving(store, idle_timeout=0.3, handshake_timeout=0.2) as served:
        peer = await connect(served.port)
        peer.send(peer.request(1, CHECK))  # open, not ended
        assert [f for f in await peer.frames_for(1.0) if f.kind == Frame.GOAWAY] == []
        peer.send(data(1, grpc_message(check_request())))
        assert (await peer.answer(1)).last["grpc-status"] == "0"


# --- the HPACK fast path ----------------------------------------------------------------

NAMES = st.sampled_from([":method", ":path", ":authority", "content-type", "te", "token",
                         "grpc-timeout", "user-agent", "x-custom"])
VALUES = (st.sampled_from(["POST", "/a/B", "trailers", "application/grpc", "gzip", "1S", ""])
          | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)
          | st.text(max_size=200))
"""Short ASCII values (the fast path's literals), and any text: long, or not ASCII."""


@st.composite
def header_lists(draw: st.DrawFn) -> list[tuple[bool, int | None, list[hpack.HeaderTuple]]]:
    """Blocks to encode in order: Huffman on or off, a table size to set before (None:
    unchanged), the fields (some never indexed). A block mostly repeats an earlier one's
    fields, as a client's next call on the connection does (then they are indexed)."""
    out: list[tuple[bool, int | None, list[hpack.HeaderTuple]]] = []
    for _ in range(draw(st.integers(1, 8))):
        if out and draw(st.integers(0, 2)):
            fields = draw(st.sampled_from(out))[2]
        else:
            fields = []
            for _ in range(draw(st.integers(1, 8))):
                name, value = draw(NAMES), draw(VALUES)
                fields.append(hpack.NeverIndexedHeaderTuple(name, value) if draw(st.booleans())
                              else hpack.HeaderTuple(name, value))
        size = draw(st.sampled_from([None] * 8 + [0, 64, 256, 4096]))
        out.append((draw(st.booleans()), size, fields))
    return out


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(header_lists())
def test_the_hpack_fast_path_reads_what_hpack_reads(blocks):
    encoder, reference = hpack.Encoder(), hpack.Decoder()
    for huffman, size, fields in blocks:
        if size is not None:
            encoder.header_table_size = size
        block = encoder.encode(fields, huffman=huffman)
        # The table as it is before the block, as the connection calls it.
        fast = h2._read_simple(block, reference.header_table.get_by_index, 1 << 20)
        decoded = [(bytes(n), bytes(v)) for n, v in reference.decode(block, raw=True)]
        assert decoded == [(f[0].encode(), f[1].encode()) for f in fields]
        if fast is not None:
            assert fast == decoded


def test_a_repeated_grpc_request_header_block_takes_the_fast_path():
    encoder, decoder = hpack.Encoder(), hpack.Decoder()
    fields = [(":method", "POST"), (":scheme", "http"), (":path", CHECK), (":authority", "localhost"),
              ("content-type", "application/grpc"), ("te", "trailers"),
              hpack.NeverIndexedHeaderTuple("token", "secret-token")]
    decoder.decode(encoder.encode(fields))  # the first call indexes them
    again = encoder.encode(fields, huffman=False)
    assert h2._read_simple(again, decoder.header_table.get_by_index, 1 << 14) == [
        (name.encode(), value.encode()) for name, value in fields]


PRIMED = [(f"x-{n}", str(n)) for n in range(80)]
"""The dynamic table (indexes 62 to 141) of the decoder the hand-made blocks go to:
every one-byte index and some longer ones are in it."""


def primed(limit: int) -> hpack.Decoder:
    decoder = hpack.Decoder()
    decoder.decode(hpack.Encoder().encode(PRIMED, huffman=False))
    decoder.max_header_list_size = limit
    return decoder


@st.composite
def hpack_strings(draw: st.DrawFn) -> bytes:
    """An HPACK string: its length (one byte or more; now and then not its true length)
    and octets, flagged Huffman-coded now and then (then mostly not valid Huffman)."""
    text = draw(st.binary(max_size=140) | st.text(max_size=10).map(str.encode))
    length = max(0, len(text) + draw(st.sampled_from([0, 0, 0, 0, -1, 1, 3])))
    prefix = encode_integer(length, 7)
    if draw(st.integers(0, 5)) == 0:
        prefix[0] |= 0x80
    return bytes(prefix) + text


@st.composite
def hpack_fields(draw: st.DrawFn) -> bytes:
    """One field representation of any kind, well-formed or not."""
    kind = draw(st.sampled_from(["indexed", "literal", "literal", "other"]))
    if kind == "indexed":  # 0x80 (index 0) and 0xFF (an index of 127 and more) too
        first = draw(st.integers(0x80, 0xFF))
        return bytes([first]) + (draw(st.binary(min_size=1, max_size=2)) if first == 0xFF else b"")
    if kind == "literal":  # not indexed or never indexed; name by index or literal
        first = draw(st.sampled_from([0x00, 0x10])) | draw(st.sampled_from([0, 0, 1, 4, 14, 15]))
        name = b"" if first & 0x0F else draw(hpack_strings())
        extra = draw(st.binary(min_size=1, max_size=1)) if first & 0x0F == 0x0F else b""
        return bytes([first]) + extra + name + draw(hpack_strings())
    return draw(st.binary(min_size=1, max_size=4))  # incremental indexing, size update, junk


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.lists(hpack_fields(), max_size=8).map(b"".join), st.integers(32, 600))
# The edges: index 0, an index past one byte, a name or value length past one byte
# (from 127 a length takes more bytes; in these the rest of the block reads as fields if
# the first byte were the length), a value cut short by a byte, a list of exactly the
# limit and one byte over.
@example(b"\x80", 600)
@example(b"\xff\x03", 600)
@example(b"\x00\x7f\x01" + b"n" * 126 + b"\x02b\x00", 600)
@example(b"\x00\x01a\x7f\x01" + b"v" * 126 + b"\x82\x82", 600)
@example(b"\x01\x02a", 600)
@example(b"\x82", 42)
@example(b"\x82", 41)
def test_the_hpack_fast_path_never_reads_a_block_differently_from_hpack(block, limit):
    try:
        fast = h2._read_simple(block, primed(limit).header_table.get_by_index, limit)
    except hpack.HPACKError:
        with pytest.raises(hpack.HPACKError):
            primed(limit).decode(block, raw=True)
        return
    if fast is not None:
        reference = primed(limit).decode(block, raw=True)
        assert fast == [(bytes(n), bytes(v)) for n, v in reference]
