"""The node tests' release: the chart installed by helm inside a real single-node cluster
(tests/support/k8s/node.py) with our image, its names, and what the tests do with it:
values files, waiting for the Pods, a platform's own TLS Secret, admission load through
the API server.

Rule: helpers only; the fixtures built on them (the cluster, helm, the namespace) are
tests/node/conftest.py's.
"""

from __future__ import annotations

import base64
import dataclasses
import http.client
import json
import os
import pathlib
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.support.apiserver import APPIMAGES, minimal
from tests.support.k8s import controlplane
from tests.support.k8s import node as node_
from webhook.ops import certificates

CHART = controlplane.REPO_ROOT / "charts" / "appimage-webhook"
IMAGE_SCRIPT = controlplane.REPO_ROOT / "hack" / "image.sh"
IMAGE_ENV = "APPIMAGE_IMAGE"
RELEASE = "appimage-webhook"
NAMESPACE = "appimage-system"
TLS_SECRET = "platform-tls"
"""The Secret the platform provides in the tests that bring their own certificates."""
FULLNAME = RELEASE  # the release is named after the chart: no "<release>-<chart>" prefix
SELECTOR = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=admission-webhook"
# Every Pod of ours, every time: the images are imported, there is no registry.
BASE_VALUES = {"image": {"pullPolicy": "Never"}}


def unavailable(reason: str) -> None:
    """Skip the node test saying why; fail instead under ``REQUIRE_E2E=1`` (CI)."""
    if os.environ.get("REQUIRE_E2E") == "1":
        pytest.fail(f"REQUIRE_E2E=1 but the node tests cannot run: {reason}")
    pytest.skip(reason)


@dataclasses.dataclass
class Helm:
    cluster: node_.Node
    binary: pathlib.Path
    values_dir: pathlib.Path

    def run(self, *args: str, timeout: float = 300.0) -> str:
        done = self.cluster.run([str(self.binary), *args], timeout=timeout)
        return done.stdout

    def values_file(self, name: str, values: dict[str, Any]) -> pathlib.Path:
        path = self.values_dir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(merge(BASE_VALUES, values)))
        return path

    def install(self, name: str, values: dict[str, Any], *, wait_timeout: str = "180s") -> float:
        """``helm install --wait``; the seconds it took."""
        return self._wait("install", name, values, wait_timeout)

    def upgrade(self, name: str, values: dict[str, Any], *, wait_timeout: str = "180s") -> float:
        """``helm upgrade --wait``; the seconds it took."""
        return self._wait("upgrade", name, values, wait_timeout)

    def _wait(self, verb: str, name: str, values: dict[str, Any], wait_timeout: str) -> float:
        """``helm VERB --wait``; when it fails, the failure says what the release's Pods
        were doing (their state, events and logs), which helm's "context deadline
        exceeded" does not."""
        began = time.monotonic()
        try:
            self.run(verb, RELEASE, str(CHART), "--namespace", NAMESPACE, "--wait",
                     "--timeout", wait_timeout, "--values", str(self.values_file(name, values)))
        except (node_.NodeError, subprocess.TimeoutExpired) as e:
            raise node_.NodeError(f"helm {verb} ({name}) failed: {e}\n{self.state()}") from e
        return time.monotonic() - began

    def state(self) -> str:
        """The release namespace's Pods, recent events and the Pods' logs, as text."""
        def kubectl(*args: str) -> str:
            done = self.cluster.kubectl("-n", NAMESPACE, *args, check=False, timeout=30)
            return f"$ kubectl {' '.join(args)}\n{done.stdout}{done.stderr}"

        return "\n".join([kubectl("get", "pods", "-o", "wide"), kubectl("get", "events"),
                          kubectl("logs", "--prefix", "--tail", "40", "-l",
                                  "app.kubernetes.io/name=appimage-webhook")])

    def uninstall(self) -> None:
        self.run("uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", "--timeout", "120s")


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = (merge(out[key], value) if isinstance(value, dict)
                    and isinstance(out.get(key), dict) else value)
    return out


def until(what: str, probe: Callable[[], Any], timeout: float = 60.0, interval: float = 0.2) -> Any:
    """``probe()``'s first truthy answer, retried until ``timeout``; fails saying what."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"{what}: not within {timeout:g}s (last: {last!r})")


def existing_tls_secret(cluster: node_.Node, work: pathlib.Path, name: str) -> str:
    """A kubernetes.io/tls Secret for the Service's names, made outside the chart as a
    platform's own PKI would; returns the caBundle (base64 of the CA's PEM). ``work``
    keeps the CA and a client certificate it signed (REST's mTLS)."""
    svc = f"{FULLNAME}.{NAMESPACE}.svc"
    paths = certificates.write_cert_set(work, [FULLNAME, f"{FULLNAME}.{NAMESPACE}", svc,
                                      f"{svc}.cluster.local"], [])
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
              "metadata": {"name": name, "namespace": NAMESPACE},
              "data": {key: base64.b64encode(path.read_bytes()).decode() for key, path in (
                  ("tls.crt", paths.server_cert), ("tls.key", paths.server_key),
                  ("ca.crt", paths.ca))}}
    cluster.kubectl("apply", "-f", "-", input_=json.dumps(secret))
    return base64.b64encode(paths.ca.read_bytes()).decode()


class AdmissionLoad:
    """Clients creating valid AppImages through the API server, back to back, from
    threads: every answer but 201 is a failed admission, kept with its message."""

    def __init__(self, cluster: node_.Node, prefix: str, clients: int = 2) -> None:
        self.cluster = cluster
        self.prefix = prefix
        self.ok = 0
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(i,), daemon=True)
                         for i in range(clients)]

    def _client(self, index: int) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            obj = minimal(f"{self.prefix}-{index}-{n}")
            try:
                status, body = self.cluster.api("POST", APPIMAGES, obj, timeout=30)
                failure = None if status == 201 else f"{status}: {_message(body)}"
            except (OSError, http.client.HTTPException) as e:
                failure = f"client error: {e!r}"
            with self._lock:
                if failure is None:
                    self.ok += 1
                else:
                    self.failures.append(failure)

    @property
    def total(self) -> int:
        with self._lock:
            return self.ok + len(self.failures)

    def __enter__(self) -> AdmissionLoad:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)

    def wait_for(self, count: int, timeout: float = 60.0) -> None:
        """Until ``count`` more answers came back (the load is really flowing)."""
        target = self.total + count
        until(f"{count} more admissions", lambda: self.total >= target, timeout=timeout,
              interval=0.05)


def _message(body: Any) -> str:
    return str(body.get("message")) if isinstance(body, dict) else str(body)[:300]


def pods(cluster: node_.Node, *, include_terminating: bool = True) -> list[dict[str, Any]]:
    """The release's webhook Pods."""
    got = json.loads(cluster.kubectl("get", "pods", "-n", NAMESPACE, "-l", SELECTOR,
                                     "-o", "json").stdout)
    items: list[dict[str, Any]] = got["items"]
    if not include_terminating:
        items = [p for p in items if not p["metadata"].get("deletionTimestamp")]
    return items


def await_service_routes(cluster: node_.Node, timeout: float = 60.0) -> None:
    """kube-proxy writes the Service's rules a moment after the endpoints exist: the first
    admission through the Service is retried until it answers, bounded."""
    until("the webhook answers through its Service",
          lambda: cluster.kubectl("create", "--dry-run=server", "-f", "-", check=False,
                                  input_=json.dumps(minimal("ready-probe"))).returncode == 0,
          timeout=timeout)


def delete_appimages(cluster: node_.Node) -> None:
    """Every AppImage, in one deletecollection call (the load tests leave a thousand); no
    CRD (no release installed yet) is nothing to delete."""
    status, body = cluster.api("DELETE", APPIMAGES, timeout=120)
    assert status in (200, 404), body
