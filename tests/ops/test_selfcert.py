"""Self-managed certificates: when ``renewal.plan`` renews what, without a cluster, and
the ``serve`` flags that turn it on. Against the real API server: tests/chart/."""

from __future__ import annotations

import base64
import datetime
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import oid

from webhook.app import cli
from webhook.ops import certificates, renewal, settings

NAMES = ("appimage-webhook", "appimage-webhook.kuscia-system.svc", "127.0.0.1")
NOW = datetime.datetime.now(datetime.UTC)
DAY = datetime.timedelta(days=1)
POLICY = renewal.Policy()


def pems(decision: renewal.Decision) -> dict[str, bytes]:
    """What the Secret holds after writing ``decision``."""
    return {k: base64.b64decode(v) for k, v in decision.certificates.secret_data().items()}


def sans(cert: x509.Certificate) -> set[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {*san.get_values_for_type(x509.DNSName), *map(str, san.get_values_for_type(x509.IPAddress))}


def signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except Exception:
        return False
    return True


def build(subject, key, issuer, start, end, names=()):
    """A certificate valid from ``start`` to ``end``: a CA when ``issuer`` is None."""
    name = x509.Name([x509.NameAttribute(oid.NameOID.COMMON_NAME, subject)])
    signer_key, issuer_name = (key, name) if issuer is None else (issuer[0], issuer[1].subject)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address(n)) if n[0].isdigit() else x509.DNSName(n)
             for n in names]), critical=False)
    return builder.sign(signer_key, hashes.SHA256())


def pem(obj: x509.Certificate | ec.EllipticCurvePrivateKey) -> bytes:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    return obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def secret(ca_key, cas, server_key, server_cert) -> dict[str, bytes]:
    return {"ca.crt": b"".join(map(pem, cas)), "ca.key": pem(ca_key),
            "tls.crt": pem(server_cert), "tls.key": pem(server_key)}


@pytest.fixture(scope="module")
def first() -> renewal.Decision:
    return renewal.plan({}, NAMES, NOW)


# --- a fresh start and a steady state ---------------------------------------------------


def test_no_secret_makes_a_ca_and_a_serving_certificate_for_every_name(first):
    certs = first.certificates
    key, cert = certs.server
    assert first.reasons == ("no certificates yet",)
    assert len(certs.cas) == 1
    assert signed_by(cert, certs.cas[0])
    assert sans(cert) == set(NAMES)  # the IP address as an IP SAN
    assert certs.ca_key.public_key() == certs.cas[0].public_key()
    assert key.public_key() == cert.public_key()


def test_a_secret_it_wrote_is_kept_as_it_is(first):
    again = renewal.plan(pems(first), NAMES, NOW + DAY)
    assert not again.changed
    assert again.certificates.secret_data() == first.certificates.secret_data()


def test_the_secret_uses_the_kubernetes_tls_keys_plus_the_ca(first):
    assert set(first.certificates.secret_data()) == {"tls.crt", "tls.key", "ca.crt", "ca.key"}


# --- serving certificate renewal ----------------------------------------------------------


@pytest.mark.parametrize(("age", "renewed"), [(0.6, False), (0.7, True), (1.5, True)],
                         ids=["with-40%-left-kept", "with-30%-left-renewed", "expired-renewed"])
def test_the_serving_certificate_is_renewed_with_a_third_of_its_life_left(first, age, renewed):
    cert = first.certificates.server[1]
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    later = renewal.plan(pems(first), NAMES, cert.not_valid_before_utc + lifetime * age)
    assert later.changed is renewed
    assert (later.certificates.server[1] != cert) is renewed
    if renewed:
        assert later.reasons[0].startswith("serving certificate expires")


def test_renewing_the_serving_certificate_keeps_the_ca_so_ca_bundle_stays(first):
    later = renewal.plan(pems(first), NAMES, NOW + 300 * DAY)
    assert later.changed
    assert later.certificates.ca_bundle() == first.certificates.ca_bundle()
    assert signed_by(later.certificates.server[1], first.certificates.cas[0])


def test_a_missing_name_renews_with_the_union_of_old_and_new_names(first):
    later = renewal.plan(pems(first), (*NAMES, "extra.example"), NOW)
    assert later.reasons == ("serving certificate lacks extra.example",)
    assert sans(later.certificates.server[1]) == {*NAMES, "extra.example"}
    assert later.certificates.cas == first.certificates.cas


def test_fewer_names_than_the_certificate_holds_is_fine(first):
    assert not renewal.plan(pems(first), NAMES[:1], NOW).changed


@pytest.mark.parametrize("broken", ["tls.key", "tls.crt"])
def test_a_missing_or_unreadable_serving_part_is_issued_again_under_the_same_ca(first, broken):
    data = pems(first)
    data[broken] = b"not PEM"
    later = renewal.plan(data, NAMES, NOW)
    assert later.changed
    assert later.certificates.cas == first.certificates.cas


def test_a_serving_key_of_another_certificate_is_replaced(first):
    data = pems(first)
    data["tls.key"] = pem(ec.generate_private_key(ec.SECP256R1()))
    later = renewal.plan(data, NAMES, NOW)
    assert later.reasons == ("the serving key does not belong to the serving certificate",)


def test_a_serving_certificate_from_a_foreign_ca_is_replaced(first):
    data = pems(first)
    other_ca = certificates.generate_ca()  # one the Secret does not hold
    key, cert = certificates.issue_server(other_ca, NAMES[:2], NAMES[2:])
    data["tls.crt"], data["tls.key"] = pem(cert), pem(key)
    later = renewal.plan(data, NAMES, NOW)
    assert later.reasons == ("the serving certificate is not signed by a trusted CA",)
    assert signed_by(later.certificates.server[1], first.certificates.cas[0])


# --- CA renewal without a failed call -------------------------------------------------------


@pytest.fixture
def ageing_ca() -> dict[str, bytes]:
    """A Secret whose CA has 10% of its life left and whose serving certificate is new."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = build("old-ca", ca_key, None, NOW - 90 * DAY, NOW + 10 * DAY)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = build("server", server_key, (ca_key, ca), NOW - DAY, NOW + 9 * DAY, NAMES)
    return secret(ca_key, [ca], server_key, server)


def test_an_ageing_ca_gets_a_successor_added_to_the_bundle_and_the_old_one_stays(ageing_ca):
    old_ca = x509.load_pem_x509_certificate(ageing_ca["ca.crt"])
    decision = renewal.plan(ageing_ca, NAMES, NOW)
    cas = decision.certificates.cas
    assert decision.reasons[0].startswith("CA expires")
    assert len(cas) == 2
    assert cas[1] == old_ca
    assert decision.certificates.ca_key.public_key() == cas[0].public_key()


def test_the_serving_certificate_moves_to_the_new_ca_only_after_the_overlap(ageing_ca):
    old_server = x509.load_pem_x509_certificate(ageing_ca["tls.crt"])
    added = renewal.plan(ageing_ca, NAMES, NOW)
    assert added.certificates.server[1] == old_server  # the API servers don't trust the new CA yet
    new_ca = added.certificates.cas[0]
    issued = certificates.issued_at(new_ca)

    during = renewal.plan(pems(added), NAMES, issued + POLICY.ca_overlap / 2)
    assert not during.changed

    after = renewal.plan(pems(added), NAMES, issued + POLICY.ca_overlap)
    assert after.reasons == ("moving the serving certificate to the new CA",)
    assert signed_by(after.certificates.server[1], new_ca)
    assert after.certificates.ca_bundle() == added.certificates.ca_bundle()


def test_expired_cas_leave_the_bundle(first):
    data = pems(first)
    old_key = ec.generate_private_key(ec.SECP256R1())
    expired = build("expired-ca", old_key, None, NOW - 20 * DAY, NOW - DAY)
    data["ca.crt"] += pem(expired)
    later = renewal.plan(data, NAMES, NOW)
    assert later.reasons == ("dropped 1 expired or non-CA certificate(s) from the CA bundle",)
    assert later.certificates.cas == first.certificates.cas


def test_a_lost_ca_key_makes_a_new_ca_and_keeps_trusting_the_old_certificate(first):
    data = pems(first)
    del data["ca.key"]
    later = renewal.plan(data, NAMES, NOW)
    assert later.reasons == ("no usable CA certificate and key",)
    assert later.certificates.cas[1:] == first.certificates.cas
    assert later.certificates.server_pem() == first.certificates.server_pem()  # until the overlap


def test_a_new_serving_certificate_never_outlives_its_ca():
    decision = renewal.plan({}, NAMES, NOW, renewal.Policy(ca_days=30, server_days=365))
    certs = decision.certificates
    assert certs.server[1].not_valid_after_utc <= certs.cas[0].not_valid_after_utc


def test_secret_pems_skips_entries_that_are_not_base64():
    decoded = renewal.secret_pems({"data": {"ca.crt": base64.b64encode(b"x").decode(), "tls.key": "%%%"}})
    assert decoded == {"ca.crt": b"x"}


# --- the serve flags ----------------------------------------------------------------------


def serve_settings(*argv: str) -> settings.Settings:
    parser = cli.argparse.ArgumentParser()
    cli._serve_parser(parser.add_subparsers(dest="command"))
    return cli.settings_from(parser.parse_args(["serve", *argv]))


def test_cert_dns_name_repeats_and_splits_on_commas():
    config = serve_settings("--cert-secret", "ns/certs", "--webhook-config-name", "hooks",
                            "--cert-dns-name", "a,a.ns", "--cert-dns-name", "a.ns.svc")
    assert config.cert_dns_names == ("a", "a.ns", "a.ns.svc")
    assert config.cert_secret_ref == ("ns", "certs")
    assert config.webhook_config_name == "hooks"


def test_cert_flags_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("APPIMAGE_CERT_SECRET", "ns/certs")
    monkeypatch.setenv("APPIMAGE_CERT_DNS_NAME", "a,a.ns")
    config = serve_settings()
    assert (config.cert_secret, config.cert_dns_names) == ("ns/certs", ("a", "a.ns"))
    assert serve_settings("--cert-dns-name", "b").cert_dns_names == ("b",)  # the flag wins


@pytest.mark.parametrize(("argv", "message"), [
    (["--cert-secret", "certs", "--cert-dns-name", "a"], "expected NAMESPACE/NAME"),
    (["--cert-secret", "ns/certs"], "needs --cert-dns-name"),
    (["--cert-secret", "ns/certs", "--cert-dns-name", "a", "--tls-mode", "notls"], "need TLS"),
    (["--webhook-config-name", "hooks"], "need --cert-secret"),
], ids=["no-namespace", "no-names", "notls", "config-without-secret"])
def test_bad_cert_flags_are_refused_naming_the_flag(argv, message):
    with pytest.raises(ValueError, match=message):
        serve_settings(*argv)
