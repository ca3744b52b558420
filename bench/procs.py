"""The processes a benchmark run starts: pinning, start, readiness, logs, RSS, stop.

Every server started here is stopped when the ``Processes`` block is left, also on
Ctrl-C or an error: SIGTERM to all, SIGKILL to what is still running after a timeout.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL when stopping a server
READY_TIMEOUT = 60.0  # seconds a server gets to answer (a first Go build is not in this)
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """The run cannot give trustworthy numbers (a server died, a wrong answer, ...)."""


@dataclass(frozen=True, slots=True)
class Pinning:
    server: tuple[str, ...]
    client: tuple[str, ...]
    note: str


def pinning() -> Pinning:
    taskset = shutil.which("taskset")
    if taskset is None:
        return Pinning((), (), "not pinned: taskset is missing (figures are noisier)")
    allowed = os.sched_getaffinity(0)
    if not {0, 1} <= allowed:
        return Pinning((), (), f"not pinned: CPUs 0 and 1 are not both usable (have {sorted(allowed)})")
    return Pinning((taskset, "-c", "0"), (taskset, "-c", "1"),
                   "servers on CPU 0, load generators on CPU 1")


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MiB (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE / 2**20
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return 0.0


class Processes:
    """The servers this run started; leaving the ``with`` block stops every one of them."""

    def __init__(self, log_dir: Path, pin: Sequence[str]) -> None:
        self._log_dir = log_dir
        self._pin = tuple(pin)
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    def log(self, name: str) -> Path:
        return self._log_dir / f"{name}.log"

    def start(self, name: str, argv: Sequence[str], *, pin: bool = True) -> subprocess.Popen[bytes]:
        # The servers read no APPIMAGE_* settings from our environment (a token file there
        # would turn every request into a 401), and get their own session so a Ctrl-C
        # reaches only us: we stop them in order, below.
        env = {k: v for k, v in os.environ.items() if not k.startswith("APPIMAGE_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        with self.log(name).open("wb") as log:
            proc = subprocess.Popen(
                [*(self._pin if pin else ()), *argv], stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, cwd=ROOT, env=env, start_new_session=True)
        self.running[name] = proc
        return proc

    def pid(self, name: str) -> int:
        return self.running[name].pid

    def tail(self, name: str, lines: int = 20) -> str:
        try:
            return "\n".join(self.log(name).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def check_alive(self) -> None:
        for name, proc in self.running.items():
            if proc.poll() is not None:
                raise BenchError(f"{name} exited with status {proc.returncode}; its log ends:\n"
                                 f"{self.tail(name)}")

    def problems(self, limit: int = 5) -> list[str]:
        """Log lines at level error or worse, and tracebacks (at most ``limit`` per server)."""
        found: list[str] = []
        for name in self.running:
            try:
                lines = self.log(name).read_text(errors="replace").splitlines()
            except OSError:
                continue
            bad = [line for line in lines if '"level":"error"' in line or '"level":"critical"' in line
                   or line.startswith("Traceback")]
            found += [f"{name}: {line[:400]}" for line in bad[:limit]]
            if len(bad) > limit:
                found.append(f"{name}: ... and {len(bad) - limit} more")
        return found

    def stop(self, name: str) -> None:
        proc = self.running.pop(name)
        _stop([proc])

    def stop_all(self) -> None:
        """SIGTERM to all, then SIGKILL to any still running after STOP_TIMEOUT."""
        # A second Ctrl-C while we wait must not leave servers behind.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            _stop(list(self.running.values()))
            self.running.clear()
        finally:
            signal.signal(signal.SIGINT, previous)


def _stop(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT
    for proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 now (all held until all are chosen, so they differ)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def call(method: str, url: str, body: bytes | None = None,
         context: ssl.SSLContext | None = None, timeout: float = 30) -> tuple[int, bytes]:
    """One request on a fresh connection: (HTTP status, body)."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port
    conn = (http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
            if parts.scheme == "https" else http.client.HTTPConnection(host, port, timeout=timeout))
    try:
        conn.request(method, parts.path or "/", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_ready(procs: Processes, name: str, ready: Callable[[], bool],
               timeout: float = READY_TIMEOUT, poll: float = 0.05) -> float:
    """Seconds until ``ready()`` is true, polling; BenchError if the server dies or
    ``timeout`` passes."""
    started = time.monotonic()
    while True:
        procs.check_alive()
        with contextlib.suppress(OSError, http.client.HTTPException):
            if ready():
                return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise BenchError(f"{name} not ready after {timeout:g} s; its log ends:\n{procs.tail(name)}")
        time.sleep(poll)
