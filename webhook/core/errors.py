"""Kuscia error codes and the small exception hierarchy the service raises.

Errors are raised anywhere and mapped to answers in one place per channel: the REST
layer turns them into a Kuscia ``status``; the admission layer into a denial.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar


class Code(enum.IntEnum):
    """Kuscia API status codes for AppImage (pkg/kusciaapi/errorcode)."""

    SUCCESS = 0
    REQUEST_INVALID = 11100
    UNEXPECTED = 11101
    AUTH_FAILED = 11102
    CREATE_FAILED = 13100
    QUERY_FAILED = 13101
    UPDATE_FAILED = 13102
    DELETE_FAILED = 13103
    BATCH_QUERY_FAILED = 13104
    NOT_EXISTS = 13105
    ALREADY_EXISTS = 13106
    LIST_FAILED = 13107


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field; ``path`` is rendered in the caller's shape."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


# A message names every problem up to this many; 100,000 bad keys in one 4 MiB body
# would otherwise make an answer of megabytes that nobody reads to the end.
MAX_LISTED = 100


def listed(texts: Sequence[str]) -> str:
    """``texts`` joined by "; ", the first ``MAX_LISTED`` of them and how many more."""
    shown = "; ".join(texts[:MAX_LISTED])
    return shown if len(texts) <= MAX_LISTED else f"{shown}; and {len(texts) - MAX_LISTED} more"


class ServiceError(Exception):
    """Base of every error the service maps to an answer; carries a Kuscia code: the one
    given, else its class's ``default``."""

    default: ClassVar[Code] = Code.UNEXPECTED

    def __init__(self, message: str, *, code: Code | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = self.default if code is None else code


class Invalid(ServiceError):
    """The request or object breaks the schema or a rule; lists every problem."""

    default = Code.REQUEST_INVALID

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = tuple(errors)
        super().__init__(listed([str(e) for e in self.errors]))


class StoreError(ServiceError):
    """The store could not do what an operation asked. An operation answers it with its
    own Kuscia code (``api.kuscia_failure``), as Kuscia answers a failed call to its
    API server; the code here is for one that escaped that mapping."""


class NotFound(StoreError):
    """The named AppImage is not stored."""

    default = Code.NOT_EXISTS


class AlreadyExists(StoreError):
    """An AppImage of that name is stored already."""

    default = Code.ALREADY_EXISTS


class Conflict(StoreError):
    """A compare-and-swap write lost a race: the stored version moved on."""


class StoreUnavailable(StoreError):
    """The storage backend failed or timed out; nothing was changed by this call."""


class Refused(StoreError):
    """The backend refused the call: an object its own checks reject (the API server's
    validation or admission), or a page token it did not issue."""
