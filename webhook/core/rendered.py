"""Answers already rendered: an AppImage's REST JSON, kept per (name, version).

A stored version never changes (every write makes a new one), so its rendering can be
reused until it falls out: ``query``, ``batch_query`` and ``list`` then embed the bytes
(``orjson.Fragment``) instead of converting and serializing each object again — for a
batch of 1,000 that was most of the request's CPU. Bounded by bytes, not entries: one
AppImage may be megabytes.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

import orjson

from webhook.core import model, storage

# What the cache may hold in all; well under the service's memory budget.
DEFAULT_MAX_BYTES = 16 * 1024 * 1024


K = TypeVar("K")
V = TypeVar("V")


class Lru(Generic[K, V]):
    """Values by key, least recently used first out once their sizes pass ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        found = self._entries.get(key)
        if found is None:
            return None
        self._entries.move_to_end(key)
        return found[0]

    def put(self, key: K, value: V, size: int) -> None:
        """Keep ``value`` (of ``size`` bytes) unless it alone is over the bound."""
        if size > self.max_bytes:
            return
        self._entries[key] = (value, size)
        self.size += size
        while self.size > self.max_bytes:
            _, (_, dropped) = self._entries.popitem(last=False)
            self.size -= dropped


class Cache:
    """Least recently used renderings, up to ``max_bytes`` of JSON."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._entries: Lru[tuple[str, str], orjson.Fragment] = Lru(max_bytes)

    @property
    def size(self) -> int:
        return self._entries.size

    @property
    def max_bytes(self) -> int:
        return self._entries.max_bytes

    def __len__(self) -> int:
        return len(self._entries)

    def answer(self, record: storage.Record) -> orjson.Fragment:
        """The record as a REST answer object, to embed in a response: for a cached
        version the same object each time (``messages`` keys its protobuf form on it)."""
        key = (record.name, record.version)
        found = self._entries.get(key)
        if found is not None:
            return found
        text = orjson.dumps(model.to_rest(record.obj))
        fragment = orjson.Fragment(text)
        if record.version:
            self._entries.put(key, fragment, len(text))
        return fragment
