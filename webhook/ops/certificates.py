"""Certificates and their files: a CA, serving and client certificates, and the
directory layouts a listener serves them from.

Certificates come from ``gen-certs`` and the dev mode of ``serve`` (a fresh CA with a
serving and a client certificate), or in Kuscia's layout from ``gen-certs --kuscia``
(``kusciaapi-server.crt``, serving and client certificate in one, and a ``token``, as
the API document's curls read them from ``${CTR_CERTS_ROOT}``); ``selfcert`` issues
them for the certificates it keeps in a Secret. ``tls`` makes server contexts of the
files written here.

Rule: files are written atomically (temporary file, then rename), keys with mode
0600, so a reloader polling the directory never reads a half-written file.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import logging
import os
import pathlib
import secrets
import tempfile
from collections.abc import Iterable, Sequence
from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509 import oid

logger = logging.getLogger(__name__)

IssuerKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
KeyAndCert: TypeAlias = tuple[IssuerKey, x509.Certificate]

# Names ``serve`` puts in a development certificate so that curl on the same machine
# works whether it says localhost or an address.
LOCAL_DNS_NAMES = ("localhost",)
LOCAL_IP_ADDRESSES = ("127.0.0.1", "::1")
CLIENT_COMMON_NAME = "appimage-webhook-client"
KUSCIA_SERVER_CERT, KUSCIA_SERVER_KEY = "kusciaapi-server.crt", "kusciaapi-server.key"
KUSCIA_TOKEN = "token"  # nosec B105: a file name, not a secret
TOKEN_BYTES = 32  # 256 random bits, as URL-safe base64
# Backdate certificates: a node whose clock runs a little behind the issuer's would
# otherwise reject a certificate that is "not yet valid" for its first minutes.
_CLOCK_SKEW = datetime.timedelta(minutes=5)


@dataclasses.dataclass(frozen=True, slots=True)
class Paths:
    """Where the certificate files of one listener live."""

    ca: pathlib.Path
    """CA certificate: verifies client certificates in ``mtls`` mode."""
    server_cert: pathlib.Path
    server_key: pathlib.Path
    client_cert: pathlib.Path
    """Client certificate for tools and tests; may be absent."""
    client_key: pathlib.Path

    @classmethod
    def in_dir(cls, directory: pathlib.Path) -> Paths:
        """The standard file names (``ca.crt``, ``server.crt``, …) in ``directory``."""
        return cls(
            ca=directory / "ca.crt",
            server_cert=directory / "server.crt",
            server_key=directory / "server.key",
            client_cert=directory / "client.crt",
            client_key=directory / "client.key",
        )

    @classmethod
    def kuscia(cls, directory: pathlib.Path) -> Paths:
        """Kuscia's names in ``directory``: ``ca.crt`` and ``kusciaapi-server.crt``/``.key``,
        which serve and, as the API document's curls present them, identify the client."""
        cert, key = directory / KUSCIA_SERVER_CERT, directory / KUSCIA_SERVER_KEY
        return cls(ca=directory / "ca.crt", server_cert=cert, server_key=key,
                   client_cert=cert, client_key=key)

    @classmethod
    def found_in(cls, directory: pathlib.Path) -> Paths:
        """The files to serve from ``directory``: Kuscia's layout when it holds
        ``kusciaapi-server.crt`` and no ``server.crt``, else the standard names."""
        if (directory / KUSCIA_SERVER_CERT).exists() and not (directory / "server.crt").exists():
            return cls.kuscia(directory)
        return cls.in_dir(directory)


def generate_ca(common_name: str = "appimage-webhook-ca", days: int = 3650) -> KeyAndCert:
    """A self-signed CA (ECDSA P-256) that may sign certificates but not other CAs."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(oid.NameOID.COMMON_NAME, common_name)])
    builder = (
        _builder(name, name, key, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
    )
    return key, builder.sign(key, _hash_for(key))


def issue_server(
    ca: KeyAndCert,
    dns_names: Sequence[str],
    ip_addresses: Sequence[str],
    *,
    days: int = 365,
    client_auth: bool = False,
) -> KeyAndCert:
    """A serving certificate signed by ``ca`` for the given names (at least one);
    ``client_auth``: valid as a client certificate too (Kuscia's ``kusciaapi-server``)."""
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dict.fromkeys(dns_names)]
    # ip_address() raises ValueError for a malformed address, which is what we want.
    ips = dict.fromkeys(ipaddress.ip_address(a) for a in ip_addresses)
    sans += [x509.IPAddress(ip) for ip in ips]
    if not sans:
        raise ValueError("a serving certificate needs at least one DNS name or IP address")
    usages = [oid.ExtendedKeyUsageOID.SERVER_AUTH]
    if client_auth:
        usages.append(oid.ExtendedKeyUsageOID.CLIENT_AUTH)
    return _issue_leaf(ca, "appimage-webhook", usages, days, sans)


def issue_client(ca: KeyAndCert, common_name: str, *, days: int = 365) -> KeyAndCert:
    """A client certificate signed by ``ca``, identified by ``common_name``."""
    return _issue_leaf(ca, common_name, [oid.ExtendedKeyUsageOID.CLIENT_AUTH], days, [])


def write_cert_set(
    out_dir: pathlib.Path,
    dns_names: Sequence[str],
    ip_addresses: Sequence[str],
    *,
    server_days: int = 365,
    overwrite: bool = False,
) -> Paths:
    """Write a fresh CA with a serving and a client certificate into ``out_dir``.

    Refuses (``ValueError``) to replace existing files unless ``overwrite``: a CA key
    that other certificates depend on must not disappear by accident.
    """
    paths = Paths.in_dir(out_dir)
    ca_key_path = out_dir / "ca.key"
    _refuse_to_replace(out_dir, (ca_key_path, *dataclasses.astuple(paths)), overwrite)
    ca = generate_ca()
    server = issue_server(ca, dns_names, ip_addresses, days=server_days)
    client = issue_client(ca, CLIENT_COMMON_NAME, days=server_days)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_pair(ca, paths.ca, ca_key_path)
    write_pair(server, paths.server_cert, paths.server_key)
    write_pair(client, paths.client_cert, paths.client_key)
    return paths


def _refuse_to_replace(out_dir: pathlib.Path, targets: Iterable[pathlib.Path], overwrite: bool) -> None:
    existing = [p.name for p in targets if p.exists()]
    if existing and not overwrite:
        raise ValueError(f"{out_dir}: {', '.join(existing)} already exist; not overwriting")


def write_kuscia_set(
    out_dir: pathlib.Path,
    dns_names: Sequence[str],
    ip_addresses: Sequence[str],
    *,
    server_days: int = 365,
    overwrite: bool = False,
) -> Paths:
    """Write Kuscia's layout into ``out_dir``: ``ca.crt``, ``ca.key``,
    ``kusciaapi-server.crt``/``.key`` (serving and client certificate in one) and a
    random ``token``. Refuses (``ValueError``) to replace files unless ``overwrite``."""
    paths = Paths.kuscia(out_dir)
    _refuse_to_replace(out_dir, (paths.ca, out_dir / "ca.key", paths.server_cert, paths.server_key,
                                 out_dir / KUSCIA_TOKEN), overwrite)
    ca = generate_ca()
    server = issue_server(ca, dns_names, ip_addresses, days=server_days, client_auth=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_pair(ca, paths.ca, out_dir / "ca.key")
    write_pair(server, paths.server_cert, paths.server_key)
    _write_atomic(out_dir / KUSCIA_TOKEN, secrets.token_urlsafe(TOKEN_BYTES).encode() + b"\n", 0o600)
    return paths


def check_cert_dir(cert_dir: pathlib.Path) -> bool:
    """Whether ``ensure_dev_certs`` would write a development set into ``cert_dir``
    (False: the set is there); ``ValueError`` saying why it could do neither. Writes
    nothing.

    ``ca.crt``, ``server.crt`` and ``server.key`` present (or Kuscia's
    ``kusciaapi-server.crt``/``.key`` in place of the server's): used as they are. No
    certificate file at all: a fresh set is due, if the directory can be made and
    written. Anything in between is someone's half-provisioned directory, so the error
    names what is missing rather than replacing it.
    """
    paths = Paths.found_in(cert_dir)
    required = (paths.ca, paths.server_cert, paths.server_key)
    if all(p.exists() for p in required):
        return False
    others = (cert_dir / "ca.key", paths.client_cert, paths.client_key)
    if any(p.exists() for p in (*required, *others)):
        missing = ", ".join(p.name for p in required if not p.exists())
        raise ValueError(
            f"{cert_dir}: incomplete certificate set, missing {missing}; provide it, or"
            " empty the directory to have a development set generated"
        )
    existing = cert_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{cert_dir}: cannot write development certificates: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{cert_dir}: cannot write development certificates: {existing} is not writable")
    return True


def ensure_dev_certs(
    cert_dir: pathlib.Path, dns_names: Sequence[str] = (), ip_addresses: Sequence[str] = ()
) -> Paths:
    """Use the certificates in ``cert_dir``, or create a development set if there are
    none (``check_cert_dir`` says which, and refuses a partial set)."""
    if not check_cert_dir(cert_dir):
        return Paths.found_in(cert_dir)
    logger.info("creating a development CA and certificates in %s", cert_dir)
    return write_cert_set(
        cert_dir, [*LOCAL_DNS_NAMES, *dns_names], [*LOCAL_IP_ADDRESSES, *ip_addresses]
    )


def _issue_leaf(
    ca: KeyAndCert,
    name: str,
    usages: Sequence[x509.ObjectIdentifier],
    days: int,
    sans: list[x509.GeneralName],
) -> KeyAndCert:
    ca_key, ca_cert = ca
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(oid.NameOID.COMMON_NAME, name)])
    # Python 3.13's default VERIFY_X509_STRICT rejects leaves without an AKI. It must
    # repeat the CA's own SKI when there is one (a CA from elsewhere may derive it
    # differently), else the usual hash of the CA's public key.
    try:
        ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    builder = (
        _builder(subject, ca_cert.subject, key, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(aki, critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return key, builder.sign(ca_key, _hash_for(ca_key))


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey, days: int
) -> x509.CertificateBuilder:
    if days < 1:
        raise ValueError(f"certificate validity must be at least one day, got {days}")
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    # ECDSA keys only sign; keyEncipherment would only make sense for RSA key transport.
    unused = ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement")
    off = dict.fromkeys((*unused, "encipher_only", "decipher_only"), False)
    return x509.KeyUsage(digital_signature=True, key_cert_sign=cert_sign, crl_sign=cert_sign, **off)


def _hash_for(key: IssuerKey) -> hashes.SHA256 | None:
    # Ed25519 signs the message itself and takes no separate digest.
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def write_pair(pair: KeyAndCert, cert_path: pathlib.Path, key_path: pathlib.Path) -> None:
    """Write a key (mode 0600) and its certificate (0644), each atomically."""
    key, cert = pair
    pkcs8, pem = serialization.PrivateFormat.PKCS8, serialization.Encoding.PEM
    _write_atomic(key_path, key.private_bytes(pem, pkcs8, serialization.NoEncryption()), 0o600)
    _write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _write_atomic(path: pathlib.Path, data: bytes, mode: int) -> None:
    # A reloader polling the directory must never read a half-written file, so write a
    # temporary file beside the target and rename it over. mkstemp creates it 0600:
    # a key is never readable by others, not even for a moment.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # else a crash after the rename can leave an empty file
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def write_if_changed(path: pathlib.Path, data: bytes, mode: int) -> bool:
    """Atomically replace ``path`` with ``data`` unless it holds exactly that already
    (so a reloader sees no change); True if written."""
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    _write_atomic(path, data, mode)
    return True


def issued_at(cert: x509.Certificate) -> datetime.datetime:
    """When a certificate made here was issued (its notBefore is backdated)."""
    return cert.not_valid_before_utc + _CLOCK_SKEW
