"""The token stream under Go's template parser, and its errors (``text/template/parse/parse.go``:
next, backup, peek, errorf, expect, unexpected).

Follows Go 1.26, down to which token's line an error names (the last one read, ``token[0]``)
and the " in action started at NAME:LINE" of lexer errors. A ``ParseError`` also says where we
point: on Go's line, the action or construct at fault when it is on that line, else the token
Go stopped at.
"""

from __future__ import annotations

import bisect

from webhook.core.kuscia.gotemplate import item, lex, scan


class ParseError(Exception):
    """Go's parse error: its message (what follows Go's "template: NAME:LINE: "), Go's line, where
    we point (a code-point offset on that line), and for "unexpected EOF" the construct left open
    (keyword and offset)."""

    def __init__(self, message: str, line: int, pos: int, opener: tuple[str, int] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.pos = pos
        self.opener = opener


class Stream:
    """The tokens of one lexer as the parser reads them, up to three of them put back."""

    def __init__(self, parse_name: str, text: str, lexer: scan.Lexer) -> None:
        self.parse_name = parse_name  # the top template's: what errors name
        self.text = text
        self.lex = lexer
        self.token = [item.Item(item.EOF, 0, "", 0)] * 3
        self.peek_count = 0
        self.action_line = 0  # the line of the {{ of the action being parsed, 0 between actions

    def next(self) -> item.Item:
        if self.peek_count > 0:
            self.peek_count -= 1
        else:
            self.token[0] = lex.next_item(self.lex)
        token = self.token[self.peek_count]
        if token.typ == item.LEFT_DELIM:
            self.lex.action_pos = token.pos
        return token

    def backup(self) -> None:
        self.peek_count += 1

    def backup2(self, t1: item.Item) -> None:
        self.token[1] = t1
        self.peek_count = 2

    def backup3(self, t2: item.Item, t1: item.Item) -> None:
        self.token[1] = t1
        self.token[2] = t2
        self.peek_count = 3

    def peek(self) -> item.Item:
        if self.peek_count > 0:
            return self.token[self.peek_count - 1]
        self.peek_count = 1
        self.token[0] = lex.next_item(self.lex)
        return self.token[0]

    def next_non_space(self) -> item.Item:
        while True:
            token = self.next()
            if token.typ != item.SPACE:
                return token

    def peek_non_space(self) -> item.Item:
        token = self.next_non_space()
        self.backup()
        return token

    # Errors.

    def errorf(
        self, message: str, prefer: tuple[int, ...] = (), opener: tuple[str, int] | None = None
    ) -> ParseError:
        """Go's error, at the line of the last token read; we point at the first of ``prefer``
        and the action being parsed that is on that line, else at that token."""
        line = self.token[0].line
        starts = [0]
        for candidate in (*prefer, self.lex.action_pos):
            if not starts[1:]:
                starts = [0, *(i + 1 for i, c in enumerate(self.text) if c == "\n")]
            if bisect.bisect_right(starts, candidate) == line:
                return ParseError(message, line, candidate, opener)
        return ParseError(message, line, self.token[0].pos, opener)

    def expect(self, expected: int, context: str) -> item.Item:
        token = self.next_non_space()
        if token.typ != expected:
            raise self.unexpected(token, context)
        return token

    def unexpected(self, token: item.Item, context: str) -> ParseError:
        if token.typ == item.ERROR:
            extra = ""
            if self.action_line not in (0, token.line):
                extra = f" in action started at {self.parse_name}:{self.action_line}"
                if token.val.endswith(" action"):
                    extra = extra[len(" in action") :]  # not "action in action"
            return self.errorf(f"{token}{extra}", (self.lex.delim_pos,))
        return self.errorf(f"unexpected {token} in {context}")
