"""Defaulting (SPEC §3, §4): replicas 1, protocol HTTP, scope Local, envFrom split."""

from __future__ import annotations

import copy

from tests.support import builders
from webhook.core import defaulting

CONTAINER = ("spec", "deployTemplates", 0, "spec", "containers", 0)


def bare(**container):
    """An AppImage with nothing defaulted yet, its one container given ``container``."""
    return builders.appimage("a", replicas=None, containers=[builders.container(**container)])


def test_missing_replicas_default_to_one():
    out, _ = defaulting.default(bare())
    assert out["spec"]["deployTemplates"][0]["replicas"] == 1


def test_zero_replicas_on_the_custom_resource_are_kept():
    obj = bare()
    obj["spec"]["deployTemplates"][0]["replicas"] = 0
    out, _ = defaulting.default(obj)
    assert out["spec"]["deployTemplates"][0]["replicas"] == 0


def test_port_protocol_and_scope_default_to_http_and_local():
    out, _ = defaulting.default(bare(ports=[{"name": "a"}, {"name": "b", "protocol": "", "scope": ""}]))
    ports = out["spec"]["deployTemplates"][0]["spec"]["containers"][0]["ports"]
    assert ports == [{"name": "a", "protocol": "HTTP", "scope": "Local"},
                     {"name": "b", "protocol": "HTTP", "scope": "Local"}]


def test_set_protocol_and_scope_are_kept():
    out, _ = defaulting.default(bare(ports=[{"name": "a", "protocol": "GRPC", "scope": "Domain"}]))
    assert out["spec"]["deployTemplates"][0]["spec"]["containers"][0]["ports"][0] == {
        "name": "a", "protocol": "GRPC", "scope": "Domain"}


def test_env_from_with_both_sources_is_split_configmap_first_with_a_warning():
    entry = {"prefix": "xxx", "configMapRef": {"name": "cm"}, "secretRef": {"name": "sec"}}
    out, warnings = defaulting.default(bare(envFrom=[entry]))
    assert out["spec"]["deployTemplates"][0]["spec"]["containers"][0]["envFrom"] == [
        {"prefix": "xxx", "configMapRef": {"name": "cm"}},
        {"prefix": "xxx", "secretRef": {"name": "sec"}},
    ]
    assert [path for path, _ in warnings] == [(*CONTAINER, "envFrom", 0)]


def test_defaulting_never_changes_its_input():
    obj = bare(ports=[{"name": "a"}], envFrom=[{"configMapRef": {"name": "a"}, "secretRef": {"name": "b"}}])
    before = copy.deepcopy(obj)
    defaulting.default(obj)
    assert obj == before


def test_defaulting_is_idempotent():
    once, _ = defaulting.default(bare(ports=[{"name": "a"}]))
    twice, warnings = defaulting.default(once)
    assert twice == once
    assert warnings == []


def test_ill_typed_input_is_left_for_validation():
    obj = bare()
    obj["spec"]["deployTemplates"][0]["spec"]["containers"] = "oops"
    obj["spec"]["deployTemplates"].append("not-a-template")
    out, _ = defaulting.default(obj)
    assert out["spec"]["deployTemplates"][0]["spec"]["containers"] == "oops"
    assert out["spec"]["deployTemplates"][1] == "not-a-template"


def test_edits_say_what_default_sets_and_where():
    edits, _ = defaulting.edits(bare(ports=[{"name": "a", "protocol": "GRPC"}]))
    assert edits == [(("spec", "deployTemplates", 0, "replicas"), 1),
                     ((*CONTAINER, "ports", 0, "scope"), "Local")]


def test_a_complete_object_needs_no_edits():
    once, _ = defaulting.default(bare(ports=[{"name": "a"}]))
    assert defaulting.edits(once) == ([], [])


def test_a_null_field_is_absent_as_the_api_server_prunes_it(appimage):
    appimage["spec"]["image"]["id"] = None
    appimage["spec"]["deployTemplates"][0]["spec"]["containers"][0]["livenessProbe"] = None
    defaulted, _ = defaulting.default(appimage)
    assert "id" not in defaulted["spec"]["image"]
    assert "livenessProbe" not in defaulted["spec"]["deployTemplates"][0]["spec"]["containers"][0]


def test_overlay_reads_as_the_defaulted_object_without_changing_or_copying_the_rest(appimage):
    template = appimage["spec"]["deployTemplates"][0]
    del template["replicas"]
    before = copy.deepcopy(appimage)
    edits, _ = defaulting.edits(appimage)

    view = defaulting.overlay(appimage, edits)

    assert view == defaulting.default(appimage)[0]
    assert appimage == before
    assert view["spec"]["image"] is appimage["spec"]["image"]  # untouched: shared
