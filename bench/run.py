"""Benchmark: the service's endpoints against a bare aiohttp echo, over TLS, driven by wrk.

Run from the repository root with the project's Python:
``python bench/run.py [--duration 5] [--connections 32] [--rounds 3] [--quick]``
(also ``--warmup SECONDS``, unrecorded load per case before round 1, and ``--dir DIR``
for the SQLite file: on tmpfs fsync is free and the create figures flatter the service).
Needs ``wrk`` (Debian: ``apt-get install wrk``); everything runs on 127.0.0.1.

What it measures: requests/s and latency (p50, p99) of five cases, each a stream of
kept-alive HTTPS POSTs from wrk (one thread, ``--connections`` connections, on CPU 1)
to a server that is one Python process (on CPU 0):

  bare      the baseline: ``bench/bare.py`` echoing the validate case's AdmissionReview
            (aiohttp + TLS + orjson parse and serialize, nothing else: the framework's
            limit, what no endpoint of ours can beat);
  validate  POST /validate: an admission.k8s.io/v1 AdmissionReview (CREATE) whose object
            is the API document's create example as a defaulted AppImage custom
            resource; answered allowed;
  mutate    POST /mutate: the same object without defaults; answered with a JSON Patch;
  create    POST /api/v1/appimage/create: the document's create body, a fresh name on
            every request (a durable SQLite write: disk-bound, fsync per commit);
  query     POST /api/v1/appimage/query of one stored name.

How to read it: machines are shared and noisy, so absolute figures move between runs;
the ratio to bare moves less, because bare is measured in the same run, interleaved
with the other cases (bare, validate, mutate, create, query, bare, ...). The table shows
the median over ``--rounds`` of each figure, and "ratio to bare" is the median over rounds
of (case req/s / bare req/s of the same round). 1.0 would mean the endpoint costs nothing
beyond aiohttp, TLS and JSON; 0.5 means it spends as long again on its own work. Every
answer is checked (HTTP 200 and the expected body: allowed, a patch, Kuscia code 0);
"errors" counts failed checks plus wrk's socket errors over all rounds and the warm-up,
and any error makes the exit status 1: a benchmark that measures errors is worthless.
Speed is never pass/fail here.

``--quick`` is a smoke run for CI (one round of 1 s per case, 4 connections, no warm-up;
well under 30 s): it checks that every case answers correctly under load, not how fast.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import types
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from webhook import api, defaulting, model

ROOT = Path(__file__).resolve().parent.parent
BARE_APP = ROOT / "bench" / "bare.py"
WRK_SCRIPT = ROOT / "bench" / "wrk" / "post.lua"
DOC_CREATE = ROOT / "tests" / "data" / "doc_create.json"

CASES = ("bare", "validate", "mutate", "create", "query")
WRK_THREADS = 1
# Bounds so one invocation stays bounded in time: at most 5 cases x 10 rounds x 60 s.
MAX_DURATION = 60
MAX_ROUNDS = 10
MAX_CONNECTIONS = 1024
READY_TIMEOUT = 30.0  # seconds a server gets to answer; the service compiles schemas first
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL when stopping a server
WRK_GRACE = 30  # seconds beyond --duration before a wrk that hangs is killed
QUERY_NAME = "bench-query"
NAME_PLACEHOLDER = "__NAME__"  # replaced by bench/wrk/post.lua with a fresh name
KUSCIA_OK = '{"status":{"code":0,'  # orjson's rendering of the REST success envelope


class BenchError(Exception):
    """The run cannot give trustworthy numbers (a server died, wrk failed, a wrong answer)."""


# --- what is sent -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    url: str
    body: bytes
    expect: str
    """Text that every good answer's body contains."""
    unique_names: bool = False
    """The body holds NAME_PLACEHOLDER, which wrk replaces by a fresh name per request."""


def create_body() -> dict[str, Any]:
    """The API document's create example (tests/data/doc_create.json), as sent over REST."""
    body: dict[str, Any] = json.loads(DOC_CREATE.read_text())
    return body


def appimage() -> dict[str, Any]:
    """The create example as an AppImage custom resource, before defaulting."""
    return model.to_cr(api.parse("CreateAppImageRequest", create_body()))


def without_defaults(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with the defaulted ``replicas`` removed, so mutation has work to do."""
    out = copy.deepcopy(obj)
    for template in out["spec"]["deployTemplates"]:
        template.pop("replicas", None)
    return out


def admission_review(obj: dict[str, Any], uid: str) -> bytes:
    """An admission.k8s.io/v1 AdmissionReview of a CREATE, as the API server sends it."""
    gvk = {"group": model.GROUP, "version": "v1alpha1", "kind": model.KIND}
    gvr = {"group": model.GROUP, "version": "v1alpha1", "resource": "appimages"}
    return orjson.dumps({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
            "name": obj["metadata"]["name"],
            "operation": "CREATE",
            "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters"]},
            "object": obj,
            "oldObject": None,
            "dryRun": False,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        },
    })


def cases(bare_url: str, webhook_url: str, rest_url: str) -> list[Case]:
    obj = appimage()
    validate_review = admission_review(defaulting.default(obj)[0], "bench-validate")
    named = {**create_body(), "name": NAME_PLACEHOLDER}
    rest = f"{rest_url}/api/v1/appimage"
    return [
        Case("bare", f"{bare_url}/", validate_review, '"kind":"AdmissionReview"'),
        Case("validate", f"{webhook_url}/validate", validate_review, '"allowed":true'),
        Case("mutate", f"{webhook_url}/mutate", admission_review(without_defaults(obj), "bench-mutate"),
             '"patchType":"JSONPatch"'),
        Case("create", f"{rest}/create", orjson.dumps(named), KUSCIA_OK, unique_names=True),
        Case("query", f"{rest}/query", orjson.dumps({"name": QUERY_NAME}), KUSCIA_OK),
    ]


# --- processes --------------------------------------------------------------------------


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
    return Pinning((taskset, "-c", "0"), (taskset, "-c", "1"), "servers on CPU 0, wrk on CPU 1")


class Processes:
    """The servers this run started; leaving the ``with`` block stops every one of them."""

    def __init__(self, log_dir: Path, pin: Sequence[str]) -> None:
        self._log_dir = log_dir
        self._pin = tuple(pin)
        self._running: dict[str, subprocess.Popen[bytes]] = {}

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self, name: str) -> Path:
        return self._log_dir / f"{name}.log"

    def start(self, name: str, argv: Sequence[str]) -> None:
        # The servers read no APPIMAGE_* settings from our environment (a token file there
        # would turn every request into a 401), and get their own session so a Ctrl-C
        # reaches only us: we stop them in order, below.
        env = {k: v for k, v in os.environ.items() if not k.startswith("APPIMAGE_")}
        with self.log(name).open("wb") as log:
            self._running[name] = subprocess.Popen(
                [*self._pin, *argv], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=ROOT, env=env, start_new_session=True)

    def tail(self, name: str, lines: int = 20) -> str:
        try:
            return "\n".join(self.log(name).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def check_alive(self) -> None:
        for name, proc in self._running.items():
            if proc.poll() is not None:
                raise BenchError(f"{name} exited with status {proc.returncode}; its log ends:\n"
                                 f"{self.tail(name)}")

    def problems(self, limit: int = 5) -> list[str]:
        """Log lines at level error or worse, and tracebacks (at most ``limit`` per server)."""
        found: list[str] = []
        for name in self._running:
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

    def stop(self) -> None:
        """SIGTERM to all, then SIGKILL to any still running after STOP_TIMEOUT."""
        # A second Ctrl-C while we wait must not leave servers behind.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            for proc in self._running.values():
                if proc.poll() is None:
                    proc.terminate()
            deadline = time.monotonic() + STOP_TIMEOUT
            for proc in self._running.values():
                try:
                    proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        finally:
            signal.signal(signal.SIGINT, previous)


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 now (all held until all are chosen, so they differ)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def call(method: str, url: str, body: bytes | None = None,
         context: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    """One request on a fresh connection: (HTTP status, body)."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port
    conn = (http.client.HTTPSConnection(host, port, timeout=10, context=context)
            if parts.scheme == "https" else http.client.HTTPConnection(host, port, timeout=10))
    try:
        conn.request(method, parts.path, body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_ready(procs: Processes, name: str, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        procs.check_alive()
        with contextlib.suppress(OSError, http.client.HTTPException):
            if ready():
                return
        if time.monotonic() > deadline:
            raise BenchError(f"{name} not ready after {READY_TIMEOUT:g} s; its log ends:\n"
                             f"{procs.tail(name)}")
        time.sleep(0.1)


def start_servers(procs: Processes, tmp: Path) -> tuple[list[Case], ssl.SSLContext]:
    """Certificates, the service and the bare app, both ready; the cases to run on them."""
    certs = tmp / "certs"
    made = subprocess.run([sys.executable, "-m", "webhook", "gen-certs", "--out", str(certs)],
                          cwd=ROOT, capture_output=True, text=True)
    if made.returncode != 0:
        raise BenchError(f"gen-certs failed:\n{made.stderr}{made.stdout}")
    rest, webhook, probe, bare = free_ports(4)
    procs.start("service", [
        sys.executable, "-m", "webhook", "serve", "--tls-mode", "tls", "--cert-dir", str(certs),
        "--store", f"sqlite:///{tmp / 'bench.db'}", "--rest-addr", f"127.0.0.1:{rest}",
        "--webhook-addr", f"127.0.0.1:{webhook}", "--probe-addr", f"127.0.0.1:{probe}"])
    procs.start("bare", [sys.executable, str(BARE_APP), "--port", str(bare), "--cert-dir", str(certs)])
    context = ssl.create_default_context(cafile=certs / "ca.crt")
    wait_ready(procs, "service",
               lambda: call("GET", f"http://127.0.0.1:{probe}/readyz")[0] == 200)
    wait_ready(procs, "bare",
               lambda: call("POST", f"https://127.0.0.1:{bare}/", b"{}", context)[0] == 200)
    return cases(f"https://127.0.0.1:{bare}", f"https://127.0.0.1:{webhook}",
                 f"https://127.0.0.1:{rest}"), context


def preflight(cases_: Sequence[Case], context: ssl.SSLContext) -> None:
    """Store the name ``query`` reads, then send each case once and check its answer, so a
    wrong setup fails here with the answer in view rather than as a column of errors."""
    create = next(c for c in cases_ if c.name == "create")
    status, answer = call("POST", create.url, create.body.replace(
        NAME_PLACEHOLDER.encode(), QUERY_NAME.encode()), context)
    if status != 200 or create.expect.encode() not in answer:
        raise BenchError(f"create {QUERY_NAME}: HTTP {status}: {answer[:500]!r}")
    for case in cases_:
        if case.unique_names:
            continue  # the create above was its check
        status, answer = call("POST", case.url, case.body, context)
        if status != 200 or case.expect.encode() not in answer:
            raise BenchError(f"{case.name}: expected HTTP 200 and {case.expect!r}, got HTTP "
                             f"{status}: {answer[:500]!r}")
        if case.name == "query" and orjson.loads(answer)["data"]["name"] != QUERY_NAME:
            raise BenchError(f"query answered another object: {answer[:500]!r}")


# --- wrk ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    socket_errors: int
    non_2xx: int
    """Answers with status >= 400, as wrk counts them."""
    bad_status: int
    """Answers whose status was not 200, as the Lua check counts them (covers non_2xx)."""
    bad_body: int
    """200 answers without the expected text (e.g. a Kuscia error code)."""
    samples: tuple[str, ...]
    """The first bad answer of each wrk thread."""

    @property
    def errors(self) -> int:
        return self.socket_errors + max(self.non_2xx, self.bad_status) + self.bad_body


_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)\s*$", re.M)
_PERCENTILE = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)
_REQUESTS = re.compile(r"^\s*(\d+) requests in ", re.M)
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_CHECK = re.compile(r"^bench-check checked=(\d+) bad_status=(\d+) bad_body=(\d+)$", re.M)
_SAMPLE = re.compile(r"^bench-check-sample: (.*)$", re.M)


def parse_wrk(output: str) -> Result:
    """Figures from wrk's ``--latency`` report and the check line of bench/wrk/post.lua."""
    def one(pattern: re.Pattern[str], what: str) -> re.Match[str]:
        match = pattern.search(output)
        if match is None:
            raise ValueError(f"no {what} in wrk's output")
        return match

    percentiles = {p: float(v) * _UNIT_MS[unit] for p, v, unit in _PERCENTILE.findall(output)}
    if set(percentiles) != {"50", "99"}:
        raise ValueError("no 50% and 99% lines in wrk's latency distribution")
    socket_errors = _SOCKET.search(output)
    non_2xx = _NON_2XX.search(output)
    check = one(_CHECK, "bench-check line (was the script bench/wrk/post.lua?)")
    return Result(
        rps=float(one(_RPS, "Requests/sec")[1]),
        p50_ms=percentiles["50"],
        p99_ms=percentiles["99"],
        requests=int(one(_REQUESTS, "request count")[1]),
        socket_errors=sum(map(int, socket_errors.groups())) if socket_errors else 0,
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        bad_status=int(check[2]),
        bad_body=int(check[3]),
        samples=tuple(_SAMPLE.findall(output)),
    )


def run_wrk(case: Case, body_file: Path, *, seconds: int, connections: int, tag: str,
            pin: Sequence[str]) -> Result:
    argv = [*pin, "wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "--latency",
            "-s", str(WRK_SCRIPT), case.url, "--", str(body_file), case.expect]
    if case.unique_names:
        argv.append(tag)  # names are unique per wrk run: "bench-<tag>-<thread>-<n>"
    try:
        done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT,
                              timeout=seconds + WRK_GRACE)
    except subprocess.TimeoutExpired as e:
        raise BenchError(f"{case.name}: wrk did not finish within {seconds + WRK_GRACE} s") from e
    if done.returncode != 0:
        raise BenchError(f"{case.name}: wrk exited with status {done.returncode}:\n"
                         f"{done.stderr}{done.stdout}")
    try:
        return parse_wrk(done.stdout)
    except ValueError as e:
        raise BenchError(f"{case.name}: {e}:\n{done.stdout}{done.stderr}") from e


# --- the run ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Settings:
    duration: int
    connections: int
    rounds: int
    warmup: int
    parent_dir: Path | None


@dataclass(frozen=True, slots=True)
class Measured:
    rounds: dict[str, list[Result]]
    warmup: dict[str, Result]


def measure(procs: Processes, cases_: Sequence[Case], tmp: Path, config: Settings,
            pin: Pinning) -> Measured:
    bodies: dict[str, Path] = {}
    for case in cases_:
        bodies[case.name] = tmp / f"{case.name}.json"
        bodies[case.name].write_bytes(case.body)

    def run(case: Case, seconds: int, tag: str) -> Result:
        result = run_wrk(case, bodies[case.name], seconds=seconds, connections=config.connections,
                         tag=tag, pin=pin.client)
        procs.check_alive()
        return result

    warmup: dict[str, Result] = {}
    if config.warmup:
        for case in cases_:
            warmup[case.name] = result = run(case, config.warmup, "w")
            print(f"warm-up  {case.name:9} {result.rps:8.0f} req/s  errors {result.errors}", flush=True)
            report_samples(result)
    rounds: dict[str, list[Result]] = {case.name: [] for case in cases_}
    for n in range(1, config.rounds + 1):
        for case in cases_:
            result = run(case, config.duration, f"r{n}")
            rounds[case.name].append(result)
            print(f"round {n}/{config.rounds} {case.name:9} {result.rps:8.0f} req/s  "
                  f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms  "
                  f"{result.requests} requests  errors {result.errors}", flush=True)
            report_samples(result)
    return Measured(rounds, warmup)


def report_samples(result: Result) -> None:
    for sample in result.samples:
        print(f"    first bad answer: {sample}", flush=True)


def table(measured: Measured) -> str:
    bare = measured.rounds["bare"]
    lines = ["| case | req/s | p50 ms | p99 ms | ratio to bare (req/s) | errors |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, results in measured.rounds.items():
        ratio = statistics.median(r.rps / b.rps for r, b in zip(results, bare, strict=True))
        errors = sum(r.errors for r in results)
        if name in measured.warmup:
            errors += measured.warmup[name].errors
        lines.append(
            f"| {name} | {statistics.median(r.rps for r in results):,.0f} "
            f"| {statistics.median(r.p50_ms for r in results):.2f} "
            f"| {statistics.median(r.p99_ms for r in results):.2f} "
            f"| {ratio:.2f} | {errors} |")
    return "\n".join(lines)


def total_errors(measured: Measured) -> int:
    return (sum(r.errors for results in measured.rounds.values() for r in results)
            + sum(r.errors for r in measured.warmup.values()))


def command_output(argv: Sequence[str]) -> str:
    """The first line a command prints (stdout or stderr), or '?' if it cannot run."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr) else "?"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def print_environment(config: Settings, pin: Pinning, tmp: Path) -> None:
    filesystem = command_output(["stat", "-f", "-c", "%T", str(tmp)])
    print(f"nproc: {command_output(['nproc'])} ({cpu_model()})")
    print(f"python: {platform.python_implementation()} {platform.python_version()}, "
          f"aiohttp {aiohttp.__version__}, orjson {orjson.__version__}")
    print(f"wrk: {command_output(['wrk', '--version'])}")
    print(f"pinning: {pin.note}")
    print(f"load average: {load_average()} (other work on these CPUs skews every figure)")
    print(f"store: SQLite in {tmp} ({filesystem})"
          + ("  -- tmpfs: fsync is free, create figures are optimistic" if filesystem == "tmpfs" else ""))
    print(f"load: {config.rounds} round(s) x 5 cases x {config.duration} s, wrk -t{WRK_THREADS} "
          f"-c{config.connections}, keep-alive HTTPS; warm-up {config.warmup} s per case", flush=True)


def parse_args(argv: Sequence[str] | None) -> Settings:
    parser = argparse.ArgumentParser(
        description="Service endpoints vs a bare aiohttp echo over TLS, with wrk; prints ratios.")
    parser.add_argument("--duration", type=int, default=5, help="seconds per case and round")
    parser.add_argument("--connections", type=int, default=32, help="wrk's kept-alive connections")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are shown")
    parser.add_argument("--warmup", type=int, default=1,
                        help="seconds of unrecorded load per case before round 1 (0: none)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="parent of the run's temporary directory (certificates, SQLite file); "
                             "put it on the disk the service will use")
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke run: 1 round of 1 s per case, 4 connections, no warm-up")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.connections, args.rounds, args.warmup = 1, 4, 1, 0
    for flag, value, low, high in (("--duration", args.duration, 1, MAX_DURATION),
                                   ("--connections", args.connections, WRK_THREADS, MAX_CONNECTIONS),
                                   ("--rounds", args.rounds, 1, MAX_ROUNDS),
                                   ("--warmup", args.warmup, 0, MAX_DURATION)):
        if not low <= value <= high:
            parser.error(f"{flag} must be between {low} and {high}, not {value}")
    return Settings(args.duration, args.connections, args.rounds, args.warmup, args.dir)


def _interrupted(signum: int, frame: types.FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM stops us as Ctrl-C does: through the cleanup below


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench: wrk not found (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupted)
    pin = pinning()
    started = time.monotonic()
    try:
        with (tempfile.TemporaryDirectory(prefix="appimage-bench-", dir=config.parent_dir) as name,
              Processes(Path(name), pin.server) as procs):
            tmp = Path(name)
            print_environment(config, pin, tmp)
            cases_, context = start_servers(procs, tmp)
            preflight(cases_, context)
            for case in cases_:
                print(f"body {case.name:9} {len(case.body):5} bytes  POST {case.url}")
            measured = measure(procs, cases_, tmp, config, pin)
            problems = procs.problems()
    except KeyboardInterrupt:
        print("bench: interrupted; every server it started is stopped", file=sys.stderr)
        return 130
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 1
    print()
    print(table(measured))
    print(f"\n{time.monotonic() - started:.0f} s in all; load average now {load_average()}.")
    for line in problems:
        print(f"server log: {line}")
    errors = total_errors(measured)
    if errors:
        print(f"bench: {errors} errors: these figures measure failures, not the service",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
