"""Certificates, server contexts and reload, checked with real handshakes on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import inspect
import ipaddress
import logging
import pathlib
import ssl
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.support import pki
from webhook.ops import certificates, tls

DNS_NAMES = ["localhost", "appimage-webhook.kuscia-system.svc"]
IP_ADDRESSES = ["127.0.0.1", "::1"]


@pytest.fixture
def certs(tmp_path: pathlib.Path) -> certificates.Paths:
    return certificates.write_cert_set(tmp_path / "certs", DNS_NAMES, IP_ADDRESSES)


@pytest.fixture
def other_ca_certs(tmp_path: pathlib.Path) -> certificates.Paths:
    return certificates.write_cert_set(tmp_path / "other", ["localhost"], [])


@contextlib.asynccontextmanager
async def serving(ctx: ssl.SSLContext) -> AsyncIterator[int]:
    """An aiohttp server on 127.0.0.1 with a random port, answering GET / with ok."""

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def fetch(
    port: int, ctx: ssl.SSLContext, server_hostname: str | None = "localhost"
) -> tuple[bytes, bytes]:
    """GET / on a new connection: the response and the server certificate (DER)."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=ctx, server_hostname=server_hostname
    )
    try:
        peer = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        return await reader.read(), peer
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def accepted(
    port: int, ctx: ssl.SSLContext, server_hostname: str | None = "localhost"
) -> bool:
    # Under TLS 1.3 the client finishes its handshake before the server has checked the
    # client certificate, so a refusal may only show as an error or EOF on the read.
    try:
        response, _ = await fetch(port, ctx, server_hostname)
    except (ssl.SSLError, ConnectionError):
        return False
    return response.startswith(b"HTTP/1.1 200") and response.endswith(b"ok")


def serial(der_or_path: bytes | pathlib.Path) -> int:
    if isinstance(der_or_path, pathlib.Path):
        return x509.load_pem_x509_certificate(der_or_path.read_bytes()).serial_number
    return x509.load_der_x509_certificate(der_or_path).serial_number


async def until(condition: Callable[[], bool | Awaitable[bool]], limit: float = 5.0) -> None:
    """Wait for ``condition`` (plain or async), checking every 10 ms, at most ``limit`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not await _value(condition()):
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {limit}s")
        await asyncio.sleep(0.01)


async def _value(result: bool | Awaitable[bool]) -> bool:
    return await result if inspect.isawaitable(result) else result


def no_sni_client(certs: certificates.Paths) -> ssl.SSLContext:
    ctx = pki.client_context(certs.ca, certs.client_cert, certs.client_key)
    ctx.check_hostname = False  # verified chain, but no name: the client sends no SNI
    return ctx


# --- generation -----------------------------------------------------------------------


def test_server_cert_has_requested_sans_and_is_issued_by_the_ca(certs):
    cert = x509.load_pem_x509_certificate(certs.server_cert.read_bytes())
    ca = x509.load_pem_x509_certificate(certs.ca.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == DNS_NAMES
    ips = [ipaddress.ip_address(a) for a in IP_ADDRESSES]
    assert sans.get_values_for_type(x509.IPAddress) == ips
    cert.verify_directly_issued_by(ca)
    ca_constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert ca_constraints.critical
    assert ca_constraints.value.ca


@pytest.mark.parametrize(
    "server_hostname", ["localhost", "appimage-webhook.kuscia-system.svc", "127.0.0.1"]
)
async def test_handshake_verifies_server_cert_for_each_san(certs, server_hostname):
    async with serving(tls.server_context(certs, "tls")) as port:
        response, _ = await fetch(port, pki.client_context(certs.ca), server_hostname)
    assert response.endswith(b"ok")


async def test_handshake_rejects_a_name_not_in_the_sans(certs):
    async with serving(tls.server_context(certs, "tls")) as port:
        with pytest.raises(ssl.SSLCertVerificationError):
            await fetch(port, pki.client_context(certs.ca), "other.example")


def test_key_files_are_private_and_certs_readable(certs):
    pki.issue_server_cert(
        certs.ca, certs.ca.with_name("ca.key"), certs.ca.parent, ["localhost"], []
    )
    for key in ("ca.key", "server.key", "client.key"):
        assert (certs.ca.parent / key).stat().st_mode & 0o777 == 0o600, key
    for cert in ("ca.crt", "server.crt", "client.crt"):
        assert (certs.ca.parent / cert).stat().st_mode & 0o777 == 0o644, cert
    assert not list(certs.ca.parent.glob(".*.tmp"))


async def test_issue_server_cert_accepts_a_foreign_rsa_ca_without_ski(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "someone else's CA")])
    now = datetime.datetime.now(datetime.UTC)
    ca = (
        x509.CertificateBuilder(name, name, key.public_key(), x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pkcs8, pem = serialization.PrivateFormat.PKCS8, serialization.Encoding.PEM
    (tmp_path / "ca.key").write_bytes(key.private_bytes(pem, pkcs8, serialization.NoEncryption()))
    paths = pki.issue_server_cert(
        tmp_path / "ca.crt", tmp_path / "ca.key", tmp_path, ["localhost"], []
    )
    async with serving(tls.server_context(paths, "tls")) as port:
        assert await accepted(port, pki.client_context(paths.ca))


def test_write_cert_set_refuses_to_overwrite(certs):
    with pytest.raises(ValueError, match=r"ca\.crt"):
        certificates.write_cert_set(certs.ca.parent, ["localhost"], [])


def test_issue_server_cert_refuses_a_key_that_is_not_the_cas(certs, other_ca_certs):
    other_key = other_ca_certs.ca.with_name("ca.key")
    with pytest.raises(ValueError, match="is not the key of"):
        pki.issue_server_cert(certs.ca, other_key, certs.ca.parent, ["localhost"], [])


def test_ensure_dev_certs_creates_a_set_for_localhost_and_given_names(tmp_path):
    paths = certificates.ensure_dev_certs(tmp_path, ["svc.example"], ["10.0.0.1"])
    cert = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost", "svc.example"]
    ips = [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
    assert ips == ["127.0.0.1", "::1", "10.0.0.1"]
    assert paths.client_cert.exists()
    assert (tmp_path / "ca.key").exists()


def test_ensure_dev_certs_reuses_existing_files(certs):
    before = {p.name: p.read_bytes() for p in certs.ca.parent.iterdir()}
    certs.client_cert.unlink()  # the client pair is optional
    certs.client_key.unlink()
    assert certificates.ensure_dev_certs(certs.ca.parent) == certs
    after = {p.name: p.read_bytes() for p in certs.ca.parent.iterdir()}
    assert after == {k: v for k, v in before.items() if not k.startswith("client.")}


@pytest.mark.parametrize("missing", ["server.key", "ca.crt", "server.crt"])
def test_ensure_dev_certs_refuses_a_partial_set(certs, missing):
    (certs.ca.parent / missing).unlink()
    with pytest.raises(ValueError, match=rf"missing {missing}"):
        certificates.ensure_dev_certs(certs.ca.parent)


def test_ensure_dev_certs_never_replaces_a_lone_ca_key(tmp_path):
    (tmp_path / "ca.key").write_bytes(b"someone's CA key")
    with pytest.raises(ValueError, match="incomplete certificate set"):
        certificates.ensure_dev_certs(tmp_path)
    assert (tmp_path / "ca.key").read_bytes() == b"someone's CA key"


# --- contexts -------------------------------------------------------------------------


@pytest.fixture(params=["static", "reloading"])
def make_server(request) -> Callable[[certificates.Paths, tls.TLSMode], ssl.SSLContext]:
    """Each context test runs against a plain context and against ReloadingContext's,
    whose verify mode and protocol floor are its own, not the swapped-in context's."""
    if request.param == "static":
        return tls.server_context
    return lambda paths, mode: tls.ReloadingContext(paths, mode).context


def test_notls_has_no_server_context(certs):
    with pytest.raises(ValueError, match="notls"):
        tls.server_context(certs, "notls")


@pytest.mark.parametrize(
    ("client", "ok"),
    [("ours", True), ("none", False), ("other-ca", False)],
    ids=["our-client-cert", "no-client-cert", "client-cert-from-other-ca"],
)
async def test_mtls_accepts_only_client_certs_from_our_ca(
    certs, other_ca_certs, make_server, client, ok
):
    server = make_server(certs, "mtls")
    client_certs = {"ours": certs, "other-ca": other_ca_certs}.get(client)
    ctx = pki.client_context(certs.ca)
    if client_certs is not None:
        ctx.load_cert_chain(client_certs.client_cert, client_certs.client_key)
    async with serving(server) as port:
        assert await accepted(port, ctx) is ok


async def test_tls_mode_accepts_a_client_without_certificate(certs, make_server):
    async with serving(make_server(certs, "tls")) as port:
        assert await accepted(port, pki.client_context(certs.ca))


def tls11_client(ca: pathlib.Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    # OpenSSL 3 refuses TLS 1.1 on its own at the default security level; without this
    # the client would never offer it and the test would pass without reaching the server.
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    return ctx


async def test_tls11_client_can_connect_to_a_server_that_allows_it(certs):
    # Control for the next test: the TLS 1.1 client really speaks TLS 1.1.
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        server.minimum_version = ssl.TLSVersion.TLSv1_1
    server.load_cert_chain(certs.server_cert, certs.server_key)
    async with serving(server) as port:
        assert await accepted(port, tls11_client(certs.ca))


async def test_tls11_client_is_refused(certs, make_server):
    async with serving(make_server(certs, "tls")) as port:
        assert not await accepted(port, tls11_client(certs.ca))


def tls12_client(ca: pathlib.Path, ciphers: str) -> ssl.SSLContext:
    ctx = pki.client_context(ca)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(ciphers)
    return ctx


@pytest.mark.parametrize(("ciphers", "ok"), [
    ("ECDHE-ECDSA-AES128-GCM-SHA256", True),
    ("ECDHE-ECDSA-CHACHA20-POLY1305", True),
    ("ECDHE-ECDSA-AES128-SHA", False),  # CBC with a SHA-1 MAC: OpenSSL's default allows it
    ("ECDHE-ECDSA-AES256-SHA384", False),  # CBC
], ids=["aes-gcm", "chacha20", "cbc-sha1", "cbc-sha384"])
async def test_tls12_clients_get_only_forward_secret_aead_suites(certs, make_server, ciphers, ok):
    async with serving(make_server(certs, "tls")) as port:
        assert await accepted(port, tls12_client(certs.ca, ciphers)) is ok


def expired_client_cert(certs: certificates.Paths, out: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """A client certificate from our own CA that expired yesterday."""
    ca_cert = x509.load_pem_x509_certificate(certs.ca.read_bytes())
    ca_key = serialization.load_pem_private_key((certs.ca.parent / "ca.key").read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "expired-client")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=30))
            .not_valid_after(now - datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_cert.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = out / "expired.crt", out / "expired.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3],
                         ids=["tls1.2", "tls1.3"])
async def test_mtls_refuses_an_expired_client_certificate_of_its_own_ca(
        certs, make_server, tmp_path, version):
    cert, key = expired_client_cert(certs, tmp_path)
    ctx = pki.client_context(certs.ca, cert, key)
    ctx.minimum_version = ctx.maximum_version = version
    async with serving(make_server(certs, "mtls")) as port:
        assert not await accepted(port, ctx)
        # Control: the same CA's valid client certificate gets in.
        assert await accepted(port, pki.client_context(certs.ca, certs.client_cert, certs.client_key))


# --- reload ---------------------------------------------------------------------------


@pytest.mark.parametrize("server_hostname", [None, "127.0.0.1"], ids=["no-sni", "by-ip"])
async def test_sni_callback_runs_when_the_client_sends_no_sni(certs, server_hostname):
    reloading = tls.ReloadingContext(certs, "mtls")
    select = reloading.context.sni_callback
    assert select is not None
    names: list[str | None] = []

    def recording(ssl_object, server_name, ctx):
        names.append(server_name)
        return select(ssl_object, server_name, ctx)

    reloading.context.sni_callback = recording
    ctx = pki.client_context(certs.ca, certs.client_cert, certs.client_key)
    ctx.check_hostname = server_hostname is not None
    async with serving(reloading.context) as port:
        response, peer = await fetch(port, ctx, server_hostname)
    # The front context holds no certificate: a handshake succeeds only through the swap.
    assert response.endswith(b"ok")
    assert serial(peer) == serial(certs.server_cert)
    assert names == [None]  # Python sends no SNI for an IP address either


async def test_not_ready_until_certificates_appear(tmp_path):
    paths = certificates.Paths.in_dir(tmp_path)
    reloading = tls.ReloadingContext(paths, "tls")
    assert not reloading.ready
    certificates.write_cert_set(tmp_path, ["localhost"], ["127.0.0.1"])
    async with serving(reloading.context) as port:
        assert not await accepted(port, pki.client_context(paths.ca))
        assert reloading.poll()
        assert reloading.ready
        assert await accepted(port, pki.client_context(paths.ca))


async def test_rotation_serves_the_new_certificate_without_failing_requests(certs):
    reloading = tls.ReloadingContext(certs, "mtls")
    client = no_sni_client(certs)
    old = serial(certs.server_cert)
    seen: set[int] = set()
    failures: list[object] = []
    stop = asyncio.Event()

    async def keep_requesting(port: int) -> None:
        while not stop.is_set():
            try:
                response, peer = await fetch(port, client, None)
            except Exception as e:
                failures.append(e)
                continue
            seen.add(serial(peer))
            if not response.endswith(b"ok"):
                failures.append(response)

    async with serving(reloading.context) as port:
        watcher = asyncio.create_task(reloading.watch(0.02))
        clients = [asyncio.create_task(keep_requesting(port)) for _ in range(4)]
        try:
            await until(lambda: old in seen)
            # A thread, so that polls and handshakes interleave with the two writes.
            ca_key = certs.ca.with_name("ca.key")
            await asyncio.to_thread(
                pki.issue_server_cert, certs.ca, ca_key, certs.ca.parent, DNS_NAMES, []
            )
            new = serial(certs.server_cert)
            assert new != old
            await until(lambda: new in seen)
            _, peer = await fetch(port, client, None)
            assert serial(peer) == new
        finally:
            stop.set()
            await asyncio.gather(*clients)
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
    assert not failures


async def test_broken_rewrite_keeps_the_old_certificate_serving(certs, caplog):
    caplog.set_level(logging.WARNING, logger="webhook.ops.tls")
    reloading = tls.ReloadingContext(certs, "tls")
    client = pki.client_context(certs.ca)
    old = serial(certs.server_cert)
    ca_key = serialization.load_pem_private_key(
        certs.ca.with_name("ca.key").read_bytes(), password=None
    )
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca = (ca_key, x509.load_pem_x509_certificate(certs.ca.read_bytes()))
    _, new_cert = certificates.issue_server(ca, ["localhost"], [])
    stray_key, _ = certificates.issue_server(ca, ["localhost"], [])

    async with serving(reloading.context) as port:
        watcher = asyncio.create_task(reloading.watch(0.02))
        try:
            # Not atomic on purpose: the watcher may also see a half-written file.
            certs.server_cert.write_bytes(new_cert.public_bytes(serialization.Encoding.PEM))
            certs.server_key.write_bytes(
                stray_key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            await until(lambda: any("did not load" in r.message for r in caplog.records))
            _, peer = await fetch(port, client)
            assert serial(peer) == old
            assert reloading.ready

            # The next good rewrite is picked up: a failure is retried on the next change.
            pki.issue_server_cert(
                certs.ca, certs.ca.with_name("ca.key"), certs.ca.parent, ["localhost"], []
            )
            fixed = serial(certs.server_cert)

            async def serving_fixed() -> bool:
                _, peer = await fetch(port, client)
                return serial(peer) == fixed

            await until(serving_fixed)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


def test_broken_files_are_reported_once_until_they_change(certs, caplog):
    caplog.set_level(logging.WARNING, logger="webhook.ops.tls")
    reloading = tls.ReloadingContext(certs, "tls")
    other_key = certs.client_key.read_bytes()  # a valid key, but not the server's
    certs.server_key.write_bytes(other_key)
    assert not reloading.poll()
    assert not reloading.poll()
    assert len(caplog.records) == 1
    assert reloading.ready  # the previous context is still the one served


async def test_rotating_the_ca_changes_which_client_certificates_are_accepted(certs):
    old_client = pki.client_context(certs.ca, certs.client_cert, certs.client_key)
    reloading = tls.ReloadingContext(certs, "mtls")
    async with serving(reloading.context) as port:
        assert await accepted(port, old_client)
        certificates.write_cert_set(certs.ca.parent, DNS_NAMES, IP_ADDRESSES, overwrite=True)
        assert reloading.poll()
        new_client = pki.client_context(certs.ca, certs.client_cert, certs.client_key)
        assert await accepted(port, new_client)
        # The old client trusts the old CA only, so let it skip server verification:
        # what is under test is that the server now refuses its certificate.
        old_client.check_hostname = False
        old_client.verify_mode = ssl.CERT_NONE
        assert not await accepted(port, old_client)
