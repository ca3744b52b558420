"""The gRPC AppImageService in process, on 127.0.0.1, against the REST API's answers.

Both front ends run the same operations, so the API document's examples (and the
errors around them) must get the same answers over REST (JSON) and over gRPC: one
table, both front ends, one expectation per step. Then what only gRPC has: the token
as metadata, warnings as trailing metadata, limits, deadlines and cancellation,
metrics, health and reflection.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import pathlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from google.protobuf import json_format, message
from grpc_health.v1 import health, health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from tests.support.builders import doc
from webhook.core import api, errors, podspec, storage
from webhook.ops import certificates, metrics, routing, settings, tls
from webhook.proto import codec
from webhook.rest import endpoints
from webhook.rpc import listener, service, standard
from webhook.store import sqlite

TOKEN = "grpc-token-7d1e"
REQUEST_TIMEOUT = 5.0
BODY_LIMIT = 64 * 1024


@dataclasses.dataclass
class Grpc:
    channel: grpc.aio.Channel
    metrics: metrics.Metrics
    store: Any
    listener: listener.Listener

    async def call(self, method: str, request: dict[str, Any] | message.Message, *,
                   token: str | None = TOKEN, deadline: float | None = None
                   ) -> tuple[message.Message, list[str]]:
        """The response and its ``warning`` trailing metadata."""
        rpc = self.stub(method)
        call = rpc(self.request(method, request), timeout=deadline,
                   metadata=(("token", token),) if token is not None else None)
        response: message.Message = await call
        trailers = await call.trailing_metadata() or ()
        return response, [str(value) for key, value in trailers if key == "warning"]

    def stub(self, method: str) -> grpc.aio.UnaryUnaryMultiCallable[message.Message, message.Message]:
        m = codec.METHODS[method]
        return self.channel.unary_unary(m.path, request_serializer=m.request.SerializeToString,
                                        response_deserializer=m.response.FromString)

    @staticmethod
    def request(method: str, body: dict[str, Any] | message.Message) -> message.Message:
        if isinstance(body, message.Message):
            return body
        return json_format.ParseDict(body, codec.METHODS[method].request())


async def serve_grpc(store: storage.Store, *, token: str = TOKEN, drain: routing.Drain | None = None,
                     **limits: Any) -> tuple[listener.Listener, metrics.Metrics]:
    config = settings.Settings(grpc_addr=settings.Address("127.0.0.1", 0), tls_mode="notls",
                               rest_body_limit=BODY_LIMIT, **limits)
    registry = metrics.Metrics()
    served = listener.Listener(config, service.Config(
        api.AppImages(store, podspec.checker()), token.encode(), config.request_timeout,
        drain or routing.Drain()), registry, None)
    await served.start()
    return served, registry


@pytest.fixture
async def grpc_client(store: sqlite.SQLiteStore) -> AsyncIterator[Grpc]:
    served, registry = await serve_grpc(store)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{served.port}") as channel:
        yield Grpc(channel, registry, store, served)
    await served.stop(0)


@pytest.fixture
async def second_store(tmp_path: pathlib.Path) -> AsyncIterator[sqlite.SQLiteStore]:
    opened = await sqlite.SQLiteStore.open(tmp_path / "endpoints.db")
    yield opened
    await opened.close()


@pytest.fixture
async def token_rest_client(routes_client: Any, second_store: sqlite.SQLiteStore) -> Any:
    return await routes_client(endpoints.routes(
        api.AppImages(second_store, podspec.checker()), figures=metrics.Metrics(), token=TOKEN,
        body_limit=BODY_LIMIT, timeout=REQUEST_TIMEOUT))


# --- one table, both front ends ----------------------------------------------------


def _as_grpc(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` as a client of Kuscia's proto sends it: the proto has no ``secret_map_ref``
    (REST's alias of ``secret_ref``)."""
    text = json.dumps(body).replace('"secret_map_ref"', '"secret_ref"')
    converted: dict[str, Any] = json.loads(text)
    return converted


@dataclasses.dataclass(frozen=True)
class Step:
    endpoint: str
    body: dict[str, Any]
    code: int


DOCUMENT_SEQUENCE = [
    Step("create", doc("create"), errors.Code.SUCCESS),
    Step("create", doc("create"), errors.Code.ALREADY_EXISTS),
    Step("update", doc("update"), errors.Code.SUCCESS),
    Step("query", doc("query"), errors.Code.SUCCESS),
    Step("batchQuery", doc("batchQuery"), errors.Code.SUCCESS),
    Step("list", {"page_size": 5}, errors.Code.SUCCESS),
    Step("delete", doc("delete"), errors.Code.SUCCESS),
    Step("query", doc("query"), errors.Code.NOT_EXISTS),
    Step("batchQuery", doc("batchQuery"), errors.Code.NOT_EXISTS),
    Step("update", doc("update"), errors.Code.NOT_EXISTS),
    Step("delete", doc("delete"), errors.Code.DELETE_FAILED),
    # Without deploy_templates rather than with []: proto3 cannot tell an empty list
    # from an absent one, so the two front ends could not get the same request.
    Step("create", {"name": "Not_A_Label", "image": doc("create")["image"]}, errors.Code.REQUEST_INVALID),
]


async def test_the_document_sequence_gets_the_same_answers_over_rest_and_grpc(
        token_rest_client, grpc_client):
    for number, step in enumerate(DOCUMENT_SEQUENCE):
        method = endpoints.ENDPOINTS[step.endpoint]
        answer = await token_rest_client.post(endpoints.PREFIX + step.endpoint, json=step.body,
                                              headers={"Token": TOKEN})
        assert answer.status == 200
        rest_body = await answer.json()
        rest_warnings = answer.headers.getall("Warning", [])
        response, warnings = await grpc_client.call(method.name, _as_grpc(step.body))
        where = f"step {number}: {step.endpoint} (REST said {rest_body['status']})"
        assert rest_body["status"]["code"] == step.code, where
        assert response == json_format.ParseDict(rest_body, method.response()), where
        assert [endpoints.warning_header(w) for w in warnings] == rest_warnings, where


async def test_create_warnings_arrive_as_trailing_metadata(grpc_client):
    response, warnings = await grpc_client.call("CreateAppImage", _as_grpc(doc("create")))
    assert response.status.code == 0
    assert any("env_from[0]" in w and "split" in w for w in warnings)


async def test_an_answer_emits_the_stored_object_over_grpc(grpc_client):
    await grpc_client.call("CreateAppImage", _as_grpc(doc("create")))
    response, _ = await grpc_client.call("QueryAppImage", {"name": "appimage-template"})
    data = json_format.MessageToDict(response.data, preserving_proto_field_name=True)
    assert data["deploy_templates"][0]["replicas"] == 1
    assert data["deploy_templates"][0]["containers"][0]["ports"][0]["scope"] == "Cluster"


# --- token ----------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "wrong", ""], ids=["missing", "wrong", "empty"])
async def test_a_call_without_the_right_token_is_unauthenticated(grpc_client, token):
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await grpc_client.call("ListAppImage", {}, token=token)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert await grpc_client.store.list(10, "") == storage.Page([], "")


async def test_health_and_reflection_need_no_token(grpc_client):
    check = grpc_client.channel.unary_unary(
        f"/{health.SERVICE_NAME}/Check", request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString)
    answer = await check(health_pb2.HealthCheckRequest(service=codec.SERVICE_NAME))
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    info = grpc_client.channel.stream_stream(
        f"/{standard.REFLECTION}/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
    async for found in info(iter([reflection_pb2.ServerReflectionRequest(list_services="")])):
        names = {s.name for s in found.list_services_response.service}
    assert codec.SERVICE_NAME in names


async def test_reflection_v1_and_v1alpha_describe_the_service_alike(grpc_client):
    found = []
    for reflection in (standard.REFLECTION_V1, standard.REFLECTION):
        info = grpc_client.channel.stream_stream(
            f"/{reflection}/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
        request = reflection_pb2.ServerReflectionRequest(file_containing_symbol=codec.SERVICE_NAME)
        async for answer in info(iter([request])):
            found.append(list(answer.file_descriptor_response.file_descriptor_proto))
    assert found[0] == found[1]
    assert codec.SERVICE.file.serialized_pb in found[0]


def _watch(channel: grpc.aio.Channel) -> Any:
    return channel.unary_stream(
        f"/{health.SERVICE_NAME}/Watch", request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString)


async def test_health_watch_reports_serving_then_not_serving_when_the_listener_stops(store):
    served, _ = await serve_grpc(store)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{served.port}") as channel:
        watching = _watch(channel)(health_pb2.HealthCheckRequest(service=codec.SERVICE_NAME))
        first = await watching.read()
        stopping = asyncio.create_task(served.stop(5))
        second = await watching.read()
        await stopping
    assert first.status == health_pb2.HealthCheckResponse.SERVING
    assert second.status == health_pb2.HealthCheckResponse.NOT_SERVING


async def test_health_check_of_an_unknown_service_is_not_found(grpc_client):
    check = grpc_client.channel.unary_unary(
        f"/{health.SERVICE_NAME}/Check", request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await check(health_pb2.HealthCheckRequest(service="no.such.Service"))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_gzip_compressed_request_is_served_like_a_plain_one(grpc_client):
    rpc = grpc_client.stub("CreateAppImage")
    response = await rpc(Grpc.request("CreateAppImage", _as_grpc(doc("create"))),
                         metadata=(("token", TOKEN),), compression=grpc.Compression.Gzip)
    assert response.status.code == errors.Code.SUCCESS
    assert (await grpc_client.store.get("appimage-template")).name == "appimage-template"


# --- bad input --------------------------------------------------------------------


async def test_a_request_that_does_not_decode_is_11100_naming_the_message_type(grpc_client):
    raw = grpc_client.channel.unary_unary(codec.METHODS["CreateAppImage"].path)
    answer = await raw(b"\xff\xff\xff", metadata=(("token", TOKEN),))
    response = codec.METHODS["CreateAppImage"].response.FromString(answer)
    assert response.status.code == errors.Code.REQUEST_INVALID
    assert "kuscia.proto.api.v1alpha1.kusciaapi.CreateAppImageRequest" in response.status.message


async def test_unknown_field_numbers_are_refused_not_dropped(grpc_client):
    request = Grpc.request("CreateAppImage", _as_grpc(doc("create")))
    raw = grpc_client.channel.unary_unary(codec.METHODS["CreateAppImage"].path)
    # field 99 (varint 1) on the request and field 42 (string) on image
    image = request.image.SerializeToString() + b"\xd2\x02\x01x"
    mangled = request.SerializeToString() + b"\x98\x06\x01" + b"\x1a" + bytes([len(image)]) + image
    answer = codec.METHODS["CreateAppImage"].response.FromString(
        await raw(mangled, metadata=(("token", TOKEN),)))
    assert answer.status.code == errors.Code.REQUEST_INVALID
    assert "body: unknown field number 99" in answer.status.message
    assert "image: unknown field number 42" in answer.status.message
    assert await grpc_client.store.list(10, "") == storage.Page([], "")


async def test_a_message_over_the_body_limit_is_resource_exhausted(grpc_client):
    big = {**_as_grpc(doc("create")), "config_templates": {"big": "x" * (BODY_LIMIT + 1)}}
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await grpc_client.call("CreateAppImage", big)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    response, _ = await grpc_client.call("ListAppImage", {})
    assert response.status.code == 0
    assert not response.data.appimage_list


class BlockingStore(sqlite.SQLiteStore):
    """Creates wait for ``release``; ``entered`` is set when one is waiting, ``waiting``
    counts them (a fault a real store cannot produce on demand: a write that hangs)."""

    entered: asyncio.Event
    release: asyncio.Event
    waiting: int

    async def create(self, obj: dict[str, Any]) -> None:
        self.waiting += 1
        self.entered.set()
        await self.release.wait()
        await super().create(obj)


@contextlib.asynccontextmanager
async def blocking_grpc(tmp_path: pathlib.Path, **options: Any) -> AsyncIterator[Grpc]:
    store = await BlockingStore.open(tmp_path / "blocking.db")
    store.entered, store.release, store.waiting = asyncio.Event(), asyncio.Event(), 0
    served, registry = await serve_grpc(store, **options)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{served.port}") as channel:
            yield Grpc(channel, registry, store, served)
    finally:
        store.release.set()
        await served.stop(0)
        await store.close()


@pytest.fixture
async def blocking(tmp_path: pathlib.Path) -> AsyncIterator[Grpc]:
    async with blocking_grpc(tmp_path) as client:
        yield client


def _handled(registry: metrics.Metrics, method: str, code: str) -> float:
    value = registry.registry.get_sample_value("grpc_server_handled_total", {
        "grpc_type": "unary", "grpc_service": codec.SERVICE_NAME, "grpc_method": method,
        "grpc_code": code})
    return value or 0.0


async def _until(condition: Callable[[], bool]) -> None:
    # Polls the server's own counters; the bound is a failure, not a measurement.
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 (counters have no event to wait on)
            await asyncio.sleep(0.01)


async def test_a_call_past_its_deadline_is_deadline_exceeded_and_stores_nothing(blocking):
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await blocking.call("CreateAppImage", _as_grpc(doc("create")), deadline=0.3)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await _until(lambda: _handled(blocking.metrics, "CreateAppImage", "DeadlineExceeded") == 1)
    assert await blocking.store.list(10, "") == storage.Page([], "")


async def test_a_call_cancelled_by_the_client_mid_call_stores_nothing(blocking):
    call = blocking.stub("CreateAppImage")(Grpc.request("CreateAppImage", _as_grpc(doc("create"))),
                                           metadata=(("token", TOKEN),))
    await blocking.store.entered.wait()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await _until(lambda: _handled(blocking.metrics, "CreateAppImage", "Canceled") == 1)
    blocking.store.release.set()
    response, _ = await blocking.call("ListAppImage", {})
    assert not response.data.appimage_list


async def test_a_call_past_the_request_timeout_is_answered_11101_like_rest(tmp_path):
    async with blocking_grpc(tmp_path, request_timeout=0.2) as client:
        response, _ = await client.call("CreateAppImage", _as_grpc(doc("create")))
        assert response.status.code == errors.Code.UNEXPECTED
        assert response.status.message == "request took longer than 0.2 s and was abandoned"
        assert await client.store.list(10, "") == storage.Page([], "")


async def test_a_connection_past_max_connections_is_closed_and_the_open_one_keeps_working(store):
    served, registry = await serve_grpc(store, max_connections=1)
    # A subchannel pool per channel: each channel makes its own connection.
    options = [("grpc.use_local_subchannel_pool", 1)]
    try:
        async with (grpc.aio.insecure_channel(f"127.0.0.1:{served.port}", options=options) as first,
                    grpc.aio.insecure_channel(f"127.0.0.1:{served.port}", options=options) as second):
            held = Grpc(first, registry, store, served)
            assert (await held.call("ListAppImage", {}))[0].status.code == 0
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await Grpc(second, registry, store, served).call("ListAppImage", {}, deadline=5)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            assert (await held.call("ListAppImage", {}))[0].status.code == 0
    finally:
        await served.stop(0)


async def test_a_thousand_concurrent_creates_store_each_name_once(grpc_client):
    names = [f"app-{i}" for i in range(500)]
    body = _as_grpc(doc("create"))
    # Ten connections of a hundred calls each: the listener's streams per connection
    # (webhook/rpc/listener.py says what a client with more in flight on one sees).
    target, options = f"127.0.0.1:{grpc_client.listener.port}", [("grpc.use_local_subchannel_pool", 1)]
    async with contextlib.AsyncExitStack() as stack:
        clients = [dataclasses.replace(grpc_client, channel=await stack.enter_async_context(
            grpc.aio.insecure_channel(target, options=options))) for _ in range(10)]
        answers = await asyncio.gather(*(
            clients[i % len(clients)].call("CreateAppImage", {**body, "name": name})
            for i, name in enumerate(names + names)))
    codes = sorted(response.status.code for response, _ in answers)
    assert codes == [0] * 500 + [errors.Code.ALREADY_EXISTS] * 500
    page = await grpc_client.store.list(1000, "")
    assert sorted(r.name for r in page.records) == sorted(names)


# --- operations -------------------------------------------------------------------


async def test_grpc_calls_are_counted_under_go_grpc_prometheus_names(grpc_client):
    await grpc_client.call("QueryAppImage", {"name": "missing"})
    with pytest.raises(grpc.aio.AioRpcError):
        await grpc_client.call("QueryAppImage", {"name": "missing"}, token="wrong")
    # An abort's status reaches the client before the handler has finished counting it.
    await _until(lambda: _handled(grpc_client.metrics, "QueryAppImage", "Unauthenticated") == 1)
    assert _handled(grpc_client.metrics, "QueryAppImage", "OK") == 1
    text = grpc_client.metrics.exposition().decode()
    labels = f'grpc_method="QueryAppImage",grpc_service="{codec.SERVICE_NAME}",grpc_type="unary"'
    assert f"grpc_server_started_total{{{labels}}} 2.0" in text
    assert f"grpc_server_handling_seconds_count{{{labels}}} 2.0" in text


async def test_stop_lets_a_call_in_progress_finish(tmp_path):
    async with blocking_grpc(tmp_path) as client:
        pending = asyncio.create_task(client.call("CreateAppImage", _as_grpc(doc("create"))))
        await client.store.entered.wait()
        stopping = asyncio.create_task(client.listener.stop(10))
        client.store.release.set()
        response, _ = await pending
        await stopping
        assert response.status.code == 0
        assert (await client.store.get("appimage-template")).name == "appimage-template"


async def test_a_call_in_progress_holds_up_the_services_drain(tmp_path):
    drain = routing.Drain()
    async with blocking_grpc(tmp_path, drain=drain) as client:
        pending = asyncio.create_task(client.call("CreateAppImage", _as_grpc(doc("create"))))
        await client.store.entered.wait()
        assert drain.in_flight == 1
        client.store.release.set()
        response, _ = await pending
        assert response.status.code == 0
        assert drain.in_flight == 0


async def test_a_call_after_the_drain_closed_is_unavailable(tmp_path):
    drain = routing.Drain()
    async with blocking_grpc(tmp_path, drain=drain) as client:
        drain.closed = True
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await client.call("ListAppImage", {})
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def tls_listener(store: storage.Store, cert_dir: pathlib.Path, **limits: Any) -> listener.Listener:
    """A TLS listener following the certificate files in ``cert_dir`` (none yet, maybe)."""
    config = settings.Settings(grpc_addr=settings.Address("127.0.0.1", 0), tls_mode="tls",
                               cert_dir=cert_dir, **limits)
    return listener.Listener(config, service.Config(
        api.AppImages(store, podspec.checker()), b"", REQUEST_TIMEOUT, routing.Drain()),
        metrics.Metrics(), tls.ReloadingContext(certificates.Paths.in_dir(cert_dir), "tls", ("h2",)))


async def _list_over_tls(served: listener.Listener, ca: bytes) -> Any:
    trust = grpc.ssl_channel_credentials(root_certificates=ca)
    async with grpc.aio.secure_channel(f"127.0.0.1:{served.port}", trust) as channel:
        response, _ = await Grpc(channel, metrics.Metrics(), None, served).call("ListAppImage", {})
    return response


async def test_tls_serves_once_certificates_appear_and_is_not_ready_before(tmp_path, store):
    cert_dir = tmp_path / "certs"
    served = tls_listener(store, cert_dir)
    await served.start()
    try:
        assert not served.ready()
        paths = certificates.write_cert_set(cert_dir, ["localhost"], ["127.0.0.1"])
        assert served.ready()
        assert (await _list_over_tls(served, paths.ca.read_bytes())).status.code == 0
    finally:
        await served.stop(0)


async def test_connections_that_never_finish_a_tls_handshake_are_cut_and_free_their_slots(tmp_path, store):
    paths = certificates.write_cert_set(tmp_path / "certs", ["localhost"], ["127.0.0.1"])
    served = tls_listener(store, tmp_path / "certs", max_connections=2, handshake_timeout=0.5)
    port = await served.start()
    try:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]  # every slot
        for reader, writer in held:  # no ClientHello: the server cuts them (end of stream)
            assert await asyncio.wait_for(reader.read(), timeout=10) == b""
            writer.close()
        trust = grpc.ssl_channel_credentials(root_certificates=paths.ca.read_bytes())
        async with grpc.aio.secure_channel(f"127.0.0.1:{port}", trust) as channel:
            call = Grpc(channel, metrics.Metrics(), None, served).stub("ListAppImage")
            # Waits until a connection is had: the freed slots are counted out a moment later.
            response = await call(Grpc.request("ListAppImage", {}), metadata=(("token", TOKEN),),
                                  wait_for_ready=True, timeout=10)
        assert response.status.code == 0
    finally:
        await served.stop(0)
