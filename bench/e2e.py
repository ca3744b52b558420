"""End to end through a real kube-apiserver: what our webhooks cost the API server.

A throwaway etcd + kube-apiserver (tests/support/k8s/controlplane.py, binaries from
hack/k8s-bin.sh) with the AppImage CRD; our service as a subprocess (tests/support/serverproc.py)
and the floor (bench/floor.py: an aiohttp webhook answering ``allowed`` at once) on
CPU 0. In interleaved rounds, clients create AppImages through the API server at 1 and
10 concurrent clients, then (10 clients) change only a label of each with a merge PATCH,
in each of ``MODES``; the configurations are the chart's (tests/support/apiserver.py's,
matchConditions included) and each switch returns only once the API server calls the
intended server at the intended paths. The object is the document's example made valid
for the CRD alone (its envFrom entry split in two), so every mode stores the same
thing; every call must succeed, and our service's own metrics must have counted the
calls each mode implies.

Per measurement at 10 clients the CPU each process spent per call (kube-apiserver, etcd,
the webhook server) is read from /proc; the floor also counts what the calls are on
the wire: connections (TLS handshakes) per 1,000 calls and bytes per review each way
(ours answer with the bytes replaying the floor's last reviews to our server gives).

The API server and etcd are not pinned: they share both CPUs with the webhook and the
clients, as on a small node. Figures are medians over rounds.

``kuscia_jobs`` measures the links' cost on a KusciaJob (tests/support/kuscia.py's minimal
CRDs for Kuscia's kinds): with ``appimages`` AppImages stored in the API server, our
server on ``--store kubernetes`` (links guarded, ``deny``) reviews KusciaJob creates
(server-side dry runs: validated, never stored) from 10 clients; the figure is the p99
of our server's own latency histogram for ``/validate`` over those reviews (interpolated
in its buckets as Prometheus' ``histogram_quantile`` does).
"""

from __future__ import annotations

import asyncio
import os
import ssl
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from prometheus_client import parser

from bench import openloop, procs, workloads
from tests.support import apiserver, kuscia
from tests.support.k8s import controlplane
from tests.support.serverproc import ServerProcess
from webhook.ops import certificates

CONCURRENCY = (1, 10)
LABEL_CLIENTS = 10
JOB_CLIENTS = 10
SEED_CLIENTS = 32
WARMUP = 5  # unrecorded calls before each measurement: connections, caches
MODES = ("none", "webhooks", "validating", "floor")
"""No webhook; the chart's default (mutating and validating, calling our service); the
chart with ``webhook.mutating=false`` (validating only); the chart's default calling the
floor."""
CALLED = {"none": (), "webhooks": ("/mutate", "/validate"), "validating": ("/validate",),
          "floor": ("/mutate", "/validate")}
"""The paths each mode's configurations send a create to."""


@dataclass(frozen=True, slots=True)
class Sample:
    mode: str
    operation: str  # "create", or "label": a merge PATCH of one label of a stored AppImage
    clients: int
    calls: int
    latency_ms: dict[str, float]
    rate: float
    review_ms: float
    """Mean time our server spent per review (its own latency histogram; 0 when not called)."""
    cpu_ms: dict[str, float] = field(default_factory=dict)
    """CPU milliseconds per call of kube-apiserver, etcd and the webhook server (10 clients)."""
    wire: dict[str, float] = field(default_factory=dict)
    """The floor's count of the calls it got: connections per 1,000 calls, bytes per review."""


def appimage(name: str) -> dict[str, Any]:
    obj = workloads.defaulted(workloads.appimage())
    obj["metadata"] = {"name": name}
    for template in obj["spec"]["deployTemplates"]:
        template.pop("replicas", None)  # the CRD's default or the mutating webhook fills it
    return obj


def _session(plane: controlplane.ControlPlane, clients: int) -> aiohttp.ClientSession:
    headers = {"Authorization": f"Bearer {plane.token}", "Content-Type": "application/json"}
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=plane.ssl_context(), limit=clients),
                                 headers=headers)


async def _calls(plane: controlplane.ControlPlane, names: list[str], clients: int, operation: str,
                 record: bool) -> tuple[list[float], list[str]]:
    """Each of ``names`` created (or its label changed) by ``clients`` clients in turn."""
    latencies: list[float] = []
    problems: list[str] = []
    async with _session(plane, clients) as session:

        async def call(name: str) -> None:
            if operation == "create":
                request = session.post(plane.url + apiserver.APPIMAGES, data=orjson.dumps(appimage(name)))
                expected = 201
            else:
                patch = {"metadata": {"labels": {"bench": str(time.time_ns())}}}
                request = session.patch(plane.url + f"{apiserver.APPIMAGES}/{name}", data=orjson.dumps(patch),
                                        headers={"Content-Type": "application/merge-patch+json"})
                expected = 200
            started = time.perf_counter()
            async with request as response:
                answer = await response.read()
            if record:
                latencies.append(time.perf_counter() - started)
            if response.status != expected:
                problems.append(f"{operation} {name}: HTTP {response.status}: {answer[:300]!r}")

        async def client(i: int) -> None:
            for name in names[i::clients]:
                await call(name)

        await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies, problems


LATENCY = "controller_runtime_webhook_latency_seconds"


def _samples(server: ServerProcess, family: str) -> list[Any]:
    """The samples of one metric family of the server's /metrics (prometheus_client's parser)."""
    for found in parser.text_string_to_metric_families(server.metrics()):
        if found.name == family:
            return list(found.samples)
    raise RuntimeError(f"the server exports no {family}")


def _review_seconds(server: ServerProcess) -> tuple[float, float]:
    """(sum, count) of the server's webhook latency histogram, both webhooks together."""
    samples = _samples(server, LATENCY)
    return (sum(s.value for s in samples if s.name.endswith("_sum")),
            sum(s.value for s in samples if s.name.endswith("_count")))


def _summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {str(p): openloop.percentile(ordered, p) * 1000 for p in (50, 90, 99, 100)}


class Floor:
    """bench/floor.py as a subprocess on CPU 0, with the service's certificates."""

    def __init__(self, work_dir: Path, paths: certificates.Paths) -> None:
        self.port = controlplane.free_ports(1)[0]
        self.url = f"https://127.0.0.1:{self.port}"
        self._context = ssl.create_default_context(cafile=str(paths.ca))
        self._log = (work_dir / "floor.log").open("wb")
        argv = [sys.executable, "-m", "bench.floor", "--port", str(self.port),
                "--cert", str(paths.server_cert), "--key", str(paths.server_key)]
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT)
        os.sched_setaffinity(self.proc.pid, {0})
        deadline = time.monotonic() + 30
        while True:
            try:
                self.stats()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"the floor did not start: see {self._log.name}") from None
                time.sleep(0.1)

    def _get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, context=self._context, timeout=5) as response:
            body: bytes = response.read()
        return body

    def stats(self) -> dict[str, Any]:
        found: dict[str, Any] = orjson.loads(self._get("/stats"))
        return found

    def body(self, path: str) -> bytes:
        """The last review the floor got at ``path``."""
        return self._get("/body" + path)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self._log.close()


def _counts(server: ServerProcess, floor: Floor) -> dict[str, float]:
    ours = apiserver.webhook_calls(server)
    theirs = floor.stats()["requests"]
    return {**{f"ours {p}": ours[p] for p in apiserver.WEBHOOKS},
            **{f"floor {p}": float(theirs.get(p, 0)) for p in apiserver.WEBHOOKS}}


def _switch(plane: controlplane.ControlPlane, server: ServerProcess, floor: Floor, mode: str) -> None:
    """Point the chart's configurations at what ``mode`` calls; return once one dry-run
    probe reaches exactly the intended server at exactly the intended paths."""
    target, paths = (floor.url, CALLED[mode]) if mode == "floor" else (server.webhook_url, CALLED[mode])
    ca_pem = server.cert_paths.ca.read_bytes()
    for path in apiserver.WEBHOOKS:
        if path in paths:
            apiserver.apply_configuration(plane, path, target, ca_pem)
        else:
            apiserver.remove_configuration(plane, path)
    who = "floor" if mode == "floor" else "ours"
    expected = {f"{w} {p}": float(w == who and p in paths)
                for w in ("ours", "floor") for p in apiserver.WEBHOOKS}
    deadline = time.monotonic() + apiserver.WEBHOOK_SWITCH_TIMEOUT
    while True:
        before = _counts(server, floor)
        apiserver.probe_webhooks(plane)
        after = _counts(server, floor)
        if {k: after[k] - before[k] for k in after} == expected:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"switching to {mode}: the API server did not call as expected")
        time.sleep(0.1)


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    return {name: procs.cpu_seconds(pid) for name, pid in pids.items()}


def _wire(before: dict[str, Any], after: dict[str, Any], server: ServerProcess,
          floor: Floor) -> dict[str, float]:
    calls = sum(after["requests"].values()) - sum(before["requests"].values())
    wire = {"connections per 1000 calls": (after["connections"] - before["connections"]) * 1000 / calls,
            "resumed sessions": float(after["resumed"] - before["resumed"])}
    context = server.client_context(with_cert=False)
    for path in apiserver.WEBHOOKS:
        n = after["requests"].get(path, 0) - before["requests"].get(path, 0)
        if not n:
            continue
        wire[f"{path} bytes in"] = (after["bytes_in"][path] - before["bytes_in"].get(path, 0)) / n
        wire[f"{path} bytes out, floor"] = (after["bytes_out"][path] - before["bytes_out"].get(path, 0)) / n
        request = urllib.request.Request(server.webhook_url + path, data=floor.body(path), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, context=context, timeout=5) as response:
            wire[f"{path} bytes out, ours"] = float(len(response.read()))
    return wire


def _measure(plane: controlplane.ControlPlane, server: ServerProcess, floor: Floor, mode: str,
             operation: str, names: list[str], clients: int, log: Callable[[str], None],
             label: str) -> Sample:
    pids = {"kube-apiserver": plane.pids["kube-apiserver"], "etcd": plane.pids["etcd"],
            "webhook": floor.proc.pid if mode == "floor" else server.pid}
    warm = names[:WARMUP * clients]
    _, problems = asyncio.run(_calls(plane, warm, clients, operation, False))
    calls, spent, cpu, wire = _counts(server, floor), _review_seconds(server), _cpu(pids), floor.stats()
    started = time.perf_counter()
    latencies, more = asyncio.run(_calls(plane, names[len(warm):], clients, operation, True))
    elapsed = time.perf_counter() - started
    problems += more
    made, spent_after, cpu_after = _counts(server, floor), _review_seconds(server), _cpu(pids)
    reviews = spent_after[1] - spent[1]
    who = "floor" if mode == "floor" else "ours"
    for path in apiserver.WEBHOOKS:
        expected = len(latencies) if operation == "create" and path in CALLED[mode] else 0
        for w in ("ours", "floor"):
            got = made[f"{w} {path}"] - calls[f"{w} {path}"]
            if got != (expected if w == who else 0):
                problems.append(f"{w} {path}: {got:g} calls for {len(latencies)} {operation}s ({mode})")
    if problems:
        raise RuntimeError(f"end to end, {mode}, {operation}, {clients} clients: "
                           f"{len(problems)} problems, first: {problems[0]}")
    sample = Sample(mode, operation, clients, len(latencies), _summary(latencies), len(latencies) / elapsed,
                    (spent_after[0] - spent[0]) / reviews * 1000 if reviews else 0.0,
                    {k: (cpu_after[k] - cpu[k]) * 1000 / len(latencies) for k in pids} if clients > 1 else {},
                    _wire(wire, floor.stats(), server, floor) if mode == "floor" and operation == "create"
                    and clients > 1 else {})
    log(f"{label} e2e {mode:10} {operation:6} {clients:2} clients  p50 {sample.latency_ms['50']:6.2f} ms  "
        f"p99 {sample.latency_ms['99']:6.2f} ms  {sample.rate:6.0f}/s"
        + (f"  {sample.review_ms:.2f} ms per review in our server" if reviews else "")
        + ("  CPU ms/call " + ", ".join(f"{k} {v:.2f}" for k, v in sample.cpu_ms.items())
           if sample.cpu_ms else ""))
    return sample


def measure(work_dir: Path, *, rounds: int, creates: int, log: Any = print) -> list[Sample]:
    """``rounds`` x ``MODES`` (order turned each round) x (creates at each of
    ``CONCURRENCY``, then label-only updates of the 10-client creates)."""
    assets = controlplane.find_assets()
    samples: list[Sample] = []
    with controlplane.ControlPlane(assets, work_dir=work_dir / "k8s") as plane:
        apiserver.install_crd(plane)
        with ServerProcess(work_dir / "server", tls_mode="tls") as server:
            os.sched_setaffinity(server.pid, {0})
            floor = Floor(work_dir, server.cert_paths)
            try:
                for r in range(1, rounds + 1):
                    for mode in MODES[r % len(MODES):] + MODES[:r % len(MODES)]:
                        _switch(plane, server, floor, mode)
                        for clients in CONCURRENCY:
                            count = creates + WARMUP * clients
                            names = [f"e2e-{r}-{mode}-{clients}-{n}" for n in range(count)]
                            label = f"round {r}/{rounds}"
                            samples.append(_measure(plane, server, floor, mode, "create", names, clients,
                                                    log, label))
                            if clients == LABEL_CLIENTS:
                                samples.append(_measure(plane, server, floor, mode, "label", names, clients,
                                                        log, label))
                        _switch(plane, server, floor, "none")
                        apiserver.delete_all(plane)  # the next mode starts from the same store
            finally:
                floor.stop()
    return samples


def _median(samples: list[Sample], mode: str, operation: str, clients: int,
            value: Callable[[Sample], float]) -> float:
    mine = [value(s) for s in samples if (s.mode, s.operation, s.clients) == (mode, operation, clients)]
    return statistics.median(mine) if mine else float("nan")


def added(samples: list[Sample]) -> dict[int, dict[str, float]]:
    """Per client count, creates: p50/p99 and rate of every mode (medians over rounds),
    what the webhooks add to none, and our rate against the floor's."""
    out: dict[int, dict[str, float]] = {}
    for clients in CONCURRENCY:
        row: dict[str, float] = {}
        for mode in MODES:
            for p in ("50", "99"):
                row[f"{mode} p{p}"] = _median(samples, mode, "create", clients,
                                              lambda s, p=p: s.latency_ms[p])
            row[f"{mode} creates/s"] = _median(samples, mode, "create", clients, lambda s: s.rate)
        row["review ms"] = _median(samples, "webhooks", "create", clients, lambda s: s.review_ms)
        for p in ("50", "99"):
            row[f"added p{p}"] = row[f"webhooks p{p}"] - row[f"none p{p}"]
        row["webhooks / floor"] = _ratio_of_medians(samples, "webhooks", "floor", "create", clients)
        row["validating / none"] = _ratio_of_medians(samples, "validating", "none", "create", clients)
        row["webhooks / none"] = _ratio_of_medians(samples, "webhooks", "none", "create", clients)
        out[clients] = row
    return out


def _ratio_of_medians(samples: list[Sample], mode: str, baseline: str, operation: str, clients: int) -> float:
    """The median over rounds of ``mode``'s rate over ``baseline``'s in the same round
    (samples come in rounds: the n-th of each mode belong together)."""
    mine = [s.rate for s in samples if (s.mode, s.operation, s.clients) == (mode, operation, clients)]
    theirs = [s.rate for s in samples if (s.mode, s.operation, s.clients) == (baseline, operation, clients)]
    ratios = [a / b for a, b in zip(mine, theirs, strict=True) if b]
    return statistics.median(ratios) if ratios else float("nan")


def labels(samples: list[Sample]) -> dict[str, float]:
    """Label-only updates at LABEL_CLIENTS: rate and p99 per mode, and each over none."""
    row: dict[str, float] = {}
    for mode in MODES:
        row[f"{mode} updates/s"] = _median(samples, mode, "label", LABEL_CLIENTS, lambda s: s.rate)
        row[f"{mode} p99"] = _median(samples, mode, "label", LABEL_CLIENTS, lambda s: s.latency_ms["99"])
        row[f"{mode} / none"] = _ratio_of_medians(samples, mode, "none", "label", LABEL_CLIENTS)
    return row


def breakdown(samples: list[Sample]) -> dict[str, dict[str, float]]:
    """Per mode, creates at 10 clients: CPU ms per create of each process (medians), and
    the floor's wire figures."""
    out: dict[str, dict[str, float]] = {}
    for mode in MODES:
        mine = [s for s in samples if (s.mode, s.operation, s.clients) == (mode, "create", LABEL_CLIENTS)]
        if not mine:
            continue
        out[mode] = {f"{k} CPU ms": statistics.median(s.cpu_ms[k] for s in mine) for k in mine[0].cpu_ms}
        wires = [s.wire for s in mine if s.wire]
        if wires:
            out[mode] |= {k: statistics.median(w[k] for w in wires) for k in wires[0]}
    return out


# --- a KusciaJob's links -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobReviews:
    appimages: int
    reviews: int
    clients: int
    p99_ms: float
    """Our server's p99 for a KusciaJob review, from its /validate latency histogram."""
    mean_ms: float
    rate: float
    """Dry-run KusciaJob creates per second through the API server."""


def _validate_histogram(server: ServerProcess) -> dict[float, float]:
    """Cumulative counts of the server's /validate latency histogram, by upper bound."""
    return {float(s.labels["le"]): s.value for s in _samples(server, LATENCY)
            if s.name.endswith("_bucket") and s.labels.get("webhook") == "/validate"}


def _gauge(server: ServerProcess, name: str) -> float:
    return float(_samples(server, name)[0].value)


def _await_index(server: ServerProcess, appimages: int, timeout: float = 120.0) -> None:
    """Until the server's index of AppImages holds every one (its start is not measured)."""
    deadline = time.monotonic() + timeout
    while not (_gauge(server, "appimage_index_synced") == 1
               and _gauge(server, "appimage_index_objects") == appimages):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server's AppImage index did not hold {appimages} AppImages "
                               f"within {timeout:g} s")
        time.sleep(0.1)


def histogram_quantile(q: float, before: dict[float, float], after: dict[float, float]) -> float:
    """The ``q`` quantile (seconds) of what was observed between two readings of a
    cumulative histogram, interpolated linearly inside its bucket (Prometheus' way)."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    rank = q * counts[-1]
    lower = 0.0
    for bound, count, previous in zip(bounds, counts, [0.0, *counts], strict=False):
        if count >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - previous) / max(count - previous, 1e-12)
        lower = bound
    return lower


async def _seed(plane: controlplane.ControlPlane, count: int) -> None:
    url = plane.url + apiserver.APPIMAGES
    async with _session(plane, SEED_CLIENTS) as session:

        async def client(i: int) -> None:
            for n in range(i, count, SEED_CLIENTS):
                async with session.post(url, data=orjson.dumps(appimage(f"linked-{n}"))) as response:
                    if response.status != 201:
                        raise RuntimeError(f"seeding AppImage {n}: HTTP {response.status}: "
                                           f"{(await response.read())[:300]!r}")

        await asyncio.gather(*(client(i) for i in range(SEED_CLIENTS)))


async def _jobs(plane: controlplane.ControlPlane, appimages: int, reviews: int) -> float:
    """Dry-run KusciaJob creates from JOB_CLIENTS clients, each job's two tasks naming two
    stored AppImages; the creates per second."""
    url = plane.url + kuscia.path("KusciaJob") + "?dryRun=All"
    role = workloads.appimage()["spec"]["deployTemplates"][0]["role"]
    async with _session(plane, JOB_CLIENTS) as session:

        async def client(i: int) -> None:
            for n in range(i, reviews, JOB_CLIENTS):
                job = kuscia.job(f"job-{n}", (f"linked-{(7 * n) % appimages}", (role, role)),
                                 (f"linked-{(7 * n + 1) % appimages}", (role,)))
                async with session.post(url, data=orjson.dumps(job)) as response:
                    if response.status != 201:
                        raise RuntimeError(f"KusciaJob {n}: HTTP {response.status}: "
                                           f"{(await response.read())[:300]!r}")

        started = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(JOB_CLIENTS)))
        return reviews / (time.perf_counter() - started)


def kuscia_jobs(work_dir: Path, *, appimages: int, reviews: int, log: Any = print) -> JobReviews:
    """Our server's own latency for a KusciaJob review with ``appimages`` stored."""
    assets = controlplane.find_assets()
    with controlplane.ControlPlane(assets, work_dir=work_dir / "k8s") as plane:
        apiserver.install_crd(plane)
        apiserver.install_kuscia_kinds(plane.request)
        started = time.perf_counter()
        asyncio.run(_seed(plane, appimages))
        log(f"e2e KusciaJob: seeded {appimages:,} AppImages in the API server in "
            f"{time.perf_counter() - started:.1f} s")
        kubeconfig = plane.write_kubeconfig(work_dir / "kubeconfig")
        server = apiserver.kube_server(work_dir / "links-server", kubeconfig)
        try:
            os.sched_setaffinity(server.pid, {0})
            _await_index(server, appimages)
            hooks = apiserver.Webhooks(plane)
            hooks.register(server, links=True)
            asyncio.run(_jobs(plane, appimages, WARMUP * JOB_CLIENTS))
            before, spent = _validate_histogram(server), _review_seconds(server)
            rate = asyncio.run(_jobs(plane, appimages, reviews))
            after, spent_after = _validate_histogram(server), _review_seconds(server)
            hooks.unregister()
        finally:
            server.stop()
    counted = after[float("inf")] - before.get(float("inf"), 0.0)
    if counted != reviews:
        raise RuntimeError(f"our server counted {counted:g} /validate reviews for {reviews} "
                           "KusciaJob creates")
    result = JobReviews(appimages, reviews, JOB_CLIENTS, histogram_quantile(0.99, before, after) * 1000,
                        (spent_after[0] - spent[0]) / (spent_after[1] - spent[1]) * 1000, rate)
    log(f"e2e KusciaJob review, {appimages:,} AppImages stored, {JOB_CLIENTS} clients: our server's p99 "
        f"{result.p99_ms:.2f} ms, mean {result.mean_ms:.2f} ms; {rate:.0f} dry-run creates/s")
    return result
