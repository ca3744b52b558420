"""``audit``: every stored AppImage held to today's rules (SQLite; the Kubernetes API in
tests/e2e/test_audit.py). The command runs as a subprocess on a store filled through
``SQLiteStore``; the paging and the memory bound are checked in process."""

from __future__ import annotations

import asyncio
import copy
import io
import json
import math
import os
import pathlib
import subprocess
import sys
import tracemalloc
from typing import Any

import pytest

from tests.support import builders
from tests.support.k8s.controlplane import free_ports
from webhook.app import audit
from webhook.core import errors, podspec, storage
from webhook.store import sqlite

REFUSED_FIELD = "spec.deployTemplates[1].role"
WARNED_FIELD = "spec.image.id"


def clean(name: str) -> dict[str, Any]:
    """The API document's AppImage, with an image ID Kuscia's agent can match."""
    obj = builders.doc_appimage()
    obj["metadata"]["name"] = name
    obj["spec"]["image"]["id"] = builders.IMAGE_DIGEST
    return obj


def warned(name: str) -> dict[str, Any]:
    """Valid, with one warning: an image ID Kuscia's agent never matches."""
    obj = clean(name)
    obj["spec"]["image"]["id"] = "abc"
    return obj


def refused(name: str) -> dict[str, Any]:
    """Refused by today's rules: two deploy templates serve the same role."""
    obj = clean(name)
    second = copy.deepcopy(obj["spec"]["deployTemplates"][0])
    second["name"] = "second"
    obj["spec"]["deployTemplates"].append(second)
    return obj


async def fill(path: pathlib.Path, objects: list[dict[str, Any]]) -> None:
    store = await sqlite.SQLiteStore.open(path)
    try:
        await asyncio.gather(*(store.create(obj) for obj in objects))
    finally:
        await store.close()


def run_audit(*args: str, cwd: pathlib.Path, env: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("APPIMAGE_")} | (env or {})
    return subprocess.run([sys.executable, "-m", "webhook", "audit", *args], capture_output=True,
                          text=True, timeout=60, check=False, cwd=cwd, env=environ)


@pytest.fixture
async def mixed_db(tmp_path: pathlib.Path) -> str:
    """A store with a clean, a refused and a warned AppImage; its ``--store`` URL."""
    await fill(tmp_path / "mixed.db", [clean("clean"), refused("refused"), warned("warned")])
    return f"sqlite:///{tmp_path / 'mixed.db'}"


def table_rows(stdout: str) -> list[list[str]]:
    """The table's problem rows as [name, verdict, field, message]."""
    return [line.split(None, 3) for line in stdout.splitlines()[1:-1]]


async def test_the_table_has_one_line_per_problem_naming_object_verdict_and_field(mixed_db, tmp_path):
    result = run_audit("--store", mixed_db, cwd=tmp_path)

    assert result.stdout.splitlines()[0].split() == ["NAME", "VERDICT", "FIELD", "MESSAGE"]
    rows = table_rows(result.stdout)
    assert [row[:3] for row in rows] == [["refused", "refused", REFUSED_FIELD],
                                        ["warned", "warned", WARNED_FIELD]]
    assert rows[0][3].startswith("role 'server' is also served by spec.deployTemplates[0]")
    assert rows[1][3].startswith("is not of the form sha256:")


async def test_the_table_ends_with_the_counts(mixed_db, tmp_path):
    result = run_audit("--store", mixed_db, cwd=tmp_path)

    assert result.stdout.splitlines()[-1] == "3 AppImages audited: 1 refused, 1 with warnings only, 1 clean"


async def test_a_refused_appimage_makes_the_exit_status_1(mixed_db, tmp_path):
    result = run_audit("--store", mixed_db, cwd=tmp_path)

    assert (result.returncode, result.stderr) == (1, "")


async def test_appimages_with_warnings_only_leave_the_exit_status_0(tmp_path):
    await fill(tmp_path / "warned.db", [clean("clean"), warned("warned")])

    result = run_audit("--store", f"sqlite:///{tmp_path / 'warned.db'}", cwd=tmp_path)

    assert (result.returncode, result.stderr) == (0, "")
    assert [row[:2] for row in table_rows(result.stdout)] == [["warned", "warned"]]


async def test_json_lists_each_appimage_with_a_problem_and_the_counts(mixed_db, tmp_path):
    result = run_audit("--store", mixed_db, "--output", "json", cwd=tmp_path)

    document = json.loads(result.stdout)
    assert [(item["name"], [e["field"] for e in item["errors"]], [w["field"] for w in item["warnings"]])
            for item in document["appimages"]] == [("refused", [REFUSED_FIELD], []),
                                                    ("warned", [], [WARNED_FIELD])]
    assert document["appimages"][0]["errors"][0]["message"].startswith("role 'server' is also served")
    assert document["counts"] == {"audited": 3, "refused": 1, "warned": 1, "clean": 1}
    assert result.returncode == 1


async def test_the_store_flag_is_read_from_appimage_store_like_serves(mixed_db, tmp_path):
    result = run_audit("--output", "json", cwd=tmp_path, env={"APPIMAGE_STORE": mixed_db})

    assert json.loads(result.stdout)["counts"]["audited"] == 3


def test_a_missing_sqlite_file_is_a_one_line_error_and_is_not_created(tmp_path):
    result = run_audit(cwd=tmp_path)  # the default, sqlite:///./appimage.db

    assert result.returncode == 2
    assert result.stderr == "appimage-webhook: --store: sqlite:///./appimage.db: no such file\n"
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("args", "message"), [
    (["--page-size", "0"], "--page-size: must be 1..1000, not 0"),
    (["--page-size", "many"], "--page-size: expected a whole number"),
    (["--kubernetes-version", "0.1"], "--kubernetes-version: no PodSpec schema for Kubernetes 0.1"),
    (["--store", "postgres://db"], "--store: expected sqlite:///PATH or kubernetes"),
    (["--store", "kubernetes", "--kubeconfig", "missing"],
     "--store: kubernetes: missing: No such file or directory"),
])
def test_bad_configuration_is_a_one_line_error_naming_the_flag_and_exit_2(args, message, tmp_path):
    result = run_audit(*args, cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.startswith(f"appimage-webhook: {message}")
    assert result.stderr.count("\n") == 1


def test_an_unreachable_api_server_is_a_one_line_error_and_exit_2(tmp_path):
    server = f"https://127.0.0.1:{free_ports(1)[0]}"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x"}))

    result = run_audit("--store", "kubernetes", "--kubeconfig", str(kubeconfig), cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.startswith(f"appimage-webhook: --store: kubernetes: Kubernetes API server "
                                    f"{server} unreachable")
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""


async def test_a_store_without_an_appimage_collection_asks_whether_the_crd_is_installed(
        store, monkeypatch):
    async def not_served(limit: int, token: str = "") -> storage.Page:
        raise errors.NotFound("appimage '' does not exist")  # the API server's 404 on the list

    monkeypatch.setattr(store, "list", not_served)

    with pytest.raises(errors.StoreUnavailable, match="is the AppImage CustomResourceDefinition installed"):
        await audit.run(store, io.StringIO(), podspec.checker())


async def test_defaults_are_filled_before_judging_as_the_webhooks_do(store):
    obj = clean("undefaulted")
    template = obj["spec"]["deployTemplates"][0]
    del template["replicas"]
    container = template["spec"]["containers"][0]
    container["envFrom"] = [{"configMapRef": {"name": "a"}, "secretRef": {"name": "b"}}]
    await store.create(obj)
    out = io.StringIO()

    counts = await audit.run(store, out, podspec.checker(), output="json")

    assert counts == audit.Counts(audited=1, refused=0, warned=1)
    [item] = json.loads(out.getvalue())["appimages"]
    assert [w["field"] for w in item["warnings"]] == ["spec.deployTemplates[0].spec.containers[0].envFrom[0]"]


async def test_json_of_a_store_without_problems_is_an_empty_list_and_the_counts(store):
    await store.create(clean("clean"))
    out = io.StringIO()

    await audit.run(store, out, podspec.checker(), output="json")

    assert json.loads(out.getvalue()) == {"appimages": [], "counts": {
        "audited": 1, "refused": 0, "warned": 0, "clean": 1}}


def test_a_line_break_in_a_message_stays_on_its_table_line():
    out = io.StringIO()
    table = audit.Table(out)

    table.finding(audit.Finding("app", [("spec.configTemplates[a]", "line 1\nline 2")], []))
    table.page_done()

    assert out.getvalue().splitlines()[1].split(None, 3)[3] == "line 1\\nline 2"


def test_table_columns_line_up_within_a_page():
    out = io.StringIO()
    table = audit.Table(out)

    table.finding(audit.Finding("a", [("spec.image.name", "bad")], []))
    table.finding(audit.Finding("a-longer-name", [], [("spec.image.id", "odd")]))
    table.page_done()

    assert out.getvalue().splitlines() == [
        "NAME           VERDICT  FIELD            MESSAGE",
        "a              refused  spec.image.name  bad",
        "a-longer-name  warned   spec.image.id    odd",
    ]


# --- many objects: paged, each visited once, memory bounded by a page -------------------

MANY = 2_500
SMALL_PAGE = 7


def many_objects() -> list[dict[str, Any]]:
    """MANY small AppImages: every 100th refused, every other 10th warned, the rest clean."""
    objects = []
    for i in range(MANY):
        obj = builders.appimage(f"app-{i:05d}")
        if i % 100 == 0:  # two templates serving one role
            first = obj["spec"]["deployTemplates"][0] | {"role": "host"}
            obj["spec"]["deployTemplates"] = [first, first | {"name": "again"}]
        elif i % 10 == 0:
            obj["spec"]["image"]["id"] = "abc"
        objects.append(obj)
    return objects


@pytest.fixture(scope="module")
def many_db(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("many") / "many.db"
    asyncio.run(fill(path, many_objects()))
    return path


@pytest.fixture
async def many_store(many_db: pathlib.Path):
    store = await sqlite.SQLiteStore.open(many_db)
    yield store
    await store.close()


async def test_every_stored_appimage_is_read_once_page_by_page(many_store, monkeypatch):
    listed: list[str] = []
    calls = 0
    list_page = many_store.list

    async def spy(limit: int, token: str = "") -> storage.Page:
        nonlocal calls
        calls += 1
        page = await list_page(limit, token)
        listed.extend(record.name for record in page.records)
        return page

    monkeypatch.setattr(many_store, "list", spy)

    await audit.run(many_store, io.StringIO(), podspec.checker(), page_size=SMALL_PAGE)

    assert sorted(listed) == [f"app-{i:05d}" for i in range(MANY)]
    assert calls == math.ceil(MANY / SMALL_PAGE)


async def test_the_output_of_many_lists_every_problem_object_and_matching_counts(many_store):
    out = io.StringIO()

    counts = await audit.run(many_store, out, podspec.checker(), output="json", page_size=SMALL_PAGE)

    document = json.loads(out.getvalue())
    refused_names = [f"app-{i:05d}" for i in range(0, MANY, 100)]
    warned_names = [f"app-{i:05d}" for i in range(0, MANY, 10) if i % 100]
    assert [item["name"] for item in document["appimages"] if item["errors"]] == refused_names
    assert [item["name"] for item in document["appimages"] if not item["errors"]] == warned_names
    assert document["counts"] == counts.as_json() == {
        "audited": MANY, "refused": len(refused_names), "warned": len(warned_names),
        "clean": MANY - len(refused_names) - len(warned_names)}


class Discard(io.TextIOBase):
    """An output stream that keeps nothing, so only the audit's own memory is measured."""

    def write(self, text: str) -> int:
        return len(text)


# Holding the MANY objects decoded takes ~6.6 MB; an audit at page size 10 peaked at
# ~0.25 MB above what was allocated before it (the last measurement).
MEMORY_BOUND = 1.5 * 1024 * 1024


async def test_memory_stays_bounded_by_a_page_not_by_the_store(many_store):
    checker = podspec.checker()
    audit.problems(builders.appimage("warm-up"), checker)  # loads the schemas, once per process
    tracemalloc.start()
    try:
        await audit.run(many_store, Discard(), checker, page_size=10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < MEMORY_BOUND
