"""The OpenAPI document (/openapi.json) and the API explorer page (/docs).

The document is checked as data (built from the REST schema, the API document's
examples, Kuscia's codes), then as served by the real process, and the page in
headless Chromium: it loads the document, and a user picks an operation, types the
token and sends the document's examples (``tests/support/cdp.py`` says why DevTools).
"""

from __future__ import annotations

import http.client
import json
import pathlib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from tests.support import builders, cdp, prerequisites, serverproc
from webhook.core import api, errors, model, operations, schemagen, schemas, sources
from webhook.rest import endpoints, openapi

TOKEN = "explorer-token-7d41"
REQUEST_SHAPES = {path: op.request for op in operations.ALL for path in op.paths}


def component_validator(name: str) -> jsonschema.Draft202012Validator:
    """A validator for one component schema of the document, its refs resolved."""
    components = openapi.document()["components"]["schemas"]
    schema = {"$ref": f"#/components/schemas/{name}", "components": {"schemas": components}}
    return jsonschema.Draft202012Validator(schema)


def http_get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, dict(e.headers), e.read()


# --- the document as data --------------------------------------------------------------


def test_document_is_openapi_3_1_with_every_endpoint_of_the_rest_api() -> None:
    document = openapi.document()
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {openapi.PREFIX + name for name in endpoints.ENDPOINTS}
    for item in document["paths"].values():
        assert set(item) == {"post"}
        assert set(item["post"]["responses"]) == {"200", "401", "413", "503"}


def test_every_operation_names_its_grpc_method_and_takes_protobuf() -> None:
    document = openapi.document()
    service = "kuscia.proto.api.v1alpha1.kusciaapi.AppImageService"
    assert service in document["info"]["description"]
    methods = {path.removeprefix(openapi.PREFIX): item["post"]["x-grpc"]["method"]
               for path, item in document["paths"].items()}
    assert methods == {"create": "CreateAppImage", "update": "UpdateAppImage",
                       "delete": "DeleteAppImage", "query": "QueryAppImage",
                       "batch_query": "BatchQueryAppImage", "batchQuery": "BatchQueryAppImage",
                       "list": "ListAppImage"}
    for item in document["paths"].values():
        grpc = item["post"]["x-grpc"]
        assert grpc["service"] == service
        assert grpc["request"] == f"kuscia.proto.api.v1alpha1.kusciaapi.{grpc['method']}Request"
        assert "application/x-protobuf" in item["post"]["requestBody"]["content"]
        assert "application/x-protobuf" in item["post"]["responses"]["200"]["content"]


def test_component_schemas_are_the_generated_rest_schema_not_a_copy() -> None:
    components = openapi.document()["components"]["schemas"]
    generated = schemagen.rest_schema(sources.cr_schema())["$defs"]
    for name, definition in generated.items():
        rewritten = json.loads(json.dumps(definition).replace("#/$defs/", "#/components/schemas/"))
        assert components[name] == rewritten, name


def test_every_component_schema_is_valid_draft_2020_12() -> None:
    for schema in openapi.document()["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)


def test_status_codes_are_kuscias_with_a_meaning_each() -> None:
    status = openapi.document()["components"]["schemas"]["Status"]
    documented = {c["const"]: c["title"] for c in status["properties"]["code"]["oneOf"]}
    assert documented == {int(code): code.name for code in errors.Code}


@pytest.mark.parametrize("name", ["create", "update", "query", "batchQuery", "delete"])
def test_the_api_documents_examples_are_offered_as_they_are(name: str) -> None:
    sent = builders.doc(name)
    offered = [example["value"]
               for item in openapi.document()["paths"].values()
               for example in item["post"]["requestBody"]["content"]["application/json"]
               ["examples"].values()]
    assert sent in offered


@pytest.mark.parametrize("path", sorted(REQUEST_SHAPES))
def test_every_example_is_a_valid_request_once_aliases_are_read(path: str) -> None:
    # The create example spells secret_ref as the alias secret_map_ref, which the API
    # accepts: examples are checked as the service reads them.
    media = openapi.document()["paths"][openapi.PREFIX + path]["post"]["requestBody"]["content"]
    for example in media["application/json"]["examples"].values():
        normalized, dupes = model.normalize(api._SHAPES[REQUEST_SHAPES[path]], example["value"])
        assert dupes == []
        assert schemas.rest(REQUEST_SHAPES[path]).errors(normalized) == []


def test_answer_schemas_accept_real_answers() -> None:
    appimage = model.to_rest(model.to_cr(builders.doc("create")))
    ok = {"code": 0, "message": "success", "details": []}
    component_validator("QueryAnswer").validate({"status": ok, "data": appimage})
    component_validator("BatchQueryAnswer").validate({"status": ok, "data": [appimage]})
    component_validator("ListAnswer").validate(
        {"status": ok, "data": {"appimage_list": [appimage], "next_page_token": ""}})
    component_validator("Answer").validate(
        {"status": {"code": 13105, "message": "appimage 'x' does not exist", "details": []}})
    with pytest.raises(jsonschema.ValidationError):
        component_validator("Answer").validate({"status": {**ok, "code": 99999}})


# --- served by the real process ---------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[serverproc.ServerProcess]:
    """Plain HTTP (a browser would need our CA otherwise) with a token."""
    work = tmp_path_factory.mktemp("explorer")
    token = work / "token"
    token.write_text(TOKEN)
    with serverproc.ServerProcess(work, tls_mode="notls", token_file=token) as running:
        yield running


def test_openapi_json_is_served_without_the_token(server: serverproc.ServerProcess) -> None:
    status, headers, body = http_get(server.rest_url + "/openapi.json")
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == openapi.document()


def test_docs_page_is_served_without_the_token_under_a_strict_policy(
        server: serverproc.ServerProcess) -> None:
    status, headers, body = http_get(server.rest_url + "/docs")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert b"/docs/explorer.js" in body
    for asset in ("/docs/explorer.js", "/docs/explorer.css"):
        assert http_get(server.rest_url + asset)[0] == 200
    assert b"http://" not in body  # nothing from elsewhere
    assert b"https://" not in body


def test_docs_with_a_trailing_slash_redirects_permanently_to_docs(
        server: serverproc.ServerProcess) -> None:
    url = urllib.parse.urlsplit(server.rest_url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    try:
        conn.request("GET", "/docs/")
        response = conn.getresponse()
        assert (response.status, response.headers["Location"]) == (308, "/docs")
    finally:
        conn.close()


def test_the_api_still_needs_the_token(server: serverproc.ServerProcess) -> None:
    request = urllib.request.Request(server.rest_url + openapi.PREFIX + "list", data=b"{}",
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    with refused.value:
        assert refused.value.code == 401


# --- the page in a browser --------------------------------------------------------------


@pytest.fixture
def chromium() -> None:
    """Debian's chromium for the page tests, else ``prerequisites.missing``."""
    if cdp.executable() is None:
        prerequisites.missing("no chromium on PATH", "scripts/test installs Debian's chromium")


RESPONSE = "document.getElementById('response')"


async def send(page: cdp.Page, operation: str) -> dict[str, Any]:
    """Pick ``operation`` in the menu, keep its first example, press Send; the answer
    as the page shows it."""
    await page.click(f"nav button[data-op='{operation}']")
    await page.until(f"document.getElementById('op-path').textContent.endsWith('/{operation}')")
    await page.click("#send")
    await page.until(f"{RESPONSE}.dataset.http")
    shown = await page.evaluate(
        f"({{http: {RESPONSE}.dataset.http, code: {RESPONSE}.dataset.code,"
        f" line: {RESPONSE}.querySelector('.line').textContent,"
        " answer: (document.getElementById('answer') || {}).textContent})")
    assert isinstance(shown, dict)
    return shown


@pytest.mark.usefixtures("chromium")
async def test_explorer_page_renders_the_document_and_sends_its_examples(
        server: serverproc.ServerProcess, tmp_path: pathlib.Path) -> None:
    async with cdp.browser(tmp_path / "profile") as page:
        await cdp.navigate(page, server.rest_url + "/docs")
        await page.until("document.body.dataset.ready === 'true'")
        shown = await page.evaluate(
            "[...document.querySelectorAll('nav button[data-op]')].map(b => b.dataset.op)")
        assert shown == [path for op in operations.ALL for path in op.paths]
        codes = await page.evaluate("document.getElementById('codes').rows.length")
        assert codes == len(errors.Code) + 1  # and a header row

        refused = await send(page, "list")  # no token typed yet
        assert (refused["http"], refused["code"]) == ("401", "11102")

        await page.type_into("#token", TOKEN)
        created = await send(page, "create")
        assert (created["http"], created["code"]) == ("200", "0"), created
        queried = await send(page, "query")
        assert (queried["http"], queried["code"]) == ("200", "0"), queried
        assert json.loads(queried["answer"])["data"]["name"] == "appimage-template"
        assert "SUCCESS" in queried["line"]
        deleted = await send(page, "delete")
        assert (deleted["http"], deleted["code"]) == ("200", "0"), deleted
        again = await send(page, "query")
        assert again["code"] == "13105"
        assert "does not exist" in again["answer"]


@pytest.mark.usefixtures("chromium")
async def test_explorer_page_opens_the_operation_named_in_the_address(
        server: serverproc.ServerProcess, tmp_path: pathlib.Path) -> None:
    async with cdp.browser(tmp_path / "profile") as page:
        await cdp.navigate(page, server.rest_url + "/docs#batchQuery")
        await page.until("document.body.dataset.ready === 'true'")
        assert await page.evaluate("document.getElementById('op-path').textContent") == (
            openapi.PREFIX + "batchQuery")
        body = await page.evaluate("document.getElementById('body').value")
        assert json.loads(body) == builders.doc("batchQuery")
