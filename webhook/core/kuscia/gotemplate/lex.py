"""Go's text/template lexer (``text/template/parse/lex.go``), over code points instead of bytes.

Follows Go 1.26: the same tokens, the same trim markers, the same error texts. Positions are
offsets in code points (Go's are in bytes); the parser turns them into lines and columns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from webhook.core.kuscia.gotemplate import strconv

# The item types, in lex.go's order (itemError ... itemWith); the keywords come after KEYWORD.
ERROR, BOOL, CHAR, CHAR_CONSTANT, COMMENT, COMPLEX, ASSIGN, DECLARE, EOF = range(9)
FIELD, IDENTIFIER, LEFT_DELIM, LEFT_PAREN, NUMBER, PIPE, RAW_STRING = range(9, 16)
RIGHT_DELIM, RIGHT_PAREN, SPACE, STRING, TEXT, VARIABLE = range(16, 22)
KEYWORD = 30
BLOCK, BREAK, CONTINUE, DOT, DEFINE, ELSE, END, IF, NIL, RANGE, TEMPLATE, WITH = range(31, 43)

_KEYWORDS: Final = {
    ".": DOT,
    "block": BLOCK,
    "break": BREAK,
    "continue": CONTINUE,
    "define": DEFINE,
    "else": ELSE,
    "end": END,
    "if": IF,
    "range": RANGE,
    "nil": NIL,
    "template": TEMPLATE,
    "with": WITH,
}

_SPACES: Final = " \t\r\n"
_EOF_RUNE: Final = ""  # next() at the end of the input


class Item:
    """A token: its type, where it starts (a code-point offset) and its text."""

    __slots__ = ("pos", "typ", "val")

    def __init__(self, typ: int, pos: int, val: str) -> None:
        self.typ = typ
        self.pos = pos
        self.val = val

    def __str__(self) -> str:
        if self.typ == EOF:
            return "EOF"
        if self.typ == ERROR:
            return self.val
        if self.typ > KEYWORD:
            return f"<{self.val}>"
        if len(self.val) > 10:
            return strconv.quote(self.val[:10]) + "..."
        return strconv.quote(self.val)


_State = Callable[["Lexer"], "_State | None"]


def _is_alphanumeric(r: str) -> bool:
    return r == "_" or (r != "" and (r.isalpha() or r.isdecimal()))


class Lexer:
    """The scanner: ``next_item`` runs the state functions until one token is ready."""

    __slots__ = ("at_eof", "delim_pos", "input", "inside_action", "item", "paren_depth", "pos", "start")

    def __init__(self, text: str) -> None:
        self.input = text
        self.pos = 0
        self.start = 0
        self.at_eof = False
        self.paren_depth = 0
        self.inside_action = False
        self.item = Item(EOF, 0, "EOF")
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

    def this_item(self, typ: int) -> Item:
        item = Item(typ, self.start, self.input[self.start : self.pos])
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
        self.item = Item(ERROR, self.delim_pos, message)  # reported at the action's {{
        self.start = 0
        self.pos = 0
        self.input = ""

    def next_item(self) -> Item:
        self.item = Item(EOF, self.pos, "EOF")
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


def _lex_text(lx: Lexer) -> _State | None:
    x = lx.input.find("{{", lx.pos)
    if x >= 0:
        if x > lx.pos:
            lx.pos = x
            trim = 0
            if lx.has_left_trim(lx.pos + 2):
                chunk = lx.input[lx.start : lx.pos]
                trim = len(chunk) - len(chunk.rstrip(_SPACES))
            lx.pos -= trim
            item = lx.this_item(TEXT)
            lx.pos += trim
            lx.ignore()
            if item.val:
                lx.item = item
                return None
        return _lex_left_delim
    lx.pos = len(lx.input)
    if lx.pos > lx.start:
        lx.emit(TEXT)
        return None
    lx.emit(EOF)
    return None


def _lex_left_delim(lx: Lexer) -> _State | None:
    lx.delim_pos = lx.pos
    lx.pos += 2
    after = 2 if lx.has_left_trim(lx.pos) else 0
    if lx.input.startswith("/*", lx.pos + after):
        lx.pos += after
        lx.ignore()
        return _lex_comment
    item = lx.this_item(LEFT_DELIM)
    lx.inside_action = True
    lx.pos += after
    lx.ignore()
    lx.paren_depth = 0
    lx.item = item
    return None


def _lex_comment(lx: Lexer) -> _State | None:
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
    lx.this_item(COMMENT)
    if trim:
        lx.pos += 2
    lx.pos += 2
    if trim:
        lx.pos += _left_trim_length(lx.input, lx.pos)
    lx.ignore()
    return _lex_text  # comments are not emitted (no ParseComments)


def _lex_right_delim(lx: Lexer) -> _State | None:
    _, trim = lx.at_right_delim()
    if trim:
        lx.pos += 2
        lx.ignore()
    lx.pos += 2
    item = lx.this_item(RIGHT_DELIM)
    if trim:
        lx.pos += _left_trim_length(lx.input, lx.pos)
        lx.ignore()
    lx.inside_action = False
    lx.item = item
    return None


def _lex_inside_action(lx: Lexer) -> _State | None:
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
        lx.emit(ASSIGN)
    elif r == ":":
        if lx.next() != "=":
            lx.errorf("expected :=")
        else:
            lx.emit(DECLARE)
    elif r == "|":
        lx.emit(PIPE)
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
    elif _is_alphanumeric(r):
        lx.backup()
        return _lex_identifier
    elif r == "(":
        lx.paren_depth += 1
        lx.emit(LEFT_PAREN)
    elif r == ")":
        lx.paren_depth -= 1
        if lx.paren_depth < 0:
            lx.errorf("unexpected right paren")
        else:
            lx.emit(RIGHT_PAREN)
    elif " " <= r <= "~":
        lx.emit(CHAR)
    else:
        lx.errorf(f"unrecognized character in action: {strconv.code_point(r)}")
    return None


def _lex_space(lx: Lexer) -> _State | None:
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
    lx.emit(SPACE)
    return None


def _lex_identifier(lx: Lexer) -> _State | None:
    while True:
        r = lx.next()
        if not _is_alphanumeric(r):
            break
    lx.backup()
    word = lx.input[lx.start : lx.pos]
    if not lx.at_terminator():
        lx.errorf(f"bad character {strconv.code_point(r)}")
        return None
    keyword = _KEYWORDS.get(word, 0)
    if keyword > KEYWORD:
        lx.emit(keyword)
    elif word in ("true", "false"):
        lx.emit(BOOL)
    else:
        lx.emit(IDENTIFIER)
    return None


def _lex_field(lx: Lexer) -> _State | None:
    return _lex_field_or_variable(lx, FIELD)


def _lex_variable(lx: Lexer) -> _State | None:
    if lx.at_terminator():
        lx.emit(VARIABLE)
        return None
    return _lex_field_or_variable(lx, VARIABLE)


def _lex_field_or_variable(lx: Lexer, typ: int) -> _State | None:
    if lx.at_terminator():
        lx.emit(VARIABLE if typ == VARIABLE else DOT)
        return None
    while True:
        r = lx.next()
        if not _is_alphanumeric(r):
            lx.backup()
            break
    if not lx.at_terminator():
        lx.errorf(f"bad character {strconv.code_point(r)}")
        return None
    lx.emit(typ)
    return None


def _lex_escaped(lx: Lexer, close: str, kind: int, what: str) -> _State | None:
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


def _lex_char(lx: Lexer) -> _State | None:
    return _lex_escaped(lx, "'", CHAR_CONSTANT, "character constant")


def _lex_number(lx: Lexer) -> _State | None:
    if not _scan_number(lx):
        lx.errorf(f"bad number syntax: {strconv.quote(lx.input[lx.start : lx.pos])}")
        return None
    sign = lx.peek()
    if sign in ("+", "-") and sign != "":
        if not _scan_number(lx) or lx.input[lx.pos - 1] != "i":
            lx.errorf(f"bad number syntax: {strconv.quote(lx.input[lx.start : lx.pos])}")
            return None
        lx.emit(COMPLEX)
        return None
    lx.emit(NUMBER)
    return None


def _scan_number(lx: Lexer) -> bool:
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
    if _is_alphanumeric(lx.peek()):
        lx.next()
        return False
    return True


def _lex_quote(lx: Lexer) -> _State | None:
    return _lex_escaped(lx, '"', STRING, "quoted string")


def _lex_raw_quote(lx: Lexer) -> _State | None:
    while True:
        r = lx.next()
        if r == "":
            lx.errorf("unterminated raw quoted string")
            return None
        if r == "`":
            break
    lx.emit(RAW_STRING)
    return None
