"""Certificate helpers for tests: a client's TLS context, and a new serving certificate
from a CA on disk (what an operator's rotation looks like to the reloader)."""

from __future__ import annotations

import dataclasses
import pathlib
import ssl
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from webhook.ops import certificates


def client_context(
    ca: pathlib.Path, cert: pathlib.Path | None = None, key: pathlib.Path | None = None
) -> ssl.SSLContext:
    """A client context trusting ``ca``, presenting ``cert`` (and ``key``) when given."""
    if key is not None and cert is None:
        raise ValueError("a client key without a client certificate")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cafile=ca)
    if cert is not None:
        ctx.load_cert_chain(cert, key)
    return ctx


def issue_server_cert(
    ca_cert_path: pathlib.Path,
    ca_key_path: pathlib.Path,
    out_dir: pathlib.Path,
    dns_names: Sequence[str],
    ip_addresses: Sequence[str],
    days: int = 365,
) -> certificates.Paths:
    """Write a new ``server.crt``/``server.key`` into ``out_dir``, signed by a CA on disk."""
    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    if not isinstance(ca_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError(f"{ca_key_path}: unsupported CA key type {type(ca_key).__name__}")
    if ca_key.public_key() != ca_cert.public_key():
        raise ValueError(f"{ca_key_path} is not the key of {ca_cert_path}")
    server = certificates.issue_server((ca_key, ca_cert), dns_names, ip_addresses, days=days)
    paths = dataclasses.replace(certificates.Paths.in_dir(out_dir), ca=ca_cert_path)
    certificates.write_pair(server, paths.server_cert, paths.server_key)
    return paths
