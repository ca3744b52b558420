"""schemathesis against /openapi.json of the running service (plain HTTP, a token).

Every operation gets requests generated from its schema, schema-valid (positive) and
schema-breaking (negative), with fixed seeds (``derandomize``): CI sends the same
2,100 requests every run; ``FUZZ_SCALE=N`` sends N times as many. Each answer must
not be a 5xx and must conform to the document: a documented status, its content type,
and a body valid against that status' schema (200: the status envelope with a code
this operation documents, 401: code 11102). Positive data that breaks a semantic rule
is still answered 200 with code 11100, so schemathesis' "negative data is rejected
with a 4xx" check does not apply to Kuscia's convention and is left out.
"""

from __future__ import annotations

import collections
import pathlib
import time
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi import checks as openapi_checks

from tests.support import figures, serverproc
from webhook.rest import openapi

# Slow: generated requests against a real server process.
pytestmark = pytest.mark.slow

TOKEN = "fuzz-token-5b2e"
EXAMPLES = {  # per operation and mode; create and update bodies take ~50 ms to generate
    "create": 100, "update": 100, "delete": 170, "query": 170, "batch_query": 170,
    "batchQuery": 170, "list": 170,
}
MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
CHECKS = [
    not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
]
_sent: collections.Counter[str] = collections.Counter()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[serverproc.ServerProcess]:
    work = tmp_path_factory.mktemp("fuzz")
    (work / "token").write_text(TOKEN)
    with serverproc.ServerProcess(work, tls_mode="notls", token_file=work / "token") as running:
        yield running


@pytest.fixture(scope="module")
def schema(server: serverproc.ServerProcess) -> schemathesis.BaseSchema:
    """The document as the server serves it, not as the test imports it."""
    return schemathesis.openapi.from_url(server.rest_url + "/openapi.json")


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
@pytest.mark.parametrize("operation", list(EXAMPLES))
def test_generated_requests_get_documented_answers_and_never_a_5xx(
        server: serverproc.ServerProcess, schema: schemathesis.BaseSchema, operation: str,
        mode: schemathesis.GenerationMode, tmp_path: pathlib.Path) -> None:
    endpoint = schema[openapi.PREFIX + operation]["POST"]
    answers: collections.Counter[str] = collections.Counter()
    session = requests.Session()
    limit = EXAMPLES[operation] * figures.scale()

    @given(case=endpoint.as_strategy(generation_mode=mode))
    @settings(max_examples=limit, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                     HealthCheck.data_too_large])
    def fuzz(case: schemathesis.Case) -> None:
        response = case.call(base_url=server.rest_url, session=session,
                             headers={"Token": TOKEN}, timeout=30)
        answers[_label(response)] += 1
        case.validate_response(response, checks=CHECKS)

    started = time.monotonic()
    with session:
        fuzz()
    sent = sum(answers.values())
    _sent[operation] += sent
    total = sum(_sent.values())
    figures.record("schemathesis requests (fixed seeds, zero 5xx, all conforming)", total)
    figures.record(f"schemathesis {operation} {mode.value}",
                   f"{sent} requests in {time.monotonic() - started:.1f} s: {dict(answers)}")
    assert sent >= limit * 0.9, f"only {sent} requests generated: {dict(answers)}"
    assert server.process.poll() is None


def test_a_request_without_the_token_is_401_as_documented(
        server: serverproc.ServerProcess, schema: schemathesis.BaseSchema) -> None:
    endpoint = schema[openapi.PREFIX + "list"]["POST"]
    case = endpoint.Case(body={}, media_type="application/json")
    response = case.call(base_url=server.rest_url, timeout=30)
    assert response.status_code == 401
    case.validate_response(response, checks=CHECKS)


def test_a_body_over_the_limit_is_413_as_documented(
        server: serverproc.ServerProcess, schema: schemathesis.BaseSchema) -> None:
    endpoint = schema[openapi.PREFIX + "create"]["POST"]
    case = endpoint.Case(body={"name": "x" * (5 * 1024 * 1024)}, media_type="application/json")
    response = case.call(base_url=server.rest_url, headers={"Token": TOKEN}, timeout=30)
    assert response.status_code == 413
    case.validate_response(response, checks=CHECKS)


def _label(response: requests.Response | schemathesis.Response) -> str:
    try:
        return f"{response.status_code}/{response.json()['status']['code']}"
    except (ValueError, KeyError, TypeError):
        return str(response.status_code)
