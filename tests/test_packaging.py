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
