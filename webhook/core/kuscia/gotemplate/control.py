"""The control actions of Go's template parser (``text/template/parse/parse.go``: ifControl,
rangeControl, withControl and parseControl, elseControl, breakControl, continueControl,
blockControl, templateControl and parseTemplateName), as functions of the tree being parsed.

Follows Go 1.26, as ``parse`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from webhook.core.kuscia.gotemplate import item, node, strconv

if TYPE_CHECKING:
    from webhook.core.kuscia.gotemplate import parse


def parse_control(
    t: parse.Tree, context: str
) -> tuple[int, int, node.PipeNode, node.ListNode, node.ListNode | None]:
    """{{if}}, {{range}} or {{with}}: the pipeline, the list, and the else list if any."""
    saved = len(t.vars)
    try:
        opener = (context, t.lex.action_pos)
        pipe = t.pipeline(context, item.RIGHT_DELIM)
        if context == "range":
            t.range_depth += 1
        t.openers.append(opener)
        body, nxt = t.item_list()
        if context == "range":
            t.range_depth -= 1
        else_list = None
        if isinstance(nxt, node.ElseNode):
            # "else if" and "else with" are {{else}}{{if ...}}...{{end}}{{end}}: parse the if
            # or with and let its {{end}} close both.
            if context == "if" and t.peek().typ == item.IF:
                t.next()
                else_list = node.ListNode(nxt.pos)
                else_list.nodes.append(node.IfNode(*parse_control(t, "if")))
            elif context == "with" and t.peek().typ == item.WITH:
                t.next()
                else_list = node.ListNode(nxt.pos)
                else_list.nodes.append(node.WithNode(*parse_control(t, "with")))
            else:
                else_list, nxt = t.item_list()
                if not isinstance(nxt, node.EndNode):
                    raise t.errorf(f"expected end; found {nxt}")
        t.openers.pop()
        return pipe.pos, pipe.line, pipe, body, else_list
    finally:
        del t.vars[saved:]


def else_control(t: parse.Tree) -> node.Node:
    peek = t.peek_non_space()
    if peek.typ in (item.IF, item.WITH):  # "else if"/"else with": leave the keyword pending
        return node.ElseNode(peek.pos, peek.line)
    token = t.expect(item.RIGHT_DELIM, "else")
    return node.ElseNode(token.pos, token.line)


def break_control(t: parse.Tree, keyword: item.Item) -> node.Node:
    word = "{{" + keyword.val + "}}"
    token = t.next_non_space()
    if token.typ != item.RIGHT_DELIM:
        raise t.unexpected(token, word)
    if t.range_depth == 0:
        raise t.errorf(word + " outside {{range}}")
    if keyword.typ == item.BREAK:
        return node.BreakNode(keyword.pos, keyword.line)
    return node.ContinueNode(keyword.pos, keyword.line)


def block_control(t: parse.Tree) -> node.Node:
    """{{block "name" pipeline}}: defines the template and calls it here."""
    context = "block clause"
    start = t.lex.action_pos
    token = t.next_non_space()
    name = template_name(t, token, context)
    pipe = t.pipeline(context, item.RIGHT_DELIM)
    block = type(t)(name, t.parse_name, t.text, t.functions, t.lex, t.tree_set, start)
    block.openers.append(("block", start))
    block.root, end = block.item_list()
    if not isinstance(end, node.EndNode):
        raise t.errorf(f"unexpected {end} in {context}")  # this tree's, as Go does
    block.add((start,))
    return node.TemplateNode(token.pos, token.line, name, pipe)


def template_control(t: parse.Tree) -> node.Node:
    context = "template clause"
    token = t.next_non_space()
    name = template_name(t, token, context)
    pipe = None
    if t.next_non_space().typ != item.RIGHT_DELIM:
        t.backup()
        pipe = t.pipeline(context, item.RIGHT_DELIM)
    return node.TemplateNode(token.pos, token.line, name, pipe)


def template_name(t: parse.Tree, token: item.Item, context: str) -> str:
    if token.typ not in (item.STRING, item.RAW_STRING):
        raise t.unexpected(token, context)
    name = strconv.unquote(token.val)
    if name is None:
        raise t.errorf("invalid syntax")
    return name
