"""Which grpcio server options hold off which HTTP/2 flood: a table, flood by server setup.

Rule: measure, then choose. For each flood (tests/support/floods.py) and each server
setup (``SETUPS``: grpc.aio on uvloop with grpcio's defaults, with the listener's
options, with ``maximum_concurrent_rpcs``; the threaded server with a pool), a fresh
bare server (bench/bare_grpc.py) is started, a victim client
(tests/support/victim.py) makes one round of calls, then calls on while the flood runs
in a process of its own; the row says the victim's share of calls answered OK, its p99,
the server's peak RSS growth over its pre-flood value, whether it answered once the
flood was over, and how the server pushed back (GOAWAYs, resets, connections the flood
had to open). Loopback only; every flood bounded (``--seconds``)::

    .venv/bin/python -m bench.grpc_floods --seconds 4 [--flood rapid-reset ...] \\
        [--setup aio-defaults ...] [--custom 'NAME=--options {...}'] [--tls]

On 2 shared cores the latencies are noisy; the success share and RSS are what to read.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import shlex
import subprocess
import sys
import tempfile
import time

from tests.support import floodrun, floods, victim
from webhook.ops import certificates

ROOT = pathlib.Path(__file__).resolve().parent.parent
START_TIMEOUT = 15.0

SETUPS: dict[str, list[str]] = {
    "aio-defaults": ["--options", "{}"],
    "aio-listener": [],  # the service's listener's options (webhook/rpc/listener.py)
    "aio-max-rpcs-100": ["--options", "{}", "--max-rpcs", "100"],
    "threaded-10": ["--options", "{}", "--threaded", "10"],
    "threaded-10-listener": ["--threaded", "10"],
}


def _row_cells(setup: str, result: floodrun.Result) -> list[str]:
    o = result.outcome
    return [result.flood, setup, f"{100 * o.success:.1f} % of {o.calls}",
            f"{1000 * o.percentile(0.99):.0f} ms", f"{result.rss_growth_mb:+.0f} MB",
            "yes" if result.answers_after else "NO", _short(result.tally)]


class Server:
    """A bare grpcio server process (bench/bare_grpc.py); its stderr to a file."""

    def __init__(self, setup: list[str], cert_dir: pathlib.Path | None, log: pathlib.Path) -> None:
        argv = [sys.executable, "-m", "bench.bare_grpc", *setup]
        if cert_dir is not None:
            argv += ["--cert-dir", str(cert_dir)]
        self.log = log
        with open(log, "w") as err:
            self.process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        found = re.match(r"listening on (\d+)", line)
        if not found:
            self.stop()
            raise RuntimeError(f"the server did not start: {line!r}\n{log.read_text()[-2000:]}")
        self.port = int(found[1])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def measure(flood: str, setup: str, seconds: float, certs: certificates.Paths | None,
            work: pathlib.Path) -> floodrun.Result:
    server = Server(SETUPS[setup], certs.server_cert.parent if certs else None, work / f"{setup}.log")
    target = f"127.0.0.1:{server.port}"
    client = victim.Victim(target, victim.calls(None), floodrun.credentials(certs))
    command = floodrun.flood_argv(flood, target, seconds, ca=certs.ca if certs else None,
                                  client=(certs.client_cert, certs.client_key) if certs else None)
    try:
        return floodrun.run(command, client, server.process.pid, seconds)
    finally:
        client.close()
        server.stop()


def _short(tally: str) -> str:
    fields = dict(item.split("=") for item in tally.split() if "=" in item)
    return (f"conns {fields.get('connections', '?')}, goaway {fields.get('goaways', '?')}, "
            f"rst {fields.get('resets_received', '?')}, closed {fields.get('closed_by_server', '?')}")


def table(rows: list[list[str]]) -> str:
    head = ["flood", "server", "victim OK", "victim p99", "RSS growth", "answers after", "server pushback"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--flood", action="append", choices=sorted(floods.FLOODS))
    parser.add_argument("--setup", action="append", help=f"one of {sorted(SETUPS)}")
    parser.add_argument("--tls", action="store_true", help="mTLS with a fresh certificate set")
    parser.add_argument("--custom", action="append", default=[], metavar="NAME=ARGS",
                        help="one more setup: bench/bare_grpc.py arguments, e.g. "
                             """'streams-only=--options {"grpc.max_concurrent_streams": 100}'""")
    args = parser.parse_args(argv)
    for custom in args.custom:
        name, _, rest = custom.partition("=")
        SETUPS[name] = shlex.split(rest)
        args.setup = [*(args.setup or []), name]
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        certs = (certificates.write_cert_set(work / "certs", ["localhost"], ["127.0.0.1"])
                 if args.tls else None)
        rows = []
        for flood in args.flood or list(floods.FLOODS):
            for setup in args.setup or list(SETUPS):
                begun = time.monotonic()
                result = measure(flood, setup, args.seconds, certs, work)
                print(f"{setup:22} {result.line()} [{time.monotonic() - begun:.0f} s]",
                      file=sys.stderr, flush=True)
                rows.append(_row_cells(setup, result))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
