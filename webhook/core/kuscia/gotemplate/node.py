"""The parse tree of Go's text/template (``text/template/parse/node.go``), as far as the checker
reads it, and ``newNumber``'s verdict on a number token.

Follows Go 1.26, with two simplifications said where they are: the literals share one class,
and {{else}}, {{end}}, {{break}} and {{continue}} one marker class.
"""

from __future__ import annotations

from webhook.core.kuscia.gotemplate import lex, strconv


class Node:
    """A node of the parse tree; ``pos`` is the code-point offset Go records for it."""

    __slots__ = ("pos",)

    def __init__(self, pos: int) -> None:
        self.pos = pos


class List(Node):
    __slots__ = ("nodes",)

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.nodes: list[Node] = []


class Text(Node):
    __slots__ = ("text",)

    def __init__(self, pos: int, text: str) -> None:
        super().__init__(pos)
        self.text = text


class Pipe(Node):
    __slots__ = ("cmds", "decl")

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.decl: list[str] = []
        self.cmds: list[Command] = []


class Command(Node):
    __slots__ = ("args",)

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.args: list[Node] = []


class Action(Node):
    __slots__ = ("pipe",)

    def __init__(self, pos: int, pipe: Pipe) -> None:
        super().__init__(pos)
        self.pipe = pipe


class Branch(Node):
    """{{if}}, {{range}} or {{with}}."""

    __slots__ = ("body", "else_body", "kind", "pipe")

    def __init__(self, pos: int, kind: str, pipe: Pipe, body: List, else_body: List | None) -> None:
        super().__init__(pos)
        self.kind = kind
        self.pipe = pipe
        self.body = body
        self.else_body = else_body


class Template(Node):
    __slots__ = ("block", "name", "pipe")

    def __init__(self, pos: int, name: str, pipe: Pipe | None, block: List | None = None) -> None:
        super().__init__(pos)
        self.name = name
        self.pipe = pipe
        self.block = block  # the body of a {{block}}


class Marker(Node):
    """{{else}}, {{end}}, {{break}} or {{continue}}."""

    __slots__ = ("kind",)

    def __init__(self, pos: int, kind: str) -> None:
        super().__init__(pos)
        self.kind = kind

    def __str__(self) -> str:
        return "{{" + self.kind + "}}"


class Field(Node):
    """.A.b, or $x.a (``variable``, the first ident is the variable)."""

    __slots__ = ("idents", "variable")

    def __init__(self, pos: int, idents: list[str], *, variable: bool) -> None:
        super().__init__(pos)
        self.variable = variable
        self.idents = idents


class Identifier(Node):
    __slots__ = ("name",)

    def __init__(self, pos: int, name: str) -> None:
        super().__init__(pos)
        self.name = name


class Literal(Node):
    """bool, number, string, nil or dot; ``value``: a string's value."""

    __slots__ = ("kind", "text", "value")

    def __init__(self, pos: int, kind: str, text: str, value: str = "") -> None:
        super().__init__(pos)
        self.kind = kind
        self.text = text
        self.value = value


class Chain(Node):
    __slots__ = ("node",)

    def __init__(self, pos: int, node: Node) -> None:
        super().__init__(pos)
        self.node = node


def number_error(text: str, typ: int) -> str | None:
    """parse.newNumber: why Go rejects a number token, or None."""
    if typ == lex.CHAR_CONSTANT:
        got = strconv.unquote_char(text, 1, "'")
        if got is None:
            return "invalid syntax"
        if text[got[1] :] != "'":
            return f"malformed character constant: {text}"
        return None
    if typ == lex.COMPLEX:  # fmt.Sscan into a complex128
        real_end = strconv.float_token(text, 0)
        if real_end >= len(text) or text[real_end] not in "+-":
            return "syntax error scanning complex number"
        imag_end = strconv.float_token(text, real_end + 1)
        if imag_end >= len(text) or text[imag_end] != "i":
            return "syntax error scanning complex number"
        for part in (text[:real_end], text[real_end:imag_end]):
            if strconv.parse_float(part) is None:
                return f"strconv.ParseFloat: parsing {strconv.quote(part)}: invalid syntax"
        return None
    if text.endswith("i") and strconv.parse_float(text[:-1]) is not None:
        return None
    if strconv.parse_uint(text) is not None or strconv.parse_int(text) is not None:
        return None
    if strconv.parse_float(text) is not None:
        if not any(c in text for c in ".eEpP"):
            return f"integer overflow: {strconv.quote(text)}"
        return None
    return f"illegal number syntax: {strconv.quote(text)}"
