"""The other client of a flood, and the server's memory while it lasts.

Rule: the victim measures liveness, not speed. It is grpcio's own client on its own
channel (one connection, made and used once before the flood starts), calling in turn
each ``Call`` it was given, one at a time, each with a generous deadline, from a thread
of its own so that a flood driven from the same process does not hold its calls back
more than the GIL must. Its outcome is the share of calls answered OK and their
latencies (for the harness's table: tests assert the share, never a time).
``RssSampler`` reads the server's VmRSS from /proc/PID/status from a thread.
"""

from __future__ import annotations

import collections
import dataclasses
import pathlib
import threading
import time
from collections.abc import Sequence

import grpc

from tests.support.floods import HEALTH_CHECK, LIST_APP_IMAGE

DEADLINE = 2.0
"""Seconds one victim call may take: generous (a call takes about a millisecond), a flood
may slow the server, not stop it; floods last longer, so a call that waits for the flood
to end fails."""
PAUSE = 0.01
"""Seconds between two victim calls: the victim is a client, not a second load."""
SERVING = b"\x08\x01"
"""HealthCheckResponse{status: SERVING} on the wire."""


@dataclasses.dataclass(frozen=True)
class Call:
    """One unary call, its request and answer as wire bytes (no stubs needed)."""

    path: str
    request: bytes = b""
    metadata: tuple[tuple[str, str], ...] = ()
    expect: bytes | None = None
    """The exact answer bytes expected, or None for any answer with status OK."""


def calls(token: str | None, *, app_image: bool = True) -> list[Call]:
    """Health/Check, and ListAppImage with the token when the server serves it."""
    chosen = [Call(HEALTH_CHECK.decode(), expect=SERVING)]
    if app_image:
        chosen.append(Call(LIST_APP_IMAGE.decode(), b"", (("token", token),) if token else ()))
    return chosen


@dataclasses.dataclass
class Outcome:
    calls: int = 0
    ok: int = 0
    failures: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    latencies: list[float] = dataclasses.field(default_factory=list)

    @property
    def success(self) -> float:
        return self.ok / self.calls if self.calls else 0.0

    def percentile(self, share: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    def line(self) -> str:
        return (f"{self.ok}/{self.calls} ok ({100 * self.success:.1f} %), "
                f"p50 {1000 * self.percentile(0.5):.1f} ms, p99 {1000 * self.percentile(0.99):.1f} ms"
                + (f", failures {dict(self.failures)}" if self.failures else ""))


class Victim:
    """A grpcio client calling ``calls`` in turn from a thread; see the module docstring."""

    def __init__(self, target: str, chosen: Sequence[Call],
                 credentials: grpc.ChannelCredentials | None = None, deadline: float = DEADLINE) -> None:
        self._channel = (grpc.secure_channel(target, credentials) if credentials is not None
                         else grpc.insecure_channel(target))
        self._calls = [(call, self._channel.unary_unary(call.path, None, None)) for call in chosen]
        self._deadline = deadline
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.outcome = Outcome()
        self.last_error = ""

    def call_once(self) -> Outcome:
        """Each call once, now (before a flood: the connection is made and works)."""
        outcome = Outcome()
        for call, stub in self._calls:
            self._call(call, stub, outcome)
        return outcome

    def _call(self, call: Call, stub: grpc.UnaryUnaryMultiCallable[bytes, bytes], outcome: Outcome,
              deadline: float | None = None) -> None:
        begun = time.monotonic()
        outcome.calls += 1
        try:
            answer = stub(call.request, timeout=deadline or self._deadline, metadata=call.metadata)
        except grpc.RpcError as e:
            code = e.code().name
            outcome.failures[f"{call.path.rsplit('/', 1)[-1]} {code}"] += 1
            self.last_error = f"{call.path} {code}: {e.details()}"
            return
        if call.expect is not None and answer != call.expect:
            outcome.failures[f"answer {answer!r}"] += 1
            return
        outcome.ok += 1
        outcome.latencies.append(time.monotonic() - begun)

    def _loop(self, until: float) -> None:
        while not self._stop.is_set():
            for call, stub in self._calls:
                left = until - time.monotonic()
                if left < self._deadline / 2:
                    return
                self._call(call, stub, self.outcome, min(self._deadline, left))
            self._stop.wait(PAUSE)

    def start(self, until: float) -> None:
        """Call in turn until ``until`` (time.monotonic()): every call ends by then, so a
        call held up by the flood fails instead of being answered once the flood is over.
        None is started with less than half the deadline left."""
        self._thread = threading.Thread(target=self._loop, args=(until,), name="victim", daemon=True)
        self._thread.start()

    def stop(self) -> Outcome:
        """Stop after the call in progress (at most one deadline later); the outcome."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self._deadline * len(self._calls) + 5)
        return self.outcome

    def close(self) -> None:
        self._channel.close()


def rss_kb(pid: int) -> int:
    """The process's resident set in KiB (VmRSS), 0 once it is gone."""
    try:
        text = pathlib.Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class RssSampler:
    """The peak VmRSS of a process, sampled from a thread every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.baseline = rss_kb(pid)
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_kb(self.pid))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_kb(self.pid))

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.baseline) / 1024
