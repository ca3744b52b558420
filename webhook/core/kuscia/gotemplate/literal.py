"""The state functions of Go's template lexer that scan literals (``text/template/parse/lex.go``:
lexQuote, lexRawQuote, lexChar, lexNumber and scanNumber), over code points.

Follows Go 1.26: a literal is scanned loosely and judged by the parser (``node.new_number``,
``strconv.unquote``), as Go does.
"""

from __future__ import annotations

from webhook.core.kuscia.gotemplate import item, scan, strconv


def lex_escaped(lx: scan.Lexer, close: str, kind: int, what: str) -> scan.State | None:
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


def lex_char(lx: scan.Lexer) -> scan.State | None:
    return lex_escaped(lx, "'", item.CHAR_CONSTANT, "character constant")


def lex_number(lx: scan.Lexer) -> scan.State | None:
    if not _scan_number(lx):
        lx.errorf(f"bad number syntax: {strconv.quote(lx.input[lx.start : lx.pos])}")
        return None
    sign = lx.peek()
    if sign in ("+", "-") and sign != "":
        if not _scan_number(lx) or lx.input[lx.pos - 1] != "i":
            lx.errorf(f"bad number syntax: {strconv.quote(lx.input[lx.start : lx.pos])}")
            return None
        lx.emit(item.COMPLEX)
        return None
    lx.emit(item.NUMBER)
    return None


def _scan_number(lx: scan.Lexer) -> bool:
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
    if item.is_alphanumeric(lx.peek()):
        lx.next()
        return False
    return True


def lex_quote(lx: scan.Lexer) -> scan.State | None:
    return lex_escaped(lx, '"', item.STRING, "quoted string")


def lex_raw_quote(lx: scan.Lexer) -> scan.State | None:
    while True:
        r = lx.next()
        if r == "":
            lx.errorf("unterminated raw quoted string")
            return None
        if r == "`":
            break
    lx.emit(item.RAW_STRING)
    return None
