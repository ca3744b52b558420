"""The compiled hot path as the tests see it: which sources setup.py compiles (the rule of
hack/native.py) and which extension modules next to them are stale.

Rule: read-only; tests/conftest.py refuses to start a run on a stale extension, and
tests/app/test_packaging.py pins both answers.
"""

from __future__ import annotations

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
"""The checkout."""


def native_sources() -> set[pathlib.Path]:
    """The sources setup.py compiles (the rule of hack/native.py)."""
    spec = importlib.util.spec_from_file_location("native", ROOT / "hack" / "native.py")
    if spec is None or spec.loader is None:
        raise RuntimeError("hack/native.py is missing")
    rule = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rule)
    return {ROOT / path for path in rule.modules(ROOT)}


def stale_extensions(package: pathlib.Path, native: set[pathlib.Path]) -> list[pathlib.Path]:
    """The extension modules under ``package`` built from a source that has changed
    since, or that is no longer compiled (``native`` lists the ones that are)."""
    stale = []
    for so in package.rglob("*.so"):
        source = so.with_name(so.name.split(".")[0] + ".py")
        if source.exists() and (source not in native or source.stat().st_mtime > so.stat().st_mtime):
            stale.append(so)
    return sorted(stale)
