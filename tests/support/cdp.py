"""Headless Chromium driven over the DevTools protocol, for tests of the /docs page.

Why this way: the page is JavaScript that fetches /openapi.json and then sends requests
when a user clicks, so the test needs a real browser and must wait for conditions
("the answer is shown"), not for a fixed time. ``--dump-dom`` only snapshots the page
after load, with a time budget to guess; the DevTools protocol lets the test type,
click and poll the DOM. The client is ~60 lines on aiohttp's websocket client, which
the project already has: no Selenium, no chromedriver, no Playwright download.

Chromium starts with a fresh profile in a temporary directory, listens for DevTools on
a port it picks (``--remote-debugging-port=0``; the ``DevTools listening on ws://…``
line on stderr says which), and is killed when the context ends.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import pathlib
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

START_TIMEOUT = 30.0
"""Seconds for Chromium to print its DevTools address; a cold start takes about one."""
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
    "--disable-dev-shm-usage", "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)
LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


def executable() -> str | None:
    """Debian's chromium (scripts/test installs it), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


class BrowserError(RuntimeError):
    """Chromium did not start, or a DevTools command failed."""


class Page:
    """One tab, attached with a flat session: commands go over the browser socket."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse, session: str) -> None:
        self._socket = socket
        self._session = session
        self._ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        return await _call(self._socket, self._ids, method, params, self._session)

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (awaited when it is a promise)."""
        answer = await self.send("Runtime.evaluate", expression=expression,
                                 awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in answer:
            raise BrowserError(f"{expression}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    async def until(self, expression: str, limit: float = 10.0) -> Any:
        """Poll ``expression`` until it is truthy, for at most ``limit`` seconds; its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if loop.time() > deadline:
                raise BrowserError(f"not within {limit:g} s: {expression}")
            await asyncio.sleep(0.05)

    async def type_into(self, selector: str, text: str) -> None:
        """Focus the element and type ``text`` as keyboard input would (input events)."""
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        await self.send("Input.insertText", text=text)

    async def click(self, selector: str) -> None:
        found = await self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return false; e.click(); return true; })()")
        if not found:
            raise BrowserError(f"nothing to click at {selector}")

    async def screenshot(self) -> bytes:
        """The page as a PNG image."""
        shot = await self.send("Page.captureScreenshot", format="png")
        return base64.b64decode(shot["data"])


async def _call(socket: aiohttp.ClientWebSocketResponse, ids: itertools.count[int], method: str,
                params: dict[str, Any], session: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"id": next(ids), "method": method, "params": params}
    if session:
        message["sessionId"] = session
    await socket.send_str(json.dumps(message))
    while True:  # events arrive in between; this client looks only at answers
        reply = json.loads((await socket.receive(timeout=30.0)).data)
        if reply.get("id") == message["id"]:
            if "error" in reply:
                raise BrowserError(f"{method}: {reply['error']}")
            result: dict[str, Any] = reply["result"]
            return result


@contextlib.asynccontextmanager
async def browser(profile: pathlib.Path) -> AsyncIterator[Page]:
    """Chromium with a fresh profile in ``profile``, and one blank page in it."""
    log = profile.parent / "chromium.stderr"
    process = _launch(profile, log)
    try:
        url = await _devtools_url(process, log)
        async with aiohttp.ClientSession() as http, http.ws_connect(url, max_msg_size=0) as socket:
            ids = itertools.count(1)
            target = await _call(socket, ids, "Target.createTarget", {"url": "about:blank"})
            attached = await _call(socket, ids, "Target.attachToTarget",
                                   {"targetId": target["targetId"], "flatten": True})
            page = Page(socket, attached["sessionId"])
            await page.send("Page.enable")
            await page.send("Runtime.enable")
            yield page
    finally:
        process.kill()
        process.wait()


def _launch(profile: pathlib.Path, log: pathlib.Path) -> subprocess.Popen[bytes]:
    binary = executable()
    if binary is None:
        raise BrowserError("no chromium binary; scripts/test installs Debian's chromium")
    with open(log, "wb") as err:
        return subprocess.Popen([binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)


def _text(log: pathlib.Path) -> str:
    return log.read_text(errors="replace")


async def _devtools_url(process: subprocess.Popen[bytes], log: pathlib.Path) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT
    while True:
        found = LISTENING.search(_text(log))
        if found:
            return found[1]
        if process.poll() is not None or loop.time() > deadline:
            raise BrowserError(f"chromium did not start:\n{_text(log)[-3000:]}")
        await asyncio.sleep(0.05)


async def navigate(page: Page, url: str) -> None:
    """Load ``url`` and wait for its load event."""
    await page.send("Page.navigate", url=url)
    await page.until("document.readyState === 'complete' && location.href !== 'about:blank'")
