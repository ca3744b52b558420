"""The real service as a subprocess, for tests that go over the network.

``ServerProcess`` runs ``python -m webhook serve`` on 127.0.0.1 with every listener
on port 0, reads the bound ports from the "NAME listening on URL" lines ``serve``
prints, and waits until the probe listener's ``/readyz`` answers 200. Output goes to
files in the work directory, so a failed start shows the server's own stderr.

Usage, as a context manager or from a fixture::

    with ServerProcess(tmp_path, token_file=token) as server:
        server.rest_url        # https://127.0.0.1:PORT
        server.printed["rest"]  # https://localhost:PORT, as serve printed it

``stop`` sends SIGTERM, waits, and falls back to SIGKILL; a process is never left
behind, also when the test or the start fails. ``run`` is for a start meant to fail:
the process runs to its exit, its output captured.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pathlib
import re
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from types import TracebackType

from tests.support import pki
from webhook.ops import certificates

START_TIMEOUT = 20.0
"""Seconds from spawning to /readyz 200; a cold start takes about one."""
STOP_TIMEOUT = 20.0
"""Seconds SIGTERM gets before SIGKILL; above the service's own shutdown timeout."""
POLL_INTERVAL = 0.05
LOG_TAIL_CHARS = 4000

LISTENING = re.compile(r"^(?P<name>\S+)\s+listening on (?P<url>\S+)\s*$", re.MULTILINE)
FIRST_REQUEST = re.compile(r"^first request:\n\s+(?P<command>curl .+)$", re.MULTILINE)
LISTENERS = ("probe", "rest", "webhook", "grpc")


class ServerError(RuntimeError):
    """The server did not start (or stop) as expected; the message holds its stderr."""


def _loopback(url: str) -> str:
    # serve prints "localhost" for 127.0.0.1; clients use the address itself so that
    # nothing depends on how localhost resolves (it may try ::1 first).
    return re.sub(r"^(https?)://localhost:", r"\1://127.0.0.1:", url)


class ServerProcess:
    """``appimage-webhook serve`` in a subprocess; see the module docstring."""

    def __init__(
        self,
        work_dir: pathlib.Path,
        *,
        cert_dir: pathlib.Path | None = None,
        tls_mode: str = "mtls",
        token_file: pathlib.Path | None = None,
        db_path: pathlib.Path | None = None,
        extra_args: Sequence[str] = (),
        name: str = "server",
        wait_ready: bool = True,
    ) -> None:
        self.work_dir = work_dir
        self.cert_dir = cert_dir if cert_dir is not None else work_dir / "certs"
        self.tls_mode = tls_mode
        self.token_file = token_file
        self.db_path = db_path if db_path is not None else work_dir / "appimage.db"
        self.extra_args = tuple(extra_args)
        self.wait_ready = wait_ready
        """False for a server meant never to be ready (its store is down): listening is enough."""
        self.stdout_path = work_dir / f"{name}.stdout"
        self.stderr_path = work_dir / f"{name}.stderr"
        self.printed: dict[str, str] = {}
        """Listener name -> URL exactly as ``serve`` printed it."""
        self.first_request = ""
        """The ready-to-paste curl ``serve`` printed."""
        self._process: subprocess.Popen[bytes] | None = None

    # --- what tests use ----------------------------------------------------------

    @property
    def argv(self) -> list[str]:
        argv = [
            sys.executable, "-m", "webhook", "serve",
            "--rest-addr", "127.0.0.1:0",
            "--webhook-addr", "127.0.0.1:0",
            "--probe-addr", "127.0.0.1:0",
            "--grpc-addr", "127.0.0.1:0",
            "--tls-mode", self.tls_mode,
            "--cert-dir", str(self.cert_dir),
            "--store", f"sqlite:///{self.db_path}",
        ]
        if self.token_file is not None:
            argv += ["--token-file", str(self.token_file)]
        return argv + list(self.extra_args)

    @property
    def process(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise ServerError("the server has not been started")
        return self._process

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def rest_url(self) -> str:
        return _loopback(self.printed["rest"])

    @property
    def webhook_url(self) -> str:
        return _loopback(self.printed["webhook"])

    @property
    def probe_url(self) -> str:
        return _loopback(self.printed["probe"])

    @property
    def grpc_target(self) -> str:
        """``127.0.0.1:PORT`` of the gRPC listener."""
        return _loopback(self.printed["grpc"]).split("://", 1)[1]

    @property
    def cert_paths(self) -> certificates.Paths:
        return certificates.Paths.found_in(self.cert_dir)

    def client_context(self, *, with_cert: bool = True) -> ssl.SSLContext:
        """A client context trusting the server's CA, with its client certificate."""
        paths = self.cert_paths
        if with_cert:
            return pki.client_context(paths.ca, paths.client_cert, paths.client_key)
        return pki.client_context(paths.ca)

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def readyz(self, timeout: float = 2.0) -> int | None:
        """The HTTP status of GET /readyz, or None when nothing answers."""
        try:
            with urllib.request.urlopen(self.probe_url + "/readyz", timeout=timeout) as r:
                return int(r.status)
        except urllib.error.HTTPError as e:
            return int(e.code)
        except (urllib.error.URLError, OSError):
            return None

    def metrics(self) -> str:
        """The Prometheus exposition of GET /metrics."""
        with urllib.request.urlopen(self.probe_url + "/metrics", timeout=5.0) as r:
            return str(r.read().decode())

    # --- lifecycle ---------------------------------------------------------------

    @staticmethod
    def _env() -> dict[str, str]:
        # The flags say everything; APPIMAGE_* variables of whoever runs the tests must
        # not change what is started.
        env = {k: v for k, v in os.environ.items() if not k.startswith("APPIMAGE_")}
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def run(self, timeout: float = START_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """Run ``serve`` in the work directory until it exits (a start meant to fail);
        ``ServerError`` if it is still running after ``timeout``."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        try:
            return subprocess.run(self.argv, cwd=self.work_dir, env=self._env(),
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise ServerError(f"still running {timeout:g} s later: {' '.join(self.argv)}") from None

    def start(self) -> ServerProcess:
        if self._process is not None:
            raise ServerError("the server was already started")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self._process = subprocess.Popen(
                self.argv, cwd=self.work_dir, env=self._env(),
                stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            )
        atexit.register(self.kill)
        try:
            self._await_listening()
            if self.wait_ready:
                self._await_ready()
        except BaseException:
            self.kill()
            raise
        return self

    def _failure(self, what: str) -> ServerError:
        code = self._process.poll() if self._process is not None else None
        exited = f" (exited with {code})" if code is not None else ""
        return ServerError(
            f"{what}{exited}\n$ {' '.join(self.argv)}\n"
            f"--- stdout ---\n{self.stdout()[-LOG_TAIL_CHARS:]}\n"
            f"--- stderr ---\n{self.stderr()[-LOG_TAIL_CHARS:]}"
        )

    def _await_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            text = self.stdout()
            first = FIRST_REQUEST.search(text)
            if first:  # printed after every listening line
                self.printed = {m["name"]: m["url"] for m in LISTENING.finditer(text)}
                self.first_request = first["command"].strip()
                missing = [n for n in LISTENERS if n not in self.printed]
                if missing:
                    raise self._failure(f"serve printed no listening line for {missing}")
                return
            if self.process.poll() is not None:
                raise self._failure("the server exited before listening")
            if time.monotonic() > deadline:
                raise self._failure(f"no listening lines within {START_TIMEOUT:g} s")
            time.sleep(POLL_INTERVAL)

    def _await_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last: int | None = None
        while True:
            last = self.readyz(timeout=1.0)
            if last == 200:
                return
            if self.process.poll() is not None:
                raise self._failure("the server exited before it was ready")
            if time.monotonic() > deadline:
                raise self._failure(
                    f"/readyz not 200 within {START_TIMEOUT:g} s (last answer: {last})")
            time.sleep(POLL_INTERVAL)

    def terminate(self) -> None:
        """Send SIGTERM and return at once (the graceful-shutdown signal)."""
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        """The exit code; ``ServerError`` with the stderr if it does not exit in time."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise self._failure(f"still running {timeout:g} s later") from None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL. The exit code (None if never
        started); a negative code means killed by that signal."""
        if self._process is None:
            return None
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        atexit.unregister(self.kill)
        return self._process.returncode

    def kill(self) -> None:
        """SIGKILL if still running: for failures and the interpreter's exit."""
        if self._process is not None and self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            self._process.wait()
        atexit.unregister(self.kill)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
