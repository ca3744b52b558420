"""What a test needs from the machine: a skip that says how to get it when it is
missing, or a failure under ``REQUIRE_E2E=1`` (CI), where tests must not skip."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def missing(what: str, fix: str) -> NoReturn:
    """Skip saying ``what`` is missing and ``fix``; fail instead under ``REQUIRE_E2E=1``."""
    if os.environ.get("REQUIRE_E2E") == "1":
        pytest.fail(f"REQUIRE_E2E=1 but {what}")
    pytest.skip(f"{what}; {fix}")


def binary(name: str) -> str:
    """The path of the program ``name`` on PATH, else ``missing``."""
    path = shutil.which(name)
    if path is None:
        missing(f"no {name} on PATH", f"install {name}")
    return path
