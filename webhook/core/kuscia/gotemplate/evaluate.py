"""Evaluating pipelines as Go's text/template does (the eval* half of ``text/template/exec.go``),
over kinds of values (``funcs``): commands, fields, variables, function calls and their
arguments, and where Go is (``s.at``) when one fails.

Follows Go 1.26. ``Evaluator`` is the state ``execution`` walks the tree with; an action that fails
raises ``Failed`` and Go's place, message and node. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from webhook.core.kuscia.gotemplate import funcs, node


@dataclass(frozen=True, slots=True)
class Failure:
    """An action that fails whenever it runs: where Go says (a code-point offset), Go's message,
    and the node Go was at."""

    pos: int
    message: str
    node: node.Node
    function: str | None  # the function whose call or argument failed, if any


class Failed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


Observer = Callable[[str, str, node.Node], None]


class Evaluator:
    """Go's ``state`` as evaluation needs it: the node it is at, the variables, the functions."""

    def __init__(self, functions: Mapping[str, funcs.Signature], observe: Observer, full: bool) -> None:
        self.full = full  # the data map is never empty
        self.functions = functions
        self.observe = observe
        self.node: node.Node = node.ListNode(0)
        self.calling: str | None = None  # ours: the function being called, for messages
        self.vars: list[tuple[str, funcs.Value]] = []

    def at(self, n: node.Node) -> None:
        self.node = n

    def fail(self, message: str) -> Failed:
        return Failed(Failure(self.node.pos, message, self.node, self.calling))

    # Variables.

    def var(self, name: str) -> funcs.Value:
        for n, value in reversed(self.vars):
            if n == name:
                return value
        return funcs.ANY

    def set_var(self, name: str, value: funcs.Value) -> None:
        """An assignment: Go's parser lets ``$x = 1`` declare nothing, its execution refuses it."""
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        raise self.fail(f"undefined variable: {name}")

    # Evaluating.

    def pipeline(self, dot: funcs.Value, pipe: node.PipeNode) -> funcs.Value:
        self.at(pipe)
        value: funcs.Value | None = None
        for cmd in pipe.cmds:
            value = self.command(dot, cmd, value)
        if value is None:
            raise TypeError("an empty pipeline (the parser refuses them)")
        for variable in pipe.decl:
            if pipe.is_assign:
                self.set_var(variable.ident[0], value)
            else:
                self.vars.append((variable.ident[0], value))
        return value

    def command(self, dot: funcs.Value, cmd: node.CommandNode, final: funcs.Value | None) -> funcs.Value:
        first = cmd.args[0]
        if isinstance(first, node.FieldNode):
            self.at(first)
            return self.field_chain(dot, dot, first, first.ident, cmd.args, final)
        if isinstance(first, node.ChainNode):
            return self.chain(dot, first, cmd.args, final)
        if isinstance(first, node.IdentifierNode):
            return self.function(dot, first, cmd, cmd.args, final)
        if isinstance(first, node.PipeNode):
            self.not_a_function(cmd.args, final)  # at the node Go was at last, as Go does
            return self.pipeline(dot, first)
        if isinstance(first, node.VariableNode):
            return self.variable(dot, first, cmd.args, final)
        self.at(first)
        self.not_a_function(cmd.args, final)
        if isinstance(first, node.BoolNode):
            return funcs.BOOLS
        if isinstance(first, node.DotNode):
            return dot
        if isinstance(first, node.NilNode):
            raise self.fail("nil is not a command")
        if isinstance(first, node.NumberNode):
            return self.constant(first)
        if not isinstance(first, node.StringNode):
            raise TypeError(f"{type(first).__name__} is not an operand (the parser refuses it)")
        return funcs.known(first.text)

    def not_a_function(self, args: list[node.Node], final: funcs.Value | None) -> None:
        if len(args) > 1 or final is not None:
            raise self.fail(f"can't give argument to non-function {args[0]}")

    def constant(self, n: node.NumberNode) -> funcs.Value:
        """idealConstant: a number where no type is asked for."""
        self.at(n)
        kind = funcs.ideal_kind(n)
        if kind is None:
            raise self.fail(f"{n.text} overflows int")
        return funcs.known_int(n.int64) if kind == funcs.INT else frozenset({kind})

    def variable(
        self, dot: funcs.Value, n: node.VariableNode, args: list[node.Node], final: funcs.Value | None
    ) -> funcs.Value:
        self.at(n)
        value = self.var(n.ident[0])
        if len(n.ident) == 1:
            self.not_a_function(args, final)
            return value
        return self.field_chain(dot, value, n, n.ident[1:], args, final)

    def chain(
        self, dot: funcs.Value, n: node.ChainNode, args: list[node.Node], final: funcs.Value | None
    ) -> funcs.Value:
        self.at(n)
        value = self.arg(dot, None, n.node)
        return self.field_chain(dot, value, n, n.field, args, final)

    def field_chain(
        self,
        dot: funcs.Value,
        receiver: funcs.Value,
        n: node.Node,
        idents: list[str],
        args: list[node.Node],
        final: funcs.Value | None,
    ) -> funcs.Value:
        for i, ident in enumerate(idents):
            last = i == len(idents) - 1
            receiver = self.field(ident, n, args if last else [], final if last else None, receiver)
        return receiver

    def field(
        self, name: str, n: node.Node, args: list[node.Node], final: funcs.Value | None, receiver: funcs.Value
    ) -> funcs.Value:
        has_args = len(args) > 1 or final is not None
        receiver = funcs.kinds(receiver)

        def fails(kind: str) -> str | None:
            if kind == funcs.INVALID:
                return None
            if kind == funcs.MAP:
                return f"{name} is not a method but has arguments" if has_args else None
            return f"can't evaluate field {name} in type {kind}"

        failure = funcs.certain(receiver, fails)
        if failure:
            raise self.fail(failure)
        if funcs.MAP in receiver:
            self.observe("field", name, n)
        if "any" in receiver:
            return funcs.ANY
        return frozenset(
            funcs.STRING if kind == funcs.MAP else funcs.INVALID for kind in receiver if not fails(kind)
        )

    def function(
        self,
        dot: funcs.Value,
        ident: node.IdentifierNode,
        cmd: node.Node,
        args: list[node.Node] | None,
        final: funcs.Value | None,
    ) -> funcs.Value:
        self.at(ident)
        name = ident.ident
        signature = self.functions[name]  # the parser refuses names it does not know
        given = (args or [])[1:]
        count = len(given) + (final is not None)
        fixed = len(signature.params)
        if signature.variadic is not None:
            if count < fixed:
                raise self.fail(f"wrong number of args for {name}: want at least {fixed} got {len(given)}")
        elif count != fixed:
            raise self.fail(f"wrong number of args for {name}: want {fixed} got {count}")
        self.observe("call", name, cmd)
        if name in ("and", "or") and name in funcs.BUILTINS:
            return self.and_or(dot, name, given, final)
        values = []
        outer, self.calling = self.calling, name
        for i, arg in enumerate(given):
            typ = signature.params[i] if i < fixed else signature.variadic
            values.append(self.arg(dot, typ, arg))
            self.calling = name
        if final is not None:
            typ = signature.params[count - 1] if count - 1 < fixed else signature.variadic
            values.append(self.validate(final, typ))
        self.calling = outer
        failure = funcs.refusal(name, values, given, cmd) if name in funcs.BUILTINS else None
        if failure:
            self.at(cmd)
            self.calling = name
            raise self.fail(f"error calling {name}: {failure}")
        if name == "index" and values:
            return funcs.index_result(values)
        texts = [t for t in map(funcs.text, values) if t is not None]
        if name in ("print", "println") and name in funcs.BUILTINS and len(texts) == len(values):
            # fmt.Sprint puts nothing between strings, Sprintln a space, and a newline after.
            return funcs.known("".join(texts) if name == "print" else " ".join(texts) + "\n")
        return signature.result

    def and_or(
        self, dot: funcs.Value, name: str, args: list[node.Node], final: funcs.Value | None
    ) -> funcs.Value:
        """and/or: the arguments in turn, up to the first that decides (false for and, true for
        or), which is the result; the last one (or the piped value) when none does."""
        stop = name == "or"
        possible: funcs.Value = frozenset()
        value: funcs.Value = funcs.ANY
        undecided: node.Node | None = None  # where Go is if the first undecided argument decides
        for arg in args:
            value = self.arg(dot, funcs.REFLECT, arg)
            truth = self.truth(value, arg)
            if truth is None or truth == stop:
                possible |= value
            if truth is None and undecided is None:
                undecided = self.node
            if truth == stop:
                break
        else:
            possible |= final if final is not None else value
        if undecided is not None:
            self.at(undecided)
        return possible

    def truth(self, value: funcs.Value, n: node.Node | None) -> bool | None:
        """What if, with, and and or make of a value, when certain: a literal's, or its kind's."""
        if isinstance(n, node.BoolNode):
            return n.true
        if isinstance(n, node.StringNode):
            return n.text != ""
        if isinstance(n, node.NumberNode) and n.is_complex:
            return n.complex128 != 0
        if isinstance(n, node.NumberNode):
            return n.float64 != 0 if funcs.ideal_kind(n) == funcs.FLOAT else n.int64 != 0
        text = funcs.text(value)
        if text is not None:
            return text != ""
        count = funcs.number(value)
        if count is not None:
            return count != 0
        if value == frozenset({funcs.INVALID}):
            return False
        if value == frozenset({funcs.MAP}) and self.full:
            return True
        return None

    def arg(self, dot: funcs.Value, typ: str | None, n: node.Node) -> funcs.Value:
        self.at(n)
        if isinstance(n, node.DotNode):
            return self.validate(dot, typ)
        if isinstance(n, node.NilNode):
            if typ in (None, funcs.REFLECT, funcs.IFACE):
                return frozenset({funcs.INVALID})
            raise self.fail(f"cannot assign nil to {typ}")
        if isinstance(n, node.FieldNode):
            self.at(n)
            return self.validate(self.field_chain(dot, dot, n, n.ident, [n], None), typ)
        if isinstance(n, node.VariableNode):
            return self.validate(self.variable(dot, n, [], None), typ)
        if isinstance(n, node.PipeNode):
            return self.validate(self.pipeline(dot, n), typ)
        if isinstance(n, node.IdentifierNode):
            return self.validate(self.function(dot, n, n, None, None), typ)
        if isinstance(n, node.ChainNode):
            return self.validate(self.chain(dot, n, [], None), typ)
        if typ == funcs.STRING:
            if isinstance(n, node.StringNode):
                return funcs.known(n.text)
            raise self.fail(f"expected string; found {n}")
        # reflect.Value and interface{}: evalEmptyInterface
        if isinstance(n, node.BoolNode):
            return funcs.BOOLS
        if isinstance(n, node.NumberNode):
            return self.constant(n)
        if not isinstance(n, node.StringNode):
            raise TypeError(f"{type(n).__name__} is not an operand (the parser refuses it)")
        return funcs.known(n.text)

    def validate(self, value: funcs.Value, typ: str | None) -> funcs.Value:
        """validateType: may ``value`` be passed where ``typ`` is asked for."""
        if typ in (None, funcs.REFLECT, funcs.IFACE):
            return value

        def fails(kind: str) -> str | None:
            if kind == funcs.INVALID:
                return f"invalid value; expected {typ}"
            return None if kind == typ else f"wrong type for value; expected {typ}; got {kind}"

        failure = funcs.certain(value, fails)
        if failure:
            raise self.fail(failure)
        return value
