"""Requests generated from the served /openapi.json are created, or break a rule it names.

The document is fetched from the REST routes as a client would, and schemathesis draws
create bodies that its schema allows (positive data, fixed seeds: the same bodies every
run). schemathesis rather than hypothesis-jsonschema: the latter breaks with the
hypothesis this project pins and took ~80 s per 100 documents (FACTS.md); schemathesis
draws these 100 in ~10 s, and checks its drawn strings with jsonschema-rs, the server's
engine.

JSON Schema cannot say that names are unique within a list (containers of a template,
ports of a pod, mount paths of a container, roles across templates): the document says
so in ``x-rules`` with ``unique_within``, and a client honours that by itself. So each
body is sent as drawn, and again with those rules honoured when it broke one; four in
five of the latter must be created. Every refusal of either must be a rule the
document's ``x-rules`` name (``webhook.unstated``), told apart here by path and wording:
a refusal the document does not explain fails the test.
"""

from __future__ import annotations

import collections
import copy
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from aiohttp import test_utils
from hypothesis import HealthCheck, Phase, given, settings

from tests.support import figures
from webhook.core import errors, formats
from webhook.ops import settings as server_settings
from webhook.rest import openapi

EXAMPLES = 100
CREATED_AT_LEAST = 0.8
Body = Any

# How the server words each rule the document names (x-rules ids), to tell refusals apart.
Matcher = Callable[[str, Body], bool]
MATCHERS: dict[str, Matcher] = {
    "unique-container-names": lambda message, _: message.startswith("duplicate container name"),
    "unique-port-names": lambda message, _: message.startswith("duplicate port name"),
    "unique-mount-paths": lambda message, _: message.startswith("duplicate mountPath"),
    "one-template-per-role": lambda message, _: bool(re.match(r"role .* is also served by", message)),
    "request-within-limit": lambda message, _: bool(re.match(r"request .* exceeds the limit", message)),
    "quantity-in-range": lambda message, _: "out of range for a Kubernetes quantity" in message,
    "config-template-renders": lambda message, _: bool(re.match(r"line \d+, column \d+: ", message)),
    "image-name-as-pulled": lambda message, _: message.startswith(
        f"must be at most {formats.IMAGE_NAME_MAX} characters as runtimes spell it"),
    "pod-spec": lambda message, _: bool(re.match(r"as a Kubernetes \S+ PodSpec, ", message)),
}


@pytest.fixture
def body_limit() -> int:
    """The server's own limit: drawn bodies run past the 64 KiB of the other REST tests."""
    return server_settings.DEFAULT_REST_BODY_LIMIT


async def served_document(client: test_utils.TestClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status == 200
    document: dict[str, Any] = await response.json()
    return document


_drawn: dict[str, list[Body]] = {}


def drawn_bodies(document: dict[str, Any]) -> list[Body]:
    """``EXAMPLES`` create bodies schemathesis draws from ``document`` (once per document)."""
    key = json.dumps(document, sort_keys=True)
    if key not in _drawn:
        endpoint = schemathesis.openapi.from_dict(document)[openapi.PREFIX + "create"]["POST"]
        bodies: list[Body] = []

        @given(case=endpoint.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE))
        @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                  phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                         HealthCheck.data_too_large])
        def draw(case: schemathesis.Case) -> None:
            bodies.append(case.body)

        draw()
        _drawn[key] = bodies
    return _drawn[key]


def rules_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = document["components"]["schemas"]["CreateAppImageRequest"]["x-rules"]
    return rules


# --- The document's unique_within rules, honoured as a client would ----------------------


def _slots(node: Any, path: str) -> Iterator[tuple[Any, Any]]:
    """(container, key) of every value at ``path`` ("a[].b") under ``node``."""
    head, _, rest = path.partition(".")
    name, each = head.removesuffix("[]"), head.endswith("[]")
    if not isinstance(node, dict) or name not in node:
        return
    if not each:
        yield from _slots(node[name], rest) if rest else [(node, name)]
        return
    items = node[name]
    keys = range(len(items)) if isinstance(items, list) else list(items) if isinstance(items, dict) else []
    for key in keys:
        yield from _slots(items[key], rest) if rest else [(items, key)]


def _scopes(body: Body, scope: str) -> Iterator[Any]:
    if not scope:
        yield body
    else:
        yield from (container[key] for container, key in _slots(body, scope))


def honour_unique_rules(body: Body, rules: list[dict[str, Any]]) -> Body:
    """``body`` with every value the ``unique_within`` rules find repeated replaced by a
    fresh one ("u1", "u2"…: a DNS label, a port name, a path and a role alike)."""
    body = copy.deepcopy(body)
    fresh = (f"u{n}" for n in range(1, 10**6))
    for rule in rules:
        if "unique_within" not in rule:
            continue
        scope = rule["unique_within"]
        for node in _scopes(body, scope):
            seen: set[str] = set()
            for path in rule["paths"]:
                relative = path.removeprefix(scope).removeprefix(".")
                for container, key in _slots(node, relative):
                    value = container[key]
                    if not isinstance(value, str) or not value:
                        continue
                    separator = rule.get("separator")
                    parts = value.strip(separator).split(separator) if separator else [value]
                    if seen.intersection(parts):
                        container[key] = next(fresh)
                        parts = [container[key]]
                    seen.update(parts)
    return body


# --- Sending, and telling refusals apart --------------------------------------------------


@dataclass
class Tally:
    """What the server answered to the drawn bodies."""

    created_as_drawn: int = 0
    created_with_unique_rules: int = 0
    refusals: collections.Counter[str] = field(default_factory=collections.Counter)
    unexplained: list[str] = field(default_factory=list)


_PROBLEM = re.compile(r"(?:^|; )([a-z_]+(?:\[[^\]]*\])*(?:\.[a-z_]+(?:\[[^\]]*\])*)*): ")


def problems(message: str) -> list[tuple[str, str]]:
    """A refusal's "path: message; path: message" as (path, message) pairs."""
    starts = list(_PROBLEM.finditer(message))
    return [(m.group(1), message[m.end(): starts[i + 1].start() if i + 1 < len(starts) else None])
            for i, m in enumerate(starts)]


def explain(path: str, message: str, body: Body, rules: list[dict[str, Any]]) -> str | None:
    """The id of the document's rule this refusal is, if any."""
    general = re.sub(r"\[[^\]]*\]", "[]", path)
    for rule in rules:
        at = any(general == p or general.startswith((p + ".", p + "[")) for p in rule["paths"])
        matches = MATCHERS.get(rule["id"])
        if rule["severity"] == "error" and at and matches is not None and matches(message, body):
            return str(rule["id"])
    return None


async def create(client: test_utils.TestClient, body: Body, rules: list[dict[str, Any]],
                 tally: Tally) -> bool:
    """Send ``body``; a created AppImage is deleted again, so the next body may reuse its
    name. Refusals are explained into ``tally``."""
    response = await client.post(openapi.PREFIX + "create", json=body)
    assert response.status == 200, await response.text()
    status = (await response.json())["status"]
    if status["code"] == errors.Code.SUCCESS:
        deleted = await client.post(openapi.PREFIX + "delete", json={"name": body["name"]})
        assert (await deleted.json())["status"]["code"] == errors.Code.SUCCESS
        return True
    found = problems(status["message"]) if status["code"] == errors.Code.REQUEST_INVALID else []
    for path, message in found or [("", f"code {status['code']}: {status['message']}")]:
        rule = explain(path, message, body, rules)
        if rule is None:
            tally.unexplained.append(f"{path}: {message[:200]}")
        else:
            tally.refusals[rule] += 1
    return False


async def send_all(client: test_utils.TestClient) -> Tally:
    document = await served_document(client)
    rules = rules_of(document)
    tally = Tally()
    for body in drawn_bodies(document):
        honoured = honour_unique_rules(body, rules)
        created = await create(client, body, rules, tally)
        tally.created_as_drawn += created
        if not created and honoured != body:
            created = await create(client, honoured, rules, tally)
        tally.created_with_unique_rules += created
    figures.record("openapi positives created (as drawn / unique rules honoured)",
                   f"{tally.created_as_drawn} / {tally.created_with_unique_rules} of {EXAMPLES}; "
                   f"refusals by rule: {dict(tally.refusals)}")
    return tally


def test_the_rules_refusals_are_told_apart_by_are_named_in_the_document() -> None:
    rules = rules_of(openapi.document())
    assert set(MATCHERS) <= {r["id"] for r in rules if r["severity"] == "error"}


@pytest.mark.slow
async def test_four_in_five_requests_drawn_from_the_served_document_are_created(rest_client):
    tally = await send_all(rest_client)
    assert tally.created_with_unique_rules >= CREATED_AT_LEAST * EXAMPLES, tally


@pytest.mark.slow
async def test_every_refusal_of_a_drawn_request_is_a_rule_the_document_names(rest_client):
    tally = await send_all(rest_client)
    assert tally.unexplained == []
