"""Go's strconv (Quote, Unquote, UnquoteChar, ParseUint, ParseInt, ParseFloat) and the bits of
fmt (``%#U``, the float scanner of ``Sscan``) that Go's template parser uses, over Python strings.

Follows Go 1.26. Pure: what Go would answer for the same text, or ``None`` where Go returns an
error; the messages are the caller's.
"""

from __future__ import annotations

from typing import Final

from webhook.core.kuscia.gotemplate import tables


def quote(s: str) -> str:
    """strconv.Quote (what Go's %q prints)."""
    out = ['"']
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif tables.is_print(c):
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


def code_point(r: str) -> str:
    """Go's %#U."""
    if r == "":
        return "U+FFFFFFFFFFFFFFFF"  # eof (-1) as %#U prints it; never reached in practice
    return f"U+{ord(r):04X} '{r}'" if tables.is_print(r) else f"U+{ord(r):04X}"


def unquote_char(s: str, i: int, quote: str) -> tuple[str, int] | None:
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


def unquote(token: str) -> str | None:
    """strconv.Unquote of a string token (quotes included), or None when Go rejects it."""
    if token.startswith("`"):
        return token[1:-1].replace("\r", "")
    body = token[1:-1]
    if "\n" in body:
        return None
    out: list[str] = []
    i = 0
    while i < len(body):
        got = unquote_char(body, i, '"')
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


def parse_uint(s: str) -> int | None:
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


def parse_int(s: str) -> int | None:
    """strconv.ParseInt(s, 0, 64)."""
    negative = s[:1] == "-"
    u = parse_uint(s[1:] if s[:1] in ("+", "-") and s else s)
    if u is None or u > (1 << 63) - (0 if negative else 1):
        return None
    return -u if negative else u


def parse_float(s: str) -> float | None:
    """strconv.ParseFloat(s, 64) for what Go's lexer lets through; None on error (or overflow)."""
    value = float_or_error(s)
    return None if isinstance(value, str) else value


def float_or_error(s: str) -> float | str:
    """strconv.ParseFloat(s, 64): the value, or why not ("invalid syntax", "value out of range")."""
    syntax = "invalid syntax"
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
        return syntax
    if i < n and s[i].lower() == exp_char:
        i += 1
        if i < n and s[i] in "+-":
            i += 1
        if i >= n or not "0" <= s[i] <= "9":
            return syntax
        while i < n and ("0" <= s[i] <= "9" or s[i] == "_"):
            underscores = underscores or s[i] == "_"
            i += 1
    elif base == 16:
        return syntax
    if i != n or (underscores and not _underscore_ok(s)):
        return syntax
    clean = s.replace("_", "")
    try:
        value = float.fromhex(clean) if base == 16 else float(clean)
    except OverflowError:
        return "value out of range"
    except ValueError:
        return syntax
    return "value out of range" if value in (float("inf"), float("-inf")) else value


def float_token(s: str, i: int) -> int:
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


def scan_complex(text: str) -> complex | str:
    """fmt.Sscan of a complex number token ("1+2i"): the value, or fmt's error message."""
    real_end = float_token(text, 0)
    if real_end >= len(text) or text[real_end] not in "+-":
        return "syntax error scanning complex number"
    imag_end = float_token(text, real_end + 1)
    if imag_end >= len(text) or text[imag_end] != "i":
        return "syntax error scanning complex number"
    parts = []
    for part in (text[:real_end], text[real_end:imag_end]):
        # fmt's convertFloat: a "p" exponent is fmt's own (decimal mantissa, binary exponent); for
        # what the lexer lets through, the mantissa before it never parses alone.
        value = float_or_error(part[: part.find("p")] if "p" in part else part)
        if isinstance(value, str):
            return f"strconv.ParseFloat: parsing {quote(part)}: {value}"
        parts.append(value)
    return complex(parts[0], parts[1])
