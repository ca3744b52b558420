"""api: the operations every front end runs (REST, protobuf over HTTP, gRPC), on a real
SQLite store, with the links from Kuscia's workloads looked up in a table in memory."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import builders
from tests.support.kuscia import Table, appimage, deployment, job
from webhook.core import api, errors, operations, podspec, validation
from webhook.core.kuscia import workloads

APP = appimage(("server", "server", ("main",)), ("client", "client", ("main",)))
REQUEST = {"name": "app", "image": {"name": "secretflow/app", "tag": "1"},
           "deploy_templates": [{"name": "server", "role": "server", "replicas": 1,
                                 "containers": [{"name": "main", "working_dir": "/work"}]}]}
"""An update leaving AppImage ``app`` without a template for role ``client``."""


def appimages(store, *users: dict[str, Any], policy: workloads.Policy = "deny") -> api.AppImages:
    return api.AppImages(store, podspec.checker(), guard=workloads.Guard(Table(users=users), policy))


async def stored(store, obj: dict[str, Any] = APP) -> dict[str, Any]:
    await store.create(obj)
    return (await store.get(obj["metadata"]["name"])).obj


@pytest.mark.parametrize("name", ["a/b", "..", "UPPER", "", "x" * 254],
                         ids=["slash", "dot-dot", "upper", "empty", "254-chars"])
@pytest.mark.parametrize(("operation", "code"), [(operations.QUERY, errors.Code.NOT_EXISTS),
                                                 (operations.DELETE, errors.Code.DELETE_FAILED)],
                         ids=["query", "delete"])
async def test_a_name_no_object_can_have_is_not_found(store, operation, code, name):
    with pytest.raises(errors.ServiceError, match="does not exist") as caught:
        await api.AppImages(store, podspec.checker()).operations[operation]({"name": name})
    assert caught.value.code == code


async def test_batch_query_names_only_the_missing(store):
    await stored(store)
    with pytest.raises(errors.ServiceError, match=r"^appimage 'a/b', 'ghost' does not exist$"):
        await api.AppImages(store, podspec.checker()).batch_query({"names": ["app", "a/b", "ghost"]})


async def test_an_update_is_judged_before_the_stored_object_is_looked_up(store):
    body = {**REQUEST, "name": "ghost", "image": {"name": "secretflow/app", "tag": ".bad"}}
    with pytest.raises(errors.Invalid) as caught:
        await api.AppImages(store, podspec.checker()).update(body)
    assert [e.path for e in caught.value.errors] == ["image.tag"]


async def test_a_valid_update_of_a_missing_appimage_is_not_found(store):
    with pytest.raises(errors.ServiceError, match="does not exist") as caught:
        await api.AppImages(store, podspec.checker()).update({**REQUEST, "name": "ghost"})
    assert caught.value.code == errors.Code.NOT_EXISTS


async def test_deleting_an_appimage_in_use_is_13103_naming_the_user_and_keeps_it(store):
    before = await stored(store)
    with pytest.raises(errors.ServiceError) as caught:
        await appimages(store, job("train", ("app", ("server",)))).delete({"name": "app"})
    assert caught.value.code == errors.Code.DELETE_FAILED
    assert "in use by KusciaJob cross-domain/train" in caught.value.message
    assert (await store.get("app")).obj == before


async def test_an_update_leaving_a_users_role_unserved_is_13102_and_changes_nothing(store):
    before = await stored(store)
    with pytest.raises(errors.ServiceError) as caught:
        await appimages(store, job("train", ("app", ("client",)))).update(REQUEST)
    assert caught.value.code == errors.Code.UPDATE_FAILED
    assert 'serves role "client", as KusciaJob cross-domain/train needs' in caught.value.message
    assert (await store.get("app")).obj == before


async def test_under_warn_the_delete_happens_and_says_who_used_it(store):
    await stored(store)
    users = job("train", ("app", ("server",)))
    outcome = await appimages(store, users, policy="warn").delete({"name": "app"})
    assert [w for w in outcome.warnings if "in use by KusciaJob cross-domain/train" in w]
    with pytest.raises(errors.NotFound):
        await store.get("app")


async def test_a_new_image_is_stored_with_a_warning_naming_the_deployments_that_roll(store):
    await stored(store)
    body = {**REQUEST, "image": {"name": "secretflow/app", "tag": "2"},
            "deploy_templates": [{**REQUEST["deploy_templates"][0], "role": "server,client"}]}
    outcome = await appimages(store, deployment("serve", "app", "server", "main")).update(body)
    assert ("the new image rolls out to the Pods of KusciaDeployment cross-domain/serve at their next "
            "reconcile") in outcome.warnings
    assert (await store.get("app")).obj["spec"]["image"] == {"name": "secretflow/app", "tag": "2"}


async def test_the_image_policy_holds_for_create(store):
    policy = validation.Policy(allowed_registries=("registry.example",))
    body = builders.doc("create")
    with pytest.raises(errors.Invalid) as caught:
        await api.AppImages(store, podspec.checker(), policy=policy).create(body)
    assert [e.path for e in caught.value.errors] == ["image.name"]
