"""The tokens of Go's template lexer: the item types and ``item`` of ``text/template/parse/lex.go``.

Follows Go 1.26, with ``String()`` as Go prints an item in an error message.
"""

from __future__ import annotations

from typing import Final

from webhook.core.kuscia.gotemplate import strconv, tables

# The item types, in lex.go's order (itemError ... itemWith); the keywords come after KEYWORD.
ERROR, BOOL, CHAR, CHAR_CONSTANT, COMMENT, COMPLEX, ASSIGN, DECLARE, EOF = range(9)
FIELD, IDENTIFIER, LEFT_DELIM, LEFT_PAREN, NUMBER, PIPE, RAW_STRING = range(9, 16)
RIGHT_DELIM, RIGHT_PAREN, SPACE, STRING, TEXT, VARIABLE = range(16, 22)
KEYWORD = 30
BLOCK, BREAK, CONTINUE, DOT, DEFINE, ELSE, END, IF, NIL, RANGE, TEMPLATE, WITH = range(31, 43)

KEYWORDS: Final = {
    ".": DOT, "block": BLOCK, "break": BREAK, "continue": CONTINUE, "define": DEFINE, "else": ELSE,
    "end": END, "if": IF, "range": RANGE, "nil": NIL, "template": TEMPLATE, "with": WITH,
}



class Item:
    """A token: its type, where it starts (a code-point offset), its text and its line."""

    __slots__ = ("line", "pos", "typ", "val")

    def __init__(self, typ: int, pos: int, val: str, line: int) -> None:
        self.typ = typ
        self.pos = pos
        self.val = val
        self.line = line  # the line at the start of the item

    def __str__(self) -> str:
        if self.typ == EOF:
            return "EOF"
        if self.typ == ERROR:
            return self.val
        if self.typ > KEYWORD:
            return f"<{self.val}>"
        if len(self.val.encode()) > 10:  # Go: len() counts bytes, %.10q then keeps ten runes
            return strconv.quote(self.val[:10]) + "..."
        return strconv.quote(self.val)


_ASCII_ALNUM: Final = frozenset("_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def is_alphanumeric(r: str) -> bool:
    """isAlphaNumeric, what identifiers are made of: "_", unicode.IsLetter or unicode.IsDigit,
    with Go's tables."""
    if r < "\x80":
        return r in _ASCII_ALNUM
    return tables.is_alnum(r)
