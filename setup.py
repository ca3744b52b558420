"""Build hook: compiles the review hot path with mypyc (the rest of pyproject.toml is
declarative).

The modules in ``NATIVE`` are plain typed Python, compiled to C extension modules
when the package is built: a /validate review's own work drops from ~27 to ~13 µs in
a loop (README, Performance). The ``.py`` files stay the source, and the package works
without the extensions: ``APPIMAGE_WEBHOOK_PURE_PYTHON=1`` builds none (for a platform
without a C compiler). An editable install (``pip install -e .``, as scripts/test does)
builds them next to the sources, where they take precedence over the ``.py`` files, so
after editing one of these modules reinstall; the test suite refuses to run on a stale
extension (tests/conftest.py).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from setuptools import setup

# pyproject.toml's [tool.appimage-webhook] native: the one list (tests/conftest.py reads it too).
NATIVE: list[str] = tomllib.loads(Path("pyproject.toml").read_text())["tool"]["appimage-webhook"]["native"]

if os.environ.get("APPIMAGE_WEBHOOK_PURE_PYTHON") == "1":
    setup()
else:
    from mypyc.build import mypycify

    # Types only steer the compiled code: the build environment need not hold the
    # runtime dependencies, whose types are then Any (mypy itself checks them in CI).
    setup(ext_modules=mypycify(["--config-file=", "--ignore-missing-imports", *NATIVE],
                               opt_level="3"))
