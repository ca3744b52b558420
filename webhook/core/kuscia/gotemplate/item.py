"""The tokens of Go's template lexer: the item types and ``item`` of ``text/template/parse/lex.go``.

Follows Go 1.26, with ``String()`` as Go prints an item in an error message.
"""

from __future__ import annotations

from typing import Final

from webhook.core.kuscia.gotemplate import strconv, tables

# The item types, in lex.go's order (itemError ... itemWith); the keywords come after KEYWORD.
ERROR: Final = 0
BOOL: Final = 1
CHAR: Final = 2
CHAR_CONSTANT: Final = 3
COMMENT: Final = 4
COMPLEX: Final = 5
ASSIGN: Final = 6
DECLARE: Final = 7
EOF: Final = 8
FIELD: Final = 9
IDENTIFIER: Final = 10
LEFT_DELIM: Final = 11
LEFT_PAREN: Final = 12
NUMBER: Final = 13
PIPE: Final = 14
RAW_STRING: Final = 15
RIGHT_DELIM: Final = 16
RIGHT_PAREN: Final = 17
SPACE: Final = 18
STRING: Final = 19
TEXT: Final = 20
VARIABLE: Final = 21
KEYWORD: Final = 30
BLOCK: Final = 31
BREAK: Final = 32
CONTINUE: Final = 33
DOT: Final = 34
DEFINE: Final = 35
ELSE: Final = 36
END: Final = 37
IF: Final = 38
NIL: Final = 39
RANGE: Final = 40
TEMPLATE: Final = 41
WITH: Final = 42

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
