"""Property tests of the admission webhook: random AppImages in random AdmissionReviews.

Objects come from ``tests/support/strategies.py`` (schema-valid custom resources and broken
ones) and from ``valid_appimages`` below (passing every rule, with defaults left out
at random). Reviews vary the operation, the uid, the kind, dryRun and the old object.
Every review goes through the wire as the HTTP glue sends it: serialized, parsed by
``bodies`` and ``reviews``, answered by the handlers, and the answer serialized again.

For every review: a well-formed AdmissionReview answer echoing the uid; allowed or
denied, never both (a denial has a status and no patch, an allowance no failure
status); a patch, when there is one, applies cleanly (RFC 6902, ``jsonpatch``) to the
request's object, gives exactly the defaulted object, leaves a schema-valid object
schema-valid and a valid one valid, and mutating the patched object again gives no
patch (idempotence). Fixed seeds; ``FUZZ_SCALE`` multiplies the examples.
"""

from __future__ import annotations

import base64
import collections
import copy
from typing import Any

import jsonpatch
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import builders, figures, strategies
from webhook.admission import handlers, reviews
from webhook.core import bodies, crdcheck, defaulting, errors, model, podspec, schemas, validation

# Slow: hundreds of generated reviews per property.
pytestmark = pytest.mark.slow

EXAMPLES = 300
PROPERTY = settings(max_examples=EXAMPLES * figures.scale(), deadline=None, derandomize=True,
                    database=None, suppress_health_check=[HealthCheck.too_slow,
                                                          HealthCheck.data_too_large])
CHECKER = podspec.checker()
APPIMAGE_KIND = {"group": model.GROUP, "version": "v1alpha1", "kind": model.KIND}
OTHER_KINDS = [{"group": "", "version": "v1", "kind": "ConfigMap"},
               {"group": model.GROUP, "version": "v1alpha1", "kind": "DomainAppImage"}]
UIDS = st.uuids().map(str) | st.text(min_size=1, max_size=40)
_seen: collections.Counter[str] = collections.Counter()
DNS = strategies.NAMES


@st.composite
def valid_appimages(draw: Any) -> dict[str, Any]:
    """An AppImage that passes every rule: the document's example with its defaults
    dropped at random, ports, env_from entries naming both sources, more templates."""
    obj = copy.deepcopy(builders.doc_appimage())
    obj["metadata"]["name"] = draw(DNS)
    base = obj["spec"]["deployTemplates"][0]
    templates = []
    for t, name in enumerate(draw(st.lists(DNS, min_size=1, max_size=3, unique=True))):
        template = copy.deepcopy(base)
        template["name"] = name
        template["role"] = f"role-{t}"  # Kuscia selects a template by role: one per role
        if draw(st.booleans()):
            del template["replicas"]
        elif draw(st.booleans()):
            template["replicas"] = draw(st.integers(1, 5))
        container = template["spec"]["containers"][0]
        ports = draw(st.lists(st.from_regex(r"\A[a-z]{1,8}\Z"), max_size=3, unique=True))
        container["ports"] = [
            {"name": port,
             **({"protocol": draw(st.sampled_from(["HTTP", "GRPC"]))} if draw(st.booleans()) else {}),
             **({"scope": draw(st.sampled_from(["Cluster", "Domain", "Local"]))}
                if draw(st.booleans()) else {})}
            for port in ports]
        if not ports:
            del container["ports"]
        if t and draw(st.booleans()):
            container["envFrom"] = [{"prefix": "P_", "configMapRef": {"name": "cm"},
                                     "secretRef": {"name": "secret"}}]
        templates.append(template)
    obj["spec"]["deployTemplates"] = templates
    return obj


OBJECTS = st.one_of(valid_appimages(), strategies.cr_appimages(),
                    strategies.broken(strategies.cr_appimages()))


@st.composite
def admission_reviews(draw: Any) -> dict[str, Any]:
    obj = draw(OBJECTS)
    operation = draw(st.sampled_from(reviews.OPERATIONS))
    request: dict[str, Any] = {
        "uid": draw(UIDS),
        "kind": APPIMAGE_KIND if draw(st.integers(0, 9)) else draw(st.sampled_from(OTHER_KINDS)),
        "resource": {"group": model.GROUP, "version": "v1alpha1", "resource": model.PLURAL},
        "operation": operation,
        "userInfo": {"username": "fuzz"},
        "dryRun": draw(st.booleans()),
    }
    if operation in ("CREATE", "UPDATE"):
        request["object"] = obj
    if operation in ("UPDATE", "DELETE"):
        request["oldObject"] = draw(OBJECTS) if draw(st.booleans()) else obj
    return {"apiVersion": reviews.API_VERSION, "kind": reviews.KIND, "request": request}


def over_the_wire(review: dict[str, Any]) -> reviews.Request:
    """The review as the webhook reads it from its body."""
    return reviews.parse(bodies.parse(orjson.dumps(review), strict=False))


def answered(review: reviews.Review, uid: str) -> reviews.Response:
    """The response of a well-formed answer, after a trip through JSON."""
    wire = orjson.loads(orjson.dumps(review))
    assert (wire["apiVersion"], wire["kind"]) == (reviews.API_VERSION, reviews.KIND)
    response: reviews.Response = wire["response"]
    assert response["uid"] == uid
    assert isinstance(response["allowed"], bool)
    if response["allowed"]:
        assert "status" not in response or 200 <= response["status"]["code"] < 300
    else:  # a denial says why, and changes nothing
        assert response["status"]["code"] >= 400
        assert response["status"]["message"]
        assert "patch" not in response
        assert "patchType" not in response
    assert all(isinstance(w, str) for w in response.get("warnings", []))
    return response


def patch_of(response: reviews.Response) -> list[dict[str, Any]]:
    if "patch" not in response:
        assert "patchType" not in response
        return []
    assert response["patchType"] == "JSONPatch"
    ops: list[dict[str, Any]] = orjson.loads(base64.b64decode(response["patch"], validate=True))
    assert ops, "an empty patch is sent as no patch"
    return ops


@PROPERTY
@given(review=admission_reviews())
def test_mutate_answers_every_review_with_a_patch_that_applies_once(
        review: dict[str, Any]) -> None:
    request = over_the_wire(review)
    response = answered(handlers.mutate(request, CHECKER), request["uid"])
    obj = review["request"].get("object")
    ops = patch_of(response) if response["allowed"] else []
    _seen["mutate: denied" if not response["allowed"] else
          "mutate: patched" if ops else "mutate: no patch"] += 1
    figures.record("admission mutate reviews (fixed seeds)",
                   {k: v for k, v in sorted(_seen.items()) if k.startswith("mutate")})
    if not response["allowed"]:
        # Only what the CRD's own checks refuse next, denied here with every error.
        defaulted = defaulting.overlay(obj, defaulting.edits(obj)[0])
        assert crdcheck.refuses(defaulted)
        found = validation.validate(defaulted, CHECKER).errors
        if request["operation"] == "UPDATE":
            found, _ = handlers.ratchet(found, defaulted, request.get("oldObject") or {})
        assert len(response["status"]["details"]["causes"]) == min(len(found), errors.MAX_LISTED)
        return
    if not ops:
        return
    patched = jsonpatch.apply_patch(obj, ops)
    assert pruned(patched) == defaulting.default(obj)[0]  # the API server prunes nulls first
    if not schemas.appimage().errors(obj):
        assert schemas.appimage().errors(patched) == []
    again = answered(handlers.mutate(over_the_wire(_with_object(review, patched)), CHECKER),
                     request["uid"])
    assert patch_of(again) == []


@PROPERTY
@given(review=admission_reviews())
def test_validate_answers_every_review_allowed_or_denied_never_both(
        review: dict[str, Any]) -> None:
    request = over_the_wire(review)
    response = answered(handlers.validate(request, CHECKER), request["uid"])
    assert "patch" not in response
    _seen["validate: allowed" if response["allowed"] else "validate: denied"] += 1
    figures.record("admission validate reviews (fixed seeds)",
                   {k: v for k, v in sorted(_seen.items()) if k.startswith("validate")})
    if response["allowed"]:
        return
    assert response["status"]["reason"] == "Invalid"
    causes = response["status"]["details"]["causes"]
    assert causes
    for cause in causes:
        assert cause["message"]
        assert cause["message"] in response["status"]["message"]


@PROPERTY
@given(obj=valid_appimages(), uid=UIDS, operation=st.sampled_from(["CREATE", "UPDATE"]))
def test_a_valid_appimage_is_admitted_once_patched_and_needs_no_second_patch(
        obj: dict[str, Any], uid: str, operation: str) -> None:
    review = {"apiVersion": reviews.API_VERSION, "kind": reviews.KIND, "request": {
        "uid": uid, "kind": APPIMAGE_KIND, "operation": operation, "object": obj,
        "oldObject": obj if operation == "UPDATE" else None}}
    mutated = answered(handlers.mutate(over_the_wire(review), CHECKER), uid)
    patched = jsonpatch.apply_patch(obj, patch_of(mutated))
    assert validation.validate(patched, CHECKER).errors == []
    admitted = answered(handlers.validate(over_the_wire(_with_object(review, patched)), CHECKER),
                        uid)
    assert admitted["allowed"] is True
    assert patch_of(answered(handlers.mutate(over_the_wire(_with_object(review, patched)), CHECKER),
                             uid)) == []


def pruned(value: Any) -> Any:
    """``value`` without its null fields, as the API server stores a custom resource."""
    if isinstance(value, dict):
        return {k: pruned(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [pruned(v) for v in value]
    return value


def _with_object(review: dict[str, Any], obj: Any) -> dict[str, Any]:
    changed = copy.deepcopy(review)
    changed["request"]["object"] = obj
    return changed
