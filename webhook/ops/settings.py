"""Service settings: one frozen dataclass, read from flags and ``APPIMAGE_…`` variables.

Pure. ``cli.settings_from`` fills it from the flags, each read from its variable when
not given: a flag wins over its variable, which wins over the default. Bad values raise
``ValueError`` naming the flag, at start-up, never later.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Literal

TLSMode = Literal["notls", "tls", "mtls"]
TLS_MODES: tuple[TLSMode, ...] = ("mtls", "tls", "notls")
References = Literal["deny", "warn", "off"]
REFERENCES: tuple[References, ...] = ("deny", "warn", "off")

# REST bodies are AppImages of a few KB; 4 MiB leaves room for big config templates
# while bounding what one request can make the server hold.
DEFAULT_REST_BODY_LIMIT = 4 * 1024 * 1024
# An UPDATE review carries the old and the new object; controller-runtime allows 7 MiB.
DEFAULT_WEBHOOK_BODY_LIMIT = 7 * 1024 * 1024


@dataclasses.dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str, flag: str) -> Address:
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"{flag}: expected HOST:PORT, got {text!r}")
        return cls(host.strip("[]") or "0.0.0.0", int(port))

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    rest_addr: Address = Address("0.0.0.0", 8082)
    """Where the Kuscia-compatible REST API listens (HTTPS unless tls_mode is notls)."""
    webhook_addr: Address = Address("0.0.0.0", 9443)
    """Where /mutate and /validate listen; HTTPS, no client certificate asked for
    (the API server sends none), plain HTTP only with tls_mode notls."""
    probe_addr: Address = Address("0.0.0.0", 8080)
    """Plain-HTTP /healthz, /readyz and /metrics."""
    grpc_addr: Address = Address("0.0.0.0", 8083)
    """Where Kuscia's gRPC AppImageService listens (Kuscia's port), with the REST
    listener's TLS mode, certificates, token and limits."""
    tls_mode: TLSMode = "mtls"
    """REST listener: mtls (client certificate required, verified against ca.crt), tls,
    or notls (plain HTTP on REST and webhook; for local use only)."""
    cert_dir: pathlib.Path = pathlib.Path("certs")
    """ca.crt, server.crt, server.key; a fresh dev CA and certificates (with a client
    certificate) are written here when none exist."""
    token_file: pathlib.Path | None = None
    """File holding the token REST callers send in the Token header; no check if unset."""
    store: str = "sqlite:///./appimage.db"
    """sqlite:///PATH (embedded, the default) or kubernetes (the AppImage custom resource)."""
    kubernetes_version: str = ""
    """Kubernetes version whose PodSpec schema checks deploy templates; '' = newest bundled."""
    rest_body_limit: int = DEFAULT_REST_BODY_LIMIT
    """Largest REST body accepted, in bytes; larger ones get HTTP 413."""
    webhook_body_limit: int = DEFAULT_WEBHOOK_BODY_LIMIT
    """Largest AdmissionReview accepted, in bytes."""
    request_timeout: float = 10.0
    """Seconds one request may take before it is answered with an error."""
    idle_timeout: float = 60.0
    """Seconds a connection may go without a complete request before it is closed: idle
    between requests, and from opening to the end of its first request's headers (so
    headers trickled a byte at a time are cut too)."""
    handshake_timeout: float = 10.0
    """Seconds a TLS handshake may take."""
    max_connections: int = 1000
    """Open connections per listener; past it a new one is answered 503 and closed
    (keep the process's file-descriptor limit above three times this)."""
    shutdown_timeout: float = 15.0
    """Seconds in-flight requests get to finish after SIGTERM."""
    shutdown_delay: float = 0.0
    """Seconds to keep serving after SIGTERM with /readyz already failing, so that load
    balancers and Service endpoints stop sending new requests first (e.g. 5 in a pod)."""
    cert_reload_interval: float = 10.0
    """Seconds between checks of the certificate files for a change."""
    dns_names: tuple[str, ...] = ()
    """Extra DNS names for the dev serving certificate (e.g. the Service's names)."""
    client_ca_file: pathlib.Path | None = None
    """CA certificates REST client certificates must chain to (mtls); None: ca.crt of
    cert_dir."""
    cert_secret: str = ""
    """NAMESPACE/NAME of the Secret holding self-managed certificates: when set, the
    service makes its CA and serving certificate, keeps them there, renews them and
    writes them into cert_dir (see ``selfcert``); '' = certificates come from cert_dir."""
    webhook_config_name: str = ""
    """Name of the Mutating- and ValidatingWebhookConfiguration whose caBundle the
    self-managed CA is published to; '' publishes none."""
    cert_dns_names: tuple[str, ...] = ()
    """Names (DNS, or IP addresses) of the self-managed serving certificate: the
    Service's DNS names."""
    log_level: str = "INFO"
    """Log level of the JSON logs on stderr."""
    kuscia_references: References = "deny"
    """What a broken link from Kuscia's workloads to AppImages is (an AppImage deleted
    under a running job, a job naming a missing AppImage, …): refused (deny), a warning
    (warn), or not looked for (off). Needs the kubernetes store."""
    allowed_registries: tuple[str, ...] = ()
    """Registry hosts (``host:port`` too) or ``host/path`` prefixes every image must come
    from; empty: any."""
    require_image_digest: bool = False
    """Every AppImage's ``image.id`` must be ``sha256:`` and 64 hex digits."""

    def __post_init__(self) -> None:
        if self.tls_mode not in TLS_MODES:
            raise ValueError(f"--tls-mode: must be one of {', '.join(TLS_MODES)}, not {self.tls_mode!r}")
        if self.kuscia_references not in REFERENCES:
            raise ValueError(f"--kuscia-references: must be one of {', '.join(REFERENCES)}, "
                             f"not {self.kuscia_references!r}")
        for entry in self.allowed_registries:
            if not entry or "://" in entry or any(c.isspace() for c in entry) or entry.endswith("/"):
                raise ValueError(f"--allowed-registries: {entry!r} is not a registry host, "
                                 "host:port or host/path")
        if not (self.store == "kubernetes" or self.store.startswith("sqlite:///")):
            raise ValueError(f"--store: expected sqlite:///PATH or kubernetes, not {self.store!r}")
        for name in ("rest_body_limit", "webhook_body_limit"):
            if getattr(self, name) < 1024:
                raise ValueError(f"--{name.replace('_', '-')}: must be at least 1024 bytes")
        if self.max_connections < 1:
            raise ValueError("--max-connections: must be at least 1")
        for name in ("request_timeout", "shutdown_timeout", "cert_reload_interval",
                     "idle_timeout", "handshake_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name.replace('_', '-')}: must be positive")
        if self.shutdown_delay < 0:
            raise ValueError("--shutdown-delay: must not be negative")
        if self.cert_secret:
            namespace, sep, name = self.cert_secret.partition("/")
            if not (sep and namespace and name) or "/" in name:
                raise ValueError(f"--cert-secret: expected NAMESPACE/NAME, not {self.cert_secret!r}")
            if self.tls_mode == "notls":
                raise ValueError("--cert-secret: self-managed certificates need TLS, not --tls-mode notls")
            if not self.cert_dns_names:
                raise ValueError("--cert-secret: needs --cert-dns-name (the Service's DNS names)")
        elif self.webhook_config_name or self.cert_dns_names:
            raise ValueError("--webhook-config-name and --cert-dns-name need --cert-secret")

    @property
    def cert_secret_ref(self) -> tuple[str, str]:
        """(namespace, name) of ``cert_secret``."""
        namespace, _, name = self.cert_secret.partition("/")
        return namespace, name

    @property
    def sqlite_path(self) -> str:
        return self.store.removeprefix("sqlite:///")

    @property
    def token(self) -> str | None:
        """The token, read when asked so a rotated token file is picked up on restart;
        ``ValueError`` naming the flag when the file cannot be read or is empty."""
        if self.token_file is None:
            return None
        try:
            token = self.token_file.read_text().strip()
        except (OSError, UnicodeDecodeError) as e:
            reason = e.strerror if isinstance(e, OSError) else "not text"
            raise ValueError(f"--token-file: {self.token_file}: cannot read: {reason}") from None
        if not token:
            raise ValueError(f"--token-file: {self.token_file} is empty")
        return token
