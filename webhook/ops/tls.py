"""TLS for the listeners: server contexts, and their reload when the files change.

Contexts follow the ``TLSMode`` of a listener and load the files ``certificates``
writes (or an operator provides); ``ReloadingContext`` keeps serving the newest good
certificate when the files change, as an ``SSLContext`` for the aiohttp listeners and as
the PEM files it loaded (``Pem``) for grpcio's, which takes certificates as bytes.

Rule: a live ``SSLContext`` is never modified. A reload builds a new context from the
files and swaps it in only if it loads; a bad rewrite (half-written file, mismatched key)
logs a warning and the previous certificate keeps serving. Calling ``load_cert_chain()``
on the live context instead would break every later handshake after one failed reload.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import pathlib
import ssl
import threading
from collections.abc import Sequence
from typing import Literal, TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from webhook.ops import certificates

logger = logging.getLogger(__name__)

TLSMode = Literal["notls", "tls", "mtls"]
# TLS 1.2 suites: forward-secret key exchange and AEAD only (Mozilla's "intermediate"
# profile, which Go's crypto/tls of the API server and every current client speak);
# no CBC, no RSA key exchange, no SHA-1 MACs.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


# --- contexts -------------------------------------------------------------------------


def server_context(paths: certificates.Paths, mode: TLSMode, alpn: Sequence[str] = ()) -> ssl.SSLContext:
    """A server context for ``tls`` or ``mtls`` (client certificate signed by ``ca``),
    offering the ``alpn`` protocols."""
    ctx = _handshake_policy(mode, alpn)
    if mode == "mtls":
        ctx.load_verify_locations(cafile=paths.ca)
    # Also checks that the key belongs to the certificate (SSLError if not).
    ctx.load_cert_chain(paths.server_cert, paths.server_key)
    return ctx


def _handshake_policy(mode: TLSMode, alpn: Sequence[str]) -> ssl.SSLContext:
    # A context with the protocol floor and client-certificate demand, no certificate.
    if mode not in ("tls", "mtls"):
        raise ValueError(f"TLS mode {mode!r} has no SSL context; expected 'tls' or 'mtls'")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(TLS12_CIPHERS)  # TLS 1.3 has only modern suites; it is not affected
    ctx.verify_mode = ssl.CERT_REQUIRED if mode == "mtls" else ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


# --- reload ---------------------------------------------------------------------------

_FileState: TypeAlias = tuple[int, int, int, int] | None
"""(device, inode, size, mtime in ns) of one file, or None when it is missing."""


@dataclasses.dataclass(frozen=True, slots=True)
class Pem:
    """One loaded set of certificate files, as PEM bytes: a new object per load."""

    chain: bytes
    key: bytes
    ca: bytes | None
    """The CA client certificates must chain to (mtls only)."""


class ReloadingContext:
    """The server context of one listener, following certificate files as they change.

    ``context`` is what the listener is given. It holds no certificate itself: its
    ``sni_callback`` runs on every handshake (also when the client sends no SNI, as
    when it connects by IP) and moves the connection onto the newest context that
    loaded. A connection keeps the verify mode and protocol floor of ``context``
    (OpenSSL does not take them from the swapped-in context), which is why ``context``
    is built with the same ``mode``; the certificate chain and the CA that checks
    client certificates come from the swapped-in one, so the CA can rotate too.
    Until a context has loaded (``ready`` is false) handshakes fail with an alert.
    Both offer the ``alpn`` protocols (OpenSSL picks one with the swapped-in context).
    """

    def __init__(self, paths: certificates.Paths, mode: TLSMode, alpn: Sequence[str] = ()) -> None:
        self._paths = paths
        self._mode = mode
        self._alpn = tuple(alpn)
        self._files: tuple[pathlib.Path, ...] = (paths.server_cert, paths.server_key)
        if mode == "mtls":
            self._files += (paths.ca,)
        self._front = _handshake_policy(mode, self._alpn)
        self._front.sni_callback = self._select
        self._current: ssl.SSLContext | None = None
        self.pem: Pem | None = None
        """The files the serving context was loaded from; None until one has loaded."""
        self._seen: tuple[_FileState, ...] | None = None
        # grpcio polls from its own threads, before each of its handshakes.
        self._lock = threading.Lock()
        self.poll()

    @property
    def context(self) -> ssl.SSLContext:
        """The context to give the listener; it never changes, what it serves does."""
        return self._front

    @property
    def ready(self) -> bool:
        """True once a certificate has loaded and handshakes can succeed."""
        return self._current is not None

    def poll(self) -> bool:
        """Load the files if they changed since the last attempt; True if swapped in.

        Files that fail to load are not tried again until they change again.
        """
        with self._lock:
            return self._poll()

    def _poll(self) -> bool:
        # Stat before reading: a file replaced while we load shows up as a change on
        # the next poll, so we never settle on contents older than what is on disk.
        state = tuple(_file_state(p) for p in self._files)
        if state == self._seen:
            return False
        self._seen = state
        try:
            new = server_context(self._paths, self._mode, self._alpn)
            pem, cert = _read_pem(self._paths, self._mode)
        except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
            logger.warning(
                "TLS certificate files did not load, %s: %s",
                "still serving the previous certificate" if self.ready else "not serving TLS",
                e,
            )
            return False
        self._current, self.pem = new, pem
        logger.info(
            "TLS certificate loaded from %s (serial %x, expires %s)",
            self._paths.server_cert,
            cert.serial_number,
            cert.not_valid_after_utc.isoformat(),
        )
        return True

    async def watch(self, interval: float) -> None:
        """Poll the files every ``interval`` seconds, forever (run it as a task)."""
        if not interval > 0:
            raise ValueError(f"reload interval must be positive, got {interval}")
        while True:
            await asyncio.sleep(interval)
            try:
                self.poll()
            except Exception:
                # An unexpected error must not end the task: reloads would stop silently.
                logger.exception("TLS certificate reload failed")

    def _select(
        self, ssl_object: ssl.SSLObject, server_name: str | None, front: ssl.SSLContext
    ) -> int | None:
        current = self._current
        if current is None:
            return ssl.ALERT_DESCRIPTION_INTERNAL_ERROR
        ssl_object.context = current
        return None


def _read_pem(paths: certificates.Paths, mode: TLSMode) -> tuple[Pem, x509.Certificate]:
    """The files as bytes, and the serving certificate, checked as the SSLContext checks
    them: ``ValueError`` when the key is not the certificate's or a file is not PEM."""
    pem = Pem(paths.server_cert.read_bytes(), paths.server_key.read_bytes(),
              paths.ca.read_bytes() if mode == "mtls" else None)
    cert = x509.load_pem_x509_certificate(pem.chain)
    key = serialization.load_pem_private_key(pem.key, password=None)
    if key.public_key() != cert.public_key():
        raise ValueError(f"{paths.server_key} is not the key of {paths.server_cert}")
    if pem.ca is not None:
        x509.load_pem_x509_certificates(pem.ca)
    return pem, cert


def _file_state(path: pathlib.Path) -> _FileState:
    try:
        st = path.stat()  # follows symlinks, as Kubernetes secret volumes swap them
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
