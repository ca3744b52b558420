"""One call of an operation, and its failures mapped to Kuscia's ``status``: the one
place every front end (REST with JSON or protobuf bodies, gRPC) turns an outcome or an
error into an answer.

No aiohttp, no grpc. A ``ServiceError`` is its own code and message; running past the
request timeout and anything unexpected are 11101 (logged, never a crash).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from webhook.core import api, errors

log = logging.getLogger(__name__)

WARNING_MAX = 1024  # characters of one warning's text as a header or metadata value


@dataclass(frozen=True, slots=True)
class Answer:
    """Kuscia's status (code, message), ``data`` (None when there is none) and warnings."""

    code: int
    message: str
    data: Any = None
    warnings: Sequence[str] = field(default_factory=tuple)

    def envelope(self) -> dict[str, Any]:
        """``{"status": {...}, "data"?}``: the answer body in the protobuf JSON mapping."""
        body: dict[str, Any] = {"status": {"code": self.code, "message": self.message, "details": []}}
        if self.data is not None:
            body["data"] = self.data
        return body


async def run(call: Callable[[], Awaitable[api.Outcome]], seconds: float, *, where: str,
              passthrough: tuple[type[Exception], ...] = ()) -> Answer:
    """``call``'s answer within ``seconds``; ``passthrough`` exceptions are the front
    end's own to answer (REST: a body over the limit is HTTP 413)."""
    try:
        async with asyncio.timeout(seconds):
            outcome = await call()
    except passthrough:
        raise
    except errors.ServiceError as e:
        return Answer(e.code, e.message)
    except TimeoutError:
        log.warning("request timed out", extra={"path": where})
        return Answer(errors.Code.UNEXPECTED,
                      f"request took longer than {seconds:g} s and was abandoned")
    except Exception:
        log.exception("unexpected error", extra={"path": where})
        return Answer(errors.Code.UNEXPECTED, "unexpected server error; see the server log")
    return Answer(errors.Code.SUCCESS, "success", outcome.data, outcome.warnings)


def plain_warning(text: str) -> str:
    """``text`` fit for a header or gRPC metadata value: ASCII (others escaped), on one
    line, cut at ``WARNING_MAX`` characters (clients refuse long header lines: 64 KiB in
    Python's http.client, less in others)."""
    if len(text) > WARNING_MAX:
        text = text[:WARNING_MAX] + "…"
    return " ".join(text.encode("ascii", "backslashreplace").decode().split())
