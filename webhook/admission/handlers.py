"""Mutate and validate: pure review -> response logic (no aiohttp).

Only CREATE and UPDATE of ``kuscia.secretflow`` AppImages are looked at (an UPDATE is
held only to the rules on what it changes, see ``ratchet``). Denial is the validating
webhook's, except for an object the CRD's own checks will refuse (``crdcheck``): the
API server would then never ask the validating webhook, so the mutating one denies it
with the full list; DELETE,
CONNECT and objects of other kinds are allowed untouched (and logged, since a webhook
configuration that sends them is probably too broad). Dry-run requests are answered
the same way: the webhook has no side effects (``sideEffects: None``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from webhook.admission import patches, responses, reviews
from webhook.core import crdcheck, defaulting, model, paths, podspec, report, schemas, validation

log = logging.getLogger(__name__)


def _texts(problems: Sequence[schemas.Problem]) -> list[str]:
    return [f"{paths.format_path(path)}: {paths.spelled(message, rest=False)}" for path, message in problems]


def _skipped(request: reviews.Request) -> bool:
    kind = request["kind"]
    if kind["group"] != model.GROUP or kind["kind"] != model.KIND:
        log.info("allowed an object of another kind untouched", extra={
            "uid": request["uid"], "kind": f"{kind['kind']}.{kind['group']}/{kind['version']}"})
        return True
    return request["operation"] not in ("CREATE", "UPDATE")


def mutate(request: reviews.Request, checker: podspec.Checker,
           policy: validation.Policy = validation.Policy()) -> reviews.Review:
    """Allowed, with the JSON Patch that fills the defaults (none when none are missing);
    denied naming every bad field when the API server's CRD checks, which run next, would
    refuse the object: they would show only their own findings, and the validating
    webhook would never be asked."""
    if _skipped(request):
        return responses.allowed(request["uid"])
    obj = request.get("object") or {}
    edits, warnings = defaulting.edits(obj)
    defaulted = defaulting.overlay(obj, edits)
    if crdcheck.refuses(defaulted):
        denial = _judged(request, defaulted, validation.validate(defaulted, checker, policy), warnings)
        if denial["response"]["allowed"] is False:
            return denial
    return responses.patched(request["uid"], patches.operations(obj, edits), _texts(warnings))


_MISSING = object()


def _at(obj: Any, path: paths.Path) -> Any:
    for token in path:
        if isinstance(obj, dict) and isinstance(token, str):
            obj = obj.get(token, _MISSING)
        elif isinstance(obj, list) and isinstance(token, int) and token < len(obj):
            obj = obj[token]
        else:
            return _MISSING
    return obj


def ratchet(errors: Sequence[schemas.Problem], obj: Any, old: Any
            ) -> tuple[list[schemas.Problem], list[schemas.Problem]]:
    """Split an UPDATE's errors into those on fields it changed and those it did not.

    As Kubernetes ratchets CRD validation: an object stored before a rule existed (or
    while the webhook was down) can still be labelled, or have its finalizers removed
    while it is deleted; only what an update touches must satisfy today's rules."""
    changed = [e for e in errors if _at(obj, e[0]) != _at(old, e[0])]
    unchanged = [(path, f"{message} (unchanged by this update, so allowed)")
                 for path, message in errors if _at(obj, path) == _at(old, path)]
    return changed, unchanged


def _judged(request: reviews.Request, obj: Any, found: report.Report,
            noted: Sequence[schemas.Problem] = ()) -> reviews.Review:
    """Allowed with warnings, or denied as Invalid naming every bad field (of an UPDATE,
    those on what it changes)."""
    errors, tolerated = found.errors, list[schemas.Problem]()
    if request["operation"] == "UPDATE":
        errors, tolerated = ratchet(errors, obj, request.get("oldObject") or {})
    warnings = _texts([*noted, *found.warnings, *tolerated])
    if not errors:
        return responses.allowed(request["uid"], warnings)
    metadata = obj.get("metadata")
    name = str(metadata.get("name") or request.get("name", "")) if isinstance(metadata, dict) else ""
    causes = [(paths.format_path(path), paths.spelled(message, rest=False)) for path, message in errors]
    return responses.denied(request["uid"], request["kind"], name, causes, warnings)


def validate(request: reviews.Request, checker: podspec.Checker,
             policy: validation.Policy = validation.Policy()) -> reviews.Review:
    """Allowed with warnings, or denied as Invalid naming every bad field."""
    if _skipped(request):
        return responses.allowed(request["uid"])
    obj = request.get("object") or {}
    return _judged(request, obj, validation.validate(obj, checker, policy))
