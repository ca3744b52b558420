"""``appimage-webhook validate FILE…``: AppImage manifests and REST bodies checked offline.

A manifest is checked as the webhooks would (default, then validate), a REST create or
update body as the API would, each error and warning with its file, document index and
field path. Reads the files it is given; writes only to ``out``.
"""

from __future__ import annotations

import contextlib
import pathlib
import sys
from collections.abc import Sequence
from typing import Any

import yaml

from webhook.app import audit
from webhook.core import api, bodies, errors, model, paths, podspec


def _documents(path: str) -> list[Any]:
    """The documents of a file: ``.json`` read as one strict JSON document (tabs and
    all), anything else as YAML (multi-document); ``-`` is standard input, read as JSON
    when it parses as JSON. ``ValueError`` or ``OSError`` saying why it cannot be read."""
    raw = sys.stdin.buffer.read() if path == "-" else pathlib.Path(path).read_bytes()
    if path.endswith(".json"):
        return [bodies.parse(raw, strict=True)]
    if path == "-":
        with contextlib.suppress(bodies.Unreadable):
            return [bodies.parse(raw, strict=True)]
    try:
        return list(yaml.safe_load_all(raw))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ValueError(f"malformed YAML{where}: {e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise ValueError(f"malformed YAML: {e}") from None


# A REST body (no apiVersion or kind) by the first of these keys it has: the request it
# is checked as, and what the output calls it. A body with deploy templates is checked as
# the whole AppImage it describes, as create does; update merges it with the stored one.
_REST_BODIES = (
    (("deploy_templates", "deployTemplates"), "CreateAppImageRequest", "create/update"),
    (("image",), "UpdateAppImageRequest", "update"),
    (("names",), "BatchQueryAppImageRequest", "batch_query"),
    (("name",), "QueryAppImageRequest", "query/delete"),
    (("page_size", "pageSize", "page_token", "pageToken"), "ListAppImageRequest", "list"),
)


def _rest_request(doc: Any) -> tuple[str, str] | None:
    """(request definition, its name for the output) of a REST body, or None for
    anything else (a manifest, another kind of document)."""
    if not isinstance(doc, dict) or "apiVersion" in doc or "kind" in doc:
        return None
    for keys, definition, called in _REST_BODIES:
        if any(k in doc for k in keys):
            return definition, called
    return None


def _check_rest(definition: str, doc: dict[str, Any], checker: podspec.Checker
                ) -> tuple[list[str], list[str]]:
    """(errors, warnings) of a REST body, both as "path: message" in its spelling: the
    REST schema, and for a whole AppImage the rules create applies."""
    request, problems = api.check(definition, doc)
    try:
        if definition == "CreateAppImageRequest":
            return [], api.admit(model.to_cr(request), checker, problems)[1]
        if problems:
            raise errors.Invalid(api.field_errors(problems))
    except errors.Invalid as e:
        return [str(error) for error in e.errors], []
    return [], []


def _check_manifest(doc: dict[str, Any], checker: podspec.Checker) -> tuple[list[str], list[str]]:
    """(errors, warnings) of an AppImage manifest, as "path: message" (camelCase)."""
    found, warnings = audit.problems(doc, checker)
    return ([f"{paths.format_path(p)}: {paths.spelled(m, rest=False)}" for p, m in found],
            [f"{paths.format_path(p)}: {paths.spelled(m, rest=False)}" for p, m in warnings])


def files(names: Sequence[str], out: Any = sys.stdout) -> int:
    """Check AppImage manifests as the webhooks would (default, then validate), and
    REST create/update bodies as the API would: every error and warning with its file,
    document index and field path; 1 if any document is invalid or a file unreadable."""
    checker = podspec.checker()
    invalid = 0
    for path in names:
        try:
            documents = _documents(path)
        except (OSError, ValueError) as e:
            print(f"{path}: cannot read: {e}", file=out)
            invalid += 1
            continue
        for index, doc in enumerate(documents):
            if doc is None:
                continue
            where = f"{path}[{index}]"
            rest_request = _rest_request(doc)
            if rest_request is not None:
                definition, called = rest_request
                name = f"{where} {doc.get('name', '')!s} ({called} request body)".replace("  ", " ")
                found, warnings = _check_rest(definition, doc, checker)
            elif isinstance(doc, dict) and doc.get("kind") == model.KIND:
                name = f"{where} {doc.get('metadata', {}).get('name', '')!s}".rstrip()
                found, warnings = _check_manifest(doc, checker)
            else:
                kind = doc.get("kind") if isinstance(doc, dict) else type(doc).__name__
                print(f"{where}: skipped ({kind or 'no kind'}: neither an {model.KIND} manifest "
                      "nor an AppImage REST request body)", file=out)
                continue
            for warning in warnings:
                print(f"{name}: warning: {warning}", file=out)
            for error in found:
                print(f"{name}: error: {error}", file=out)
            if found:
                invalid += 1
            else:
                print(f"{name}: valid", file=out)
    return 1 if invalid else 0
