"""The chart as the chart tests handle it: the real helm binary (built with kube-apiserver
and etcd by hack/k8s-bin.sh) rendering it, the rendered objects, and admin calls to an API
server with its warnings, resources found by discovery.

Rule: helpers only; the fixtures built on them (helm, the chart tests' own control plane)
are tests/chart/conftest.py's.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import pathlib
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

import yaml

from tests.support.k8s import controlplane

CHART = controlplane.REPO_ROOT / "charts" / "appimage-webhook"
CI_VALUES = tuple(sorted((CHART / "ci").glob("*-values.yaml")))
RELEASE = "appimage-webhook"
NAMESPACE = "appimage-system"
HELM_TIMEOUT = 30.0
FIELD_MANAGER = "chart-test"


def _kube_version_range() -> tuple[str, str]:
    """The lowest and highest Kubernetes minor versions Chart.yaml's kubeVersion admits."""
    claim = yaml.safe_load((CHART / "Chart.yaml").read_text())["kubeVersion"]
    match = re.fullmatch(r">=\s*1\.(\d+)\.0-0\s+<\s*1\.(\d+)\.0-0", claim)
    assert match, f"Chart.yaml kubeVersion {claim!r} is not '>=1.A.0-0 <1.B.0-0'"
    return f"1.{match[1]}.0", f"1.{int(match[2]) - 1}.0"


LOWEST, HIGHEST = _kube_version_range()


def assets() -> pathlib.Path:
    return controlplane.required_assets()


# --- helm ---------------------------------------------------------------------------------


class HelmError(RuntimeError):
    """helm exited non-zero; the message holds its stderr."""


@dataclasses.dataclass(frozen=True)
class Helm:
    binary: pathlib.Path
    home: pathlib.Path
    """An empty HELM_*_HOME: no user's repositories, plugins or cache."""

    def run(self, *args: str) -> str:
        """helm's stdout; ``HelmError`` with its stderr when it fails."""
        home = self.home
        env = {**os.environ, "HELM_CONFIG_HOME": str(home / "config"),
               "HELM_CACHE_HOME": str(home / "cache"), "HELM_DATA_HOME": str(home / "data"),
               "KUBECONFIG": os.devnull}
        done = subprocess.run([str(self.binary), *args], capture_output=True, text=True,
                              env=env, timeout=HELM_TIMEOUT, check=False)
        if done.returncode != 0:
            raise HelmError(f"helm {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
        return done.stdout

    def template(self, *values: pathlib.Path, set_: Sequence[str] = (),
                 kube_version: str | None = None) -> str:
        """``helm template``; ``set_`` holds ``--set-json`` assignments (``a.b=JSON``, so
        0.5 is a number, as in a values file; a bare word is a string)."""
        return _template(self, tuple(values), tuple(set_), kube_version)

    def render(self, *values: pathlib.Path, set_: Sequence[str] = (),
               kube_version: str | None = None) -> list[dict[str, Any]]:
        """The rendered objects (hooks included), parsed."""
        text = self.template(*values, set_=set_, kube_version=kube_version)
        return [doc for doc in yaml.safe_load_all(text) if doc]


@functools.lru_cache(maxsize=64)
def _template(helm: Helm, values: tuple[pathlib.Path, ...], set_: tuple[str, ...],
              kube_version: str | None) -> str:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    for path in values:
        args += ["--values", str(path)]
    for assignment in set_:
        key, _, value = assignment.partition("=")
        try:
            json.loads(value)
        except ValueError:
            value = json.dumps(value)
        args += ["--set-json", f"{key}={value}"]
    if kube_version:
        args += ["--kube-version", kube_version]
    return helm.run(*args)


def find(objects: Sequence[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    """The one rendered object of ``kind`` (and ``name``)."""
    found = [o for o in objects if o["kind"] == kind
             and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"{len(found)} objects of kind {kind} named {name}"
    return found[0]


def is_hook(obj: dict[str, Any]) -> bool:
    return "helm.sh/hook" in (obj["metadata"].get("annotations") or {})


# Kinds of custom resources: no built-in schema to check them against. Named one by one,
# so that a built-in kind without a schema fails instead of being skipped.
CUSTOM_KINDS = {
    ("cert-manager.io/v1", "Issuer"),
    ("cert-manager.io/v1", "Certificate"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
}


# --- the API server -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    warnings: list[str]


class Kube:
    """Calls to one API server as admin, or with another bearer token, with the answer's
    ``Warning`` headers; resources found by discovery."""

    def __init__(self, plane: controlplane.ControlPlane, token: str | None = None) -> None:
        self.plane = plane
        self.token = token or plane.token
        self._resources: dict[tuple[str, str], tuple[str, bool]] = {}

    def as_token(self, token: str) -> Kube:
        other = Kube(self.plane, token)
        other._resources = self._resources
        return other

    def call(self, method: str, path: str, body: Any = None, *,
             content_type: str = "application/json", params: dict[str, str] | None = None) -> Answer:
        url = self.plane.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Accept": "application/json",
            "Content-Type": content_type})
        try:
            with urllib.request.urlopen(request, context=self.plane.ssl_context(), timeout=30) as r:
                status, raw, headers = r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            status, raw, headers = e.code, e.read(), e.headers
        try:
            decoded = json.loads(raw) if raw else {}
        except ValueError:
            decoded = raw.decode(errors="replace")
        return Answer(status, decoded, headers.get_all("Warning") or [])

    def path(self, obj: dict[str, Any]) -> str:
        """The object's URL path, its resource found by the server's discovery."""
        api_version, kind = obj["apiVersion"], obj["kind"]
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        if (api_version, kind) not in self._resources:
            answer = self.call("GET", base)
            assert answer.status == 200, f"discovery of {api_version}: {answer.body}"
            for item in answer.body["resources"]:
                if "/" not in item["name"]:  # not a subresource
                    self._resources[(api_version, item["kind"])] = (item["name"], item["namespaced"])
        plural, namespaced = self._resources[(api_version, kind)]
        if namespaced:
            base += f"/namespaces/{obj['metadata'].get('namespace') or NAMESPACE}"
        return f"{base}/{plural}/{obj['metadata']['name']}"

    def apply(self, obj: dict[str, Any], *, dry_run: bool = False) -> Answer:
        """Server-side apply, as ``kubectl apply --server-side --force-conflicts``."""
        params = {"fieldManager": FIELD_MANAGER, "force": "true", "fieldValidation": "Strict"}
        if dry_run:
            params["dryRun"] = "All"
        return self.call("PATCH", self.path(obj), obj, content_type="application/apply-patch+yaml",
                         params=params)

    def get(self, obj_or_path: dict[str, Any] | str) -> Any:
        path = obj_or_path if isinstance(obj_or_path, str) else self.path(obj_or_path)
        answer = self.call("GET", path)
        assert answer.status == 200, f"GET {path}: {answer.status} {answer.body}"
        return answer.body

    def await_established(self, crd: dict[str, Any]) -> None:
        self.plane.await_crd(crd["metadata"]["name"])
