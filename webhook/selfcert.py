"""Self-managed webhook certificates: a CA and a serving certificate kept in one Secret,
the CA published as ``caBundle`` of our two webhook configurations, renewed before expiry.

Every replica runs ``Manager.run``: read the Secret, decide (``plan``: pure, no I/O),
write what the decision changed — the Secret first (create, or update with its
``resourceVersion``: on a conflict another replica won and its certificates are used),
then ``caBundle`` of every webhook in both configurations, then ``ca.crt``,
``server.crt`` and ``server.key`` in the certificate directory, which the listeners'
``tls.ReloadingContext`` serves — and check again every interval, which is also how a
Secret renewed by another replica reaches this one.

Renewals keep the CA while it has more than a third of its life left, so ``caBundle``
rarely changes. When it must, the new CA is *added* to the bundle (old CAs stay trusted
until they expire) and serving certificates move to it only after ``Policy.ca_overlap``,
time for every API server to pick up the new ``caBundle``: a CA rotation fails no call.

Secret keys: ``tls.crt``/``tls.key`` (type ``kubernetes.io/tls``) and ``ca.crt`` as
cert-manager writes them, plus ``ca.key``, the one thing renewing needs.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import datetime
import ipaddress
import logging
import pathlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cryptography import exceptions, x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from webhook import certificates, kube

log = logging.getLogger(__name__)

CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY = "ca.crt", "ca.key", "tls.crt", "tls.key"
# A Secret type, not a secret.
SECRET_TYPE = "kubernetes.io/tls"  # nosec B105
FIELD_MANAGER = "appimage-webhook"
ADMISSION_API = "/apis/admissionregistration.k8s.io/v1"
WEBHOOK_CONFIGURATIONS = ("mutatingwebhookconfigurations", "validatingwebhookconfigurations")
# A write that loses a race is re-read and decided again; losing this many times in one
# round means something keeps rewriting the object: give up until the next round.
MAX_ATTEMPTS = 3
_PEM = serialization.Encoding.PEM
_KEY_TYPES = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)
_LACKS = "serving certificate lacks"


class SyncError(Exception):
    """The API server refused a read or write (RBAC, validation, …); retried next round."""


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
class Target:
    """What one service manages."""

    namespace: str
    secret: str
    webhook_configuration: str
    """Name of both webhook configurations to publish ``caBundle`` to; '' publishes none."""
    names: tuple[str, ...]
    """DNS names (and IP addresses) the serving certificate must hold."""
    cert_dir: pathlib.Path


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


# --- the decision (pure) ----------------------------------------------------------------


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


# --- the loop (I/O) ---------------------------------------------------------------------


class _Conflict(Exception):
    """Another writer changed the object between our read and our write."""


class Manager:
    """Keeps ``target``'s certificates made, stored, published and on disk."""

    def __init__(self, client: kube.Client, target: Target, policy: Policy = Policy(), *,
                 on_files: Callable[[], None] = lambda: None,
                 clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
                 ) -> None:
        self.client = client
        self.target = target
        self.policy = policy
        self._on_files = on_files
        self._clock = clock
        self._secret_path = f"/api/v1/namespaces/{target.namespace}/secrets"

    async def run(self, interval: float) -> None:
        """``sync`` now and every ``interval`` seconds, forever (run it as a task); a
        failed round is logged and retried on the next."""
        while True:
            try:
                await self.sync()
            except (SyncError, kube.Error) as e:
                log.warning("self-managed certificates: %s", e)
            except Exception:
                # An unexpected error must not end the task: renewals would stop silently.
                log.exception("self-managed certificates: round failed")
            await asyncio.sleep(interval)

    async def sync(self) -> Decision:
        """One round: read, decide, write the Secret, publish caBundle, write the files."""
        target = self.target
        for _ in range(MAX_ATTEMPTS):
            secret = await self._read_secret()
            decision = plan(secret_pems(secret), target.names, self._clock(), self.policy)
            if not decision.changed:
                break
            try:
                await self._write_secret(secret, decision.certificates)
            except _Conflict:
                log.info("Secret %s/%s changed under us; reading it again",
                         target.namespace, target.secret)
                continue
            log.info("certificates in Secret %s/%s renewed: %s", target.namespace,
                     target.secret, "; ".join(decision.reasons))
            break
        else:
            raise SyncError(f"Secret {target.namespace}/{target.secret} kept changing; "
                            "trying again next round")
        failure: SyncError | None = None
        try:
            await self._publish(decision.certificates.ca_bundle())
        except SyncError as e:
            failure = e  # the files are still written: serving must not wait for it
        if self._write_files(decision.certificates):
            log.info("certificate files in %s updated", target.cert_dir)
            self._on_files()
        if failure is not None:
            raise failure
        return decision

    async def close(self) -> None:
        await self.client.close()

    async def _read_secret(self) -> dict[str, Any] | None:
        status, body = await self.client.request("GET", f"{self._secret_path}/{self.target.secret}")
        if status == 404:
            return None
        if status != 200:
            raise _refused("read Secret", f"{self.target.namespace}/{self.target.secret}", status, body)
        return body

    async def _write_secret(self, current: dict[str, Any] | None, certs: Certificates) -> None:
        name = f"{self.target.namespace}/{self.target.secret}"
        params = {"fieldManager": FIELD_MANAGER}
        if current is None:
            body: dict[str, Any] = {
                "apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
                "metadata": {"name": self.target.secret, "namespace": self.target.namespace,
                             "labels": {"app.kubernetes.io/managed-by": FIELD_MANAGER}},
                "data": certs.secret_data(),
            }
            status, answer = await self.client.request("POST", self._secret_path, body=body,
                                                       params=params)
        else:  # the resourceVersion read makes this a compare-and-swap
            body = {**current, "data": {**(current.get("data") or {}), **certs.secret_data()}}
            status, answer = await self.client.request(
                "PUT", f"{self._secret_path}/{self.target.secret}", body=body, params=params)
        if status == 409:
            raise _Conflict(name)
        if status >= 300:
            raise _refused("write Secret", name, status, answer)

    async def _publish(self, bundle: bytes) -> None:
        """Set ``caBundle`` of every webhook in both configurations where it differs."""
        name = self.target.webhook_configuration
        if not name:
            return
        wanted = base64.b64encode(bundle).decode()
        for plural in WEBHOOK_CONFIGURATIONS:
            path = f"{ADMISSION_API}/{plural}/{name}"
            for _ in range(MAX_ATTEMPTS):
                status, body = await self.client.request("GET", path)
                if status == 404:
                    log.warning("%s %s not found: caBundle not published (yet)", plural, name)
                    break
                if status != 200:
                    raise _refused("read", f"{plural}/{name}", status, body)
                stale = [hook for hook in body.get("webhooks") or []
                         if (hook.get("clientConfig") or {}).get("caBundle") != wanted]
                if not stale:
                    break
                for hook in stale:
                    hook.setdefault("clientConfig", {})["caBundle"] = wanted
                status, answer = await self.client.request(
                    "PUT", path, body=body, params={"fieldManager": FIELD_MANAGER})
                if status == 409:
                    continue
                if status >= 300:
                    raise _refused("update", f"{plural}/{name}", status, answer)
                log.info("caBundle of %s %s published (%d webhooks)", plural, name, len(stale))
                break
            else:
                raise SyncError(f"{plural}/{name} kept changing; trying again next round")

    def _write_files(self, certs: Certificates) -> bool:
        paths = certificates.Paths.in_dir(self.target.cert_dir)
        cert, key = certs.server_pem()
        self.target.cert_dir.mkdir(parents=True, exist_ok=True)
        changed = False
        # Key before certificate: a reloader that catches the pair half-written fails to
        # load it, keeps serving the previous one and loads the pair on its next look.
        for path, data, mode in ((paths.ca, certs.ca_bundle(), 0o644),
                                 (paths.server_key, key, 0o600),
                                 (paths.server_cert, cert, 0o644)):
            changed = certificates.write_if_changed(path, data, mode) or changed
        return changed


def _refused(what: str, name: str, status: int, body: Mapping[str, Any]) -> SyncError:
    message = body.get("message") or f"HTTP {status}"
    hint = " (check the ServiceAccount's RBAC)" if status == 403 else ""
    return SyncError(f"cannot {what} {name}: HTTP {status}: {message}{hint}")
