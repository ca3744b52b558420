"""A throwaway Kubernetes control plane (etcd + kube-apiserver) for tests.

``ControlPlane`` runs a real etcd and kube-apiserver on 127.0.0.1 with random
free ports, envtest-style (no nodes, no controller-manager, no scheduler), so
integration tests can register admission webhooks and CRDs against a genuine
API server. The binaries come from ``hack/k8s-bin.sh`` (or the directory named
by ``APPIMAGE_K8S_ASSETS``); its certificates are made fresh by the project's
own ``webhook.certificates``.

Authentication: a static token (``--token-auth-file``) for user ``admin`` in
group ``system:masters``.
Authorization is RBAC, so ``system:masters`` is cluster-admin.

Usage::

    with ControlPlane(work_dir=tmp_path) as cp:
        cp.request("GET", "/api")
        cp.write_kubeconfig(tmp_path / "kubeconfig")
"""

from __future__ import annotations

import atexit
import ctypes
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from webhook.ops import certificates

REPO_ROOT = Path(__file__).resolve().parents[3]
K8S_BIN_SCRIPT = REPO_ROOT / "hack" / "k8s-bin.sh"
ASSETS_ENV = "APPIMAGE_K8S_ASSETS"
BINARIES = ("kube-apiserver", "etcd", "helm")  # hack/k8s-bin.sh builds the three together

ADMIN_USER = "admin"
ADMIN_GROUP = "system:masters"
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
LOG_TAIL_LINES = 40


class ControlPlaneError(RuntimeError):
    """The control plane could not be built, started or reached."""


def find_assets(assets_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the directory holding the kube-apiserver and etcd binaries.

    Order: the explicit ``assets_dir``; ``$APPIMAGE_K8S_ASSETS`` if it already
    holds the binaries; otherwise run ``hack/k8s-bin.sh`` (which builds or
    reuses them, honouring ``$APPIMAGE_K8S_ASSETS``) and use the directory it
    prints last.
    """
    if assets_dir is not None:
        path = Path(assets_dir)
        _check_binaries(path)
        return path
    env = os.environ.get(ASSETS_ENV)
    if env and all(os.access(Path(env) / name, os.X_OK) for name in BINARIES):
        return Path(env)
    try:
        proc = subprocess.run(
            ["bash", str(K8S_BIN_SCRIPT)],
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ControlPlaneError(f"{K8S_BIN_SCRIPT} failed: {exc}") from exc
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise ControlPlaneError(f"{K8S_BIN_SCRIPT} printed no assets directory")
    path = Path(lines[-1])
    _check_binaries(path)
    return path


def required_assets() -> Path:
    """``find_assets()`` for a test: a skip saying how to get the binaries when they are
    missing, or a failure under ``REQUIRE_E2E=1`` (CI), where tests must not skip."""
    from tests.support import prerequisites  # only tests call this; the module runs without pytest

    try:
        return find_assets(os.environ.get(ASSETS_ENV) or None)
    except ControlPlaneError as e:
        prerequisites.missing(f"the control-plane binaries are missing: {e}", "build them with "
                              "`export APPIMAGE_K8S_ASSETS=$(hack/k8s-bin.sh | tail -1)`")


def _check_binaries(path: Path) -> None:
    """Raise ``ControlPlaneError`` unless ``path`` holds executable binaries."""
    missing = [name for name in BINARIES if not os.access(path / name, os.X_OK)]
    if missing:
        raise ControlPlaneError(f"{path}: missing executable(s) {', '.join(missing)}")


def await_crd(call: Callable[[str, str], tuple[int, Any]], name: str, timeout: float = 30.0) -> None:
    """Wait until the CustomResourceDefinition ``name`` is Established, asking through
    ``call(method, path)`` (``ControlPlane.request``, ``Node.api``)."""
    deadline = time.monotonic() + timeout
    got: Any = {}
    while time.monotonic() < deadline:
        _, got = call("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        status = got.get("status") if isinstance(got, dict) else None
        conditions = {c["type"]: c["status"] for c in (status or {}).get("conditions") or []}
        if conditions.get("Established") == "True":
            return
        time.sleep(0.05)
    raise ControlPlaneError(f"CRD {name} not established in {timeout:g} s: {got}")


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct currently-free TCP ports on 127.0.0.1."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """Return the last ``lines`` lines of a log file (empty if unreadable)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------
# PKI


# --------------------------------------------------------------------------
# Processes


def _load_prctl() -> Any:
    """Return libc's ``prctl`` (Linux), or None where it is unavailable."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# Resolved once in the parent: the child must not load libraries after fork.
_PRCTL = _load_prctl()
_PR_SET_PDEATHSIG = 1


def _set_parent_death_signal() -> None:
    """In the child: get SIGTERM when the parent dies, so no orphans remain.

    Linux delivers it when the *thread* that forked exits, so start the
    control plane from a thread that outlives it (normally the main thread).
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


class _Process:
    """A child process whose stdout and stderr go to a log file."""

    def __init__(self, name: str, argv: list[str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("ab")
        try:
            self.popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                # Only calls prctl(2), resolved before the fork.
                preexec_fn=_set_parent_death_signal,
            )
        except OSError:
            self._log.close()
            raise

    def running(self) -> bool:
        """Whether the process has not exited yet."""
        return self.popen.poll() is None

    def stop(self, timeout: float) -> None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL."""
        try:
            if self.popen.poll() is None:
                self.popen.terminate()
                try:
                    self.popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.popen.kill()
                    self.popen.wait()
        finally:
            self._log.close()


# --------------------------------------------------------------------------
# Control plane


class ControlPlane:
    """etcd + kube-apiserver on 127.0.0.1, started and stopped as a unit.

    After ``start()`` (or entering the context manager), ``url``, ``ca_path``,
    and ``token`` (a bearer token of a system:masters user) describe how to
    reach the API server as a cluster admin. Process logs are
    ``work_dir/etcd.log`` and ``work_dir/kube-apiserver.log``.
    """

    def __init__(
        self,
        assets_dir: str | os.PathLike[str] | None = None,
        work_dir: str | os.PathLike[str] | None = None,
        *,
        start_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        extra_apiserver_args: Sequence[str] = (),
        keep_work_dir: bool = False,
    ) -> None:
        """Prepare (but do not start) a control plane.

        ``assets_dir`` defaults to ``find_assets()``. ``work_dir`` defaults to
        a new temporary directory, removed by ``stop()`` unless
        ``keep_work_dir``; a given ``work_dir`` is never removed.
        ``extra_apiserver_args`` are appended to the kube-apiserver flags.
        """
        self._assets_arg = assets_dir
        self._owns_work_dir = work_dir is None
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="appimage-k8s-"))
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.extra_apiserver_args = list(extra_apiserver_args)
        self.keep_work_dir = keep_work_dir

        self.pki_dir = self.work_dir / "pki"
        self.ca_path = self.pki_dir / "ca.crt"
        self.etcd_log = self.work_dir / "etcd.log"
        self.apiserver_log = self.work_dir / "kube-apiserver.log"
        self.token = secrets.token_urlsafe(32)
        self.url = ""
        self.etcd_url = ""
        self._etcd: _Process | None = None
        self._apiserver: _Process | None = None
        self._ssl_context: ssl.SSLContext | None = None

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        """Start the control plane; stop it again if starting fails."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the control plane."""
        self.stop()

    def start(self) -> None:
        """Generate PKI, start etcd and kube-apiserver, wait for ``/readyz``.

        Raises ``ControlPlaneError`` (with the tail of the relevant log) when
        a process exits early or is not ready within ``start_timeout``; the
        processes are stopped in that case.
        """
        if self._etcd is not None:
            raise ControlPlaneError("a ControlPlane can only be started once")
        atexit.register(self.stop)
        try:
            self._start()
        except BaseException:
            self.stop(_remove_work_dir=False)
            raise

    def _start(self) -> None:
        """Do the work of ``start()``; the caller cleans up on failure."""
        assets = find_assets(self._assets_arg)  # may build: not part of the timeout
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._write_pki()
        deadline = time.monotonic() + self.start_timeout

        etcd_port, peer_port, secure_port = free_ports(3)
        self.etcd_url = f"http://127.0.0.1:{etcd_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        self.url = f"https://127.0.0.1:{secure_port}"

        self._etcd = _Process(
            "etcd",
            [
                str(assets / "etcd"),
                "--name=appimage-test",
                f"--data-dir={self.work_dir / 'etcd-data'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=appimage-test={peer_url}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
            self.etcd_log,
        )
        self._wait(self._etcd, self._etcd_healthy, deadline)

        pki = self.pki_dir
        self._apiserver = _Process(
            "kube-apiserver",
            [
                str(assets / "kube-apiserver"),
                "--advertise-address=127.0.0.1",
                "--bind-address=127.0.0.1",
                f"--secure-port={secure_port}",
                f"--cert-dir={pki}",
                f"--tls-cert-file={pki / 'server.crt'}",
                f"--tls-private-key-file={pki / 'server.key'}",
                f"--client-ca-file={self.ca_path}",
                f"--token-auth-file={pki / 'tokens.csv'}",
                f"--etcd-servers={self.etcd_url}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--authorization-mode=RBAC",
                f"--service-account-issuer={self.url}",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                # As envtest: no controller-manager creates default service
                # accounts, so the ServiceAccount admission plugin would
                # reject pods.
                "--disable-admission-plugins=ServiceAccount",
                "--allow-privileged=true",
                # The "kubernetes" Endpoints cannot hold a loopback address;
                # without this the reconciler logs an error every few seconds.
                "--endpoint-reconciler-type=none",
                *self.extra_apiserver_args,
            ],
            self.apiserver_log,
        )
        self._wait(self._apiserver, self._apiserver_ready, deadline)

    def stop(self, *, _remove_work_dir: bool = True) -> None:
        """Stop kube-apiserver then etcd (SIGTERM, SIGKILL after a timeout).

        Idempotent. Removes the work dir if this object created it and
        ``keep_work_dir`` is false.
        """
        atexit.unregister(self.stop)
        for attr in ("_apiserver", "_etcd"):
            proc: _Process | None = getattr(self, attr)
            if proc is not None:
                proc.stop(self.stop_timeout)
        if _remove_work_dir and self._owns_work_dir and not self.keep_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    # -- readiness ---------------------------------------------------------

    def _wait(self, proc: _Process, probe: Callable[[], bool], deadline: float) -> None:
        """Poll ``probe()`` until true; fail on process exit or deadline."""
        while True:
            if not proc.running():
                raise ControlPlaneError(
                    f"{proc.name} exited with code {proc.popen.returncode} during start-up;"
                    f" last lines of {proc.log_path}:\n{tail(proc.log_path)}"
                )
            if probe():
                return
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    f"{proc.name} not ready after {self.start_timeout:g}s;"
                    f" last lines of {proc.log_path}:\n{tail(proc.log_path)}"
                )
            time.sleep(0.2)

    def _etcd_healthy(self) -> bool:
        """Whether etcd answers ``/health`` with ``health: true``."""
        try:
            with urllib.request.urlopen(f"{self.etcd_url}/health", timeout=2) as resp:
                health = json.load(resp)
        except (OSError, ValueError, http.client.HTTPException):
            return False
        return isinstance(health, dict) and health.get("health") == "true"

    def _apiserver_ready(self) -> bool:
        """Whether kube-apiserver answers ``/readyz`` with 200."""
        try:
            status, _ = self.request("GET", "/readyz", timeout=2)
        except (OSError, http.client.HTTPException):
            return False
        return status == 200

    # -- client helpers ----------------------------------------------------

    @property
    def pids(self) -> dict[str, int]:
        """The running processes' ids: ``etcd`` and ``kube-apiserver``."""
        return {p.name: p.popen.pid for p in (self._etcd, self._apiserver) if p is not None}

    def ssl_context(self) -> ssl.SSLContext:
        """Return an ``SSLContext`` trusting the control plane's CA."""
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context(cafile=str(self.ca_path))
        return self._ssl_context

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        timeout: float = 30.0,
    ) -> tuple[int, Any]:
        """Call the API server as admin (bearer token).

        ``body`` is sent as JSON unless it is ``bytes``. Returns the HTTP
        status and the decoded JSON response (or text if it is not JSON);
        HTTP errors are returned, not raised.
        """
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self.ssl_context(), timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def await_crd(self, name: str, timeout: float = 30.0) -> None:
        """Wait until the CustomResourceDefinition ``name`` is Established."""
        await_crd(self.request, name, timeout)

    def kubeconfig(self) -> dict[str, Any]:
        """Return an admin kubeconfig (bearer token) as a dict."""
        user = {"token": self.token}
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "appimage-test",
                    "cluster": {"server": self.url, "certificate-authority": str(self.ca_path)},
                }
            ],
            "users": [{"name": ADMIN_USER, "user": user}],
            "contexts": [
                {
                    "name": "appimage-test",
                    "context": {"cluster": "appimage-test", "user": ADMIN_USER},
                }
            ],
            "current-context": "appimage-test",
        }

    def write_kubeconfig(
        self, path: str | os.PathLike[str] | None = None
    ) -> Path:
        """Write the admin kubeconfig (JSON, valid YAML) and return its path.

        Defaults to ``work_dir/kubeconfig``; the file is mode 0600.
        """
        target = Path(path) if path is not None else self.work_dir / "kubeconfig"
        target.write_text(json.dumps(self.kubeconfig(), indent=2))
        target.chmod(0o600)
        return target

    # -- PKI ---------------------------------------------------------------

    def _write_pki(self) -> None:
        """Create the CA, serving cert, admin identity and SA signing key."""
        self.pki_dir.mkdir(parents=True, exist_ok=True)
        # The project's own certificate code: a CA (ca.crt, which also checks client
        # certificates) and the serving certificate (server.crt/.key).
        certificates.write_cert_set(
            self.pki_dir,
            ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"],
            ["127.0.0.1", "10.0.0.1"],
        )

        # Static token file: token,user,uid,"group1,group2".
        tokens = self.pki_dir / "tokens.csv"
        tokens.write_text(f'{self.token},{ADMIN_USER},{ADMIN_USER},"{ADMIN_GROUP}"\n')
        tokens.chmod(0o600)

        sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (self.pki_dir / "sa.key").write_bytes(sa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        (self.pki_dir / "sa.key").chmod(0o600)
        (self.pki_dir / "sa.pub").write_bytes(
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
