"""What Kuscia's BFIA interconnection reads of an AppImage: its component-spec annotation.

Pure. ``kuscia.secretflow/component-spec`` is read by Kuscia's BFIA interconnection for
the tasks of each job that run the AppImage: Go's ``json.Unmarshal`` into a
``map[string]string``, so it must be a JSON object whose values are all strings (no
``NaN``, which Python's json module would read); a value it cannot parse leaves the
task unscheduled for good, with no error a user sees. The components are read from
``component.1.name`` upwards, stopping at the first number missing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from webhook.core import report

COMPONENT_SPEC = "kuscia.secretflow/component-spec"
_COMPONENT_NAME = re.compile(r"component\.([0-9]+)\.name")


def check(found: report.Report, metadata: Mapping[str, Any]) -> None:
    """The annotations Kuscia parses, parsed as it does."""
    text = report.mapping(metadata.get("annotations")).get(COMPONENT_SPEC)
    if not isinstance(text, str):
        return
    path = ("metadata", "annotations", COMPONENT_SPEC)
    try:
        spec = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        found.error(path, f"must be JSON (Kuscia's BFIA interconnection parses it): {e}")
        return
    if not isinstance(spec, dict):
        found.error(path, f"must be a JSON object of strings, not {type(spec).__name__}")
        return
    numbers = set()
    for key, value in spec.items():
        if not isinstance(value, str):
            found.error(path, f"{key!r}: must be a string, not {orjson.dumps(value).decode()[:40]}")
        if matched := _COMPONENT_NAME.fullmatch(key):
            numbers.add(int(matched[1]))
    read = 0
    while read + 1 in numbers:
        read += 1
    if len(numbers) > read:
        found.warn(path, f"Kuscia reads components from component.1.name up to the first number "
                   f"missing ({read + 1}): {len(numbers) - read} more are never read")
