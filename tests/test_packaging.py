"""The README's first command: the package installs and runs, from the checkout and away."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent


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
    result = subprocess.run([sys.executable, "-m", "webhook", "schema", "--rest"], cwd=cwd,
                            capture_output=True, text=True, timeout=60, check=False,
                            env={**os.environ, "PYTHONPATH": str(installed)})
    assert result.returncode == 0, result.stderr
    assert "CreateAppImageRequest" in json.loads(result.stdout)["$defs"]


def test_installed_package_ships_the_api_document_examples_and_the_explorer(installed, tmp_path):
    probe = ("import json; from importlib import resources; from webhook import openapi\n"
             "paths = openapi.document()['paths']\n"
             "examples = [e for p in paths.values() for e in p['post']['requestBody']['content']"
             "['application/json']['examples']]\n"
             "page = [resources.files('webhook').joinpath('explorer', n).is_file()"
             " for n in ('index.html', 'explorer.js', 'explorer.css')]\n"
             "print(json.dumps({'examples': len(examples), 'page': page}))\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, check=False,
                            env={**os.environ, "PYTHONPATH": str(installed)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"examples": 8, "page": [True, True, True]}


def test_installed_package_serves_the_explorer_page(installed, tmp_path):
    script = ("from importlib import resources; "
              "print(resources.files('webhook').joinpath('explorer', 'index.html').read_text()[:15])")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, check=False,
                            env={**os.environ, "PYTHONPATH": str(installed)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.lower().startswith("<!doctype html")


def compiled(module: str, path: pathlib.Path | None = None) -> bool:
    """Whether ``module`` imports as an extension module (from ``path`` when given)."""
    probe = (f"import importlib.machinery, {module}; "
             f"print({module}.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)))")
    env = {**os.environ, "PYTHONPATH": str(path)} if path else dict(os.environ)
    result = subprocess.run([sys.executable, "-c", probe], cwd=path or REPO, capture_output=True,
                            text=True, timeout=60, check=True, env=env)
    return result.stdout.strip() == "True"


HOT_PATH = ("webhook.validation", "webhook.defaulting", "webhook.admission.handlers")
PURE = os.environ.get("APPIMAGE_WEBHOOK_PURE_PYTHON") == "1"


@pytest.mark.parametrize("module", HOT_PATH)
def test_an_install_compiles_the_review_hot_path(installed, module):
    assert compiled(module, installed) is not PURE


@pytest.mark.parametrize("module", HOT_PATH)
def test_the_checkout_under_test_runs_the_compiled_hot_path(module):
    assert compiled(module) is not PURE


def test_an_extension_older_than_its_source_or_no_longer_compiled_is_stale(tmp_path):
    from tests.conftest import stale_extensions

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
    from tests.conftest import native_sources

    assert native_sources()
    assert all(source.is_file() for source in native_sources())
