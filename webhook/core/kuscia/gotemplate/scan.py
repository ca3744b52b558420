"""The state of Go's template lexer and its primitives (the ``lexer`` type of
``text/template/parse/lex.go``), over code points instead of bytes.

Follows Go 1.26. The state functions that drive it are ``lex``'s (and ``literal``'s, for
literals); positions are offsets in code points (Go's are in bytes); lines count "\n" as
Go does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from webhook.core.kuscia.gotemplate import item

SPACES: Final = " \t\r\n"
EOF_RUNE: Final = ""  # next() at the end of the input

State = Callable[["Lexer"], "State | None"]


class Lexer:
    """The scanner's state and primitives; ``lex.next_item`` runs the state functions over it
    until one token is ready."""

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
            return EOF_RUNE
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

    def has_left_trim(self, i: int) -> bool:
        s = self.input
        return i + 1 < len(s) and s[i] == "-" and s[i + 1] in SPACES

    def has_right_trim(self, i: int) -> bool:
        s = self.input
        return i + 1 < len(s) and s[i] in SPACES and s[i + 1] == "-"

    def at_right_delim(self) -> tuple[bool, bool]:
        if self.has_right_trim(self.pos) and self.input.startswith("}}", self.pos + 2):
            return True, True
        if self.input.startswith("}}", self.pos):
            return True, False
        return False, False

    def at_terminator(self) -> bool:
        r = self.peek()
        if r == "" or r in SPACES or r in ".,|:)(":
            return True
        return self.input.startswith("}}", self.pos)
