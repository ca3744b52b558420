"""Build hook: the package list, and the pure core compiled with mypyc (the rest of
pyproject.toml is declarative).

The packages are every package under ``webhook/`` (data folders included), plus the
schemas at the top of the repository, which ship as ``webhook.schema_files``. The
modules hack/native.py chooses (the pure core and the admission logic, by a rule over
their source) are plain typed Python, compiled to C extension modules when the package
is built, which halves a /validate review's own work (docs/performance.md;
bench/results). The ``.py`` files stay the source, and the package works
without the extensions, so the build never fails for want of them: when they cannot be
compiled (no C compiler, no Python headers) the install goes on in pure Python and says
so in one line, as PyYAML and msgpack do. ``APPIMAGE_WEBHOOK_PURE_PYTHON=1`` skips them
on purpose. An editable install (``pip install -e .``, as scripts/test does) builds them
next to the sources, where they take precedence over the ``.py`` files, so after editing
one of these modules reinstall; the test suite refuses to run on a stale extension
(tests/conftest.py).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from setuptools import find_namespace_packages, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, CompileError, ExecError, LinkError, PlatformError

HERE = Path(__file__).resolve().parent
# Every package of webhook/ (folders of data, such as rest/explorer, are namespace packages).
PACKAGES = [*find_namespace_packages(include=["webhook", "webhook.*"], exclude=["*.__pycache__"]),
            "webhook.schema_files"]


def native() -> list[str]:
    """hack/native.py's choice (a build helper, not part of the package: loaded by path)."""
    spec = importlib.util.spec_from_file_location("native", HERE / "hack" / "native.py")
    if spec is None or spec.loader is None:
        raise RuntimeError("hack/native.py is missing")
    rule = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rule)
    return [str(path) for path in rule.modules(HERE)]

FALLBACK = ("appimage-webhook: the compiled hot path could not be built ({reason}); "
            "installing pure Python, which works the same, only slower")
# What a missing or failing compiler raises: the fallback covers these and nothing else.
NO_COMPILER = (CCompilerError, CompileError, ExecError, LinkError, PlatformError, OSError)


def reason(error: Exception) -> str:
    """The failure in a few words: a compiler's message can be a page long."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 100 else text[:99] + "…"


class OptionalBuildExt(build_ext):
    """``build_ext`` that leaves the package pure Python when compiling fails, removing
    whatever part of the extensions it had built (a shim without its shared library
    would not import)."""

    def run(self) -> None:
        try:
            super().run()
        except NO_COMPILER as e:
            for built in self.get_outputs():
                Path(built).unlink(missing_ok=True)
            print(FALLBACK.format(reason=reason(e)), file=sys.stderr)


if os.environ.get("APPIMAGE_WEBHOOK_PURE_PYTHON") == "1":
    setup(packages=PACKAGES)
else:
    from mypyc.build import mypycify

    # Types only steer the compiled code: the build environment need not hold the
    # runtime dependencies, whose types are then Any (mypy itself checks them in CI).
    setup(packages=PACKAGES,
          ext_modules=mypycify(["--config-file=", "--ignore-missing-imports", *native()], opt_level="3"),
          cmdclass={"build_ext": OptionalBuildExt})
