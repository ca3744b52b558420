"""The Store protocol: the only storage API the web layer sees, and its contract.

Objects are stored in the custom-resource shape (camelCase ``spec``), keyed by name.
Every write is a compare-and-swap on an opaque ``version`` string, so two racing
updates can never silently overwrite each other: the loser gets ``errors.Conflict``
and re-reads. Backends subclass ``Store`` explicitly; ``tests/support/store_contract.py`` runs
one suite against every backend.
"""

from __future__ import annotations

import abc
import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from webhook.core import errors

# A page may not be larger than this: an unbounded page would let one request pin the
# event loop and memory for the whole table.
MAX_PAGE_SIZE = 1000


class Record:
    """A stored AppImage: its custom resource (``metadata`` and ``spec``) and version.

    ``obj`` is a fresh copy of its own: the caller may change it without touching the
    store. A backend that reads bytes gives ``decode`` instead of ``obj``, and the
    object is decoded on first use: a query answered from ``rendered`` never needs it
    (decoding was about a tenth of a query's CPU)."""

    __slots__ = ("_decode", "_obj", "name", "version")

    def __init__(self, name: str, version: str, obj: dict[str, Any] | None = None, *,
                 decode: Callable[[], dict[str, Any]] | None = None) -> None:
        if (obj is None) == (decode is None):
            raise TypeError("a Record needs exactly one of obj and decode")
        self.name = name
        self.version = version
        self._obj = obj
        self._decode = decode or dict  # never called when obj is given

    @property
    def obj(self) -> dict[str, Any]:
        if self._obj is None:
            self._obj = self._decode()
        return self._obj

    def __repr__(self) -> str:
        return f"Record(name={self.name!r}, version={self.version!r})"


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing, in name order; ``next_token`` is empty on the last."""

    records: Sequence[Record]
    next_token: str


class Store(abc.ABC):
    """Durable AppImage storage. Methods raise ``errors.StoreError`` subclasses (and
    ``errors.Invalid`` for an object no store can hold): backend exceptions are wrapped
    as ``errors.StoreUnavailable``."""

    @abc.abstractmethod
    async def create(self, obj: Mapping[str, Any]) -> Record:
        """Store a new object; ``errors.AlreadyExists`` if the name is taken."""

    @abc.abstractmethod
    async def get(self, name: str) -> Record:
        """The stored object; ``errors.NotFound`` if absent."""

    @abc.abstractmethod
    async def get_many(self, names: Sequence[str]) -> list[Record | None]:
        """The stored objects in the order asked, ``None`` where absent."""

    @abc.abstractmethod
    async def replace(self, obj: Mapping[str, Any], version: str) -> Record:
        """Replace the object if its stored version is still ``version``;
        ``errors.Conflict`` if it moved on, ``errors.NotFound`` if it is gone."""

    @abc.abstractmethod
    async def delete(self, name: str) -> None:
        """Remove the object; ``errors.NotFound`` if absent."""

    @abc.abstractmethod
    async def list(self, limit: int, token: str = "") -> Page:
        """Up to ``limit`` objects after ``token`` in name order.
        ``errors.Refused`` for a token this store did not issue."""

    async def ready(self) -> bool:
        """Whether the backend answers; backs ``/readyz``."""
        return True

    async def close(self) -> None:  # noqa: B027 - a no-op is a valid default
        """Release connections; called once at shutdown."""


def encode_token(last_name: str) -> str:
    """A page token for stores that page by name: opaque to clients, cheap to check."""
    return base64.urlsafe_b64encode(last_name.encode()).decode().rstrip("=")


def decode_token(token: str) -> str:
    """The last name of the previous page; ``errors.Refused`` for a forged token."""
    try:
        padded = token + "=" * (-len(token) % 4)
        return base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as e:
        raise errors.Refused("page_token: is not a token this server issued") from e
