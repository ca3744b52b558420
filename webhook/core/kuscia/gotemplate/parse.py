"""Go's text/template parser (``text/template/parse/parse.go``): the same grammar, the same errors.

Follows Go 1.26. Positions are code-point offsets in the parsed text (Go's are bytes).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from webhook.core.kuscia.gotemplate import lex, node, strconv


class ParseError(Exception):
    """Go's first parse error: its message (without Go's "template: NAME:LINE: " prefix), and where."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


# text/template's builtins() (funcs.go): what every template may call.
BUILTINS: Final = frozenset(
    {"and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf", "println"}
    | {"urlquery", "eq", "ge", "gt", "le", "lt", "ne"}
)
_OPERANDS: Final = frozenset(
    {lex.BOOL, lex.CHAR_CONSTANT, lex.COMPLEX, lex.DOT, lex.FIELD, lex.IDENTIFIER, lex.NUMBER, lex.NIL}
    | {lex.RAW_STRING, lex.STRING, lex.VARIABLE, lex.LEFT_PAREN}
)
_MAX_DEPTH: Final = 10000  # parse.go maxStackDepth


class Definition:
    """A named template: the top one, a {{define}} or a {{block}}."""

    __slots__ = ("body", "is_block", "pos")

    def __init__(self, pos: int, body: node.List, *, is_block: bool) -> None:
        self.pos = pos
        self.body = body
        self.is_block = is_block


class Parser:
    """Go's ``parse.Tree`` for one text: ``parse()`` returns the top template's body and fills
    ``definitions``; it raises ``ParseError`` where Go's ``Parse`` returns an error."""

    __slots__ = (
        "action_pos",
        "definitions",
        "functions",
        "lex",
        "name",
        "openers",
        "peek_count",
        "range_depth",
        "stack_depth",
        "token",
        "vars",
    )

    def __init__(self, text: str, name: str, functions: Collection[str]) -> None:
        self.name = name  # template.New(name)
        self.functions = functions  # what .Funcs() added to the builtins
        self.lex = lex.Lexer(text)
        self.token: list[lex.Item] = [lex.Item(lex.EOF, 0, "")] * 3
        self.peek_count = 0
        self.vars: list[str] = ["$"]
        self.range_depth = 0
        self.stack_depth = 0
        self.action_pos = 0  # the {{ of the action being parsed
        self.openers: list[tuple[int, str]] = []  # open {{if}}... for "unexpected EOF"
        self.definitions: dict[str, Definition] = {}

    # Tokens.

    def next(self) -> lex.Item:
        if self.peek_count > 0:
            self.peek_count -= 1
        else:
            self.token[0] = self.lex.next_item()
        item = self.token[self.peek_count]
        if item.typ == lex.LEFT_DELIM:
            self.action_pos = item.pos
        return item

    def backup(self) -> None:
        self.peek_count += 1

    def backup2(self, t1: lex.Item) -> None:
        self.token[1] = t1
        self.peek_count = 2

    def backup3(self, t2: lex.Item, t1: lex.Item) -> None:
        self.token[1] = t1
        self.token[2] = t2
        self.peek_count = 3

    def peek(self) -> lex.Item:
        if self.peek_count > 0:
            return self.token[self.peek_count - 1]
        self.peek_count = 1
        self.token[0] = self.lex.next_item()
        return self.token[0]

    def next_non_space(self) -> lex.Item:
        while True:
            token = self.next()
            if token.typ != lex.SPACE:
                return token

    def peek_non_space(self) -> lex.Item:
        token = self.next_non_space()
        self.backup()
        return token

    # Errors.

    def errorf(self, message: str) -> ParseError:
        return ParseError(message, self.action_pos)

    def unexpected(self, token: lex.Item, context: str) -> ParseError:
        if token.typ == lex.ERROR:
            return ParseError(token.val, token.pos)
        return self.errorf(f"unexpected {token} in {context}")

    def expect(self, expected: int, context: str) -> lex.Item:
        token = self.next_non_space()
        if token.typ != expected:
            raise self.unexpected(token, context)
        return token

    # Grammar.

    def parse(self) -> node.List:
        root = node.List(self.peek().pos)
        while self.peek().typ != lex.EOF:
            if self.peek().typ == lex.LEFT_DELIM:
                delim = self.next()
                if self.next_non_space().typ == lex.DEFINE:
                    self.parse_definition()
                    continue
                self.backup2(delim)
            n = self.text_or_action()
            if isinstance(n, node.Marker) and n.kind in ("end", "else"):
                what = (
                    "{{if}}/{{range}}/{{with}}"
                    if n.kind == "else"
                    else "{{if}}/{{range}}/{{with}}/{{define}}"
                )
                raise self.errorf(f"{n} without an open {what} (unexpected {n})")
            root.nodes.append(n)
        self.add(self.name, Definition(0, root, is_block=False))
        return root

    def add(self, name: str, definition: Definition) -> None:
        old = self.definitions.get(name)
        if old is None or is_empty_tree(old.body):
            self.definitions[name] = definition
            return
        if not is_empty_tree(definition.body):
            pos = definition.pos if name != self.name else old.pos
            raise ParseError(f"multiple definition of template {strconv.quote(name)}", pos)

    def sub_tree(self) -> tuple[list[str], int, int]:
        saved = (self.vars, self.range_depth, self.stack_depth)
        self.vars, self.range_depth, self.stack_depth = ["$"], 0, 0
        return saved

    def parse_definition(self) -> None:
        context = "define clause"
        pos = self.action_pos
        saved = self.sub_tree()
        token = self.next_non_space()
        if token.typ not in (lex.STRING, lex.RAW_STRING):
            raise self.unexpected(token, context)
        name = strconv.unquote(token.val)
        if name is None:
            raise self.errorf("invalid syntax")
        self.expect(lex.RIGHT_DELIM, context)
        self.openers.append((pos, "define"))
        body, end = self.item_list()
        self.openers.pop()
        if not (isinstance(end, node.Marker) and end.kind == "end"):
            raise self.errorf(f"unexpected {end} in {context}")
        self.add(name, Definition(pos, body, is_block=False))
        self.vars, self.range_depth, self.stack_depth = saved

    def item_list(self) -> tuple[node.List, node.Node]:
        body = node.List(self.peek_non_space().pos)
        while self.peek_non_space().typ != lex.EOF:
            n = self.text_or_action()
            if isinstance(n, node.Marker) and n.kind in ("end", "else"):
                return body, n
            body.nodes.append(n)
        pos, kind = self.openers[-1] if self.openers else (self.action_pos, "action")
        raise ParseError(f"{{{{{kind}}}}} has no matching {{{{end}}}} (unexpected EOF)", pos)

    def text_or_action(self) -> node.Node:
        token = self.next_non_space()
        if token.typ == lex.TEXT:
            return node.Text(token.pos, token.val)
        if token.typ == lex.LEFT_DELIM:
            return self.action()
        raise self.unexpected(token, "input")

    def action(self) -> node.Node:
        token = self.next_non_space()
        typ = token.typ
        if typ == lex.BLOCK:
            return self.block_control()
        if typ in (lex.BREAK, lex.CONTINUE):
            kind = token.val
            after = self.next_non_space()
            if after.typ != lex.RIGHT_DELIM:
                raise self.unexpected(after, "{{" + kind + "}}")
            if self.range_depth == 0:
                raise self.errorf("{{" + kind + "}} outside {{range}}")
            return node.Marker(token.pos, kind)
        if typ == lex.ELSE:
            peek = self.peek_non_space()
            if peek.typ in (lex.IF, lex.WITH):
                return node.Marker(peek.pos, "else")
            return node.Marker(self.expect(lex.RIGHT_DELIM, "else").pos, "else")
        if typ == lex.END:
            return node.Marker(self.expect(lex.RIGHT_DELIM, "end").pos, "end")
        if typ == lex.IF:
            return self.parse_control("if")
        if typ == lex.RANGE:
            return self.parse_control("range")
        if typ == lex.TEMPLATE:
            return self.template_control()
        if typ == lex.WITH:
            return self.parse_control("with")
        self.backup()
        pos = self.peek().pos
        return node.Action(pos, self.pipeline("command", lex.RIGHT_DELIM))

    def pipeline(self, context: str, end: int) -> node.Pipe:
        pipe = node.Pipe(self.peek_non_space().pos)
        while True:  # declarations (the "decls" label of parse.go)
            v = self.peek_non_space()
            if v.typ != lex.VARIABLE:
                break
            self.next()
            after_variable = self.peek()
            nxt = self.peek_non_space()
            if nxt.typ in (lex.ASSIGN, lex.DECLARE):
                self.next_non_space()
                pipe.decl.append(v.val)
                self.vars.append(v.val)
            elif nxt.typ == lex.CHAR and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(v.val)
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in (lex.VARIABLE, lex.RIGHT_DELIM, lex.RIGHT_PAREN):
                        continue
                    raise self.errorf("range can only initialize variables")
                raise self.errorf(f"too many declarations in {context}")
            elif after_variable.typ == lex.SPACE:
                self.backup3(v, after_variable)
            else:
                self.backup2(v)
            break
        while True:
            token = self.next_non_space()
            if token.typ == end:
                if not pipe.cmds:
                    raise self.errorf(f"missing value for {context}")
                for i, c in enumerate(pipe.cmds[1:]):
                    first = c.args[0]
                    if isinstance(first, node.Literal):
                        raise self.errorf(f"non executable command in pipeline stage {i + 2}")
                return pipe
            if token.typ not in _OPERANDS:
                raise self.unexpected(token, context)
            self.backup()
            pipe.cmds.append(self.command())

    def parse_control(self, context: str) -> node.Branch:
        pos = self.action_pos
        saved = len(self.vars)
        pipe = self.pipeline(context, lex.RIGHT_DELIM)
        if context == "range":
            self.range_depth += 1
        self.openers.append((pos, context))
        body, nxt = self.item_list()
        if context == "range":
            self.range_depth -= 1
        else_body: node.List | None = None
        if isinstance(nxt, node.Marker) and nxt.kind == "else":
            if context == "if" and self.peek().typ == lex.IF:
                self.next()
                else_body = node.List(nxt.pos)
                else_body.nodes.append(self.parse_control("if"))
            elif context == "with" and self.peek().typ == lex.WITH:
                self.next()
                else_body = node.List(nxt.pos)
                else_body.nodes.append(self.parse_control("with"))
            else:
                else_body, nxt = self.item_list()
                if not (isinstance(nxt, node.Marker) and nxt.kind == "end"):
                    raise self.errorf(f"expected end; found {nxt}")
        self.openers.pop()
        del self.vars[saved:]
        return node.Branch(pos, context, pipe, body, else_body)

    def block_control(self) -> node.Node:
        context = "block clause"
        pos = self.action_pos
        token = self.next_non_space()
        name = self.template_name(token, context)
        pipe = self.pipeline(context, lex.RIGHT_DELIM)
        saved = self.sub_tree()
        self.openers.append((pos, "block"))
        body, end = self.item_list()
        self.openers.pop()
        if not (isinstance(end, node.Marker) and end.kind == "end"):
            raise self.errorf(f"unexpected {end} in {context}")
        self.add(name, Definition(pos, body, is_block=True))
        self.vars, self.range_depth, self.stack_depth = saved
        return node.Template(token.pos, name, pipe, body)

    def template_control(self) -> node.Node:
        context = "template clause"
        token = self.next_non_space()
        name = self.template_name(token, context)
        pipe: node.Pipe | None = None
        if self.next_non_space().typ != lex.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, lex.RIGHT_DELIM)
        return node.Template(token.pos, name, pipe)

    def template_name(self, token: lex.Item, context: str) -> str:
        if token.typ not in (lex.STRING, lex.RAW_STRING):
            raise self.unexpected(token, context)
        name = strconv.unquote(token.val)
        if name is None:
            raise self.errorf("invalid syntax")
        return name

    def command(self) -> node.Command:
        cmd = node.Command(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            token = self.next()
            if token.typ == lex.SPACE:
                continue
            if token.typ in (lex.RIGHT_DELIM, lex.RIGHT_PAREN):
                self.backup()
            elif token.typ != lex.PIPE:
                raise self.unexpected(token, "operand")
            break
        if not cmd.args:
            raise self.errorf("empty command")
        return cmd

    def operand(self) -> node.Node | None:
        n = self.term()
        if n is None:
            return None
        if self.peek().typ == lex.FIELD:
            pos = self.peek().pos
            fields: list[str] = []
            while self.peek().typ == lex.FIELD:
                fields.append(self.next().val)
            if isinstance(n, node.Field):
                return node.Field(n.pos, n.idents + [f[1:] for f in fields], variable=n.variable)
            if isinstance(n, node.Literal):
                raise self.errorf(f"unexpected . after term {strconv.quote(n.text)}")
            return node.Chain(pos, n)
        return n

    def term(self) -> node.Node | None:
        token = self.next_non_space()
        typ = token.typ
        if typ == lex.IDENTIFIER:
            if token.val not in BUILTINS and token.val not in self.functions:
                raise self.errorf(f"function {strconv.quote(token.val)} not defined")
            return node.Identifier(token.pos, token.val)
        if typ == lex.DOT:
            return node.Literal(token.pos, "dot", ".")
        if typ == lex.NIL:
            return node.Literal(token.pos, "nil", "nil")
        if typ == lex.VARIABLE:
            if token.val not in self.vars:
                raise self.errorf(f"undefined variable {strconv.quote(token.val)}")
            return node.Field(token.pos, [token.val], variable=True)
        if typ == lex.FIELD:
            return node.Field(token.pos, [token.val[1:]], variable=False)
        if typ == lex.BOOL:
            return node.Literal(token.pos, "bool", token.val)
        if typ in (lex.CHAR_CONSTANT, lex.COMPLEX, lex.NUMBER):
            problem = node.number_error(token.val, typ)
            if problem:
                raise self.errorf(problem)
            return node.Literal(token.pos, "number", token.val)
        if typ == lex.LEFT_PAREN:
            if self.stack_depth >= _MAX_DEPTH:
                raise self.errorf("max expression depth exceeded")
            self.stack_depth += 1
            try:
                return self.pipeline("parenthesized pipeline", lex.RIGHT_PAREN)
            finally:
                self.stack_depth -= 1
        if typ in (lex.STRING, lex.RAW_STRING):
            value = strconv.unquote(token.val)
            if value is None:
                raise self.errorf("invalid syntax")
            return node.Literal(token.pos, "string", token.val, value)
        self.backup()
        return None


_GO_SPACE: Final = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
)
_GO_SPACE_ALL: Final = _GO_SPACE + "\u2028\u2029\u202f\u205f\u3000"


def is_empty_tree(body: node.List) -> bool:
    """parse.IsEmptyTree: nothing but space (comments are never kept)."""
    return all(isinstance(n, node.Text) and not n.text.strip(_GO_SPACE_ALL) for n in body.nodes)
