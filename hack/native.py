"""Which modules mypyc compiles: a rule over the source, not a list kept by hand.

Read by setup.py (the build) and by tests/support/native.py (tests/conftest.py refuses to
test an extension older than its source). The rule: every module of ``COMPILED``' packages
(the pure core and the admission logic: the review hot path and what it calls), except

* ``__init__`` modules (nothing runs in them but imports);
* a front end's glue: a module that imports aiohttp or grpc, whose handlers are the
  framework's to call;
* what mypyc cannot compile: an async generator (mypyc has none), and a class deriving
  from a class of a third-party library (a compiled subclass of prometheus_client's
  Collector crashed the interpreter);
* an abstract class (``abc.ABC``), there for other modules' classes to derive from:
  interpreted classes cannot inherit from compiled ones.

Compiled callers do not look modules' attributes up again, so a test must not patch
the functions of a compiled module.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

COMPILED = ("webhook/core", "webhook/admission")
FRAMEWORKS = frozenset({"aiohttp", "grpc"})


def modules(root: Path) -> list[Path]:
    """The compiled modules' sources under ``root`` (the checkout), relative to it, sorted."""
    found = []
    for package in COMPILED:
        for path in sorted((root / package).rglob("*.py")):
            if path.name != "__init__.py" and compilable(ast.parse(path.read_text(), str(path))):
                found.append(path.relative_to(root))
    return found


def compilable(tree: ast.Module) -> bool:
    """Whether the rule lets mypyc compile the module parsed as ``tree``."""
    third_party: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            roots = ([node.module] if isinstance(node, ast.ImportFrom) and node.module else
                     [alias.name for alias in node.names])
            top = {name.split(".")[0] for name in roots}
            if top & FRAMEWORKS:
                return False
            if not top <= sys.stdlib_module_names | {"webhook", "__future__"}:
                third_party |= {alias.asname or alias.name.split(".")[0] for alias in node.names}
        elif _beyond_mypyc(node, third_party):
            return False
    return True


def _beyond_mypyc(node: ast.AST, third_party: set[str]) -> bool:
    """An async generator, or a class with a base a compiled class cannot have (or one
    that makes it a base for others)."""
    if isinstance(node, ast.AsyncFunctionDef):
        return _yields(node)
    return isinstance(node, ast.ClassDef) and any(
        _root(base) in third_party or ast.unparse(base) in ("abc.ABC", "ABC") for base in node.bases)


def _yields(function: ast.AsyncFunctionDef) -> bool:
    """A ``yield`` in the function's own body (not in a function nested in it)."""
    todo: list[ast.AST] = list(function.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Yield | ast.YieldFrom):
            return True
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            todo.extend(ast.iter_child_nodes(node))
    return False


def _root(expression: ast.expr) -> str:
    while isinstance(expression, ast.Attribute):
        expression = expression.value
    return expression.id if isinstance(expression, ast.Name) else ""


if __name__ == "__main__":
    print("\n".join(str(path) for path in modules(Path(sys.argv[1] if len(sys.argv) > 1 else "."))))
