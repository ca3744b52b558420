"""Admission webhook (SPEC §5): reviews in, reviews out, over HTTP."""

from __future__ import annotations

import base64
import copy
import json

import jsonpatch
import pytest

from tests.support import builders
from tests.support.reviews import post
from webhook.admission import patches


def undefaulted(appimage):
    obj = copy.deepcopy(appimage)
    for template in obj["spec"]["deployTemplates"]:
        del template["replicas"]
        for container in template["spec"]["containers"]:
            for port in container.get("ports", []):
                port.pop("protocol", None)
                port.pop("scope", None)
    return obj


async def test_mutate_echoes_the_uid(webhook_client, appimage):
    answer = await post(webhook_client, "/mutate", builders.review(appimage, uid="abc-123"))
    assert answer["uid"] == "abc-123"


async def test_mutate_returns_no_patch_when_nothing_changes(webhook_client, appimage):
    answer = await post(webhook_client, "/mutate", builders.review(appimage))
    assert answer["allowed"] is True
    assert "patch" not in answer
    assert "patchType" not in answer


async def test_mutate_patches_only_the_missing_defaults(webhook_client, appimage):
    obj = undefaulted(appimage)
    answer = await post(webhook_client, "/mutate", builders.review(obj))
    assert answer["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(answer["patch"]))
    assert sorted(op["path"] for op in ops) == [
        "/spec/deployTemplates/0/replicas",
        "/spec/deployTemplates/0/spec/containers/0/ports/0/protocol",
        "/spec/deployTemplates/0/spec/containers/0/ports/0/scope",
    ]
    patched = jsonpatch.apply_patch(obj, ops)
    assert patched["spec"]["deployTemplates"][0]["replicas"] == 1
    assert patched["spec"]["deployTemplates"][0]["spec"]["containers"][0]["ports"] == [
        {"name": "global", "protocol": "HTTP", "scope": "Local"}]


async def test_mutate_splits_env_from_and_warns(webhook_client, appimage, container):
    container["envFrom"] = [{"prefix": "p", "configMapRef": {"name": "a"}, "secretRef": {"name": "b"}}]
    answer = await post(webhook_client, "/mutate", builders.review(appimage))
    patched = jsonpatch.apply_patch(appimage, json.loads(base64.b64decode(answer["patch"])))
    assert patched["spec"]["deployTemplates"][0]["spec"]["containers"][0]["envFrom"] == [
        {"prefix": "p", "configMapRef": {"name": "a"}}, {"prefix": "p", "secretRef": {"name": "b"}}]
    assert any("envFrom[0]" in w for w in answer["warnings"])


async def test_mutated_object_needs_no_second_patch(webhook_client, appimage):
    obj = undefaulted(appimage)
    first = await post(webhook_client, "/mutate", builders.review(obj))
    patched = jsonpatch.apply_patch(obj, json.loads(base64.b64decode(first["patch"])))
    second = await post(webhook_client, "/mutate", builders.review(patched))
    assert "patch" not in second


async def test_validate_allows_a_valid_appimage(webhook_client, clean_appimage):
    answer = await post(webhook_client, "/validate", builders.review(clean_appimage))
    assert answer == {"uid": "0df28fbd-5f5f-11e8-bc74-36e6bb280816", "allowed": True}


async def test_validate_denies_with_422_invalid_and_every_field(webhook_client, appimage, container):
    container["ports"][0]["protocol"] = "TCP"
    container["livenessProbe"]["exec"] = {"command": ["x"]}
    container["resources"]["requests"]["cpu"] = "1"
    answer = await post(webhook_client, "/validate", builders.review(appimage))
    assert answer["allowed"] is False
    status = answer["status"]
    assert status["code"] == 422
    assert status["reason"] == "Invalid"
    c0 = "spec.deployTemplates[0].spec.containers[0]"
    fields = [f"{c0}.ports[0].protocol", f"{c0}.livenessProbe", f"{c0}.resources.requests.cpu"]
    for field in fields:
        assert field in status["message"]
    assert sorted(c["field"] for c in status["details"]["causes"]) == sorted(fields)
    assert status["message"].startswith('AppImage.kuscia.secretflow "appimage-template" is invalid: ')


async def test_validate_returns_warnings(webhook_client, clean_appimage, container):
    container["configVolumeMounts"][0]["subPath"] = "nope.conf"
    answer = await post(webhook_client, "/validate", builders.review(clean_appimage))
    assert answer["allowed"] is True
    assert answer["warnings"] == [
        "spec.deployTemplates[0].spec.containers[0].configVolumeMounts[0].subPath: "
        "names no configTemplates key ('nope.conf')"]


async def test_validate_checks_the_new_object_on_update(webhook_client, appimage):
    new = copy.deepcopy(appimage)
    new["spec"]["deployTemplates"][0]["spec"]["restartPolicy"] = "Sometimes"
    answer = await post(webhook_client, "/validate", builders.review(new, operation="UPDATE", old=appimage))
    assert answer["allowed"] is False


@pytest.mark.parametrize("path", ["/mutate", "/validate"])
async def test_delete_is_allowed_untouched(webhook_client, appimage, path):
    answer = await post(webhook_client, path, builders.review(None, operation="DELETE", old=appimage))
    assert answer == {"uid": "0df28fbd-5f5f-11e8-bc74-36e6bb280816", "allowed": True}


@pytest.mark.parametrize("path", ["/mutate", "/validate"])
async def test_connect_is_allowed_untouched(webhook_client, path):
    answer = await post(webhook_client, path, builders.review(None, operation="CONNECT"))
    assert answer["allowed"] is True


@pytest.mark.parametrize("path", ["/mutate", "/validate"])
async def test_other_kinds_are_allowed_untouched(webhook_client, path):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}
    answer = await post(webhook_client, path,
                        builders.review(pod, kind={"group": "", "version": "v1", "kind": "Pod"}))
    assert answer == {"uid": "0df28fbd-5f5f-11e8-bc74-36e6bb280816", "allowed": True}


async def test_dry_run_is_answered_like_any_request(webhook_client, appimage):
    obj = undefaulted(appimage)
    answer = await post(webhook_client, "/mutate", builders.review(obj, dry_run=True))
    assert answer["patchType"] == "JSONPatch"


async def test_mutate_denies_an_ill_typed_object_the_crd_will_refuse_naming_the_field(
        webhook_client, appimage):
    appimage["spec"]["deployTemplates"] = "oops"
    answer = await post(webhook_client, "/mutate", builders.review(appimage))
    assert answer["allowed"] is False
    assert "spec.deployTemplates: must be a list, not a string" in answer["status"]["message"]


C0 = "spec.deployTemplates[0].spec.containers[0]"


async def test_mutate_denies_what_the_crd_refuses_with_every_error_rules_included(
        webhook_client, appimage, container):
    container["ports"][0]["protocol"] = "TCP"  # the CRD's enum refuses it
    container["env"][0]["name"] = "A=B"  # only our rules see it
    container["livenessProbe"]["httpGet"]["port"] = "nope!"
    answer = await post(webhook_client, "/mutate", builders.review(appimage))
    assert answer["allowed"] is False
    fields = sorted(c["field"] for c in answer["status"]["details"]["causes"])
    assert fields == [f"{C0}.env[0].name", f"{C0}.livenessProbe.httpGet.port",
                      f"{C0}.ports[0].protocol"]


@pytest.mark.parametrize("breaks", [
    pytest.param(lambda c: c["livenessProbe"].update(exec={"command": ["true"]}), id="cel-rule"),
    pytest.param(lambda c: c["ports"].append(dict(c["ports"][0])), id="list-map-key"),
    pytest.param(lambda c: c["resources"]["limits"].update(cpu="1.2.3"), id="quantity-pattern"),
])
async def test_mutate_denies_what_each_kind_of_crd_check_refuses(webhook_client, appimage, container,
                                                                 breaks):
    breaks(container)
    answer = await post(webhook_client, "/mutate", builders.review(appimage))
    assert answer["allowed"] is False


async def test_mutate_leaves_to_validate_what_only_our_rules_refuse(webhook_client, appimage, container):
    container["env"][0]["name"] = "A=B"
    mutated = await post(webhook_client, "/mutate", builders.review(appimage))
    validated = await post(webhook_client, "/validate", builders.review(appimage))
    assert mutated["allowed"] is True
    assert validated["allowed"] is False


async def test_validate_denies_an_ill_typed_object_naming_the_field(webhook_client, appimage):
    appimage["spec"]["deployTemplates"] = "oops"
    answer = await post(webhook_client, "/validate", builders.review(appimage))
    assert "spec.deployTemplates: must be a list, not a string" in answer["status"]["message"]


@pytest.mark.parametrize(("body", "reason"), [
    (b"{", "malformed JSON"),
    (b"[]", "body: required"),
    (b'{"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {}}',
     "apiVersion/kind"),
    (b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}', "request: required"),
    (b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"kind": {}}}',
     "request.uid: required"),
], ids=["malformed", "not-an-object", "v1beta1", "no-request", "no-uid"])
async def test_an_unreadable_review_is_a_400_naming_the_problem(webhook_client, body, reason):
    response = await webhook_client.post("/validate", data=body,
                                         headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert reason in await response.text()


async def test_a_create_review_without_object_is_a_400(webhook_client):
    body = builders.review(None)
    del body["request"]["object"]
    response = await webhook_client.post("/mutate", json=body)
    assert response.status == 400
    assert "request.object" in await response.text()


async def test_an_unknown_operation_is_a_400(webhook_client, appimage):
    response = await webhook_client.post("/validate", json=builders.review(appimage, operation="PATCH"))
    assert response.status == 400
    assert "request.operation" in await response.text()


async def test_a_wrong_content_type_is_a_400(webhook_client, appimage):
    response = await webhook_client.post("/validate", data=json.dumps(builders.review(appimage)),
                                         headers={"Content-Type": "text/plain"})
    assert response.status == 400
    assert "Content-Type" in await response.text()


async def test_a_body_over_the_limit_is_a_413(webhook_client, body_limit, appimage):
    appimage["spec"]["configTemplates"]["big"] = builders.oversized(body_limit)
    response = await webhook_client.post("/validate", json=builders.review(appimage))
    assert response.status == 413


async def test_a_handler_bug_is_a_well_formed_denial_not_a_500(routes_client, appimage, monkeypatch):
    from webhook.admission import handlers, webhooks
    from webhook.core import podspec
    from webhook.ops import metrics

    def broken(request):
        raise RuntimeError("bug")

    # Patched where the HTTP glue looks the handler up (the handlers may be compiled).
    monkeypatch.setattr(handlers, "mutate", broken)
    client = await routes_client(webhooks.routes(
        checker=podspec.checker(), figures=metrics.Metrics(), body_limit=1 << 16, timeout=5.0))
    answer = await post(client, "/mutate", builders.review(appimage))
    assert answer["allowed"] is False
    assert answer["status"]["code"] == 500


async def test_rest_converted_document_example_is_admitted(webhook_client):
    obj = builders.doc_appimage(defaulted=False)
    mutated = await post(webhook_client, "/mutate", builders.review(obj))
    patched = jsonpatch.apply_patch(obj, json.loads(base64.b64decode(mutated["patch"])))
    assert (await post(webhook_client, "/validate", builders.review(patched)))["allowed"] is True


async def test_reviews_are_counted_with_controller_runtime_metric_names(routes_client, appimage):
    from webhook.admission import webhooks
    from webhook.core import podspec
    from webhook.ops import metrics

    m = metrics.Metrics()
    client = await routes_client(webhooks.routes(
        checker=podspec.checker(), figures=m, body_limit=1 << 16, timeout=5.0))
    await post(client, "/validate", builders.review(appimage))
    await client.post("/validate", data=b"{", headers={"Content-Type": "application/json"})
    exposition = m.exposition().decode()
    assert 'controller_runtime_webhook_requests_total{code="200",webhook="/validate"} 1.0' in exposition
    assert 'controller_runtime_webhook_requests_total{code="400",webhook="/validate"} 1.0' in exposition
    assert 'controller_runtime_webhook_latency_seconds_bucket{le="0.001",webhook="/validate"}' in exposition
    assert 'controller_runtime_webhook_requests_in_flight{webhook="/validate"} 0.0' in exposition


async def test_update_is_held_only_to_rules_on_what_it_changes(webhook_client, appimage, container):
    container["env"][0]["name"] = "A=B"  # stored while the webhook was down
    old = copy.deepcopy(appimage)
    appimage["metadata"]["finalizers"] = []
    answer = await post(webhook_client, "/validate", builders.review(appimage, operation="UPDATE", old=old))
    assert answer["allowed"] is True
    assert any("env[0].name" in w and "unchanged by this update" in w for w in answer["warnings"])


async def test_update_that_touches_a_bad_field_is_denied(webhook_client, appimage, container):
    old = copy.deepcopy(appimage)
    container["env"][0]["name"] = "A=B"
    answer = await post(webhook_client, "/validate", builders.review(appimage, operation="UPDATE", old=old))
    assert answer["allowed"] is False
    assert "env[0].name" in answer["status"]["message"]


def test_patch_replaces_a_key_set_to_null_and_adds_a_missing_one():
    obj = {"ports": [{"name": "a", "protocol": None}]}
    ops = patches.operations(obj, [(("ports", 0, "protocol"), "HTTP"), (("ports", 0, "scope"), "Local")])
    assert ops == [{"op": "replace", "path": "/ports/0/protocol", "value": "HTTP"},
                   {"op": "add", "path": "/ports/0/scope", "value": "Local"}]


def test_patch_pointers_escape_tilde_and_slash():
    assert patches.pointer(("metadata", "annotations", "a/b~c")) == "/metadata/annotations/a~1b~0c"
