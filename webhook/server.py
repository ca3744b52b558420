"""The service: three listeners, their TLS, the store, probes, metrics and lifecycle.

Explicit wiring, no globals: ``Service(settings, store=...)`` owns everything it opens
and closes it in ``stop``. Listeners: REST (Kuscia API; TLS per ``tls_mode``), webhook
(TLS without client certificates: the API server sends none) and probes (plain HTTP:
/healthz, /readyz, /metrics). ``/readyz`` is true only once the store answers and the
certificates are loaded, and turns false first when shutdown begins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass

from aiohttp import web

from webhook import api, metrics, podspec, rest, settings, tls
from webhook.admission import http as admission_http
from webhook.store import base, open_store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Listener:
    name: str
    host: str
    port: int
    scheme: str

    @property
    def url(self) -> str:
        host = "localhost" if self.host in ("0.0.0.0", "::", "127.0.0.1") else self.host
        return f"{self.scheme}://{host}:{self.port}"


class Service:
    """The running service. ``start`` opens and binds everything; ``stop`` drains."""

    def __init__(self, config: settings.Settings, *, store: base.Store | None = None) -> None:
        self.settings = config
        self.metrics = metrics.Metrics()
        self.listeners: dict[str, Listener] = {}
        self._store = store
        self._owns_store = store is None
        self._runners: list[web.AppRunner] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._contexts: list[tls.ReloadingContext] = []
        self._stopping = False

    @property
    def store(self) -> base.Store:
        if self._store is None:
            raise RuntimeError("the service has not started")
        return self._store

    async def ready(self) -> bool:
        if self._stopping or self._store is None:
            return False
        if not all(c.ready for c in self._contexts):
            return False
        return await self._store.ready()

    def _tls(self, mode: settings.TLSMode) -> ssl.SSLContext | None:
        if self.settings.tls_mode == "notls":
            return None
        paths = tls.ensure_dev_certs(self.settings.cert_dir, self.settings.dns_names)
        reloading = tls.ReloadingContext(paths, mode)
        self._contexts.append(reloading)
        self._tasks.append(asyncio.create_task(reloading.watch(self.settings.cert_reload_interval)))
        return reloading.context

    async def _listen(self, name: str, app: web.Application, address: settings.Address,
                      context: ssl.SSLContext | None) -> None:
        runner = web.AppRunner(app, access_log=None,
                               shutdown_timeout=self.settings.shutdown_timeout)
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, address.host, address.port, ssl_context=context,
                           reuse_address=True)
        await site.start()
        port = runner.addresses[0][1]  # the bound port, also when asked for port 0
        self.listeners[name] = Listener(name, address.host, port, "https" if context else "http")

    async def start(self) -> None:
        s = self.settings
        checker = podspec.checker(s.kubernetes_version or None)
        if self._store is None:
            self._store = await open_store(s.store)
        rest_app = rest.create_app(api.AppImages(self._store, checker), metrics_=self.metrics,
                                   token=s.token, body_limit=s.rest_body_limit,
                                   timeout=s.request_timeout)
        webhook_app = admission_http.create_app(checker=checker, metrics_=self.metrics,
                                                body_limit=s.webhook_body_limit,
                                                timeout=s.request_timeout)
        await self._listen("probe", self._probe_app(), s.probe_addr, None)
        await self._listen("rest", rest_app, s.rest_addr, self._tls(s.tls_mode))
        await self._listen("webhook", webhook_app, s.webhook_addr, self._tls("tls"))

    def _probe_app(self) -> web.Application:
        async def healthz(_: web.Request) -> web.Response:
            return web.Response(text="ok")

        async def readyz(_: web.Request) -> web.Response:
            ok = await self.ready()
            return web.Response(text="ok" if ok else "not ready", status=200 if ok else 503)

        async def metrics_(_: web.Request) -> web.Response:
            return web.Response(body=self.metrics.exposition(),
                                headers={"Content-Type": "text/plain; version=0.0.4"})

        app = web.Application()
        app.router.add_get("/healthz", healthz)
        app.router.add_get("/readyz", readyz)
        app.router.add_get("/metrics", metrics_)
        return app

    async def stop(self) -> None:
        """Readiness off, stop accepting, let in-flight requests finish, close."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # The probe listener (first) closes last so /readyz answers "not ready" meanwhile.
        for runner in reversed(self._runners):
            await runner.cleanup()
        if self._owns_store and self._store is not None:
            await self._store.close()
        log.info("stopped")
