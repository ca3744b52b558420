"""Go's text/template lexer's state functions (``text/template/parse/lex.go``), over ``scan.Lexer``.

Follows Go 1.26: the same tokens, trim markers, lines and error texts, and Go's Unicode tables
(``tables``) for what an identifier may hold, not Python's. Positions are offsets in code points
(Go's are in bytes); lines count "\n" as Go does.
"""

from __future__ import annotations

from webhook.core.kuscia.gotemplate import item, literal, scan, strconv


def next_item(lx: scan.Lexer) -> item.Item:
    """The next token: the state functions run until one is ready."""
    lx.item = item.Item(item.EOF, lx.pos, "EOF", lx.start_line)
    state: scan.State | None = _lex_inside_action if lx.inside_action else _lex_text
    while state is not None:
        state = state(lx)
    return lx.item


def _left_trim_length(s: str, i: int) -> int:
    j = i
    while j < len(s) and s[j] in scan.SPACES:
        j += 1
    return j - i


def _lex_text(lx: scan.Lexer) -> scan.State | None:
    x = lx.input.find("{{", lx.pos)
    if x >= 0:
        if x > lx.pos:
            lx.pos = x
            trim = 0
            if lx.has_left_trim(lx.pos + 2):
                chunk = lx.input[lx.start : lx.pos]
                trim = len(chunk) - len(chunk.rstrip(scan.SPACES))
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


def _lex_left_delim(lx: scan.Lexer) -> scan.State | None:
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


def _lex_comment(lx: scan.Lexer) -> scan.State | None:
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


def _lex_right_delim(lx: scan.Lexer) -> scan.State | None:
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


def _lex_inside_action(lx: scan.Lexer) -> scan.State | None:
    delim, _ = lx.at_right_delim()
    if delim:
        if lx.paren_depth == 0:
            return _lex_right_delim
        lx.errorf("unclosed left paren")
        return None
    r = lx.next()
    if r == "":
        lx.errorf("unclosed action")
    elif r in scan.SPACES:
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


def _lex_space(lx: scan.Lexer) -> scan.State | None:
    spaces = 0
    while True:
        r = lx.peek()
        if r == "" or r not in scan.SPACES:
            break
        lx.next()
        spaces += 1
    if lx.has_right_trim(lx.pos - 1) and lx.input.startswith("}}", lx.pos + 1):
        lx.backup()
        if spaces == 1:
            return _lex_right_delim
    lx.emit(item.SPACE)
    return None


def _lex_identifier(lx: scan.Lexer) -> scan.State | None:
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


def _lex_field(lx: scan.Lexer) -> scan.State | None:
    return _lex_field_or_variable(lx, item.FIELD)


def _lex_variable(lx: scan.Lexer) -> scan.State | None:
    if lx.at_terminator():
        lx.emit(item.VARIABLE)
        return None
    return _lex_field_or_variable(lx, item.VARIABLE)


def _lex_field_or_variable(lx: scan.Lexer, typ: int) -> scan.State | None:
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

