"""``audit --store kubernetes`` against the real API server.

The objects are written straight to the API server with no webhook of ours registered,
as while the webhook was off or its failurePolicy Ignore: so one that the CRD accepts
and our rules refuse is stored, and the audit must find it, reading the collection page
by page through the API server's continue tokens.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.support.apiserver import APPIMAGES, delete_all, minimal
from tests.support.k8s.controlplane import ControlPlane

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REFUSED_FIELD = "spec.deployTemplates[0].spec.containers[0].env[0].name"


def run_audit(*args: str, cwd: pathlib.Path, env: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith("APPIMAGE_") and k != "KUBECONFIG"} | (env or {})
    return subprocess.run([sys.executable, "-m", "webhook", "audit", "--store", "kubernetes", *args],
                          capture_output=True, text=True, timeout=60, check=False, cwd=cwd,
                          env=environ)


@pytest.fixture
def stored(control_plane: ControlPlane) -> Iterator[None]:
    """A clean, a refused (an env name with '=') and a warned (an image ID Kuscia's agent
    never matches) AppImage, created through the API server alone."""
    refused, warned = minimal("refused-app"), minimal("warned-app")
    refused["spec"]["deployTemplates"][0]["spec"]["containers"][0]["env"] = [{"name": "A=B", "value": "x"}]
    warned["spec"]["image"]["id"] = "abc"
    delete_all(control_plane)
    for obj in (minimal("clean-app"), refused, warned):
        status, body = control_plane.request("POST", APPIMAGES, obj)
        assert status == 201, body
    yield
    delete_all(control_plane)


@pytest.mark.usefixtures("stored")
def test_audit_through_a_kubeconfig_reports_what_our_rules_refuse_and_exits_1(kubeconfig, tmp_path):
    result = run_audit("--kubeconfig", str(kubeconfig), "--output", "json", "--page-size", "1",
                       cwd=tmp_path)

    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert [(item["name"], [e["field"] for e in item["errors"]], [w["field"] for w in item["warnings"]])
            for item in document["appimages"]] == [("refused-app", [REFUSED_FIELD], []),
                                                    ("warned-app", [], ["spec.image.id"])]
    assert document["counts"] == {"audited": 3, "refused": 1, "warned": 1, "clean": 1}


@pytest.mark.usefixtures("stored")
def test_audit_finds_the_api_server_through_kubeconfig_as_serve_does(kubeconfig, tmp_path):
    result = run_audit(cwd=tmp_path, env={"KUBECONFIG": str(kubeconfig)})

    assert result.returncode == 1, result.stderr
    assert [line.split(None, 3)[:3] for line in result.stdout.splitlines()[1:-1]] == [
        ["refused-app", "refused", REFUSED_FIELD], ["warned-app", "warned", "spec.image.id"]]
