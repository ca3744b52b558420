"""The AppImage operations of Kuscia's API: parse -> convert -> default -> validate -> store.

No aiohttp, no gRPC: ``webhook.rest`` (JSON and protobuf bodies) and ``webhook.rpc``
are front ends on this one core. Bodies arrive as parsed JSON; answers
leave as Kuscia's ``data`` plus warnings. Every failure is an ``errors.ServiceError``
whose code the caller renders; paths in messages are in the REST (snake_case) spelling.
A failure of the store is answered with the operation's own Kuscia code, chosen in one
place (``FAILED``, from ``operations``, and ``kuscia_failure``). ``AppImages.operations``
says which method runs each operation of the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from webhook.core import (
    defaulting,
    errors,
    formats,
    model,
    operations,
    paths,
    podspec,
    rendered,
    schemas,
    storage,
    validation,
)

DEFAULT_PAGE_SIZE = 10  # Kuscia's default
# An update re-reads and re-merges when another writer got in first; past this many
# lost races in a row the caller is told to retry rather than being kept waiting.
MAX_UPDATE_ATTEMPTS = 5

_NAME = model.Scalar("string")
_HEADER = model.request_shape({"custom_headers": model.Map(_NAME)}, with_spec=False)
# The shapes of the requests' own fields; ``operations`` says which request has which.
_FIELDS: dict[str, model.Node] = {"name": _NAME, "names": model.Array(_NAME),
                                  "page_size": model.Scalar("int64"), "page_token": _NAME}
_SHAPES = {op.request: model.request_shape({"header": _HEADER, **{f: _FIELDS[f] for f in op.fields}},
                                           with_spec=op.with_spec)
           for op in operations.ALL}


@dataclass(frozen=True, slots=True)
class Outcome:
    """A successful answer: Kuscia's ``data`` (None when the call has none) and warnings."""

    data: Any = None
    warnings: Sequence[str] = field(default_factory=tuple)


# The code each operation answers when the store fails it, as Kuscia's
# appimage_service.go answers a failed call to its API server.
FAILED: dict[str, errors.Code] = {op.name: op.failure for op in operations.ALL}


def kuscia_failure(operation: str, e: errors.StoreError) -> errors.ServiceError:
    """A store error as Kuscia answers it in ``operation``: "does not exist" and
    "already exists" keep their codes (Kuscia's GetAppImageErrorCode), except in delete,
    which Kuscia answers 13103 whatever failed; any other failure is ``FAILED``'s code."""
    keeps_code = isinstance(e, errors.NotFound | errors.AlreadyExists) and operation != "delete"
    return errors.ServiceError(e.message, code=e.code if keeps_code else FAILED[operation])


_Operation = Callable[["AppImages", Any], Awaitable[Outcome]]


def _answers_store_failures(method: _Operation) -> _Operation:
    """``method`` (an operation named in ``FAILED``) with store errors answered by
    ``kuscia_failure``."""
    operation = method.__name__
    if operation not in FAILED:
        raise ValueError(f"operation {operation!r} has no failure code in FAILED")

    @functools.wraps(method)
    async def answered(self: AppImages, body: Any) -> Outcome:
        try:
            return await method(self, body)
        except errors.StoreError as e:
            raise kuscia_failure(operation, e) from e

    return answered


def field_errors(problems: Sequence[schemas.Problem]) -> list[errors.FieldError]:
    ordered = sorted(problems, key=lambda p: paths.format_path(p[0]))
    return [errors.FieldError(paths.format_path(path), message) for path, message in ordered]


# Optional lists and maps of a request that proto3 cannot tell from absent when empty:
# an update sending `deploy_templates: []` or `config_templates: {}` keeps the stored
# ones, as Kuscia's does (SPEC §3).
_ABSENT_WHEN_EMPTY: dict[str, tuple[str, ...]] = {
    operations.UPDATE.request: ("config_templates", "deploy_templates"),
}


def _drop_empty(definition: str, request: dict[str, Any]) -> dict[str, Any]:
    """``request`` without the ``_ABSENT_WHEN_EMPTY`` fields it holds empty."""
    empty = [name for name in _ABSENT_WHEN_EMPTY.get(definition, ())
             if isinstance(request.get(name), list | dict) and not request[name]]
    return {k: v for k, v in request.items() if k not in empty}


def check(definition: str, body: Any) -> tuple[dict[str, Any], list[schemas.Problem]]:
    """A request body in snake_case and its REST-schema problems (unknown fields,
    types, enums, names given twice), not raised: the AppImage rules still run on the
    rest of the body, so one answer names every problem."""
    if not isinstance(body, dict):
        raise errors.Invalid([errors.FieldError("body", "must be a JSON object")])
    normalized, dupes = model.normalize(_SHAPES[definition], body)
    normalized = _drop_empty(definition, normalized)
    problems = [(path, "given twice (snake_case and lowerCamelCase)") for path in dupes]
    return normalized, problems + schemas.rest(definition).errors(normalized)


def parse(definition: str, body: Any) -> dict[str, Any]:
    """A request body in snake_case; ``errors.Invalid`` lists every schema problem."""
    normalized, problems = check(definition, body)
    if problems:
        raise errors.Invalid(field_errors(problems))
    return normalized


def check_name(name: str, where: str) -> None:
    """``errors.Invalid`` at ``where`` unless ``name`` is a DNS label (RFC 1123)."""
    reason = "must not be empty" if not name else formats.dns_label(name)
    if reason:
        raise errors.Invalid([errors.FieldError(where, reason)])


def _covered(path: paths.Path, known: Set[paths.Path]) -> bool:
    """Whether ``path`` or a field above it is in ``known``: a lookup per level, as the
    REST schema may name 100,000 bad map keys at once."""
    return any(path[:depth] in known for depth in range(len(path) + 1))


def admit(obj: Mapping[str, Any], checker: podspec.Checker, known: Sequence[schemas.Problem] = ()
          ) -> tuple[dict[str, Any], list[str]]:
    """The defaulted object and its warnings, or ``errors.Invalid`` naming every bad
    field in the REST spelling: the same defaulting and validation the admission
    webhook applies. ``known`` are problems the REST schema found; a field it named is
    not named again in the custom resource's words."""
    defaulted, defaulting_warnings = defaulting.default(obj)
    report = validation.validate(defaulted, checker)
    known_paths = {path for path, _ in known}
    found = [*known, *((rest, m) for p, m in report.errors
                       if not _covered(rest := paths.rest_path(p), known_paths))]
    if found:
        raise errors.Invalid(field_errors(found))
    warnings = [f"{paths.format_path(paths.rest_path(p))}: {m}"
                for p, m in (*defaulting_warnings, *report.warnings)]
    return defaulted, warnings


Run = Callable[[Any], Awaitable[Outcome]]
"""An operation run on a request body."""


class AppImages:
    """The operations, over one ``Store`` and one PodSpec checker."""

    def __init__(self, store: storage.Store, checker: podspec.Checker) -> None:
        self.store = store
        self.checker = checker
        self.rendered = rendered.Cache()
        self.operations: dict[operations.Operation, Run] = {
            operations.CREATE: self.create, operations.UPDATE: self.update,
            operations.DELETE: self.delete, operations.QUERY: self.query,
            operations.BATCH_QUERY: self.batch_query, operations.LIST: self.list,
        }
        """Each operation of the table (``operations.ALL``) and the method that runs it."""
        # Updates of one name queue here, so they never lose compare-and-swap races to
        # each other; the retry loop is left for writers in other processes.
        self._locks: dict[str, asyncio.Lock] = {}
        self._lock_users: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def _exclusive(self, name: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(name, asyncio.Lock())
        self._lock_users[name] = self._lock_users.get(name, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._lock_users[name] -= 1
            if not self._lock_users[name]:
                del self._lock_users[name], self._locks[name]

    @_answers_store_failures
    async def create(self, body: Any) -> Outcome:
        request, problems = check(operations.CREATE.request, body)
        obj, warnings = admit(model.to_cr(request), self.checker, problems)
        await self.store.create(obj)
        return Outcome(warnings=warnings)

    @_answers_store_failures
    async def update(self, body: Any) -> Outcome:
        """Incremental: ``image`` replaces the stored one; ``config_templates`` and
        ``deploy_templates`` replace theirs only when present and non-empty (proto3)."""
        request, problems = check(operations.UPDATE.request, body)
        name = request.get("name")
        if not isinstance(name, str):
            raise errors.Invalid(field_errors(problems))
        check_name(name, "name")
        changes = model.spec_from_rest(request)
        async with self._exclusive(name):
            for _ in range(MAX_UPDATE_ATTEMPTS):
                record = await self.store.get(name)
                merged = {**record.obj, "spec": {**record.obj.get("spec", {}), **changes}}
                obj, warnings = admit(merged, self.checker, problems)
                try:
                    await self.store.replace(obj, record.version)
                except errors.Conflict:
                    continue
                return Outcome(warnings=warnings)
        raise errors.ServiceError(
            f"appimage {name!r} changed under {MAX_UPDATE_ATTEMPTS} attempts in a row; retry",
            code=errors.Code.UPDATE_FAILED)

    @_answers_store_failures
    async def delete(self, body: Any) -> Outcome:
        request = parse(operations.DELETE.request, body)
        check_name(request["name"], "name")
        await self.store.delete(request["name"])
        return Outcome()

    @_answers_store_failures
    async def query(self, body: Any) -> Outcome:
        request = parse(operations.QUERY.request, body)
        check_name(request["name"], "name")
        record = await self.store.get(request["name"])
        return Outcome(data=self.rendered.answer(record))

    @_answers_store_failures
    async def batch_query(self, body: Any) -> Outcome:
        request = parse(operations.BATCH_QUERY.request, body)
        names: list[str] = request["names"]
        bad = [errors.FieldError(f"names[{i}]", reason) for i, name in enumerate(names)
               if (reason := "must not be empty" if not name else formats.dns_label(name))]
        if bad:
            raise errors.Invalid(bad)
        records = await self.store.get_many(names)
        missing = [name for name, record in zip(names, records, strict=True) if record is None]
        if missing:
            raise errors.NotFound(f"appimage {', '.join(map(repr, missing))} does not exist")
        return Outcome(data=[self.rendered.answer(r) for r in records if r is not None])

    @_answers_store_failures
    async def list(self, body: Any) -> Outcome:
        request = parse(operations.LIST.request, body)
        # int(): an int64 may come as a numeric string (protobuf JSON; "0" is 0, the
        # default too), and JSON Schema counts 2.0 as an integer. Past the maximum the page
        # is clamped, as Kuscia's API server clamps its limit: the next_page_token says so.
        size = min(int(request.get("page_size") or 0) or DEFAULT_PAGE_SIZE, storage.MAX_PAGE_SIZE)
        page = await self.store.list(size, request.get("page_token", ""))
        return Outcome(data={"appimage_list": [self.rendered.answer(r) for r in page.records],
                             "next_page_token": page.next_token})
