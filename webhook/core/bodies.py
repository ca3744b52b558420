"""Strict reading of JSON request bodies, for the REST and the webhook listener.

Pure, no aiohttp. orjson parses, and already refuses invalid UTF-8, lone surrogates,
``NaN``/``Infinity`` and nesting past 1024 levels. On top of that a body is refused,
with a message that says why, when it

* nests deeper than ``MAX_DEPTH`` (254): orjson writes no deeper, so such a value could
  not be answered, and the code that walks JSON (defaulting, the patch diff, Python's
  own ``==``) recurses, which Python stops near 1000 frames. An AdmissionReview of an
  AppImage, managedFields included, is about 25 levels deep. Checked at C speed: only a
  body with more brackets than ``MAX_DEPTH`` is serialized again to see if orjson can;
* (``strict``) holds a number beyond int64: orjson would read ``123456789012345678901``
  as a float and silently drop digits; Kubernetes and protobuf refuse such numbers too;
* (``strict``) names one key twice in an object: a JSON parser keeps the last and drops
  the first without a word, and the REST API drops nothing a user sent (Kuscia's
  protobuf JSON decoder refuses duplicates as well).

The REST API reads strictly. The webhook reads reviews as the API server writes them:
never a duplicate key, and numbers as the API server itself parsed and stored them
(validation then judges them like any value); it skips those checks and their cost,
which on a real review (UIDs are full of digits followed by an "e") would be a walk.
"""
from __future__ import annotations

import json
from typing import Any

import orjson

from webhook.core import paths

MAX_DEPTH = 254
"""Deepest nesting of arrays and objects accepted: what orjson can write back out."""
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# A number orjson may have read past int64: 19 digits in a row, or an exponent. Digits
# inside strings match too; they only cost the walk that then finds nothing. Found by
# mapping digits to "0" and e/E to "e" and searching for "0" * 19 and "0e": the regex
# [0-9]{19}|[0-9][eE] does the same, an order of magnitude slower on a review.
_DIGITS_AND_E = bytes(48 if 48 <= b <= 57 else 101 if b in (69, 101) else 32 for b in range(256))


def _maybe_big(raw: bytes) -> bool:
    mapped = raw.translate(_DIGITS_AND_E)
    return b"0" * 19 in mapped or b"0e" in mapped


class Unreadable(ValueError):
    """The body is not JSON this service reads; the message says why, and ``path``
    where, when that is known (keys and indexes as the body spells them)."""

    def __init__(self, message: str, path: paths.Path = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self) -> str:
        return f"{paths.format_path(self.path)}: {self.message}" if self.path else self.message


def parse(raw: bytes, *, strict: bool) -> Any:
    """The parsed body, or ``Unreadable`` naming the first problem; ``strict`` adds the
    number and duplicate-key checks (the REST API)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise Unreadable(_malformed(raw, e)) from e
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH:
        try:
            orjson.dumps(value)
        except orjson.JSONEncodeError:
            raise Unreadable(f"nested deeper than {MAX_DEPTH} levels") from None
    if strict and _maybe_big(raw):
        _check_numbers(value)
    if strict and raw.count(b":") > 1:  # two keys in one object need two colons
        try:
            json.loads(raw, object_pairs_hook=_no_duplicates)
        except _Duplicate as e:
            raise Unreadable(f"key {json.dumps(e.args[0])} given twice in one object") from None
    return value


def _malformed(raw: bytes, e: orjson.JSONDecodeError) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return (f"not valid UTF-8: byte 0x{raw[bad.start]:02x} at offset {bad.start}")
    if e.msg.startswith("depth limit exceeded"):
        return f"nested deeper than {MAX_DEPTH} levels"
    return f"malformed JSON: {e}"


def _check_numbers(value: Any) -> None:
    # Iterative, and only on bodies within MAX_DEPTH.
    stack: list[tuple[Any, paths.Path]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, dict | list):
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            stack.extend((child, (*path, key)) for key, child in pairs)
        elif isinstance(item, int) and not INT64_MIN <= item <= INT64_MAX:
            raise Unreadable(f"number {item} is beyond the int64 range", path)
        elif isinstance(item, float) and not INT64_MIN < item < INT64_MAX:
            # Also ±2**63 itself: as a float it may be a longer integer, rounded.
            raise Unreadable(f"number {item:g} is beyond the int64 range", path)


class _Duplicate(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> None:
    # Only the check matters: returning None spares building every object twice.
    if len(pairs) > 1:
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Duplicate(key)
            seen.add(key)
