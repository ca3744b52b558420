"""Figures the robustness tests measured, printed at the end of the pytest run.

The README's "Guarantees" section quotes them from a run of ``scripts/test``. A test
calls ``figures.record("what", value)``; the terminal summary lists every figure of
the run under "guarantees". ``FUZZ_SCALE`` (default 1) multiplies the bounded work of
the fuzz and fault tests (examples, rounds) for longer runs than CI's.
"""

from __future__ import annotations

import os

import pytest

_FIGURES: dict[str, str] = {}


def scale() -> int:
    """``FUZZ_SCALE``: how many times CI's bounded work the fuzz and fault tests do."""
    value = os.environ.get("FUZZ_SCALE", "1")
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"FUZZ_SCALE must be a positive integer, not {value!r}")
    return int(value)


def record(what: str, value: object) -> None:
    """Report ``value`` for ``what`` in the run's summary (the last value wins)."""
    _FIGURES[what] = str(value)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _FIGURES:
        terminalreporter.section("guarantees")
        for what, value in sorted(_FIGURES.items()):
            terminalreporter.write_line(f"{what}: {value}")
