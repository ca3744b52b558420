"""End to end through a real kube-apiserver: the latency our webhooks add to a create.

A throwaway etcd + kube-apiserver (tests/support/k8s/controlplane.py, binaries from
hack/k8s-bin.sh) with the AppImage CRD; our service as a subprocess (tests/support/serverproc.py)
on CPU 0. Clients create AppImages through the API server at 1 and at 10 concurrent
clients, with our mutating and validating webhooks registered and with none registered,
alternating, in rounds (tests/support/apiserver.py's ``Webhooks`` switches them and returns
only once the API server calls, or stops calling, our server). The object is the
document's example made valid for the CRD alone (its envFrom entry split in two), so
both modes store the same thing; every create must answer 201, and with webhooks the
service's own metrics must have counted a mutate and a validate call per create.

The API server and etcd are not pinned: they share both CPUs with our server and the
clients, as on a small node. The added latency is the difference of the medians over
rounds of each percentile, with and without.

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
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from prometheus_client import parser

from bench import openloop, workloads
from tests.support import apiserver, kuscia
from tests.support.k8s import controlplane
from tests.support.serverproc import ServerProcess

CONCURRENCY = (1, 10)
JOB_CLIENTS = 10
SEED_CLIENTS = 32
WARMUP = 5  # unrecorded creates before each measurement: connections, caches


@dataclass(frozen=True, slots=True)
class Sample:
    mode: str  # "webhooks" or "none"
    clients: int
    creates: int
    latency_ms: dict[str, float]
    rate: float
    review_ms: float
    """Mean time our server spent per review (its own latency histogram; 0 without)."""


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


async def _creates(plane: controlplane.ControlPlane, count: int, clients: int,
                   tag: str) -> tuple[list[float], list[str]]:
    url = plane.url + apiserver.APPIMAGES
    latencies: list[float] = []
    problems: list[str] = []
    async with _session(plane, clients) as session:

        async def create(name: str, record: bool) -> None:
            body = orjson.dumps(appimage(name))
            started = time.perf_counter()
            async with session.post(url, data=body) as response:
                answer = await response.read()
            if record:
                latencies.append(time.perf_counter() - started)
            if response.status != 201:
                problems.append(f"{name}: HTTP {response.status}: {answer[:300]!r}")

        async def client(i: int, share: int, record: bool) -> None:
            for n in range(share):
                await create(f"e2e-{tag}-{'r' if record else 'w'}-{i}-{n}", record)

        await asyncio.gather(*(client(i, max(WARMUP // clients, 1), False) for i in range(clients)))
        await asyncio.gather(*(client(i, count // clients, True) for i in range(clients)))
    return latencies, problems


def _review_seconds(server: ServerProcess) -> tuple[float, float]:
    """(sum, count) of the server's webhook latency histogram, both webhooks together."""
    total = count = 0.0
    for line in server.metrics().splitlines():
        if line.startswith("controller_runtime_webhook_latency_seconds_sum{"):
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith("controller_runtime_webhook_latency_seconds_count{"):
            count += float(line.rsplit(" ", 1)[1])
    return total, count


def _summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {str(p): openloop.percentile(ordered, p) * 1000 for p in (50, 90, 99, 100)}


def measure(work_dir: Path, *, rounds: int, creates: int, log: Any = print) -> list[Sample]:
    """``rounds`` x (webhooks, none) x CONCURRENCY measurements of ``creates`` creates."""
    assets = controlplane.find_assets()
    samples: list[Sample] = []
    with controlplane.ControlPlane(assets, work_dir=work_dir / "k8s") as plane:
        apiserver.install_crd(plane)
        with ServerProcess(work_dir / "server", tls_mode="tls") as server:
            os.sched_setaffinity(server.pid, {0})
            hooks = apiserver.Webhooks(plane)
            for r in range(1, rounds + 1):
                modes = ("webhooks", "none") if r % 2 else ("none", "webhooks")
                for mode in modes:
                    if mode == "webhooks":
                        hooks.register(server)
                    elif hooks.server is not None:
                        hooks.unregister()
                    for clients in CONCURRENCY:
                        calls = apiserver.webhook_calls(server)
                        spent = _review_seconds(server)
                        started = time.perf_counter()
                        latencies, problems = asyncio.run(
                            _creates(plane, creates, clients, f"{r}{mode[0]}{clients}"))
                        elapsed = time.perf_counter() - started
                        made = apiserver.webhook_calls(server)
                        spent_after = _review_seconds(server)
                        reviews = spent_after[1] - spent[1]
                        review_ms = (spent_after[0] - spent[0]) / reviews * 1000 if reviews else 0.0
                        expected = (len(latencies) + max(WARMUP // clients, 1) * clients
                                    if mode == "webhooks" else 0)
                        for path in apiserver.WEBHOOKS:
                            if made[path] - calls[path] != expected:
                                problems.append(f"{path}: {made[path] - calls[path]:g} calls for "
                                                f"{expected} creates ({mode})")
                        if problems:
                            raise RuntimeError(f"end to end, {mode}, {clients} clients: "
                                               f"{len(problems)} problems, first: {problems[0]}")
                        sample = Sample(mode, clients, len(latencies), _summary(latencies),
                                        len(latencies) / elapsed, review_ms)
                        samples.append(sample)
                        log(f"round {r}/{rounds} e2e {mode:8} {clients:2} clients  "
                            f"p50 {sample.latency_ms['50']:6.2f} ms  p99 {sample.latency_ms['99']:6.2f} ms  "
                            f"{sample.rate:6.0f} creates/s"
                            + (f"  {review_ms:.2f} ms per review in our server" if reviews else ""))
            if hooks.server is not None:
                hooks.unregister()
    return samples


def added(samples: list[Sample]) -> dict[int, dict[str, float]]:
    """Per client count: p50/p99 with and without webhooks (medians over rounds) and the
    difference."""
    out: dict[int, dict[str, float]] = {}
    for clients in CONCURRENCY:
        row: dict[str, float] = {}
        for mode in ("none", "webhooks"):
            mine = [s for s in samples if s.mode == mode and s.clients == clients]
            for p in ("50", "99"):
                row[f"{mode} p{p}"] = statistics.median(s.latency_ms[p] for s in mine)
            row[f"{mode} creates/s"] = statistics.median(s.rate for s in mine)
        row["review ms"] = statistics.median(
            s.review_ms for s in samples if s.mode == "webhooks" and s.clients == clients)
        for p in ("50", "99"):
            row[f"added p{p}"] = row[f"webhooks p{p}"] - row[f"none p{p}"]
        out[clients] = row
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
    for family in parser.text_string_to_metric_families(server.metrics()):
        if family.name == "controller_runtime_webhook_latency_seconds":
            return {float(s.labels["le"]): s.value for s in family.samples
                    if s.name.endswith("_bucket") and s.labels.get("webhook") == "/validate"}
    raise RuntimeError("the server exports no controller_runtime_webhook_latency_seconds")


def _gauge(server: ServerProcess, name: str) -> float:
    for family in parser.text_string_to_metric_families(server.metrics()):
        if family.name == name:
            return float(family.samples[0].value)
    raise RuntimeError(f"the server exports no {name}")


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
