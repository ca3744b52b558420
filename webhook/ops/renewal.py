"""The certificates a self-managed Secret should hold: the decision ``selfcert`` acts on.

Pure, no I/O: ``plan`` takes what the Secret holds, the names the serving certificate
needs and the time, and answers the certificates to hold and why they changed (no
reason: the Secret is kept). ``selfcert.Manager`` reads, writes and publishes them.

Renewals keep the CA while it has more than a third of its life left, so ``caBundle``
rarely changes. When it must, the new CA is *added* to the bundle (old CAs stay trusted
until they expire) and serving certificates move to it only after ``Policy.ca_overlap``,
time for every API server to pick up the new ``caBundle``: a CA rotation fails no call.

Secret keys: ``tls.crt``/``tls.key`` (type ``kubernetes.io/tls``) and ``ca.crt`` as
cert-manager writes them, plus ``ca.key``, the one thing renewing needs.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography import exceptions, x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from webhook.ops import certificates

CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY = "ca.crt", "ca.key", "tls.crt", "tls.key"
_PEM = serialization.Encoding.PEM
_KEY_TYPES = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)
_LACKS = "serving certificate lacks"


@dataclasses.dataclass(frozen=True, slots=True)
class Policy:
    """When certificates are made and renewed."""

    ca_days: int = 3650
    """Lifetime of a new CA: long, since a new CA is the one change of ``caBundle``."""
    server_days: int = 365
    """Lifetime of a serving certificate (never beyond its CA's)."""
    renew_fraction: float = 1 / 3
    """Renew a certificate once less than this share of its lifetime is left."""
    ca_overlap: datetime.timedelta = datetime.timedelta(minutes=10)
    """How long a new CA is in ``caBundle`` before serving certificates come from it.
    API servers watch webhook configurations and pick a change up within seconds."""


@dataclasses.dataclass(frozen=True, slots=True)
class Certificates:
    """The trusted CAs (newest first; the first signs, with ``ca_key``) and the serving
    certificate with its key."""

    cas: tuple[x509.Certificate, ...]
    ca_key: certificates.IssuerKey
    server: certificates.KeyAndCert

    def ca_bundle(self) -> bytes:
        return b"".join(ca.public_bytes(_PEM) for ca in self.cas)

    def server_pem(self) -> tuple[bytes, bytes]:
        """(certificate, key) as PEM."""
        key, cert = self.server
        return cert.public_bytes(_PEM), _key_pem(key)

    def secret_data(self) -> dict[str, str]:
        cert, key = self.server_pem()
        raw = {CA_CERT: self.ca_bundle(), CA_KEY: _key_pem(self.ca_key),
               SERVER_CERT: cert, SERVER_KEY: key}
        return {name: base64.b64encode(value).decode() for name, value in raw.items()}


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    certificates: Certificates
    reasons: tuple[str, ...]
    """Why the certificates differ from the Secret's; empty when the Secret is kept."""

    @property
    def changed(self) -> bool:
        return bool(self.reasons)


def plan(data: Mapping[str, bytes], names: Iterable[str], now: datetime.datetime,
         policy: Policy = Policy()) -> Decision:
    """The certificates to hold, given what the Secret holds (``data``: key -> PEM; empty
    when there is no Secret), the names the serving certificate needs, and the time."""
    reasons: list[str] = []
    cas, dropped = _trusted_cas(data.get(CA_CERT, b""), now)
    if dropped:
        reasons.append(f"dropped {dropped} expired or non-CA certificate(s) from the CA bundle")
    ca_key = _private_key(data.get(CA_KEY, b""))
    signing: certificates.KeyAndCert | None = None
    if cas and ca_key is not None and ca_key.public_key() == cas[0].public_key():
        signing = (ca_key, cas[0])
        if _due(cas[0], now, policy.renew_fraction):
            reasons.append(f"CA expires {cas[0].not_valid_after_utc:%Y-%m-%d}")
            signing = None
    elif data:
        reasons.append("no usable CA certificate and key")
    else:
        reasons.append("no certificates yet")
    if signing is None:
        signing = certificates.generate_ca(days=policy.ca_days)
        cas = [signing[1], *cas]  # older CAs stay trusted until they expire

    server = _pair(data.get(SERVER_KEY, b""), data.get(SERVER_CERT, b""))
    wanted = tuple(dict.fromkeys(names))
    problem = _server_problem(server, cas, signing[1], wanted, now, policy)
    if problem or server is None:
        if data and problem:
            reasons.append(problem)
        if server is not None and problem and problem.startswith(_LACKS):
            # Two versions wanting different names (a rolling upgrade) converge on the
            # union instead of taking turns.
            wanted = tuple(dict.fromkeys((*wanted, *_sans(server[1]))))
        server = _issue(signing, wanted, now, policy)
    return Decision(Certificates(tuple(cas), signing[0], server), tuple(reasons))


def _due(cert: x509.Certificate, now: datetime.datetime, fraction: float) -> bool:
    """Whether less than ``fraction`` of the certificate's lifetime is left."""
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    return end - now < (end - start) * fraction


def _trusted_cas(pem: bytes, now: datetime.datetime) -> tuple[list[x509.Certificate], int]:
    """The CA certificates of a bundle that are still valid, and how many were dropped."""
    try:
        bundle = x509.load_pem_x509_certificates(pem) if pem.strip() else []
    except ValueError:
        return [], 0
    valid = [ca for ca in bundle if ca.not_valid_after_utc > now and _is_ca(ca)]
    return list(dict.fromkeys(valid)), len(bundle) - len(valid)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _private_key(pem: bytes) -> certificates.IssuerKey | None:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, exceptions.UnsupportedAlgorithm):
        return None
    return key if isinstance(key, _KEY_TYPES) else None


def _pair(key_pem: bytes, cert_pem: bytes) -> certificates.KeyAndCert | None:
    key = _private_key(key_pem)
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        return None
    return None if key is None else (key, cert)


def _sans(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [*san.get_values_for_type(x509.DNSName),
            *(str(ip) for ip in san.get_values_for_type(x509.IPAddress))]


def _canonical(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name.lower()


def _signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, exceptions.InvalidSignature):
        return False
    return True


def _server_problem(server: certificates.KeyAndCert | None, cas: list[x509.Certificate],
                    signing: x509.Certificate, names: tuple[str, ...],
                    now: datetime.datetime, policy: Policy) -> str | None:
    """Why the serving certificate must be issued again, or None to keep it."""
    if server is None:
        return "no serving certificate"
    key, cert = server
    if key.public_key() != cert.public_key():
        return "the serving key does not belong to the serving certificate"
    issuer = next((ca for ca in cas if _signed_by(cert, ca)), None)
    if issuer is None:
        return "the serving certificate is not signed by a trusted CA"
    if _due(cert, now, policy.renew_fraction):
        return f"serving certificate expires {cert.not_valid_after_utc:%Y-%m-%d}"
    present = {_canonical(n) for n in _sans(cert)}
    missing = [n for n in names if _canonical(n) not in present]
    if missing:
        return f"{_LACKS} {', '.join(missing)}"
    if issuer != signing and now - certificates.issued_at(signing) >= policy.ca_overlap:
        return "moving the serving certificate to the new CA"
    return None


def _issue(signing: certificates.KeyAndCert, names: tuple[str, ...], now: datetime.datetime,
           policy: Policy) -> certificates.KeyAndCert:
    ips = [n for n in names if _is_ip(n)]
    dns = [n for n in names if not _is_ip(n)]
    ca_days_left = (signing[1].not_valid_after_utc - now).days
    return certificates.issue_server(signing, dns, ips, days=max(1, min(policy.server_days, ca_days_left)))


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _key_pem(key: certificates.IssuerKey) -> bytes:
    return key.private_bytes(_PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def secret_pems(secret: Mapping[str, Any] | None) -> dict[str, bytes]:
    """The decoded ``data`` of a Secret object (undecodable entries left out)."""
    out: dict[str, bytes] = {}
    for name, value in ((secret or {}).get("data") or {}).items():
        try:
            out[name] = base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            continue
    return out
