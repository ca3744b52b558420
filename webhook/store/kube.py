"""A small asyncio client for the Kubernetes API, on the aiohttp the service already runs.

We need a handful of calls on one custom resource (and, for certificates, a Secret and
two webhook configurations): kubernetes_asyncio would add ~74 MB and its own pinned
aiohttp range, lightkube its own HTTP stack. This module reads the two usual sources of
credentials — the in-cluster service account and a kubeconfig (``KUBECONFIG`` or
``~/.kube/config``: server, CA, bearer token or client certificate; exec plugins are not
supported) — and answers ``(status, body)``, or streams a WATCH's events. Transport
failures and timeouts raise ``Unreachable`` with the server's address, never a hang; the
client raises only its own ``Error``s, which its callers (the store, certificate
management) turn into theirs.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import pathlib
import ssl
import tempfile
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import orjson
import yaml

SERVICE_ACCOUNT = pathlib.Path("/var/run/secrets/kubernetes.io/serviceaccount")
# Every call is bounded: an API server that stops answering must surface as an error
# the caller can report, not as a request hanging until the client gives up.
DEFAULT_TIMEOUT = 5.0


class Error(Exception):
    """Base of everything ``Client`` raises: a call that could not be made or got no
    answer. An answer of any HTTP status is not an error here: it is returned."""


class Unreachable(Error):
    """No answer: the connection failed or the server did not answer in time."""


class CredentialsUnreadable(Error):
    """The service-account token file could not be read (it is read on every call)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Config:
    server: str
    """``https://host:port`` of the API server."""
    ca_pem: bytes | None = None
    """CA bundle that signed the API server's certificate; None trusts the system's."""
    token: str | None = None
    token_file: pathlib.Path | None = None
    """Read on every request: projected service-account tokens rotate."""
    client_cert_pem: bytes | None = None
    client_key_pem: bytes | None = None
    insecure: bool = False


def _data(entry: Mapping[str, Any], key: str, base_dir: pathlib.Path) -> bytes | None:
    if entry.get(f"{key}-data"):
        return base64.b64decode(str(entry[f"{key}-data"]))
    if entry.get(key):
        return (base_dir / str(entry[key])).read_bytes()
    return None


def from_kubeconfig(path: pathlib.Path) -> Config:
    """The current context of a kubeconfig file; ``ValueError`` naming what is missing."""
    document = yaml.safe_load(path.read_text()) or {}
    current = document.get("current-context")

    def named(section: str, name: str | None) -> dict[str, Any]:
        for item in document.get(section) or []:
            if item.get("name") == name:
                found: dict[str, Any] = item.get(section[:-1]) or {}
                return found
        raise ValueError(f"{path}: no {section[:-1]} named {name!r}")

    context = named("contexts", current)
    cluster = named("clusters", context.get("cluster"))
    user = named("users", context.get("user"))
    if "exec" in user or "auth-provider" in user:
        raise ValueError(f"{path}: exec and auth-provider credentials are not supported; "
                         "use a token or a client certificate")
    base_dir = path.parent
    token_file = user.get("tokenFile")
    return Config(
        server=str(cluster["server"]).rstrip("/"),
        ca_pem=_data(cluster, "certificate-authority", base_dir),
        token=user.get("token"),
        token_file=base_dir / token_file if token_file else None,
        client_cert_pem=_data(user, "client-certificate", base_dir),
        client_key_pem=_data(user, "client-key", base_dir),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
    )


def in_cluster() -> Config:
    host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
    host = f"[{host}]" if ":" in host else host
    return Config(server=f"https://{host}:{port}", ca_pem=(SERVICE_ACCOUNT / "ca.crt").read_bytes(),
                  token_file=SERVICE_ACCOUNT / "token")


def load_config() -> Config:
    """``KUBECONFIG`` (or ``~/.kube/config``) if present, else the in-cluster account."""
    explicit = os.environ.get("KUBECONFIG")
    default = pathlib.Path.home() / ".kube" / "config"
    if explicit:
        return from_kubeconfig(pathlib.Path(explicit.split(os.pathsep)[0]))
    if "KUBERNETES_SERVICE_HOST" in os.environ and (SERVICE_ACCOUNT / "token").exists():
        return in_cluster()
    if default.exists():
        return from_kubeconfig(default)
    raise ValueError("no Kubernetes credentials: set KUBECONFIG, or run in a pod with a "
                     "service account")


def _ssl_context(config: Config) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if config.ca_pem:
        ctx.load_verify_locations(cadata=config.ca_pem.decode())
    if config.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if config.client_cert_pem and config.client_key_pem:
        # ssl loads a key pair only from files: hand it a private temporary directory.
        with tempfile.TemporaryDirectory() as folder:
            cert, key = pathlib.Path(folder, "tls.crt"), pathlib.Path(folder, "tls.key")
            cert.write_bytes(config.client_cert_pem)
            key.touch(mode=0o600)
            key.write_bytes(config.client_key_pem)
            ctx.load_cert_chain(cert, key)
    return ctx


def _decoded(raw: bytes) -> dict[str, Any]:
    try:
        decoded = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        decoded = {"message": raw[:500].decode(errors="replace")}
    return decoded if isinstance(decoded, dict) else {"items": decoded}


class Client:
    """JSON calls to one API server over one pooled, kept-alive connection set."""

    def __init__(self, config: Config, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.config = config
        self._ssl = _ssl_context(config)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        token = self.config.token
        if self.config.token_file is not None:
            try:
                token = self.config.token_file.read_text().strip()
            except OSError as e:
                raise CredentialsUnreadable(
                    f"cannot read token file {self.config.token_file}: {e.strerror}") from e
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def request(self, method: str, path: str, *, body: Any = None,
                      params: Mapping[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        """``(HTTP status, JSON body)``; ``Unreachable`` when no answer came,
        ``CredentialsUnreadable`` when the token file cannot be read."""
        try:
            async with self._open().request(
                    method, self.config.server + path, params=params, headers=self._headers(),
                    data=None if body is None else orjson.dumps(body)) as response:
                raw = await response.read()
                status = response.status
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise self._unreachable(e, self._timeout) from e
        return status, _decoded(raw)

    async def watch(self, path: str, version: str, seconds: int) -> AsyncIterator[dict[str, Any]]:
        """The events of a WATCH of the collection ``path`` from resourceVersion
        ``version`` (bookmarks asked for), until the API server ends it after ``seconds``.
        A refusal (e.g. 410 Gone: ``version`` is too old) is one ``ERROR`` event holding
        the Status, as the API server sends it mid-stream."""
        params = {"watch": "true", "resourceVersion": version, "allowWatchBookmarks": "true",
                  "timeoutSeconds": str(seconds)}
        # No total: a watch lasts. A read that stalls past the API server's own end is dead.
        limit = aiohttp.ClientTimeout(sock_connect=self._timeout.total,
                                      sock_read=seconds + (self._timeout.total or DEFAULT_TIMEOUT))
        try:
            async with self._open().get(self.config.server + path, params=params, headers=self._headers(),
                                        timeout=limit) as response:
                if response.status != 200:
                    status = _decoded(await response.read()) | {"code": response.status}
                    yield {"type": "ERROR", "object": status}
                    return
                pending = bytearray()
                # Objects can exceed aiohttp's line limit (config templates reach 1 MiB):
                # events are split here, one JSON document per line.
                async for chunk in response.content.iter_any():
                    pending += chunk
                    while (end := pending.find(b"\n")) >= 0:
                        line = bytes(pending[:end])
                        del pending[:end + 1]
                        if line.strip():
                            yield _decoded(line)
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise self._unreachable(e, limit) from e

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, connector=aiohttp.TCPConnector(ssl=self._ssl))
        return self._session

    def _unreachable(self, e: BaseException, limit: aiohttp.ClientTimeout) -> Unreachable:
        if isinstance(e, TimeoutError):
            waited = limit.total if limit.total is not None else limit.sock_read
            return Unreachable(f"Kubernetes API server {self.config.server} unreachable: no answer "
                               f"within {waited:g} s")
        return Unreachable(f"Kubernetes API server {self.config.server} unreachable: "
                           f"{type(e).__name__}: {e}".rstrip(": "))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
