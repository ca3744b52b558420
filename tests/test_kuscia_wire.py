"""Kuscia's wire behaviour (SPEC §7): codes of failed operations, ``data`` of error
answers, bodies sent as text/plain, and null or empty meaning absent."""

from __future__ import annotations

import pytest

from tests.conftest import doc
from webhook import api, errors

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
