"""The service: three listeners, their TLS, the store, probes, metrics and lifecycle.

Explicit wiring, no globals: ``Service(settings, store=...)`` owns everything it opens
and closes it in ``stop``; a ``start`` that fails closes what it opened and raises
``ValueError`` naming the flag at fault. It binds every listener, reads the token and
checks the certificate directory before it writes anything (a store file, development
certificates), so a failed start leaves nothing behind. Listeners: REST (Kuscia API;
TLS per ``tls_mode``), webhook (TLS without client certificates: the API server sends
none) and probes (plain HTTP: /healthz, /readyz, /metrics). ``/readyz`` is true only
once the store answers and the certificates are loaded (with ``cert_secret``, once
``selfcert`` has written them), and turns false first when shutdown begins. Shutdown
drains: readiness off, stop accepting everywhere at once, finish what is in flight
(answers close their connections), then close connections and the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
import ssl
from dataclasses import dataclass

from aiohttp import web

from webhook.admission import webhooks
from webhook.core import api, podspec, storage, validation
from webhook.core.kuscia import workloads
from webhook.ops import certificates, connections, metrics, routing, selfcert, settings, tls
from webhook.rest import endpoints
from webhook.rpc import listener as grpc_listener
from webhook.rpc import service as grpc_service
from webhook.store import kube, kubernetes, kuscia, open_store

log = logging.getLogger(__name__)

# After the last request in flight, wait this long for one more on a kept-alive
# connection before closing the connections.
DRAIN_LINGER = 0.2
DRAIN_POLL = 0.01
# /readyz answers within this: a kubelet's probe gives up after 1 s by default.
READY_TIMEOUT = 0.8


@dataclass(frozen=True, slots=True)
class Listener:
    name: str
    host: str
    port: int
    scheme: str

    @property
    def url(self) -> str:
        host = "localhost" if self.host in ("0.0.0.0", "::", "127.0.0.1") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"{self.scheme}://{host}:{self.port}"


class Service:
    """The running service. ``start`` opens and binds everything; ``stop`` drains."""

    def __init__(self, config: settings.Settings, *, store: storage.Store | None = None) -> None:
        self.settings = config
        self.metrics = metrics.Metrics()
        self.listeners: dict[str, Listener] = {}
        self._store = store
        self._owns_store = store is None
        self._runners: dict[str, web.ServerRunner] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._contexts: list[tls.ReloadingContext] = []
        self._stopping = False  # readiness is off
        self._drain = routing.Drain()
        self._selfcert: selfcert.Manager | None = None
        self._sockets: dict[str, socket.socket] = {}
        self._sites: list[connections.Site] = []
        self._grpc: grpc_listener.Listener | None = None
        self._grpc_stopping: asyncio.Task[None] | None = None

    @property
    def store(self) -> storage.Store:
        if self._store is None:
            raise RuntimeError("the service has not started")
        return self._store

    async def ready(self) -> bool:
        if self._stopping or self._store is None:
            return False
        if not all(c.ready for c in self._contexts):
            return False
        if self._grpc is not None and not self._grpc.ready():
            return False
        return await self._store.ready()

    def _cert_paths(self, mode: settings.TLSMode) -> certificates.Paths:
        if self._selfcert is not None:  # written by the manager; until then not ready
            paths = certificates.Paths.in_dir(self.settings.cert_dir)
        else:
            try:
                paths = certificates.ensure_dev_certs(self.settings.cert_dir, self.settings.dns_names)
            except (OSError, ValueError) as e:
                raise ValueError(f"--cert-dir: {e}") from None
        if mode == "mtls" and self.settings.client_ca_file is not None:
            paths = dataclasses.replace(paths, ca=self.settings.client_ca_file)
        return paths

    def _tls(self, mode: settings.TLSMode) -> ssl.SSLContext | None:
        reloading = self._reloading(mode)
        return None if reloading is None else reloading.context

    def _reloading(self, mode: settings.TLSMode, alpn: tuple[str, ...] = ()) -> tls.ReloadingContext | None:
        if self.settings.tls_mode == "notls":
            return None
        reloading = tls.ReloadingContext(self._cert_paths(mode), mode, alpn)
        self._contexts.append(reloading)
        self._tasks.append(asyncio.create_task(reloading.watch(self.settings.cert_reload_interval)))
        return reloading

    async def _listen(self, name: str, routes: routing.Routes, address: settings.Address,
                      context: ssl.SSLContext | None) -> None:
        s = self.settings
        # keepalive_timeout also bounds the wait for a new connection's first headers
        # (see ``connections``): trickled headers are cut after idle_timeout.
        server = routes.server(access_log=None, keepalive_timeout=s.idle_timeout)
        runner = web.ServerRunner(server, shutdown_timeout=DRAIN_LINGER)
        await runner.setup()
        self._runners[name] = runner
        site = connections.Site(runner, self._sockets[name], ssl_context=context,
                                max_connections=s.max_connections,
                                handshake_timeout=s.handshake_timeout, name=name)
        await site.start()
        self._sites.append(site)
        self.listeners[name] = Listener(name, address.host, site.port,
                                        "https" if context else "http")

    async def start(self) -> None:
        """Bind, check, open and listen; on failure, close what was opened and raise
        (``ValueError`` naming the flag for what the configuration cannot have)."""
        try:
            await self._start()
        except BaseException:
            await self._release()
            raise

    async def _start(self) -> None:
        s = self.settings
        token = s.token
        for name, address in (("probe", s.probe_addr), ("rest", s.rest_addr),
                              ("webhook", s.webhook_addr)):
            self._sockets[name] = connections.bind(address, f"--{name}-addr")
        # grpcio binds its own socket: a port in use fails here all the same, before
        # anything is written (the gRPC listener binds it again at the end of start).
        connections.bind(s.grpc_addr, "--grpc-addr").close()
        if s.tls_mode != "notls" and not s.cert_secret:
            try:
                certificates.check_cert_dir(s.cert_dir)
            except ValueError as e:
                raise ValueError(f"--cert-dir: {e}") from None
        checker = podspec.checker(s.kubernetes_version or None)
        if self._store is None:
            self._store = await open_store(s.store)
        policy = validation.Policy(s.allowed_registries, s.require_image_digest)
        guard = await self._guard(self._store)
        # One for REST and gRPC: one lock per name.
        appimages = api.AppImages(self._store, checker, policy=policy, guard=guard)
        rest_routes = endpoints.routes(appimages, figures=self.metrics, token=token,
                                       body_limit=s.rest_body_limit, timeout=s.request_timeout,
                                       drain=self._drain)
        webhook_routes = webhooks.routes(checker=checker, figures=self.metrics,
                                         body_limit=s.webhook_body_limit, timeout=s.request_timeout,
                                         drain=self._drain, policy=policy, guard=guard)
        if s.cert_secret:
            namespace, secret = s.cert_secret_ref
            target = selfcert.Target(namespace, secret, s.webhook_config_name, s.cert_dns_names,
                                     s.cert_dir)
            self._selfcert = selfcert.Manager(kube.Client(kube.load_config()), target,
                                              on_files=self._reload_certificates)
            self._tasks.append(asyncio.create_task(self._selfcert.run(s.cert_reload_interval)))
        await self._listen("probe", self._probe_routes(), s.probe_addr, None)
        await self._listen("rest", rest_routes, s.rest_addr, self._tls(s.tls_mode))
        await self._listen("webhook", webhook_routes, s.webhook_addr, self._tls("tls"))
        await self._listen_grpc(grpc_service.Config(appimages, (token or "").encode(), s.request_timeout,
                                                    self._drain))

    async def _guard(self, store: storage.Store) -> workloads.Guard:
        """The guard of the links from Kuscia's workloads: over the API server the
        AppImages are stored in (with the index of AppImages a workload review reads),
        and off (said once) on any other store."""
        policy = self.settings.kuscia_references
        if policy == "off":
            return workloads.NO_GUARD
        if not isinstance(store, kubernetes.KubernetesStore):
            log.info("links from Kuscia's workloads to AppImages are not checked: that needs "
                     "--store kubernetes (they live in the API server)")
            return workloads.NO_GUARD
        index = kuscia.Index(store.client)
        self._tasks.append(asyncio.create_task(index.run(), name="appimage-index"))
        self.metrics.gauge("appimage_index_synced", "1 while the index of AppImages that workload "
                           "reviews read is in step with the API server, else 0.",
                           lambda: float(index.synced))
        self.metrics.gauge("appimage_index_objects", "AppImages in that index.", lambda: float(len(index)))
        cluster = kuscia.Cluster(store.client, store, index)
        try:
            await cluster.kinds()  # says which of Kuscia's kinds are served
        except workloads.Unavailable as e:
            log.warning("cannot tell which of Kuscia's workload kinds are served yet: %s", e)
        return workloads.Guard(cluster, policy)

    async def _listen_grpc(self, config: grpc_service.Config) -> None:
        """The fourth listener, gRPC (``webhook.rpc``): the REST operations with REST's
        TLS mode, certificates, token and limits. Its calls count in the same drain."""
        s = self.settings
        reloading = self._reloading(s.tls_mode)
        listener = grpc_listener.Listener(s, config, self.metrics, reloading)
        port = await listener.start()
        self._grpc = listener
        self.listeners["grpc"] = Listener("grpc", s.grpc_addr.host, port,
                                          "http" if reloading is None else "https")

    def _reload_certificates(self) -> None:
        for context in self._contexts:
            context.poll()

    def _probe_routes(self) -> routing.Routes:
        async def healthz(_: web.BaseRequest) -> web.Response:
            return web.Response(text="ok")

        async def readyz(_: web.BaseRequest) -> web.Response:
            try:
                async with asyncio.timeout(READY_TIMEOUT):
                    ok = await self.ready()
            except TimeoutError:
                ok = False  # a store that does not answer in time is not ready
            return web.Response(text="ok" if ok else "not ready", status=200 if ok else 503)

        async def exposition(_: web.BaseRequest) -> web.Response:
            return web.Response(body=self.metrics.exposition(),
                                headers={"Content-Type": "text/plain; version=0.0.4"})

        routes = routing.Routes()
        routes.add("GET", "/healthz", healthz)
        routes.add("GET", "/readyz", readyz)
        routes.add("GET", "/metrics", exposition)
        return routes

    async def _drained(self, deadline: float) -> None:
        """Until nothing has been in flight for ``DRAIN_LINGER`` (a request may still be
        on its way over a kept-alive connection), or the deadline passes."""
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        while loop.time() < deadline:
            if self._drain.in_flight:
                quiet_since = loop.time()
            elif loop.time() - quiet_since >= DRAIN_LINGER:
                return
            await asyncio.sleep(DRAIN_POLL)
        log.warning("shutdown timeout reached with requests in flight",
                    extra={"in_flight": self._drain.in_flight})

    async def stop(self) -> None:
        """Readiness off; after ``shutdown_delay``, stop accepting on every listener at
        once; let in-flight requests finish (answers now close their connections); then
        close connections, the store, and last the probe listener."""
        s = self.settings
        self._stopping = True
        if s.shutdown_delay:
            await asyncio.sleep(s.shutdown_delay)
        self._drain.draining = True
        if self._grpc is not None:  # refuses new calls at once; those in progress count in the drain
            self._grpc_stopping = asyncio.create_task(self._grpc.stop(s.shutdown_timeout))
        serving = [r for name, r in self._runners.items() if name != "probe"]
        for runner in serving:
            for site in list(runner.sites):
                await site.stop()
        await self._drained(asyncio.get_running_loop().time() + s.shutdown_timeout)
        await self._release()
        log.info("stopped")

    async def _release(self) -> None:
        """Close connections, tasks, the store, and last the probe listener."""
        for site in self._sites:
            await site.close_opening()
        for runner in (r for name, r in self._runners.items() if name != "probe"):
            await runner.cleanup()
        self._drain.closed = True
        if self._grpc is not None:  # its calls have drained: what is left goes at once
            await (self._grpc_stopping or self._grpc.stop(0))
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._selfcert is not None:
            await self._selfcert.close()
        if self._owns_store and self._store is not None:
            await self._store.close()
        if "probe" in self._runners:
            await self._runners["probe"].cleanup()
        for sock in self._sockets.values():  # any a failed start had not handed to a site
            sock.close()
