"""The AppImage patterns Kuscia's own manifests use, one fixture file each
(``webhook/rest/examples/manifests``), and how a stored one is compared with what was
applied: leaf by leaf, our defaults the only additions.

Rule: the list is whatever the directory holds (tests/core/kuscia/test_patterns.py pins
which); tests/core checks each in memory, tests/e2e stores each in a real API server.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import yaml

MANIFESTS = pathlib.Path(__file__).parents[2] / "webhook" / "rest" / "examples" / "manifests"
PATTERNS = sorted(MANIFESTS.glob("*.yaml"))
IDS = [p.stem for p in PATTERNS]

# Our defaults (SPEC §4): all the API server may add to an applied spec.
DEFAULTED = ({"replicas"}, {"protocol"}, {"scope"})


def manifest(path: pathlib.Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every scalar of a JSON value with its path (empty lists and maps count as leaves)."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            yield from leaves(item, (*path, i))
    else:
        yield path, value
