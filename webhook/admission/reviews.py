"""admission.k8s.io/v1 wire types, and the check that a body is a readable review.

Pure. Two error channels (as kopf and controller-runtime have them): a body that is not
a readable AdmissionReview raises ``Unreadable`` and becomes HTTP 400; a readable one
always gets HTTP 200 and a well-formed review, allowed or denied.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

API_VERSION = "admission.k8s.io/v1"
KIND = "AdmissionReview"
OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")

Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]


class GroupVersionKind(TypedDict):
    group: str
    version: str
    kind: str


class Request(TypedDict):
    uid: str
    kind: GroupVersionKind
    operation: Operation
    name: NotRequired[str]
    object: NotRequired[dict[str, Any] | None]
    oldObject: NotRequired[dict[str, Any] | None]
    dryRun: NotRequired[bool]


class StatusCause(TypedDict):
    reason: str
    message: str
    field: str


class StatusDetails(TypedDict):
    name: str
    group: str
    kind: str
    causes: list[StatusCause]


class Status(TypedDict):
    code: int
    reason: str
    message: str
    details: NotRequired[StatusDetails]


class Response(TypedDict):
    uid: str
    allowed: bool
    status: NotRequired[Status]
    patch: NotRequired[str]
    patchType: NotRequired[Literal["JSONPatch"]]
    warnings: NotRequired[list[str]]


class Review(TypedDict):
    apiVersion: str
    kind: str
    response: Response


class Unreadable(ValueError):
    """The body is not an AdmissionReview this webhook can answer (HTTP 400)."""


def _require(value: Any, field: str, kind: type) -> Any:
    if not isinstance(value, kind) or (kind is str and not value):
        raise Unreadable(f"{field}: required, a {'non-empty string' if kind is str else 'object'}")
    return value


def parse(body: Any) -> Request:
    """The ``request`` of an admission.k8s.io/v1 AdmissionReview body, checked."""
    _require(body, "body", dict)
    if body.get("apiVersion") != API_VERSION or body.get("kind") != KIND:
        raise Unreadable(f"apiVersion/kind: expected {API_VERSION} {KIND}, got "
                         f"{body.get('apiVersion')!r} {body.get('kind')!r}")
    request = _require(body.get("request"), "request", dict)
    _require(request.get("uid"), "request.uid", str)
    kind = _require(request.get("kind"), "request.kind", dict)
    for key in ("group", "version", "kind"):
        if not isinstance(kind.get(key), str):
            raise Unreadable(f"request.kind.{key}: required, a string")
    if request.get("operation") not in OPERATIONS:
        raise Unreadable(f"request.operation: must be one of {', '.join(OPERATIONS)}, "
                         f"not {request.get('operation')!r}")
    if request["operation"] in ("CREATE", "UPDATE"):
        _require(request.get("object"), "request.object", dict)
    if request["operation"] == "UPDATE":
        _require(request.get("oldObject"), "request.oldObject", dict)
    checked: Request = request  # every field read above was checked
    return checked
