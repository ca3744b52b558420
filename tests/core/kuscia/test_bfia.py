"""bfia: the component-spec annotation, parsed as Kuscia's BFIA interconnection parses it
(Go's json.Unmarshal into a map of strings)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from webhook.core import report
from webhook.core.kuscia import bfia

PATH = ("metadata", "annotations", bfia.COMPONENT_SPEC)


def found_in(annotation: Any) -> report.Report:
    found = report.Report()
    bfia.check(found, {"annotations": {bfia.COMPONENT_SPEC: annotation}})
    return found


def test_an_object_of_strings_with_numbered_components_is_accepted():
    spec = {"component.1.name": "intersect", "component.2.name": "train", "version": "1"}
    assert found_in(json.dumps(spec)) == report.Report()


def test_no_annotation_is_nothing_to_check():
    found = report.Report()
    bfia.check(found, {"annotations": {"other": "{"}})
    assert found == report.Report()


@pytest.mark.parametrize("text", ["{", "", "NaN", '{"a": NaN}', "{'a': 'b'}"],
                         ids=["truncated", "empty", "nan", "nan-value", "single-quotes"])
def test_text_that_is_no_json_is_refused(text):
    [(path, message)] = found_in(text).errors
    assert path == PATH
    assert message.startswith("must be JSON")


@pytest.mark.parametrize(("text", "named"), [("[]", "list"), ('"x"', "str"), ("1", "int"),
                                             ("null", "NoneType")])
def test_json_that_is_no_object_is_refused(text, named):
    assert found_in(text).errors == [(PATH, f"must be a JSON object of strings, not {named}")]


def test_every_value_that_is_no_string_is_refused_by_its_key():
    found = found_in(json.dumps({"a": 1, "b": "x", "c": {"d": "e"}}))
    assert found.errors == [(PATH, "'a': must be a string, not 1"),
                            (PATH, "'c': must be a string, not {\"d\":\"e\"}")]


def test_components_past_the_first_missing_number_are_a_warning():
    found = found_in(json.dumps({"component.1.name": "a", "component.3.name": "c", "component.4.name": "d"}))
    assert found.errors == []
    assert found.warnings == [(PATH, "Kuscia reads components from component.1.name up to the first "
                                     "number missing (2): 2 more are never read")]
