"""Hypothesis strategies for config templates as Kuscia renders them, for the differential test
against Go (tests/core/kuscia/test_render_differential.py).

Two families:

* ``structured``: templates from a grammar of Go's text/template (actions, pipelines, every
  control keyword, ``else if``/``else with``, variables, comments, trim markers, strings, numbers,
  field chains, calls with right and wrong arities and argument kinds), built so that every
  action that may fail is one Go *executes* over ``render_data.DATA``: the generator knows which branch each
  condition takes with that data, and writes only ``safe`` content (nothing Go or our checker
  could object to) where Go will not go. So a failure our checker reports there must be one Go
  reports too, and the other way round.
* ``noisy``: the same templates cut, doubled or spliced with loose tokens (mostly text Go cannot
  parse), and the seed templates with Kuscia's braces dropped, doubled or cut. Nothing is known of
  what runs, so only what Go refuses is held against our checker, never the other way.

Identifiers draw on ``letters``, which the test fills with the letters and digits Go's and
Python's Unicode tables disagree on, plus a few common non-ASCII ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hypothesis import strategies as st

from tests.support import render_data

Strategy = st.SearchStrategy[Any]

KNOWN = sorted(render_data.DATA)
UNKNOWN = ("NOPE", "task_id", "Ω_VAR", "KUSCIA_PORT_NOPE_NUMBER")

# Kinds of value, as Go's exec sees them over map[string]string data.
MAP, STR, INT, FLOAT, COMPLEX, BOOL, NONE = "map", "str", "int", "float", "complex", "bool", "none"

TEXT = st.text(st.sampled_from('ab {}:,"\n\t日-'), max_size=6).filter(lambda s: "{{" not in s)
STRINGS = st.sampled_from(
    ['"x"', '""', '"a b"', '"%s"', '"%d"', '"\\n\\t\\\\\\""', '"\\x41\\u00e9\\U0001F600\\101"',
    "`raw`", "`two\nlines`", "`cr\r`", '"日本"', '"{{"', '"}}"'],
)
BAD_STRINGS = st.sampled_from(
    ['"\\q"', '"\\x4"', '"\\u12"', '"\\400"', '"\\uD800"', '"\\U00110000"', '"\\\'"', '"open', "`open"],
)
INTS = st.sampled_from(
    ["0", "1", "2", "-1", "+3", "1_000", "0x1F", "0X_1f", "0o17", "0O7", "017", "0b101", "0B_1", "'a'",
    "'\\n'", "'\\x41'", "'\\u00e9'", "'\\U0001F600'", "'\\''", "'日'", "9223372036854775807",
    "-9223372036854775808", "-0"],
)
FLOATS = st.sampled_from(["1.5", ".5", "1.", "1e3", "1E+3", "2.5e-3", "0x1p-2", "0x1.8p3", "1_0.5", "-0.0"])
COMPLEXES = st.sampled_from(["1i", "2.5i", "0x1p2i", "1+2i", "1-2.5i", "0i", "1e3+1e-3i"])
BAD_NUMBERS = st.sampled_from(
    ["089", "1x", "0x", "1__0", "_1", "1_", "0b2", "0o8", "1e", "0x1.8", "1+2", "99999999999999999999",
    "18446744073709551615", "9223372036854775808", "1e400", "'ab'", "''", "'\\q'", "1..2", "--1", "+-1",
    "1i+2i", "0x1p", ".e1"],
)
# What index and slice get: items and indexes whose bounds do not hang on the data's values.
ITEMS = ('"abc"', '"日本"', '""', ".", "$", "$.TASK_ID", "$.NOPE", "1", "true", "nil", '(len "ab")')
INDEXES = ("0", "1", "2", "3", "-1", '"TASK_ID"', '"x"', "nil", "1.5", "'a'", '(print "a")')
FUNCTIONS = (
    "and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf", "println",
    "urlquery", "eq", "ge", "gt", "le", "lt", "ne", "kuscia",
)


@dataclass(frozen=True)
class Scope:
    """Where the generator is writing: whether Go runs it, what dot, $ and the variables hold."""

    live: bool
    dot: str
    dollar: str
    variables: dict[str, str] = field(default_factory=dict)
    in_range: bool = False
    depth: int = 0
    callable: tuple[tuple[str, str], ...] = ()  # (template name, dot kind it expects)


@st.composite
def identifier(draw: st.DrawFn, letters: Sequence[str]) -> str:
    """A Go identifier: letters, digits and _, non-ASCII ones included."""
    first = draw(st.sampled_from(["a", "b", "X", "_", "é", "Ω", "日"]) | st.sampled_from(letters))
    rest = draw(st.lists(st.sampled_from("ab_09Z") | st.sampled_from(letters), max_size=3))
    return first + "".join(rest)


def _literal(draw: st.DrawFn) -> tuple[str, str]:
    """A literal of any kind; now and then one Go cannot parse (a bad escape, a bad number)."""
    if draw(st.integers(0, 30)) == 0:
        return draw(BAD_STRINGS | BAD_NUMBERS), NONE
    kind = draw(st.sampled_from([STR, STR, INT, INT, FLOAT, COMPLEX, BOOL]))
    if kind == STR:
        return draw(STRINGS), STR
    if kind == INT:
        return draw(INTS), INT
    if kind == FLOAT:
        return draw(FLOATS), FLOAT
    if kind == COMPLEX:
        return draw(COMPLEXES), COMPLEX
    return draw(st.sampled_from(["true", "false"])), BOOL


def _operand(draw: st.DrawFn, scope: Scope, letters: Sequence[str]) -> tuple[str, str]:
    """One argument: a literal, dot, a field (of a map or not), a variable, or a call in parens."""
    choice = draw(st.integers(0, 9))
    if choice <= 2:
        return _literal(draw)
    if choice == 3:
        return ".", scope.dot
    if choice == 4:
        name = draw(st.sampled_from(KNOWN) | st.sampled_from(UNKNOWN) | identifier(letters))
        chain = draw(st.sampled_from(["", "", "", ".x", ".parties.name"]))
        return draw(st.sampled_from(["", "$"])) + "." + name + chain, STR
    if choice == 5 and scope.variables:
        name = draw(st.sampled_from(sorted(scope.variables)))
        return name + draw(st.sampled_from(["", "", ".x"])), scope.variables[name]
    if choice == 6:
        return "nil", NONE
    if choice == 7 and scope.depth < 3:
        inner, kind = _pipeline(draw, replace(scope, depth=scope.depth + 1), letters)
        return "(" + inner + ")" + draw(st.sampled_from(["", "", ".x"])), kind
    return draw(STRINGS), STR


def _call(draw: st.DrawFn, scope: Scope, letters: Sequence[str], piped: bool = False) -> tuple[str, str]:
    """A command: a function with arguments (any count, any kind), or a lone operand. ``eq``
    compares at most two values: past the first comparison, what it does hangs on the values."""
    if draw(st.integers(0, 4)) == 0:
        first, kind = _operand(draw, scope, letters)
        if draw(st.integers(0, 3)) == 0:  # arguments to something that is not a function
            first += " " + _operand(draw, scope, letters)[0]
        return first, kind
    name = draw(st.sampled_from(FUNCTIONS))
    args = [_operand(draw, scope, letters)[0] for _ in range(draw(st.integers(0, 3)))]
    if name in ("index", "slice") and args:  # kinds of every sort, bounds only of what is written
        args = [draw(st.sampled_from(ITEMS))] + [draw(st.sampled_from(INDEXES)) for _ in args[1:]]
    if name == "eq":
        del args[2 - piped :]
    if name in ("and", "or"):  # they stop early: what follows the first argument must not fail
        args[1:] = [_literal(draw)[0] for _ in args[1:]]
    return " ".join([name, *args]), RESULTS.get(name, NONE)


RESULTS = {"len": INT, **dict.fromkeys(("not", "eq", "ne", "lt", "le", "gt", "ge"), BOOL),
           **dict.fromkeys(("print", "printf", "println", "html", "js", "urlquery", "kuscia"), STR)}


def _pipeline(draw: st.DrawFn, scope: Scope, letters: Sequence[str]) -> tuple[str, str]:
    """A command, sometimes piped into more."""
    text, kind = _call(draw, scope, letters)
    for _ in range(draw(st.integers(0, 2)) if draw(st.booleans()) else 0):
        if draw(st.integers(0, 5)) == 0:  # a stage that is not a function
            stage, kind = _operand(draw, scope, letters)
        else:
            stage, kind = _call(draw, scope, letters, piped=True)
            if stage.split(" ")[0] not in FUNCTIONS:
                continue
        text += draw(st.sampled_from([" | ", "|", " |\n"])) + stage
    return text, kind


@st.composite
def _delims(draw: st.DrawFn) -> tuple[str, str]:
    left = draw(st.sampled_from(["{{", "{{", "{{", "{{- ", "{{ ", "{{-\n", "{{\n"]))
    right = draw(st.sampled_from(["}}", "}}", "}}", " -}}", " }}", "\n-}}", "\n}}"]))
    return left, right


# Conditions whose truth over DATA is known (for a $ that is the data), with their value's kind.
TRUE_CONDITIONS = [
    ("true", BOOL), ("1", INT), ('"x"', STR), ("$", MAP), ("$.TASK_ID", STR), ("eq 1 1", BOOL),
    ("not false", BOOL), ('len "ab"', INT), ('print "x"', STR), ('kuscia "TASK_ID"', STR),
    ('and 1 "x"', STR), ("or 0 2", INT), ('ne "a" "b"', BOOL), ("lt 1 2", BOOL),
    ("$.KUSCIA_PORT_FED_NUMBER", STR), ("'a'", INT), ("1.5", FLOAT),
]
FALSE_CONDITIONS = [
    ("false", BOOL), ("0", INT), ('""', STR), ("$.NOPE", STR), ("eq 1 2", BOOL), ("not 1", BOOL),
    ("print", STR), ('kuscia "NOPE"', STR), ("and 0 1", INT), ('or 0 ""', STR), ("0.0", FLOAT),
]


def _condition(draw: st.DrawFn, scope: Scope, truth: bool) -> tuple[str, str]:
    pool = TRUE_CONDITIONS if truth else FALSE_CONDITIONS
    if scope.dollar != MAP:
        pool = [(c, k) for c, k in pool if "$" not in c]
    return draw(st.sampled_from(pool))


def _argument(dot: str) -> str:
    """What a {{template}} call passes for a template that expects ``dot``."""
    return {MAP: " $", STR: ' "s"', INT: " 1", NONE: ""}[dot]


def _safe(draw: st.DrawFn, scope: Scope) -> str:
    """Content that neither Go nor our checker can object to, whatever dot holds."""
    choices = ["text", "string", "print", "comment", "if", "declare"]
    if scope.dollar == MAP:
        choices += ["dollar", "field", "range"]
    # No {{break}}: where the condition is unknown both branches are written safe, and one runs.
    parts = []
    for _ in range(draw(st.integers(0, 2))):
        left, right = draw(_delims())
        choice = draw(st.sampled_from(choices))
        if choice == "text":
            parts.append(draw(TEXT))
        elif choice == "comment":
            parts.append("{{/* note */}}")
        elif choice == "if":
            parts.append(left + "if true" + right + "t{{else}}f{{end}}")
        elif choice == "range":
            parts.append(left + "range $" + right + "r{{end}}")
        else:
            body = {
                "string": draw(STRINGS),
                "print": "print 1 " + draw(STRINGS),
                "declare": '$s := "x"',
                "dollar": "$",
                "field": "$." + draw(st.sampled_from(KNOWN)),
            }[choice]
            parts.append(left + body + right)
    return "".join(parts)


def _items(draw: st.DrawFn, scope: Scope, letters: Sequence[str]) -> str:
    """A list of text and actions; control structures recurse with a tighter depth."""
    if not scope.live:
        return _safe(draw, scope)
    out = []
    variables = dict(scope.variables)
    for _ in range(draw(st.integers(0, 3 if scope.depth < 2 else 1))):
        here = replace(scope, variables=dict(variables))
        left, right = draw(_delims())
        kind = draw(st.integers(0, 12))
        if kind <= 1:
            out.append(draw(TEXT))
        elif kind <= 4:
            out.append(left + _pipeline(draw, here, letters)[0] + right)
        elif kind == 5:
            name = "$" + draw(identifier(letters))
            text, value = _pipeline(draw, here, letters)
            out.append(left + name + draw(st.sampled_from([" := ", ":=", " :=\n"])) + text + right)
            variables[name] = value
        elif kind == 6 and variables:
            name = draw(st.sampled_from(sorted(variables)))
            text, value = _pipeline(draw, here, letters)
            if value == variables[name]:
                out.append(left + name + " = " + text + right)
        elif kind == 7:
            out.append(
                draw(st.sampled_from(["{{/* c */}}", "{{- /* a\nb */ -}}", "{{/**/}}", "{{ /* c */ }}"]))
            )
        elif kind == 8 and scope.depth < 3:
            out.append(left + _branch(draw, here, letters, draw(st.sampled_from(["if", "with"])), right))
        elif kind == 9 and scope.depth < 3:
            out.append(left + _range(draw, here, letters, right))
        elif kind == 10 and scope.callable:
            name, dot = draw(st.sampled_from(scope.callable))
            out.append(left + 'template "' + name + '"' + _argument(dot) + right)
        elif kind == 11:  # a template nobody defines
            out.append(left + 'template "' + draw(identifier(letters)) + '"' + right)
        elif kind == 12 and scope.depth < 2:
            name = "blk" + draw(identifier(letters))
            value, dot = _condition(draw, scope, True)
            inner = Scope(live=True, dot=dot, dollar=dot, depth=scope.depth + 1, callable=scope.callable)
            out.append(left + f'block "{name}" {value}' + right + _items(draw, inner, letters) + "{{end}}")
    return "".join(out)


def _branch(draw: st.DrawFn, scope: Scope, letters: Sequence[str], keyword: str, right: str) -> str:
    """``if ...}}...{{end}}`` or ``with``, with else, else if and else with, taking the branch DATA
    decides (both written safe when the condition is anything)."""
    if draw(st.integers(0, 4)) > 0 or not scope.live:  # where Go does not go, nothing may fail
        truth: bool | None = draw(st.booleans())
        condition, kind = _condition(draw, scope, bool(truth))
    else:
        condition, kind = _pipeline(draw, scope, letters)
        truth = None
    dot = kind if keyword == "with" else scope.dot
    body = _items(
        draw, replace(scope, dot=dot, depth=scope.depth + 1, live=scope.live and truth is True), letters
    )
    text = keyword + " " + condition + right + body
    if draw(st.booleans()):
        otherwise = replace(scope, depth=scope.depth + 1, live=scope.live and truth is False)
        if draw(st.booleans()) and scope.depth < 2:
            return text + "{{else " + _branch(draw, otherwise, letters, keyword, "}}")
        text += "{{else}}" + _items(draw, otherwise, letters)
    return text + "{{end}}"


def _range(draw: st.DrawFn, scope: Scope, letters: Sequence[str], right: str) -> str:
    """``range ...}}...{{end}}`` over the data, a number or a string, with variables, break and continue."""
    pool = [("2", INT, True), ("0", INT, False), ('"ab"', STR, True), ("1.5", FLOAT, True)]
    pool.append(("true", BOOL, True))
    if scope.dollar == MAP:
        pool += [("$", STR, True), ("$.TASK_ID", STR, True)]
    if scope.dot == MAP:
        pool.append((".", STR, True))
    over, element, runs = draw(st.sampled_from(pool))
    variables = dict(scope.variables)
    declare = draw(st.sampled_from(["", "$v := ", "$k, $v := ", "$k, $v = ", "$k,$v:="]))
    if "=" in declare and ":" not in declare and not {"$k", "$v"} <= set(variables):
        declare = ""
    if declare:
        variables["$v"] = element
        if "$k" in declare:
            variables["$k"] = STR if over in ("$", ".") else INT
    inner = replace(scope, live=scope.live and runs, dot=element, variables=variables, in_range=True)
    inner = replace(inner, depth=scope.depth + 1)
    body = _items(draw, inner, letters)
    if draw(st.booleans()):
        body += draw(st.sampled_from([
            "{{break}}", "{{continue}}", "{{if true}}{{break}}{{end}}",
            "{{if false}}{{break}}{{end}}{{continue}}", "{{- break -}}",
        ]))
    text = "range " + declare + over + right + body
    if draw(st.booleans()):
        otherwise = replace(scope, live=scope.live and not runs, depth=scope.depth + 1)
        text += "{{else}}" + _items(draw, otherwise, letters)
    return text + "{{end}}"


@st.composite
def structured(draw: st.DrawFn, letters: Sequence[str]) -> str:
    """A template whose every action that may fail runs over DATA (see the module docstring)."""
    defines: list[tuple[str, str, bool, str]] = []
    for i in range(draw(st.integers(0, 2))):
        name = f"t{i}" + draw(st.sampled_from(["", "é", "-x"]))
        dot = draw(st.sampled_from([MAP, STR, INT, NONE]))
        called = draw(st.booleans())
        # A define calls only the ones before it: no recursion, which Go stops only 100,000 deep.
        scope = Scope(
            live=called, dot=dot, dollar=dot, depth=1, callable=tuple((n, d) for n, d, *_ in defines)
        )
        defines.append(
            (name, dot, called, '{{define "' + name + '"}}' + _items(draw, scope, letters) + "{{end}}")
        )
    top = Scope(live=True, dot=MAP, dollar=MAP, callable=tuple((n, d) for n, d, c, _ in defines if c))
    body = _items(draw, top, letters)
    for name, dot, called, _ in defines:
        if called:  # every define written live runs at least once
            body += '{{template "' + name + '"' + _argument(dot) + "}}"
    parts = [body] + [text for *_, text in defines]
    order = draw(st.permutations(range(len(parts))))
    return "".join(parts[i] for i in order)


# Loose tokens for the noisy family.
FRAGMENTS = [
    "{{", "}}", "{{{", "}}}", "{{- ", " -}}", "{{-", "-}}", "/*", "*/", ".", "$", ":=", "=", "|", "(",
    ")", ",", "if ", "else", "else if ", "end", "range ", "with ", "define ", "template ", "block ",
    "break", "continue", '"', "`", "'", "[", "]", "\n", " ", "nil", "true", "kuscia ", "1", "-",
]


@st.composite
def noisy(draw: st.DrawFn, letters: Sequence[str], seeds: Sequence[str]) -> str:
    """A structured or seed template, broken: cut, doubled, spliced with loose tokens, braces
    dropped or doubled, a string cut open."""
    text = draw(
        structured(letters)
        | st.sampled_from(seeds)
        | st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join)
    )
    for _ in range(draw(st.integers(1, 3))):
        if not text:
            break
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 8)))
        how = draw(st.integers(0, 6))
        if how == 0:
            text = text[:i] + text[j:]  # cut a piece out
        elif how == 1:
            text = text[:j] + text[i:j] + text[j:]  # double a piece
        elif how == 2:
            text = text[:i] + draw(st.sampled_from(FRAGMENTS)) + text[i:]
        elif how == 3:  # drop or double a brace
            braces = [k for k, c in enumerate(text) if c in "{}"]
            if braces:
                k = draw(st.sampled_from(braces))
                text = text[:k] + (text[k] * 2 if draw(st.booleans()) else "") + text[k + 1 :]
        elif how == 4:  # cut a string open
            quotes = [k for k, c in enumerate(text) if c in "\"`'"]
            if quotes:
                k = draw(st.sampled_from(quotes))
                text = text[:k] + text[k + 1 :]
        elif how == 5:
            text = text[:i]  # cut short
        else:
            text = text[:i] + draw(identifier(letters)) + text[i:]
    return text
