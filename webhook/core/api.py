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
from webhook.core.kuscia import workloads

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
    return [errors.FieldError(paths.format_path(path), paths.spelled(message, rest=True))
            for path, message in ordered]


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


def storable(name: str) -> bool:
    """Whether an AppImage of this name can be stored at all: a Kubernetes object name
    (DNS subdomain). Query, update, delete and batch query do not judge a name's format,
    as Kuscia's do not (SPEC §3): a name that cannot exist is not found, without asking
    the store (to which it would be a path)."""
    return bool(name) and not formats.dns_subdomain(name)


def _missing(names: Sequence[str]) -> errors.NotFound:
    return errors.NotFound(f"appimage {', '.join(map(repr, names))} does not exist")


# An update does not judge the name's format: the body is judged on its own under a name
# any rule takes, before the stored object is looked up.
_UNJUDGED_NAME = "update"


def _covered(path: paths.Path, known: Set[paths.Path]) -> bool:
    """Whether ``path`` or a field above it is in ``known``: a lookup per level, as the
    REST schema may name 100,000 bad map keys at once."""
    return any(path[:depth] in known for depth in range(len(path) + 1))


def admit(obj: Mapping[str, Any], checker: podspec.Checker, known: Sequence[schemas.Problem] = (),
          policy: validation.Policy = validation.Policy()) -> tuple[dict[str, Any], list[str]]:
    """The defaulted object and its warnings, or ``errors.Invalid`` naming every bad
    field in the REST spelling: the same defaulting and validation the admission
    webhook applies. ``known`` are problems the REST schema found; a field it named is
    not named again in the custom resource's words."""
    defaulted, defaulting_warnings = defaulting.default(obj)
    report = validation.validate(defaulted, checker, policy)
    known_paths = {path for path, _ in known}
    found = [*known, *((rest, m) for p, m in report.errors
                       if not _covered(rest := paths.rest_path(p), known_paths))]
    if found:
        raise errors.Invalid(field_errors(found))
    warnings = [f"{paths.format_path(paths.rest_path(p))}: {paths.spelled(m, rest=True)}"
                for p, m in (*defaulting_warnings, *report.warnings)]
    return defaulted, warnings


Run = Callable[[Any], Awaitable[Outcome]]
"""An operation run on a request body."""


def _said(verdict: workloads.Verdict) -> str:
    """A refusal of the guard as one message (its paths are the workloads', not ours)."""
    return "; ".join(message for _, message in verdict.errors)


class AppImages:
    """The operations, over one ``Store``, one PodSpec checker, the operator's image
    policy, and the guard of the links from Kuscia's workloads (none by default)."""

    def __init__(self, store: storage.Store, checker: podspec.Checker, *,
                 policy: validation.Policy = validation.Policy(),
                 guard: workloads.Guard = workloads.NO_GUARD) -> None:
        self.store = store
        self.checker = checker
        self.policy = policy
        self.guard = guard
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
        obj, warnings = admit(model.to_cr(request), self.checker, problems, self.policy)
        await self.store.create(obj)
        return Outcome(warnings=warnings)

    @_answers_store_failures
    async def update(self, body: Any) -> Outcome:
        """Incremental: ``image`` replaces the stored one; ``config_templates`` and
        ``deploy_templates`` replace theirs only when present and non-empty (proto3).
        The body is judged before the stored object is looked up (SPEC §7), and the
        merged object again, then the workloads that run it (``guard``)."""
        request, problems = check(operations.UPDATE.request, body)
        changes = model.spec_from_rest(request)
        if "deploy_templates" in request:  # a whole spec but the config templates
            admit(model.to_cr({**request, "name": _UNJUDGED_NAME}), self.checker, problems, self.policy)
        elif problems:
            raise errors.Invalid(field_errors(problems))
        name: str = request["name"]
        if not storable(name):
            raise _missing([name])
        async with self._exclusive(name):
            for _ in range(MAX_UPDATE_ATTEMPTS):
                record = await self.store.get(name)
                merged = {**record.obj, "spec": {**record.obj.get("spec", {}), **changes}}
                obj, warnings = admit(merged, self.checker, policy=self.policy)
                verdict = await self.guard.update(name, record.obj, obj)
                if verdict.errors:
                    raise errors.ServiceError(_said(verdict), code=errors.Code.UPDATE_FAILED)
                try:
                    await self.store.replace(obj, record.version)
                except errors.Conflict:
                    continue
                return Outcome(warnings=[*warnings, *verdict.warnings])
        raise errors.ServiceError(
            f"appimage {name!r} changed under {MAX_UPDATE_ATTEMPTS} attempts in a row; retry",
            code=errors.Code.UPDATE_FAILED)

    @_answers_store_failures
    async def delete(self, body: Any) -> Outcome:
        name: str = parse(operations.DELETE.request, body)["name"]
        if not storable(name):
            raise _missing([name])
        verdict = await self.guard.delete(name)
        if verdict.errors:
            raise errors.ServiceError(_said(verdict), code=errors.Code.DELETE_FAILED)
        await self.store.delete(name)
        return Outcome(warnings=verdict.warnings)

    @_answers_store_failures
    async def query(self, body: Any) -> Outcome:
        name: str = parse(operations.QUERY.request, body)["name"]
        if not storable(name):
            raise _missing([name])
        return Outcome(data=self.rendered.answer(await self.store.get(name)))

    @_answers_store_failures
    async def batch_query(self, body: Any) -> Outcome:
        names: list[str] = parse(operations.BATCH_QUERY.request, body)["names"]
        asked = [name for name in names if storable(name)]
        found = dict(zip(asked, await self.store.get_many(asked), strict=True)) if asked else {}
        missing = [name for name in names if found.get(name) is None]
        if missing:
            raise _missing(missing)
        return Outcome(data=[self.rendered.answer(record) for name in names
                             if (record := found.get(name)) is not None])

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
