"""Mutate and validate: pure review -> response logic (no aiohttp).

Only CREATE and UPDATE of ``kuscia.secretflow`` AppImages are looked at; DELETE,
CONNECT and objects of other kinds are allowed untouched (and logged, since a webhook
configuration that sends them is probably too broad). Dry-run requests are answered
the same way: the webhook has no side effects (``sideEffects: None``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from webhook import defaulting, model, podspec, schemas, validation
from webhook.admission import patches, responses, reviews

log = logging.getLogger(__name__)


def _texts(problems: Sequence[schemas.Problem]) -> list[str]:
    return [f"{model.format_path(path)}: {message}" for path, message in problems]


def _skipped(request: reviews.Request) -> bool:
    kind = request["kind"]
    if kind["group"] != model.GROUP or kind["kind"] != model.KIND:
        log.info("allowed an object of another kind untouched", extra={
            "uid": request["uid"], "kind": f"{kind['kind']}.{kind['group']}/{kind['version']}"})
        return True
    return request["operation"] not in ("CREATE", "UPDATE")


def mutate(request: reviews.Request) -> reviews.Review:
    """Allowed, with the JSON Patch that fills the defaults (none when none are missing)."""
    if _skipped(request):
        return responses.allowed(request["uid"])
    obj = request.get("object") or {}
    defaulted, warnings = defaulting.default(obj)
    return responses.patched(request["uid"], patches.diff(obj, defaulted), _texts(warnings))


def validate(request: reviews.Request, checker: podspec.Checker) -> reviews.Review:
    """Allowed with warnings, or denied as Invalid naming every bad field."""
    if _skipped(request):
        return responses.allowed(request["uid"])
    obj = request.get("object") or {}
    report = validation.validate(obj, checker)
    warnings = _texts(report.warnings)
    if not report.errors:
        return responses.allowed(request["uid"], warnings)
    metadata = obj.get("metadata")
    name = str(metadata.get("name") or request.get("name", "")) if isinstance(metadata, dict) else ""
    causes = [(model.format_path(path), message) for path, message in report.errors]
    return responses.denied(request["uid"], request["kind"], name, causes, warnings)
