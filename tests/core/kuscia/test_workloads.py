"""workloads: the links from Kuscia's jobs, tasks and deployments to AppImages, judged.

The rules are pure; ``Guard`` reaches the cluster through a ``Lookup``, which here is a
table in memory (tests/e2e runs the same rules on a real API server).
"""

from __future__ import annotations

import pytest

from tests.support.kuscia import Table, appimage, deployment, job, task
from webhook.core.kuscia import workloads

APP = appimage(("server", "server", ("main",)), ("client", "client", ("main", "sidecar")))


# --- reading workloads ------------------------------------------------------------------------


def test_a_job_uses_its_tasks_appimages_for_each_party():
    parsed = workloads.parse(job("j", ("app", ("server", "client")), ("other", ())))
    assert parsed is not None
    assert [(u.appimage, u.ref, u.role, u.where) for u in parsed.uses] == [
        ("app", "spec.tasks[0].appImage", "server", "spec.tasks[0].parties[0]"),
        ("app", "spec.tasks[0].appImage", "client", "spec.tasks[0].parties[1]"),
        ("other", "spec.tasks[1].appImage", None, "spec.tasks[1]"),
    ]


def test_a_deployments_party_names_its_containers_with_their_paths():
    parsed = workloads.parse(deployment("d", "app", "client", "main", "sidecar"))
    assert parsed is not None
    assert parsed.uses[0].containers == (
        ("main", "spec.parties[0].template.spec.containers[0].name"),
        ("sidecar", "spec.parties[0].template.spec.containers[1].name"))


def test_objects_of_other_kinds_are_no_workloads():
    assert workloads.parse(APP) is None


@pytest.mark.parametrize(("obj", "finished"), [
    (job("j", phase="Succeeded"), True), (job("j", phase="Cancelled"), True),
    (job("j", phase="ApprovalReject"), True), (job("j", phase="Failed"), False),
    (job("j", phase="Suspended"), False), (job("j", phase="Running"), False),
    (job("j", phase="initialized"), False), (job("j"), False),
    (task("t", "app", phase="Succeeded"), True), (task("t", "app", phase="Failed"), True),
    (task("t", "app", phase="Running"), False), (task("t", "app"), False),
    (deployment("d", "app", ""), False),
], ids=lambda v: v if isinstance(v, bool) else f"{v['kind']}-{v.get('status', {}).get('phase', 'none')}")
def test_a_workload_is_finished_only_in_a_phase_it_never_leaves(obj, finished):
    parsed = workloads.parse(obj)
    assert parsed is not None
    assert parsed.finished is finished


def test_an_update_judges_only_the_uses_it_adds_or_changes():
    old = workloads.parse(job("j", ("app", ("server",))))
    new = workloads.parse(job("j", ("app", ("server", "ghost"))))
    assert new is not None
    assert [u.role for u in workloads.changed(old, new)] == ["ghost"]
    assert workloads.changed(new, new) == []


# --- the rules --------------------------------------------------------------------------------


def test_users_are_named_up_to_ten_then_counted():
    users = [w for w in (workloads.parse(task(f"t{i}", "app", "")) for i in range(12)) if w]
    assert workloads.named(users[:2]) == "KusciaTask cross-domain/t0, KusciaTask cross-domain/t1"
    assert workloads.named(users).endswith("KusciaTask cross-domain/t9 and 2 more")


async def test_deleting_an_appimage_a_running_job_uses_is_refused_naming_it():
    guard = workloads.Guard(Table(users=[job("j", ("app", ("server",)))]))
    verdict = await guard.delete("app")
    in_use = "AppImage 'app' is in use by KusciaJob cross-domain/j"
    assert verdict.errors == [("", f"{in_use}; {workloads.ADVICE}")]


async def test_deleting_an_appimage_only_finished_workloads_used_is_allowed():
    guard = workloads.Guard(Table(users=[job("j", ("app", ("server",)), phase="Succeeded"),
                                         task("t", "app", "server", phase="Failed")]))
    assert await guard.delete("app") == workloads.Verdict()


async def test_under_warn_a_refusal_is_a_warning():
    guard = workloads.Guard(Table(users=[deployment("d", "app", "server")]), policy="warn")
    verdict = await guard.delete("app")
    assert verdict.errors == []
    in_use = "AppImage 'app' is in use by KusciaDeployment cross-domain/d"
    assert verdict.warnings == [f"{in_use}; {workloads.ADVICE}"]


async def test_off_and_no_lookup_judge_nothing():
    users = [deployment("d", "app", "server")]
    assert await workloads.Guard(Table(users=users), policy="off").delete("app") == workloads.Verdict()
    assert await workloads.Guard(None).delete("app") == workloads.Verdict()


@pytest.mark.parametrize(("policy", "refused"), [("deny", True), ("warn", False)])
async def test_a_lookup_that_fails_answers_per_the_policy(policy, refused):
    verdict = await workloads.Guard(Table(broken=True), policy=policy).delete("app")
    message = "cannot check which workloads use AppImage 'app': the API server did not answer"
    assert (verdict.errors, verdict.warnings) == (([("", message)], []) if refused else ([], [message]))


async def test_an_update_leaving_a_role_without_a_template_is_refused():
    guard = workloads.Guard(Table(users=[job("j", ("app", ("client",)))]))
    verdict = await guard.update("app", APP, appimage(("server", "server", ("main",))))
    assert verdict.errors == [("spec.deployTemplates", 'after this update no deploy template of AppImage '
                               '"app" serves role "client", as KusciaJob cross-domain/j needs')]


async def test_an_update_dropping_a_container_a_deployment_names_is_refused():
    guard = workloads.Guard(Table(users=[deployment("d", "app", "client", "sidecar")]))
    new = appimage(("server", "server", ("main",)), ("client", "client", ("main",)))
    verdict = await guard.update("app", APP, new)
    assert verdict.errors == [("spec.deployTemplates", 'after this update deploy template "client" of '
                               'AppImage "app" has no container "sidecar", as KusciaDeployment '
                               'cross-domain/d needs')]


async def test_an_update_a_roleless_template_still_serves_is_allowed():
    guard = workloads.Guard(Table(users=[job("j", ("app", ("client",)))]))
    new = appimage(("server", "server", ("main",)), ("any", "", ("main",)))
    assert (await guard.update("app", APP, new)).errors == []


async def test_a_new_image_warns_which_deployments_roll():
    users = [deployment("d", "app", "server", "main"), job("j", ("app", ("server",)))]
    guard = workloads.Guard(Table(users=users))
    new = appimage(("server", "server", ("main",)), ("client", "client", ("main", "sidecar")),
                   image="secretflow/app:2")
    verdict = await guard.update("app", APP, new)
    assert verdict.errors == []
    assert verdict.warnings == ["the new image rolls out to the Pods of KusciaDeployment cross-domain/d "
                                "at their next reconcile"]


async def test_a_workload_naming_a_missing_appimage_is_refused_at_its_reference():
    guard = workloads.Guard(Table({"app": APP}))
    verdict = await guard.workload(None, job("j", ("app", ("server",)), ("gone", ("server",))))
    assert verdict.errors == [("spec.tasks[1].appImage", "AppImage 'gone' does not exist")]


async def test_a_party_whose_role_no_template_serves_is_refused_at_its_role():
    guard = workloads.Guard(Table({"app": APP}))
    verdict = await guard.workload(None, task("t", "app", "server", "ghost"))
    assert verdict.errors == [
        ("spec.parties[1].role", 'no deploy template of AppImage "app" serves role "ghost"')]


async def test_a_deployment_naming_a_container_the_template_lacks_is_refused():
    guard = workloads.Guard(Table({"app": APP}))
    verdict = await guard.workload(None, deployment("d", "app", "server", "main", "sidecar"))
    assert verdict.errors == [("spec.parties[0].template.spec.containers[1].name",
                               'deploy template "server" of AppImage "app" has no container "sidecar"')]


async def test_an_update_that_keeps_the_references_looks_nothing_up():
    guard = workloads.Guard(Table(broken=True))
    old = job("j", ("gone", ("server",)))
    assert await guard.workload(old, {**old, "status": {"phase": "Running"}}) == workloads.Verdict()


async def test_what_a_lagging_cache_refuses_is_asked_again_of_the_source_before_refusing():
    table = Table({"app": APP})
    table.cached = {}  # the cache has not seen "app" yet
    verdict = await workloads.Guard(table).workload(None, job("j", ("app", ("server",))))
    assert verdict == workloads.Verdict()
    assert table.asked == [(("app",), False), (("app",), True)]


async def test_a_workload_the_cache_allows_is_allowed_without_asking_the_source():
    table = Table({"app": APP})
    verdict = await workloads.Guard(table).workload(None, job("j", ("app", ("server",))))
    assert verdict == workloads.Verdict()
    assert table.asked == [(("app",), False)]


def test_the_essentials_of_an_appimage_are_judged_as_the_whole_of_it():
    whole = appimage(("server", "server", ("main",)), ("any", "", ("main", "sidecar")))
    whole["spec"]["deployTemplates"][0]["spec"]["containers"][0]["image"] = "x:1"
    kept = workloads.essentials(whole)
    for use in workloads.parse(deployment("d", "app", "client", "main", "sidecar", "extra")).uses:
        assert workloads.placement(use, kept) == workloads.placement(use, whole)
    assert kept == {"spec": {"deployTemplates": [
        {"name": "server", "role": "server", "spec": {"containers": [{"name": "main"}]}},
        {"name": "any", "role": "", "spec": {"containers": [{"name": "main"}, {"name": "sidecar"}]}}]}}
