"""Faults on the real process, with nothing lost: SIGKILL under writes, racing
updates, slow and idle clients, and the connection limit.

* Crash durability: 20 rounds (``FUZZ_SCALE`` times more) of concurrent creates and
  updates, each ended by SIGKILL at a seeded moment with requests in flight; after the
  restart every acknowledged write is there, intact (the last acknowledged value, or
  the one that was in flight for that name), and the SQLite file passes its integrity
  check.
* Racing updates: many clients update one AppImage through two server processes on
  one SQLite file (so the compare-and-swap decides, not the in-process queue). Every
  acknowledged update made exactly one new version, an update refused as 13102 made
  none, versions only grow, and the final state is the last acknowledged write.
* Slow clients: a connection that trickles its headers, sends nothing, sits idle
  after a request or never finishes its TLS handshake is cut after the named timeout;
  a body that trickles is answered 11101 after the request timeout; past
  ``--max-connections`` a new connection gets 503 while the open ones keep working.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import pathlib
import random
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from tests.support import builders, figures, serverproc

# Slow: real server processes, killed and timed out on purpose.
pytestmark = pytest.mark.slow

API = "/api/v1/appimage/"
ROUNDS = 20
WORKERS = 8
SLACK = 1.5
"""Seconds beyond a timeout within which the server must have acted."""


def appimage(name: str, tag: str) -> dict[str, Any]:
    """A REST body whose config template says which write it came from."""
    return builders.rest_appimage(name, tag=tag, config_templates={"task.conf": f"{name}:{tag}"})


def session(connections: int = 0) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections),
                                 timeout=aiohttp.ClientTimeout(total=30))


async def call(client: aiohttp.ClientSession, url: str, endpoint: str,
               body: dict[str, Any]) -> dict[str, Any]:
    async with client.post(url + API + endpoint, json=body) as response:
        assert response.status == 200, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer


async def everything(client: aiohttp.ClientSession, url: str) -> dict[str, dict[str, Any]]:
    """Every stored AppImage by name, through list."""
    found: dict[str, dict[str, Any]] = {}
    token = ""
    while True:
        answer = await call(client, url, "list", {"page_size": 1000, "page_token": token})
        assert answer["status"]["code"] == 0, answer
        found.update((a["name"], a) for a in answer["data"]["appimage_list"])
        token = answer["data"]["next_page_token"]
        if not token:
            return found


# --- crash durability ------------------------------------------------------------------


@dataclasses.dataclass
class Ledger:
    """What the clients were told: per name, the last acknowledged tag, and the tag of
    a write sent without an answer (at most one per name: each name has one writer)."""

    acked: dict[str, str] = dataclasses.field(default_factory=dict)
    pending: dict[str, str] = dataclasses.field(default_factory=dict)
    acks: int = 0
    lost_in_flight: int = 0


async def burst(url: str, ledger: Ledger, round_: int, kill_after: int,
                killed: asyncio.Event) -> None:
    """Workers create and update their own AppImages until ``killed``."""

    async def worker(w: int, client: aiohttp.ClientSession) -> None:
        k = 0
        while not killed.is_set():
            name = f"r{round_}-w{w}-{k}"
            for n in range(3):  # a create, then two updates of the same name
                tag = f"v{n}"
                endpoint = "create" if n == 0 else "update"
                ledger.pending[name] = tag
                try:
                    answer = await call(client, url, endpoint, appimage(name, tag))
                except (aiohttp.ClientError, TimeoutError):
                    ledger.lost_in_flight += 1
                    return  # the server is gone: this write may or may not be stored
                assert answer["status"]["code"] == 0, answer
                del ledger.pending[name]
                ledger.acked[name] = tag
                ledger.acks += 1
                if ledger.acks == kill_after:
                    killed.set()
            k += 1

    async with session() as client:
        await asyncio.gather(*(worker(w, client) for w in range(WORKERS)))


def settle(stored: dict[str, dict[str, Any]], ledger: Ledger) -> None:
    """After a check: a write that was in flight and landed counts as made."""
    for name, tag in ledger.pending.items():
        if name in stored and stored[name]["image"]["tag"] == tag:
            ledger.acked[name] = tag
    ledger.pending.clear()


def verify(stored: dict[str, dict[str, Any]], ledger: Ledger) -> None:
    for name, tag in ledger.acked.items():
        assert name in stored, f"acknowledged {name} is gone"
        allowed = {tag, ledger.pending.get(name)}
        found = stored[name]["image"]["tag"]
        assert found in allowed, f"{name}: stored {found}, acknowledged {tag}"
        assert stored[name]["config_templates"] == {"task.conf": f"{name}:{found}"}, name
    for name in stored:
        assert name in ledger.acked or name in ledger.pending, f"{name} was never written"


async def test_every_acknowledged_write_survives_sigkill_during_concurrent_writes(
        tmp_path: pathlib.Path) -> None:
    db = tmp_path / "appimage.db"
    rounds = ROUNDS * figures.scale()
    seeded = random.Random(6)
    ledger = Ledger()
    started = time.monotonic()
    for round_ in range(rounds):
        server = serverproc.ServerProcess(tmp_path / f"round-{round_}", db_path=db,
                                          tls_mode="notls")
        with server:
            async with session() as client:
                stored = await everything(client, server.rest_url)
            verify(stored, ledger)
            settle(stored, ledger)
            killed = asyncio.Event()
            kill_after = ledger.acks + seeded.randint(10, 60)
            work = asyncio.create_task(burst(server.rest_url, ledger, round_, kill_after, killed))
            await asyncio.wait_for(killed.wait(), 30)
            server.kill()  # SIGKILL, with the workers' next requests in flight
            await asyncio.wait_for(work, 30)
    final = serverproc.ServerProcess(tmp_path / "final", db_path=db, tls_mode="notls")
    with final:
        async with session() as client:
            verify(await everything(client, final.rest_url), ledger)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    figures.record("SIGKILL during concurrent writes",
                   f"{rounds} rounds, {ledger.acks} acknowledged writes all intact, "
                   f"{ledger.lost_in_flight} in flight at the kills "
                   f"({time.monotonic() - started:.1f} s)")


# --- racing updates --------------------------------------------------------------------

RACERS = 16
UPDATES = 15


def stored_version(db: pathlib.Path, name: str) -> tuple[int, str]:
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
        conn.execute("PRAGMA query_only = ON")
        version, body = conn.execute(
            "SELECT version, body FROM appimages WHERE name = ?", (name,)).fetchone()
    return int(version), json.loads(body)["spec"]["image"]["tag"]


async def test_racing_updates_lose_nothing_and_versions_only_grow(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "appimage.db"
    certs = tmp_path / "certs"
    with serverproc.ServerProcess(tmp_path / "a", db_path=db, cert_dir=certs, tls_mode="notls",
                                  name="a") as a, \
            serverproc.ServerProcess(tmp_path / "b", db_path=db, cert_dir=certs,
                                     tls_mode="notls", name="b") as b:
        async with session() as client:
            assert (await call(client, a.rest_url, "create", appimage("race", "start"))
                    )["status"]["code"] == 0
        first, _ = stored_version(db, "race")
        seen: list[tuple[int, str]] = []
        stop = threading.Event()

        def observe() -> None:  # reads the file as a third process would
            while not stop.is_set():
                seen.append(stored_version(db, "race"))
                time.sleep(0.002)

        observer = threading.Thread(target=observe, daemon=True)
        observer.start()
        acked: list[str] = []
        refused: list[str] = []

        async def racer(i: int, client: aiohttp.ClientSession) -> None:
            url = (a, b)[i % 2].rest_url
            for n in range(UPDATES):
                tag = f"c{i}-{n}"
                answer = await call(client, url, "update", appimage("race", tag))
                code = answer["status"]["code"]
                assert code in (0, 13102), answer  # 13102: changed under every retry
                (acked if code == 0 else refused).append(tag)

        try:
            async with session() as client:
                await asyncio.gather(*(racer(i, client) for i in range(RACERS)))
        finally:
            stop.set()
            observer.join(10)
        last, tag = stored_version(db, "race")

    assert last - first == len(acked)  # one version per acknowledged update, none else
    assert tag in acked
    versions = [v for v, _ in seen]
    assert versions == sorted(versions)
    tags_by_version: dict[int, str] = {}
    for version, seen_tag in seen:
        assert tags_by_version.setdefault(version, seen_tag) == seen_tag
        assert seen_tag in acked or seen_tag == "start"
    figures.record("racing updates of one AppImage through 2 processes",
                   f"{RACERS} clients x {UPDATES}: {len(acked)} acknowledged = "
                   f"{last - first} new versions, {len(refused)} refused as 13102, "
                   f"none lost")


# --- slow clients, idle connections, the connection limit --------------------------------

IDLE = 1.0
REQUEST_TIMEOUT = 1.0
HANDSHAKE = 1.0
MAX_CONNECTIONS = 8


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[serverproc.ServerProcess]:
    """TLS (for the handshake timeout) with short timeouts."""
    with serverproc.ServerProcess(tmp_path_factory.mktemp("guarded"), tls_mode="tls", extra_args=[
            "--idle-timeout", str(IDLE), "--request-timeout", str(REQUEST_TIMEOUT),
            "--handshake-timeout", str(HANDSHAKE)]) as server:
        yield server


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[serverproc.ServerProcess]:
    """A small connection limit (and the default idle timeout: held connections stay)."""
    with serverproc.ServerProcess(tmp_path_factory.mktemp("limited"), tls_mode="tls", extra_args=[
            "--max-connections", str(MAX_CONNECTIONS)]) as server:
        yield server


def host_port(url: str) -> tuple[str, int]:
    host, port = url.split("://")[1].rsplit(":", 1)
    return host, int(port)


def tls_connection(server: serverproc.ServerProcess) -> socket.socket:
    raw = socket.create_connection(host_port(server.rest_url), timeout=10)
    return server.client_context(with_cert=False).wrap_socket(raw, server_hostname="localhost")


def closed_after(conn: socket.socket, trickle: bytes = b"", every: float = 0.1) -> float:
    """Seconds until the server closes ``conn``, trickling ``trickle`` a byte at a time
    meanwhile; fails after 10 s."""
    started = time.monotonic()
    conn.settimeout(every)
    sent = 0
    while time.monotonic() - started < 10:
        try:
            if not conn.recv(65536):
                return time.monotonic() - started
        except TimeoutError:
            pass
        except (ConnectionError, OSError):
            return time.monotonic() - started
        if sent < len(trickle):
            try:
                conn.sendall(trickle[sent:sent + 1])
            except (ConnectionError, OSError):
                return time.monotonic() - started
            sent += 1
    pytest.fail("the server kept the connection open for 10 s")


def request(path: str, body: bytes = b"{}", extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def test_trickled_headers_are_cut_after_the_idle_timeout(
        guarded: serverproc.ServerProcess) -> None:
    with contextlib.closing(tls_connection(guarded)) as conn:
        headers = request(API + "list", b"{}", "X-Slow: " + "x" * 200 + "\r\n")
        took = closed_after(conn, trickle=headers[:-4], every=0.05)
    assert IDLE * 0.8 <= took < IDLE + SLACK
    figures.record("slow clients cut", f"trickled headers after {took:.2f} s "
                   f"(--idle-timeout {IDLE:g})")


def test_a_silent_connection_is_cut_after_the_idle_timeout(
        guarded: serverproc.ServerProcess) -> None:
    with contextlib.closing(tls_connection(guarded)) as conn:
        took = closed_after(conn)
    assert IDLE * 0.8 <= took < IDLE + SLACK


def test_an_idle_kept_alive_connection_is_cut_after_the_idle_timeout(
        guarded: serverproc.ServerProcess) -> None:
    with contextlib.closing(tls_connection(guarded)) as conn:
        conn.sendall(request(API + "list"))
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            answer += conn.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200 ")
        took = closed_after(conn)
    assert IDLE * 0.8 <= took < IDLE + SLACK


def test_an_unfinished_tls_handshake_is_cut_after_the_handshake_timeout(
        guarded: serverproc.ServerProcess) -> None:
    with socket.create_connection(host_port(guarded.rest_url), timeout=10) as raw:
        raw.sendall(b"\x16\x03\x01")  # the first bytes of a ClientHello, then nothing
        took = closed_after(raw)
    assert HANDSHAKE * 0.8 <= took < HANDSHAKE + SLACK


def test_a_trickled_body_is_answered_11101_after_the_request_timeout(
        guarded: serverproc.ServerProcess) -> None:
    with contextlib.closing(tls_connection(guarded)) as conn:
        conn.sendall(request(API + "list", b'{"page_size": 1}  ')[:-3])  # body unfinished
        started = time.monotonic()
        conn.settimeout(10)
        answer = conn.recv(65536)
        took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b'"code":11101' in answer
    assert b"request took longer than" in answer
    assert took < REQUEST_TIMEOUT + SLACK


async def test_past_the_connection_limit_new_connections_get_503_and_open_ones_work(
        limited: serverproc.ServerProcess) -> None:
    ctx = limited.client_context(with_cert=False)
    url = limited.rest_url + API + "list"
    # Connections that stay open: each sent one request and keeps talking.
    held = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, limit=1))
            for _ in range(MAX_CONNECTIONS)]
    try:
        for client in held:
            async with client.post(url, json={}) as response:
                assert response.status == 200
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as extra:
            async with extra.post(url, json={}) as response:
                assert response.status == 503
                assert response.headers["Retry-After"] == "1"
                assert await response.text() == "too many connections\n"
            for client in held:  # still served, on their own connections
                async with client.post(url, json={}) as response:
                    assert response.status == 200
            await held.pop().close()
            deadline = time.monotonic() + 5
            while True:  # the server notices the closed connection a moment later
                async with extra.post(url, json={}) as response:
                    if response.status == 200:
                        break
                assert time.monotonic() < deadline, "no room after a connection closed"
                await asyncio.sleep(0.05)
    finally:
        for client in held:
            await client.close()
    figures.record("connection limit", f"--max-connections {MAX_CONNECTIONS} held: the next "
                   "connection got 503, open ones kept working")
