"""A real single-node Kubernetes cluster for end-to-end tests, in namespaces of its own.

``Node`` starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
containerd, kubelet and kube-proxy — the binaries of ``hack/k8s-bin.sh`` and
``hack/node-bin.sh``, Debian's containerd, runc and CNI plugins — inside a mount and
network namespace it creates (``unshare``), holding only loopback and a bridge, with no
default route: nothing the cluster does can reach a non-loopback address outside it.
The node IP sits on ``lo``; the service CIDR is routed to the bridge. ``/run``,
``/var/lib`` and ``/var/log`` are tmpfs inside the namespace, and every directory of
containerd and kubelet is under ``work_dir``, so nothing is written to the host's
``/var/lib/kubelet``, ``/opt/cni`` or ``/root/.kube``. Images come from OCI archives
(``ctr images import``): no registry is reachable, Pods use ``imagePullPolicy: Never``.

Commands that need the cluster (kubectl, helm) run inside the namespace
(``Node.run``); Python reaches it with sockets created there (``Node.connect``). A
Services-only DNS answers on the node IP (Pods' ``<svc>.<ns>.svc`` names).
``stop()`` kills every process of the namespace by PID and removes the cgroups the
kubelet made. Needs root, on cgroup v1 or v2. By hand (foreground, Ctrl-C stops it):
``python -m tests.support.k8s.node $(hack/image.sh | tail -1)``.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import http.client
import json
import os
import queue
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.k8s import controlplane
from webhook.ops import certificates

NODE_BIN_SCRIPT = controlplane.REPO_ROOT / "hack" / "node-bin.sh"
OCI_SCRIPT = controlplane.REPO_ROOT / "hack" / "oci.py"
NODE_ASSETS_ENV = "APPIMAGE_NODE_ASSETS"
NODE_BINARIES = ("kubelet", "kube-proxy", "kube-controller-manager", "kube-scheduler",
                 "kubectl", "pause")
HOST_TOOLS = ("containerd", "containerd-shim-runc-v2", "runc", "ctr", "iptables", "unshare",
              "nsenter", "ip", "mount")
CNI_BIN_DIR = Path("/usr/lib/cni")  # Debian's containernetworking-plugins

NODE_NAME = "appimage-node"
NODE_IP = "10.244.255.1"  # on lo inside the namespace; nothing outside knows it
POD_CIDR = "10.88.0.0/24"
POD_GATEWAY = "10.88.0.1"
SERVICE_CIDR = "10.96.0.0/24"
KUBERNETES_SERVICE_IP = "10.96.0.1"
APISERVER_PORT = 6443
BRIDGE = "cni0"
PAUSE_IMAGE = "localhost/appimage-node/pause:1"
CLONE_NEWNET = 0x40000000


class NodeError(RuntimeError):
    """The node could not be built, started or reached."""


def missing_prerequisites() -> list[str]:
    """What this machine lacks to run a node (empty: nothing)."""
    missing = [tool for tool in HOST_TOOLS if shutil.which(tool) is None]
    missing += [f"{CNI_BIN_DIR}/{p}" for p in ("bridge", "host-local", "loopback", "portmap")
                if not (CNI_BIN_DIR / p).exists()]
    if os.geteuid() != 0:
        missing.append("root")
    return missing


def find_node_assets() -> Path:
    """The directory of hack/node-bin.sh's binaries, built (or reused) now."""
    env = os.environ.get(NODE_ASSETS_ENV)
    if env and all(os.access(Path(env) / name, os.X_OK) for name in NODE_BINARIES):
        return Path(env)
    try:
        done = subprocess.run(["bash", str(NODE_BIN_SCRIPT)], stdout=subprocess.PIPE, text=True,
                              check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        raise NodeError(f"{NODE_BIN_SCRIPT} failed: {e}") from e
    path = Path(done.stdout.strip().splitlines()[-1])
    missing = [name for name in NODE_BINARIES if not os.access(path / name, os.X_OK)]
    if missing:
        raise NodeError(f"{path}: missing {', '.join(missing)}")
    return path


# --------------------------------------------------------------------------
# Sockets inside the namespace


class _Dialer:
    """A thread that joined the node's network namespace (setns(2) is per thread), and
    creates connected sockets there for any caller: a socket keeps its namespace."""

    def __init__(self, netns: Path) -> None:
        self._requests: queue.Queue[tuple[Callable[[], Any], queue.Queue[Any]] | None] = (
            queue.Queue())
        ready: queue.Queue[BaseException | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, args=(netns, ready), daemon=True,
                                        name="node-netns-dialer")
        self._thread.start()
        error = ready.get()
        if error is not None:
            raise NodeError(f"cannot enter {netns}: {error}")

    def _run(self, netns: Path, ready: queue.Queue[BaseException | None]) -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            with netns.open("rb") as f:
                if libc.setns(f.fileno(), CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        except BaseException as e:  # reported to the constructor
            ready.put(e)
            return
        ready.put(None)
        while (item := self._requests.get()) is not None:
            call, reply = item
            try:
                reply.put(call())
            except OSError as e:
                reply.put(e)

    def call(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` run in the namespace (what it creates, a socket, stays there)."""
        reply: queue.Queue[Any] = queue.Queue()
        self._requests.put((fn, reply))
        got = reply.get()
        if isinstance(got, BaseException):
            raise got
        return got

    def connect(self, address: tuple[str, int], timeout: float) -> socket.socket:
        sock = self.call(lambda: socket.create_connection(address, timeout=timeout))
        assert isinstance(sock, socket.socket)
        return sock

    def close(self) -> None:
        self._requests.put(None)


class _NetnsHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, dialer: _Dialer, host: str, port: int, *, context: ssl.SSLContext,
                 server_hostname: str | None, timeout: float) -> None:
        super().__init__(host, port, context=context, timeout=timeout)
        self._dialer = dialer
        self._server_hostname = server_hostname or host
        self._ctx = context

    def connect(self) -> None:
        raw = self._dialer.connect((self.host, self.port), self.timeout or 30.0)
        self.sock = self._ctx.wrap_socket(raw, server_hostname=self._server_hostname)


# --------------------------------------------------------------------------
# Cluster DNS: Services only


class _ServiceDNS:
    """The cluster's DNS, as small as the tests need: ``<svc>.<ns>.svc.cluster.local`` A
    records from the API server (Services' ClusterIPs), NXDOMAIN for any other name, on
    UDP port 53 of the node IP. Pods get it as their nameserver (kubelet clusterDNS), so
    names like the chart's ``<fullname>.<ns>.svc`` resolve (helm test)."""

    def __init__(self, node: Node, sock: socket.socket) -> None:
        self._node = node
        self._sock = sock
        self._sock.settimeout(0.5)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="node-dns")
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                query, peer = self._sock.recvfrom(512)
            except TimeoutError:
                continue
            except OSError:
                return
            with contextlib.suppress(Exception):  # a malformed query gets no answer
                self._sock.sendto(self._answer(query), peer)

    def _answer(self, query: bytes) -> bytes:
        labels, i = [], 12
        while query[i]:
            labels.append(query[i + 1:i + 1 + query[i]].decode("ascii").lower())
            i += 1 + query[i]
        qtype = int.from_bytes(query[i + 1:i + 3], "big")
        question = query[12:i + 5]
        ip = self._cluster_ip(labels)
        records = b""
        if ip and qtype == 1:
            records = (b"\xc0\x0c" + (1).to_bytes(2, "big") + (1).to_bytes(2, "big")
                       + (5).to_bytes(4, "big") + (4).to_bytes(2, "big") + socket.inet_aton(ip))
        flags = 0x8180 if ip else 0x8183  # a response, recursion available; NXDOMAIN
        header = (query[:2] + flags.to_bytes(2, "big") + (1).to_bytes(2, "big")
                  + (1 if records else 0).to_bytes(2, "big") + bytes(4))
        return header + question + records

    def _cluster_ip(self, labels: list[str]) -> str | None:
        if len(labels) != 5 or labels[2:] != ["svc", "cluster", "local"]:
            return None
        service, namespace = labels[0], labels[1]
        status, got = self._node.api("GET", f"/api/v1/namespaces/{namespace}/services/{service}",
                                     timeout=5)
        if status != 200:
            return None
        ip = got.get("spec", {}).get("clusterIP")
        return ip if isinstance(ip, str) and ip != "None" else None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()


# --------------------------------------------------------------------------
# The node


class Node:
    """The cluster; ``start()``/``stop()`` or a context manager. ``kubeconfig`` is an
    admin kubeconfig for use inside the namespace (``run``)."""

    def __init__(self, images: Sequence[Path] = (), work_dir: Path | None = None, *,
                 k8s_assets: Path | None = None, node_assets: Path | None = None,
                 start_timeout: float = 120.0) -> None:
        self.images = list(images)
        self._owns_work_dir = work_dir is None
        # Short: containerd's and the shims' socket paths live under it (108-byte limit).
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="aw-node-"))
        self._k8s_assets = k8s_assets
        self._node_assets = node_assets
        self.start_timeout = start_timeout
        self.token = secrets.token_urlsafe(32)
        self.pki = self.work_dir / "pki"
        self.kubeconfig = self.work_dir / "kubeconfig"
        self.url = f"https://{NODE_IP}:{APISERVER_PORT}"
        self.cgroup_root = f"/appimage-node-{secrets.token_hex(4)}"
        self.timings: dict[str, float] = {}
        self._holder: subprocess.Popen[bytes] | None = None
        self._procs: list[controlplane._Process] = []
        self._dialer: _Dialer | None = None
        self._dns: _ServiceDNS | None = None
        self._ssl: ssl.SSLContext | None = None

    def __enter__(self) -> Node:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- running things inside ---------------------------------------------

    def _nsenter(self) -> list[str]:
        assert self._holder is not None
        return ["nsenter", f"--target={self._holder.pid}", "--net", "--mount", "--"]

    def run(self, argv: Sequence[str], *, check: bool = True, timeout: float = 120.0,
            input_: str | None = None, env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
        """Run a command inside the namespace, KUBECONFIG set; its output captured. HOME
        and the caches of kubectl and helm are under the work dir: nothing in ~/.kube."""
        home = self.work_dir / "home"
        full_env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "HOME": str(home),
                    "KUBECACHEDIR": str(home / "kube-cache"),
                    "HELM_CONFIG_HOME": str(home / "helm-config"),
                    "HELM_CACHE_HOME": str(home / "helm-cache"),
                    "HELM_DATA_HOME": str(home / "helm-data"), **(env or {})}
        done = subprocess.run([*self._nsenter(), *argv], capture_output=True, text=True,
                              timeout=timeout, check=False, env=full_env, input=input_)
        if check and done.returncode != 0:
            raise NodeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n"
                            f"{done.stderr}")
        return done

    def kubectl(self, *args: str, check: bool = True, input_: str | None = None,
                timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        return self.run([str(self.node_assets / "kubectl"), *args], check=check, input_=input_,
                        timeout=timeout)

    def connect(self, host: str, port: int, timeout: float = 10.0) -> socket.socket:
        """A TCP connection made inside the namespace (to a Pod, a Service, the API)."""
        assert self._dialer is not None, "the node is not started"
        return self._dialer.connect((host, port), timeout)

    def https(self, host: str, port: int, *, context: ssl.SSLContext,
              server_hostname: str | None = None, timeout: float = 30.0,
              ) -> http.client.HTTPSConnection:
        """An HTTPS connection to ``host:port`` inside the namespace."""
        assert self._dialer is not None, "the node is not started"
        return _NetnsHTTPSConnection(self._dialer, host, port, context=context,
                                     server_hostname=server_hostname, timeout=timeout)

    def api(self, method: str, path: str, body: Any = None, *,
            content_type: str = "application/json", timeout: float = 30.0) -> tuple[int, Any]:
        """Call the API server as admin; (status, decoded JSON or text)."""
        if self._ssl is None:
            self._ssl = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        conn = self.https(NODE_IP, APISERVER_PORT, context=self._ssl, timeout=timeout)
        try:
            data = None if body is None else (body if isinstance(body, bytes)
                                              else json.dumps(body).encode())
            headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
            if data is not None:
                headers["Content-Type"] = content_type
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            try:
                return response.status, json.loads(raw)
            except ValueError:
                return response.status, raw.decode(errors="replace")
        finally:
            conn.close()

    # -- lifecycle -----------------------------------------------------------

    @property
    def node_assets(self) -> Path:
        if self._node_assets is None:
            self._node_assets = find_node_assets()
        return self._node_assets

    def start(self) -> None:
        missing = missing_prerequisites()
        if missing:
            raise NodeError(f"missing on this machine: {', '.join(missing)}")
        k8s = self._k8s_assets or controlplane.find_assets(
            os.environ.get(controlplane.ASSETS_ENV) or None)
        node = self.node_assets  # may build: not part of the timings
        atexit.register(self.stop)
        try:
            self._start(k8s, node)
        except BaseException:
            self.stop(remove=False)
            raise

    def _start(self, k8s: Path, node: Path) -> None:
        began = time.monotonic()
        deadline = began + self.start_timeout
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._make_namespace()
        self._write_pki()
        self._write_kubeconfig()
        w = self.work_dir

        self._spawn("etcd", [
            str(k8s / "etcd"), "--name=node", f"--data-dir={w / 'etcd'}",
            "--listen-client-urls=http://127.0.0.1:2379",
            "--advertise-client-urls=http://127.0.0.1:2379",
            "--listen-peer-urls=http://127.0.0.1:2380",
            "--initial-advertise-peer-urls=http://127.0.0.1:2380",
            "--initial-cluster=node=http://127.0.0.1:2380",
            "--unsafe-no-fsync=true", "--log-level=warn"])
        pki = self.pki
        self._spawn("kube-apiserver", [
            str(k8s / "kube-apiserver"), f"--advertise-address={NODE_IP}",
            "--bind-address=0.0.0.0", f"--secure-port={APISERVER_PORT}",
            f"--cert-dir={pki}", f"--tls-cert-file={pki / 'server.crt'}",
            f"--tls-private-key-file={pki / 'server.key'}", f"--client-ca-file={pki / 'ca.crt'}",
            f"--token-auth-file={pki / 'tokens.csv'}", "--etcd-servers=http://127.0.0.1:2379",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--kubelet-preferred-address-types=InternalIP", "--profiling=false"])
        self._await("kube-apiserver", lambda: self._get_ok("/readyz"), deadline)
        kubeconfig = str(self.kubeconfig)
        self._spawn("kube-controller-manager", [
            str(node / "kube-controller-manager"), f"--kubeconfig={kubeconfig}",
            "--leader-elect=false", "--bind-address=127.0.0.1",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}", f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--use-service-account-credentials=false", "--controllers=*,-nodeipam"])
        self._spawn("kube-scheduler", [
            str(node / "kube-scheduler"), f"--kubeconfig={kubeconfig}",
            "--leader-elect=false", "--bind-address=127.0.0.1"])

        self._write_containerd_config()
        self._spawn("containerd", ["containerd", f"--config={w / 'containerd.toml'}"])
        sock = w / "c" / "containerd.sock"
        self._await("containerd", sock.exists, deadline)
        self._import_images(node)
        self.timings["images_imported"] = time.monotonic() - began

        self._start_dns()
        self._write_kubelet_config()
        self._make_cgroup_root()
        self._spawn("kubelet", [
            str(node / "kubelet"), f"--config={w / 'kubelet.yaml'}",
            f"--kubeconfig={kubeconfig}", f"--root-dir={w / 'kubelet'}",
            f"--cert-dir={w / 'kubelet' / 'pki'}", f"--hostname-override={NODE_NAME}",
            f"--node-ip={NODE_IP}", "--v=1"])
        self._write_proxy_config()
        self._spawn("kube-proxy", [str(node / "kube-proxy"), f"--config={w / 'kube-proxy.yaml'}"])
        self._await("node", self._node_ready, deadline)
        self.timings["node_ready"] = time.monotonic() - began

    def _start_dns(self) -> None:
        assert self._dialer is not None

        def bind() -> socket.socket:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((NODE_IP, 53))
            return sock

        self._dns = _ServiceDNS(self, self._dialer.call(bind))

    def _spawn(self, name: str, argv: list[str]) -> None:
        self._procs.append(controlplane._Process(
            name, [*self._nsenter(), *argv], self.work_dir / f"{name}.log"))

    def log(self, name: str) -> Path:
        return self.work_dir / f"{name}.log"

    def _await(self, what: str, probe: Callable[[], bool], deadline: float) -> None:
        while not probe():
            for proc in self._procs:
                if not proc.running():
                    raise NodeError(f"{proc.name} exited ({proc.popen.returncode}):\n"
                                    f"{controlplane.tail(proc.log_path)}")
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {p.name}\n{controlplane.tail(p.log_path, 15)}"
                                 for p in self._procs)
                raise NodeError(f"{what} not ready in {self.start_timeout:g}s\n{logs}")
            time.sleep(0.2)

    def _get_ok(self, path: str) -> bool:
        try:
            status, _ = self.api("GET", path, timeout=3)
        except (OSError, http.client.HTTPException):
            return False
        return status == 200

    def _node_ready(self) -> bool:
        try:
            status, got = self.api("GET", f"/api/v1/nodes/{NODE_NAME}", timeout=3)
        except (OSError, http.client.HTTPException):
            return False
        if status != 200:
            return False
        conditions = {c["type"]: c["status"] for c in got.get("status", {}).get("conditions", [])}
        return conditions.get("Ready") == "True"

    # -- namespace -----------------------------------------------------------

    def _make_namespace(self) -> None:
        # The holder keeps the namespaces alive; it exits when its stdin closes (stop).
        self._holder = subprocess.Popen(
            ["unshare", "--mount", "--net", "--propagation", "private", "--", "cat"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            preexec_fn=controlplane._set_parent_death_signal)
        netns = Path(f"/proc/{self._holder.pid}/ns/net")
        deadline = time.monotonic() + 10
        # unshare execs cat once the namespaces exist: wait for the inode to change.
        host = os.stat("/proc/self/ns/net").st_ino
        while os.stat(netns).st_ino == host:
            if self._holder.poll() is not None or time.monotonic() > deadline:
                raise NodeError("unshare did not create the namespaces")
            time.sleep(0.01)
        steps = [
            ["mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", "/run"],
            ["mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", "/var/lib"],
            ["mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", "/var/log"],
            ["ip", "link", "set", "lo", "up"],
            ["ip", "addr", "add", f"{NODE_IP}/32", "dev", "lo"],
            ["ip", "link", "add", BRIDGE, "type", "bridge"],
            ["ip", "addr", "add", f"{POD_GATEWAY}/24", "dev", BRIDGE],
            ["ip", "link", "set", BRIDGE, "up"],
            ["ip", "route", "add", SERVICE_CIDR, "dev", BRIDGE, "src", NODE_IP],
            ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"],
        ]
        for step in steps:
            self.run(step, timeout=10)
        self.run(["sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=1"], check=False)
        self._dialer = _Dialer(netns)

    def _netns_pids(self) -> list[int]:
        """Every process in the node's network namespace but the holder."""
        if self._holder is None:
            return []
        try:
            ns = os.stat(f"/proc/{self._holder.pid}/ns/net").st_ino
        except OSError:
            return []
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != self._holder.pid:
                with contextlib.suppress(OSError):
                    if os.stat(f"/proc/{entry}/ns/net").st_ino == ns:
                        pids.append(int(entry))
        return pids

    # -- configuration -------------------------------------------------------

    def _write_pki(self) -> None:
        certificates.write_cert_set(
            self.pki, ["kubernetes", "kubernetes.default", "kubernetes.default.svc",
                       "kubernetes.default.svc.cluster.local", "localhost"],
            ["127.0.0.1", NODE_IP, KUBERNETES_SERVICE_IP])
        tokens = self.pki / "tokens.csv"
        tokens.write_text(f'{self.token},admin,admin,"system:masters"\n')
        tokens.chmod(0o600)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (self.pki / "sa.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        (self.pki / "sa.pub").write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    def _write_kubeconfig(self) -> None:
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "node",
            "clusters": [{"name": "node", "cluster": {
                "server": self.url, "certificate-authority": str(self.pki / "ca.crt")}}],
            "users": [{"name": "admin", "user": {"token": self.token}}],
            "contexts": [{"name": "node", "context": {"cluster": "node", "user": "admin"}}],
        }
        self.kubeconfig.write_text(json.dumps(config, indent=2))
        self.kubeconfig.chmod(0o600)

    def _write_containerd_config(self) -> None:
        c = self.work_dir / "c"
        cni = self.work_dir / "cni"
        cni.mkdir(parents=True, exist_ok=True)
        (cni / "10-node.conflist").write_text(json.dumps({
            "cniVersion": "1.0.0", "name": "appimage-node", "plugins": [
                {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False,
                 "hairpinMode": True, "ipam": {"type": "host-local",
                                               "ranges": [[{"subnet": POD_CIDR,
                                                            "gateway": POD_GATEWAY}]],
                                               "routes": [{"dst": "0.0.0.0/0"}]}},
                {"type": "portmap", "capabilities": {"portMappings": True}},
                {"type": "loopback"}]}))
        # restrict_oom_score_adj: no CAP_SYS_RESOURCE here; without it runc cannot lower
        # a container's oom_score_adj and fails ("can't get final child's PID from pipe").
        # The opt plugin would write /opt/containerd: disabled.
        (self.work_dir / "containerd.toml").write_text(f"""\
version = 2
root = "{c}/root"
state = "{c}/state"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{c}/containerd.sock"
[ttrpc]
  address = "{c}/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{cni}"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
""")

    def _import_images(self, node: Path) -> None:
        pause = self._pause_archive(node)
        for archive in [pause, *self.images]:
            self.import_image(archive)

    def import_image(self, archive: Path) -> None:
        """Import an OCI archive into the running node, named by its tag and by its digest
        (``repo@sha256:…``, as a chart's ``image.digest`` refers to it: with no registry to
        resolve it, the name must exist)."""
        sock = self.work_dir / "c" / "containerd.sock"
        ctr = ["ctr", f"--address={sock}", "-n", "k8s.io", "images"]
        self.run([*ctr, "import", str(archive)], timeout=300)
        with tarfile.open(archive) as tar:
            member = tar.extractfile("index.json")
            assert member is not None
            index = json.load(member)
        for manifest in index["manifests"]:
            name = (manifest.get("annotations") or {}).get("io.containerd.image.name")
            if name:
                repo = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
                self.run([*ctr, "tag", "--force", name, f"{repo}@{manifest['digest']}"])

    def _pause_archive(self, node: Path) -> Path:
        layer_dir = self.work_dir / "pause-layer"
        layer_dir.mkdir(exist_ok=True)
        shutil.copy2(node / "pause", layer_dir / "pause")
        (layer_dir / "pause").chmod(0o755)
        layer = self.work_dir / "pause-layer.tar"
        archive = self.work_dir / "pause.oci.tar"
        subprocess.run([sys.executable, str(OCI_SCRIPT), "layer", str(layer_dir), str(layer)],
                       check=True)
        config = {"architecture": "amd64", "os": "linux",
                  "config": {"Entrypoint": ["/pause"], "User": "65535:65535"}}
        subprocess.run([sys.executable, str(OCI_SCRIPT), "image", str(archive),
                        "--name", PAUSE_IMAGE, "--layer", str(layer),
                        "--config", json.dumps(config)], check=True, stdout=subprocess.DEVNULL)
        return archive

    def _write_kubelet_config(self) -> None:
        w = self.work_dir
        (w / "resolv.conf").write_text("")
        (w / "kubelet.yaml").write_text(json.dumps({
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            # This kernel: cgroup v1, no systemd, swap on.
            "failCgroupV1": False, "cgroupDriver": "cgroupfs", "failSwapOn": False,
            "cgroupRoot": self.cgroup_root,
            "containerRuntimeEndpoint": f"unix://{w / 'c' / 'containerd.sock'}",
            "address": NODE_IP, "port": 10250, "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1", "healthzPort": 10248,
            "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
            "authorization": {"mode": "AlwaysAllow"},
            "resolvConf": str(w / "resolv.conf"),
            "clusterDNS": [NODE_IP], "clusterDomain": "cluster.local",
            "podCIDR": POD_CIDR,
            # A test node on a shared disk: never evict, never collect images.
            "evictionHard": {"memory.available": "1Mi", "nodefs.available": "0%",
                             "imagefs.available": "0%", "nodefs.inodesFree": "0%"},
            "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
            "serializeImagePulls": False,
            "protectKernelDefaults": False,
            "localStorageCapacityIsolation": False,
            "enforceNodeAllocatable": [],
            "nodeStatusUpdateFrequency": "2s", "nodeStatusReportFrequency": "10s",
            "syncFrequency": "5s", "fileCheckFrequency": "5s",
        }))

    def _write_proxy_config(self) -> None:
        (self.work_dir / "kube-proxy.yaml").write_text(json.dumps({
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
            "mode": "iptables", "clusterCIDR": POD_CIDR, "hostnameOverride": NODE_NAME,
            "bindAddress": "127.0.0.1", "metricsBindAddress": "127.0.0.1:10249",
            "healthzBindAddress": "127.0.0.1:10256",
            "clientConnection": {"kubeconfig": str(self.kubeconfig)},
            # Pod -> Service -> Pod on one bridge: masquerade so replies come back through
            # the node's NAT. Conntrack sysctls are the host's: leave them alone.
            "iptables": {"masqueradeAll": True, "syncPeriod": "5s", "minSyncPeriod": "0s"},
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s",
                          "tcpCloseWaitTimeout": "0s"},
        }))

    # -- cgroups -------------------------------------------------------------

    def _cgroup_dirs(self) -> list[Path]:
        """The kubelet's cgroup root in every hierarchy mounted here."""
        base = Path("/sys/fs/cgroup")
        if (base / "cgroup.controllers").exists():  # v2
            return [base / self.cgroup_root.lstrip("/")]
        return [d / self.cgroup_root.lstrip("/") for d in sorted(base.iterdir())
                if d.is_dir() and not d.is_symlink()]

    def kill(self, pid: int, sig: int) -> None:
        """Signal one process of the node (a container's, found by ``container_pids``)."""
        os.kill(pid, sig)

    def container_pids(self, container_id: str) -> list[int]:
        """The processes of a running container (its ID without ``containerd://``)."""
        pids_root = Path("/sys/fs/cgroup/pids") / self.cgroup_root.lstrip("/")
        if not pids_root.exists():  # cgroup v2: one hierarchy
            pids_root = self._cgroup_dirs()[0]
        found: list[int] = []
        for procs in pids_root.rglob(f"*{container_id}*/cgroup.procs"):
            found += [int(pid) for pid in procs.read_text().split()]
        return found

    def _make_cgroup_root(self) -> None:
        for d in self._cgroup_dirs():
            d.mkdir(exist_ok=True)
            if d.parent.name == "cpuset":  # a new cpuset has no CPUs until given some
                for f in ("cpuset.cpus", "cpuset.mems"):
                    (d / f).write_text((d.parent / f).read_text())

    def _remove_cgroups(self, timeout: float = 15.0) -> None:
        """Kill what is left in the kubelet's cgroups and remove them, deepest first; a
        cgroup whose killed tasks have not exited yet is busy: retried, bounded."""
        deadline = time.monotonic() + timeout
        while True:
            left = [root for root in self._cgroup_dirs() if root.exists()]
            if not left or time.monotonic() > deadline:
                break
            for root in left:
                deepest_first = sorted((p for p in root.rglob("*") if p.is_dir()),
                                       key=lambda p: len(p.parts), reverse=True)
                for d in [*deepest_first, root]:
                    with contextlib.suppress(OSError):
                        for pid in (d / "cgroup.procs").read_text().split():
                            with contextlib.suppress(ProcessLookupError):
                                os.kill(int(pid), signal.SIGKILL)
                    with contextlib.suppress(OSError):
                        d.rmdir()
            time.sleep(0.05)
        if left:
            raise NodeError(f"cgroups not removed in {timeout:g}s: {left}")

    # -- teardown ------------------------------------------------------------

    def stop(self, *, remove: bool = True) -> None:
        """Kill the node's processes by PID (components, shims, containers), remove the
        cgroups, let the namespaces go, remove the work dir (if ours)."""
        atexit.unregister(self.stop)
        for proc in reversed(self._procs):
            proc.stop(10.0)
        self._procs = []
        for _ in range(50):  # shims and containers re-parented away from us
            pids = self._netns_pids()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        error: NodeError | None = None
        try:
            self._remove_cgroups()
        except NodeError as e:  # reported once the namespaces are gone too
            error = e
        if self._dns is not None:
            self._dns.close()
            self._dns = None
        if self._dialer is not None:
            self._dialer.close()
            self._dialer = None
        if self._holder is not None:
            assert self._holder.stdin is not None
            self._holder.stdin.close()
            try:
                self._holder.wait(10)
            except subprocess.TimeoutExpired:
                self._holder.kill()
                self._holder.wait()
            self._holder = None
        if remove and self._owns_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)
        if error is not None:
            raise error


@contextlib.contextmanager
def running(images: Sequence[Path] = ()) -> Iterator[Node]:
    with Node(images) as node:
        yield node


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m tests.support.k8s.node [OCI archive…]``: the node for a person, in the foreground
    until Ctrl-C (or SIGTERM), then torn down as the tests do."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.support.k8s.node", description=main.__doc__)
    parser.add_argument("images", nargs="*", type=Path, help="OCI archives to import")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Node(args.images) as node:
        print(f"node Ready in {node.timings['node_ready']:.1f} s; inside its namespaces:\n"
              f"  nsenter --target={node._holder.pid if node._holder else '?'} --net --mount -- "
              f"env KUBECONFIG={node.kubeconfig} {node.node_assets / 'kubectl'} get nodes\n"
              "Ctrl-C stops it.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


if __name__ == "__main__":
    main()
