"""Our Go template oracle (``hack/gotemplate``) as the tests drive it: the real Go text/template,
behind our own Go version of Kuscia's rewrite and ``kuscia`` function.

``hack/gotemplate-bin.sh`` builds it into a cache outside the repository (``scripts/test`` does,
and exports ``APPIMAGE_GOTEMPLATE``); without it the tests that need it skip, unless
``REQUIRE_E2E=1``, where they fail.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import pytest

# How long one template may take in Go before the oracle is declared stuck (a generated
# template is tiny; Go answers in well under a millisecond).
ANSWER_TIMEOUT = 10.0


def gotemplate_binary() -> str:
    """The oracle to run; a skip (or under REQUIRE_E2E=1 a failure) when there is none."""
    found = os.environ.get("APPIMAGE_GOTEMPLATE")
    if found and os.access(found, os.X_OK):
        return found
    if os.environ.get("REQUIRE_E2E") == "1":
        pytest.fail(
            "REQUIRE_E2E=1 but the Go template oracle is missing; build it with hack/gotemplate-bin.sh"
        )
    pytest.skip("no Go template oracle: `export APPIMAGE_GOTEMPLATE=$(hack/gotemplate-bin.sh | tail -1)`")


def run(binary: str, *flags: str) -> str:
    """One answer of the oracle's other modes (``-version``, ``-tables``)."""
    done = subprocess.run([binary, *flags], capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


class Oracle:
    """One long-lived oracle process: a request per line in, an answer per line out."""

    def __init__(self, binary: str) -> None:
        self.process = subprocess.Popen(
            [binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.stdin = self.process.stdin
        self.stdout = self.process.stdout
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.stdout, selectors.EVENT_READ)
        self.pending = b""
        self.data: Mapping[str, str] | None = None

    def ask(self, text: str, data: Mapping[str, str]) -> dict[str, Any]:
        """What Go does with ``text`` rendered over ``data`` (sent only when it changed)."""
        request: dict[str, Any] = {"text": text}
        if data != self.data:
            request["data"] = dict(data)
            self.data = data
        self.stdin.write(json.dumps(request).encode() + b"\n")
        self.stdin.flush()
        while b"\n" not in self.pending:
            if not self.selector.select(ANSWER_TIMEOUT):
                raise TimeoutError(
                    f"the Go template oracle did not answer within {ANSWER_TIMEOUT}s: {text!r}"
                )
            chunk = os.read(self.stdout.fileno(), 1 << 16)
            if not chunk:
                raise RuntimeError(f"the Go template oracle exited: {self.process.stderr.read()!r}")  # type: ignore[union-attr]
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        self.selector.close()
        self.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        assert self.process.stderr is not None
        self.process.stderr.close()
        self.stdout.close()

    def __enter__(self) -> Oracle:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
