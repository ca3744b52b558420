"""Check an AppImage config template the way Kuscia's agent will render it, before it is stored.

Kuscia renders each ``configTemplates`` entry when it starts a pod (``pkg/agent/middleware/
plugins/hook/configrender/config_render.go``): it rewrites every ``{{{.A.b[name=x]}}}`` into
``{{kuscia "A.b[name=x]"}}`` (dots inside ``[...]`` become ``#``), parses the result with Go's
``text/template`` (default ``{{ }}`` delimiters, ``missingkey=zero``, Go's built-in functions plus
``kuscia`` and nothing else, no sprig), and executes it over a ``map[string]string`` of the
pod's variables: the containers' env vars (names upper-cased), Kuscia's built-ins and, for a
name it lacks, whatever Kuscia's config manager holds under that key ("" when nothing).

The rule: ``check`` reports, without running Go, what that would trip over. An error
(``Problem.error``) is what makes the render fail, or makes it certainly wrong: text Go cannot
parse (the first parse error, as Go stops there, at the action that caused it), an action that
fails when executed (a field of a string, ``range`` over a string, an undefined ``{{template}}``,
a built-in called with the wrong number of arguments), and a port selection naming no port the
containers declare. A warning is a variable Kuscia does not provide: it renders empty unless
the domain's config manager holds it. Lines and columns are 1-based and refer to the text as
the user wrote it; columns count characters (code points), so a tab or a CJK character is one
column.

Layers: ``rewrite`` is Kuscia's rewrite and the map back to the user's text; the port of Go's
parser is ``gotemplate`` (which knows nothing of Kuscia); this module walks the parsed tree
with Kuscia's data in mind.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

from webhook.core.kuscia import rewrite
from webhook.core.kuscia.gotemplate import node, parse, strconv

__all__ = ["BUILTIN_VARIABLES", "Problem", "check"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing Kuscia's renderer would hit in a config template."""

    line: int  # 1-based, in the template text as the user wrote it (before Kuscia's rewrite)
    column: int  # 1-based, counting characters
    message: str
    error: bool  # True: Kuscia would fail rendering at pod start (or render it wrong); False: a warning


# The variables Kuscia itself puts in the render data (pkg/common/constants.go, "Environment
# variables issued to the pod"): KusciaTask pods get them from the generated
# "<task>-kuscia-gen-conf" ConfigMap (pending_handler.go, generateKusciaConfigMap), KusciaDeployment
# pods as container env (kusciadeployment/reconcile.go), the agent adds the KusciaAPI three
# (config_render.go, makeDataMapFromLocal) and the certificate files (certissuance). Task-only
# and deployment-only names are both listed: one AppImage may serve either.
# KUSCIA_PORT_<NAME>_NUMBER (one per allocated port) is handled apart, from the port names.
BUILTIN_VARIABLES: Final = frozenset(
    {
        "KUSCIA_DOMAIN_ID",
        "TASK_ID",
        "TASK_INPUT_CONFIG",
        "TASK_CLUSTER_DEFINE",
        "ALLOCATED_PORTS",
        "SERVING_ID",
        "INPUT_CONFIG",
        "CLUSTER_DEFINE",
        "KUSCIA_API_PROTOCOL",
        "KUSCIA_API_TOKEN",
        "KUSCIA_DOMAIN_KEY_DATA",
        "SERVER_CERT_FILE",
        "SERVER_PRIVATE_KEY_FILE",
        "CLIENT_CERT_FILE",
        "CLIENT_PRIVATE_KEY_FILE",
        "TRUSTED_CA_FILE",
    }
)

# The fields of one entry of ALLOCATED_PORTS.ports (proto appconfig.Port, protojson names).
_PORT_FIELDS: Final = ("name", "port", "protocol", "scope")

# Kuscia's rewrite: config_render.go, renderConfig (Go regexp, leftmost-first like Python's).
# Kuscia's template (config_render.go, renderConfig): its name, and what its FuncMap adds.
_NAME: Final = "config-template"
_FUNCTIONS: Final = frozenset({"kuscia"})
_ATOI: Final = re.compile(r"[+-]?[0-9]+")


def _selector(segment: str) -> tuple[str, str] | None:
    """``^(.+)\\[(.+)\\]$`` on one path segment (findValue): the name and what is in the brackets."""
    if "\n" in segment or not segment.endswith("]"):
        return None
    i = segment.rfind("[", 1, len(segment) - 2)
    if i < 0:
        return None
    return segment[:i], segment[i + 1 : -1]


def check(text: str, *, ports: Collection[str], env: Collection[str] = ()) -> list[Problem]:
    """Every problem Kuscia's renderer would hit in one config template.

    ``ports``: the names of the ports the deploy template's containers declare (what
    ALLOCATED_PORTS and the KUSCIA_PORT_<NAME>_NUMBER variables will hold). ``env``: the names
    of the containers' env vars, which Kuscia also offers to the template (upper-cased).
    Errors first is not promised: problems come in the order of the text.
    """
    if "{{" not in text:  # No action: Go's parser and Kuscia's rewrite leave it as it is.
        return []
    return _Checker(text, ports, env).run()


# ---------------------------------------------------------------------------------------------
# What executing the parsed template would do with Kuscia's data.

# Builtins whose result is a string (for what dot is inside {{with}}).
_STRING_FUNCTIONS: Final = frozenset({"kuscia", "print", "printf", "println", "html", "js", "urlquery"})
# text/template's argument counts (funcs.go): (at least, at most or None).
_ARITY: Final[dict[str, tuple[int, int | None]]] = {
    "and": (1, None),
    "or": (1, None),
    "call": (1, None),
    "html": (0, None),
    "index": (1, None),
    "slice": (1, None),
    "js": (0, None),
    "len": (1, 1),
    "not": (1, 1),
    "print": (0, None),
    "printf": (1, None),
    "println": (0, None),
    "urlquery": (0, None),
    "eq": (1, None),
    "ge": (2, 2),
    "gt": (2, 2),
    "le": (2, 2),
    "lt": (2, 2),
    "ne": (2, 2),
    "kuscia": (1, 1),
}
_ROOT, _STRING_VALUE, _UNKNOWN = "root", "string", "unknown"  # what dot (or $) holds


def _port_env(port: str) -> str:
    """The env var Kuscia sets to a port's number (buildPortNumberEnvs)."""
    return "KUSCIA_PORT_" + port.replace("-", "_").upper() + "_NUMBER"


class _Checker:
    __slots__ = ("env", "line_starts", "port_envs", "port_set", "ports", "problems", "rewrite", "text")

    def __init__(self, text: str, ports: Collection[str], env: Collection[str]) -> None:
        self.text = text
        self.ports = list(dict.fromkeys(ports))
        self.port_set = frozenset(self.ports)
        self.port_envs = frozenset(_port_env(p) for p in self.ports)
        self.env = frozenset(e.upper() for e in env)
        # (offset in the user's text, order, problem, dedupe key)
        self.problems: list[tuple[int, int, Problem, str]] = []
        self.rewrite = rewrite.Rewrite(text)
        self.line_starts: list[int] = []

    # Results.

    def add(self, pos: int, message: str, *, error: bool, key: str = "") -> None:
        """A problem at offset ``pos`` of the rewritten text."""
        offset = self.rewrite.original(pos)
        if not self.line_starts:
            self.line_starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        line = bisect.bisect_right(self.line_starts, offset)
        column = offset - self.line_starts[line - 1] + 1
        self.problems.append((offset, len(self.problems), Problem(line, column, message, error), key))

    def result(self) -> list[Problem]:
        out: list[Problem] = []
        seen: set[str] = set()
        for _, _, problem, key in sorted(self.problems, key=lambda p: (p[0], p[1])):
            if key:
                if key in seen:
                    continue
                seen.add(key)
            out.append(problem)
        return out

    # The walk.

    def run(self) -> list[Problem]:
        parser = parse.Parser(self.rewrite.text, _NAME, _FUNCTIONS)
        try:
            root = parser.parse()
            self.walk(root, _ROOT, _ROOT, parser.definitions)
            for name, definition in parser.definitions.items():
                if name != _NAME and not definition.is_block:  # called with any data: dot is unknown
                    self.walk(definition.body, _UNKNOWN, _UNKNOWN, parser.definitions)
        except parse.ParseError as e:
            self.problems.clear()
            self.add(e.pos, _friendly(e.message), error=True)
            # Kuscia's rewrite does not depend on the parse: its port selections still count.
            for _, _, _, _, query_new, _, query_len in self.rewrite.spans:
                query = self.rewrite.text[query_new : query_new + query_len]
                self.query(query, query_new - 1, ports_only=True)
        except RecursionError:  # Go allows 10,000 nested parentheses; Python's stack does not
            self.problems.clear()
            self.add(0, "the template nests too deeply to be checked", error=False)
        return self.result()

    def walk(self, body: node.List, dot: str, dollar: str, definitions: dict[str, parse.Definition]) -> None:
        for n in body.nodes:
            if isinstance(n, node.Action):
                self.pipe(n.pipe, dot, dollar)
            elif isinstance(n, node.Branch):
                self.pipe(n.pipe, dot, dollar)
                inner = dot
                if n.kind == "with":
                    inner = self.value(n.pipe, dot, dollar)
                elif n.kind == "range":
                    ranged = self.value(n.pipe, dot, dollar)
                    if ranged == _STRING_VALUE:
                        self.add(
                            n.pipe.pos,
                            "{{range}} over a string fails when rendered"
                            " (Go: range can't iterate over it): Kuscia's variables are strings",
                            error=True,
                        )
                    inner = _STRING_VALUE if ranged == _ROOT else _UNKNOWN
                self.walk(n.body, inner, dollar, definitions)
                if n.else_body is not None:
                    self.walk(n.else_body, dot, dollar, definitions)
            elif isinstance(n, node.Template):
                if n.name not in definitions:
                    self.add(
                        n.pos,
                        f"template {strconv.quote(n.name)} not defined:"
                        " no {{define}} or {{block}} names it",
                        error=True,
                    )
                if n.pipe is not None:
                    self.pipe(n.pipe, dot, dollar)
                if n.block is not None:
                    kind = self.value(n.pipe, dot, dollar) if n.pipe is not None else _UNKNOWN
                    self.walk(n.block, kind, kind, definitions)

    def value(self, pipe: node.Pipe, dot: str, dollar: str) -> str:
        """What a pipeline yields, as far as it matters here."""
        cmd = pipe.cmds[-1]
        first = cmd.args[0]
        if isinstance(first, node.Identifier):
            return _STRING_VALUE if first.name in _STRING_FUNCTIONS else _UNKNOWN
        if len(cmd.args) != 1:
            return _UNKNOWN
        if isinstance(first, node.Literal):
            return {"dot": dot, "string": _STRING_VALUE}.get(first.kind, _UNKNOWN)
        if isinstance(first, node.Field):
            idents = first.idents[1:] if first.variable else first.idents
            holder = (dollar if first.idents[0] == "$" else _UNKNOWN) if first.variable else dot
            if not idents:
                return holder
            return _STRING_VALUE if holder == _ROOT and len(idents) == 1 else _UNKNOWN
        return _UNKNOWN

    def pipe(self, pipe: node.Pipe, dot: str, dollar: str) -> None:
        for i, cmd in enumerate(pipe.cmds):
            head = cmd.args[0]
            if isinstance(head, node.Identifier):
                self.call(head, cmd.args[1:], piped=i > 0)
            else:
                self.arg(head, dot, dollar)
            for arg in cmd.args[1:]:
                if isinstance(arg, node.Identifier):  # an argument: called without arguments
                    self.call(arg, [], piped=False)
                else:
                    self.arg(arg, dot, dollar)

    def arg(self, n: node.Node, dot: str, dollar: str) -> None:
        if isinstance(n, node.Field):
            if not n.variable:
                self.field(n.idents, n.pos, dot, "")
            elif n.idents[0] == "$" and len(n.idents) > 1:
                self.field(n.idents[1:], n.pos, dollar, "$")
        elif isinstance(n, node.Pipe):
            self.pipe(n, dot, dollar)
        elif isinstance(n, node.Chain):
            self.arg(n.node, dot, dollar)

    def field(self, idents: list[str], pos: int, holder: str, prefix: str) -> None:
        if holder == _ROOT:
            self.variable(idents[0], pos)
            if len(idents) > 1:
                written = prefix + "." + ".".join(idents)
                self.add(
                    pos,
                    f"{{{{{written}}}}} fails when rendered (Go: can't evaluate field {idents[1]} in type"
                    f" string): Kuscia's variables are strings; read a field of a JSON value with triple"
                    f" braces, {{{{{{.{'.'.join(idents)}}}}}}}",
                    error=True,
                )
        elif holder == _STRING_VALUE:
            self.add(
                pos,
                f"field .{idents[0]} of a string fails when rendered (Go: can't evaluate field"
                f" {idents[0]} in type string): here dot is a string",
                error=True,
            )

    def call(self, ident: node.Identifier, args: list[node.Node], *, piped: bool) -> None:
        name = ident.name
        count = len(args) + piped
        least, most = _ARITY[name]
        if count < least or (most is not None and count > most):
            want = f"{least}" if most == least else f"at least {least}"
            self.add(ident.pos, f"wrong number of args for {name}: want {want} got {count}", error=True)
        elif name == "eq" and count < 2:
            self.add(ident.pos, "error calling eq: missing argument for comparison", error=True)
        if name != "kuscia" or not args:
            return
        arg = args[0]
        if isinstance(arg, node.Literal) and arg.kind == "string":
            self.query(arg.value, arg.pos, ports_only=False)
        elif isinstance(arg, node.Literal) and arg.kind in ("number", "bool", "nil"):
            self.add(arg.pos, f"kuscia needs a string (Go: expected string; found {arg.text})", error=True)

    # Kuscia's variables.

    def ports_hint(self) -> str:
        if not self.ports:
            return "the containers declare no ports"
        return "ALLOCATED_PORTS has the container ports: " + ", ".join(self.ports)

    def query(self, query: str, pos: int, *, ports_only: bool) -> None:
        """A kuscia "A.b[...]..." lookup (pkg/utils/common/template.go, QueryByFields)."""
        segments = [s for s in query.split(".") if s]
        if not segments:
            return
        head = _selector(segments[0])
        if "[" in segments[0] and head is None:
            return
        name = head[0] if head else segments[0]
        if not ports_only:
            self.variable(name, pos)
            for segment in segments:  # [.X.y] indexes, rewritten [#X#y]: looked up from the root
                selector = _selector(segment)
                if selector and "=" not in selector[1] and "#" in selector[1]:
                    inner = [s for s in selector[1].split("#") if s]
                    if inner:
                        inner_head = _selector(inner[0])
                        self.variable(inner_head[0] if inner_head else inner[0], pos)
        if name != "ALLOCATED_PORTS" or head is not None or len(segments) < 2:
            return
        second = segments[1]
        selector = _selector(second)
        if "[" in second and selector is None:
            self.add(
                pos,
                f"ALLOCATED_PORTS.{second} selects nothing (renders empty): a selector is"
                " [<index>] or [name=<port>]",
                error=True,
            )
            return
        field = selector[0] if selector else second
        if field != "ports":
            if not ports_only:
                self.add(
                    pos,
                    f"ALLOCATED_PORTS has no field '{field}' (it has: ports); this renders empty",
                    error=False,
                )
            return
        if selector is None:
            return
        self.port_selector(selector[1], pos, ports_only=ports_only)
        if len(segments) > 2 and segments[2] not in _PORT_FIELDS and not ports_only:
            self.add(
                pos,
                f"a port has no field '{segments[2]}' (it has: {', '.join(_PORT_FIELDS)});"
                " this renders empty",
                error=False,
            )

    def port_selector(self, selector: str, pos: int, *, ports_only: bool) -> None:
        if "=" in selector:
            key, match = selector.split("=", 1)
            if key == "name" and match not in self.port_set:
                self.add(pos, f"names no declared port '{match}' ({self.ports_hint()})", error=True)
            return
        if "#" in selector:
            return  # an index read from another variable
        index = int(selector) if _ATOI.fullmatch(selector) else None
        if index is None or not -(1 << 63) <= index < (1 << 63):
            self.add(
                pos,
                f"ALLOCATED_PORTS.ports[{selector}] selects nothing (renders empty): a selector is"
                " [<index>] or [name=<port>]",
                error=True,
            )
            return
        count = len(self.ports)
        if index >= count or index <= -count:
            self.add(
                pos, f"ALLOCATED_PORTS.ports[{selector}] is out of range ({self.ports_hint()})", error=True
            )
        elif count > 1 and not ports_only:
            self.add(
                pos,
                f"ALLOCATED_PORTS.ports[{selector}]: Kuscia does not keep the ports in a fixed"
                f" order; select by name, e.g. ports[name={self.ports[0]}]",
                error=False,
            )

    def variable(self, name: str, pos: int) -> None:
        if name in BUILTIN_VARIABLES or name in self.env or name in self.port_envs:
            return
        if name.startswith("KUSCIA_PORT_") and name.endswith("_NUMBER") and len(name) > 19:
            declared = ", ".join(_port_env(p) for p in self.ports) or "none"
            self.add(
                pos,
                f"{name} names no declared port ({self.ports_hint()}; their variables: {declared})",
                error=True,
            )
            return
        upper = name.upper()
        if upper != name and (upper in BUILTIN_VARIABLES or upper in self.env or upper in self.port_envs):
            message = (
                f"unknown variable {name}: Kuscia upper-cases the names of its variables and env vars,"
                f" write {upper}"
            )
        elif name in self.rewrite.cm_keys:
            message = (
                f"unknown variable {name}: not a Kuscia built-in nor an env var of the containers;"
                " it renders empty unless the domain's Kuscia config manager holds it"
            )
        else:
            message = (
                f"unknown variable {name}: not a Kuscia built-in nor an env var of the containers;"
                " it renders empty (Kuscia asks its config manager only for names written as"
                f" {{{{.{name}}}}} or {{{{{{.{name}...}}}}}})"
            )
        self.add(pos, message, error=False, key="var:" + name)


def _friendly(message: str) -> str:
    if message == "unclosed action":
        return "unclosed action: no }} closes it"
    if message.startswith("bad character U+005B '['"):
        return (
            message
            + " (Kuscia's [...] selectors need triple braces, e.g. {{{.TASK_CLUSTER_DEFINE.parties[0]}}})"
        )
    return message
