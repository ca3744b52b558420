"""The benchmark suite's engine; run it as ``bench/run`` (which provides its venv).

``bench/run [--smoke] [--million] [--rounds 3] [--duration 5] [--connections 32]
[--rate 500] [--skip go,kopf,e2e] [--dir DIR]`` measures, on 127.0.0.1 with the
servers on CPU 0 and the load generators on CPU 1:

1. closed loop (wrk, fixed concurrency, every answer checked): a bare aiohttp JSON echo
   over the same TLS (the limit), /validate and /mutate with the API document's create
   example and with a 10 x 10-container AppImage, REST create (durable), update, query,
   batch_query of 1,000 names and a list page over the stored AppImages (100,000 seeded
   straight into the SQLite file), and the peers on the same reviews: kopf's admission
   server and a Go webhook on controller-runtime's admission package (bench/peers/);
   and gRPC CreateAppImage and QueryAppImage next to REST create and to grpcio's own
   limit, a bare grpcio server with the listener's options and TLS (bench/bare_grpc.py,
   also as grpcio's threaded server) (ghz, built by hack/ghz-bin.sh, see bench/ghz.py;
   skipped with a note without Go, except under REQUIRE_E2E=1);
2. open loop at a fixed rate (bench/openloop.py): p99 without coordinated omission, also
   of /validate with a gRPC load of the same rate beside it (ghz);
3. cost by size, in process (bench/scaling.py);
4. memory: RSS idle, peak under load, and after a soak of N more requests (N = 200,000,
   or 1,000,000 with --million), and start-to-ready time;
5. end to end through a real kube-apiserver (bench/e2e.py): create latency with our
   webhooks registered vs none, at 1 and 10 clients.

Each figure is the median of ``--rounds`` interleaved rounds (every case once per round,
each ratio's baseline next to it), because the machine is shared and noisy. Results go
to bench/results/latest.{md,png,json} (``--smoke``: bench/results/smoke.*, a CI check
that every case answers correctly, in under a minute). Any error (a wrong answer, a
socket error, a server that died, a server log line at level error) makes the exit
status 1: a benchmark that measures errors is worthless. Speed is never pass/fail here.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import json
import os
import platform
import shutil
import signal
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench import closedloop, ghz, procs, report, seed, workloads
from bench.procs import BenchError, Processes

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
GO_BUILD = ROOT / "bench" / "peers" / "go" / "build.sh"
KOPF_PEER = ROOT / "bench" / "peers" / "kopf_peer.py"
BARE = ROOT / "bench" / "bare.py"
BARE_GRPC = "bench.bare_grpc"
BARE_GRPC_THREADS = 16
SKIPPABLE = ("go", "kopf", "e2e")


@dataclass(frozen=True, slots=True)
class GrpcCase:
    """A closed-loop row driven by ghz."""

    name: str
    method: str
    server: str
    baseline: str | None
    """The row its ratios are to."""


GRPC_CASES = (
    GrpcCase("grpc bare", "QueryAppImage", "bare-grpc", None),
    GrpcCase("grpc bare threaded", "QueryAppImage", "bare-grpc-threaded", "grpc bare"),
    GrpcCase("grpc create", "CreateAppImage", "service", "create"),
    GrpcCase("grpc query", "QueryAppImage", "service", "grpc bare"),
)
BESIDE = ("validate", "QueryAppImage")
"""The open-loop case run again (as ``report.BESIDE``) with a gRPC load of the same rate
beside it, and the gRPC method of that load: the gRPC server must not delay admission."""
BESIDE_CONCURRENCY = 16
# Bounds so one invocation stays bounded in time.
MAX_DURATION = 60
MAX_ROUNDS = 10
MAX_CONNECTIONS = 1024
MAX_SEED = 1_000_000
MILLION = 1_000_000
SOAK_CHUNKS = 5
RSS_INTERVAL = 0.2  # seconds between RSS samples under load
IDLE_SETTLE = 1.0  # seconds after ready before the idle RSS is read


@dataclass(frozen=True, slots=True)
class Settings:
    duration: int = 5
    connections: int = 32
    rounds: int = 3
    warmup: int = 1
    rate: float = 500.0
    open_seconds: int = 5
    seed: int = 100_000
    soak: int = 200_000
    # A p99 of 300 creates is their 3rd slowest: run to run it moved by 10 ms at 10
    # clients (the API server saturates both CPUs); 1,000 steadies it.
    e2e_creates: int = 1000
    e2e_rounds: int = 5
    """Interleaved end-to-end rounds: on 2 cores one round's noise is larger than the gaps
    between the modes (the floor, ours, validating only)."""
    links_appimages: int = 10_000
    """AppImages stored in the API server while KusciaJob reviews are measured."""
    links_reviews: int = 2000
    starts: int = 3
    scaling_seconds: float = 1.0
    skip: tuple[str, ...] = ()
    parent_dir: Path | None = None
    stem: str = "latest"
    million: bool = False
    smoke: bool = False


def parse_args(argv: Sequence[str] | None) -> Settings:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.splitlines()[0])
    d = Settings()
    parser.add_argument("--duration", type=int, default=d.duration, help="seconds per case and round")
    parser.add_argument("--connections", type=int, default=d.connections,
                        help="wrk's kept-alive connections (cases with a fixed count keep theirs)")
    parser.add_argument("--rounds", type=int, default=d.rounds, help="interleaved rounds; medians are shown")
    parser.add_argument("--warmup", type=int, default=d.warmup,
                        help="seconds of unrecorded load per case before round 1 (0: none)")
    parser.add_argument("--rate", type=float, default=d.rate, help="open-loop requests per second")
    parser.add_argument("--open-seconds", type=int, default=d.open_seconds,
                        help="open-loop seconds per round")
    parser.add_argument("--seed", type=int, default=d.seed, help="AppImages stored before the run")
    parser.add_argument("--soak", type=int, default=d.soak, help="requests of the memory soak")
    parser.add_argument("--million", action="store_true", help="soak with 1,000,000 requests")
    parser.add_argument("--e2e-creates", type=int, default=d.e2e_creates,
                        help="creates per end-to-end measurement")
    parser.add_argument("--skip", default="",
                        help=f"comma-separated parts to leave out: {', '.join(SKIPPABLE)}")
    parser.add_argument("--dir", type=Path, default=None,
                        help="parent of the run's temporary directory (certificates, SQLite file); "
                             "put it on the disk the service will use (on tmpfs fsync is free)")
    parser.add_argument("--smoke", action="store_true",
                        help="CI check, under a minute: one round of 1 s per case, 4 connections, "
                             "small counts; writes bench/results/smoke.*")
    args = parser.parse_args(argv)
    skip = tuple(s for s in args.skip.split(",") if s)
    if unknown := set(skip) - set(SKIPPABLE):
        parser.error(f"--skip: unknown {', '.join(sorted(unknown))} (choose from {', '.join(SKIPPABLE)})")
    config = Settings(args.duration, args.connections, args.rounds, args.warmup, args.rate,
                      args.open_seconds, args.seed, MILLION if args.million else args.soak,
                      args.e2e_creates, skip=skip, parent_dir=args.dir, million=args.million)
    if args.smoke:
        config = replace(config, duration=1, connections=4, rounds=1, warmup=0, rate=100.0,
                         open_seconds=1, seed=min(args.seed, 2000), soak=2000, e2e_creates=20,
                         e2e_rounds=1, links_appimages=200, links_reviews=100, starts=1,
                         scaling_seconds=0.05, stem="smoke", smoke=True)
    for flag, value, low, high in (("--duration", config.duration, 1, MAX_DURATION),
                                   ("--connections", config.connections, 1, MAX_CONNECTIONS),
                                   ("--rounds", config.rounds, 1, MAX_ROUNDS),
                                   ("--warmup", config.warmup, 0, MAX_DURATION),
                                   ("--open-seconds", config.open_seconds, 1, MAX_DURATION),
                                   ("--seed", config.seed, workloads.BATCH_NAMES, MAX_SEED),
                                   ("--soak", config.soak, 0, MILLION),
                                   ("--e2e-creates", config.e2e_creates, 10, 100_000)):
        if not low <= value <= high:
            parser.error(f"{flag} must be between {low} and {high}, not {value}")
    if not 1 <= config.rate <= 5000:
        parser.error("--rate must be between 1 and 5000")
    return config


# --- servers ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Servers:
    urls: dict[str, str]
    """Server name -> base URL; the service has "service" (webhook) and "rest"."""
    context: ssl.SSLContext
    ca: Path
    notes: list[str]
    db: Path
    """The service's SQLite store."""


def output(argv: Sequence[str]) -> str:
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv)} failed:\n{done.stderr}{done.stdout}")
    return done.stdout


def go_build(script: Path, what: str) -> Path | None:
    """The binary a Go build script prints last (built the first time, cached after),
    or None without a Go toolchain."""
    if shutil.which("go") is None and not Path("/usr/local/go/bin/go").exists():
        return None
    started = time.monotonic()
    path = Path(output(["bash", str(script)]).strip().splitlines()[-1])
    if time.monotonic() - started > 5:
        print(f"built {what} in {time.monotonic() - started:.0f} s: {path}", flush=True)
    return path


def build_ghz() -> Path | None:
    """ghz for the gRPC cases, or None without Go (BenchError under REQUIRE_E2E=1)."""
    path = go_build(ghz.BUILD, "ghz")
    if path is None and os.environ.get("REQUIRE_E2E") == "1":
        raise BenchError("REQUIRE_E2E=1 but no Go toolchain to build ghz (hack/ghz-bin.sh), "
                         "the gRPC cases' load generator")
    return path


def service_argv(certs: Path, db: Path, rest: int, webhook: int, probe: int, grpc: int) -> list[str]:
    return [sys.executable, "-m", "webhook", "serve", "--tls-mode", "tls", "--cert-dir", str(certs),
            "--store", f"sqlite:///{db}", "--rest-addr", f"127.0.0.1:{rest}",
            "--webhook-addr", f"127.0.0.1:{webhook}", "--probe-addr", f"127.0.0.1:{probe}",
            "--grpc-addr", f"127.0.0.1:{grpc}"]


def start_servers(ps: Processes, tmp: Path, config: Settings) -> Servers:
    certs = tmp / "certs"
    output([sys.executable, "-m", "webhook", "gen-certs", "--out", str(certs)])
    schema = tmp / "appimage.schema.json"
    schema.write_text(output([sys.executable, "-m", "webhook", "schema"]))
    notes: list[str] = []
    go = None
    if "go" not in config.skip:
        go = go_build(GO_BUILD, "the Go peer")
        if go is None:
            notes.append("Go peer skipped: no Go toolchain (bench/peers/go/build.sh needs one)")
    started = time.monotonic()
    seed.seed(tmp / "bench.db", config.seed)
    print(f"seeded {config.seed:,} AppImages in {time.monotonic() - started:.1f} s", flush=True)
    rest, webhook, probe, grpc, bare, kopf, go_port, bare_grpc, threaded = procs.free_ports(9)
    ps.start("service", service_argv(certs, tmp / "bench.db", rest, webhook, probe, grpc))
    ps.start("bare", [sys.executable, str(BARE), "--port", str(bare), "--cert-dir", str(certs)])
    ps.start("bare-grpc", [sys.executable, "-m", BARE_GRPC, "--port", str(bare_grpc),
                           "--cert-dir", str(certs)])
    ps.start("bare-grpc-threaded", [sys.executable, "-m", BARE_GRPC, "--port", str(threaded),
                                    "--cert-dir", str(certs), "--threaded", str(BARE_GRPC_THREADS)])
    if "kopf" not in config.skip:
        ps.start("kopf", [sys.executable, str(KOPF_PEER), "--port", str(kopf), "--cert-dir", str(certs)])
    if go is not None:
        ps.start("go", [str(go), "--addr", f"127.0.0.1:{go_port}", "--cert-dir", str(certs),
                        "--schema", str(schema)])
    context = ssl.create_default_context(cafile=certs / "ca.crt")
    urls = {"service": f"https://127.0.0.1:{webhook}", "rest": f"https://127.0.0.1:{rest}",
            "probe": f"http://127.0.0.1:{probe}", "grpc": f"127.0.0.1:{grpc}",
            "bare": f"https://127.0.0.1:{bare}", "bare-grpc": f"127.0.0.1:{bare_grpc}",
            "bare-grpc-threaded": f"127.0.0.1:{threaded}",
            "kopf": f"https://127.0.0.1:{kopf}", "go": f"https://127.0.0.1:{go_port}"}
    procs.wait_ready(ps, "service", lambda: procs.call("GET", urls["probe"] + "/readyz")[0] == 200)
    review = workloads.admission_review(workloads.defaulted(workloads.appimage()), "ready")
    for name in ("bare", "kopf", "go"):
        if name in ps.running:
            path = "/" if name == "bare" else "/validate"
            procs.wait_ready(ps, name, lambda n=name, p=path:
                             procs.call("POST", urls[n] + p, review, context)[0] == 200)
    for name in ("bare-grpc", "bare-grpc-threaded"):
        procs.wait_ready(ps, name, lambda n=name: ghz.answers(urls[n], certs / "ca.crt"))
    return Servers({k: v for k, v in urls.items() if k in ps.running or k in ("rest", "probe", "grpc")},
                   context, certs / "ca.crt", notes, tmp / "bench.db")


def url_of(servers: Servers, case: workloads.Case) -> str:
    base = servers.urls["rest"] if case.path.startswith("/api/") else servers.urls[case.server]
    return base + case.path


def preflight(servers: Servers, cases: Sequence[workloads.Case]) -> None:
    """Store the name ``query`` reads, send each case once and check its answer, and check
    that every admission implementation refuses an invalid object, so a wrong setup fails
    here with the answer in view rather than as a column of errors."""
    create = next(c for c in cases if c.name == "create")
    body = create.body.replace(workloads.NAME_PLACEHOLDER.encode(), workloads.QUERY_NAME.encode())
    status, answer = procs.call("POST", url_of(servers, create), body, servers.context)
    if status != 200 or create.expect.encode() not in answer:
        raise BenchError(f"create {workloads.QUERY_NAME}: HTTP {status}: {answer[:500]!r}")
    for case in cases:
        body = case.body
        if case.names == "fresh" or case.server not in servers.urls:
            continue  # the create above was its check; a peer left out (--skip, no Go) has none
        if case.names:
            body = body.replace(workloads.NAME_PLACEHOLDER.encode(), workloads.seed_name(0).encode())
        status, answer = procs.call("POST", url_of(servers, case), body, servers.context)
        if status != 200 or case.expect.encode() not in answer:
            raise BenchError(f"{case.name}: expected HTTP 200 and {case.expect!r}, got HTTP "
                             f"{status}: {answer[:500]!r}")
        if case.name.startswith("list"):
            page = orjson.loads(answer)["data"]
            if len(page["appimage_list"]) != workloads.LIST_PAGE_SIZE or not page["next_page_token"]:
                raise BenchError(f"{case.name}: not a full page with a next one: {answer[:300]!r}")
        if case.name.startswith("batch_query") and (
                len(orjson.loads(answer)["data"]) != len(orjson.loads(body)["names"])):
            raise BenchError(f"{case.name}: not every name answered")
    bad = workloads.admission_review(workloads.invalid(workloads.defaulted(workloads.appimage())), "bad")
    for server in ("service", "kopf", "go"):
        if server not in servers.urls:
            continue
        status, answer = procs.call("POST", servers.urls[server] + "/validate", bad, servers.context)
        response = orjson.loads(answer).get("response", {}) if status == 200 else {}
        if response.get("allowed") is not False:
            raise BenchError(f"{server} did not refuse an invalid AppImage: HTTP {status}: {answer[:500]!r}")


def stored(servers: Servers, prefix: str) -> int:
    """How many stored AppImages have a name starting with ``prefix``, read from the
    store's file (read-only, beside the running service, as WAL lets a reader): asking
    the service would list thousands of AppImages through it, and the memory that takes
    would show in its RSS under load."""
    with contextlib.closing(sqlite3.connect(f"file:{servers.db}?mode=ro", uri=True)) as db:
        (count,) = db.execute("SELECT count(*) FROM appimages WHERE name GLOB ?", (prefix + "*",)).fetchone()
    return int(count)


# --- measuring ------------------------------------------------------------------------------


class RSSSampler:
    """Peak RSS of each server while active (a background thread, every RSS_INTERVAL)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.peak = dict.fromkeys(pids, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(RSS_INTERVAL):
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], procs.rss_mb(pid))

    def __enter__(self) -> RSSSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def closed_round(ps: Processes, servers: Servers, case: workloads.Case, body_file: Path,
                 config: Settings, pin: procs.Pinning, seconds: int, tag: str) -> dict[str, Any]:
    pid = ps.pid(case.server)
    cpu = procs.cpu_seconds(pid)
    try:
        result = closedloop.run(url_of(servers, case), body_file, case.expect, seconds=seconds,
                                connections=case.connections or config.connections,
                                names=case.names, tag=tag, pin=pin.client)
    except closedloop.LoadError as e:
        raise BenchError(f"{case.name}: {e}") from e
    cpu_us = (procs.cpu_seconds(pid) - cpu) / max(result.requests, 1) * 1e6
    ps.check_alive()
    for sample in result.samples:
        print(f"    first bad answer: {sample}", flush=True)
    return {"rps": result.rps, "requests": result.requests, "cpu_us": cpu_us, "errors": result.errors,
            "latency_ms": {f"{p:g}": v for p, v in result.latency_ms.items()}}


def grpc_target(servers: Servers, server: str) -> str:
    return servers.urls["grpc" if server == "service" else server]


def grpc_round(ps: Processes, servers: Servers, ghz_bin: Path, case: GrpcCase, config: Settings,
               pin: procs.Pinning, seconds: int, tag: str) -> dict[str, Any]:
    """One closed-loop round of gRPC calls by ghz, figured as ``closed_round`` figures wrk's.
    ghz cannot see Kuscia's status code in an answer, so a call checked with grpcio comes
    before and after the load, and the AppImages stored under a create load's names must
    grow by exactly its calls answered OK (each one missing or extra is an error)."""
    method, target = case.method, grpc_target(servers, case.server)
    ghz.check(target, servers.ca, method, f"{tag}-before")
    before = stored(servers, ghz.load_prefix(tag)) if method == ghz.CREATE else 0
    pid = ps.pid(case.server)
    cpu = procs.cpu_seconds(pid)
    result = ghz.run(ghz_bin, target, servers.ca, method, seconds=seconds,
                     concurrency=config.connections, tag=tag, pin=pin.client)
    cpu_us = (procs.cpu_seconds(pid) - cpu) / max(result.requests, 1) * 1e6
    ps.check_alive()
    errors = result.errors
    if result.sample:
        print(f"    calls by status {result.statuses}; most frequent error: {result.sample[:500]}",
              flush=True)
    if method == ghz.CREATE:
        created = stored(servers, ghz.load_prefix(tag)) - before
        if created != result.ok:
            print(f"    {result.ok} creates answered gRPC OK but {created} stored", flush=True)
            errors += abs(created - result.ok)
    ghz.check(target, servers.ca, method, f"{tag}-after")
    return {"rps": result.rps, "requests": result.requests, "cpu_us": cpu_us, "errors": errors,
            "statuses": result.statuses, "latency_ms": result.latency_ms}


def open_round(ps: Processes, servers: Servers, case: workloads.Case, body_file: Path,
               config: Settings, pin: procs.Pinning) -> dict[str, Any]:
    argv = [*pin.client, sys.executable, "-m", "bench.openloop", url_of(servers, case), str(body_file),
            case.expect, "--rate", f"{config.rate:g}", "--seconds", str(config.open_seconds),
            "--cafile", str(servers.ca)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True,
                          timeout=config.open_seconds * 10 + 60)
    if done.returncode != 0:
        raise BenchError(f"{case.name} open loop failed:\n{done.stderr}{done.stdout}")
    ps.check_alive()
    result: dict[str, Any] = json.loads(done.stdout)
    if result["sample"]:
        print(f"    first bad answer: {result['sample']}", flush=True)
    return result


def open_round_beside_grpc(ps: Processes, servers: Servers, case: workloads.Case, body_file: Path,
                           config: Settings, pin: procs.Pinning, ghz_bin: Path, tag: str) -> dict[str, Any]:
    """``open_round`` while ghz sends the service gRPC calls at the same rate, from a
    second before to a second after; the gRPC calls' errors count as the round's."""
    seconds = config.open_seconds + 2
    command = ghz.argv(ghz_bin, servers.urls["grpc"], servers.ca, BESIDE[1], seconds=seconds,
                       concurrency=BESIDE_CONCURRENCY, tag=tag, pin=pin.client, rate=config.rate)
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as load:
        try:
            time.sleep(1)
            result = open_round(ps, servers, case, body_file, config, pin)
            out, err = load.communicate(timeout=seconds + closedloop.GRACE)
        finally:
            load.kill()
    grpc = ghz.report(subprocess.CompletedProcess(command, load.returncode, out, err), BESIDE[1])
    result["bad"] += grpc.errors
    result["grpc"] = {"rps": grpc.rps, "requests": grpc.requests, "errors": grpc.errors}
    return result


def measure(ps: Processes, servers: Servers, cases: Sequence[workloads.Case], tmp: Path,
            config: Settings, pin: procs.Pinning, ghz_bin: Path | None
            ) -> tuple[dict[str, Any], dict[str, Any]]:
    bodies = {}
    for i, case in enumerate(cases):
        bodies[case.name] = tmp / f"body-{i}.json"
        bodies[case.name].write_bytes(case.body)
    runnable = [c for c in cases if c.server in servers.urls]
    closed: dict[str, Any] = {c.name: {"group": c.group, "server": c.server, "baseline": c.baseline,
                                       "connections": c.connections or config.connections,
                                       "containers": c.containers, "rounds": []} for c in runnable}
    opened: dict[str, Any] = {c.name: {"group": c.group, "rounds": []}
                              for c in runnable if c.name in workloads.OPEN_LOOP}
    if ghz_bin is not None:
        opened[report.BESIDE] = {"group": "admission", "rounds": []}
    # name -> one round of it: (seconds, tag) -> figures
    rounds: dict[str, Callable[[int, str], dict[str, Any]]] = {
        c.name: functools.partial(closed_round, ps, servers, c, bodies[c.name], config, pin)
        for c in runnable}
    if ghz_bin is not None:
        closed.update({c.name: {"group": "rest", "server": c.server, "baseline": c.baseline,
                                "connections": config.connections, "containers": 1, "rounds": []}
                       for c in GRPC_CASES})
        rounds.update({c.name: functools.partial(grpc_round, ps, servers, ghz_bin, c, config, pin)
                       for c in GRPC_CASES})
    if config.warmup:
        for name, one in rounds.items():
            r = one(config.warmup, "w")
            print(f"warm-up  {name:22} {r['rps']:8.0f} req/s  errors {r['errors']}", flush=True)
            if r["errors"]:
                closed[name].setdefault("warmup_errors", r["errors"])
    for n in range(1, config.rounds + 1):
        for name, one in rounds.items():
            r = one(config.duration, f"r{n}")
            closed[name]["rounds"].append(r)
            p50, p99 = (r["latency_ms"].get(p, float("nan")) for p in ("50", "99"))
            print(f"round {n}/{config.rounds} {name:22} {r['rps']:8.0f} req/s  "
                  f"p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  "
                  f"CPU {r['cpu_us']:6.0f} µs/req  errors {r['errors']}", flush=True)
        opens = [(case.name, functools.partial(open_round, ps, servers, case, bodies[case.name], config, pin))
                 for case in runnable if case.name in opened]
        if ghz_bin is not None:
            beside = next(c for c in runnable if c.name == BESIDE[0])
            opens.append((report.BESIDE, functools.partial(open_round_beside_grpc, ps, servers, beside,
                                                         bodies[beside.name], config, pin, ghz_bin, f"o{n}")))
        for name, open_one in opens:
            r = open_one()
            opened[name]["rounds"].append(r)
            print(f"round {n}/{config.rounds} {name:22} open loop {r['rate']:6.0f} req/s  "
                  f"p50 {r['latency_ms']['50']:7.2f} ms  p99 {r['latency_ms']['99']:7.2f} ms  "
                  f"bad {r['bad']}", flush=True)
    return closed, opened


def soak(ps: Processes, servers: Servers, cases: Sequence[workloads.Case], tmp: Path,
         config: Settings, pin: procs.Pinning) -> list[dict[str, Any]]:
    """RSS of the service after each of SOAK_CHUNKS chunks of ``config.soak`` requests
    (validate, mutate and query in turn); wrk runs until a chunk's count is reached."""
    if not config.soak:
        return []
    chosen = [c for c in cases if c.name in ("validate", "mutate", "query")]
    pid = ps.pid("service")
    rows = [{"requests": 0, "rss_mb": procs.rss_mb(pid)}]
    done = 0
    per_chunk = config.soak // SOAK_CHUNKS
    errors = 0
    while done < config.soak:
        target = min(done + per_chunk, config.soak)
        while done < target:
            case = chosen[(done // 997) % len(chosen)]
            body = tmp / f"soak-{case.name}.json"
            body.write_bytes(case.body)
            # About 4k requests/s: ask wrk for enough seconds to do the rest of the chunk.
            seconds = max(1, min(30, (target - done) // 4000))
            result = closedloop.run(url_of(servers, case), body, case.expect, seconds=seconds,
                                    connections=config.connections, pin=pin.client)
            done += result.requests
            errors += result.errors
        ps.check_alive()
        rows.append({"requests": done, "rss_mb": procs.rss_mb(pid)})
        print(f"soak {done:>9,} requests  RSS {rows[-1]['rss_mb']:.1f} MB  errors {errors}", flush=True)
    if errors:
        raise BenchError(f"soak: {errors} errors")
    return rows[1:]


def startup(tmp: Path, config: Settings, pin: procs.Pinning) -> list[float]:
    """Seconds from spawning ``serve`` (certificates present, empty store) to /readyz 200."""
    times = []
    for i in range(config.starts):
        work = tmp / f"start-{i}"
        work.mkdir()
        rest, webhook, probe, grpc = procs.free_ports(4)
        with Processes(work, pin.server) as ps:
            ps.start("service", service_argv(tmp / "certs", work / "start.db", rest, webhook, probe, grpc))
            times.append(procs.wait_ready(
                ps, "service", lambda p=probe: procs.call("GET", f"http://127.0.0.1:{p}/readyz")[0] == 200,
                poll=0.01))
    return times


def scaling(config: Settings, pin: procs.Pinning) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(output(
        [*pin.server, sys.executable, "-m", "bench.scaling", "--seconds", f"{config.scaling_seconds:g}"]))
    return rows


def end_to_end(tmp: Path, config: Settings) -> dict[str, Any]:
    if "e2e" in config.skip:
        return {"skipped": "--skip e2e"}
    from bench import e2e
    from tests.support.k8s import controlplane

    try:
        controlplane.find_assets()
    except controlplane.ControlPlaneError as e:
        if os.environ.get("REQUIRE_E2E") == "1":
            raise BenchError(f"REQUIRE_E2E=1 but no kube-apiserver/etcd: {e}") from e
        return {"skipped": f"no kube-apiserver/etcd ({e}); build them with hack/k8s-bin.sh"}
    def log(line: str) -> None:
        print(line, flush=True)

    try:
        samples = e2e.measure(tmp / "e2e", rounds=config.e2e_rounds, creates=config.e2e_creates, log=log)
        jobs = e2e.kuscia_jobs(tmp / "e2e-jobs", appimages=config.links_appimages,
                               reviews=config.links_reviews, log=log)
    except Exception as e:
        raise BenchError(f"end to end: {type(e).__name__}: {e}") from e
    return {"creates": config.e2e_creates, "rounds": config.e2e_rounds,
            "samples": [asdict(s) for s in samples],
            "added": {str(k): v for k, v in e2e.added(samples).items()}, "labels": e2e.labels(samples),
            "breakdown": e2e.breakdown(samples), "kuscia_jobs": asdict(jobs)}


# --- the run ------------------------------------------------------------------------------


def command_output(argv: Sequence[str]) -> str:
    """The first line a command prints (stdout or stderr), or '?' if it cannot run."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0] if text else "?"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def versions(ghz_bin: Path | None) -> str:
    found = [f"Python {platform.python_version()}", f"aiohttp {aiohttp.__version__}",
             f"orjson {orjson.__version__}"]
    for module in ("uvloop", "kopf"):
        with contextlib.suppress(ImportError):
            found.append(f"{module} {__import__(module).__version__}")
    found.append(command_output(["wrk", "--version"]).split(" [")[0])
    if ghz_bin is not None:
        found.append(f"ghz {command_output([str(ghz_bin), '--version'])}")
    return ", ".join(found)


def meta(config: Settings, pin: procs.Pinning, tmp: Path, argv: Sequence[str],
         ghz_bin: Path | None) -> dict[str, Any]:
    filesystem = command_output(["stat", "-f", "-c", "%T", str(tmp)])
    commit = command_output(["git", "rev-parse", "--short", "HEAD"])
    dirty = command_output(["git", "status", "--porcelain", "--untracked-files=no"])
    return {
        "argv": " ".join(argv), "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "commit": commit + (" + uncommitted changes" if dirty not in ("?", "") else ""),
        "machine": f"{os.cpu_count()} CPUs ({cpu_model()})", "versions": versions(ghz_bin),
        "pinning": pin.note, "load_before": load_average(), "rounds": config.rounds,
        "duration": config.duration, "connections": config.connections, "rate": config.rate,
        "open_seconds": config.open_seconds, "million": config.million,
        "store": f"SQLite (WAL, synchronous=FULL) in {filesystem}"
                 + (" — tmpfs: fsync is free, write figures are optimistic" if filesystem == "tmpfs" else ""),
    }


def _interrupted(signum: int, frame: types.FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM stops us as Ctrl-C does: through the cleanup below


def run(config: Settings, argv: Sequence[str]) -> int:
    pin = procs.pinning()
    started = time.monotonic()
    ghz_bin = build_ghz()
    with (tempfile.TemporaryDirectory(prefix="appimage-bench-", dir=config.parent_dir) as name,
          Processes(Path(name), pin.server) as ps):
        tmp = Path(name)
        results: dict[str, Any] = {"meta": meta(config, pin, tmp, argv, ghz_bin), "notes": []}
        if ghz_bin is None:
            results["notes"].append("gRPC cases skipped: no Go toolchain (hack/ghz-bin.sh builds ghz, "
                                    "their load generator)")
        print(f"{results['meta']['machine']}; {results['meta']['versions']}\n{pin.note}; "
              f"load average {results['meta']['load_before']}; {results['meta']['store']}", flush=True)
        servers = start_servers(ps, tmp, config)
        results["notes"] += servers.notes
        time.sleep(IDLE_SETTLE)
        results["memory"] = {"idle_mb": procs.rss_mb(ps.pid("service"))}
        cases = workloads.cases(config.seed)
        preflight(servers, cases)
        for case in cases:
            if case.server in servers.urls:
                print(f"body {case.name:22} {len(case.body):7,} bytes  POST {url_of(servers, case)}")
        with RSSSampler({n: p.pid for n, p in ps.running.items()}) as rss:
            results["closed"], results["open"] = measure(ps, servers, cases, tmp, config, pin, ghz_bin)
        results["memory"]["load_mb"] = rss.peak["service"]
        results["memory"]["peers"] = {n: v for n, v in rss.peak.items() if n != "service"}
        results["memory"]["soak"] = soak(ps, servers, cases, tmp, config, pin)
        results["memory"]["end_mb"] = procs.rss_mb(ps.pid("service"))
        problems = ps.problems()
        ps.stop_all()
        results["startup"] = startup(tmp, config, pin)
        print(f"start to ready: {', '.join(f'{s:.2f} s' for s in results['startup'])}", flush=True)
        results["scaling"] = scaling(config, pin)
        results["e2e"] = end_to_end(tmp, config)
        results["meta"]["load_after"] = load_average()
    errors = sum(r["errors"] for c in results["closed"].values() for r in c["rounds"])
    errors += sum(c.get("warmup_errors", 0) for c in results["closed"].values())
    errors += sum(r["bad"] + r["sent"] - r["answered"] for c in results["open"].values() for r in c["rounds"])
    results["errors"] = errors + len(problems)
    results["notes"] += [f"server log: {line}" for line in problems]
    md, png = report.write(results, RESULTS, config.stem)
    print()
    print(md.read_text())
    print(f"wrote {md.relative_to(ROOT)} and {png.relative_to(ROOT)} "
          f"in {time.monotonic() - started:.0f} s")
    if results["errors"]:
        print(f"bench: {results['errors']} errors: these figures measure failures, not the service",
              file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    config = parse_args(args)
    if shutil.which("wrk") is None:
        print("bench: wrk not found (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        return run(config, args)
    except KeyboardInterrupt:
        print("bench: interrupted; every server it started is stopped", file=sys.stderr)
        return 130
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
