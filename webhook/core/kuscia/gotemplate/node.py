"""The parse tree of Go's text/template (``text/template/parse/node.go``): the same node types with
the same fields and the same ``String()``, and ``new_number``, Go's verdict on a number token.

Follows Go 1.26. ``pos`` is a code-point offset where Go's is a byte offset; ``Line`` fields are
Go's. Comments are not kept (Kuscia parses without ParseComments).
"""

from __future__ import annotations

from typing import Final

from webhook.core.kuscia.gotemplate import item, strconv


class Node:
    """A node of the tree; ``pos`` is where Go says it is."""

    __slots__ = ("pos",)

    def __init__(self, pos: int) -> None:
        self.pos = pos


class ListNode(Node):
    __slots__ = ("nodes",)

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.nodes: list[Node] = []

    def __str__(self) -> str:
        return "".join(str(n) for n in self.nodes)


class TextNode(Node):
    __slots__ = ("text",)

    def __init__(self, pos: int, text: str) -> None:
        super().__init__(pos)
        self.text = text

    def __str__(self) -> str:
        return self.text


class PipeNode(Node):
    """A pipeline: declarations (``$x :=``) or assignments (``$x =``), then commands."""

    __slots__ = ("cmds", "decl", "is_assign", "line")

    def __init__(self, pos: int, line: int) -> None:
        super().__init__(pos)
        self.line = line
        self.is_assign = False
        self.decl: list[VariableNode] = []
        self.cmds: list[CommandNode] = []

    def __str__(self) -> str:
        head = ""
        if self.decl:
            head = ", ".join(str(v) for v in self.decl) + (" = " if self.is_assign else " := ")
        return head + " | ".join(str(c) for c in self.cmds)


class ActionNode(Node):
    __slots__ = ("line", "pipe")

    def __init__(self, pos: int, line: int, pipe: PipeNode) -> None:
        super().__init__(pos)
        self.line = line
        self.pipe = pipe

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


class CommandNode(Node):
    __slots__ = ("args",)

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.args: list[Node] = []

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, PipeNode) else str(a) for a in self.args)


class IdentifierNode(Node):
    """A function name."""

    __slots__ = ("ident",)

    def __init__(self, pos: int, ident: str) -> None:
        super().__init__(pos)
        self.ident = ident

    def __str__(self) -> str:
        return self.ident


class VariableNode(Node):
    """``$x.a.b``: the variable, then the fields."""

    __slots__ = ("ident",)

    def __init__(self, pos: int, ident: str) -> None:
        super().__init__(pos)
        self.ident = ident.split(".")

    def __str__(self) -> str:
        return ".".join(self.ident)


class DotNode(Node):
    __slots__ = ()

    def __str__(self) -> str:
        return "."


class NilNode(Node):
    __slots__ = ()

    def __str__(self) -> str:
        return "nil"


class FieldNode(Node):
    """``.a.b``, without the dots."""

    __slots__ = ("ident",)

    def __init__(self, pos: int, ident: str) -> None:
        super().__init__(pos)
        self.ident = ident[1:].split(".")

    def __str__(self) -> str:
        return "".join("." + i for i in self.ident)


class ChainNode(Node):
    """Fields of something that is neither dot nor a variable: ``(pipeline).a``, ``fn.a``."""

    __slots__ = ("field", "node")

    def __init__(self, pos: int, node: Node) -> None:
        super().__init__(pos)
        self.node = node
        self.field: list[str] = []

    def __str__(self) -> str:
        head = f"({self.node})" if isinstance(self.node, PipeNode) else str(self.node)
        return head + "".join("." + f for f in self.field)


class BoolNode(Node):
    __slots__ = ("true",)

    def __init__(self, pos: int, true: bool) -> None:
        super().__init__(pos)
        self.true = true

    def __str__(self) -> str:
        return "true" if self.true else "false"


class NumberNode(Node):
    """A number, with every Go type that can hold it (Go's ideal constants)."""

    __slots__ = (
        "complex128",
        "float64",
        "int64",
        "is_complex",
        "is_float",
        "is_int",
        "is_uint",
        "text",
        "uint64",
    )

    def __init__(self, pos: int, text: str) -> None:
        super().__init__(pos)
        self.text = text
        self.is_int = self.is_uint = self.is_float = self.is_complex = False
        self.int64 = self.uint64 = 0
        self.float64 = 0.0
        self.complex128 = 0j

    def __str__(self) -> str:
        return self.text

    def simplify_complex(self) -> None:
        self.is_float = self.complex128.imag == 0
        if self.is_float:
            self.float64 = self.complex128.real
            self._from_float(self.float64)

    def _from_float(self, f: float) -> None:
        """The int and uint a float holds exactly (Go: float64(int64(f)) == f)."""
        if f.is_integer() and -(1 << 63) <= f < (1 << 63):
            self.is_int, self.int64 = True, int(f)
        if f.is_integer() and 0 <= f < (1 << 64):
            self.is_uint, self.uint64 = True, int(f)


class StringNode(Node):
    __slots__ = ("quoted", "text")

    def __init__(self, pos: int, quoted: str, text: str) -> None:
        super().__init__(pos)
        self.quoted = quoted  # as written, quotes included
        self.text = text  # after unquoting

    def __str__(self) -> str:
        return self.quoted


class EndNode(Node):
    """{{end}}: returned by the parser, never kept in the tree."""

    __slots__ = ()

    def __str__(self) -> str:
        return "{{end}}"


class ElseNode(Node):
    """{{else}}: returned by the parser, never kept in the tree."""

    __slots__ = ("line",)

    def __init__(self, pos: int, line: int) -> None:
        super().__init__(pos)
        self.line = line

    def __str__(self) -> str:
        return "{{else}}"


class BranchNode(Node):
    """What {{if}}, {{range}} and {{with}} share; ``pos`` is their pipeline's."""

    __slots__ = ("else_list", "line", "list", "pipe")
    keyword = ""

    def __init__(
        self, pos: int, line: int, pipe: PipeNode, body: ListNode, else_list: ListNode | None
    ) -> None:
        super().__init__(pos)
        self.line = line
        self.pipe = pipe
        self.list = body
        self.else_list = else_list

    def __str__(self) -> str:
        otherwise = "" if self.else_list is None else "{{else}}" + str(self.else_list)
        return f"{{{{{self.keyword} {self.pipe}}}}}{self.list}{otherwise}{{{{end}}}}"


class IfNode(BranchNode):
    __slots__ = ()
    keyword = "if"


class RangeNode(BranchNode):
    __slots__ = ()
    keyword = "range"


class WithNode(BranchNode):
    __slots__ = ()
    keyword = "with"


class BreakNode(Node):
    __slots__ = ("line",)

    def __init__(self, pos: int, line: int) -> None:
        super().__init__(pos)
        self.line = line

    def __str__(self) -> str:
        return "{{break}}"


class ContinueNode(Node):
    __slots__ = ("line",)

    def __init__(self, pos: int, line: int) -> None:
        super().__init__(pos)
        self.line = line

    def __str__(self) -> str:
        return "{{continue}}"


class TemplateNode(Node):
    """{{template "name" pipeline}}; a {{block}} is one too, after defining its template."""

    __slots__ = ("line", "name", "pipe")

    def __init__(self, pos: int, line: int, name: str, pipe: PipeNode | None) -> None:
        super().__init__(pos)
        self.line = line
        self.name = name
        self.pipe = pipe

    def __str__(self) -> str:
        tail = "" if self.pipe is None else f" {self.pipe}"
        return f"{{{{template {strconv.quote(self.name)}{tail}}}}}"


def new_number(pos: int, text: str, typ: int) -> NumberNode | str:
    """newNumber: the number a token stands for, or Go's error message."""
    n = NumberNode(pos, text)
    if typ == item.CHAR_CONSTANT:
        got = strconv.unquote_char(text, 1, "'")
        if got is None:
            return "invalid syntax"
        if text[got[1] :] != "'":
            return f"malformed character constant: {text}"
        n.is_int = n.is_uint = n.is_float = True
        n.int64 = n.uint64 = ord(got[0])
        n.float64 = float(n.int64)
        return n
    if typ == item.COMPLEX:  # fmt.Sscan into a complex128
        value = strconv.scan_complex(text)
        if isinstance(value, str):
            return value
        n.is_complex, n.complex128 = True, value
        n.simplify_complex()
        return n
    if text.endswith("i"):  # imaginary: complex unless zero
        f = strconv.parse_float(text[:-1])
        if f is not None:
            n.is_complex, n.complex128 = True, complex(0, f)
            n.simplify_complex()
            return n
    u = strconv.parse_uint(text)
    if u is not None:
        n.is_uint, n.uint64 = True, u
    i = strconv.parse_int(text)
    if i is not None:
        n.is_int, n.int64 = True, i
        if i == 0:  # -0
            n.is_uint, n.uint64 = True, 0
    if n.is_int:
        n.is_float, n.float64 = True, float(n.int64)
    elif n.is_uint:
        n.is_float, n.float64 = True, float(n.uint64)
    else:
        f = strconv.parse_float(text)
        if f is not None:
            if not any(c in text for c in ".eEpP"):  # an integer too large for any int
                return f"integer overflow: {strconv.quote(text)}"
            n.is_float, n.float64 = True, f
            n._from_float(f)
    if not (n.is_int or n.is_uint or n.is_float):
        return f"illegal number syntax: {strconv.quote(text)}"
    return n


def is_empty_tree(n: Node | None) -> bool:
    """parse.IsEmptyTree: nothing but space (bytes.TrimSpace) and comments."""
    if n is None:
        return True
    if isinstance(n, ListNode):
        return all(is_empty_tree(child) for child in n.nodes)
    if isinstance(n, TextNode):
        return not n.text.strip(_GO_SPACE)
    return False


# unicode.IsSpace, which bytes.TrimSpace trims.
_GO_SPACE: Final = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    + ("\u2028\u2029\u202f\u205f\u3000")
)
