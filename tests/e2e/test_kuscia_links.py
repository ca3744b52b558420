"""The links from Kuscia's workloads to AppImages, guarded on a real API server.

Our own minimal CRDs of KusciaJob, KusciaTask and KusciaDeployment (tests/support/kuscia.py)
are installed for the module; the server the API server calls runs on ``--store
kubernetes`` with the default ``--kuscia-references deny``, and the webhooks are
registered as the chart registers them (AppImage DELETE, the three kinds' CREATE and
UPDATE). Each test starts from no AppImage and no workload.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import builders, kuscia
from tests.support.apiserver import (
    APPIMAGES,
    Answer,
    Webhooks,
    delete_all,
    delete_workloads,
    ensure,
    install_kuscia_kinds,
    kube,
    kube_server,
    remove_kuscia_kinds,
    rest,
    stored,
    webhook_calls,
)
from tests.support.k8s.controlplane import ControlPlane
from tests.support.serverproc import ServerProcess
from webhook.core.kuscia import workloads

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HELPER = pathlib.Path(__file__).parents[1] / "support" / "kuscia_regist.py"
HELPER_TIMEOUT = 120.0
LIMITED = "links-reader"
"""A ServiceAccount that may manage AppImages but not read Kuscia's workloads."""


def create(plane: ControlPlane, obj: dict[str, Any]) -> Answer:
    if obj["kind"] == "AppImage":
        return kube(plane, "POST", APPIMAGES, obj)
    return kube(plane, "POST", kuscia.path(obj["kind"]), obj)


def created(plane: ControlPlane, *objects: dict[str, Any]) -> None:
    for obj in objects:
        answer = create(plane, obj)
        assert answer.status == 201, answer


def replace(plane: ControlPlane, obj: dict[str, Any]) -> Answer:
    """PUT ``obj`` over the stored AppImage of its name (its resourceVersion taken)."""
    current = stored(plane, obj["metadata"]["name"])
    assert current is not None
    obj = json.loads(json.dumps(obj))
    obj["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    return kube(plane, "PUT", f"{APPIMAGES}/{obj['metadata']['name']}", obj)


def delete(plane: ControlPlane, name: str) -> Answer:
    return kube(plane, "DELETE", f"{APPIMAGES}/{name}")


def set_phase(plane: ControlPlane, kind: str, name: str, phase: str) -> None:
    """Write ``status.phase`` through the status subresource, as Kuscia's controllers do."""
    answer = kube(plane, "GET", kuscia.path(kind, name))
    assert answer.status == 200, answer
    obj = answer.body | {"status": {"phase": phase}}
    answer = kube(plane, "PUT", kuscia.path(kind, name) + "/status", obj)
    assert answer.status == 200, answer


@pytest.fixture(scope="module")
def kuscia_crds(control_plane: ControlPlane) -> Iterator[None]:
    install_kuscia_kinds(control_plane.request)
    yield
    remove_kuscia_kinds(control_plane.request)


@pytest.fixture(scope="module")
def webhook_server(kuscia_crds: None, kubeconfig: pathlib.Path,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Overrides conftest's: on the Kubernetes backend, guarding the links (deny)."""
    server = kube_server(tmp_path_factory.mktemp("links-server"), kubeconfig)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def webhooks(control_plane: ControlPlane, webhook_server: ServerProcess) -> Iterator[Webhooks]:
    """Overrides conftest's: the links' webhooks too, as the chart registers them."""
    hooks = Webhooks(control_plane)
    hooks.register(webhook_server, links=True)
    yield hooks
    delete_workloads(control_plane.request)
    delete_all(control_plane)
    hooks.unregister()


@pytest.fixture(autouse=True)
def _clean(control_plane: ControlPlane, webhooks: Webhooks) -> Iterator[None]:
    """No workload and no AppImage around a test (workloads first: they hold AppImages)."""
    delete_workloads(control_plane.request)
    delete_all(control_plane)
    yield
    delete_workloads(control_plane.request)
    delete_all(control_plane)


@pytest.fixture
def warn_server(kubeconfig: pathlib.Path, tmp_path: pathlib.Path, webhooks: Webhooks,
                webhook_server: ServerProcess) -> Iterator[ServerProcess]:
    """A second server under ``--kuscia-references warn``, called by the API server for
    the test; the module's server is called again afterwards."""
    server = kube_server(tmp_path, kubeconfig, name="warn", extra_args=("--kuscia-references", "warn"))
    try:
        webhooks.register(server, links=True)
        yield server
    finally:
        try:
            webhooks.register(webhook_server, links=True)
        finally:
            server.stop()


SERVED = kuscia.appimage(("host", "host", ("main",)), ("guest", "guest", ("main",)), name="app")


# --- AppImage DELETE ---------------------------------------------------------------------


def test_deleting_an_appimage_a_running_job_uses_is_refused_naming_the_job(
        control_plane: ControlPlane) -> None:
    created(control_plane, SERVED, kuscia.job("train", ("app", ("host",))))
    uid = stored(control_plane, "app")["metadata"]["uid"]  # type: ignore[index]

    answer = delete(control_plane, "app")

    assert answer.status == 422, answer
    assert "KusciaJob cross-domain/train" in answer.message
    assert workloads.ADVICE in answer.message
    assert stored(control_plane, "app")["metadata"]["uid"] == uid  # type: ignore[index]


def test_an_appimage_is_deleted_once_the_job_using_it_has_succeeded(control_plane: ControlPlane) -> None:
    created(control_plane, SERVED, kuscia.job("train", ("app", ("host",))))
    set_phase(control_plane, "KusciaJob", "train", "Succeeded")

    assert delete(control_plane, "app").status == 200
    assert stored(control_plane, "app") is None


def test_a_failed_job_still_holds_its_appimage(control_plane: ControlPlane) -> None:
    created(control_plane, SERVED, kuscia.job("train", ("app", ("host",))))
    set_phase(control_plane, "KusciaJob", "train", "Failed")

    answer = delete(control_plane, "app")

    assert answer.status == 422, answer
    assert "KusciaJob cross-domain/train" in answer.message


def test_deleting_an_appimage_names_every_kind_that_uses_it(control_plane: ControlPlane) -> None:
    created(control_plane, SERVED, kuscia.task("task-a", "app", "guest"),
            kuscia.deployment("serving", "app", "host", "main"))

    answer = delete(control_plane, "app")

    assert answer.status == 422, answer
    assert "KusciaTask cross-domain/task-a" in answer.message
    assert "KusciaDeployment cross-domain/serving" in answer.message


def test_an_unused_appimage_is_deleted(control_plane: ControlPlane) -> None:
    created(control_plane, SERVED, kuscia.appimage(("t", "", ("main",)), name="other"),
            kuscia.job("train", ("other", ("host",))))

    assert delete(control_plane, "app").status == 200


# --- Kuscia's workloads ------------------------------------------------------------------


def test_a_job_naming_a_missing_appimage_is_refused_at_its_task(control_plane: ControlPlane) -> None:
    created(control_plane, SERVED)

    answer = create(control_plane, kuscia.job("train", ("app", ("host",)), ("ghost", ("host",))))

    assert answer.status == 422, answer
    assert "spec.tasks[1].appImage: AppImage 'ghost' does not exist" in answer.message
    assert "spec.tasks[0]" not in answer.message
    assert kube(control_plane, "GET", kuscia.path("KusciaJob", "train")).status == 404


def test_a_task_whose_role_no_template_serves_is_refused_at_the_role(control_plane: ControlPlane) -> None:
    created(control_plane, kuscia.appimage(("host", "host", ("main",)), name="app"))

    answer = create(control_plane, kuscia.task("task-a", "app", "host", "guest"))

    assert answer.status == 422, answer
    assert 'spec.parties[1].role: no deploy template of AppImage "app" serves role "guest"' in answer.message


def test_a_roleless_template_serves_the_roles_no_other_template_lists(control_plane: ControlPlane) -> None:
    created(control_plane, kuscia.appimage(("host", "host", ("main",)), ("any", "", ("main",)), name="app"))

    assert create(control_plane, kuscia.task("task-a", "app", "host", "guest")).status == 201


def test_a_deployment_naming_a_container_its_template_lacks_is_refused(control_plane: ControlPlane) -> None:
    created(control_plane, SERVED)

    answer = create(control_plane, kuscia.deployment("serving", "app", "host", "main", "sidecar"))

    assert answer.status == 422, answer
    assert ('spec.parties[0].template.spec.containers[1].name: deploy template "host" of AppImage "app" '
            'has no container "sidecar"') in answer.message


def test_a_workload_update_that_leaves_its_links_never_reaches_us(
        control_plane: ControlPlane, webhook_server: ServerProcess) -> None:
    created(control_plane, SERVED, kuscia.job("train", ("app", ("host",))))
    job = kube(control_plane, "GET", kuscia.path("KusciaJob", "train")).body
    job["metadata"]["labels"] = {"kuscia.secretflow/job-stage": "Start"}
    job["spec"]["tasks"][0]["taskInputConfig"] = '{"changed": true}'
    before = webhook_calls(webhook_server)

    answer = kube(control_plane, "PUT", kuscia.path("KusciaJob", "train"), job)

    assert answer.status == 200, answer
    assert webhook_calls(webhook_server) == before


def test_a_workload_update_that_changes_a_role_reaches_us_and_is_judged(control_plane: ControlPlane) -> None:
    created(control_plane, SERVED, kuscia.job("train", ("app", ("host",))))
    job = kube(control_plane, "GET", kuscia.path("KusciaJob", "train")).body
    job["spec"]["tasks"][0]["parties"][0]["role"] = "ghost"

    answer = kube(control_plane, "PUT", kuscia.path("KusciaJob", "train"), job)

    assert answer.status == 422, answer
    assert 'spec.tasks[0].parties[0].role: no deploy template of AppImage "app" serves role "ghost"' in \
        answer.message


def test_a_deployment_update_naming_another_container_reaches_us_and_is_judged(
        control_plane: ControlPlane) -> None:
    created(control_plane, SERVED, kuscia.deployment("serving", "app", "host", "main"))
    deployment = kube(control_plane, "GET", kuscia.path("KusciaDeployment", "serving")).body
    deployment["spec"]["parties"][0]["template"]["spec"]["containers"][0]["name"] = "sidecar"

    answer = kube(control_plane, "PUT", kuscia.path("KusciaDeployment", "serving"), deployment)

    assert answer.status == 422, answer
    assert 'has no container "sidecar"' in answer.message


# --- AppImage UPDATE ---------------------------------------------------------------------


def test_an_update_leaving_a_jobs_role_unserved_is_refused_and_the_appimage_kept(
        control_plane: ControlPlane) -> None:
    created(control_plane, SERVED, kuscia.job("train", ("app", ("guest",))))
    before = stored(control_plane, "app")

    answer = replace(control_plane, kuscia.appimage(("host", "host", ("main",)), name="app"))

    assert answer.status == 422, answer
    assert 'serves role "guest"' in answer.message
    assert "KusciaJob cross-domain/train" in answer.message
    assert stored(control_plane, "app") == before


def test_an_image_change_warns_naming_the_deployments_that_roll(control_plane: ControlPlane) -> None:
    created(control_plane, SERVED, kuscia.deployment("serving", "app", "host", "main"))
    retagged = kuscia.appimage(("host", "host", ("main",)), ("guest", "guest", ("main",)), name="app",
                               image="secretflow/app:2")

    answer = replace(control_plane, retagged)

    assert answer.status == 200, answer
    assert any("KusciaDeployment cross-domain/serving" in w and "rolls out" in w for w in answer.warnings), \
        answer.warnings


# --- REST on the Kubernetes store: the same guard, Kuscia's codes ------------------------


def test_rest_delete_of_an_appimage_in_use_answers_13103(control_plane: ControlPlane,
                                                         webhook_server: ServerProcess) -> None:
    created(control_plane, SERVED, kuscia.job("train", ("app", ("host",))))

    answer = rest(webhook_server, "delete", {"name": "app"})

    assert answer["status"]["code"] == 13103, answer
    assert "KusciaJob cross-domain/train" in answer["status"]["message"]
    assert stored(control_plane, "app") is not None


def test_rest_update_leaving_a_role_unserved_answers_13102(control_plane: ControlPlane,
                                                           webhook_server: ServerProcess) -> None:
    assert rest(webhook_server, "create", builders.doc("create"))["status"]["code"] == 0
    created(control_plane, kuscia.job("train", ("appimage-template", ("server",))))
    update = builders.doc("update")
    update["deploy_templates"][0]["role"] = "client"
    before = stored(control_plane, "appimage-template")

    answer = rest(webhook_server, "update", update)

    assert answer["status"]["code"] == 13102, answer
    assert 'serves role "server"' in answer["status"]["message"]
    assert "KusciaJob cross-domain/train" in answer["status"]["message"]
    assert stored(control_plane, "appimage-template") == before


# --- the policy --------------------------------------------------------------------------


def test_under_warn_an_appimage_in_use_is_deleted_with_a_warning_naming_its_users(
        control_plane: ControlPlane, warn_server: ServerProcess) -> None:
    created(control_plane, SERVED, kuscia.job("train", ("app", ("host",))))

    answer = delete(control_plane, "app")

    assert answer.status == 200, answer
    assert any("KusciaJob cross-domain/train" in w for w in answer.warnings), answer.warnings
    assert stored(control_plane, "app") is None


def test_under_warn_a_job_naming_a_missing_appimage_is_created_with_a_warning(
        control_plane: ControlPlane, warn_server: ServerProcess) -> None:
    answer = create(control_plane, kuscia.job("train", ("ghost", ("host",))))

    assert answer.status == 201, answer
    assert any("spec.tasks[0].appImage" in w and "ghost" in w for w in answer.warnings), answer.warnings


def test_a_workload_update_is_judged_only_when_it_changes_its_links(
        control_plane: ControlPlane, warn_server: ServerProcess) -> None:
    assert create(control_plane, kuscia.job("train", ("ghost", ("host",)))).warnings
    job = kube(control_plane, "GET", kuscia.path("KusciaJob", "train")).body

    job["metadata"]["labels"] = {"team": "a"}
    relabelled = kube(control_plane, "PUT", kuscia.path("KusciaJob", "train"), job)
    job = relabelled.body
    job["spec"]["tasks"][0]["appImage"] = "phantom"
    relinked = kube(control_plane, "PUT", kuscia.path("KusciaJob", "train"), job)

    assert relabelled.status == 200, relabelled
    assert relabelled.warnings == []
    assert relinked.status == 200, relinked
    assert any("phantom" in w for w in relinked.warnings), relinked.warnings


# --- lookups that fail -------------------------------------------------------------------


def limited_kubeconfig(plane: ControlPlane, path: pathlib.Path) -> pathlib.Path:
    """A kubeconfig of a ServiceAccount that may manage AppImages and not list Kuscia's
    workloads: every lookup of an AppImage's users is refused (403)."""
    namespace = "default"
    ensure(plane.request, f"/api/v1/namespaces/{namespace}/serviceaccounts",
           {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": LIMITED}})
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    ensure(plane.request, f"{rbac}/clusterroles", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": LIMITED},
        "rules": [{"apiGroups": ["kuscia.secretflow"], "resources": ["appimages"],
                   "verbs": ["get", "list", "create", "update", "delete"]}]})
    ensure(plane.request, f"{rbac}/clusterrolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": LIMITED},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": LIMITED},
        "subjects": [{"kind": "ServiceAccount", "name": LIMITED, "namespace": namespace}]})
    answer = kube(plane, "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{LIMITED}/token",
                  {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                   "spec": {"expirationSeconds": 3600}})
    assert answer.status == 201, answer
    config = plane.kubeconfig()
    config["users"][0]["user"] = {"token": answer.body["status"]["token"]}
    path.write_text(json.dumps(config))
    return path


@pytest.mark.parametrize(("policy", "status"), [("deny", 422), ("warn", 200)])
def test_a_lookup_the_api_server_refuses_is_answered_per_the_policy(
        control_plane: ControlPlane, webhooks: Webhooks, webhook_server: ServerProcess,
        tmp_path: pathlib.Path, policy: str, status: int) -> None:
    created(control_plane, SERVED)
    kubeconfig = limited_kubeconfig(control_plane, tmp_path / "kubeconfig")
    server = kube_server(tmp_path / "server", kubeconfig, name=policy,
                         extra_args=("--kuscia-references", policy))
    try:
        webhooks.register(server, links=True)
        answer = delete(control_plane, "app")
    finally:
        try:
            webhooks.register(webhook_server, links=True)
        finally:
            server.stop()

    assert answer.status == status, answer
    said = answer.message if policy == "deny" else " ".join(answer.warnings)
    assert "cannot check which workloads use AppImage 'app'" in said
    assert re.search(r"listing kuscia(jobs|tasks|deployments) answered 403", said), said


# --- Kuscia's own deploy helper ----------------------------------------------------------


@pytest.fixture(scope="module")
def kuscia_python() -> str:
    python = os.environ.get("APPIMAGE_KUSCIA_PYTHON", "")
    if not python:
        message = "no Kuscia helper: run hack/kuscia-client.sh and set APPIMAGE_KUSCIA_PYTHON"
        if os.environ.get("REQUIRE_E2E") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return python


def regist(python: str, kubeconfig: pathlib.Path, manifest: dict[str, Any], tmp_path: pathlib.Path) -> Any:
    """Kuscia's ``regist_app_image`` run on ``manifest``: its one-line JSON report."""
    path = tmp_path / "app_image.yaml"
    path.write_text(json.dumps(manifest))  # JSON is YAML: the helper reads either
    # -I: isolated, so neither this checkout (tests/support/kuscia.py is no ``kuscia``) nor
    # PYTHONPATH comes before the helper's own package.
    done = subprocess.run([python, "-I", str(HELPER), str(kubeconfig), str(path)], capture_output=True,
                          text=True, timeout=HELPER_TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_kuscias_helper_re_registers_an_appimage_no_workload_uses(
        control_plane: ControlPlane, kubeconfig: pathlib.Path, kuscia_python: str,
        tmp_path: pathlib.Path) -> None:
    created(control_plane, SERVED)
    uid = stored(control_plane, "app")["metadata"]["uid"]  # type: ignore[index]

    assert regist(kuscia_python, kubeconfig, SERVED, tmp_path) == {"ok": True}
    assert stored(control_plane, "app")["metadata"]["uid"] != uid  # type: ignore[index]


def test_kuscias_helper_fails_naming_the_users_when_a_job_runs_the_appimage(
        control_plane: ControlPlane, kubeconfig: pathlib.Path, kuscia_python: str,
        tmp_path: pathlib.Path) -> None:
    created(control_plane, SERVED, kuscia.job("train", ("app", ("host",))))
    uid = stored(control_plane, "app")["metadata"]["uid"]  # type: ignore[index]

    report = regist(kuscia_python, kubeconfig, SERVED, tmp_path)

    assert report["ok"] is False, report
    assert report["status"] == 422, report
    assert "KusciaJob cross-domain/train" in report["message"]
    assert "kubectl apply" in report["message"]
    assert stored(control_plane, "app")["metadata"]["uid"] == uid  # type: ignore[index]


def test_under_warn_kuscias_helper_re_registers_an_appimage_in_use(
        control_plane: ControlPlane, kubeconfig: pathlib.Path, kuscia_python: str, tmp_path: pathlib.Path,
        warn_server: ServerProcess) -> None:
    created(control_plane, SERVED, kuscia.job("train", ("app", ("host",))))

    assert regist(kuscia_python, kubeconfig, SERVED, tmp_path) == {"ok": True}
    assert stored(control_plane, "app") is not None

