"""REST bodies in protobuf (``Content-Type: application/x-protobuf``), as Kuscia's API
takes them: the same paths, codes and HTTP statuses as JSON, answers in protobuf."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.protobuf import json_format, message

from tests.support.builders import doc
from webhook.core import api, errors, podspec
from webhook.ops import metrics
from webhook.rest import endpoints

X_PROTOBUF = {"Content-Type": "application/x-protobuf"}


def _request(endpoint: str, body: dict[str, Any]) -> bytes:
    # The proto has no secret_map_ref, REST's alias of secret_ref.
    plain = json.loads(json.dumps(body).replace('"secret_map_ref"', '"secret_ref"'))
    return json_format.ParseDict(plain, endpoints.ENDPOINTS[endpoint].request()).SerializeToString()


async def _post(client: Any, endpoint: str, raw: bytes, headers: dict[str, str] = X_PROTOBUF
                ) -> tuple[int, message.Message, Any]:
    answer = await client.post(endpoints.PREFIX + endpoint, data=raw, headers=headers)
    assert answer.headers["Content-Type"] == "application/x-protobuf"
    return answer.status, endpoints.ENDPOINTS[endpoint].response.FromString(await answer.read()), answer


async def test_every_operation_takes_and_answers_protobuf(rest_client):
    create = doc("create")
    status, created, answer = await _post(rest_client, "create", _request("create", create))
    assert (status, created.status.code, created.status.message) == (200, 0, "success")
    assert answer.headers.getall("Warning")  # the env_from split, as over JSON
    _, updated, _ = await _post(rest_client, "update", _request("update", doc("update")))
    assert updated.status.code == 0
    _, queried, _ = await _post(rest_client, "query", _request("query", doc("query")))
    assert queried.data.name == create["name"]
    assert queried.data.deploy_templates[0].containers[0].ports[0].protocol == "HTTP"
    _, batch, _ = await _post(rest_client, "batch_query", _request("batchQuery", doc("batchQuery")))
    assert [d.name for d in batch.data] == doc("batchQuery")["names"]
    _, listed, _ = await _post(rest_client, "list", b"")  # the empty message: every field unset
    assert [d.name for d in listed.data.appimage_list] == [create["name"]]
    _, deleted, _ = await _post(rest_client, "delete", _request("delete", doc("delete")))
    assert deleted.status.code == 0
    _, gone, _ = await _post(rest_client, "query", _request("query", doc("query")))
    assert gone.status.code == errors.Code.NOT_EXISTS
    assert not gone.HasField("data")


async def test_a_protobuf_answer_holds_what_the_json_answer_holds(rest_client):
    await _post(rest_client, "create", _request("create", doc("create")))
    _, queried, _ = await _post(rest_client, "query", _request("query", doc("query")))
    as_json = await (await rest_client.post(endpoints.PREFIX + "query", json=doc("query"))).json()
    assert queried == json_format.ParseDict(as_json, endpoints.ENDPOINTS["query"].response())


async def test_a_json_body_sent_as_protobuf_is_a_clear_11100(rest_client):
    status, answer, _ = await _post(rest_client, "create", json.dumps(doc("create")).encode())
    assert (status, answer.status.code) == (200, errors.Code.REQUEST_INVALID)
    assert "kuscia.proto.api.v1alpha1.kusciaapi.CreateAppImageRequest" in answer.status.message
    assert "Content-Type: application/json" in answer.status.message


@pytest.mark.parametrize("garbage", [b"\xff\xff\xff\xff", b"\x0a\x05ab", b"\x12\x80"],
                         ids=["bad-tag", "truncated-field", "truncated-length"])
async def test_a_garbage_body_is_11100_naming_the_message_type(rest_client, garbage):
    status, answer, _ = await _post(rest_client, "query", garbage)
    assert (status, answer.status.code) == (200, errors.Code.REQUEST_INVALID)
    assert "not a valid kuscia.proto.api.v1alpha1.kusciaapi.QueryAppImageRequest" in answer.status.message


async def test_an_unknown_field_number_is_refused_with_its_path(rest_client):
    raw = _request("query", doc("query")) + b"\x98\x06\x01"  # field 99, varint
    _, answer, _ = await _post(rest_client, "query", raw)
    assert answer.status.code == errors.Code.REQUEST_INVALID
    assert answer.status.message == "body: unknown field number 99"


async def test_a_protobuf_request_without_the_token_is_401_in_protobuf(routes_client, store):
    client = await routes_client(endpoints.routes(
        api.AppImages(store, podspec.checker()), figures=metrics.Metrics(), token="secret",
        body_limit=64 * 1024, timeout=5.0))
    status, answer, _ = await _post(client, "list", b"")
    assert (status, answer.status.code) == (401, errors.Code.AUTH_FAILED)


async def test_validation_errors_are_the_same_as_over_json(rest_client):
    bad = {**doc("create"), "name": "Bad_Name"}
    _, answer, _ = await _post(rest_client, "create", _request("create", bad))
    as_json = await (await rest_client.post(endpoints.PREFIX + "create", json=bad)).json()
    assert answer.status.message == as_json["status"]["message"]
