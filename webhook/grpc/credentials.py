"""TLS credentials of the gRPC listener that follow the certificate files.

grpc.aio cannot swap an ``SSLContext`` as the REST listeners do; its dynamic
credentials instead ask a callback for the certificates on every handshake, on one of
gRPC's own threads. ``Certificates.fetch`` looks at the files' identity (a few
``stat`` calls) and reads them only when they changed; as in ``tls.ReloadingContext``,
a set that does not load (a half-written file, a key that is not the certificate's)
is logged and the previous one keeps serving.
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

from webhook import settings, tls

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

    def __init__(self, paths: tls.CertPaths, mode: settings.TLSMode) -> None:
        self._paths = paths
        self._mtls = mode == "mtls"
        self._files = (paths.server_cert, paths.server_key, *((paths.ca,) if self._mtls else ()))
        self._seen: tuple[_FileState, ...] | None = None
        self._lock = threading.Lock()  # gRPC calls fetch from several threads
        self.current: grpc.ServerCertificateConfiguration | None = None
        self.fetch()

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """The certificates if they changed since the last call (gRPC's contract for
        the callback: None keeps the current ones)."""
        with self._lock:
            state = tuple(_state(p) for p in self._files)
            if state == self._seen:
                return None
            self._seen = state
            try:
                loaded = self._load()
            except (OSError, ValueError) as e:
                log.warning("gRPC TLS certificate files did not load, %s: %s",
                            "still serving the previous certificate" if self.current
                            else "not serving TLS", e)
                return None
            self.current = loaded
            return loaded

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

    def credentials(self) -> grpc.ServerCredentials:
        """Credentials for ``add_secure_port``; ``ValueError`` when no certificate has
        loaded yet."""
        if self.current is None:
            raise ValueError(f"gRPC listener: no usable certificate in {self._paths.server_cert}")
        # gRPC's contract allows None ("unchanged"); the type stubs say otherwise.
        fetch = cast("Callable[[], grpc.ServerCertificateConfiguration]", self.fetch)
        return grpc.dynamic_ssl_server_credentials(
            self.current, fetch, require_client_authentication=self._mtls)
