"""Closed-loop gRPC load: ghz (built by hack/ghz-bin.sh), and what its JSON report says.

ghz is to the gRPC cases what wrk is to the REST ones: a compiled load generator that
keeps ``concurrency`` calls in flight for a number of seconds (pinned to the client CPU by
the caller), here with Kuscia's AppImageService read from our .proto (webhook/proto/; the
repository root is the import path, as the files import each other by that path), over
TLS verified with the run's CA. Its report gives the count, req/s, every call's gRPC
status and the latency of the OK ones.

ghz cannot read Kuscia's ``status`` in an answer (a gRPC OK with code 13106 counts as a
success to it), so ``check`` makes one call with grpcio and asserts gRPC OK and status
code 0 (bench/run does before and after every load), and bench/run counts the AppImages
a create load stored against the creates ghz saw answered OK.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import orjson
from google.protobuf import json_format, message

from bench import closedloop, openloop, workloads
from bench.procs import BenchError
from webhook.proto import codec

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "hack" / "ghz-bin.sh"
PROTO = "webhook/proto/appimage.proto"
CREATE = "CreateAppImage"
CONNECTIONS = 1
"""HTTP/2 connections ghz spreads its calls over. wrk needs one TCP connection per
request in flight (HTTP/1.1); a gRPC client multiplexes its calls on one connection per
server (grpc-go's ClientConn, as Kuscia's clients use, and grpcio's channel alike), so
one connection carrying as many calls as wrk has connections is the same offered load
in the shape gRPC clients send it."""
CHECK_TIMEOUT = 30.0  # seconds for the grpcio check call


def load_prefix(tag: str) -> str:
    """Names of the AppImages a create load with ``tag`` stores: this, then ghz's
    request number (0, 1, ...)."""
    return f"grpc-load-{tag}-"


def _name(method: str, create: str) -> str:
    """The name a call of ``method`` sends: ``create`` for a create, else the name
    bench/run stored for REST's query."""
    return create if method == CREATE else workloads.QUERY_NAME


def request(method: str, name: str) -> message.Message:
    """The REST case's body as ``method``'s request message: creates store the API
    document's example as ``name``; queries read ``name``."""
    if method == CREATE:
        # Kuscia's proto has no secret_map_ref, REST's alias of secret_ref.
        body = json.loads(json.dumps(workloads.create_body()).replace('"secret_map_ref"', '"secret_ref"'))
        body["name"] = name
    else:
        body = {"name": name}
    return json_format.ParseDict(body, codec.METHODS[method].request())


def data(method: str, tag: str) -> str:
    """ghz's call data: the request as JSON, a Go text/template executed per call. The
    example's config template holds Kuscia's own ``{{.TASK_ID}}`` placeholders, so every
    ``{{`` of the body is escaped as a template literal; a create's name then gets ghz's
    request number, unique within the load (and the tag makes it unique in the run)."""
    text = json_format.MessageToJson(request(method, _name(method, workloads.NAME_PLACEHOLDER)),
                                     indent=None, preserving_proto_field_name=True)
    text = text.replace("{{", "{{`{{`}}")
    return text.replace(workloads.NAME_PLACEHOLDER, load_prefix(tag) + "{{.RequestNumber}}")


def check(target: str, ca: Path, method: str, tag: str) -> None:
    """One call of ``method`` with grpcio (a create stores ``grpc-check-TAG``);
    BenchError unless the answer is gRPC OK with Kuscia's status code 0."""
    m = codec.METHODS[method]
    name = _name(method, f"grpc-check-{tag}")
    what = f"gRPC {method} {name}"
    with grpc.secure_channel(target, grpc.ssl_channel_credentials(ca.read_bytes())) as channel:
        call = channel.unary_unary(m.path, request_serializer=m.request.SerializeToString,
                                   response_deserializer=m.response.FromString)
        try:
            response: Any = call(request(method, name), timeout=CHECK_TIMEOUT)
        except grpc.RpcError as e:
            status = f"{e.code().name}: {e.details()}" if isinstance(e, grpc.Call) else str(e)
            raise BenchError(f"{what}: {status}") from e
    if response.status.code != 0:
        raise BenchError(f"{what}: gRPC OK but status {response.status.code}: "
                         f"{response.status.message[:300]}")


def answers(target: str, ca: Path) -> bool:
    """Whether the server at ``target`` answers a query with gRPC OK and status code 0."""
    try:
        check(target, ca, "QueryAppImage", "ready")
    except BenchError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Result:
    rps: float
    requests: int
    ok: int
    """Calls answered with gRPC status OK."""
    statuses: dict[str, int]
    """Calls by gRPC status name ("OK", "Unavailable", ...)."""
    latency_ms: dict[str, float]
    """Percentile (as wrk's rows key it: "50", "99", "99.9", "100" for the slowest) ->
    latency in ms, of the OK calls."""
    sample: str
    """The most frequent error message ("" when every call was OK)."""

    @property
    def errors(self) -> int:
        return self.requests - self.ok


def parse(report: dict[str, Any]) -> Result:
    """Figures from ghz's JSON report. Percentiles are ghz's own (its latencyDistribution,
    10 to 99) and its slowest call as "100"; p99.9, which ghz does not report, is taken by
    the same nearest-rank rule from its per-call details, when they hold every call (ghz
    keeps the first 1,000,000: runner/requester.go's maxResult)."""
    count = int(report["count"])
    statuses = {str(k): int(v) for k, v in (report.get("statusCodeDistribution") or {}).items()}
    latency = {f"{d['percentage']:g}": d["latency"] / 1e6
               for d in report.get("latencyDistribution") or () if d["percentage"]}
    details = report.get("details") or []
    if latency and len(details) == count:
        ok = sorted(d["latency"] for d in details if not d["error"])
        latency["99.9"] = openloop.percentile(ok, 99.9) / 1e6
    if latency:
        latency["100"] = report["slowest"] / 1e6
    errors = report.get("errorDistribution") or {}
    return Result(rps=float(report["rps"]), requests=count, ok=statuses.get("OK", 0), statuses=statuses,
                  latency_ms=latency, sample=max(errors, key=errors.__getitem__, default=""))


def argv(binary: Path, target: str, ca: Path, method: str, *, seconds: int, concurrency: int, tag: str,
         pin: Sequence[str] = (), rate: float = 0) -> list[str]:
    """ghz's command line: ``concurrency`` calls of ``method`` in flight for ``seconds``
    (``rate``: at most that many calls a second; 0: as many as the server answers); calls
    still in flight then are awaited and counted (``--duration-stop wait``), so every
    create that may have been stored is in the count."""
    return [*pin, str(binary), "--cacert", str(ca), "--import-paths", str(ROOT), "--proto", PROTO,
            "--call", codec.METHODS[method].path.lstrip("/"), "--data", data(method, tag),
            "--disable-template-functions", "--concurrency", str(concurrency),
            "--connections", str(CONNECTIONS), "--duration", f"{seconds}s", "--duration-stop", "wait",
            *(("--rps", f"{rate:g}") if rate else ()), "--format", "json", target]


def report(done: subprocess.CompletedProcess[bytes], method: str) -> Result:
    """The figures of a finished ghz; BenchError when it failed or its report is unreadable."""
    if done.returncode != 0:
        raise BenchError(f"ghz {method} exited with status {done.returncode}:\n"
                         f"{done.stderr.decode(errors='replace')}{done.stdout[:2000].decode(errors='replace')}")
    try:
        return parse(orjson.loads(done.stdout))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise BenchError(f"ghz {method}: unreadable report ({e}): {done.stdout[:500]!r}") from e


def run(binary: Path, target: str, ca: Path, method: str, *, seconds: int, concurrency: int, tag: str,
        pin: Sequence[str] = ()) -> Result:
    """One closed-loop load (``argv``), waited for."""
    command = argv(binary, target, ca, method, seconds=seconds, concurrency=concurrency, tag=tag, pin=pin)
    try:
        done = subprocess.run(command, capture_output=True, cwd=ROOT, timeout=seconds + closedloop.GRACE)
    except subprocess.TimeoutExpired as e:
        raise BenchError(f"ghz {method} did not finish within {seconds + closedloop.GRACE} s") from e
    return report(done, method)
