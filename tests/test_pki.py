"""securemq.pki: CAs and leaf certificates that Python's ssl (OpenSSL) accepts, and files
written with care for the private key."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from securemq import pki
from securemq.transport.tls import format_pin, parse_pin, spki_sha256

pytestmark = pytest.mark.timeout(60)

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")

# Whole seconds, as in certificates, so that validity computed from it is exact.
NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
DAY = datetime.timedelta(days=1)


@pytest.fixture(scope="module")
def ca() -> pki.CertifiedKey:
    return pki.create_ca("Test CA")


@pytest.fixture(scope="module")
def other_ca() -> pki.CertifiedKey:
    return pki.create_ca("Test CA")  # the same name: only the key tells them apart


@pytest.fixture(scope="module")
def server(ca: pki.CertifiedKey) -> pki.CertifiedKey:
    return pki.issue_certificate(ca, "server", sans=["localhost", "127.0.0.1", "::1"])


@pytest.fixture(scope="module")
def client(ca: pki.CertifiedKey) -> pki.CertifiedKey:
    return pki.issue_certificate(ca, "alice", role="client")


@pytest.fixture
def umask022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def _files(tmp_path: Path, certified: pki.CertifiedKey, name: str) -> tuple[str, str]:
    cert_file, key_file = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    pki.write_certified_key(certified, cert_file, key_file, force=True)
    return str(cert_file), str(key_file)


def _contexts(tmp_path: Path, *, server: pki.CertifiedKey, server_trusts: pki.CertifiedKey,
              client: pki.CertifiedKey | None, client_trusts: pki.CertifiedKey,
              ) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context that requires a client certificate, and a client context; both
    verify strictly (``VERIFY_X509_STRICT``, the default from Python 3.13)."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(*_files(tmp_path, server, "server"))
    server_ctx.load_verify_locations(cadata=server_trusts.certificate_pem().decode())
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_verify_locations(cadata=client_trusts.certificate_pem().decode())
    if client is not None:
        client_ctx.load_cert_chain(*_files(tmp_path, client, "client"))
    for ctx in (server_ctx, client_ctx):
        ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    return server_ctx, client_ctx


def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext,
               hostname: str = "localhost") -> tuple[ssl.SSLObject, ssl.SSLObject]:
    """Run a TLS handshake in memory, moving each side's output to the other; raise what
    either side raises."""
    s_in, s_out, c_in, c_out = (ssl.MemoryBIO() for _ in range(4))
    server_obj = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    client_obj = client_ctx.wrap_bio(c_in, c_out, server_hostname=hostname)
    done = {"client": False, "server": False}
    for _ in range(16):
        for side, obj, out, peer_in in (("client", client_obj, c_out, s_in),
                                        ("server", server_obj, s_out, c_in)):
            if not done[side]:
                try:
                    obj.do_handshake()
                    done[side] = True
                except ssl.SSLWantReadError:
                    pass
            peer_in.write(out.read())
        if all(done.values()):
            # TLS 1.3: a client learns that the server refused its certificate only when
            # it reads, so make it read the server's last flight.
            try:
                client_obj.read(1)
            except ssl.SSLWantReadError:
                pass
            return server_obj, client_obj
    raise AssertionError("the handshake did not finish")


# -- making certificates ----------------------------------------------------------------


@pytest.mark.parametrize("key_type, expected", [
    ("ed25519", "ed25519"), ("ecdsa", "ecdsa-p256"), ("rsa", "rsa-3072")])
def test_each_key_type_makes_a_chain_that_verifies_both_ways(
        tmp_path: Path, key_type: pki.KeyType, expected: str) -> None:
    ca = pki.create_ca("CA", key_type=key_type)
    server = pki.issue_certificate(ca, "server", sans=["localhost"], key_type=key_type)
    client = pki.issue_certificate(ca, "alice", role="client", key_type=key_type)
    for certified in (ca, server, client):
        assert pki.describe(certified.certificate).key_type == expected
    server_ctx, client_ctx = _contexts(tmp_path, server=server, server_trusts=ca,
                                       client=client, client_trusts=ca)
    server_obj, client_obj = _handshake(server_ctx, client_ctx)
    seen_by_client, seen_by_server = client_obj.getpeercert(), server_obj.getpeercert()
    assert seen_by_client is not None and seen_by_server is not None
    assert seen_by_client["subject"] == ((("commonName", "server"),),)
    assert seen_by_server["subject"] == ((("commonName", "alice"),),)


def test_key_types_are_what_they_say() -> None:
    assert isinstance(pki.generate_private_key("ed25519"), ed25519.Ed25519PrivateKey)
    key = pki.generate_private_key("ecdsa")
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    rsa_key = pki.generate_private_key("rsa", rsa_bits=2048)
    assert isinstance(rsa_key, rsa.RSAPrivateKey) and rsa_key.key_size == 2048
    with pytest.raises(ValueError, match="2048 to 8192"):
        pki.generate_private_key("rsa", rsa_bits=1024)
    with pytest.raises(ValueError, match="key type"):
        pki.generate_private_key("dsa")  # type: ignore[arg-type]


def test_ca_is_a_self_signed_ca_for_leaves_only(ca: pki.CertifiedKey) -> None:
    cert = ca.certificate
    assert cert.subject == cert.issuer
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    assert constraints.value.path_length == 0
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    cert.verify_directly_issued_by(cert)
    info = pki.describe(cert)
    assert info.is_ca and info.subject == info.issuer == "CN=Test CA"
    assert info.sans == () and info.extended_key_usage == ()


@pytest.mark.parametrize("role, usages", [
    ("server", ["serverAuth"]), ("client", ["clientAuth"]),
    ("both", ["serverAuth", "clientAuth"])])
def test_a_leaf_gets_the_eku_of_its_role_and_its_sans(
        ca: pki.CertifiedKey, role: pki.Role, usages: list[str]) -> None:
    leaf = pki.issue_certificate(ca, "node", role=role,
                                 sans=["Node.Example.com.", "10.0.0.1", "IP:fe80::1",
                                       "*.nodes.example.com", "10.0.0.1"])
    cert = leaf.certificate
    cert.verify_directly_issued_by(ca.certificate)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    oids = {"serverAuth": ExtendedKeyUsageOID.SERVER_AUTH,
            "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH}
    assert list(eku) == [oids[u] for u in usages]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["node.example.com",
                                                     "*.nodes.example.com"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("10.0.0.1"), ipaddress.ip_address("fe80::1")]
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and not constraints.value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature
    assert not usage.value.key_cert_sign
    info = pki.describe(cert)
    assert info.extended_key_usage == tuple(usages)
    assert info.sans == ("DNS:node.example.com", "IP:10.0.0.1", "IP:fe80::1",
                         "DNS:*.nodes.example.com")  # as given, repeats dropped
    assert info.issuer == "CN=Test CA" and info.common_name == "node" and not info.is_ca


def test_a_server_certificate_needs_a_san(ca: pki.CertifiedKey) -> None:
    for role in ("server", "both"):
        with pytest.raises(ValueError, match="at least one SAN"):
            pki.issue_certificate(ca, "server", role=role)
    assert pki.describe(pki.issue_certificate(ca, "alice", role="client").certificate
                        ).sans == ()
    with pytest.raises(ValueError, match="role"):
        pki.issue_certificate(ca, "x", sans=["a"], role="peer")  # type: ignore[arg-type]


@pytest.mark.parametrize("text, expected", [
    ("localhost", x509.DNSName("localhost")),
    ("Example.COM", x509.DNSName("example.com")),
    ("xn--bcher-kva.example", x509.DNSName("xn--bcher-kva.example")),
    ("DNS:host-1.example", x509.DNSName("host-1.example")),
    ("*.example.com", x509.DNSName("*.example.com")),
    ("127.0.0.1", x509.IPAddress(ipaddress.ip_address("127.0.0.1"))),
    ("::1", x509.IPAddress(ipaddress.ip_address("::1"))),
    ("ip:192.0.2.7", x509.IPAddress(ipaddress.ip_address("192.0.2.7"))),
])
def test_parse_san_accepts_dns_names_and_ip_addresses(text: str, expected: object) -> None:
    assert pki.parse_san(text) == expected


@pytest.mark.parametrize("text, message", [
    ("", "not a DNS name"),
    ("under_score.example", "letters, digits"),
    ("-lead.example", "letters, digits"),
    ("a..b", "letters, digits"),
    ("a" * 64 + ".example", "letters, digits"),
    ("*.com", "wildcard"),
    ("www.*.example.com", "wildcard"),
    ("f*o.example.com", "wildcard"),
    ("1.2.3", "last label is a number"),
    ("999.1.1.1", "last label is a number"),
    ("bücher.example", "A-label"),
    ("IP:example.com", "not an IP address"),
    ("fe80::1%eth0", "zone"),
    ("host name", "letters, digits"),
])
def test_parse_san_refuses_what_is_neither(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pki.parse_san(text)


@pytest.mark.parametrize("name", ["", "x" * 65, "tab\there"])
def test_common_names_are_checked(ca: pki.CertifiedKey, name: str) -> None:
    with pytest.raises(ValueError, match="common name"):
        pki.create_ca(name)
    with pytest.raises(ValueError, match="common name"):
        pki.issue_certificate(ca, name, role="client")


def test_issue_refuses_what_cannot_sign(ca: pki.CertifiedKey, other_ca: pki.CertifiedKey,
                                        server: pki.CertifiedKey) -> None:
    with pytest.raises(ValueError, match="not a CA"):
        pki.issue_certificate(server, "x", role="client")
    mixed = pki.CertifiedKey(ca.certificate, other_ca.private_key)
    with pytest.raises(ValueError, match="does not belong"):
        pki.issue_certificate(mixed, "x", role="client")
    with pytest.raises(ValueError, match="outlive its CA"):
        pki.issue_certificate(ca, "x", role="client", days=pki.DEFAULT_CA_DAYS + 1)


@pytest.mark.parametrize("days", [0, -1, pki.MAX_DAYS + 1, 1.5, True])
def test_validity_must_be_whole_days_in_range(days: object) -> None:
    with pytest.raises(ValueError, match="validity"):
        pki.create_ca(days=days)  # type: ignore[arg-type]


def test_not_before_must_be_aware(ca: pki.CertifiedKey) -> None:
    with pytest.raises(ValueError, match="aware"):
        pki.issue_certificate(ca, "x", role="client", not_before=datetime.datetime(2030, 1, 1))


def test_default_validity_allows_for_clock_skew(ca: pki.CertifiedKey) -> None:
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    info = pki.describe(pki.issue_certificate(ca, "x", role="client", days=10).certificate)
    after = datetime.datetime.now(datetime.timezone.utc)
    assert before - pki.CLOCK_SKEW <= info.not_before <= after - pki.CLOCK_SKEW
    assert before + 10 * DAY <= info.not_after <= after + 10 * DAY
    start = datetime.datetime(2030, 5, 1, 12, tzinfo=datetime.timezone(DAY / 24))
    info = pki.describe(pki.issue_certificate(ca, "x", role="client", days=2,
                                              not_before=start).certificate)
    assert info.not_before == start and info.not_after == start + 2 * DAY
    assert info.not_before.tzinfo == datetime.timezone.utc


def test_certified_key_repr_hides_the_key(server: pki.CertifiedKey) -> None:
    assert repr(server) == "CertifiedKey('CN=server')"
    pem = server.private_key_pem()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, unencrypted
    assert pem.decode() not in repr(server) + str(server)


# -- TLS with the certificates ----------------------------------------------------------


def test_ip_address_sans_verify(tmp_path: Path, ca: pki.CertifiedKey,
                                server: pki.CertifiedKey, client: pki.CertifiedKey) -> None:
    for host in ("127.0.0.1", "::1", "localhost"):
        _handshake(*_contexts(tmp_path, server=server, server_trusts=ca, client=client,
                              client_trusts=ca), hostname=host)


def test_a_host_the_certificate_does_not_name_is_refused(
        tmp_path: Path, ca: pki.CertifiedKey, server: pki.CertifiedKey) -> None:
    contexts = _contexts(tmp_path, server=server, server_trusts=ca, client=None,
                         client_trusts=ca)
    contexts[0].verify_mode = ssl.CERT_NONE
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        _handshake(*contexts, hostname="10.9.9.9")


def test_a_client_that_trusts_another_ca_refuses_the_server(
        tmp_path: Path, ca: pki.CertifiedKey, other_ca: pki.CertifiedKey,
        server: pki.CertifiedKey, client: pki.CertifiedKey) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        _handshake(*_contexts(tmp_path, server=server, server_trusts=ca, client=client,
                              client_trusts=other_ca))


def test_a_server_that_trusts_another_ca_refuses_the_client(
        tmp_path: Path, ca: pki.CertifiedKey, other_ca: pki.CertifiedKey,
        server: pki.CertifiedKey, client: pki.CertifiedKey) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        _handshake(*_contexts(tmp_path, server=server, server_trusts=other_ca,
                              client=client, client_trusts=ca))


def test_a_client_certificate_cannot_serve(tmp_path: Path, ca: pki.CertifiedKey) -> None:
    """The EKU is enforced: a clientAuth-only certificate is no server's, even with SANs."""
    wrong = pki.issue_certificate(ca, "server", sans=["localhost"], role="client")
    contexts = _contexts(tmp_path, server=wrong, server_trusts=ca, client=None,
                         client_trusts=ca)
    contexts[0].verify_mode = ssl.CERT_NONE
    with pytest.raises(ssl.SSLCertVerificationError, match="unsuitable certificate purpose"):
        _handshake(*contexts)


def test_a_server_certificate_cannot_be_a_client(
        tmp_path: Path, ca: pki.CertifiedKey, server: pki.CertifiedKey) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="unsuitable certificate purpose"):
        _handshake(*_contexts(tmp_path, server=server, server_trusts=ca, client=server,
                              client_trusts=ca))


def test_role_both_serves_and_connects(tmp_path: Path, ca: pki.CertifiedKey) -> None:
    peer = pki.issue_certificate(ca, "peer", sans=["localhost"], role="both")
    _handshake(*_contexts(tmp_path, server=peer, server_trusts=ca, client=peer,
                          client_trusts=ca))


@pytest.mark.parametrize("not_before, days, message", [
    (NOW - 30 * DAY, 10, "certificate has expired"),
    (NOW + 2 * DAY, 10, "certificate is not yet valid"),
])
def test_expired_and_future_certificates_are_refused(
        tmp_path: Path, ca: pki.CertifiedKey, not_before: datetime.datetime, days: int,
        message: str) -> None:
    leaf = pki.issue_certificate(ca, "server", sans=["localhost"], days=days,
                                 not_before=not_before)
    info = pki.describe(leaf.certificate)
    assert not info.is_valid_at(NOW)
    contexts = _contexts(tmp_path, server=leaf, server_trusts=ca, client=None,
                         client_trusts=ca)
    contexts[0].verify_mode = ssl.CERT_NONE
    with pytest.raises(ssl.SSLCertVerificationError, match=message):
        _handshake(*contexts)


def test_an_expired_ca_fails_the_chain(tmp_path: Path) -> None:
    old_ca = pki.create_ca("old", not_before=NOW - 20 * DAY, days=30)
    leaf = pki.issue_certificate(old_ca, "server", sans=["localhost"], days=5,
                                 not_before=NOW - 20 * DAY)
    assert pki.describe(old_ca.certificate).is_valid_at(NOW)
    with pytest.raises(ValueError, match="outlive its CA"):
        pki.issue_certificate(old_ca, "server", sans=["localhost"], days=11)
    contexts = _contexts(tmp_path, server=leaf, server_trusts=old_ca, client=None,
                         client_trusts=old_ca)
    contexts[0].verify_mode = ssl.CERT_NONE
    with pytest.raises(ssl.SSLCertVerificationError, match="expired"):
        _handshake(*contexts)


def test_the_pin_is_the_one_the_peer_presents(
        tmp_path: Path, ca: pki.CertifiedKey, server: pki.CertifiedKey) -> None:
    contexts = _contexts(tmp_path, server=server, server_trusts=ca, client=None,
                         client_trusts=ca)
    contexts[0].verify_mode = ssl.CERT_NONE
    _, client_obj = _handshake(*contexts)
    der = client_obj.getpeercert(binary_form=True)
    assert der is not None
    info = pki.describe(server.certificate)
    assert info.pin == format_pin(spki_sha256(der))
    assert parse_pin(info.pin) == spki_sha256(der)
    assert info.pin != pki.describe(ca.certificate).pin


# -- describe ---------------------------------------------------------------------------


def test_describe_reports_what_the_certificate_says(server: pki.CertifiedKey) -> None:
    cert = server.certificate
    info = pki.describe(cert)
    assert info.subject == "CN=server" and info.common_name == "server"
    assert info.serial == cert.serial_number and info.serial > 0
    assert info.not_before == cert.not_valid_before_utc
    assert info.not_after == cert.not_valid_after_utc
    assert info.not_after.tzinfo == datetime.timezone.utc
    assert info.key_type == "ecdsa-p256" and not info.is_ca
    assert info.days_left(NOW) in (pki.DEFAULT_LEAF_DAYS - 1, pki.DEFAULT_LEAF_DAYS)
    assert info.expires_within(pki.DEFAULT_LEAF_DAYS + 1, NOW)
    assert not info.expires_within(pki.DEFAULT_LEAF_DAYS - 2, NOW)
    with pytest.raises(AttributeError):
        info.subject = "CN=other"  # type: ignore[misc]


def test_describe_shows_a_foreign_certificate(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    foreign = trustme.CA().issue_cert("example.org", "192.0.2.1", "alice@example.org")
    cert = x509.load_pem_x509_certificate(foreign.cert_chain_pems[0].bytes())
    info = pki.describe(cert)
    assert info.sans == ("DNS:example.org", "IP:192.0.2.1", "email:alice@example.org")
    assert info.key_type.startswith(("ecdsa-", "rsa-")) and info.pin.startswith("sha256//")


# -- files ------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@posix_only
def test_key_files_are_private_and_certificates_public(
        tmp_path: Path, umask022: None, server: pki.CertifiedKey) -> None:
    pki.write_certified_key(server, tmp_path / "s.crt", tmp_path / "s.key")
    assert _mode(tmp_path / "s.key") == 0o600
    assert _mode(tmp_path / "s.crt") == 0o644
    pki.write_certified_key(server, tmp_path / "s.crt", tmp_path / "s.key", force=True)
    assert _mode(tmp_path / "s.key") == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.crt", "s.key"]  # no temp left


def test_nothing_is_overwritten_without_force(
        tmp_path: Path, server: pki.CertifiedKey, client: pki.CertifiedKey) -> None:
    key_file = tmp_path / "s.key"
    key_file.write_text("precious")
    with pytest.raises(FileExistsError):
        pki.write_private_key(key_file, server.private_key)
    with pytest.raises(FileExistsError):
        pki.write_certificate(key_file, server.certificate)
    with pytest.raises(FileExistsError):
        pki.write_certified_key(server, tmp_path / "new.crt", key_file)
    assert key_file.read_text() == "precious"
    assert not (tmp_path / "new.crt").exists()
    # The key is written first; a certificate in the way must not leave it behind.
    (tmp_path / "c.crt").write_text("precious")
    with pytest.raises(FileExistsError):
        pki.write_certified_key(client, tmp_path / "c.crt", tmp_path / "c.key")
    assert not (tmp_path / "c.key").exists()
    pki.write_private_key(key_file, server.private_key, force=True)
    assert pki.load_private_key(key_file).public_key() == server.private_key.public_key()


@posix_only
def test_a_planted_symlink_is_not_followed(tmp_path: Path, server: pki.CertifiedKey) -> None:
    target = tmp_path / "elsewhere"
    (tmp_path / "s.key").symlink_to(target)
    with pytest.raises(FileExistsError):
        pki.write_private_key(tmp_path / "s.key", server.private_key)
    assert not target.exists()


def test_files_load_back(tmp_path: Path, ca: pki.CertifiedKey,
                         server: pki.CertifiedKey) -> None:
    cert_file, key_file = _files(tmp_path, server, "server")
    loaded = pki.load_certified_key(cert_file, key_file)
    assert loaded.certificate == server.certificate
    assert loaded.private_key.private_numbers() == server.private_key.private_numbers()  # type: ignore[union-attr]
    bundle = tmp_path / "chain.pem"
    pki.write_certificate(bundle, [server.certificate, ca.certificate])
    assert pki.load_certificates(bundle) == [server.certificate, ca.certificate]
    assert pki.load_certificate(bundle) == server.certificate
    der = tmp_path / "server.der"
    der.write_bytes(server.certificate.public_bytes(serialization.Encoding.DER))
    assert pki.load_certificate(der) == server.certificate


def test_loading_the_wrong_thing_says_what_it_is(
        tmp_path: Path, ca: pki.CertifiedKey, server: pki.CertifiedKey) -> None:
    cert_file, key_file = _files(tmp_path, server, "server")
    with pytest.raises(ValueError, match="holds no certificate \\(it holds a private key\\)"):
        pki.load_certificate(key_file)
    with pytest.raises(ValueError, match="holds no PEM private key \\(it holds a cert"):
        pki.load_private_key(cert_file)
    ca_cert, _ = _files(tmp_path, ca, "ca")
    with pytest.raises(ValueError, match="does not belong"):
        pki.load_certified_key(ca_cert, key_file)
    locked = tmp_path / "locked.key"
    locked.write_bytes(server.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")))
    with pytest.raises(ValueError, match="encrypted"):
        pki.load_private_key(locked)
    broken = tmp_path / "broken.crt"
    broken.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(ValueError, match="malformed"):
        pki.load_certificate(broken)
    with pytest.raises(FileNotFoundError, match="cannot read certificate file"):
        pki.load_certificate(tmp_path / "missing.crt")
    with pytest.raises(IsADirectoryError):
        pki.load_private_key(tmp_path)
    pem = server.private_key_pem().decode()
    for fn in (pki.load_certificate, pki.load_private_key):
        for path in (cert_file, key_file, locked, broken):
            try:
                fn(path)
            except ValueError as exc:
                assert pem not in str(exc) and "PRIVATE" not in str(exc)


# -- expiring ---------------------------------------------------------------------------


def test_expiring_finds_what_expires_within_the_window(
        tmp_path: Path, ca: pki.CertifiedKey) -> None:
    def leaf(days_left: int) -> x509.Certificate:
        start = NOW - (40 - days_left) * DAY
        return pki.issue_certificate(ca, f"in{days_left}", role="client", days=40,
                                     not_before=start).certificate

    (tmp_path / "a" / "deep").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    pki.write_certificate(tmp_path / "ca.crt", ca.certificate)
    pki.write_certificate(tmp_path / "a" / "soon.crt", leaf(5))
    pki.write_certificate(tmp_path / "a" / "deep" / "gone.pem", leaf(-3))
    pki.write_certificate(tmp_path / "a" / "later.cer", leaf(20))
    pki.write_certificate(tmp_path / ".hidden" / "x.crt", leaf(1))  # hidden: skipped
    pki.write_certificate(tmp_path / "a" / "soon.crt.old", leaf(1))  # not a cert name
    pki.write_private_key(tmp_path / "a" / "key.pem", ca.private_key)  # no cert: skipped

    found = pki.expiring(tmp_path, 10, now=NOW)
    assert [(Path(f.path).name, f.info.days_left(NOW)) for f in found] == [
        ("gone.pem", -3), ("soon.crt", 5)]
    assert [Path(f.path).name for f in pki.expiring(tmp_path, 0, now=NOW)] == ["gone.pem"]
    assert len(pki.expiring([tmp_path / "a", tmp_path / "ca.crt"], 21, now=NOW)) == 3
    assert len(pki.find_certificates(tmp_path)) == 4
    later = NOW + 4000 * DAY
    assert len(pki.expiring(str(tmp_path), 0, now=later)) == 4
    with pytest.raises(ValueError, match="0 days or more"):
        pki.expiring(tmp_path, -1)
    with pytest.raises(ValueError, match="aware"):
        pki.expiring(tmp_path, 1, now=datetime.datetime(2030, 1, 1))


def test_expiring_reports_a_broken_certificate_and_a_missing_path(tmp_path: Path) -> None:
    (tmp_path / "bad.crt").write_text("not a certificate")
    with pytest.raises(ValueError, match=r"bad\.crt"):
        pki.expiring(tmp_path, 30)
    with pytest.raises(FileNotFoundError):
        pki.expiring(tmp_path / "missing", 30)
