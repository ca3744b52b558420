"""The AppImage patterns Kuscia's own manifests use, one fixture each
(``webhook/rest/examples/manifests``, written here): every one is accepted as it is by
``validate``, both admission webhooks and, where the proto can carry it, REST create.
``tests/e2e/test_kuscia_patterns.py`` stores them in a real API server."""

from __future__ import annotations

import base64
import copy
import io
import json
from typing import Any

import jsonpatch
import pytest

from tests.support import builders
from tests.support.patterns import IDS, PATTERNS, manifest
from tests.support.reviews import post
from webhook.app import validate
from webhook.core import defaulting, model, validation


def representable(obj: dict[str, Any]) -> bool:
    """Whether the REST shape carries all of it (no custom-resource-only field)."""
    defaulted, _ = defaulting.default(obj)
    return model.to_cr(model.to_rest(defaulted))["spec"] == defaulted["spec"]


def test_there_is_a_fixture_for_each_pattern_of_kuscias_manifests():
    assert set(IDS) == {"affinity", "env-value-from", "fixed-ports", "metric-probe",
                        "network-policy", "placeholders", "privileged", "roles"}


@pytest.mark.parametrize("path", PATTERNS, ids=IDS)
def test_each_pattern_is_valid_without_a_warning(path):
    report = validation.validate(defaulting.default(manifest(path))[0])
    assert (report.errors, report.warnings) == ([], [])


@pytest.mark.parametrize("path", PATTERNS, ids=IDS)
def test_each_pattern_passes_the_validate_command(path):
    out = io.StringIO()
    assert validate.files([str(path)], out) == 0, out.getvalue()


@pytest.mark.parametrize("path", PATTERNS, ids=IDS)
async def test_each_pattern_is_admitted_by_both_webhooks_with_only_defaults_patched(
        webhook_client, path):
    obj = manifest(path)
    mutated = await post(webhook_client, "/mutate", builders.review(obj))
    assert mutated["allowed"] is True
    ops = json.loads(base64.b64decode(mutated["patch"])) if "patch" in mutated else []
    assert {op["op"] for op in ops} <= {"add"}
    patched = jsonpatch.apply_patch(copy.deepcopy(obj), ops)
    validated = await post(webhook_client, "/validate", builders.review(patched))
    assert validated == {"uid": validated["uid"], "allowed": True}


@pytest.mark.parametrize("path", [p for p in PATTERNS if representable(manifest(p))],
                         ids=[p.stem for p in PATTERNS if representable(manifest(p))])
async def test_a_pattern_the_proto_can_carry_is_created_over_rest_and_answered_as_applied(
        rest_client, path):
    defaulted, _ = defaulting.default(manifest(path))
    body = model.to_rest(defaulted)
    created = await (await rest_client.post("/api/v1/appimage/create", json=body)).json()
    assert created["status"]["code"] == 0, created
    queried = await (await rest_client.post("/api/v1/appimage/query",
                                            json={"name": body["name"]})).json()
    assert queried["data"] == body


def test_patterns_with_kuscia_only_fields_are_the_ones_rest_cannot_carry():
    assert [p.stem for p in PATTERNS if not representable(manifest(p))] == [
        "affinity", "env-value-from", "fixed-ports", "metric-probe", "network-policy", "privileged"]


@pytest.mark.parametrize("path", PATTERNS, ids=IDS)
def test_rest_shows_what_the_proto_can_carry_of_each_pattern(path):
    defaulted, _ = defaulting.default(manifest(path))
    answer = model.to_rest(defaulted)
    text = json.dumps(answer)
    for cr_only in ("networkPolicy", "network_policy", "affinity", "security_context",
                    "metric_probe", "value_from"):
        assert cr_only not in text
