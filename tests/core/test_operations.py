"""The one table of operations agrees with everything derived from it or declared
beside it: the proto service, the REST schema file, the OpenAPI document, the api."""

from __future__ import annotations

import pytest

from webhook.core import api, operations, podspec, schemas
from webhook.proto import codec
from webhook.rest import endpoints, openapi

OPERATIONS = [pytest.param(op, id=op.name) for op in operations.ALL]


def test_the_table_and_the_proto_service_have_the_same_methods() -> None:
    assert sorted(op.method for op in operations.ALL) == sorted(codec.SERVICE.methods_by_name)


@pytest.mark.parametrize("op", OPERATIONS)
def test_each_method_takes_the_request_message_of_the_operations_name(op: operations.Operation) -> None:
    assert codec.SERVICE.methods_by_name[op.method].input_type.name == op.request


async def test_every_operation_of_the_table_is_run_by_the_api_method_of_its_name(store) -> None:
    appimages = api.AppImages(store, podspec.checker())
    assert set(appimages.operations) == set(operations.ALL)
    for op, run in appimages.operations.items():
        assert run.__name__ == op.name
        assert all(endpoints.ENDPOINTS[path] is codec.METHODS[op.method] for path in op.paths)


def test_the_rest_schema_defines_exactly_the_tables_requests() -> None:
    defined = {name for name in schemas.rest_document()["$defs"] if name.endswith("Request")}
    assert defined == {op.request for op in operations.ALL}


@pytest.mark.parametrize("op", OPERATIONS)
def test_the_api_reads_each_request_with_the_fields_the_rest_schema_defines(
        op: operations.Operation) -> None:
    definition = schemas.rest_document()["$defs"][op.request]
    assert set(api._SHAPES[op.request].rest_fields) == set(definition["properties"])
    assert definition["required"] == list(op.required)


def test_the_openapi_paths_are_the_tables_rest_paths_in_its_order() -> None:
    assert list(openapi.document()["paths"]) == [
        openapi.PREFIX + path for op in operations.ALL for path in op.paths]


@pytest.mark.parametrize("op", OPERATIONS)
def test_each_openapi_path_describes_its_operation(op: operations.Operation) -> None:
    for path in op.paths:
        post = openapi.document()["paths"][openapi.PREFIX + path]["post"]
        assert post["operationId"] == path
        assert post["x-grpc"]["method"] == op.method
        body = post["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{op.request}"}
        answer = post["responses"]["200"]["content"]["application/json"]["schema"]["allOf"][0]
        assert answer == {"$ref": f"#/components/schemas/{op.answer}"}

