"""Kuscia's wire behaviour (SPEC §7): codes of failed operations, ``data`` of error
answers, bodies sent as text/plain, and null or empty meaning absent."""

from __future__ import annotations

import json

import pytest

from tests.conftest import doc
from webhook import api, errors, rest

PREFIX = "/api/v1/appimage/"


async def call(client, endpoint, body):
    response = await client.post(PREFIX + endpoint, json=body)
    assert response.status == 200, await response.text()
    return await response.json()


def code(answer):
    return answer["status"]["code"]


# --- a failure of the store is the operation's code ----------------------------------

OPERATIONS = [
    pytest.param("create", doc("create"), errors.Code.CREATE_FAILED, id="create-13100"),
    pytest.param("query", doc("query"), errors.Code.QUERY_FAILED, id="query-13101"),
    pytest.param("update", doc("update"), errors.Code.UPDATE_FAILED, id="update-13102"),
    pytest.param("delete", doc("delete"), errors.Code.DELETE_FAILED, id="delete-13103"),
    pytest.param("batch_query", doc("batchQuery"), errors.Code.BATCH_QUERY_FAILED, id="batch_query-13104"),
    pytest.param("batchQuery", doc("batchQuery"), errors.Code.BATCH_QUERY_FAILED, id="batchQuery-13104"),
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
    pytest.param("update", {"name": "ghost", "image": {"name": "app"}}, {}, id="update-no-data"),
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


def test_every_endpoint_says_what_its_error_answers_carry():
    assert set(rest.ERROR_DATA) == set(rest.ENDPOINTS)


# --- a text/plain body is read as JSON ---------------------------------------------

@pytest.mark.parametrize("content_type", ["text/plain", "text/plain; charset=utf-8", "TEXT/PLAIN"])
async def test_a_text_plain_body_is_read_as_json(rest_client, content_type):
    body = json.dumps(doc("create")).encode()
    response = await rest_client.post(PREFIX + "create", data=body, headers={"Content-Type": content_type})
    assert code(await response.json()) == errors.Code.SUCCESS
    assert code(await call(rest_client, "query", doc("query"))) == errors.Code.SUCCESS


async def test_a_text_plain_body_that_is_not_json_is_11100(rest_client):
    response = await rest_client.post(PREFIX + "query", data=b"name=x",
                                      headers={"Content-Type": "text/plain"})
    answer = await response.json()
    assert code(answer) == errors.Code.REQUEST_INVALID
    assert "malformed JSON" in answer["status"]["message"]
