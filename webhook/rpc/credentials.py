"""TLS credentials of the gRPC listener that follow the certificate files, as REST's do.

grpcio cannot take an ``SSLContext``; its dynamic server credentials ask a callback,
on one of gRPC's own threads, for a new certificate configuration before each handshake.
The callback polls the REST listeners' ``tls.ReloadingContext`` (a few ``stat`` calls;
the files are read only when they changed) and hands grpcio the set that context loaded
last, once: a set that does not load keeps the previous one serving, on every listener
alike. Until a set has loaded (self-managed certificates are still being written),
handshakes get a throwaway self-signed certificate that no client trusts, so the port
is bound from the start and the listener is not ready.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import cast

import grpc
from cryptography.hazmat.primitives import serialization

from webhook.ops import certificates, tls


class Credentials:
    """The server credentials of one gRPC listener, following ``reloading``'s files."""

    def __init__(self, reloading: tls.ReloadingContext, mtls: bool) -> None:
        self.reloading = reloading
        self._mtls = mtls
        self._delivered: tls.Pem | None = None
        self._lock = threading.Lock()  # grpcio fetches from several threads

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """grpcio's callback before each handshake: the newest set if grpcio does not
        have it yet, else None (keep what it has)."""
        self.reloading.poll()
        pem = self.reloading.pem
        with self._lock:
            if pem is None or pem is self._delivered:
                return None
            self._delivered = pem
        return _configuration(pem)

    def server_credentials(self) -> grpc.ServerCredentials:
        """Credentials for ``add_secure_port``."""
        with self._lock:
            self._delivered = self.reloading.pem
        initial = _configuration(self._delivered) if self._delivered else _throwaway()
        # grpcio's contract allows None ("unchanged"); the type stubs say otherwise.
        fetch = cast("Callable[[], grpc.ServerCertificateConfiguration]", self.fetch)
        return grpc.dynamic_ssl_server_credentials(initial, fetch, require_client_authentication=self._mtls)


def _configuration(pem: tls.Pem) -> grpc.ServerCertificateConfiguration:
    return grpc.ssl_server_certificate_configuration([(pem.key, pem.chain)], root_certificates=pem.ca)


def _throwaway() -> grpc.ServerCertificateConfiguration:
    key, cert = certificates.generate_ca("appimage-webhook-no-certificate-yet", days=1)
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    cert_pem = cert.public_bytes(pem)
    return grpc.ssl_server_certificate_configuration([(key_pem, cert_pem)], root_certificates=cert_pem)
