"""The only builder of AdmissionReview answers (controller-runtime's response.go).

Pure. Each helper returns a complete ``reviews.Review`` echoing the request's uid.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import orjson

from webhook.admission import patches, reviews
from webhook.core import errors

# A denial for an invalid object, as the API server's own validation answers one.
INVALID = 422


def _review(response: reviews.Response) -> reviews.Review:
    return {"apiVersion": reviews.API_VERSION, "kind": reviews.KIND, "response": response}


def allowed(uid: str, warnings: Sequence[str] = ()) -> reviews.Review:
    response: reviews.Response = {"uid": uid, "allowed": True}
    if warnings:
        response["warnings"] = list(warnings)
    return _review(response)


def patched(uid: str, ops: Sequence[patches.Operation], warnings: Sequence[str] = ()) -> reviews.Review:
    """Allowed, with a JSON Patch when there is anything to change (none otherwise)."""
    review = allowed(uid, warnings)
    if ops:
        review["response"]["patchType"] = "JSONPatch"
        review["response"]["patch"] = base64.b64encode(orjson.dumps(ops)).decode()
    return review


def denied(uid: str, kind: reviews.GroupVersionKind, name: str,
           causes: Sequence[tuple[str, str]], warnings: Sequence[str] = ()) -> reviews.Review:
    """Refused as Invalid (422) with every (field, message) in the message and causes
    (up to ``errors.MAX_LISTED``; the message says how many more)."""
    listed = errors.listed([f"{field}: {message}" if field else message for field, message in causes])
    qualified = f"{kind['kind']}.{kind['group']}" if kind["group"] else kind["kind"]
    response: reviews.Response = {
        "uid": uid,
        "allowed": False,
        "status": {
            "code": INVALID,
            "reason": "Invalid",
            "message": f'{qualified} "{name}" is invalid: {listed}',  # as the API server quotes
            "details": {
                "name": name,
                "group": kind["group"],
                "kind": kind["kind"],
                "causes": [{"reason": "FieldValueInvalid", "message": message, "field": field}
                           for field, message in causes[:errors.MAX_LISTED]],
            },
        },
    }
    if warnings:
        response["warnings"] = list(warnings)
    return _review(response)


def errored(uid: str, message: str) -> reviews.Review:
    """Refused because the webhook itself failed (controller-runtime's Errored)."""
    return _review({"uid": uid, "allowed": False,
                    "status": {"code": 500, "reason": "InternalError", "message": message}})
