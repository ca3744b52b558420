"""templates: config templates as the one ConfigMap Kuscia copies them into."""

from __future__ import annotations

from typing import Any

import pytest

from webhook.core import report
from webhook.core.kuscia import templates

WHERE = ("spec", "configTemplates")


def found_in(config_templates: dict[str, Any]) -> report.Report:
    found = report.Report()
    templates.check(found, config_templates, [])
    return found


@pytest.mark.parametrize("key", ["task-config.conf", "a_b.yaml", ".hidden", "x" * 253])
def test_configmap_keys_are_accepted(key):
    assert found_in({key: "x"}).errors == []


@pytest.mark.parametrize("key", [".", "..", "..data", "a/b", "a b", "x" * 254, "é"],
                         ids=["dot", "dot-dot", "dot-dot-prefix", "slash", "space", "254-chars", "non-ascii"])
def test_a_key_that_is_no_configmap_key_is_refused_at_the_key(key):
    [(path, message)] = found_in({key: "x"}).errors
    assert path == (*WHERE, key)
    assert "(a ConfigMap key)" in message


def test_values_of_one_mebibyte_in_all_fit_the_configmap():
    assert found_in({"a": "x" * (templates.MAX_TOTAL - 2), "b": "é"}).errors == []


def test_values_past_one_mebibyte_in_all_are_refused_counting_utf8_bytes():
    # "é" is two bytes: the values hold MAX_TOTAL + 1 bytes in MAX_TOTAL characters.
    found = found_in({"a": "x" * (templates.MAX_TOTAL - 1), "b": "é"})
    assert found.errors == [(WHERE, "hold 1,048,577 bytes in all; Kuscia copies them into one "
                                    "ConfigMap, which holds at most 1,048,576 (1 MiB)")]
