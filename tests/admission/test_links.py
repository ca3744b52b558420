"""links: the validating webhook with the links from Kuscia's workloads, on reviews as the
API server sends them; the cluster is a table in memory (tests/e2e: a real API server)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import builders
from tests.support.kuscia import Table, appimage, deployment, job, task
from webhook.admission import links
from webhook.core import model, podspec, validation
from webhook.core.kuscia import workloads

APP = appimage(("server", "server", ("main",)), ("client", "client", ("main",)))
SERVER_ONLY = appimage(("server", "server", ("main",)))


def kind_of(obj: dict[str, Any]) -> dict[str, str]:
    return {"group": model.GROUP, "version": "v1alpha1", "kind": obj["kind"]}


async def answer(guard: workloads.Guard, obj: Any, *, operation: str = "CREATE", old: Any = None) -> Any:
    request = builders.review(obj, operation=operation, old=old, kind=kind_of(obj or old))["request"]
    review = await links.validate(request, podspec.checker(), validation.Policy(), guard)
    return review["response"]


def causes(response: Any) -> list[tuple[str, str]]:
    return [(c["field"], c["message"]) for c in response["status"]["details"]["causes"]]


async def test_deleting_an_appimage_a_job_runs_is_denied_naming_the_job():
    response = await answer(workloads.Guard(Table(users=[job("train", ("app", ("server",)))])),
                            None, operation="DELETE", old=APP)
    assert response["allowed"] is False
    assert response["status"]["code"] == 422
    assert response["status"]["message"].startswith(
        'AppImage.kuscia.secretflow "app" is invalid: '
        "AppImage 'app' is in use by KusciaJob cross-domain/train")


async def test_deleting_an_appimage_nothing_runs_is_allowed():
    response = await answer(workloads.Guard(Table(users=[job("train", ("other", ("server",)))])),
                            None, operation="DELETE", old=APP)
    assert response["allowed"] is True


async def test_an_update_the_rules_refuse_is_denied_by_them_without_a_lookup():
    broken = {**APP, "spec": {**APP["spec"], "image": {"name": "Secretflow/app", "tag": "1"}}}
    response = await answer(workloads.Guard(Table(broken=True)), broken, operation="UPDATE", old=APP)
    assert [field for field, _ in causes(response)] == ["spec.image.name"]


async def test_an_update_leaving_a_role_a_task_runs_unserved_is_denied_at_the_templates():
    guard = workloads.Guard(Table(users=[task("t", "app", "client")]))
    response = await answer(guard, SERVER_ONLY, operation="UPDATE", old=APP)
    assert causes(response) == [("spec.deployTemplates", 'after this update no deploy template of AppImage '
                                 '"app" serves role "client", as KusciaTask cross-domain/t needs')]


async def test_an_update_of_the_image_warns_which_deployments_roll():
    guard = workloads.Guard(Table(users=[deployment("serve", "app", "server", "main")]))
    new = {**APP, "spec": {**APP["spec"], "image": {"name": "secretflow/app", "tag": "2"}}}
    response = await answer(guard, new, operation="UPDATE", old=APP)
    assert response["allowed"] is True
    assert response["warnings"] == ["the new image rolls out to the Pods of KusciaDeployment "
                                    "cross-domain/serve at their next reconcile"]


async def test_a_job_naming_a_missing_appimage_is_denied_at_the_reference():
    response = await answer(workloads.Guard(Table({"app": APP})), job("train", ("gone", ("server",))))
    assert response["status"]["message"].startswith('KusciaJob.kuscia.secretflow "train" is invalid')
    assert causes(response) == [("spec.tasks[0].appImage", "AppImage 'gone' does not exist")]


async def test_under_warn_a_job_naming_a_missing_appimage_is_allowed_with_a_warning():
    response = await answer(workloads.Guard(Table({"app": APP}), "warn"), job("train", ("gone", ("server",))))
    assert response["allowed"] is True
    assert response["warnings"] == ["spec.tasks[0].appImage: AppImage 'gone' does not exist"]


@pytest.mark.parametrize("guard", [workloads.NO_GUARD, workloads.Guard(Table(), "off")], ids=["none", "off"])
async def test_without_an_active_guard_every_workload_is_allowed(guard):
    response = await answer(guard, job("train", ("gone", ("server",))))
    assert response == {"uid": builders.REVIEW_UID, "allowed": True}


async def test_deleting_a_workload_looks_nothing_up():
    response = await answer(workloads.Guard(Table(broken=True)), None, operation="DELETE",
                            old=job("train", ("gone", ("server",))))
    assert response["allowed"] is True


async def test_a_lookup_that_fails_denies_under_deny_saying_why():
    response = await answer(workloads.Guard(Table(broken=True)), deployment("serve", "app", "server", "main"))
    assert causes(response) == [("", "cannot check the AppImages it names: the API server did not answer")]
