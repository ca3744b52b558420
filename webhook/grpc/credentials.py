"""TLS credentials of the gRPC listener that follow the certificate files.

grpc.aio cannot swap an ``SSLContext`` as the REST listeners do; its dynamic
credentials instead ask a callback for the certificates on every handshake, on one of
gRPC's own threads. ``Certificates.fetch`` looks at the files' identity (a few
``stat`` calls) and reads them only when they changed; as in ``tls.ReloadingContext``,
a set that does not load (a half-written file, a key that is not the certificate's)
is logged and the previous one keeps serving. Until a set has loaded (self-managed
certificates are still being written) handshakes get a throwaway self-signed
certificate no client trusts, so the port is bound from the start and the listener is
not ready.
"""

from __future__ import annotations

import logging
import pathlib
import threading
from collections.abc import Callable
from typing import cast

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from webhook import certificates, settings

log = logging.getLogger(__name__)

_FileState = tuple[int, int, int, int] | None


def _state(path: pathlib.Path) -> _FileState:
    try:
        st = path.stat()  # follows symlinks, as Kubernetes secret volumes swap them
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class Certificates:
    """The serving certificate (and for ``mtls`` the client CA) of ``paths``."""

    def __init__(self, paths: certificates.Paths, mode: settings.TLSMode) -> None:
        self._paths = paths
        self._mtls = mode == "mtls"
        self._files = (paths.server_cert, paths.server_key, *((paths.ca,) if self._mtls else ()))
        self._seen: tuple[_FileState, ...] | None = None
        self._lock = threading.Lock()  # gRPC calls fetch from several threads
        self.current: grpc.ServerCertificateConfiguration | None = None
        """The newest set that loaded; None until one has."""
        self._delivered: grpc.ServerCertificateConfiguration | None = None
        self.refresh()

    def refresh(self) -> None:
        """Load the files if they changed since the last look."""
        with self._lock:
            state = tuple(_state(p) for p in self._files)
            if state == self._seen:
                return
            self._seen = state
            try:
                self.current = self._load()
            except (OSError, ValueError) as e:
                log.warning("gRPC TLS certificate files did not load, %s: %s",
                            "still serving the previous certificate" if self.current
                            else "not serving TLS", e)

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """gRPC's callback before each handshake: the newest set if gRPC does not have
        it yet, else None (keep what it has)."""
        self.refresh()
        with self._lock:
            if self.current is None or self.current is self._delivered:
                return None
            self._delivered = self.current
            return self.current

    def _load(self) -> grpc.ServerCertificateConfiguration:
        chain = self._paths.server_cert.read_bytes()
        key_pem = self._paths.server_key.read_bytes()
        cert = x509.load_pem_x509_certificate(chain)
        key = serialization.load_pem_private_key(key_pem, password=None)
        if key.public_key() != cert.public_key():
            raise ValueError(f"{self._paths.server_key} is not the key of {self._paths.server_cert}")
        ca = self._paths.ca.read_bytes() if self._mtls else None
        if ca is not None:
            x509.load_pem_x509_certificates(ca)  # refuse a CA file that is not PEM
        return grpc.ssl_server_certificate_configuration([(key_pem, chain)], root_certificates=ca)

    @property
    def ready(self) -> bool:
        """True once a certificate set has loaded from the files."""
        return self.current is not None

    def credentials(self) -> grpc.ServerCredentials:
        """Credentials for ``add_secure_port``."""
        # gRPC's contract allows None ("unchanged"); the type stubs say otherwise.
        fetch = cast("Callable[[], grpc.ServerCertificateConfiguration]", self.fetch)
        with self._lock:
            self._delivered = self.current
        return grpc.dynamic_ssl_server_credentials(
            self.current or _throwaway(), fetch, require_client_authentication=self._mtls)


def _throwaway() -> grpc.ServerCertificateConfiguration:
    key, cert = certificates.generate_ca("appimage-webhook-no-certificate-yet", days=1)
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    cert_pem = cert.public_bytes(pem)
    return grpc.ssl_server_certificate_configuration([(key_pem, cert_pem)], root_certificates=cert_pem)
