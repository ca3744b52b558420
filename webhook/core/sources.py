"""The source schemas, ``schemas/*.json``, read from the package or the checkout.

The only file I/O under the pure modules: ``model`` compiles the custom resource's
schema read here, and ``schemas`` the generated REST schema. Each file is read when it
is first needed; ``cr_schema`` reads its file once.
"""

from __future__ import annotations

import functools
import json
import pathlib
from importlib import resources
from typing import Any


def load(filename: str) -> dict[str, Any]:
    """A schema file from ``schemas/``: shipped in an installed package as
    ``webhook.schema_files``; read from the checkout when the package runs from its
    source tree (``python -m webhook`` in the repository shadows the installed one)."""
    try:
        folder: Any = resources.files("webhook.schema_files")
    except ModuleNotFoundError:
        folder = pathlib.Path(__file__).resolve().parents[2] / "schemas"  # webhook/core/ -> the root
    schema: dict[str, Any] = json.loads(folder.joinpath(filename).read_text())
    return schema


@functools.cache
def cr_schema() -> dict[str, Any]:
    """The source of truth: the AppImage custom resource's JSON Schema."""
    return load("appimage.schema.json")
