"""TLS for the listeners: certificate generation, server contexts, and reload.

Certificates come from ``gen-certs`` and the dev mode of ``serve`` (a fresh CA with a
serving and a client certificate), or in Kuscia's layout from ``gen-certs --kuscia``
(``kusciaapi-server.crt``, serving and client certificate in one, and a ``token``, as
the API document's curls read them from ``${CTR_CERTS_ROOT}``); contexts follow the
``TLSMode`` of a listener; and ``ReloadingContext`` keeps serving the newest good
certificate when the files change.

Rule: a live ``SSLContext`` is never modified. A reload builds a new context from the
files and swaps it in only if it loads; a bad rewrite (half-written file, mismatched key)
logs a warning and the previous certificate keeps serving. Calling ``load_cert_chain()``
on the live context instead would break every later handshake after one failed reload.
Files are written atomically (temporary file, then rename), keys with mode 0600.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import ipaddress
import logging
import os
import pathlib
import secrets
import ssl
import tempfile
from collections.abc import Sequence
from typing import Literal, TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509 import oid

logger = logging.getLogger(__name__)

TLSMode = Literal["notls", "tls", "mtls"]
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
# TLS 1.2 suites: forward-secret key exchange and AEAD only (Mozilla's "intermediate"
# profile, which Go's crypto/tls of the API server and every current client speak);
# no CBC, no RSA key exchange, no SHA-1 MACs.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"
# Backdate certificates: a node whose clock runs a little behind the issuer's would
# otherwise reject a certificate that is "not yet valid" for its first minutes.
_CLOCK_SKEW = datetime.timedelta(minutes=5)


@dataclasses.dataclass(frozen=True, slots=True)
class CertPaths:
    """Where the certificate files of one listener live."""

    ca: pathlib.Path
    """CA certificate: verifies client certificates in ``mtls`` mode."""
    server_cert: pathlib.Path
    server_key: pathlib.Path
    client_cert: pathlib.Path
    """Client certificate for tools and tests; may be absent."""
    client_key: pathlib.Path

    @classmethod
    def in_dir(cls, directory: pathlib.Path) -> CertPaths:
        """The standard file names (``ca.crt``, ``server.crt``, …) in ``directory``."""
        return cls(
            ca=directory / "ca.crt",
            server_cert=directory / "server.crt",
            server_key=directory / "server.key",
            client_cert=directory / "client.crt",
            client_key=directory / "client.key",
        )

    @classmethod
    def kuscia(cls, directory: pathlib.Path) -> CertPaths:
        """Kuscia's names in ``directory``: ``ca.crt`` and ``kusciaapi-server.crt``/``.key``,
        which serve and, as the API document's curls present them, identify the client."""
        cert, key = directory / KUSCIA_SERVER_CERT, directory / KUSCIA_SERVER_KEY
        return cls(ca=directory / "ca.crt", server_cert=cert, server_key=key,
                   client_cert=cert, client_key=key)

    @classmethod
    def found_in(cls, directory: pathlib.Path) -> CertPaths:
        """The files to serve from ``directory``: Kuscia's layout when it holds
        ``kusciaapi-server.crt`` and no ``server.crt``, else the standard names."""
        if (directory / KUSCIA_SERVER_CERT).exists() and not (directory / "server.crt").exists():
            return cls.kuscia(directory)
        return cls.in_dir(directory)


# --- generation -----------------------------------------------------------------------


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
) -> CertPaths:
    """Write a fresh CA with a serving and a client certificate into ``out_dir``.

    Refuses (``ValueError``) to replace existing files unless ``overwrite``: a CA key
    that other certificates depend on must not disappear by accident.
    """
    paths = CertPaths.in_dir(out_dir)
    ca_key_path = out_dir / "ca.key"
    existing = [p.name for p in (ca_key_path, *dataclasses.astuple(paths)) if p.exists()]
    if existing and not overwrite:
        raise ValueError(f"{out_dir}: {', '.join(existing)} already exist; not overwriting")
    ca = generate_ca()
    server = issue_server(ca, dns_names, ip_addresses, days=server_days)
    client = issue_client(ca, CLIENT_COMMON_NAME, days=server_days)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_pair(ca, paths.ca, ca_key_path)
    write_pair(server, paths.server_cert, paths.server_key)
    write_pair(client, paths.client_cert, paths.client_key)
    return paths


def write_kuscia_set(
    out_dir: pathlib.Path,
    dns_names: Sequence[str],
    ip_addresses: Sequence[str],
    *,
    server_days: int = 365,
    overwrite: bool = False,
) -> CertPaths:
    """Write Kuscia's layout into ``out_dir``: ``ca.crt``, ``ca.key``,
    ``kusciaapi-server.crt``/``.key`` (serving and client certificate in one) and a
    random ``token``. Refuses (``ValueError``) to replace files unless ``overwrite``."""
    paths = CertPaths.kuscia(out_dir)
    targets = (paths.ca, out_dir / "ca.key", paths.server_cert, paths.server_key,
               out_dir / KUSCIA_TOKEN)
    existing = [p.name for p in targets if p.exists()]
    if existing and not overwrite:
        raise ValueError(f"{out_dir}: {', '.join(existing)} already exist; not overwriting")
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
    paths = CertPaths.found_in(cert_dir)
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
) -> CertPaths:
    """Use the certificates in ``cert_dir``, or create a development set if there are
    none (``check_cert_dir`` says which, and refuses a partial set)."""
    if not check_cert_dir(cert_dir):
        return CertPaths.found_in(cert_dir)
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


# --- contexts -------------------------------------------------------------------------


def server_context(paths: CertPaths, mode: TLSMode) -> ssl.SSLContext:
    """A server context for ``tls`` or ``mtls`` (client certificate signed by ``ca``)."""
    ctx = _handshake_policy(mode)
    if mode == "mtls":
        ctx.load_verify_locations(cafile=paths.ca)
    # Also checks that the key belongs to the certificate (SSLError if not).
    ctx.load_cert_chain(paths.server_cert, paths.server_key)
    return ctx


def _handshake_policy(mode: TLSMode) -> ssl.SSLContext:
    # A context with the protocol floor and client-certificate demand, no certificate.
    if mode not in ("tls", "mtls"):
        raise ValueError(f"TLS mode {mode!r} has no SSL context; expected 'tls' or 'mtls'")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(TLS12_CIPHERS)  # TLS 1.3 has only modern suites; it is not affected
    ctx.verify_mode = ssl.CERT_REQUIRED if mode == "mtls" else ssl.CERT_NONE
    return ctx


# --- reload ---------------------------------------------------------------------------

_FileState: TypeAlias = tuple[int, int, int, int] | None
"""(device, inode, size, mtime in ns) of one file, or None when it is missing."""


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
    """

    def __init__(self, paths: CertPaths, mode: TLSMode) -> None:
        self._paths = paths
        self._mode = mode
        self._files: tuple[pathlib.Path, ...] = (paths.server_cert, paths.server_key)
        if mode == "mtls":
            self._files += (paths.ca,)
        self._front = _handshake_policy(mode)
        self._front.sni_callback = self._select
        self._current: ssl.SSLContext | None = None
        self._seen: tuple[_FileState, ...] | None = None
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
        # Stat before reading: a file replaced while we load shows up as a change on
        # the next poll, so we never settle on contents older than what is on disk.
        state = tuple(_file_state(p) for p in self._files)
        if state == self._seen:
            return False
        self._seen = state
        try:
            new = server_context(self._paths, self._mode)
            cert = x509.load_pem_x509_certificate(self._paths.server_cert.read_bytes())
        except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
            logger.warning(
                "TLS certificate files did not load, %s: %s",
                "still serving the previous certificate" if self.ready else "not serving TLS",
                e,
            )
            return False
        self._current = new
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


def _file_state(path: pathlib.Path) -> _FileState:
    try:
        st = path.stat()  # follows symlinks, as Kubernetes secret volumes swap them
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
