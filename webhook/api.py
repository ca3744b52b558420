"""The AppImage operations of Kuscia's API: parse -> convert -> default -> validate -> store.

No aiohttp: ``webhook.rest`` is the HTTP glue, so a second front end (Kuscia's gRPC
service is a later goal) reuses this unchanged. Bodies arrive as parsed JSON; answers
leave as Kuscia's ``data`` plus warnings. Every failure is an ``errors.ServiceError``
whose code the caller renders; paths in messages are in the REST (snake_case) spelling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from webhook import defaulting, errors, formats, model, podspec, schemas, validation
from webhook.store import base

DEFAULT_PAGE_SIZE = 10  # Kuscia's default
# An update re-reads and re-merges when another writer got in first; past this many
# lost races in a row the caller is told to retry rather than being kept waiting.
MAX_UPDATE_ATTEMPTS = 5

_NAME = model.Scalar("string")
_HEADER = model.request_shape({"custom_headers": model.Map(_NAME)}, with_spec=False)
_SHAPES = {
    "CreateAppImageRequest": model.request_shape({"header": _HEADER, "name": _NAME}, with_spec=True),
    "UpdateAppImageRequest": model.request_shape({"header": _HEADER, "name": _NAME}, with_spec=True),
    "DeleteAppImageRequest": model.request_shape({"header": _HEADER, "name": _NAME}, with_spec=False),
    "QueryAppImageRequest": model.request_shape({"header": _HEADER, "name": _NAME}, with_spec=False),
    "BatchQueryAppImageRequest": model.request_shape(
        {"header": _HEADER, "names": model.Array(_NAME)}, with_spec=False),
    "ListAppImageRequest": model.request_shape(
        {"header": _HEADER, "page_size": model.Scalar("integer"),
         "page_token": _NAME}, with_spec=False),
}


@dataclass(frozen=True, slots=True)
class Outcome:
    """A successful answer: Kuscia's ``data`` (None when the call has none) and warnings."""

    data: Any = None
    warnings: Sequence[str] = field(default_factory=tuple)


def _field_errors(problems: Sequence[schemas.Problem]) -> list[errors.FieldError]:
    return [errors.FieldError(model.format_path(path), message) for path, message in problems]


def parse(definition: str, body: Any) -> dict[str, Any]:
    """A request body in snake_case, checked against its REST schema;
    ``errors.Invalid`` lists every problem (unknown fields, types, enums, duplicates)."""
    if not isinstance(body, dict):
        raise errors.Invalid([errors.FieldError("body", "must be a JSON object")])
    normalized, dupes = model.normalize(_SHAPES[definition], body)
    problems = [(path, "given twice (snake_case and lowerCamelCase)") for path in dupes]
    problems += schemas.rest(definition).errors(normalized)
    if problems:
        raise errors.Invalid(_field_errors(sorted(problems, key=lambda p: model.format_path(p[0]))))
    return normalized


def _check_name(name: str, where: str) -> None:
    reason = "must not be empty" if not name else formats.dns_label(name)
    if reason:
        raise errors.Invalid([errors.FieldError(where, reason)])


class AppImages:
    """The operations, over one ``Store`` and one PodSpec checker."""

    def __init__(self, store: base.Store, checker: podspec.Checker) -> None:
        self.store = store
        self.checker = checker

    def admit(self, obj: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The defaulted object and its warnings, or ``errors.Invalid`` naming every
        bad field: the same defaulting and validation the admission webhook applies."""
        defaulted, defaulting_warnings = defaulting.default(obj)
        report = validation.validate(defaulted, self.checker)
        if report.errors:
            raise errors.Invalid([errors.FieldError(model.format_path(model.rest_path(p)), m)
                                  for p, m in report.errors])
        warnings = [f"{model.format_path(model.rest_path(p))}: {m}"
                    for p, m in (*defaulting_warnings, *report.warnings)]
        return defaulted, warnings

    async def create(self, body: Any) -> Outcome:
        request = parse("CreateAppImageRequest", body)
        obj, warnings = self.admit(model.to_cr(request))
        await self.store.create(obj)
        return Outcome(warnings=warnings)

    async def update(self, body: Any) -> Outcome:
        """Incremental: ``image`` replaces the stored one; ``config_templates`` and
        ``deploy_templates`` replace theirs only when present and non-empty (proto3)."""
        request = parse("UpdateAppImageRequest", body)
        _check_name(request["name"], "name")
        changes = model.spec_from_rest(request)
        for _ in range(MAX_UPDATE_ATTEMPTS):
            record = await self.store.get(request["name"])
            merged = {**record.obj, "spec": {**record.obj.get("spec", {}), **changes}}
            obj, warnings = self.admit(merged)
            try:
                await self.store.replace(obj, record.version)
            except errors.Conflict:
                continue
            return Outcome(warnings=warnings)
        raise errors.ServiceError(
            f"appimage {request['name']!r} changed under {MAX_UPDATE_ATTEMPTS} attempts in a row; "
            "retry", code=errors.Code.UPDATE_FAILED)

    async def delete(self, body: Any) -> Outcome:
        request = parse("DeleteAppImageRequest", body)
        _check_name(request["name"], "name")
        try:
            await self.store.delete(request["name"])
        except errors.NotFound as e:
            raise errors.ServiceError(e.message, code=errors.Code.DELETE_FAILED) from e
        return Outcome()

    async def query(self, body: Any) -> Outcome:
        request = parse("QueryAppImageRequest", body)
        _check_name(request["name"], "name")
        record = await self.store.get(request["name"])
        return Outcome(data=model.to_rest(record.obj))

    async def batch_query(self, body: Any) -> Outcome:
        request = parse("BatchQueryAppImageRequest", body)
        names: list[str] = request["names"]
        bad = [errors.FieldError(f"names[{i}]", reason) for i, name in enumerate(names)
               if (reason := "must not be empty" if not name else formats.dns_label(name))]
        if bad:
            raise errors.Invalid(bad)
        records = await self.store.get_many(names)
        missing = [name for name, record in zip(names, records, strict=True) if record is None]
        if missing:
            raise errors.NotFound(f"appimage {', '.join(map(repr, missing))} does not exist")
        return Outcome(data=[model.to_rest(r.obj) for r in records if r is not None])

    async def list(self, body: Any) -> Outcome:
        request = parse("ListAppImageRequest", body)
        page = await self.store.list(request.get("page_size") or DEFAULT_PAGE_SIZE,
                                     request.get("page_token", ""))
        return Outcome(data={"appimage_list": [model.to_rest(r.obj) for r in page.records],
                             "next_page_token": page.next_token})
