"""RFC 6902 JSON Patch by diffing an object against its defaulted copy.

Pure. Holds only the needed operations: unchanged subtrees give none, so an object
that needs no defaults gives an empty patch. Lists of equal length are diffed item by
item; a list that changed length is replaced whole (its items have no stable keys).
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict


class Operation(TypedDict):
    op: Literal["add", "remove", "replace"]
    path: str
    value: NotRequired[Any]


def _pointer(parent: str, token: str | int) -> str:
    return f"{parent}/{str(token).replace('~', '~0').replace('/', '~1')}"


def diff(old: Any, new: Any, path: str = "") -> list[Operation]:
    """The operations that turn ``old`` into ``new``."""
    if old == new and type(old) is type(new):
        return []  # one C-speed comparison skips an unchanged subtree
    if isinstance(old, dict) and isinstance(new, dict):
        ops: list[Operation] = []
        for key in old:
            if key not in new:
                ops.append({"op": "remove", "path": _pointer(path, key)})
        for key, value in new.items():
            if key not in old:
                ops.append({"op": "add", "path": _pointer(path, key), "value": value})
            else:
                ops += diff(old[key], value, _pointer(path, key))
        return ops
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [op for i, (a, b) in enumerate(zip(old, new, strict=True))
                for op in diff(a, b, _pointer(path, i))]
    return [{"op": "replace", "path": path, "value": new}]
