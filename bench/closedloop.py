"""Closed-loop load: wrk with bench/wrk/post.lua, and what its output says.

wrk keeps ``connections`` requests in flight on kept-alive HTTPS connections (one
thread, pinned to the client CPU); post.lua checks every answer and prints the
percentiles of wrk's latency histogram. Closed loop means a slow answer delays the
next request on its connection, so high percentiles are optimistic under overload
(coordinated omission): the open-loop figures (``bench.openloop``) are the honest p99.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "wrk" / "post.lua"
THREADS = 1
GRACE = 30  # seconds beyond the duration before a wrk that hangs is killed


class LoadError(Exception):
    """wrk failed or printed something unreadable."""


@dataclass(frozen=True, slots=True)
class Result:
    rps: float
    requests: int
    latency_ms: dict[float, float]
    """Percentile -> latency in ms (100 is the maximum)."""
    socket_errors: int
    non_2xx: int
    """Answers with status >= 400, as wrk counts them."""
    bad_status: int
    """Answers whose status was not 200, as post.lua counts them (covers non_2xx)."""
    bad_body: int
    """200 answers without the expected text (e.g. a Kuscia error code)."""
    samples: tuple[str, ...] = ()
    """The first bad answer of each wrk thread."""
    cpu_us: float = 0.0
    """Server CPU time (user + system) per request, in µs; 0 when not measured."""
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return self.socket_errors + max(self.non_2xx, self.bad_status) + self.bad_body

    def p(self, percentile: float) -> float:
        return self.latency_ms[percentile]


_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)\s*$", re.M)
_REQUESTS = re.compile(r"^\s*(\d+) requests in ", re.M)
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_CHECK = re.compile(r"^bench-check checked=(\d+) bad_status=(\d+) bad_body=(\d+)$", re.M)
_LATENCY = re.compile(r"^bench-latency (.*)$", re.M)
_SAMPLE = re.compile(r"^bench-check-sample: (.*)$", re.M)


def parse(output: str) -> Result:
    """Figures from wrk's report and the lines bench/wrk/post.lua prints."""
    def one(pattern: re.Pattern[str], what: str) -> re.Match[str]:
        match = pattern.search(output)
        if match is None:
            raise LoadError(f"no {what} in wrk's output")
        return match

    latency = {float(p): int(us) / 1000 for p, us in
               (pair.split(":") for pair in one(_LATENCY, "bench-latency line")[1].split())}
    socket_errors = _SOCKET.search(output)
    non_2xx = _NON_2XX.search(output)
    check = one(_CHECK, "bench-check line (was the script bench/wrk/post.lua?)")
    return Result(
        rps=float(one(_RPS, "Requests/sec")[1]),
        requests=int(one(_REQUESTS, "request count")[1]),
        latency_ms=latency,
        socket_errors=sum(map(int, socket_errors.groups())) if socket_errors else 0,
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        bad_status=int(check[2]),
        bad_body=int(check[3]),
        samples=tuple(_SAMPLE.findall(output)),
    )


def run(url: str, body_file: Path, expect: str, *, seconds: float, connections: int,
        names: str = "", tag: str = "x", pin: Sequence[str] = ()) -> Result:
    argv = [*pin, "wrk", f"-t{THREADS}", f"-c{connections}", f"-d{int(seconds)}s",
            "-s", str(SCRIPT), url, "--", str(body_file), expect]
    if names:
        argv += [names, tag]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT,
                              timeout=seconds + GRACE)
    except subprocess.TimeoutExpired as e:
        raise LoadError(f"wrk did not finish within {seconds + GRACE:g} s") from e
    if done.returncode != 0:
        raise LoadError(f"wrk exited with status {done.returncode}:\n{done.stderr}{done.stdout}")
    try:
        return parse(done.stdout)
    except LoadError as e:
        raise LoadError(f"{e}:\n{done.stdout}{done.stderr}") from e
