"""The README's first command: the package installs and runs, from the checkout and away."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig

import pytest

from tests.support import prerequisites, serverproc
from tests.support.native import native_sources, stale_extensions
from webhook.proto import __main__ as generator

# Slow: each test builds and installs the package.
pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parents[2]


# The test venv has this checkout installed editable, whose finder (a .pth file) would
# serve ``webhook.schema_files`` from here to any ``webhook`` package: a user's
# ``pip install .`` has no such finder. So the commands below run as a user's would: -S
# (no site, no .pth), with the installed copy and the dependencies on PYTHONPATH.
AS_A_USER = [sys.executable, "-S"]


def user_path(installed: pathlib.Path) -> str:
    return os.pathsep.join([str(installed), sysconfig.get_paths()["purelib"],
                            sysconfig.get_paths()["platlib"]])


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> pathlib.Path:
    """A non-editable install of the project (its dependencies come from this venv)."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(target), str(REPO)],
                   check=True, timeout=300, cwd=build, env={**os.environ, "TMPDIR": str(build)})
    return target


@pytest.mark.parametrize("where", ["checkout", "elsewhere"])
def test_installed_package_finds_its_schemas(installed, tmp_path, where):
    cwd = REPO if where == "checkout" else tmp_path
    result = subprocess.run([*AS_A_USER, "-m", "webhook", "schema", "--rest"], cwd=cwd,
                            capture_output=True, text=True, timeout=60, check=False,
                            env={**os.environ, "PYTHONPATH": user_path(installed)})
    assert result.returncode == 0, result.stderr
    assert "CreateAppImageRequest" in json.loads(result.stdout)["$defs"]


class ServeAsWritten(serverproc.ServerProcess):
    """``python3 -m webhook serve`` exactly as the README writes it: no flag, so the
    listeners are on their default ports and the store and certificates go to the
    working directory."""

    @property
    def argv(self) -> list[str]:
        return [*AS_A_USER, "-m", "webhook", "serve"]


def fresh_clone(destination: pathlib.Path) -> pathlib.Path:
    """The checkout's tracked and new files, as a clone has them: nothing built, nothing
    that ``.gitignore`` keeps out (no compiled modules, no venv, no database)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, check=True, timeout=60).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


def test_readmes_first_command_serves_from_a_fresh_clones_root(installed, tmp_path, monkeypatch):
    # With -m, Python imports the clone's own webhook/ ahead of the installed copy: the
    # package must run from its source tree as it is committed.
    clone = fresh_clone(tmp_path / "clone")
    monkeypatch.setenv("PYTHONPATH", user_path(installed))
    prerequisites.binary("curl")
    with ServeAsWritten(clone) as server:
        pasted = subprocess.run(["sh", "-c", server.first_request], cwd=clone, capture_output=True,
                                text=True, timeout=30, check=False)
        assert pasted.returncode == 0, f"{server.first_request}\n{pasted.stderr}"
        assert json.loads(pasted.stdout)["status"]["code"] == 0
        assert (clone / "appimage.db").is_file()
        assert (clone / "certs" / "ca.crt").is_file()
    assert server.process.returncode == 0, server.stderr()


def test_an_install_without_a_c_compiler_falls_back_to_pure_python(tmp_path):
    # From a clone: the checkout's build/ may hold objects compiled before, which the
    # build would reuse instead of calling the compiler.
    clone, target, build = fresh_clone(tmp_path / "clone"), tmp_path / "site", tmp_path / "build"
    build.mkdir()
    # setuptools compiles with $CC: a compiler that always fails stands for none at all.
    env = {k: v for k, v in os.environ.items() if k != "APPIMAGE_WEBHOOK_PURE_PYTHON"}
    env.update(TMPDIR=str(build), CC="false")
    result = subprocess.run([sys.executable, "-m", "pip", "install", "-v", "--no-deps", "--target",
                             str(target), str(clone)], capture_output=True, text=True, timeout=600,
                            cwd=build, check=False, env=env)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    said = [line.strip() for line in (result.stdout + result.stderr).splitlines()
            if "appimage-webhook: the compiled" in line]
    assert len(said) == 1, said
    assert "installing pure Python" in said[0]
    assert not list(target.rglob("*.so"))
    assert not compiled("webhook.core.validation", target)


def test_installed_package_ships_the_api_document_examples_and_the_explorer(installed, tmp_path):
    probe = ("import json; from importlib import resources; from webhook.rest import openapi\n"
             "paths = openapi.document()['paths']\n"
             "examples = [e for p in paths.values() for e in p['post']['requestBody']['content']"
             "['application/json']['examples']]\n"
             "page = [resources.files('webhook.rest').joinpath('explorer', n).is_file()"
             " for n in ('index.html', 'explorer.js', 'explorer.css')]\n"
             "print(json.dumps({'examples': len(examples), 'page': page}))\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, check=False,
                            env={**os.environ, "PYTHONPATH": str(installed)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"examples": 8, "page": [True, True, True]}


def test_installed_package_serves_the_explorer_page(installed, tmp_path):
    script = ("from importlib import resources; "
              "print(resources.files('webhook.rest').joinpath('explorer', 'index.html').read_text()[:15])")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, check=False,
                            env={**os.environ, "PYTHONPATH": str(installed)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.lower().startswith("<!doctype html")


def test_installed_package_ships_the_proto_files_and_their_code(installed, tmp_path):
    script = ("from importlib import resources; from webhook.proto import codec; "
              "print(sorted(p.name for p in resources.files('webhook.proto').iterdir() "
              "if p.name.endswith('.proto')), codec.SERVICE_NAME)")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, check=False,
                            env={**os.environ, "PYTHONPATH": str(installed)})
    assert result.returncode == 0, result.stderr
    shipped, service = result.stdout.rsplit(maxsplit=1)
    assert shipped == str(sorted(generator.SOURCES))
    assert service == "kuscia.proto.api.v1alpha1.kusciaapi.AppImageService"


def compiled(module: str, path: pathlib.Path | None = None) -> bool:
    """Whether ``module`` imports as an extension module (from ``path`` when given)."""
    probe = (f"import importlib.machinery, {module}; "
             f"print({module}.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)))")
    env = {**os.environ, "PYTHONPATH": str(path)} if path else dict(os.environ)
    result = subprocess.run([sys.executable, "-c", probe], cwd=path or REPO, capture_output=True,
                            text=True, timeout=60, check=True, env=env)
    return result.stdout.strip() == "True"


HOT_PATH = ("webhook.core.validation", "webhook.core.defaulting", "webhook.admission.handlers")
PURE = os.environ.get("APPIMAGE_WEBHOOK_PURE_PYTHON") == "1"


@pytest.mark.parametrize("module", HOT_PATH)
def test_an_install_compiles_the_review_hot_path(installed, module):
    assert compiled(module, installed) is not PURE


@pytest.mark.parametrize("module", HOT_PATH)
def test_the_checkout_under_test_runs_the_compiled_hot_path(module):
    assert compiled(module) is not PURE


def test_an_extension_older_than_its_source_or_no_longer_compiled_is_stale(tmp_path):
    suffix = ".cpython-311-x86_64-linux-gnu.so"
    for name, source_age, extension_age in (("fresh", 20, 10), ("stale", 10, 20), ("dropped", 20, 10)):
        source, extension = tmp_path / f"{name}.py", tmp_path / f"{name}{suffix}"
        source.write_text("")
        extension.write_bytes(b"")
        os.utime(source, (1000 - source_age, 1000 - source_age))
        os.utime(extension, (1000 - extension_age, 1000 - extension_age))
    (tmp_path / f"pure_extension{suffix}").write_bytes(b"")  # no source next to it: not ours
    native = {tmp_path / "fresh.py", tmp_path / "stale.py"}
    assert stale_extensions(tmp_path, native) == [tmp_path / f"dropped{suffix}", tmp_path / f"stale{suffix}"]


def test_setup_compiles_the_listed_sources_that_exist():
    assert native_sources()
    assert all(source.is_file() for source in native_sources())
