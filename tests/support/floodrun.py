"""One flood against one server process, with a victim calling meanwhile: the shared
measurement of tests/rpc/test_floods.py and bench/grpc_floods.py.

Rule: the flood runs in a process of its own (``python -m tests.support.floods``), so
the victim in this process does not share a GIL with it; the victim starts once the
flood's first connection is up and stops when the flood's process ends; the server's
RSS is sampled from before the flood until the victim's calls after it.
"""

from __future__ import annotations

import dataclasses
import pathlib
import subprocess
import sys
import time

import grpc

from tests.support import victim
from webhook.ops import certificates

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
END_MARGIN = 0.25
"""Seconds before the flood's end by which the victim's calls are over (its clock started
a little before it printed ``flooding``)."""
GRACE = 30.0
"""Seconds past its own bound a flood process may take to end before it is killed."""


@dataclasses.dataclass(frozen=True)
class Result:
    flood: str
    outcome: victim.Outcome
    rss_growth_mb: float
    after: victim.Outcome
    """One round of victim calls once the flood was over."""
    tally: str
    """The flood's last line: what the server did to it."""

    def count(self, name: str) -> int:
        """A number of the flood's tally (``connections``, ``goaways``...); -1 if absent."""
        for item in self.tally.split():
            key, _, value = item.partition("=")
            if key == name and value.isdigit():
                return int(value)
        return -1

    @property
    def answers_after(self) -> bool:
        return self.after.calls > 0 and self.after.ok == self.after.calls

    def line(self) -> str:
        return (f"{self.flood}: victim {self.outcome.line()}; RSS {self.rss_growth_mb:+.0f} MB; "
                f"after: {self.after.line()}; flood: {self.tally}")


def flood_argv(flood: str, target: str, seconds: float, *, ca: pathlib.Path | None = None,
               client: tuple[pathlib.Path, pathlib.Path] | None = None,
               token: str | None = None) -> list[str]:
    """The command that runs ``flood`` against ``target`` (TLS when ``ca`` is given)."""
    argv = [sys.executable, "-m", "tests.support.floods", flood, target, "--seconds", str(seconds)]
    if ca is not None:
        argv += ["--ca", str(ca)]
    if client is not None:
        argv += ["--cert", str(client[0]), "--key", str(client[1])]
    if token is not None:
        argv += ["--token", token]
    return argv


def credentials(certs: certificates.Paths | None, *,
                with_cert: bool = True) -> grpc.ChannelCredentials | None:
    """grpcio channel credentials trusting the CA of ``certs`` (None: plaintext)."""
    if certs is None:
        return None
    if not with_cert:
        return grpc.ssl_channel_credentials(certs.ca.read_bytes())
    return grpc.ssl_channel_credentials(certs.ca.read_bytes(), certs.client_key.read_bytes(),
                                        certs.client_cert.read_bytes())


def run(flood_command: list[str], client: victim.Victim, server_pid: int, seconds: float) -> Result:
    """Run the flood command while ``client`` calls; see the module docstring."""
    warm = client.call_once()
    if warm.ok != warm.calls:
        raise RuntimeError(f"the victim failed before the flood: {warm.line()} {client.last_error}")
    with victim.RssSampler(server_pid) as rss:
        driver = subprocess.Popen(flood_command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert driver.stdout is not None
        try:
            first = driver.stdout.readline()  # "flooding": its first connection is up
            client.start(until=time.monotonic() + seconds - END_MARGIN)
            rest = driver.stdout.read()
            driver.wait(seconds + GRACE)
        finally:
            outcome = client.stop()
            if driver.poll() is None:
                driver.kill()
                driver.wait()
            driver.stdout.close()
        after = client.call_once()
    lines = (first + rest).strip().splitlines()
    tally = lines[-1] if lines else f"no output (exit {driver.returncode})"
    return Result(flood_command[3], outcome, rss.growth_mb, after, tally)
