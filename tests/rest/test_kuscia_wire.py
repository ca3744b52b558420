"""Kuscia's wire behaviour (SPEC §7): codes of failed operations, ``data`` of error
answers, bodies sent as text/plain, and null or empty meaning absent."""

from __future__ import annotations

import json

import pytest

from tests.support import builders
from webhook.core import api, errors
from webhook.proto import codec
from webhook.rest import endpoints

PREFIX = "/api/v1/appimage/"


async def call(client, endpoint, body):
    response = await client.post(PREFIX + endpoint, json=body)
    assert response.status == 200, await response.text()
    return await response.json()


def code(answer):
    return answer["status"]["code"]


# --- a failure of the store is the operation's code ----------------------------------

OPERATIONS = [
    pytest.param("create", builders.doc("create"), errors.Code.CREATE_FAILED, id="create-13100"),
    pytest.param("query", builders.doc("query"), errors.Code.QUERY_FAILED, id="query-13101"),
    pytest.param("update", builders.doc("update"), errors.Code.UPDATE_FAILED, id="update-13102"),
    pytest.param("delete", builders.doc("delete"), errors.Code.DELETE_FAILED, id="delete-13103"),
    pytest.param("batch_query", builders.doc("batchQuery"),
                 errors.Code.BATCH_QUERY_FAILED, id="batch_query-13104"),
    pytest.param("batchQuery", builders.doc("batchQuery"),
                 errors.Code.BATCH_QUERY_FAILED, id="batchQuery-13104"),
    pytest.param("list", {}, errors.Code.LIST_FAILED, id="list-13107"),
]


@pytest.mark.parametrize(("endpoint", "body", "failed"), OPERATIONS)
async def test_a_failing_store_is_answered_with_the_operations_code(rest_client, store, endpoint, body,
                                                                    failed):
    await store.close()  # a closed SQLite store fails every call with StoreUnavailable
    answer = await call(rest_client, endpoint, body)
    assert code(answer) == failed
    assert "is closed" in answer["status"]["message"]


@pytest.mark.parametrize(("operation", "error", "answered"), [
    ("query", errors.NotFound("gone"), errors.Code.NOT_EXISTS),
    ("update", errors.NotFound("gone"), errors.Code.NOT_EXISTS),
    ("batch_query", errors.NotFound("gone"), errors.Code.NOT_EXISTS),
    ("delete", errors.NotFound("gone"), errors.Code.DELETE_FAILED),
    ("create", errors.AlreadyExists("taken"), errors.Code.ALREADY_EXISTS),
    ("create", errors.Refused("denied by a webhook"), errors.Code.CREATE_FAILED),
    ("update", errors.Refused("denied by a webhook"), errors.Code.UPDATE_FAILED),
    ("update", errors.Conflict("moved on"), errors.Code.UPDATE_FAILED),
    ("list", errors.Refused("page_token: expired"), errors.Code.LIST_FAILED),
    ("list", errors.StoreUnavailable("down"), errors.Code.LIST_FAILED),
], ids=lambda v: v if isinstance(v, str) else type(v).__name__ if isinstance(v, Exception) else str(int(v)))
def test_store_errors_keep_kuscias_codes_for_missing_and_existing_names_only(operation, error, answered):
    failure = api.kuscia_failure(operation, error)
    assert failure.code == answered
    assert failure.message == error.message


async def test_a_page_token_this_server_did_not_issue_is_13107(rest_client):
    answer = await call(rest_client, "list", {"page_token": "not a token"})
    assert code(answer) == errors.Code.LIST_FAILED
    assert "page_token" in answer["status"]["message"]


# --- error answers carry data as Kuscia's do ----------------------------------------

@pytest.mark.parametrize(("endpoint", "body", "besides_status"), [
    pytest.param("create", {"name": "Bad_Name"}, {}, id="create-no-data"),
    pytest.param("update", {"name": "ghost", "image": {"name": "app", "tag": "1"}}, {}, id="update-no-data"),
    pytest.param("delete", {"name": "ghost"}, {}, id="delete-no-data"),
    pytest.param("query", {"name": "ghost"}, {"data": None}, id="query-null"),
    pytest.param("query", {"name": 5}, {"data": None}, id="query-invalid-null"),
    pytest.param("batch_query", {"names": ["ghost"]}, {"data": []}, id="batch_query-empty-list"),
    pytest.param("batchQuery", {"names": ["ghost"]}, {"data": []}, id="batchQuery-empty-list"),
    pytest.param("batch_query", {"names": "ghost"}, {"data": []}, id="batch_query-invalid-empty-list"),
    pytest.param("list", {"page_token": "!!!"}, {"data": None}, id="list-null"),
    pytest.param("list", {"page_size": "ten"}, {"data": None}, id="list-invalid-null"),
])
async def test_an_error_answer_carries_data_as_kuscia_renders_it(rest_client, endpoint, body, besides_status):
    answer = await call(rest_client, endpoint, body)
    assert code(answer) != errors.Code.SUCCESS
    assert {k: v for k, v in answer.items() if k != "status"} == besides_status


async def test_an_unreadable_body_is_answered_with_the_endpoints_data(rest_client):
    response = await rest_client.post(PREFIX + "batch_query", data=b"{",
                                      headers={"Content-Type": "application/json"})
    answer = await response.json()
    assert code(answer) == errors.Code.REQUEST_INVALID
    assert answer["data"] == []


async def test_a_failing_store_is_answered_with_the_endpoints_data(rest_client, store):
    await store.close()
    answer = await call(rest_client, "list", {})
    assert code(answer) == errors.Code.LIST_FAILED
    assert answer["data"] is None


def test_every_endpoint_says_what_its_error_answers_carry_as_kuscias_messages_do():
    assert {endpoint: codec.error_fields(method) for endpoint, method in endpoints.ENDPOINTS.items()} == {
        "create": {}, "update": {}, "delete": {}, "query": {"data": None},
        "batch_query": {"data": []}, "batchQuery": {"data": []}, "list": {"data": None}}


# --- a text/plain body is read as JSON ---------------------------------------------

@pytest.mark.parametrize("content_type", ["text/plain", "text/plain; charset=utf-8", "TEXT/PLAIN"])
async def test_a_text_plain_body_is_read_as_json(rest_client, content_type):
    body = json.dumps(builders.doc("create")).encode()
    response = await rest_client.post(PREFIX + "create", data=body, headers={"Content-Type": content_type})
    assert code(await response.json()) == errors.Code.SUCCESS
    assert code(await call(rest_client, "query", builders.doc("query"))) == errors.Code.SUCCESS


async def test_a_text_plain_body_that_is_not_json_is_11100(rest_client):
    response = await rest_client.post(PREFIX + "query", data=b"name=x",
                                      headers={"Content-Type": "text/plain"})
    answer = await response.json()
    assert code(answer) == errors.Code.REQUEST_INVALID
    assert "malformed JSON" in answer["status"]["message"]


# --- empty and null mean absent ------------------------------------------------------

NETWORK_POLICY = {"ingresses": [{"from": {"roles": ["server"]}, "ports": [{"port": "global"}]}]}


@pytest.fixture
async def stored_with_network_policy(store):
    """The API document's AppImage stored as a custom resource with a field the REST
    shape has no place for (a deploy template's networkPolicy)."""
    obj = builders.doc_appimage()
    obj["spec"]["deployTemplates"][0]["networkPolicy"] = NETWORK_POLICY
    await store.create(obj)
    return obj


@pytest.mark.parametrize("templates", [
    pytest.param({}, id="absent"),
    pytest.param({"deploy_templates": []}, id="empty-list"),
    pytest.param({"deployTemplates": []}, id="empty-list-camel-case"),
    pytest.param({"deploy_templates": None}, id="null"),
])
async def test_an_update_without_deploy_templates_keeps_the_stored_ones_and_their_cr_only_fields(
        rest_client, store, stored_with_network_policy, templates):
    body = {"name": "appimage-template", "image": {"name": "other", "tag": "v2"}, **templates}
    answer = await call(rest_client, "update", body)
    assert code(answer) == errors.Code.SUCCESS, answer
    spec = (await store.get("appimage-template")).obj["spec"]
    assert spec["image"]["name"] == "other"
    assert spec["deployTemplates"] == stored_with_network_policy["spec"]["deployTemplates"]
    assert spec["deployTemplates"][0]["networkPolicy"] == NETWORK_POLICY


@pytest.mark.parametrize("templates", [
    pytest.param({"config_templates": {}}, id="empty-map"),
    pytest.param({"config_templates": None}, id="null"),
    pytest.param({"config_templates": {"task-config.conf": None}}, id="null-entry"),
])
async def test_an_update_without_config_templates_keeps_the_stored_ones(
        rest_client, store, stored_with_network_policy, templates):
    body = {"name": "appimage-template", "image": {"name": "other", "tag": "2.0"}, **templates}
    assert code(await call(rest_client, "update", body)) == errors.Code.SUCCESS
    spec = (await store.get("appimage-template")).obj["spec"]
    assert spec["configTemplates"] == stored_with_network_policy["spec"]["configTemplates"]


@pytest.mark.parametrize("image", [pytest.param({}, id="absent"), pytest.param({"image": None}, id="null")])
async def test_an_update_with_a_null_image_is_refused_as_without_one(rest_client, stored_with_network_policy,
                                                                     image):
    answer = await call(rest_client, "update", {"name": "appimage-template", **image})
    assert code(answer) == errors.Code.REQUEST_INVALID
    assert answer["status"]["message"] == "image: required"


@pytest.mark.parametrize("header", [
    pytest.param(None, id="header"),
    pytest.param({"custom_headers": None}, id="custom-headers"),
    pytest.param({"custom_headers": {"x-trace": None}}, id="custom-header-value"),
    pytest.param({"customHeaders": {"x-trace": None, "x-user": "u"}}, id="camel-case-value"),
])
async def test_a_null_in_the_header_is_absent(rest_client, stored_with_network_policy, header):
    answer = await call(rest_client, "query", {"header": header, "name": "appimage-template"})
    assert code(answer) == errors.Code.SUCCESS, answer


async def test_a_null_config_template_is_an_absent_entry(rest_client):
    body = builders.doc("create")
    body["config_templates"]["unset.conf"] = None
    assert code(await call(rest_client, "create", body)) == errors.Code.SUCCESS
    data = (await call(rest_client, "query", builders.doc("query")))["data"]
    assert list(data["config_templates"]) == ["task-config.conf"]


async def test_a_null_probe_is_an_absent_probe(rest_client):
    body = builders.doc("create")
    body["deploy_templates"][0]["containers"][0]["liveness_probe"] = None
    assert code(await call(rest_client, "create", body)) == errors.Code.SUCCESS
    data = (await call(rest_client, "query", builders.doc("query")))["data"]
    assert data["deploy_templates"][0]["containers"][0]["liveness_probe"] is None


def _null_item(body, *path):
    target = body
    for key in path:
        target = target[key]
    target.append(None)
    return body


@pytest.mark.parametrize(("endpoint", "body", "named"), [
    pytest.param("create", _null_item(builders.doc("create"), "deploy_templates"),
                 "deploy_templates[1]: must be an object, not null", id="deploy-template"),
    pytest.param("create", _null_item(builders.doc("create"),
                                      "deploy_templates", 0, "containers", 0, "ports"),
                 "deploy_templates[0].containers[0].ports[1]: must be an object, not null", id="port"),
    pytest.param("create", _null_item(builders.doc("create"),
                                      "deploy_templates", 0, "containers", 0, "command"),
                 "deploy_templates[0].containers[0].command[1]: must be a string, not null", id="command"),
    pytest.param("batch_query", {"names": ["appimage-template", None]},
                 "names[1]: must be a string, not null", id="name"),
])
async def test_a_null_list_item_is_refused_naming_its_index(rest_client, endpoint, body, named):
    # A list has no absent items: dropping one would shift every later index.
    answer = await call(rest_client, endpoint, body)
    assert code(answer) == errors.Code.REQUEST_INVALID
    assert named in answer["status"]["message"]
