"""Go's text/template builtins (``text/template/funcs.go``) over kinds of values: their signatures
and what each refuses for the kinds it is given, with Go's messages; and the kinds themselves.

Follows Go 1.26. A value is the set of Go types it may have (``ANY``: unknown), a string written
as a literal keeps its text (so ``index "abc" 5`` is known to fail). Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from webhook.core.kuscia.gotemplate import node

# Kinds: the Go types a value may have here (reflect.Type.String()), and the zero reflect.Value.
MAP: Final = "map[string]string"
STRING: Final = "string"
INT: Final = "int"
UINT8: Final = "uint8"
FLOAT: Final = "float64"
COMPLEX: Final = "complex128"
BOOL: Final = "bool"
INVALID: Final = "invalid"
Value = frozenset[str]
ANY: Final[Value] = frozenset({"any"})
# A string whose text is known (written as a literal) is the kind "string=<text>".
_KNOWN: Final = "string="
_KNOWN_INT: Final = "int="  # an int whose value is known: "int=<value>"


def _base(kind: str) -> str:
    if kind.startswith(_KNOWN):
        return STRING
    return INT if kind.startswith(_KNOWN_INT) else kind


def kinds(value: Value) -> Value:
    """The kinds of a value, known strings as strings and known ints as ints."""
    return frozenset(_base(k) for k in value)


def number(value: Value) -> int | None:
    """The value of a value that is one known int."""
    if len(value) == 1:
        (kind,) = value
        if kind.startswith(_KNOWN_INT):
            return int(kind[len(_KNOWN_INT) :])
    return None


def known_int(n: int) -> Value:
    return frozenset({_KNOWN_INT + str(n)})


def text(value: Value) -> str | None:
    """The text of a value that is one known string."""
    if len(value) == 1:
        (kind,) = value
        if kind.startswith(_KNOWN):
            return kind[len(_KNOWN) :]
    return None


def known(text: str) -> Value:
    return frozenset({_KNOWN + text})


# Parameter types of functions: reflect.Value (anything), interface{} (anything), string.
REFLECT: Final = "reflect.Value"
IFACE: Final = "interface {}"


@dataclass(frozen=True, slots=True)
class Signature:
    """A function as exec sees it: its fixed parameters, its ... parameter, its result's kind."""

    params: tuple[str, ...]
    variadic: str | None
    result: Value


STRINGS: Final[frozenset[str]] = frozenset({STRING})
BOOLS: Final[frozenset[str]] = frozenset({BOOL})
BUILTINS: Final[Mapping[str, Signature]] = {
    "and": Signature((REFLECT,), REFLECT, ANY),
    "or": Signature((REFLECT,), REFLECT, ANY),
    "not": Signature((REFLECT,), None, BOOLS),
    "len": Signature((REFLECT,), None, frozenset({INT})),
    "index": Signature((REFLECT,), REFLECT, ANY),
    "slice": Signature((REFLECT,), REFLECT, STRINGS),
    "call": Signature((REFLECT,), REFLECT, ANY),
    "eq": Signature((REFLECT,), REFLECT, BOOLS),
    **{name: Signature((REFLECT, REFLECT), None, BOOLS) for name in ("ne", "lt", "le", "gt", "ge")},
    **{name: Signature((), IFACE, STRINGS) for name in ("html", "js", "urlquery", "print", "println")},
    "printf": Signature((STRING,), IFACE, STRINGS),
}
_BASIC: Final = {
    BOOL: "bool",
    INT: "int",
    UINT8: "uint",
    FLOAT: "float",
    COMPLEX: "complex",
    STRING: "string",
}



def certain(value: Value, fails: Callable[[str], str | None]) -> str | None:
    """The failure of an operation on ``value`` if it fails for every kind, else None."""
    if "any" in value or not value:
        return None
    messages = [fails(kind) for kind in sorted(kinds(value))]
    return messages[0] if all(messages) else None


def index_result(values: list[Value]) -> Value:
    item = kinds(values[0])
    if len(values) == 1 or "any" in item:
        return item
    return frozenset(UINT8 if kind == STRING else STRING for kind in item if kind in (STRING, MAP)) or ANY


def ideal_kind(n: node.NumberNode) -> str | None:
    """The type idealConstant gives a number, None when it overflows int."""
    text = n.text
    hex_int = len(text) > 2 and text[0] == "0" and text[1] in "xX" and not any(c in text for c in "pP")
    if n.is_complex:
        return COMPLEX
    if n.is_float and not hex_int and not text.startswith("'") and any(c in text for c in ".eEpP"):
        return FLOAT
    return INT if n.is_int else None


def refusal(name: str, values: list[Value], args: list[node.Node], cmd: node.Node) -> str | None:
    """What a builtin's own checks refuse for these kinds of arguments (Go's message), if certain."""
    if name == "len":
        return certain(
            values[0],
            lambda k: (
                None
                if k in (MAP, STRING)
                else (
                    "reflect: call of reflect.Value.Type on zero Value"
                    if k == INVALID
                    else f"len of type {k}"
                )
            ),
        )
    if name == "call":
        return certain(
            values[0],
            lambda k: (
                "call of nil" if k == INVALID else f"non-function {args[0] if args else 'it'} of type {k}"
            ),
        )
    if name in ("index", "slice"):
        return _index(name, values)
    if name == "eq":
        if len(values) < 2:
            return "missing argument for comparison"
        written: list[node.Node | None] = [*args, None]
        for i, other in enumerate(values[1:], 1):  # eq stops at the first true comparison
            failure = _compare(values[0], other, ordered=False)
            if failure or not (
                _unequal(values[0], other) or _differ(written[0], written[min(i, len(written) - 1)])
            ):
                return failure
        return None
    if name in ("ne", "lt", "le", "gt", "ge"):
        return _compare(values[0], values[1], ordered=name != "ne")
    return None


def _compare(a: Value, b: Value, *, ordered: bool) -> str | None:
    """eq's and lt's refusal of one pair, when they refuse every pair of kinds the two may have."""
    a, b = kinds(a), kinds(b)
    if "any" in a or "any" in b:
        return None
    refusals = [_compare_kinds(ka, kb, ordered=ordered) for ka in sorted(a) for kb in sorted(b)]
    return refusals[0] if refusals and all(refusals) else None


def _compare_kinds(ka: str, kb: str, *, ordered: bool) -> str | None:
    basic_a, basic_b = _BASIC.get(ka), _BASIC.get(kb)
    if ordered:
        if basic_a is None or basic_b is None:
            return "invalid type for comparison"
        if basic_a != basic_b and {basic_a, basic_b} != {"int", "uint"}:
            return f"incompatible types for comparison: {ka} and {kb}"
        if basic_a in ("bool", "complex"):
            return "invalid type for comparison"
        return None
    if basic_a != basic_b:
        if {basic_a, basic_b} == {"int", "uint"} or INVALID in (ka, kb):
            return None
        return f"incompatible types for comparison: {ka} and {kb}"
    if basic_a is None and ka == kb == MAP:
        return f"non-comparable type map[...]: {MAP}"
    return None


def _differ(a: node.Node | None, b: node.Node | None) -> bool:
    """Whether two literals are certainly unequal."""
    if isinstance(a, node.BoolNode) and isinstance(b, node.BoolNode):
        return a.true != b.true
    if isinstance(a, node.NumberNode) and isinstance(b, node.NumberNode):
        kind = ideal_kind(a)
        if kind == ideal_kind(b) == INT:
            return a.int64 != b.int64
        if kind == ideal_kind(b) == FLOAT:
            return a.float64 != b.float64
        if kind == ideal_kind(b) == COMPLEX:
            return a.complex128 != b.complex128
    return False


def _unequal(a: Value, b: Value) -> bool:
    """Whether eq certainly finds a and b unequal without looking at them: nil against a value."""
    ta, tb = text(a), text(b)
    if ta is not None and tb is not None:
        return ta != tb
    return len(a) == 1 and len(b) == 1 and "any" not in a | b and (INVALID in a) != (INVALID in b)


def _int_index(kind: str) -> str | None:
    """indexArg's refusal of an index of this kind."""
    if kind in (INT, UINT8):
        return None
    return (
        "cannot index slice/array with nil"
        if kind == INVALID
        else f"cannot index slice/array with type {kind}"
    )


def _string_key(kind: str) -> str | None:
    """prepareArg's refusal of a key of this kind for a map[string]string."""
    if kind == STRING:
        return None
    return (
        f"value is nil; should be of type {STRING}"
        if kind == INVALID
        else f"value has type {kind}; should be string"
    )


def _index(name: str, values: list[Value]) -> str | None:
    """index's and slice's refusals: the kinds of the item and the indexes, and the bounds where
    they are known (a negative index; a known string and a known index)."""
    item = values[0]
    if kinds(item) == frozenset({INVALID}):
        return f"{name} of untyped nil"
    if name == "slice":
        return _slice(item, values[1:])
    for index in values[1:]:
        now = kinds(item)
        if len(now) != 1 or "any" in now:
            return None
        (kind,) = now
        if kind == STRING:
            failure = certain(index, _int_index) or _bound(text(item), number(index), at_end=True)
            if failure:
                return failure
            item = frozenset({UINT8})
        elif kind == MAP:
            failure = certain(index, _string_key)
            if failure:
                return failure
            item = frozenset({STRING})
        else:
            return f"can't index item of type {kind}"
    return None


def _bound(text: str | None, x: int | None, *, at_end: bool) -> str | None:
    """indexArg's range check, where the index is known (and the string)."""
    if x is None:
        return None
    size = None if text is None else len(text.encode())
    if x < 0 or (size is not None and x > size):
        return f"index out of range: {x}"
    if at_end and x == size:  # index (not slice) reads the byte at x
        return "reflect: string index out of range"
    return None


def _slice(item: Value, indexes: list[Value]) -> str | None:
    if len(indexes) > 3:
        return f"too many slice indexes: {len(indexes)}"
    failure = certain(item, lambda k: None if k in (STRING, INVALID) else f"can't slice item of type {k}")
    if failure or kinds(item) != STRINGS:
        return failure
    if len(indexes) == 3:
        return "cannot 3-index slice a string"
    known_text = text(item)
    bounds: list[int | None] = [0, None if known_text is None else len(known_text.encode())]
    for i, index in enumerate(indexes):
        failure = certain(index, _int_index) or _bound(known_text, number(index), at_end=False)
        if failure:
            return failure
        bounds[i] = number(index)
    low, high = bounds
    if low is not None and high is not None and low > high:
        return f"invalid slice index: {low} > {high}"
    return None

