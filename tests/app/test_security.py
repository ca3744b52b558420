"""What the service must never give away: the token stays out of its logs and output.

The service runs at DEBUG with a token file; requests carry the right token, a wrong
one, and tokens on failing requests (malformed, unknown fields, refused). Neither the
token nor the wrong one appears anywhere in what the process wrote, while its logs
show that it did log those requests. (TLS policy: tests/ops/test_tls.py; bandit runs in
scripts/test.)
"""

from __future__ import annotations

import json
import pathlib
import urllib.error
import urllib.request

from tests.support import serverproc

TOKEN = "s3cr3t-t0k3n-9f8e7d6c5b4a"
WRONG = "wr0ng-t0k3n-1a2b3c4d5e6f"
API = "/api/v1/appimage/"


def post(url: str, body: bytes, token: str) -> int:
    request = urllib.request.Request(url, data=body, headers={
        "Content-Type": "application/json", "Token": token})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        with e:
            return int(e.code)


def test_the_token_is_never_logged(tmp_path: pathlib.Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    server = serverproc.ServerProcess(tmp_path, tls_mode="notls", token_file=token_file,
                                      extra_args=["--log-level", "DEBUG"])
    with server:
        url = server.rest_url + API
        assert post(url + "list", b"{}", TOKEN) == 200
        assert post(url + "create", b"{not json", TOKEN) == 200
        assert post(url + "create", json.dumps({"name": "x", "unknown": TOKEN}).encode(),
                    TOKEN) == 200
        assert post(url + "query", b'{"name": "missing"}', TOKEN) == 200
        assert post(url + "list", b"{}", WRONG) == 401
        assert post(url + "list", b"{}", TOKEN + WRONG) == 401
        assert server.stop() == 0
    written = server.stdout() + server.stderr()
    assert '"level":"info"' in written  # it logs, here at its most talkative level
    assert TOKEN not in written
    assert WRONG not in written
