"""Go's text/template lexer (``text/template/parse/lex.go``), over code points instead of bytes.

Follows Go 1.26: the same tokens, trim markers, lines and error texts, and Go's Unicode tables
(``tables``) for what an identifier may hold, not Python's. Positions are offsets in code points
(Go's are in bytes); lines count "\n" as Go does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from webhook.core.kuscia.gotemplate import item, literal, strconv

_SPACES: Final = " \t\r\n"
_EOF_RUNE: Final = ""  # next() at the end of the input

State = Callable[["Lexer"], "State | None"]


class Lexer:
    """The scanner: ``next_item`` runs the state functions until one token is ready."""

    __slots__ = (
        "action_pos", "at_eof", "delim_line", "delim_pos", "input", "inside_action", "item", "line",
        "paren_depth", "pos", "start", "start_line",
    )

    def __init__(self, text: str) -> None:
        self.input = text
        self.pos = 0
        self.start = 0
        self.at_eof = False
        self.paren_depth = 0
        self.line = 1  # 1 + the newlines before pos
        self.start_line = 1  # the line of start
        self.inside_action = False
        self.item = item.Item(item.EOF, 0, "EOF", 1)
        # Ours, for the places of errors: the {{ of the action or comment being lexed, and its
        # line; and (set by the parser) the {{ of the action being parsed.
        self.delim_pos = 0
        self.delim_line = 1
        self.action_pos = 0

    def next(self) -> str:
        if self.pos >= len(self.input):
            self.at_eof = True
            return _EOF_RUNE
        r = self.input[self.pos]
        self.pos += 1
        if r == "\n":
            self.line += 1
        return r

    def peek(self) -> str:
        r = self.next()
        self.backup()
        return r

    def backup(self) -> None:
        if not self.at_eof and self.pos > 0:
            self.pos -= 1
            if self.input[self.pos] == "\n":
                self.line -= 1

    def this_item(self, typ: int) -> item.Item:
        token = item.Item(typ, self.start, self.input[self.start : self.pos], self.start_line)
        self.start = self.pos
        self.start_line = self.line
        return token

    def emit(self, typ: int) -> None:
        self.item = self.this_item(typ)

    def ignore(self) -> None:
        """Skip the pending input, counting its newlines (for text skipped without next())."""
        self.line += self.input.count("\n", self.start, self.pos)
        self.start = self.pos
        self.start_line = self.line

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
        self.item = item.Item(item.ERROR, self.start, message, self.start_line)
        self.start = 0
        self.pos = 0
        self.input = ""

    def next_item(self) -> item.Item:
        self.item = item.Item(item.EOF, self.pos, "EOF", self.start_line)
        state: State | None = _lex_inside_action if self.inside_action else _lex_text
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


def _lex_text(lx: Lexer) -> State | None:
    x = lx.input.find("{{", lx.pos)
    if x >= 0:
        if x > lx.pos:
            lx.pos = x
            trim = 0
            if lx.has_left_trim(lx.pos + 2):
                chunk = lx.input[lx.start : lx.pos]
                trim = len(chunk) - len(chunk.rstrip(_SPACES))
            lx.pos -= trim
            lx.line += lx.input.count("\n", lx.start, lx.pos)
            token = lx.this_item(item.TEXT)
            lx.pos += trim
            lx.ignore()
            if token.val:
                lx.item = token
                return None
        return _lex_left_delim
    lx.pos = len(lx.input)
    if lx.pos > lx.start:
        lx.line += lx.input.count("\n", lx.start, lx.pos)
        lx.emit(item.TEXT)
        return None
    lx.emit(item.EOF)
    return None


def _lex_left_delim(lx: Lexer) -> State | None:
    lx.delim_pos = lx.pos
    lx.delim_line = lx.line
    lx.pos += 2
    after = 2 if lx.has_left_trim(lx.pos) else 0
    if lx.input.startswith("/*", lx.pos + after):
        lx.pos += after
        lx.ignore()
        return _lex_comment
    token = lx.this_item(item.LEFT_DELIM)
    lx.inside_action = True
    lx.pos += after
    lx.ignore()
    lx.paren_depth = 0
    lx.item = token
    return None


def _lex_comment(lx: Lexer) -> State | None:
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
    lx.line += lx.input.count("\n", lx.start, lx.pos)
    lx.this_item(item.COMMENT)
    if trim:
        lx.pos += 2
    lx.pos += 2
    if trim:
        lx.pos += _left_trim_length(lx.input, lx.pos)
    lx.ignore()
    return _lex_text  # comments are not emitted (no ParseComments)


def _lex_right_delim(lx: Lexer) -> State | None:
    _, trim = lx.at_right_delim()
    if trim:
        lx.pos += 2
        lx.ignore()
    lx.pos += 2
    token = lx.this_item(item.RIGHT_DELIM)
    if trim:
        lx.pos += _left_trim_length(lx.input, lx.pos)
        lx.ignore()
    lx.inside_action = False
    lx.item = token
    return None


def _lex_inside_action(lx: Lexer) -> State | None:
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
        lx.emit(item.ASSIGN)
    elif r == ":":
        if lx.next() != "=":
            lx.errorf("expected :=")
        else:
            lx.emit(item.DECLARE)
    elif r == "|":
        lx.emit(item.PIPE)
    elif r == '"':
        return literal.lex_quote
    elif r == "`":
        return literal.lex_raw_quote
    elif r == "$":
        return _lex_variable
    elif r == "'":
        return literal.lex_char
    elif r == "." and lx.pos < len(lx.input) and not "0" <= lx.input[lx.pos] <= "9":
        return _lex_field
    elif r in ".+-" or "0" <= r <= "9":
        lx.backup()
        return literal.lex_number
    elif item.is_alphanumeric(r):
        lx.backup()
        return _lex_identifier
    elif r == "(":
        lx.paren_depth += 1
        lx.emit(item.LEFT_PAREN)
    elif r == ")":
        lx.paren_depth -= 1
        if lx.paren_depth < 0:
            lx.errorf("unexpected right paren")
        else:
            lx.emit(item.RIGHT_PAREN)
    elif " " <= r <= "~":
        lx.emit(item.CHAR)
    else:
        lx.errorf(f"unrecognized character in action: {strconv.code_point(r)}")
    return None


def _lex_space(lx: Lexer) -> State | None:
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
    lx.emit(item.SPACE)
    return None


def _lex_identifier(lx: Lexer) -> State | None:
    while True:
        r = lx.next()
        if not item.is_alphanumeric(r):
            break
    lx.backup()
    word = lx.input[lx.start : lx.pos]
    if not lx.at_terminator():
        lx.errorf(f"bad character {strconv.code_point(r)}")
        return None
    keyword = item.KEYWORDS.get(word, 0)
    if keyword > item.KEYWORD:
        lx.emit(keyword)
    elif word in ("true", "false"):
        lx.emit(item.BOOL)
    else:
        lx.emit(item.IDENTIFIER)
    return None


def _lex_field(lx: Lexer) -> State | None:
    return _lex_field_or_variable(lx, item.FIELD)


def _lex_variable(lx: Lexer) -> State | None:
    if lx.at_terminator():
        lx.emit(item.VARIABLE)
        return None
    return _lex_field_or_variable(lx, item.VARIABLE)


def _lex_field_or_variable(lx: Lexer, typ: int) -> State | None:
    if lx.at_terminator():
        lx.emit(item.VARIABLE if typ == item.VARIABLE else item.DOT)
        return None
    while True:
        r = lx.next()
        if not item.is_alphanumeric(r):
            lx.backup()
            break
    if not lx.at_terminator():
        lx.errorf(f"bad character {strconv.code_point(r)}")
        return None
    lx.emit(typ)
    return None

