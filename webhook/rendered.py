"""Answers already rendered: an AppImage's REST JSON, kept per (name, version).

A stored version never changes (every write makes a new one), so its rendering can be
reused until it falls out: ``query``, ``batch_query`` and ``list`` then embed the bytes
(``orjson.Fragment``) instead of converting and serializing each object again — for a
batch of 1,000 that was most of the request's CPU. Bounded by bytes, not entries: one
AppImage may be megabytes.
"""

from __future__ import annotations

from collections import OrderedDict

import orjson

from webhook import model
from webhook.store import base

# What the cache may hold in all; well under the service's memory budget.
DEFAULT_MAX_BYTES = 16 * 1024 * 1024


class Cache:
    """Least recently used renderings, up to ``max_bytes`` of JSON."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[tuple[str, str], bytes] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def answer(self, record: base.Record) -> orjson.Fragment:
        """The record as a REST answer object, to embed in a response."""
        key = (record.name, record.version)
        text = self._entries.get(key)
        if text is not None:
            self._entries.move_to_end(key)
            return orjson.Fragment(text)
        text = orjson.dumps(model.to_rest(record.obj))
        if record.version and len(text) <= self.max_bytes:
            self._entries[key] = text
            self.size += len(text)
            while self.size > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self.size -= len(dropped)
        return orjson.Fragment(text)
