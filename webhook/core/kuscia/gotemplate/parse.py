"""Go's text/template parser (``text/template/parse/parse.go``) over the token ``stream``: the
same grammar, the same trees, the same first error (``stream.ParseError``) with the same message
at the same line.

Follows Go 1.26. Positions are code-point offsets.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from webhook.core.kuscia.gotemplate import item, node, scan, strconv, stream

# text/template's builtins() (funcs.go): what every template may call.
BUILTINS: Final = frozenset(
    {"and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf", "println"}
    | {"urlquery", "eq", "ge", "gt", "le", "lt", "ne"}
)
_OPERANDS: Final = frozenset(
    {item.BOOL, item.CHAR_CONSTANT, item.COMPLEX, item.DOT, item.FIELD, item.IDENTIFIER, item.NUMBER}
    | {item.NIL, item.RAW_STRING, item.STRING, item.VARIABLE, item.LEFT_PAREN}
)
_MAX_DEPTH: Final = 10000  # parse.go maxStackDepth
_LITERALS: Final = (node.BoolNode, node.DotNode, node.NilNode, node.NumberNode, node.StringNode)


def parse(name: str, text: str, functions: Collection[str]) -> dict[str, Tree]:
    """parse.Parse with the default delimiters: the trees by name, or ``ParseError``."""
    trees: dict[str, Tree] = {}
    t = Tree(name, name, text, functions, scan.Lexer(text), trees, 0)
    t.parse()
    old = trees.get(name)
    t.add(() if old is None else (old.start,))
    return trees


class Tree(stream.Stream):
    """Go's ``parse.Tree``: one template's tree, and the parsing state of the text it comes from
    (a {{define}} or {{block}} gets a tree of its own over the same lexer)."""

    def __init__(
        self, name: str, parse_name: str, text: str, functions: Collection[str], lexer: scan.Lexer,
        tree_set: dict[str, Tree], start: int,
    ) -> None:
        super().__init__(parse_name, text, lexer)
        self.name = name
        self.functions = functions  # what .Funcs() added to the builtins
        self.tree_set = tree_set
        self.root = node.ListNode(0)
        self.vars = ["$"]
        self.range_depth = 0
        self.stack_depth = 0
        self.start = start  # ours: the {{ of its {{define}} or {{block}}
        self.openers: list[tuple[str, int]] = []  # ours: the constructs open, for "unexpected EOF"

    # The grammar.

    def add(self, prefer: tuple[int, ...] = ()) -> None:
        """Put the tree in the set, unless a non-empty one of that name is there."""
        tree = self.tree_set.get(self.name)
        if tree is None or node.is_empty_tree(tree.root):
            self.tree_set[self.name] = self
            return
        if not node.is_empty_tree(self.root):
            raise self.errorf(f"template: multiple definition of template {strconv.quote(self.name)}", prefer)

    def parse(self) -> None:
        """The top-level template: text and actions, {{define}} allowed, up to EOF."""
        self.root = node.ListNode(self.peek().pos)
        while self.peek().typ != item.EOF:
            if self.peek().typ == item.LEFT_DELIM:
                delim = self.next()
                if self.next_non_space().typ == item.DEFINE:
                    tree = Tree(
                        "definition",
                        self.parse_name,
                        self.text,
                        self.functions,
                        self.lex,
                        self.tree_set,
                        delim.pos,
                    )
                    tree.parse_definition()
                    continue
                self.backup2(delim)
            n = self.text_or_action()
            if isinstance(n, (node.EndNode, node.ElseNode)):
                raise self.errorf(f"unexpected {n}")
            self.root.nodes.append(n)

    def parse_definition(self) -> None:
        context = "define clause"
        token = self.next_non_space()
        if token.typ not in (item.STRING, item.RAW_STRING):
            raise self.unexpected(token, context)
        name = strconv.unquote(token.val)
        if name is None:
            raise self.errorf("invalid syntax")
        self.name = name
        self.expect(item.RIGHT_DELIM, context)
        self.openers.append(("define", self.start))
        self.root, end = self.item_list()
        if not isinstance(end, node.EndNode):
            raise self.errorf(f"unexpected {end} in {context}")
        self.add((self.start,))

    def item_list(self) -> tuple[node.ListNode, node.Node]:
        """textOrAction* up to {{end}} or {{else}}, returned apart."""
        body = node.ListNode(self.peek_non_space().pos)
        while self.peek_non_space().typ != item.EOF:
            n = self.text_or_action()
            if isinstance(n, (node.EndNode, node.ElseNode)):
                return body, n
            body.nodes.append(n)
        opener = self.openers[-1] if self.openers else None
        raise self.errorf("unexpected EOF", () if opener is None else (opener[1],), opener)

    def text_or_action(self) -> node.Node:
        token = self.next_non_space()
        if token.typ == item.TEXT:
            return node.TextNode(token.pos, token.val)
        if token.typ == item.LEFT_DELIM:
            self.action_line = token.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        raise self.unexpected(token, "input")

    def action(self) -> node.Node:
        token = self.next_non_space()
        typ = token.typ
        if typ == item.BLOCK:
            return self.block_control()
        if typ in (item.BREAK, item.CONTINUE):
            return self.break_control(token)
        if typ == item.ELSE:
            return self.else_control()
        if typ == item.END:
            return node.EndNode(self.expect(item.RIGHT_DELIM, "end").pos)
        if typ == item.IF:
            return node.IfNode(*self.parse_control("if"))
        if typ == item.RANGE:
            return node.RangeNode(*self.parse_control("range"))
        if typ == item.TEMPLATE:
            return self.template_control()
        if typ == item.WITH:
            return node.WithNode(*self.parse_control("with"))
        self.backup()
        token = self.peek()
        return node.ActionNode(token.pos, token.line, self.pipeline("command", item.RIGHT_DELIM))

    def pipeline(self, context: str, end: int) -> node.PipeNode:
        """declarations? command ('|' command)*"""
        token = self.peek_non_space()
        pipe = node.PipeNode(token.pos, token.line)
        while (v := self.peek_non_space()).typ == item.VARIABLE:  # Go's "decls:" label
            self.next()
            after_variable = self.peek()
            nxt = self.peek_non_space()
            if nxt.typ in (item.ASSIGN, item.DECLARE):
                pipe.is_assign = nxt.typ == item.ASSIGN
                self.next_non_space()
                pipe.decl.append(node.VariableNode(v.pos, v.val))
                self.vars.append(v.val)
            elif nxt.typ == item.CHAR and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(node.VariableNode(v.pos, v.val))
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in (item.VARIABLE, item.RIGHT_DELIM, item.RIGHT_PAREN):
                        continue  # the second variable of a range
                    raise self.errorf("range can only initialize variables")
                raise self.errorf(f"too many declarations in {context}")
            elif after_variable.typ == item.SPACE:
                self.backup3(v, after_variable)
            else:
                self.backup2(v)
            break
        while True:
            token = self.next_non_space()
            if token.typ == end:
                self.check_pipeline(pipe, context)
                return pipe
            if token.typ not in _OPERANDS:
                raise self.unexpected(token, context)
            self.backup()
            pipe.cmds.append(self.command())

    def check_pipeline(self, pipe: node.PipeNode, context: str) -> None:
        if not pipe.cmds:
            raise self.errorf(f"missing value for {context}")
        for i, c in enumerate(pipe.cmds[1:]):
            if isinstance(c.args[0], _LITERALS):
                raise self.errorf(f"non executable command in pipeline stage {i + 2}")

    def command(self) -> node.CommandNode:
        """operand (space operand)*, up to a pipe (consumed) or a right delimiter or paren."""
        cmd = node.CommandNode(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            token = self.next()
            if token.typ == item.SPACE:
                continue
            if token.typ in (item.RIGHT_DELIM, item.RIGHT_PAREN):
                self.backup()
            elif token.typ != item.PIPE:
                raise self.unexpected(token, "operand")
            break
        if not cmd.args:
            raise self.errorf("empty command")
        return cmd

    def operand(self) -> node.Node | None:
        """term .Field*"""
        n = self.term()
        if n is None:
            return None
        if self.peek().typ != item.FIELD:
            return n
        chain = node.ChainNode(self.peek().pos, n)
        while self.peek().typ == item.FIELD:
            chain.field.append(self.next().val[1:])
        if isinstance(n, node.FieldNode):
            return node.FieldNode(chain.pos, str(chain))
        if isinstance(n, node.VariableNode):
            return node.VariableNode(chain.pos, str(chain))
        if isinstance(n, _LITERALS):
            raise self.errorf(f"unexpected . after term {strconv.quote(str(n))}")
        return chain

    def term(self) -> node.Node | None:
        """A literal, a function name, dot, a field, a variable, or a parenthesized pipeline."""
        token = self.next_non_space()
        typ = token.typ
        if typ == item.IDENTIFIER:
            if token.val not in BUILTINS and token.val not in self.functions:
                raise self.errorf(f"function {strconv.quote(token.val)} not defined")
            return node.IdentifierNode(token.pos, token.val)
        if typ == item.DOT:
            return node.DotNode(token.pos)
        if typ == item.NIL:
            return node.NilNode(token.pos)
        if typ == item.VARIABLE:
            if token.val not in self.vars:
                raise self.errorf(f"undefined variable {strconv.quote(token.val)}")
            return node.VariableNode(token.pos, token.val)
        if typ == item.FIELD:
            return node.FieldNode(token.pos, token.val)
        if typ == item.BOOL:
            return node.BoolNode(token.pos, token.val == "true")
        if typ in (item.CHAR_CONSTANT, item.COMPLEX, item.NUMBER):
            number = node.new_number(token.pos, token.val, typ)
            if isinstance(number, str):
                raise self.errorf(number)
            return number
        if typ == item.LEFT_PAREN:
            if self.stack_depth >= _MAX_DEPTH:
                raise self.errorf("max expression depth exceeded")
            self.stack_depth += 1
            try:
                return self.pipeline("parenthesized pipeline", item.RIGHT_PAREN)
            finally:
                self.stack_depth -= 1
        if typ in (item.STRING, item.RAW_STRING):
            text = strconv.unquote(token.val)
            if text is None:
                raise self.errorf("invalid syntax")
            return node.StringNode(token.pos, token.val, text)
        self.backup()
        return None

    # The control actions (parse.go's *Control).

    def parse_control(
        self, context: str
    ) -> tuple[int, int, node.PipeNode, node.ListNode, node.ListNode | None]:
        """{{if}}, {{range}} or {{with}}: the pipeline, the list, and the else list if any."""
        saved = len(self.vars)
        try:
            opener = (context, self.lex.action_pos)
            pipe = self.pipeline(context, item.RIGHT_DELIM)
            if context == "range":
                self.range_depth += 1
            self.openers.append(opener)
            body, nxt = self.item_list()
            if context == "range":
                self.range_depth -= 1
            else_list = None
            if isinstance(nxt, node.ElseNode):
                # "else if" and "else with" are {{else}}{{if ...}}...{{end}}{{end}}: parse the if
                # or with and let its {{end}} close both.
                if context == "if" and self.peek().typ == item.IF:
                    self.next()
                    else_list = node.ListNode(nxt.pos)
                    else_list.nodes.append(node.IfNode(*self.parse_control("if")))
                elif context == "with" and self.peek().typ == item.WITH:
                    self.next()
                    else_list = node.ListNode(nxt.pos)
                    else_list.nodes.append(node.WithNode(*self.parse_control("with")))
                else:
                    else_list, nxt = self.item_list()
                    if not isinstance(nxt, node.EndNode):
                        raise self.errorf(f"expected end; found {nxt}")
            self.openers.pop()
            return pipe.pos, pipe.line, pipe, body, else_list
        finally:
            del self.vars[saved:]

    def else_control(self) -> node.Node:
        peek = self.peek_non_space()
        if peek.typ in (item.IF, item.WITH):  # "else if"/"else with": leave the keyword pending
            return node.ElseNode(peek.pos, peek.line)
        token = self.expect(item.RIGHT_DELIM, "else")
        return node.ElseNode(token.pos, token.line)

    def break_control(self, keyword: item.Item) -> node.Node:
        word = "{{" + keyword.val + "}}"
        token = self.next_non_space()
        if token.typ != item.RIGHT_DELIM:
            raise self.unexpected(token, word)
        if self.range_depth == 0:
            raise self.errorf(word + " outside {{range}}")
        if keyword.typ == item.BREAK:
            return node.BreakNode(keyword.pos, keyword.line)
        return node.ContinueNode(keyword.pos, keyword.line)

    def block_control(self) -> node.Node:
        """{{block "name" pipeline}}: defines the template and calls it here."""
        context = "block clause"
        start = self.lex.action_pos
        token = self.next_non_space()
        name = self.template_name(token, context)
        pipe = self.pipeline(context, item.RIGHT_DELIM)
        block = type(self)(name, self.parse_name, self.text, self.functions, self.lex, self.tree_set, start)
        block.openers.append(("block", start))
        block.root, end = block.item_list()
        if not isinstance(end, node.EndNode):
            raise self.errorf(f"unexpected {end} in {context}")  # this tree's, as Go does
        block.add((start,))
        return node.TemplateNode(token.pos, token.line, name, pipe)

    def template_control(self) -> node.Node:
        context = "template clause"
        token = self.next_non_space()
        name = self.template_name(token, context)
        pipe = None
        if self.next_non_space().typ != item.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, item.RIGHT_DELIM)
        return node.TemplateNode(token.pos, token.line, name, pipe)

    def template_name(self, token: item.Item, context: str) -> str:
        if token.typ not in (item.STRING, item.RAW_STRING):
            raise self.unexpected(token, context)
        name = strconv.unquote(token.val)
        if name is None:
            raise self.errorf("invalid syntax")
        return name
