"""The service's gRPC listener under HTTP/2 floods: another client still gets its answers.

For each flood of tests/support/floods.py (raw frames over TLS, from a process of its
own, a few seconds each), a second client on its own connection (grpcio) calls
``grpc.health.v1.Health/Check`` and ``ListAppImage`` with the token in turn while the
flood runs, each call with a generous deadline. What is pinned is liveness, never speed:
at least 99 % of those calls are answered OK, the server's RSS grows by at most 100 MB
over its value before the flood, and it answers once the flood is over.

One server for the module (``--tls-mode tls``: the flood has no client certificate, as
an outsider would not); each flood compares with the server's state just before it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import floodrun, floods, serverproc, victim

pytestmark = pytest.mark.slow

TOKEN = "flood-test-token-7c1e"
SECONDS = 4.0
"""How long each flood lasts: enough for a backlog to build, short enough for the module."""
MIN_SUCCESS = 0.99
MAX_RSS_GROWTH_MB = 100.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[serverproc.ServerProcess]:
    work = tmp_path_factory.mktemp("grpc-floods")
    token_file = work / "token"
    token_file.write_text(TOKEN + "\n")
    with serverproc.ServerProcess(work / "server", tls_mode="tls", token_file=token_file) as started:
        yield started


def _flood(server: serverproc.ServerProcess, name: str) -> floodrun.Result:
    certs = server.cert_paths
    command = floodrun.flood_argv(name, server.grpc_target, SECONDS, ca=certs.ca, token=TOKEN)
    client = victim.Victim(server.grpc_target, victim.calls(TOKEN),
                           floodrun.credentials(certs, with_cert=False))
    try:
        return floodrun.run(command, client, server.pid, SECONDS)
    finally:
        client.close()


@pytest.mark.parametrize("flood", floods.HELD_OFF)
def test_another_client_is_answered_during_the_flood(server: serverproc.ServerProcess, flood: str) -> None:
    result = _flood(server, flood)
    assert result.count("connections") > 0, result.line()  # the flood did happen
    assert result.outcome.calls > 0, result.line()
    assert result.outcome.success >= MIN_SUCCESS, result.line()
    assert result.rss_growth_mb <= MAX_RSS_GROWTH_MB, result.line()
    assert result.answers_after, result.line()
    assert server.process.poll() is None, server.stderr()[-2000:]


def test_the_flood_driver_speaks_http2_the_server_understands(server: serverproc.ServerProcess) -> None:
    """Without this the floods above could pass by being refused as garbage: header
    bloat's calls within the limits are answered (so the server decoded our frames and
    header blocks), over TLS with ALPN h2 (the driver refuses any other protocol)."""
    result = _flood(server, "header-bloat")
    assert result.count("connect_errors") == 0, result.tally
    assert result.count("streams_ended") > 0, result.tally
