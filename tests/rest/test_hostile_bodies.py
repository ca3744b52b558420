"""Hostile bodies against the real process: each gets a clear refusal, and the server
keeps serving.

On the REST listener a refusal is HTTP 200 with Kuscia code 11100 naming the problem
(every answer that carries a status is HTTP 200 there), or 413 for a body over the
limit; on the webhook listener an unreadable review is HTTP 400 (413 over the limit).
After every case the same server must answer a normal request and /readyz.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import builders, figures, serverproc
from webhook.core import bodies, errors, formats

# Slow: megabyte bodies against a real server process.
pytestmark = pytest.mark.slow

API = "/api/v1/appimage/"
TIMEOUT = 60.0
MB = 1_000_000


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def splice(document: dict[str, Any], marker: str, raw: str) -> bytes:
    """``document`` as JSON with the string ``marker`` replaced by raw JSON text."""
    return json.dumps(document).replace(json.dumps(marker), raw).encode()


_answers: list[float] = []


def _tried(took: float) -> None:
    _answers.append(took)
    figures.record("hostile bodies refused with a clear message, server still serving",
                   f"{len(_answers)} (slowest answer {max(_answers):.2f} s)")


def send(url: str, path: str, raw: bytes) -> tuple[int, bytes, float]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    started = time.monotonic()
    try:
        conn.request("POST", path, body=raw, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read(), time.monotonic() - started
    finally:
        conn.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[serverproc.ServerProcess]:
    with serverproc.ServerProcess(tmp_path_factory.mktemp("hostile"), tls_mode="notls") as running:
        yield running


@pytest.fixture(autouse=True)
def still_serving(server: serverproc.ServerProcess) -> Iterator[None]:
    yield
    assert server.process.poll() is None, server.stderr()[-3000:]
    status, body, _ = send(server.rest_url, API + "list", b"{}")
    assert (status, json.loads(body)["status"]["code"]) == (200, 0)
    assert server.readyz() == 200


BIG_NAME = "s" * (3 * MB)  # under the 4 MiB REST limit
REST_CASES = [
    pytest.param(nested(10_000).encode(), f"body: nested deeper than {bodies.MAX_DEPTH} levels",
                 id="10000-deep-arrays"),
    pytest.param(splice(builders.doc("create", name="deep"), "deep", nested(1000)),
                 f"body: nested deeper than {bodies.MAX_DEPTH} levels", id="1000-deep-in-a-field"),
    pytest.param(splice(builders.doc("create", extra="x"), "x", nested(900)),
                 f"body: nested deeper than {bodies.MAX_DEPTH} levels", id="900-deep-unknown-field"),
    pytest.param(b'{"name": "\xff\xfeappimage"}', "body: not valid UTF-8: byte 0xff at offset 10",
                 id="invalid-utf8"),
    pytest.param(b'{"name": "\\ud800"}', "body: malformed JSON", id="lone-surrogate"),
    pytest.param(b'{"name": "a", "name": "b"}', 'body: key "name" given twice in one object',
                 id="duplicate-keys"),
    pytest.param(json.dumps(builders.doc("create")).encode().replace(
        b'"replicas": 1', b'"replicas": 123456789012345678901234567890'),
                 "deploy_templates[0].replicas: number 1.23457e+29 is beyond the int64 range",
                 id="beyond-int64"),
    pytest.param(b'{"page_size": 18446744073709551616}',
                 "page_size: number 1.84467e+19 is beyond the int64 range", id="beyond-uint64"),
    pytest.param(b'{"name": NaN}', "body: malformed JSON", id="nan"),
    pytest.param(b'{"name": Infinity}', "body: malformed JSON", id="infinity"),
    pytest.param(b'{"page_size": 1e999}', "body: malformed JSON", id="overflowing-float"),
    pytest.param(json.dumps(builders.doc("create", name=BIG_NAME)).encode(),
                 "name: must be at most 63 characters", id="3MB-name"),
    pytest.param(json.dumps(builders.doc("create", config_templates={BIG_NAME: "x"})).encode(),
                 "config_templates[ssss", id="3MB-map-key"),
]


@pytest.mark.parametrize(("raw", "message"), REST_CASES)
def test_rest_refuses_hostile_bodies_with_11100_and_a_clear_message(
        server: serverproc.ServerProcess, raw: bytes, message: str) -> None:
    status, body, took = send(server.rest_url, API + "create", raw)
    assert status == 200
    answer = json.loads(body)
    assert answer["status"]["code"] == errors.Code.REQUEST_INVALID
    assert answer["status"]["message"].startswith(message), answer["status"]["message"][:300]
    assert len(answer["status"]["message"]) < 4000  # no value is echoed whole
    _tried(took)


def test_rest_refuses_a_10mb_string_with_413(server: serverproc.ServerProcess) -> None:
    status, body, took = send(server.rest_url, API + "create",
                              json.dumps(builders.doc("create", name="x" * (10 * MB))).encode())
    _tried(took)
    assert status == 413
    assert "Maximum request body size" in json.loads(body)["message"]


def test_a_huge_value_in_a_warning_does_not_break_the_answer_headers(
        server: serverproc.ServerProcess) -> None:
    # A sub_path naming no config template is a warning quoting it: a 3 MB one made a
    # 3 MB Warning header that clients refuse to read (http.client: LineTooLong).
    body = builders.doc("create", name="huge-warning")
    body["deploy_templates"][0]["containers"][0]["config_volume_mounts"][0]["sub_path"] = BIG_NAME
    host, port = server.rest_url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    try:
        conn.request("POST", API + "create", body=json.dumps(body),
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        answer = json.loads(response.read())
        warnings = response.headers.get_all("Warning") or []
    finally:
        conn.close()
    assert answer["status"]["code"] == 0
    assert any("names no config_templates key" in w for w in warnings)
    assert max(len(w) for w in warnings) < 2000


def test_a_hundred_thousand_bad_keys_are_counted_not_all_listed(
        server: serverproc.ServerProcess) -> None:
    keys = {f"bad key {i}": "" for i in range(100_000)}
    sent = builders.doc("create", name="many-keys", config_templates=keys)
    status, body, _ = send(server.rest_url, API + "create", json.dumps(sent).encode())
    message = json.loads(body)["status"]["message"]
    assert status == 200
    assert message.endswith(f"; and {100_000 - errors.MAX_LISTED} more")
    assert message.count("config_templates[") == errors.MAX_LISTED


def memoized_values() -> int:
    """How many values the memos of the format checks hold, all together."""
    return sum(len(cache) for cache in formats._caches)


def test_long_values_are_not_kept_by_the_format_memos() -> None:
    before = memoized_values()
    for i in range(10):
        assert formats.dns_label(f"{i}" + "x" * MB)
    assert memoized_values() == before


WEBHOOK_CASES = [
    pytest.param(nested(10_000).encode(), f"body: nested deeper than {bodies.MAX_DEPTH} levels",
                 id="10000-deep-arrays"),
    pytest.param(splice(builders.review(builders.appimage("hostile", extra="x")), "x", nested(900)),
                 f"body: nested deeper than {bodies.MAX_DEPTH} levels", id="900-deep-in-the-object"),
    pytest.param(splice(builders.review(builders.appimage("hostile", extra="x")), "x", nested(300)),
                 f"body: nested deeper than {bodies.MAX_DEPTH} levels", id="300-deep-in-the-object"),
    pytest.param(b'{"apiVersion": "\xc3\x28"}', "body: not valid UTF-8", id="invalid-utf8"),
    pytest.param(b'{"apiVersion": NaN}', "body: malformed JSON", id="nan"),
]


@pytest.mark.parametrize("path", ["/mutate", "/validate"])
@pytest.mark.parametrize(("raw", "message"), WEBHOOK_CASES)
def test_webhook_refuses_hostile_bodies_with_400_and_a_clear_message(
        server: serverproc.ServerProcess, path: str, raw: bytes, message: str) -> None:
    status, body, took = send(server.webhook_url, path, raw)
    assert (status, body.decode()[:len(message)]) == (400, message)
    _tried(took)


@pytest.mark.parametrize("path", ["/mutate", "/validate"])
def test_webhook_refuses_a_10mb_review_with_413(server: serverproc.ServerProcess,
                                                path: str) -> None:
    review = builders.review(builders.appimage("hostile", extra="x" * (10 * MB)))
    status, body, _ = send(server.webhook_url, path, json.dumps(review).encode())
    assert status == 413
    assert b"Maximum request body size" in body


@pytest.mark.parametrize("path", ["/mutate", "/validate"])
def test_webhook_answers_a_review_nested_just_within_the_limit(
        server: serverproc.ServerProcess, path: str) -> None:
    # About 250 levels in all: deep enough for recursion to matter (defaulting copies it,
    # the patch diff compares it), shallow enough to be answered.
    obj = builders.appimage("hostile")
    obj["spec"]["deployTemplates"][0]["spec"]["containers"][0]["envFrom"] = [
        {"prefix": "P_", "configMapRef": {"name": "a"}, "secretRef": {"name": "b"}, "deep": "x"}]
    raw = splice(builders.review(obj, uid="hostile-uid"), "x", nested(240))
    status, body, _ = send(server.webhook_url, path, raw)
    assert status == 200, body[:300]
    response = json.loads(body)["response"]
    assert response["uid"] == "hostile-uid"
    if path == "/validate":
        assert response["allowed"] is False
        assert "deep: unknown field" in response["status"]["message"]
    else:  # the split envFrom carries the deep value into the patch
        assert response["patchType"] == "JSONPatch"


def test_rest_answers_a_body_nested_just_within_the_limit(server: serverproc.ServerProcess) -> None:
    status, body, _ = send(server.rest_url, API + "create",
                           splice(builders.doc("create", extra="x"), "x", nested(250)))
    assert status == 200
    assert json.loads(body)["status"]["message"] == "extra: unknown field"


def test_webhook_judges_a_number_beyond_int64_as_a_value_of_the_object(
        server: serverproc.ServerProcess) -> None:
    # The API server parsed and stored that number already: a denial naming the field
    # (not an unreadable review) is what the user should see.
    obj = builders.appimage("hostile")
    obj["spec"]["deployTemplates"][0]["replicas"] = "x"
    raw = splice(builders.review(obj), "x", "99999999999999999999")
    status, body, _ = send(server.webhook_url, "/validate", raw)
    assert status == 200
    response = json.loads(body)["response"]
    assert response["allowed"] is False
    assert "spec.deployTemplates[0].replicas: must be at most 2147483647" in response["status"][
        "message"]


def test_webhook_reads_duplicate_keys_as_the_last_one_as_documented(
        server: serverproc.ServerProcess) -> None:
    # The API server never sends duplicates; the webhook spares the check's cost and
    # reads the last value, as Go's encoding/json would.
    review = builders.review(builders.appimage("hostile"), uid="hostile-uid")
    raw = json.dumps(review).replace('"uid": "hostile-uid"', '"uid": "first", "uid": "last"').encode()
    status, body, _ = send(server.webhook_url, "/mutate", raw)
    assert status == 200
    assert json.loads(body)["response"]["uid"] == "last"


def test_webhook_denies_many_errors_listing_the_first_hundred(
        server: serverproc.ServerProcess) -> None:
    obj = builders.appimage("hostile", configTemplates={f"bad key {i}": "" for i in range(5000)})
    status, body, _ = send(server.webhook_url, "/validate", json.dumps(builders.review(obj)).encode())
    assert status == 200
    response = json.loads(body)["response"]
    assert response["allowed"] is False
    assert len(response["status"]["details"]["causes"]) == errors.MAX_LISTED
    assert response["status"]["message"].endswith(f"; and {5000 - errors.MAX_LISTED} more")
    status, body, _ = send(server.webhook_url, "/mutate", json.dumps(builders.review(obj)).encode())
    assert status == 200
    assert json.loads(body)["response"]["allowed"] is True
