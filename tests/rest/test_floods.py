"""The REST listener's HTTP/1.1 under floods: another client still gets its answers.

tests/app/test_faults.py pins that one slow or idle connection is cut after its timeout and
that the connection limit answers 503; this pins the other side, for many at once:
while 200 connections trickle their headers, 8 pipeline 5000 requests each without
reading, or 500 sit idle after their TLS handshake, another client's calls are at least
99 % answered, the server's RSS grows by at most 100 MB, and it answers afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.support import restfloods, serverproc, victim

pytestmark = pytest.mark.slow

TOKEN = "rest-flood-token-3b9d"
SECONDS = 5.0
MIN_SUCCESS = 0.99
MAX_RSS_GROWTH_MB = 100.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[serverproc.ServerProcess]:
    work = tmp_path_factory.mktemp("rest-floods")
    token_file = work / "token"
    token_file.write_text(TOKEN + "\n")
    with serverproc.ServerProcess(work / "server", tls_mode="tls", token_file=token_file) as started:
        yield started


@pytest.mark.parametrize("flood", sorted(restfloods.FLOODS))
def test_another_client_is_answered_during_the_flood(server: serverproc.ServerProcess, flood: str) -> None:
    host, port = server.rest_url.split("://")[1].rsplit(":", 1)
    tls = server.client_context(with_cert=False)
    client = restfloods.RestVictim(host, int(port), tls, TOKEN)
    try:
        warm = victim.Outcome()
        client.call(warm)
        assert warm.ok == 1, warm.line()
        with victim.RssSampler(server.pid) as rss, \
                restfloods.Flood(flood, host, int(port), tls, TOKEN, SECONDS):
            outcome = client.calls_until(time.monotonic() + SECONDS)
        after = victim.Outcome()
        client.call(after)
    finally:
        client.close()
    line = (f"{flood}: {restfloods.OPENED[flood]} connections; victim {outcome.line()}; "
            f"RSS {rss.growth_mb:+.0f} MB; after: {after.line()}")
    assert restfloods.OPENED[flood] == restfloods.PLANNED[flood], line  # the flood did happen
    assert outcome.calls > 0, line
    assert outcome.success >= MIN_SUCCESS, line
    assert rss.growth_mb <= MAX_RSS_GROWTH_MB, line
    assert after.ok == 1, line
