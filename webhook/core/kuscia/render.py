"""Check an AppImage config template the way Kuscia's agent will render it, before it is stored.

Kuscia renders each ``configTemplates`` entry when it starts a pod (``pkg/agent/middleware/
plugins/hook/configrender/config_render.go``): it rewrites every ``{{{.A.b[name=x]}}}`` into
``{{kuscia "A.b[name=x]"}}`` (dots inside ``[...]`` become ``#``), parses the result with Go's
``text/template`` (default ``{{ }}`` delimiters, ``missingkey=zero``, Go's built-in functions plus
``kuscia`` and nothing else, no sprig), and executes it over a ``map[string]string`` of the
pod's variables: the containers' env vars (names upper-cased), Kuscia's built-ins and, for a
name it lacks, whatever Kuscia's config manager holds under that key ("" when nothing).

The rule: ``check`` reports, without running Go, what that would trip over. An error
(``Problem.error``) is what makes the render fail, or makes it certainly wrong: text Go cannot
parse (the first parse error, as Go stops there, at the action that caused it), an action that
fails when executed (a field of a string, ``range`` over a string, an undefined ``{{template}}``,
a built-in called with the wrong number of arguments), and a port selection naming no port the
containers declare. A warning is a variable Kuscia does not provide: it renders empty unless
the domain's config manager holds it. Lines and columns are 1-based and refer to the text as
the user wrote it; columns count characters (code points), so a tab or a CJK character is one
column.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Final

__all__ = ["BUILTIN_VARIABLES", "Problem", "check"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing Kuscia's renderer would hit in a config template."""

    line: int  # 1-based, in the template text as the user wrote it (before Kuscia's rewrite)
    column: int  # 1-based, counting characters
    message: str
    error: bool  # True: Kuscia would fail rendering at pod start (or render it wrong); False: a warning


# The variables Kuscia itself puts in the render data (pkg/common/constants.go, "Environment
# variables issued to the pod"): KusciaTask pods get them from the generated
# "<task>-kuscia-gen-conf" ConfigMap (pending_handler.go, generateKusciaConfigMap), KusciaDeployment
# pods as container env (kusciadeployment/reconcile.go), the agent adds the KusciaAPI three
# (config_render.go, makeDataMapFromLocal) and the certificate files (certissuance). Task-only
# and deployment-only names are both listed: one AppImage may serve either.
# KUSCIA_PORT_<NAME>_NUMBER (one per allocated port) is handled apart, from the port names.
BUILTIN_VARIABLES: Final = frozenset(
    {
        "KUSCIA_DOMAIN_ID",
        "TASK_ID",
        "TASK_INPUT_CONFIG",
        "TASK_CLUSTER_DEFINE",
        "ALLOCATED_PORTS",
        "SERVING_ID",
        "INPUT_CONFIG",
        "CLUSTER_DEFINE",
        "KUSCIA_API_PROTOCOL",
        "KUSCIA_API_TOKEN",
        "KUSCIA_DOMAIN_KEY_DATA",
        "SERVER_CERT_FILE",
        "SERVER_PRIVATE_KEY_FILE",
        "CLIENT_CERT_FILE",
        "CLIENT_PRIVATE_KEY_FILE",
        "TRUSTED_CA_FILE",
    }
)

# The fields of one entry of ALLOCATED_PORTS.ports (proto appconfig.Port, protojson names).
_PORT_FIELDS: Final = ("name", "port", "protocol", "scope")

# Kuscia's rewrite: config_render.go, renderConfig (Go regexp, leftmost-first like Python's).
_KUSCIA_REF: Final = re.compile(r"\{\{?\{\.([^{}]+)\}\}?\}")
_ATOI: Final = re.compile(r"[+-]?[0-9]+")


def _hash_brackets(query: str) -> str:
    """Kuscia's ``\\[(.*?)\\]`` replacement turning "." into "#" inside brackets, in linear time."""
    out: list[str] = []
    last = 0
    i = query.find("[")
    while i >= 0:
        close = query.find("]", i + 1)
        if close < 0:
            break
        newline = query.find("\n", i + 1, close)
        if newline >= 0:  # "." does not match a newline: no bracket pair opens before it
            i = query.find("[", newline + 1)
            continue
        out.append(query[last:i])
        out.append(query[i : close + 1].replace(".", "#"))
        last = close + 1
        i = query.find("[", last)
    out.append(query[last:])
    return "".join(out)


def _selector(segment: str) -> tuple[str, str] | None:
    """``^(.+)\\[(.+)\\]$`` on one path segment (findValue): the name and what is in the brackets."""
    if "\n" in segment or not segment.endswith("]"):
        return None
    i = segment.rfind("[", 1, len(segment) - 2)
    if i < 0:
        return None
    return segment[:i], segment[i + 1 : -1]


def check(text: str, *, ports: Collection[str], env: Collection[str] = ()) -> list[Problem]:
    """Every problem Kuscia's renderer would hit in one config template.

    ``ports``: the names of the ports the deploy template's containers declare (what
    ALLOCATED_PORTS and the KUSCIA_PORT_<NAME>_NUMBER variables will hold). ``env``: the names
    of the containers' env vars, which Kuscia also offers to the template (upper-cased).
    Errors first is not promised: problems come in the order of the text.
    """
    if "{{" not in text:  # No action: Go's parser and Kuscia's rewrite leave it as it is.
        return []
    return _Checker(text, ports, env).run()


# ---------------------------------------------------------------------------------------------
# Kuscia's rewrite, with a map back to the original offsets.


class _Rewrite:
    """The text Go parses, and where each of its characters came from."""

    __slots__ = ("cm_keys", "new_starts", "spans", "text")

    def __init__(self, original: str) -> None:
        parts: list[str] = []
        # Per rewritten reference: new start, new end, original start, original end, and where
        # the copied query starts in each text (the query keeps its length: "." -> "#").
        self.spans: list[tuple[int, int, int, int, int, int, int]] = []
        self.cm_keys: set[str] = set()  # what Kuscia asks its config manager for, when absent
        last = 0
        size = 0
        for m in _KUSCIA_REF.finditer(original):
            query = m.group(1)
            self.cm_keys.add(query.split(".")[0])
            if not m.group(0).startswith("{{{"):
                continue
            parts.append(original[last : m.start()])
            size += m.start() - last
            content = _hash_brackets(query)
            replacement = '{{kuscia "' + content + '"}}'
            self.spans.append(
                (size, size + len(replacement), m.start(), m.end(), size + 10, m.start(1), len(content))
            )
            parts.append(replacement)
            size += len(replacement)
            last = m.end()
        parts.append(original[last:])
        self.text = "".join(parts)
        self.new_starts = [span[0] for span in self.spans]

    def original(self, pos: int) -> int:
        """The offset in the user's text of offset ``pos`` of the rewritten text."""
        index = bisect.bisect_right(self.new_starts, pos) - 1
        if index < 0:
            return pos
        _, new_end, orig_start, orig_end, query_new, query_orig, query_len = self.spans[index]
        if pos >= new_end:
            return orig_end + (pos - new_end)
        if query_new <= pos < query_new + query_len:
            return query_orig + (pos - query_new)
        return orig_start


# ---------------------------------------------------------------------------------------------
# Go's text/template lexer (text/template/parse/lex.go), over code points.

_ERROR, _BOOL, _CHAR, _CHAR_CONSTANT, _COMMENT, _COMPLEX, _ASSIGN, _DECLARE, _EOF = range(9)
_FIELD, _IDENTIFIER, _LEFT_DELIM, _LEFT_PAREN, _NUMBER, _PIPE, _RAW_STRING = range(9, 16)
_RIGHT_DELIM, _RIGHT_PAREN, _SPACE, _STRING, _TEXT, _VARIABLE = range(16, 22)
_KEYWORD = 30
_BLOCK, _BREAK, _CONTINUE, _DOT, _DEFINE, _ELSE, _END, _IF, _NIL, _RANGE, _TEMPLATE, _WITH = range(31, 43)

_KEYWORDS: Final = {
    ".": _DOT,
    "block": _BLOCK,
    "break": _BREAK,
    "continue": _CONTINUE,
    "define": _DEFINE,
    "else": _ELSE,
    "end": _END,
    "if": _IF,
    "range": _RANGE,
    "nil": _NIL,
    "template": _TEMPLATE,
    "with": _WITH,
}

_SPACES: Final = " \t\r\n"
_EOF_RUNE: Final = ""  # next() at the end of the input


class _Item:
    __slots__ = ("pos", "typ", "val")

    def __init__(self, typ: int, pos: int, val: str) -> None:
        self.typ = typ
        self.pos = pos
        self.val = val

    def __str__(self) -> str:
        if self.typ == _EOF:
            return "EOF"
        if self.typ == _ERROR:
            return self.val
        if self.typ > _KEYWORD:
            return f"<{self.val}>"
        if len(self.val) > 10:
            return _go_quote(self.val[:10]) + "..."
        return _go_quote(self.val)


_State = Callable[["_Lexer"], "_State | None"]


def _is_alnum(r: str) -> bool:
    return r == "_" or (r != "" and (r.isalpha() or r.isdecimal()))


class _Lexer:
    __slots__ = ("at_eof", "delim_pos", "input", "inside_action", "item", "paren_depth", "pos", "start")

    def __init__(self, text: str) -> None:
        self.input = text
        self.pos = 0
        self.start = 0
        self.at_eof = False
        self.paren_depth = 0
        self.inside_action = False
        self.item = _Item(_EOF, 0, "EOF")
        self.delim_pos = 0  # where the action or comment being lexed began

    def next(self) -> str:
        if self.pos >= len(self.input):
            self.at_eof = True
            return _EOF_RUNE
        r = self.input[self.pos]
        self.pos += 1
        return r

    def peek(self) -> str:
        r = self.next()
        self.backup()
        return r

    def backup(self) -> None:
        if not self.at_eof and self.pos > 0:
            self.pos -= 1

    def this_item(self, typ: int) -> _Item:
        item = _Item(typ, self.start, self.input[self.start : self.pos])
        self.start = self.pos
        return item

    def emit(self, typ: int) -> None:
        self.item = self.this_item(typ)

    def ignore(self) -> None:
        self.start = self.pos

    def accept(self, valid: str) -> bool:
        r = self.next()
        if r != "" and r in valid:
            return True
        self.backup()
        return False

    def accept_run(self, valid: str) -> None:
        while True:
            r = self.next()
            if r == "" or r not in valid:
                break
        self.backup()

    def errorf(self, message: str) -> None:
        self.item = _Item(_ERROR, self.delim_pos, message)  # reported at the action's {{
        self.start = 0
        self.pos = 0
        self.input = ""

    def next_item(self) -> _Item:
        self.item = _Item(_EOF, self.pos, "EOF")
        state: _State | None = _lex_inside_action if self.inside_action else _lex_text
        while state is not None:
            state = state(self)
        return self.item

    def has_left_trim(self, i: int) -> bool:
        s = self.input
        return i + 1 < len(s) and s[i] == "-" and s[i + 1] in _SPACES

    def has_right_trim(self, i: int) -> bool:
        s = self.input
        return i + 1 < len(s) and s[i] in _SPACES and s[i + 1] == "-"

    def at_right_delim(self) -> tuple[bool, bool]:
        if self.has_right_trim(self.pos) and self.input.startswith("}}", self.pos + 2):
            return True, True
        if self.input.startswith("}}", self.pos):
            return True, False
        return False, False

    def at_terminator(self) -> bool:
        r = self.peek()
        if r == "" or r in _SPACES or r in ".,|:)(":
            return True
        return self.input.startswith("}}", self.pos)


def _left_trim_length(s: str, i: int) -> int:
    j = i
    while j < len(s) and s[j] in _SPACES:
        j += 1
    return j - i


def _lex_text(lx: _Lexer) -> _State | None:
    x = lx.input.find("{{", lx.pos)
    if x >= 0:
        if x > lx.pos:
            lx.pos = x
            trim = 0
            if lx.has_left_trim(lx.pos + 2):
                chunk = lx.input[lx.start : lx.pos]
                trim = len(chunk) - len(chunk.rstrip(_SPACES))
            lx.pos -= trim
            item = lx.this_item(_TEXT)
            lx.pos += trim
            lx.ignore()
            if item.val:
                lx.item = item
                return None
        return _lex_left_delim
    lx.pos = len(lx.input)
    if lx.pos > lx.start:
        lx.emit(_TEXT)
        return None
    lx.emit(_EOF)
    return None


def _lex_left_delim(lx: _Lexer) -> _State | None:
    lx.delim_pos = lx.pos
    lx.pos += 2
    after = 2 if lx.has_left_trim(lx.pos) else 0
    if lx.input.startswith("/*", lx.pos + after):
        lx.pos += after
        lx.ignore()
        return _lex_comment
    item = lx.this_item(_LEFT_DELIM)
    lx.inside_action = True
    lx.pos += after
    lx.ignore()
    lx.paren_depth = 0
    lx.item = item
    return None


def _lex_comment(lx: _Lexer) -> _State | None:
    lx.pos += 2
    x = lx.input.find("*/", lx.pos)
    if x < 0:
        lx.errorf("unclosed comment")
        return None
    lx.pos = x + 2
    delim, trim = lx.at_right_delim()
    if not delim:
        lx.errorf("comment ends before closing delimiter")
        return None
    lx.this_item(_COMMENT)
    if trim:
        lx.pos += 2
    lx.pos += 2
    if trim:
        lx.pos += _left_trim_length(lx.input, lx.pos)
    lx.ignore()
    return _lex_text  # comments are not emitted (no ParseComments)


def _lex_right_delim(lx: _Lexer) -> _State | None:
    _, trim = lx.at_right_delim()
    if trim:
        lx.pos += 2
        lx.ignore()
    lx.pos += 2
    item = lx.this_item(_RIGHT_DELIM)
    if trim:
        lx.pos += _left_trim_length(lx.input, lx.pos)
        lx.ignore()
    lx.inside_action = False
    lx.item = item
    return None


def _lex_inside_action(lx: _Lexer) -> _State | None:
    delim, _ = lx.at_right_delim()
    if delim:
        if lx.paren_depth == 0:
            return _lex_right_delim
        lx.errorf("unclosed left paren")
        return None
    r = lx.next()
    if r == "":
        lx.errorf("unclosed action")
    elif r in _SPACES:
        lx.backup()
        return _lex_space
    elif r == "=":
        lx.emit(_ASSIGN)
    elif r == ":":
        if lx.next() != "=":
            lx.errorf("expected :=")
        else:
            lx.emit(_DECLARE)
    elif r == "|":
        lx.emit(_PIPE)
    elif r == '"':
        return _lex_quote
    elif r == "`":
        return _lex_raw_quote
    elif r == "$":
        return _lex_variable
    elif r == "'":
        return _lex_char
    elif r == "." and lx.pos < len(lx.input) and not "0" <= lx.input[lx.pos] <= "9":
        return _lex_field
    elif r in ".+-" or "0" <= r <= "9":
        lx.backup()
        return _lex_number
    elif _is_alnum(r):
        lx.backup()
        return _lex_identifier
    elif r == "(":
        lx.paren_depth += 1
        lx.emit(_LEFT_PAREN)
    elif r == ")":
        lx.paren_depth -= 1
        if lx.paren_depth < 0:
            lx.errorf("unexpected right paren")
        else:
            lx.emit(_RIGHT_PAREN)
    elif " " <= r <= "~":
        lx.emit(_CHAR)
    else:
        lx.errorf(f"unrecognized character in action: {_go_unicode(r)}")
    return None


def _lex_space(lx: _Lexer) -> _State | None:
    spaces = 0
    while True:
        r = lx.peek()
        if r == "" or r not in _SPACES:
            break
        lx.next()
        spaces += 1
    if lx.has_right_trim(lx.pos - 1) and lx.input.startswith("}}", lx.pos + 1):
        lx.backup()
        if spaces == 1:
            return _lex_right_delim
    lx.emit(_SPACE)
    return None


def _lex_identifier(lx: _Lexer) -> _State | None:
    while True:
        r = lx.next()
        if not _is_alnum(r):
            break
    lx.backup()
    word = lx.input[lx.start : lx.pos]
    if not lx.at_terminator():
        lx.errorf(f"bad character {_go_unicode(r)}")
        return None
    keyword = _KEYWORDS.get(word, 0)
    if keyword > _KEYWORD:
        lx.emit(keyword)
    elif word in ("true", "false"):
        lx.emit(_BOOL)
    else:
        lx.emit(_IDENTIFIER)
    return None


def _lex_field(lx: _Lexer) -> _State | None:
    return _lex_field_or_variable(lx, _FIELD)


def _lex_variable(lx: _Lexer) -> _State | None:
    if lx.at_terminator():
        lx.emit(_VARIABLE)
        return None
    return _lex_field_or_variable(lx, _VARIABLE)


def _lex_field_or_variable(lx: _Lexer, typ: int) -> _State | None:
    if lx.at_terminator():
        lx.emit(_VARIABLE if typ == _VARIABLE else _DOT)
        return None
    while True:
        r = lx.next()
        if not _is_alnum(r):
            lx.backup()
            break
    if not lx.at_terminator():
        lx.errorf(f"bad character {_go_unicode(r)}")
        return None
    lx.emit(typ)
    return None


def _lex_escaped(lx: _Lexer, close: str, kind: int, what: str) -> _State | None:
    """A quoted token with backslash escapes on one line: a char constant or a string."""
    while True:
        r = lx.next()
        if r == "\\":
            r = lx.next()
            if r not in ("", "\n"):
                continue
        if r in ("", "\n"):
            lx.errorf(f"unterminated {what}")
            return None
        if r == close:
            break
    lx.emit(kind)
    return None


def _lex_char(lx: _Lexer) -> _State | None:
    return _lex_escaped(lx, "'", _CHAR_CONSTANT, "character constant")


def _lex_number(lx: _Lexer) -> _State | None:
    if not _scan_number(lx):
        lx.errorf(f"bad number syntax: {_go_quote(lx.input[lx.start : lx.pos])}")
        return None
    sign = lx.peek()
    if sign in ("+", "-") and sign != "":
        if not _scan_number(lx) or lx.input[lx.pos - 1] != "i":
            lx.errorf(f"bad number syntax: {_go_quote(lx.input[lx.start : lx.pos])}")
            return None
        lx.emit(_COMPLEX)
        return None
    lx.emit(_NUMBER)
    return None


def _scan_number(lx: _Lexer) -> bool:
    lx.accept("+-")
    digits = "0123456789_"
    if lx.accept("0"):
        if lx.accept("xX"):
            digits = "0123456789abcdefABCDEF_"
        elif lx.accept("oO"):
            digits = "01234567_"
        elif lx.accept("bB"):
            digits = "01_"
    lx.accept_run(digits)
    if lx.accept("."):
        lx.accept_run(digits)
    if len(digits) == 11 and lx.accept("eE"):
        lx.accept("+-")
        lx.accept_run("0123456789_")
    if len(digits) == 23 and lx.accept("pP"):
        lx.accept("+-")
        lx.accept_run("0123456789_")
    lx.accept("i")
    if _is_alnum(lx.peek()):
        lx.next()
        return False
    return True


def _lex_quote(lx: _Lexer) -> _State | None:
    return _lex_escaped(lx, '"', _STRING, "quoted string")


def _lex_raw_quote(lx: _Lexer) -> _State | None:
    while True:
        r = lx.next()
        if r == "":
            lx.errorf("unterminated raw quoted string")
            return None
        if r == "`":
            break
    lx.emit(_RAW_STRING)
    return None


# ---------------------------------------------------------------------------------------------
# Go's text/template parser (text/template/parse/parse.go): the same grammar, the same errors.


class _Node:
    __slots__ = ("pos",)

    def __init__(self, pos: int) -> None:
        self.pos = pos


class _List(_Node):
    __slots__ = ("nodes",)

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.nodes: list[_Node] = []


class _Text(_Node):
    __slots__ = ("text",)

    def __init__(self, pos: int, text: str) -> None:
        super().__init__(pos)
        self.text = text


class _Pipe(_Node):
    __slots__ = ("cmds", "decl")

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.decl: list[str] = []
        self.cmds: list[_Command] = []


class _Command(_Node):
    __slots__ = ("args",)

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.args: list[_Node] = []


class _Action(_Node):
    __slots__ = ("pipe",)

    def __init__(self, pos: int, pipe: _Pipe) -> None:
        super().__init__(pos)
        self.pipe = pipe


class _Control(_Node):
    """{{if}}, {{range}} or {{with}}."""

    __slots__ = ("body", "else_body", "kind", "pipe")

    def __init__(self, pos: int, kind: str, pipe: _Pipe, body: _List, else_body: _List | None) -> None:
        super().__init__(pos)
        self.kind = kind
        self.pipe = pipe
        self.body = body
        self.else_body = else_body


class _Template(_Node):
    __slots__ = ("block", "name", "pipe")

    def __init__(self, pos: int, name: str, pipe: _Pipe | None, block: _List | None = None) -> None:
        super().__init__(pos)
        self.name = name
        self.pipe = pipe
        self.block = block  # the body of a {{block}}


class _Marker(_Node):
    """{{else}}, {{end}}, {{break}} or {{continue}}."""

    __slots__ = ("kind",)

    def __init__(self, pos: int, kind: str) -> None:
        super().__init__(pos)
        self.kind = kind

    def __str__(self) -> str:
        return "{{" + self.kind + "}}"


class _Field(_Node):
    """.A.b, or $x.a (``variable``, the first ident is the variable)."""

    __slots__ = ("idents", "variable")

    def __init__(self, pos: int, idents: list[str], *, variable: bool) -> None:
        super().__init__(pos)
        self.variable = variable
        self.idents = idents


class _Identifier(_Node):
    __slots__ = ("name",)

    def __init__(self, pos: int, name: str) -> None:
        super().__init__(pos)
        self.name = name


class _Literal(_Node):
    """bool, number, string, nil or dot; ``value``: a string's value."""

    __slots__ = ("kind", "text", "value")

    def __init__(self, pos: int, kind: str, text: str, value: str = "") -> None:
        super().__init__(pos)
        self.kind = kind
        self.text = text
        self.value = value


class _Chain(_Node):
    __slots__ = ("node",)

    def __init__(self, pos: int, node: _Node) -> None:
        super().__init__(pos)
        self.node = node


class _ParseError(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


# text/template's builtins() and Kuscia's FuncMap: the names a template may call.
_FUNCTIONS: Final = frozenset(
    {"and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf", "println"}
    | {"urlquery", "eq", "ge", "gt", "le", "lt", "ne", "kuscia"}
)
_OPERANDS: Final = frozenset(
    {_BOOL, _CHAR_CONSTANT, _COMPLEX, _DOT, _FIELD, _IDENTIFIER, _NUMBER, _NIL, _RAW_STRING, _STRING}
    | {_VARIABLE, _LEFT_PAREN}
)
_MAX_DEPTH: Final = 10000  # parse.go maxStackDepth
_TOP: Final = "config-template"  # Kuscia's template.New name


class _Definition:
    __slots__ = ("body", "is_block", "pos")

    def __init__(self, pos: int, body: _List, *, is_block: bool) -> None:
        self.pos = pos
        self.body = body
        self.is_block = is_block


class _Parser:
    __slots__ = (
        "action_pos",
        "definitions",
        "lex",
        "openers",
        "peek_count",
        "range_depth",
        "stack_depth",
        "token",
        "vars",
    )

    def __init__(self, text: str) -> None:
        self.lex = _Lexer(text)
        self.token: list[_Item] = [_Item(_EOF, 0, "")] * 3
        self.peek_count = 0
        self.vars: list[str] = ["$"]
        self.range_depth = 0
        self.stack_depth = 0
        self.action_pos = 0  # the {{ of the action being parsed
        self.openers: list[tuple[int, str]] = []  # open {{if}}... for "unexpected EOF"
        self.definitions: dict[str, _Definition] = {}

    # Tokens.

    def next(self) -> _Item:
        if self.peek_count > 0:
            self.peek_count -= 1
        else:
            self.token[0] = self.lex.next_item()
        item = self.token[self.peek_count]
        if item.typ == _LEFT_DELIM:
            self.action_pos = item.pos
        return item

    def backup(self) -> None:
        self.peek_count += 1

    def backup2(self, t1: _Item) -> None:
        self.token[1] = t1
        self.peek_count = 2

    def backup3(self, t2: _Item, t1: _Item) -> None:
        self.token[1] = t1
        self.token[2] = t2
        self.peek_count = 3

    def peek(self) -> _Item:
        if self.peek_count > 0:
            return self.token[self.peek_count - 1]
        self.peek_count = 1
        self.token[0] = self.lex.next_item()
        return self.token[0]

    def next_non_space(self) -> _Item:
        while True:
            token = self.next()
            if token.typ != _SPACE:
                return token

    def peek_non_space(self) -> _Item:
        token = self.next_non_space()
        self.backup()
        return token

    # Errors.

    def errorf(self, message: str) -> _ParseError:
        return _ParseError(message, self.action_pos)

    def unexpected(self, token: _Item, context: str) -> _ParseError:
        if token.typ == _ERROR:
            return _ParseError(token.val, token.pos)
        return self.errorf(f"unexpected {token} in {context}")

    def expect(self, expected: int, context: str) -> _Item:
        token = self.next_non_space()
        if token.typ != expected:
            raise self.unexpected(token, context)
        return token

    # Grammar.

    def parse(self) -> _List:
        root = _List(self.peek().pos)
        while self.peek().typ != _EOF:
            if self.peek().typ == _LEFT_DELIM:
                delim = self.next()
                if self.next_non_space().typ == _DEFINE:
                    self.parse_definition()
                    continue
                self.backup2(delim)
            n = self.text_or_action()
            if isinstance(n, _Marker) and n.kind in ("end", "else"):
                what = (
                    "{{if}}/{{range}}/{{with}}"
                    if n.kind == "else"
                    else "{{if}}/{{range}}/{{with}}/{{define}}"
                )
                raise self.errorf(f"{n} without an open {what} (unexpected {n})")
            root.nodes.append(n)
        self.add(_TOP, _Definition(0, root, is_block=False))
        return root

    def add(self, name: str, definition: _Definition) -> None:
        old = self.definitions.get(name)
        if old is None or _is_empty(old.body):
            self.definitions[name] = definition
            return
        if not _is_empty(definition.body):
            pos = definition.pos if name != _TOP else old.pos
            raise _ParseError(f"multiple definition of template {_go_quote(name)}", pos)

    def sub_tree(self) -> tuple[list[str], int, int]:
        saved = (self.vars, self.range_depth, self.stack_depth)
        self.vars, self.range_depth, self.stack_depth = ["$"], 0, 0
        return saved

    def parse_definition(self) -> None:
        context = "define clause"
        pos = self.action_pos
        saved = self.sub_tree()
        token = self.next_non_space()
        if token.typ not in (_STRING, _RAW_STRING):
            raise self.unexpected(token, context)
        name = _go_unquote(token.val)
        if name is None:
            raise self.errorf("invalid syntax")
        self.expect(_RIGHT_DELIM, context)
        self.openers.append((pos, "define"))
        body, end = self.item_list()
        self.openers.pop()
        if not (isinstance(end, _Marker) and end.kind == "end"):
            raise self.errorf(f"unexpected {end} in {context}")
        self.add(name, _Definition(pos, body, is_block=False))
        self.vars, self.range_depth, self.stack_depth = saved

    def item_list(self) -> tuple[_List, _Node]:
        body = _List(self.peek_non_space().pos)
        while self.peek_non_space().typ != _EOF:
            n = self.text_or_action()
            if isinstance(n, _Marker) and n.kind in ("end", "else"):
                return body, n
            body.nodes.append(n)
        pos, kind = self.openers[-1] if self.openers else (self.action_pos, "action")
        raise _ParseError(f"{{{{{kind}}}}} has no matching {{{{end}}}} (unexpected EOF)", pos)

    def text_or_action(self) -> _Node:
        token = self.next_non_space()
        if token.typ == _TEXT:
            return _Text(token.pos, token.val)
        if token.typ == _LEFT_DELIM:
            return self.action()
        raise self.unexpected(token, "input")

    def action(self) -> _Node:
        token = self.next_non_space()
        typ = token.typ
        if typ == _BLOCK:
            return self.block_control()
        if typ in (_BREAK, _CONTINUE):
            kind = token.val
            after = self.next_non_space()
            if after.typ != _RIGHT_DELIM:
                raise self.unexpected(after, "{{" + kind + "}}")
            if self.range_depth == 0:
                raise self.errorf("{{" + kind + "}} outside {{range}}")
            return _Marker(token.pos, kind)
        if typ == _ELSE:
            peek = self.peek_non_space()
            if peek.typ in (_IF, _WITH):
                return _Marker(peek.pos, "else")
            return _Marker(self.expect(_RIGHT_DELIM, "else").pos, "else")
        if typ == _END:
            return _Marker(self.expect(_RIGHT_DELIM, "end").pos, "end")
        if typ == _IF:
            return self.parse_control("if")
        if typ == _RANGE:
            return self.parse_control("range")
        if typ == _TEMPLATE:
            return self.template_control()
        if typ == _WITH:
            return self.parse_control("with")
        self.backup()
        pos = self.peek().pos
        return _Action(pos, self.pipeline("command", _RIGHT_DELIM))

    def pipeline(self, context: str, end: int) -> _Pipe:
        pipe = _Pipe(self.peek_non_space().pos)
        while True:  # declarations (the "decls" label of parse.go)
            v = self.peek_non_space()
            if v.typ != _VARIABLE:
                break
            self.next()
            after_variable = self.peek()
            nxt = self.peek_non_space()
            if nxt.typ in (_ASSIGN, _DECLARE):
                self.next_non_space()
                pipe.decl.append(v.val)
                self.vars.append(v.val)
            elif nxt.typ == _CHAR and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(v.val)
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in (_VARIABLE, _RIGHT_DELIM, _RIGHT_PAREN):
                        continue
                    raise self.errorf("range can only initialize variables")
                raise self.errorf(f"too many declarations in {context}")
            elif after_variable.typ == _SPACE:
                self.backup3(v, after_variable)
            else:
                self.backup2(v)
            break
        while True:
            token = self.next_non_space()
            if token.typ == end:
                if not pipe.cmds:
                    raise self.errorf(f"missing value for {context}")
                for i, c in enumerate(pipe.cmds[1:]):
                    first = c.args[0]
                    if isinstance(first, _Literal):
                        raise self.errorf(f"non executable command in pipeline stage {i + 2}")
                return pipe
            if token.typ not in _OPERANDS:
                raise self.unexpected(token, context)
            self.backup()
            pipe.cmds.append(self.command())

    def parse_control(self, context: str) -> _Control:
        pos = self.action_pos
        saved = len(self.vars)
        pipe = self.pipeline(context, _RIGHT_DELIM)
        if context == "range":
            self.range_depth += 1
        self.openers.append((pos, context))
        body, nxt = self.item_list()
        if context == "range":
            self.range_depth -= 1
        else_body: _List | None = None
        if isinstance(nxt, _Marker) and nxt.kind == "else":
            if context == "if" and self.peek().typ == _IF:
                self.next()
                else_body = _List(nxt.pos)
                else_body.nodes.append(self.parse_control("if"))
            elif context == "with" and self.peek().typ == _WITH:
                self.next()
                else_body = _List(nxt.pos)
                else_body.nodes.append(self.parse_control("with"))
            else:
                else_body, nxt = self.item_list()
                if not (isinstance(nxt, _Marker) and nxt.kind == "end"):
                    raise self.errorf(f"expected end; found {nxt}")
        self.openers.pop()
        del self.vars[saved:]
        return _Control(pos, context, pipe, body, else_body)

    def block_control(self) -> _Node:
        context = "block clause"
        pos = self.action_pos
        token = self.next_non_space()
        name = self.template_name(token, context)
        pipe = self.pipeline(context, _RIGHT_DELIM)
        saved = self.sub_tree()
        self.openers.append((pos, "block"))
        body, end = self.item_list()
        self.openers.pop()
        if not (isinstance(end, _Marker) and end.kind == "end"):
            raise self.errorf(f"unexpected {end} in {context}")
        self.add(name, _Definition(pos, body, is_block=True))
        self.vars, self.range_depth, self.stack_depth = saved
        return _Template(token.pos, name, pipe, body)

    def template_control(self) -> _Node:
        context = "template clause"
        token = self.next_non_space()
        name = self.template_name(token, context)
        pipe: _Pipe | None = None
        if self.next_non_space().typ != _RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, _RIGHT_DELIM)
        return _Template(token.pos, name, pipe)

    def template_name(self, token: _Item, context: str) -> str:
        if token.typ not in (_STRING, _RAW_STRING):
            raise self.unexpected(token, context)
        name = _go_unquote(token.val)
        if name is None:
            raise self.errorf("invalid syntax")
        return name

    def command(self) -> _Command:
        cmd = _Command(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            token = self.next()
            if token.typ == _SPACE:
                continue
            if token.typ in (_RIGHT_DELIM, _RIGHT_PAREN):
                self.backup()
            elif token.typ != _PIPE:
                raise self.unexpected(token, "operand")
            break
        if not cmd.args:
            raise self.errorf("empty command")
        return cmd

    def operand(self) -> _Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().typ == _FIELD:
            pos = self.peek().pos
            fields: list[str] = []
            while self.peek().typ == _FIELD:
                fields.append(self.next().val)
            if isinstance(node, _Field):
                return _Field(node.pos, node.idents + [f[1:] for f in fields], variable=node.variable)
            if isinstance(node, _Literal):
                raise self.errorf(f"unexpected . after term {_go_quote(node.text)}")
            return _Chain(pos, node)
        return node

    def term(self) -> _Node | None:
        token = self.next_non_space()
        typ = token.typ
        if typ == _IDENTIFIER:
            if token.val not in _FUNCTIONS:
                raise self.errorf(f"function {_go_quote(token.val)} not defined")
            return _Identifier(token.pos, token.val)
        if typ == _DOT:
            return _Literal(token.pos, "dot", ".")
        if typ == _NIL:
            return _Literal(token.pos, "nil", "nil")
        if typ == _VARIABLE:
            if token.val not in self.vars:
                raise self.errorf(f"undefined variable {_go_quote(token.val)}")
            return _Field(token.pos, [token.val], variable=True)
        if typ == _FIELD:
            return _Field(token.pos, [token.val[1:]], variable=False)
        if typ == _BOOL:
            return _Literal(token.pos, "bool", token.val)
        if typ in (_CHAR_CONSTANT, _COMPLEX, _NUMBER):
            problem = _number_error(token.val, typ)
            if problem:
                raise self.errorf(problem)
            return _Literal(token.pos, "number", token.val)
        if typ == _LEFT_PAREN:
            if self.stack_depth >= _MAX_DEPTH:
                raise self.errorf("max expression depth exceeded")
            self.stack_depth += 1
            try:
                return self.pipeline("parenthesized pipeline", _RIGHT_PAREN)
            finally:
                self.stack_depth -= 1
        if typ in (_STRING, _RAW_STRING):
            value = _go_unquote(token.val)
            if value is None:
                raise self.errorf("invalid syntax")
            return _Literal(token.pos, "string", token.val, value)
        self.backup()
        return None


_GO_SPACE: Final = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
)
_GO_SPACE_ALL: Final = _GO_SPACE + "\u2028\u2029\u202f\u205f\u3000"


def _is_empty(body: _List) -> bool:
    """parse.IsEmptyTree: nothing but space (comments are never kept)."""
    return all(isinstance(n, _Text) and not n.text.strip(_GO_SPACE_ALL) for n in body.nodes)


# ---------------------------------------------------------------------------------------------
# Go's strconv and fmt, as far as the parser uses them.


def _go_quote(s: str) -> str:
    """strconv.Quote (what Go's %q prints)."""
    out = ['"']
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif c.isprintable():
            out.append(c)
        elif c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif c < " " or c == "\x7f":
            out.append(f"\\x{ord(c):02x}")
        elif ord(c) < 0x10000:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    out.append('"')
    return "".join(out)


_ESCAPES: Final = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
_UNESCAPES: Final = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
_HEX: Final = "0123456789abcdefABCDEF"


def _go_unicode(r: str) -> str:
    """Go's %#U."""
    if r == "":
        return "U+FFFFFFFFFFFFFFFF"  # eof (-1) as %#U prints it; never reached in practice
    return f"U+{ord(r):04X} '{r}'" if r.isprintable() else f"U+{ord(r):04X}"


def _unquote_char(s: str, i: int, quote: str) -> tuple[str, int] | None:
    """strconv.UnquoteChar from s[i]: the character and where the rest starts, or None."""
    if i >= len(s):
        return None
    c = s[i]
    if c == quote:
        return None
    if c != "\\":
        return c, i + 1
    if i + 1 >= len(s):
        return None
    c = s[i + 1]
    i += 2
    if c in _UNESCAPES:
        return _UNESCAPES[c], i
    if c in "xuU":
        size = {"x": 2, "u": 4, "U": 8}[c]
        digits = s[i : i + size]
        if len(digits) < size or any(d not in _HEX for d in digits):
            return None
        value = int(digits, 16)
        if c != "x" and (value > 0x10FFFF or 0xD800 <= value <= 0xDFFF):
            return None
        return chr(value), i + size
    if "0" <= c <= "7":
        digits = s[i - 1 : i + 2]
        if len(digits) < 3 or any(not "0" <= d <= "7" for d in digits):
            return None
        value = int(digits, 8)
        if value > 255:
            return None
        return chr(value), i + 2
    if c in "'\"":
        return (c, i) if c == quote else None
    return None


def _go_unquote(token: str) -> str | None:
    """strconv.Unquote of a string token (quotes included), or None when Go rejects it."""
    if token.startswith("`"):
        return token[1:-1].replace("\r", "")
    body = token[1:-1]
    if "\n" in body:
        return None
    out: list[str] = []
    i = 0
    while i < len(body):
        got = _unquote_char(body, i, '"')
        if got is None:
            return None
        out.append(got[0])
        i = got[1]
    return "".join(out)


def _underscore_ok(s: str) -> bool:
    """strconv.underscoreOK."""
    saw = "^"
    i = 0
    if s[:1] in ("-", "+") and s:
        s = s[1:]
    is_hex = False
    if len(s) >= 2 and s[0] == "0" and s[1] in "bBoOxX":
        i = 2
        saw = "0"
        is_hex = s[1] in "xX"
    while i < len(s):
        c = s[i]
        if "0" <= c <= "9" or (is_hex and c in _HEX):
            saw = "0"
        elif c == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
        i += 1
    return saw != "_"


def _parse_uint(s: str) -> int | None:
    """strconv.ParseUint(s, 0, 64)."""
    if not s:
        return None
    s0 = s
    base = 10
    if s[0] == "0":
        if len(s) >= 3 and s[1] in "bB":
            base, s = 2, s[2:]
        elif len(s) >= 3 and s[1] in "oO":
            base, s = 8, s[2:]
        elif len(s) >= 3 and s[1] in "xX":
            base, s = 16, s[2:]
        else:
            base, s = 8, s[1:]
    n = 0
    underscores = False
    for c in s:
        if c == "_":
            underscores = True
            continue
        if "0" <= c <= "9":
            d = ord(c) - 48
        elif "a" <= c.lower() <= "z" and c.isascii():
            d = ord(c.lower()) - 87
        else:
            return None
        if d >= base:
            return None
        n = n * base + d
    if n >= 1 << 64 or (underscores and not _underscore_ok(s0)):
        return None
    return n


def _parse_int(s: str) -> int | None:
    """strconv.ParseInt(s, 0, 64)."""
    negative = s[:1] == "-"
    u = _parse_uint(s[1:] if s[:1] in ("+", "-") and s else s)
    if u is None or u > (1 << 63) - (0 if negative else 1):
        return None
    return -u if negative else u


def _parse_float(s: str) -> float | None:
    """strconv.ParseFloat(s, 64) for what Go's lexer lets through; None on error (or overflow)."""
    i, n = 0, len(s)
    if i < n and s[i] in "+-":
        i += 1
    base, exp_char = 10, "e"
    if i + 2 < n and s[i] == "0" and s[i + 1] in "xX":
        base, exp_char = 16, "p"
        i += 2
    underscores = saw_dot = saw_digits = False
    while i < n:
        c = s[i]
        if c == "_":
            underscores = True
        elif c == ".":
            if saw_dot:
                break
            saw_dot = True
        elif "0" <= c <= "9" or (base == 16 and c in _HEX):
            saw_digits = True
        else:
            break
        i += 1
    if not saw_digits:
        return None
    if i < n and s[i].lower() == exp_char:
        i += 1
        if i < n and s[i] in "+-":
            i += 1
        if i >= n or not "0" <= s[i] <= "9":
            return None
        while i < n and ("0" <= s[i] <= "9" or s[i] == "_"):
            underscores = underscores or s[i] == "_"
            i += 1
    elif base == 16:
        return None
    if i != n or (underscores and not _underscore_ok(s)):
        return None
    clean = s.replace("_", "")
    try:
        value = float.fromhex(clean) if base == 16 else float(clean)
    except (OverflowError, ValueError):
        return None
    return None if value in (float("inf"), float("-inf")) else value


def _float_token(s: str, i: int) -> int:
    """fmt's floatToken: where the float starting at s[i] ends."""

    def accept(chars: str) -> bool:
        nonlocal i
        if i < len(s) and s[i] in chars:
            i += 1
            return True
        return False

    start = i
    if accept("nN") and accept("aA") and accept("nN"):
        return i
    accept("+-")
    if accept("iI") and accept("nN") and accept("fF"):
        return i
    digits, exp = "0123456789_", "eEpP"
    if accept("0") and accept("xX"):
        digits, exp = _HEX + "_", "pP"
    while accept(digits):
        pass
    if accept("."):
        while accept(digits):
            pass
    if accept(exp):
        accept("+-")
        while accept("0123456789_"):
            pass
    return max(i, start)


def _number_error(text: str, typ: int) -> str | None:
    """parse.newNumber: why Go rejects a number token, or None."""
    if typ == _CHAR_CONSTANT:
        got = _unquote_char(text, 1, "'")
        if got is None:
            return "invalid syntax"
        if text[got[1] :] != "'":
            return f"malformed character constant: {text}"
        return None
    if typ == _COMPLEX:  # fmt.Sscan into a complex128
        real_end = _float_token(text, 0)
        if real_end >= len(text) or text[real_end] not in "+-":
            return "syntax error scanning complex number"
        imag_end = _float_token(text, real_end + 1)
        if imag_end >= len(text) or text[imag_end] != "i":
            return "syntax error scanning complex number"
        for part in (text[:real_end], text[real_end:imag_end]):
            if _parse_float(part) is None:
                return f"strconv.ParseFloat: parsing {_go_quote(part)}: invalid syntax"
        return None
    if text.endswith("i") and _parse_float(text[:-1]) is not None:
        return None
    if _parse_uint(text) is not None or _parse_int(text) is not None:
        return None
    if _parse_float(text) is not None:
        if not any(c in text for c in ".eEpP"):
            return f"integer overflow: {_go_quote(text)}"
        return None
    return f"illegal number syntax: {_go_quote(text)}"


# ---------------------------------------------------------------------------------------------
# What executing the parsed template would do with Kuscia's data.

# Builtins whose result is a string (for what dot is inside {{with}}).
_STRING_FUNCTIONS: Final = frozenset({"kuscia", "print", "printf", "println", "html", "js", "urlquery"})
# text/template's argument counts (funcs.go): (at least, at most or None).
_ARITY: Final[dict[str, tuple[int, int | None]]] = {
    "and": (1, None),
    "or": (1, None),
    "call": (1, None),
    "html": (0, None),
    "index": (1, None),
    "slice": (1, None),
    "js": (0, None),
    "len": (1, 1),
    "not": (1, 1),
    "print": (0, None),
    "printf": (1, None),
    "println": (0, None),
    "urlquery": (0, None),
    "eq": (1, None),
    "ge": (2, 2),
    "gt": (2, 2),
    "le": (2, 2),
    "lt": (2, 2),
    "ne": (2, 2),
    "kuscia": (1, 1),
}
_ROOT, _STRING_VALUE, _UNKNOWN = "root", "string", "unknown"  # what dot (or $) holds


def _port_env(port: str) -> str:
    """The env var Kuscia sets to a port's number (buildPortNumberEnvs)."""
    return "KUSCIA_PORT_" + port.replace("-", "_").upper() + "_NUMBER"


class _Checker:
    __slots__ = ("env", "line_starts", "port_envs", "port_set", "ports", "problems", "rewrite", "text")

    def __init__(self, text: str, ports: Collection[str], env: Collection[str]) -> None:
        self.text = text
        self.ports = list(dict.fromkeys(ports))
        self.port_set = frozenset(self.ports)
        self.port_envs = frozenset(_port_env(p) for p in self.ports)
        self.env = frozenset(e.upper() for e in env)
        # (offset in the user's text, order, problem, dedupe key)
        self.problems: list[tuple[int, int, Problem, str]] = []
        self.rewrite = _Rewrite(text)
        self.line_starts: list[int] = []

    # Results.

    def add(self, pos: int, message: str, *, error: bool, key: str = "") -> None:
        """A problem at offset ``pos`` of the rewritten text."""
        offset = self.rewrite.original(pos)
        if not self.line_starts:
            self.line_starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        line = bisect.bisect_right(self.line_starts, offset)
        column = offset - self.line_starts[line - 1] + 1
        self.problems.append((offset, len(self.problems), Problem(line, column, message, error), key))

    def result(self) -> list[Problem]:
        out: list[Problem] = []
        seen: set[str] = set()
        for _, _, problem, key in sorted(self.problems, key=lambda p: (p[0], p[1])):
            if key:
                if key in seen:
                    continue
                seen.add(key)
            out.append(problem)
        return out

    # The walk.

    def run(self) -> list[Problem]:
        parser = _Parser(self.rewrite.text)
        try:
            root = parser.parse()
            self.walk(root, _ROOT, _ROOT, parser.definitions)
            for name, definition in parser.definitions.items():
                if name != _TOP and not definition.is_block:  # called with any data: dot is unknown
                    self.walk(definition.body, _UNKNOWN, _UNKNOWN, parser.definitions)
        except _ParseError as e:
            self.problems.clear()
            self.add(e.pos, _friendly(e.message), error=True)
            # Kuscia's rewrite does not depend on the parse: its port selections still count.
            for _, _, _, _, query_new, _, query_len in self.rewrite.spans:
                query = self.rewrite.text[query_new : query_new + query_len]
                self.query(query, query_new - 1, ports_only=True)
        except RecursionError:  # Go allows 10,000 nested parentheses; Python's stack does not
            self.problems.clear()
            self.add(0, "the template nests too deeply to be checked", error=False)
        return self.result()

    def walk(self, body: _List, dot: str, dollar: str, definitions: dict[str, _Definition]) -> None:
        for n in body.nodes:
            if isinstance(n, _Action):
                self.pipe(n.pipe, dot, dollar)
            elif isinstance(n, _Control):
                self.pipe(n.pipe, dot, dollar)
                inner = dot
                if n.kind == "with":
                    inner = self.value(n.pipe, dot, dollar)
                elif n.kind == "range":
                    ranged = self.value(n.pipe, dot, dollar)
                    if ranged == _STRING_VALUE:
                        self.add(
                            n.pipe.pos,
                            "{{range}} over a string fails when rendered"
                            " (Go: range can't iterate over it): Kuscia's variables are strings",
                            error=True,
                        )
                    inner = _STRING_VALUE if ranged == _ROOT else _UNKNOWN
                self.walk(n.body, inner, dollar, definitions)
                if n.else_body is not None:
                    self.walk(n.else_body, dot, dollar, definitions)
            elif isinstance(n, _Template):
                if n.name not in definitions:
                    self.add(
                        n.pos,
                        f"template {_go_quote(n.name)} not defined:"
                        " no {{define}} or {{block}} names it",
                        error=True,
                    )
                if n.pipe is not None:
                    self.pipe(n.pipe, dot, dollar)
                if n.block is not None:
                    kind = self.value(n.pipe, dot, dollar) if n.pipe is not None else _UNKNOWN
                    self.walk(n.block, kind, kind, definitions)

    def value(self, pipe: _Pipe, dot: str, dollar: str) -> str:
        """What a pipeline yields, as far as it matters here."""
        cmd = pipe.cmds[-1]
        first = cmd.args[0]
        if isinstance(first, _Identifier):
            return _STRING_VALUE if first.name in _STRING_FUNCTIONS else _UNKNOWN
        if len(cmd.args) != 1:
            return _UNKNOWN
        if isinstance(first, _Literal):
            return {"dot": dot, "string": _STRING_VALUE}.get(first.kind, _UNKNOWN)
        if isinstance(first, _Field):
            idents = first.idents[1:] if first.variable else first.idents
            holder = (dollar if first.idents[0] == "$" else _UNKNOWN) if first.variable else dot
            if not idents:
                return holder
            return _STRING_VALUE if holder == _ROOT and len(idents) == 1 else _UNKNOWN
        return _UNKNOWN

    def pipe(self, pipe: _Pipe, dot: str, dollar: str) -> None:
        for i, cmd in enumerate(pipe.cmds):
            head = cmd.args[0]
            if isinstance(head, _Identifier):
                self.call(head, cmd.args[1:], piped=i > 0)
            else:
                self.arg(head, dot, dollar)
            for arg in cmd.args[1:]:
                if isinstance(arg, _Identifier):  # an argument: called without arguments
                    self.call(arg, [], piped=False)
                else:
                    self.arg(arg, dot, dollar)

    def arg(self, node: _Node, dot: str, dollar: str) -> None:
        if isinstance(node, _Field):
            if not node.variable:
                self.field(node.idents, node.pos, dot, "")
            elif node.idents[0] == "$" and len(node.idents) > 1:
                self.field(node.idents[1:], node.pos, dollar, "$")
        elif isinstance(node, _Pipe):
            self.pipe(node, dot, dollar)
        elif isinstance(node, _Chain):
            self.arg(node.node, dot, dollar)

    def field(self, idents: list[str], pos: int, holder: str, prefix: str) -> None:
        if holder == _ROOT:
            self.variable(idents[0], pos)
            if len(idents) > 1:
                written = prefix + "." + ".".join(idents)
                self.add(
                    pos,
                    f"{{{{{written}}}}} fails when rendered (Go: can't evaluate field {idents[1]} in type"
                    f" string): Kuscia's variables are strings; read a field of a JSON value with triple"
                    f" braces, {{{{{{.{'.'.join(idents)}}}}}}}",
                    error=True,
                )
        elif holder == _STRING_VALUE:
            self.add(
                pos,
                f"field .{idents[0]} of a string fails when rendered (Go: can't evaluate field"
                f" {idents[0]} in type string): here dot is a string",
                error=True,
            )

    def call(self, ident: _Identifier, args: list[_Node], *, piped: bool) -> None:
        name = ident.name
        count = len(args) + piped
        least, most = _ARITY[name]
        if count < least or (most is not None and count > most):
            want = f"{least}" if most == least else f"at least {least}"
            self.add(ident.pos, f"wrong number of args for {name}: want {want} got {count}", error=True)
        elif name == "eq" and count < 2:
            self.add(ident.pos, "error calling eq: missing argument for comparison", error=True)
        if name != "kuscia" or not args:
            return
        arg = args[0]
        if isinstance(arg, _Literal) and arg.kind == "string":
            self.query(arg.value, arg.pos, ports_only=False)
        elif isinstance(arg, _Literal) and arg.kind in ("number", "bool", "nil"):
            self.add(arg.pos, f"kuscia needs a string (Go: expected string; found {arg.text})", error=True)

    # Kuscia's variables.

    def ports_hint(self) -> str:
        if not self.ports:
            return "the containers declare no ports"
        return "ALLOCATED_PORTS has the container ports: " + ", ".join(self.ports)

    def query(self, query: str, pos: int, *, ports_only: bool) -> None:
        """A kuscia "A.b[...]..." lookup (pkg/utils/common/template.go, QueryByFields)."""
        segments = [s for s in query.split(".") if s]
        if not segments:
            return
        head = _selector(segments[0])
        if "[" in segments[0] and head is None:
            return
        name = head[0] if head else segments[0]
        if not ports_only:
            self.variable(name, pos)
            for segment in segments:  # [.X.y] indexes, rewritten [#X#y]: looked up from the root
                selector = _selector(segment)
                if selector and "=" not in selector[1] and "#" in selector[1]:
                    inner = [s for s in selector[1].split("#") if s]
                    if inner:
                        inner_head = _selector(inner[0])
                        self.variable(inner_head[0] if inner_head else inner[0], pos)
        if name != "ALLOCATED_PORTS" or head is not None or len(segments) < 2:
            return
        second = segments[1]
        selector = _selector(second)
        if "[" in second and selector is None:
            self.add(
                pos,
                f"ALLOCATED_PORTS.{second} selects nothing (renders empty): a selector is"
                " [<index>] or [name=<port>]",
                error=True,
            )
            return
        field = selector[0] if selector else second
        if field != "ports":
            if not ports_only:
                self.add(
                    pos,
                    f"ALLOCATED_PORTS has no field '{field}' (it has: ports); this renders empty",
                    error=False,
                )
            return
        if selector is None:
            return
        self.port_selector(selector[1], pos, ports_only=ports_only)
        if len(segments) > 2 and segments[2] not in _PORT_FIELDS and not ports_only:
            self.add(
                pos,
                f"a port has no field '{segments[2]}' (it has: {', '.join(_PORT_FIELDS)});"
                " this renders empty",
                error=False,
            )

    def port_selector(self, selector: str, pos: int, *, ports_only: bool) -> None:
        if "=" in selector:
            key, match = selector.split("=", 1)
            if key == "name" and match not in self.port_set:
                self.add(pos, f"names no declared port '{match}' ({self.ports_hint()})", error=True)
            return
        if "#" in selector:
            return  # an index read from another variable
        index = int(selector) if _ATOI.fullmatch(selector) else None
        if index is None or not -(1 << 63) <= index < (1 << 63):
            self.add(
                pos,
                f"ALLOCATED_PORTS.ports[{selector}] selects nothing (renders empty): a selector is"
                " [<index>] or [name=<port>]",
                error=True,
            )
            return
        count = len(self.ports)
        if index >= count or index <= -count:
            self.add(
                pos, f"ALLOCATED_PORTS.ports[{selector}] is out of range ({self.ports_hint()})", error=True
            )
        elif count > 1 and not ports_only:
            self.add(
                pos,
                f"ALLOCATED_PORTS.ports[{selector}]: Kuscia does not keep the ports in a fixed"
                f" order; select by name, e.g. ports[name={self.ports[0]}]",
                error=False,
            )

    def variable(self, name: str, pos: int) -> None:
        if name in BUILTIN_VARIABLES or name in self.env or name in self.port_envs:
            return
        if name.startswith("KUSCIA_PORT_") and name.endswith("_NUMBER") and len(name) > 19:
            declared = ", ".join(_port_env(p) for p in self.ports) or "none"
            self.add(
                pos,
                f"{name} names no declared port ({self.ports_hint()}; their variables: {declared})",
                error=True,
            )
            return
        upper = name.upper()
        if upper != name and (upper in BUILTIN_VARIABLES or upper in self.env or upper in self.port_envs):
            message = (
                f"unknown variable {name}: Kuscia upper-cases the names of its variables and env vars,"
                f" write {upper}"
            )
        elif name in self.rewrite.cm_keys:
            message = (
                f"unknown variable {name}: not a Kuscia built-in nor an env var of the containers;"
                " it renders empty unless the domain's Kuscia config manager holds it"
            )
        else:
            message = (
                f"unknown variable {name}: not a Kuscia built-in nor an env var of the containers;"
                " it renders empty (Kuscia asks its config manager only for names written as"
                f" {{{{.{name}}}}} or {{{{{{.{name}...}}}}}})"
            )
        self.add(pos, message, error=False, key="var:" + name)


def _friendly(message: str) -> str:
    if message == "unclosed action":
        return "unclosed action: no }} closes it"
    if message.startswith("bad character U+005B '['"):
        return (
            message
            + " (Kuscia's [...] selectors need triple braces, e.g. {{{.TASK_CLUSTER_DEFINE.parties[0]}}})"
        )
    return message
