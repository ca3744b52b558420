"""What Go's text/template does when it executes a parsed template (``text/template/exec.go``),
over the kinds of values (``funcs``) instead of values: the errors an action raises whenever it
runs, whatever the data's values are.

Follows Go 1.26, walking the tree as ``exec.go`` does and pointing where its ``s.at(node)`` points
(so an error's place is Go's, stale node and all). An operation is an error only when it fails
for every kind its operands may have. Both branches of a condition are walked (the rule is "fails
whenever it runs", whether or not the data makes it run), each called template with the kind of
dot it is called with, templates never called with an unknown dot, and a template that calls
itself outside any if/with/range fails as Go's does 100,000 calls deep. Left out: what hangs on
the values (an index past the end of a variable's value, ``eq`` past a comparison whose outcome
is not known, recursion under a condition). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from webhook.core.kuscia.gotemplate import evaluate, funcs, node, parse, strconv


def execute(
    trees: Mapping[str, parse.Tree],
    name: str,
    data: funcs.Value,
    functions: Mapping[str, funcs.Signature],
    observe: evaluate.Observer | None = None,
    *,
    full: bool = False,
) -> list[evaluate.Failure]:
    """The failures of executing template ``name`` over data of kind ``data``, in the order Go
    meets them in each template. ``full``: the data map is never empty (so it counts as true).
    ``observe("field", name, node)`` hears of each field read from a map, ``observe("call",
    function, command)`` of each function called."""
    state = _State(trees, {**funcs.BUILTINS, **functions}, observe or (lambda what, name, n: None), full)
    state.template(name, data)
    for other in trees:  # templates nothing calls: Go never runs them; check what is certain
        if not any(done == other for done, _ in state.walked):
            state.template(other, funcs.ANY)
    return state.failures



_MAX_DEPTH: Final = 100000  # exec.go maxExecDepth
_Body = tuple[funcs.Value, node.ListNode | None, dict[str, funcs.Value]]  # dot, list, variables


class _State(evaluate.Evaluator):
    """Go's ``state`` as walking needs it: what was found, and the templates being walked."""

    def __init__(
        self,
        trees: Mapping[str, parse.Tree],
        functions: Mapping[str, funcs.Signature],
        observe: evaluate.Observer,
        full: bool,
    ) -> None:
        super().__init__(functions, observe, full)
        self.trees = trees
        self.failures: list[evaluate.Failure] = []
        self.seen: set[tuple[int, str]] = set()
        self.walked: set[tuple[str, funcs.Value]] = set()
        # The templates being walked, whether each was called outside any if/with/range of its
        # caller, and how deep in if/with/range the walk is in the innermost one.
        self.stack: list[str] = []
        self.entered: list[bool] = []
        self.conditional = 0

    def record(self, failure: evaluate.Failure) -> None:
        if (failure.pos, failure.message) not in self.seen:
            self.seen.add((failure.pos, failure.message))
            self.failures.append(failure)

    # Walking.

    def template(self, name: str, dot: funcs.Value, *, unconditional: bool = True) -> None:
        key = (name, dot)
        if key in self.walked:
            return
        self.walked.add(key)
        saved = self.vars, self.conditional
        self.vars, self.conditional = [("$", dot)], 0
        self.stack.append(name)
        self.entered.append(unconditional)
        try:
            self.walk(dot, self.trees[name].root)
        finally:
            self.stack.pop()
            self.entered.pop()
            self.vars, self.conditional = saved

    def walk(self, dot: funcs.Value, n: node.Node) -> None:
        self.at(n)
        if isinstance(n, node.ListNode):
            for child in n.nodes:
                self.calling = None
                try:
                    self.walk(dot, child)
                except evaluate.Failed as e:
                    self.record(e.failure)
        elif isinstance(n, node.ActionNode):
            self.pipeline(dot, n.pipe)
        elif isinstance(n, (node.IfNode, node.WithNode)):
            self.branch(dot, n)
        elif isinstance(n, node.RangeNode):
            self.range(dot, n)
        elif isinstance(n, node.TemplateNode):
            self.at(n)
            if n.name not in self.trees:
                raise self.fail(f"template {strconv.quote(n.name)} not defined")
            value = self.pipeline(dot, n.pipe) if n.pipe is not None else frozenset({funcs.INVALID})
            if n.name in self.stack:
                # A template that calls itself, not under any if/with/range on the way: each call
                # is the same as the last, down to Go's limit.
                start = self.stack.index(n.name)
                if self.conditional == 0 and all(self.entered[start + 1 :]):
                    # Go stops at the first {{template}} of the one the cycle is in 100,000 deep.
                    cycle = self.stack[start:]
                    deepest = self.trees[cycle[(_MAX_DEPTH - start) % len(cycle)]].root.nodes
                    self.at(next((c for c in deepest if isinstance(c, node.TemplateNode)), n))
                    raise self.fail(f"exceeded maximum template depth ({_MAX_DEPTH})")
                return
            self.template(n.name, value, unconditional=self.conditional == 0)

    def bodies(self, lists: list[_Body]) -> None:
        """Walk each list from the same variables; after, each outer variable may hold what any
        of them left in it."""
        mark = len(self.vars)
        before = list(self.vars)
        after: list[list[tuple[str, funcs.Value]]] = []
        self.conditional += 1
        for dot, body, extra in lists:
            self.vars = list(before) + list(extra.items())
            if body is not None:
                self.walk(dot, body)
            after.append(self.vars[:mark])
        self.conditional -= 1
        self.vars = [
            (name, frozenset().union(*(a[i][1] for a in after))) for i, (name, _) in enumerate(before)
        ]

    def branch(self, dot: funcs.Value, n: node.BranchNode) -> None:
        mark = len(self.vars)
        try:
            value = self.pipeline(dot, n.pipe)
        except evaluate.Failed as e:
            self.record(e.failure)
            value = funcs.ANY
        declared = dict(self.vars[mark:])
        del self.vars[mark:]
        inner = value if isinstance(n, node.WithNode) else dot
        truth = self.truth(value, _sole(n.pipe))  # a branch a literal rules out never runs
        lists: list[_Body] = [(inner, n.list, declared)] if truth is not False else []
        if truth is not True:
            lists.append((dot, n.else_list, declared))
        self.bodies(lists)

    def range(self, dot: funcs.Value, n: node.RangeNode) -> None:
        self.at(n)
        mark = len(self.vars)
        try:
            value = self.pipeline(dot, n.pipe)
            element, key = self.elements(value, len(n.pipe.decl))
        except evaluate.Failed as e:
            self.record(e.failure)
            value = element = key = funcs.ANY
        del self.vars[mark:]
        declared: dict[str, funcs.Value] = {}
        if len(n.pipe.decl) == 1:
            declared[n.pipe.decl[0].ident[0]] = element
        elif len(n.pipe.decl) == 2:
            declared[n.pipe.decl[0].ident[0]] = key
            declared[n.pipe.decl[1].ident[0]] = element
        if n.pipe.is_assign:  # the variables are the outer ones, set each iteration
            for name, kind in declared.items():
                self.set_var(name, kind)
            declared = {}
        runs = self.runs(value)
        lists: list[_Body] = [(element, n.list, declared)] if runs is not False else []
        if runs is not True:
            lists.append((dot, n.else_list, {}))
        self.bodies(lists)

    def runs(self, value: funcs.Value) -> bool | None:
        """Whether a range over ``value`` iterates, when certain."""
        count = funcs.number(value)
        if count is not None:
            return count > 0
        if value == frozenset({funcs.MAP}) and self.full:
            return True
        return False if value == frozenset({funcs.INVALID}) else None

    def elements(self, value: funcs.Value, variables: int) -> tuple[funcs.Value, funcs.Value]:
        """What ranging over ``value`` gives each iteration (element, key), or Go's failure."""

        def fails(kind: str) -> str | None:
            if kind in (funcs.INT, funcs.UINT8):
                return (
                    f"can't use an {kind} to iterate over more than one variable" if variables > 1 else None
                )
            if kind in (funcs.MAP, funcs.INVALID):
                return None
            return f"range can't iterate over a {kind}"

        failure = funcs.certain(value, fails)
        if failure:
            raise self.fail(failure)
        value = funcs.kinds(value)
        if "any" in value:
            return funcs.ANY, funcs.ANY
        element = frozenset(
            funcs.INT if k in (funcs.INT, funcs.UINT8) else funcs.STRING for k in value if k != funcs.INVALID
        )
        return element or funcs.ANY, funcs.STRINGS if funcs.MAP in value else funcs.ANY

    # Evaluating.


def _sole(pipe: node.PipeNode) -> node.Node | None:
    """The one operand of a pipeline that is just that (a literal's truth is known)."""
    if len(pipe.cmds) == 1 and len(pipe.cmds[0].args) == 1:
        return pipe.cmds[0].args[0]
    return None
