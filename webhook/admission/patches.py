"""RFC 6902 JSON Patch from defaulting's edits.

Pure. One operation per edit: ``replace`` where the object already has the key (set
to null or ""), ``add`` where it lacks it; no edits, no operations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, TypedDict

from webhook.core import defaulting, paths


class Operation(TypedDict):
    op: Literal["add", "replace"]
    path: str
    value: Any


def pointer(path: paths.Path) -> str:
    """The RFC 6901 JSON Pointer of a path."""
    return "".join(f"/{str(token).replace('~', '~0').replace('/', '~1')}" for token in path)


def operations(obj: Any, edits: Sequence[defaulting.Edit]) -> list[Operation]:
    """The operations that apply ``edits`` to ``obj``."""
    ops: list[Operation] = []
    for path, value in edits:
        parent = obj
        for token in path[:-1]:
            parent = parent[token]
        ops.append({"op": "replace" if path[-1] in parent else "add", "path": pointer(path),
                    "value": value})
    return ops
