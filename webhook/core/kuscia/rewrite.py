"""Kuscia's rewrite of a config template before Go parses it, and the way back to the user's text.

Kuscia's renderer (``config_render.go``, renderConfig) turns every ``{{{.A.b[x.y]}}}`` into
``{{kuscia "A.b[x#y]"}}`` (dots inside ``[...]`` become ``#``) and leaves ``{{.A}}`` alone; it
also notes the first name of each reference (triple braces or ``{{.A...}}`` written tight), which
it asks its config manager for when the render data lacks it. Pure: ``Rewrite`` holds the text
Go parses and maps its offsets back to the user's.
"""

from __future__ import annotations

import bisect
import re
from typing import Final

# Kuscia's pattern (a Go regexp, leftmost-first like Python's).
_REFERENCE: Final = re.compile(r"\{\{?\{\.([^{}]+)\}\}?\}")


def _hash_brackets(query: str) -> str:
    """Kuscia's ``\\[(.*?)\\]`` replacement turning "." into "#" inside brackets, in linear time."""
    out: list[str] = []
    last = 0
    i = query.find("[")
    while i >= 0:
        close = query.find("]", i + 1)
        if close < 0:
            break
        newline = query.find("\n", i + 1, close)
        if newline >= 0:  # "." does not match a newline: no bracket pair opens before it
            i = query.find("[", newline + 1)
            continue
        out.append(query[last:i])
        out.append(query[i : close + 1].replace(".", "#"))
        last = close + 1
        i = query.find("[", last)
    out.append(query[last:])
    return "".join(out)


class Rewrite:
    """The text Go parses, and where each of its characters came from."""

    __slots__ = ("cm_keys", "new_starts", "spans", "text")

    def __init__(self, original: str) -> None:
        parts: list[str] = []
        # Per rewritten reference: new start, new end, original start, original end, and where
        # the copied query starts in each text (the query keeps its length: "." -> "#").
        self.spans: list[tuple[int, int, int, int, int, int, int]] = []
        self.cm_keys: set[str] = set()  # what Kuscia asks its config manager for, when absent
        last = 0
        size = 0
        for m in _REFERENCE.finditer(original):
            query = m.group(1)
            self.cm_keys.add(query.split(".")[0])
            if not m.group(0).startswith("{{{"):
                continue
            parts.append(original[last : m.start()])
            size += m.start() - last
            content = _hash_brackets(query)
            replacement = '{{kuscia "' + content + '"}}'
            self.spans.append(
                (size, size + len(replacement), m.start(), m.end(), size + 10, m.start(1), len(content))
            )
            parts.append(replacement)
            size += len(replacement)
            last = m.end()
        parts.append(original[last:])
        self.text = "".join(parts)
        self.new_starts = [span[0] for span in self.spans]

    def original(self, pos: int) -> int:
        """The offset in the user's text of offset ``pos`` of the rewritten text."""
        index = bisect.bisect_right(self.new_starts, pos) - 1
        if index < 0:
            return pos
        _, new_end, orig_start, orig_end, query_new, query_orig, query_len = self.spans[index]
        if pos >= new_end:
            return orig_end + (pos - new_end)
        if query_new <= pos < query_new + query_len:
            return query_orig + (pos - query_new)
        return orig_start
