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
from webhook.core.kuscia.gotemplate import evaluate, execution, funcs, parse, stream
from webhook.core.kuscia.gotemplate import node as gonode

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
NAME: Final = "config-template"
FUNCTIONS: Final = frozenset({"kuscia"})
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

# What Go executes the template over (a map[string]string), and Kuscia's function.
_DATA: Final = frozenset({funcs.MAP})
_KUSCIA: Final = {"kuscia": funcs.Signature((funcs.STRING,), None, funcs.STRINGS)}


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

    def add(self, pos: int, message: str, *, error: bool, key: str = "", line: int = 0) -> None:
        """A problem at offset ``pos`` of the rewritten text (on ``line``, when Go names one)."""
        offset = self.rewrite.original(pos)
        if not self.line_starts:
            self.line_starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        at = bisect.bisect_right(self.line_starts, offset)
        if line and at != line:  # the rewrite moved it off Go's line: the start of that line
            at, offset = line, self.line_starts[line - 1]
        column = offset - self.line_starts[at - 1] + 1
        self.problems.append((offset, len(self.problems), Problem(at, column, message, error), key))

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
        try:
            trees = parse.parse(NAME, self.rewrite.text, FUNCTIONS)
            # Kuscia's data is never empty: it always holds the agent's KUSCIA_API_* variables.
            failures = execution.execute(trees, NAME, _DATA, _KUSCIA, self.observe, full=True)
        except stream.ParseError as e:
            self.problems.clear()
            self.add(e.pos, _parse_message(e, self.rewrite.text), error=True, line=e.line)
            # Kuscia's rewrite does not depend on the parse: its port selections still count.
            for _, _, _, _, query_new, _, query_len in self.rewrite.spans:
                query = self.rewrite.text[query_new : query_new + query_len]
                self.query(query, query_new - 1, ports_only=True)
            return self.result()
        except RecursionError:  # Go allows 10,000 nested parentheses; Python's stack does not
            self.problems.clear()
            self.add(0, "the template nests too deeply to be checked", error=False)
            return self.result()
        for failure in failures:
            self.add(failure.pos, _exec_message(failure), error=True)
        return self.result()

    def observe(self, what: str, name: str, n: gonode.Node) -> None:
        """What the execution reads: a variable of Kuscia's data, or a call of kuscia."""
        if what == "field":
            self.variable(name, _start(n))
        elif name == "kuscia" and isinstance(n, gonode.CommandNode) and len(n.args) > 1:
            arg = n.args[1]
            if isinstance(arg, gonode.StringNode):
                self.query(arg.text, arg.pos, ports_only=False)

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


def _start(n: gonode.Node) -> int:
    """Where a field chain starts (Go places ``.a.b`` and ``$x.a`` at their second part)."""
    if isinstance(n, gonode.FieldNode) and len(n.ident) > 1:
        return n.pos - 1 - len(n.ident[0])
    if isinstance(n, gonode.VariableNode) and len(n.ident) > 1:
        return n.pos - len(n.ident[0])
    return n.pos


def _parse_message(e: stream.ParseError, text: str) -> str:
    """Go's parse error (its "config-template:N" written "line N"), with what it means here."""
    message = re.sub(re.escape(NAME) + r":(\d+)", r"line \1", e.message)
    if e.message == "unexpected EOF" and e.opener is not None:
        keyword, pos = e.opener
        line = text.count("\n", 0, pos) + 1
        where = "" if line == e.line else f": it opens at line {line}"
        return f"{{{{{keyword}}}}} has no matching {{{{end}}}} ({message}){where}"
    if e.message in ("unexpected {{end}}", "unexpected {{else}}"):
        word = e.message[len("unexpected ") :]
        what = "{{if}}/{{range}}/{{with}}" + ("/{{define}}" if word == "{{end}}" else "")
        return f"{word} without an open {what} ({message})"
    if message.startswith("unclosed action"):
        return message + ": no }} closes it"
    if message.startswith("bad character U+005B '['"):
        return (
            message
            + " (Kuscia's [...] selectors need triple braces, e.g. {{{.TASK_CLUSTER_DEFINE.parties[0]}}})"
        )
    return message


def _exec_message(failure: evaluate.Failure) -> str:
    """Go's execution error, with what it means for a Kuscia template."""
    go = failure.message
    n = failure.node
    if go.startswith("can't evaluate field ") and go.endswith(" in type string"):
        if isinstance(n, (gonode.FieldNode, gonode.VariableNode)) and len(n.ident) > 1:
            holder = n.ident[1:] if isinstance(n, gonode.VariableNode) else n.ident
            if go == f"can't evaluate field {holder[1] if len(holder) > 1 else ''} in type string":
                written = str(n)
                return (
                    f"{{{{{written}}}}} fails when rendered (Go: {go}): Kuscia's variables are strings; read"
                    f" a field of a JSON value with triple braces, {{{{{{.{'.'.join(holder)}}}}}}}"
                )
        return f"{go} when rendered: here the value is a string"
    if go.startswith("range can't iterate over a "):
        kind = go[len("range can't iterate over a ") :]
        tail = ": Kuscia's variables are strings" if kind == funcs.STRING else ""
        return f"{{{{range}}}} over a {kind} fails when rendered (Go: {go}){tail}"
    if go.startswith("template ") and go.endswith(" not defined"):
        return go + ": no {{define}} or {{block}} names it"
    if failure.function == "kuscia" and go.startswith(
        ("expected string", "wrong type for value", "cannot assign nil")
    ):
        return f"kuscia needs a string (Go: {go})"
    return f"{go} (Go fails rendering here)"
