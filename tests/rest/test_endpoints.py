"""The REST API (SPEC §3) in process: paths, codes, incremental update, bad input."""

from __future__ import annotations

import asyncio
import copy

import pytest

from tests.support import builders
from webhook.core import api, errors, podspec, storage
from webhook.ops import metrics
from webhook.rest import endpoints

PREFIX = "/api/v1/appimage/"


async def call(client, endpoint, body, **kw):
    response = await client.post(PREFIX + endpoint, json=body, **kw)
    assert response.status == 200, await response.text()
    return await response.json()


async def create_doc(client, name="appimage-template"):
    answer = await call(client, "create", builders.doc("create", name=name))
    assert answer["status"]["code"] == 0, answer
    return answer


def code(answer):
    return answer["status"]["code"]


async def test_the_documents_examples_succeed_in_order(rest_client):
    create = await call(rest_client, "create", builders.doc("create"))
    assert create == {"status": {"code": 0, "message": "success", "details": []}}
    update = await call(rest_client, "update", builders.doc("update"))
    assert update == {"status": {"code": 0, "message": "success", "details": []}}
    query = await call(rest_client, "query", builders.doc("query"))
    assert code(query) == 0
    assert set(query["data"]) == {"name", "image", "config_templates", "deploy_templates"}
    assert query["data"]["name"] == "appimage-template"
    batch = await call(rest_client, "batchQuery", builders.doc("batchQuery"))
    assert [item["name"] for item in batch["data"]] == ["appimage-template"]
    assert batch["data"][0] == query["data"]
    delete = await call(rest_client, "delete", builders.doc("delete"))
    assert delete == {"status": {"code": 0, "message": "success", "details": []}}
    assert code(await call(rest_client, "query", builders.doc("query"))) == errors.Code.NOT_EXISTS


async def test_update_with_empty_config_templates_keeps_the_stored_ones(rest_client):
    await create_doc(rest_client)
    await call(rest_client, "update", builders.doc("update"))
    data = (await call(rest_client, "query", builders.doc("query")))["data"]
    assert list(data["config_templates"]) == ["task-config.conf"]
    container = data["deploy_templates"][0]["containers"][0]
    assert container["liveness_probe"] is None  # the update's templates replaced the stored ones


async def test_update_without_deploy_templates_keeps_them_and_replaces_the_image(rest_client):
    await create_doc(rest_client)
    before = (await call(rest_client, "query", builders.doc("query")))["data"]
    answer = await call(rest_client, "update", {"name": "appimage-template",
                                                 "image": {"name": "other", "tag": "v2"}})
    assert code(answer) == 0
    after = (await call(rest_client, "query", builders.doc("query")))["data"]
    assert after["image"] == {"name": "other", "tag": "v2", "id": "", "sign": ""}
    assert after["deploy_templates"] == before["deploy_templates"]
    assert after["config_templates"] == before["config_templates"]


async def test_update_requires_the_image(rest_client):
    await create_doc(rest_client)
    answer = await call(rest_client, "update", {"name": "appimage-template"})
    assert code(answer) == errors.Code.REQUEST_INVALID
    assert "image: required" in answer["status"]["message"]


async def test_create_of_an_existing_name_is_13106(rest_client):
    await create_doc(rest_client)
    answer = await call(rest_client, "create", builders.doc("create"))
    assert code(answer) == errors.Code.ALREADY_EXISTS


@pytest.mark.parametrize("endpoint", ["query", "update"])
async def test_query_and_update_of_a_missing_name_are_13105(rest_client, endpoint):
    body = builders.doc("update") if endpoint == "update" else builders.doc("query")
    answer = await call(rest_client, endpoint, body)
    assert code(answer) == errors.Code.NOT_EXISTS
    assert "does not exist" in answer["status"]["message"]


async def test_delete_of_a_missing_name_is_13103_saying_it_does_not_exist(rest_client):
    answer = await call(rest_client, "delete", builders.doc("delete"))
    assert code(answer) == errors.Code.DELETE_FAILED
    assert "does not exist" in answer["status"]["message"]


async def test_batch_query_of_a_missing_name_is_13105_naming_it(rest_client):
    await create_doc(rest_client)
    answer = await call(rest_client, "batch_query", {"names": ["appimage-template", "ghost"]})
    assert code(answer) == errors.Code.NOT_EXISTS
    assert "'ghost'" in answer["status"]["message"]


async def test_batch_query_answers_in_request_order_on_both_paths(rest_client):
    for name in ("b-app", "a-app", "c-app"):
        await create_doc(rest_client, name)
    for path in ("batch_query", "batchQuery"):
        answer = await call(rest_client, path, {"names": ["c-app", "a-app", "b-app"]})
        assert [d["name"] for d in answer["data"]] == ["c-app", "a-app", "b-app"]


async def test_list_pages_through_everything_in_name_order(rest_client):
    names = [f"app-{i:02d}" for i in range(23)]
    for name in names:
        await create_doc(rest_client, name)
    seen, token, pages = [], "", 0
    while True:
        answer = await call(rest_client, "list", {"page_size": 10, "page_token": token})
        assert code(answer) == 0
        seen += [item["name"] for item in answer["data"]["appimage_list"]]
        token = answer["data"]["next_page_token"]
        pages += 1
        if not token:
            break
    assert seen == names
    assert pages == 3


async def test_list_defaults_to_pages_of_ten(rest_client):
    for i in range(12):
        await create_doc(rest_client, f"app-{i:02d}")
    answer = await call(rest_client, "list", {})
    assert len(answer["data"]["appimage_list"]) == 10
    assert answer["data"]["next_page_token"]


@pytest.mark.parametrize("size", [0, "0", "00"], ids=["number", "text", "text-with-a-leading-zero"])
async def test_list_page_size_zero_in_any_spelling_is_the_default_of_ten(rest_client, size):
    for i in range(11):
        await create_doc(rest_client, f"app-{i:02d}")
    answer = await call(rest_client, "list", {"page_size": size})
    assert code(answer) == 0
    assert len(answer["data"]["appimage_list"]) == 10


async def test_list_with_a_forged_token_is_13107(rest_client):
    answer = await call(rest_client, "list", {"page_token": "!!!"})
    assert code(answer) == errors.Code.LIST_FAILED
    assert "page_token" in answer["status"]["message"]


async def test_list_page_size_may_be_written_as_a_whole_float(rest_client):
    # Found by schemathesis: 2.0 passed the schema and failed in the store (11101).
    for i in range(3):
        await call(rest_client, "create", {**builders.doc("create"), "name": f"float-{i}"})
    answer = await call(rest_client, "list", {"page_size": 2.0})
    assert code(answer) == 0
    assert len(answer["data"]["appimage_list"]) == 2


async def test_list_page_size_above_the_ceiling_is_clamped_and_the_token_says_there_is_more(
        rest_client, monkeypatch):
    monkeypatch.setattr(storage, "MAX_PAGE_SIZE", 2)  # read at call time by api and the store
    for i in range(3):
        await create_doc(rest_client, f"clamped-{i}")
    answer = await call(rest_client, "list", {"page_size": 100000})
    assert code(answer) == 0
    assert [a["name"] for a in answer["data"]["appimage_list"]] == ["clamped-0", "clamped-1"]
    assert answer["data"]["next_page_token"]


@pytest.mark.parametrize("size", ["2", 2], ids=["numeric-string", "number"])
async def test_list_page_size_is_an_int64_given_as_a_number_or_a_numeric_string(rest_client, size):
    for i in range(3):
        await create_doc(rest_client, f"sized-{i}")
    answer = await call(rest_client, "list", {"page_size": size})
    assert code(answer) == 0
    assert len(answer["data"]["appimage_list"]) == 2


async def test_answers_emit_every_field_in_snake_case(rest_client):
    await create_doc(rest_client)
    data = (await call(rest_client, "query", builders.doc("query")))["data"]
    container = data["deploy_templates"][0]["containers"][0]
    assert set(container) == {
        "name", "command", "args", "working_dir", "config_volume_mounts", "ports", "env_from", "env",
        "resources", "liveness_probe", "readiness_probe", "startup_probe", "image_pull_policy"}
    probe = container["readiness_probe"]
    assert probe["http_get"] is None
    assert probe["success_threshold"] == 0
    assert probe["termination_grace_period_seconds"] == "0"  # int64 as protobuf JSON renders it


async def test_defaults_show_in_stored_objects(rest_client):
    body = builders.doc("create")
    template = body["deploy_templates"][0]
    template["replicas"] = 0
    template["containers"][0]["ports"] = [{"name": "global"}]
    await call(rest_client, "create", body)
    data = (await call(rest_client, "query", builders.doc("query")))["data"]
    assert data["deploy_templates"][0]["replicas"] == 1
    assert data["deploy_templates"][0]["containers"][0]["ports"] == [
        {"name": "global", "protocol": "HTTP", "scope": "Local"}]


async def test_secret_map_ref_alias_is_accepted_and_split(rest_client):
    await create_doc(rest_client)
    data = (await call(rest_client, "query", builders.doc("query")))["data"]
    assert data["deploy_templates"][0]["containers"][0]["env_from"] == [
        {"prefix": "xxx", "config_map_ref": {"name": "config-template"}, "secret_ref": None},
        {"prefix": "xxx", "config_map_ref": None, "secret_ref": {"name": "secret-template"}},
    ]


async def test_split_env_from_and_the_image_id_are_reported_as_warning_headers(rest_client):
    response = await rest_client.post(PREFIX + "create", json=builders.doc("create"))
    warnings = response.headers.getall("Warning")
    assert warnings == ['299 - "deploy_templates[0].containers[0].env_from[0]: names both '
                        'configMapRef and secretRef; split into two entries with the same prefix '
                        '(Kubernetes takes one source per entry)"',
                        '299 - "image.id: is not of the form sha256:<64 hex digits>: Kuscia\'s '
                        'agent compares only that form with the local image, so this ID never matches"']


async def test_a_dangling_sub_path_is_a_warning_header(rest_client):
    body = builders.doc("update")
    body["name"] = "fresh"
    body["config_templates"] = {"other.conf": "x"}
    response = await rest_client.post(PREFIX + "create", json=body)
    assert (await response.json())["status"]["code"] == 0
    assert any("sub_path: names no config_templates key" in w for w in response.headers.getall("Warning"))


async def test_lower_camel_case_requests_are_accepted(rest_client):
    body = {"name": "camel", "image": {"name": "app", "tag": "1.0"}, "configTemplates": {"conf": "x"},
            "deployTemplates": [{"name": "t", "restartPolicy": "Never", "containers": [{
                "name": "c", "workingDir": "/w", "imagePullPolicy": "Always",
                "configVolumeMounts": [{"mountPath": "/etc/conf", "subPath": "conf"}],
                "livenessProbe": {"tcpSocket": {"port": "p"}, "periodSeconds": 3},
                "ports": [{"name": "p"}]}]}]}
    assert code(await call(rest_client, "create", body)) == 0
    data = (await call(rest_client, "query", {"name": "camel"}))["data"]
    container = data["deploy_templates"][0]["containers"][0]
    assert container["working_dir"] == "/w"
    assert container["liveness_probe"]["tcp_socket"] == {"port": "p", "host": ""}
    assert data["config_templates"] == {"conf": "x"}


async def test_a_field_given_in_both_spellings_is_refused(rest_client):
    body = builders.doc("create")
    body["configTemplates"] = {}
    answer = await call(rest_client, "create", body)
    assert code(answer) == errors.Code.REQUEST_INVALID
    assert "config_templates: given twice" in answer["status"]["message"]


async def test_unknown_fields_are_refused_naming_the_path(rest_client):
    body = builders.doc("create")
    body["deploy_templates"][0]["containers"][0]["security_context"] = {}
    body["extra"] = 1
    answer = await call(rest_client, "create", body)
    assert code(answer) == errors.Code.REQUEST_INVALID
    message = answer["status"]["message"]
    assert "deploy_templates[0].containers[0].security_context: unknown field" in message
    assert "extra: unknown field" in message


async def test_every_invalid_field_is_named_in_rest_spelling(rest_client):
    body = builders.doc("create")
    container = body["deploy_templates"][0]["containers"][0]
    container["ports"][0]["protocol"] = "TCP"
    container["resources"]["requests"]["cpu"] = "2"
    container["liveness_probe"]["exec"] = {"command": ["x"]}
    body["name"] = "Bad_Name"
    answer = await call(rest_client, "create", body)
    message = answer["status"]["message"]
    assert code(answer) == errors.Code.REQUEST_INVALID
    for field in ("deploy_templates[0].containers[0].ports[0].protocol",
                  "deploy_templates[0].containers[0].resources.requests.cpu",
                  "deploy_templates[0].containers[0].liveness_probe: needs exactly one handler",
                  "name: must be an RFC 1123 label"):
        assert field in message


@pytest.mark.parametrize(("patch", "field"), [
    ({"name": 5}, "name: must be a string"),
    ({"deploy_templates": {}}, "deploy_templates: must be a list"),
    ({"image": "app"}, "image: must be an object"),
    ({"config_templates": {"a": 1}}, "config_templates[a]: must be a string"),
], ids=["name", "templates", "image", "template-value"])
async def test_wrong_types_are_11100_naming_the_field(rest_client, patch, field):
    body = {**builders.doc("create"), **patch}
    answer = await call(rest_client, "create", body)
    assert code(answer) == errors.Code.REQUEST_INVALID
    assert field in answer["status"]["message"]


@pytest.mark.parametrize(("raw", "reason"), [
    (b"{", "body: malformed JSON"),
    (b"[1]", "body: must be a JSON object"),
    (b'{"name": NaN}', "body: malformed JSON"),
], ids=["truncated", "array", "nan"])
async def test_malformed_bodies_are_11100(rest_client, raw, reason):
    response = await rest_client.post(PREFIX + "create", data=raw,
                                      headers={"Content-Type": "application/json"})
    answer = await response.json()
    assert response.status == 200
    assert code(answer) == errors.Code.REQUEST_INVALID
    assert reason in answer["status"]["message"]


async def test_a_number_beyond_int32_is_11100_naming_the_field(rest_client):
    body = builders.doc("create")
    body["deploy_templates"][0]["replicas"] = 2**40
    answer = await call(rest_client, "create", body)
    assert code(answer) == errors.Code.REQUEST_INVALID
    assert "deploy_templates[0].replicas: must be at most 2147483647" in answer["status"]["message"]


async def test_a_number_beyond_int64_is_11100_naming_the_field(rest_client):
    # orjson would read it as a float and drop digits: refused before that can matter.
    body = builders.doc("create")
    body["deploy_templates"][0]["replicas"] = 10**30
    answer = await call(rest_client, "create", body)
    assert code(answer) == errors.Code.REQUEST_INVALID
    assert answer["status"]["message"] == (
        "deploy_templates[0].replicas: number 1e+30 is beyond the int64 range")


async def test_a_wrong_content_type_is_11100(rest_client):
    response = await rest_client.post(PREFIX + "query", data=b'{"name": "x"}',
                                      headers={"Content-Type": "text/xml"})
    answer = await response.json()
    assert code(answer) == errors.Code.REQUEST_INVALID
    assert "Content-Type" in answer["status"]["message"]


async def test_an_empty_body_is_an_empty_request(rest_client):
    response = await rest_client.post(PREFIX + "list")
    assert code(await response.json()) == 0


async def test_a_body_over_the_limit_is_413(rest_client, body_limit):
    body = builders.doc("create")
    body["config_templates"]["big"] = builders.oversized(body_limit)
    response = await rest_client.post(PREFIX + "create", json=body)
    assert response.status == 413
    assert code(await call(rest_client, "query", builders.doc("query"))) == errors.Code.NOT_EXISTS


async def test_unknown_paths_are_404_and_other_methods_405(rest_client):
    assert (await rest_client.post(PREFIX + "nope", json={})).status == 404
    assert (await rest_client.get(PREFIX + "query")).status == 405


async def test_a_rejected_update_changes_nothing_stored(rest_client):
    await create_doc(rest_client)
    before = await call(rest_client, "query", builders.doc("query"))
    body = builders.doc("update")
    body["deploy_templates"][0]["restart_policy"] = "Sometimes"
    answer = await call(rest_client, "update", body)
    assert code(answer) == errors.Code.REQUEST_INVALID
    assert await call(rest_client, "query", builders.doc("query")) == before


async def test_racing_updates_all_land_and_the_last_state_is_one_of_them(rest_client):
    await create_doc(rest_client)
    tags = [f"v{i}" for i in range(12)]
    answers = await asyncio.gather(*(
        call(rest_client, "update", {"name": "appimage-template", "image": {"name": "app", "tag": t}})
        for t in tags))
    assert [code(a) for a in answers] == [0] * len(tags)
    final = (await call(rest_client, "query", builders.doc("query")))["data"]["image"]["tag"]
    assert final in tags


@pytest.fixture
async def token_client(routes_client, store):
    return await routes_client(endpoints.routes(api.AppImages(store, podspec.checker()),
                                           figures=metrics.Metrics(), token="s3cret",
                                           body_limit=64 * 1024, timeout=5.0))


@pytest.mark.parametrize("headers", [{}, {"Token": "wrong"}, {"Token": "S3CRET"}],
                         ids=["missing", "wrong", "other-case"])
async def test_a_missing_or_wrong_token_is_401_with_11102(token_client, headers):
    response = await token_client.post(PREFIX + "list", json={}, headers=headers)
    assert response.status == 401
    assert code(await response.json()) == errors.Code.AUTH_FAILED


async def test_the_right_token_is_let_through(token_client):
    response = await token_client.post(PREFIX + "list", json={}, headers={"Token": "s3cret"})
    assert response.status == 200
    assert code(await response.json()) == 0


class FailingStore:
    """Faults a real SQLite file cannot produce on demand: a hang and a bug."""

    def __init__(self, real, fault):
        self.real, self.fault = real, fault

    def __getattr__(self, name):
        return getattr(self.real, name)

    async def get(self, name):
        if self.fault == "hang":
            await asyncio.sleep(3600)
        raise KeyError("bug")


@pytest.mark.parametrize(("fault", "message"), [
    ("hang", "longer than 0.2 s"),
    ("bug", "unexpected server error"),
])
async def test_a_hang_or_a_bug_is_11101_never_500(routes_client, store, fault, message):
    appimages = api.AppImages(FailingStore(store, fault), podspec.checker())
    client = await routes_client(endpoints.routes(appimages, figures=metrics.Metrics(), token=None,
                                                  body_limit=1 << 16, timeout=0.2))
    answer = await call(client, "query", {"name": "x"})
    assert code(answer) == errors.Code.UNEXPECTED
    assert message in answer["status"]["message"]


async def test_requests_are_counted_per_endpoint_and_code(routes_client, store):
    m = metrics.Metrics()
    client = await routes_client(endpoints.routes(api.AppImages(store, podspec.checker()), figures=m,
                                             token=None, body_limit=1 << 16, timeout=5.0))
    await call(client, "query", {"name": "ghost"})
    exposition = m.exposition().decode()
    assert 'appimage_api_requests_total{code="13105",endpoint="query",http_status="200"} 1.0' in exposition
    assert 'appimage_api_request_duration_seconds_bucket{endpoint="query",le="0.001"}' in exposition


def test_warning_header_is_ascii_and_escaped():
    assert endpoints.warning_header('a "b" ü\n c') == '299 - "a \\"b\\" \\\\xfc c"'


async def test_query_of_a_name_that_cannot_exist_is_not_found_as_kuscia_answers(rest_client):
    answer = await call(rest_client, "query", {"name": "Not_A_Label"})
    assert code(answer) == errors.Code.NOT_EXISTS
    assert "Not_A_Label" in answer["status"]["message"]


async def test_header_custom_headers_are_accepted_and_ignored(rest_client):
    body = copy.deepcopy(builders.doc("query"))
    body["header"] = {"custom_headers": {"x": "y"}}
    assert code(await call(rest_client, "query", body)) == errors.Code.NOT_EXISTS
