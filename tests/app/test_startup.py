"""A start that cannot succeed: one line on stderr naming the flag, exit 2, nothing written.

Each test runs the real ``python -m webhook serve`` (``serverproc.ServerProcess.run``)
in an otherwise empty directory, on loopback, with its store and certificates inside
that directory: a failed start must leave it as it was (no empty ``appimage.db``, no
half-made ``certs``), print no traceback and no log of a service that never ran.
"""

from __future__ import annotations

import pathlib
import socket
from collections.abc import Iterator

import pytest

from tests.support import serverproc


def failed_start(server: serverproc.ServerProcess) -> str:
    """The one line a failed start printed, after checking exit 2, nothing on stdout
    and nothing new in the work directory."""
    before = set(server.work_dir.iterdir())
    result = server.run()
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert set(server.work_dir.iterdir()) == before
    return lines[0]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as held:
        yield held.getsockname()[1]


@pytest.mark.parametrize("flag", ["--rest-addr", "--grpc-addr"])
def test_a_port_in_use_fails_in_one_line_naming_the_flag(tmp_path: pathlib.Path,
                                                          taken_port: int, flag: str) -> None:
    server = serverproc.ServerProcess(tmp_path, extra_args=[flag, f"127.0.0.1:{taken_port}"])
    line = failed_start(server)
    assert line == (f"appimage-webhook: {flag}: cannot listen on 127.0.0.1:{taken_port}: "
                    "Address already in use")


def test_an_unreadable_token_file_fails_in_one_line_naming_the_flag(
        tmp_path: pathlib.Path) -> None:
    server = serverproc.ServerProcess(tmp_path, token_file=pathlib.Path("/nope"))
    line = failed_start(server)
    assert line == "appimage-webhook: --token-file: /nope: cannot read: No such file or directory"


def test_a_cert_dir_that_cannot_be_written_fails_in_one_line_naming_the_flag(
        tmp_path: pathlib.Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    server = serverproc.ServerProcess(tmp_path, cert_dir=tmp_path / "file" / "certs")
    line = failed_start(server)
    assert line.startswith("appimage-webhook: --cert-dir: ")
    assert line.endswith("cannot write development certificates: "
                         f"{tmp_path / 'file'} is not a directory")


def test_a_store_url_that_cannot_be_opened_fails_in_one_line_naming_the_flag(
        tmp_path: pathlib.Path) -> None:
    (tmp_path / "a-directory").mkdir()
    server = serverproc.ServerProcess(tmp_path, db_path=tmp_path / "a-directory")
    line = failed_start(server)
    assert line.startswith(f"appimage-webhook: --store: sqlite:///{tmp_path / 'a-directory'}: ")
    assert "is a directory" in line


def test_a_kubeconfig_that_cannot_be_read_fails_in_one_line_naming_the_store(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-kubeconfig"))
    server = serverproc.ServerProcess(tmp_path, extra_args=["--store", "kubernetes"])
    line = failed_start(server)
    assert line.startswith("appimage-webhook: --store: kubernetes: ")
    assert "No such file or directory" in line
