"""The formats in JSON Schema (``formats.SCHEMAS``, ``formats.integer_text``) say what the
checks say, in the server's engine (jsonschema-rs) and in the reference (jsonschema).

The REST schema states the formats with these fragments and the REST validator runs them
before the checks: a fragment stricter than its check would refuse what the server
accepts; a looser one would let a client, or a generator of requests, send what it
refuses. A bare ``$`` would let ``"name\\n"`` through the reference engine, which reads a
pattern with Python's ``re.search``.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webhook.core import formats

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
EMPTY_IS_UNSET = frozenset({"env-prefix", "sub-path", "quantity"})
"""Formats of optional fields, where "" is proto3's unset and no check runs."""

EDGES = ["", " ", "\n", "a\n", "\na", "a", "A", "0", "a-", "-a", "a--b", "a-b", "a.b", "a_b",
         "a" * 15, "a" * 16, "a" * 63, "a" * 64, "a" * 254, ".", "..", "...", "a/b", "/a",
         "a/../b", "a/..", "../a", "a/..b", "..\n", "a=b", "=", "é", "日本", "tag\u00b2", "a\u0300",
         "1", "-0", "-0.0", "-1", "+1", "1.", ".5", "1e3", "1E", "1Ei", "1Ki", "100m", "1e99999999",
         "registry:5000/team/app", "Registry.io/app", "app:tag", "app@sha256:0", "[::1]:5000/a",
         "x-Header_1", "bad header", "name\n"]


def accepted(schema: dict[str, Any], value: Any) -> tuple[bool, bool]:
    """``value`` against ``schema`` in jsonschema-rs and in jsonschema."""
    return (jsonschema_rs.is_valid(schema, value),
            jsonschema.Draft202012Validator(schema).is_valid(value))


def check_accepts(fmt: str, value: str) -> bool:
    if value == "" and fmt in EMPTY_IS_UNSET:
        return True
    return formats.CHECKS[fmt](value) is None


def values_of(fmt: str) -> st.SearchStrategy[str]:
    """Values near the format (its own pattern's) and far from it, and the edge cases."""
    return st.one_of(st.from_regex(formats.SCHEMAS[fmt]["pattern"], alphabet=st.characters(codec="utf-8")),
                     st.text(max_size=20),
                     st.text(alphabet="az09-._/=:@[]\n+eEKi", max_size=12), st.sampled_from(EDGES))


def test_every_format_has_a_check_and_a_schema() -> None:
    assert set(formats.SCHEMAS) == set(formats.CHECKS)


@pytest.mark.parametrize("fmt", sorted(set(formats.SCHEMAS) - {"image-name", "quantity"}))
@PROPERTY
@given(data=st.data())
def test_schema_accepts_exactly_what_the_check_accepts(fmt: str, data: st.DataObject) -> None:
    value = data.draw(values_of(fmt))
    expected = check_accepts(fmt, value)
    assert accepted({"type": "string", **formats.SCHEMAS[fmt]}, value) == (expected, expected)


# Where no pattern says the check's rule alike in every engine, the schema says less
# (and unstated.RULES names the rest): it never refuses what the check accepts.
SAYS_LESS = {
    "image-name": (r".{0,237}", "the length once docker.io/library/ is added"),
    "quantity": (r"(?!.*[eE][+-]?[0-9]{6}).*", "exponents past the server's arithmetic"),
}


@pytest.mark.parametrize("fmt", sorted(SAYS_LESS))
@PROPERTY
@given(data=st.data())
def test_schema_says_less_only_where_no_pattern_can(fmt: str, data: st.DataObject) -> None:
    value = data.draw(values_of(fmt))
    stated, _ = SAYS_LESS[fmt]
    schema = {"type": "string", **formats.SCHEMAS[fmt]}
    rust, reference = accepted(schema, value)
    assert rust == reference
    if check_accepts(fmt, value):
        assert rust
    elif re.fullmatch(stated, value, re.DOTALL):
        assert not rust


BOUNDS = [(0, 2**31 - 1, 10, True), (1, 65535, 10, True), (0, 1, 10, True),
          (0, 10**18 - 1, 18, False), (0, 10**30, 18, False), (3, 7, 2, False), (123, 4567, 5, True)]


@pytest.mark.parametrize(("minimum", "maximum", "digits", "negative_zero"), BOUNDS,
                         ids=[f"{b[0]}-{b[1]}" for b in BOUNDS])
@PROPERTY
@given(data=st.data())
def test_integer_text_is_the_integer_in_range_of_at_most_so_many_digits(
        minimum: int, maximum: int, digits: int, negative_zero: bool, data: st.DataObject) -> None:
    pattern = formats.integer_text(minimum, maximum, digits, negative_zero=negative_zero)
    number = st.integers(0, min(maximum, 10**digits) * 2).map(str)
    value = data.draw(st.one_of(number, number.map(lambda n: n.zfill(digits)),
                                number.map(lambda n: "0" + n), number.map(lambda n: "-" + n),
                                st.from_regex(r"\A-?0{1,12}\Z"), st.text(alphabet="0123456789-\n")))
    sign = "-?" if negative_zero else ""
    expected = bool(re.fullmatch(f"{sign}[0-9]{{1,{digits}}}", value)) and (
        minimum <= int(value) <= maximum)
    assert accepted({"type": "string", "pattern": pattern}, value) == (expected, expected)


def test_a_bare_dollar_is_fooled_by_a_trailing_newline_in_the_reference_engine() -> None:
    # Why formats.full_match ends in (?!\n)$: the pitfall it avoids, as both engines show it.
    assert accepted({"type": "string", "pattern": "^[a-z]+$"}, "name\n") == (False, True)
    assert accepted({"type": "string", "pattern": formats.full_match("[a-z]+")}, "name\n") == (
        False, False)


# Formats without a maxLength take texts as long as a body: their patterns must not need
# jsonschema-rs's backtracking engine (a lookaround does), which gives up past 10**6
# characters.
MILLIONS = 2_000_000
LONG = {"header-name": "a" * MILLIONS, "env-name": "a" * MILLIONS, "env-prefix": "a" * MILLIONS,
        "sub-path": "a/" * MILLIONS, "quantity": "0." + "1" * MILLIONS}  # 10**MILLIONS: too large


def test_every_format_of_unbounded_length_is_tried_long() -> None:
    unbounded = {f for f, schema in formats.SCHEMAS.items() if "maxLength" not in schema}
    assert unbounded == set(LONG)


@pytest.mark.parametrize("fmt", sorted(LONG))
def test_a_value_of_millions_of_characters_is_judged_as_a_short_one(fmt: str) -> None:
    value = LONG[fmt]
    assert check_accepts(fmt, value)
    assert accepted({"type": "string", **formats.SCHEMAS[fmt]}, value) == (True, True)
