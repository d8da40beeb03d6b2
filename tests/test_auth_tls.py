"""The authenticator's TLS policy: certificates in ZAP requests, without sockets.

Over ``tls+tcp://`` a server's ZAP request carries one credential frame more than its
mechanism's (NULL 1, PLAIN 3, CURVE 2): the peer's certificate, DER, or an empty frame.
These tests build such requests by hand, with certificates issued by trustme (or by
``cryptography`` where trustme cannot: URIs, an impostor CA, malformed extensions), and
run :meth:`Authenticator.process_request` on them. End-to-end tests over real TLS
sockets belong with the transport.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import ssl
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key
from cryptography.x509.oid import ExtensionOID, NameOID

import securemq
import securemq.auth
from securemq.auth import (
    AUDIT_FIELDS,
    AUDIT_LOGGER,
    CURVE_ALLOW_ANY,
    Authenticator,
    PasswordCheck,
    PasswordStore,
    PeerCertificate,
    RateLimit,
)
from securemq.auth.asyncio import AsyncioAuthenticator
from securemq.auth.thread import ThreadAuthenticator
from securemq.transport.tls import format_pin, spki_sha256
from securemq.utils import z85

pytestmark = pytest.mark.timeout(30)

#: Cheap scrypt parameters for the password stores of these tests.
FAST = {"n": 2**10, "r": 8, "p": 1}
ADMIT = [b"200", b"OK"]
REFUSE = [b"400", b"Authentication failed"]


# -- certificates ------------------------------------------------------------------------


def der(leaf: trustme.LeafCert) -> bytes:
    """The DER of a trustme leaf certificate (the first of its chain)."""
    return ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode("ascii"))


def pem_file(tmp_path: Path, *cas: trustme.CA, name: str = "cas.pem") -> Path:
    """A PEM bundle of the certificates of ``cas``."""
    path = tmp_path / name
    path.write_bytes(b"".join(ca.cert_pem.bytes() for ca in cas))
    return path


def build_cert(*, issuer: x509.Name | None = None, signer: Any = None,
               cn: str | None = "crafted", dns: Iterable[str] = (), uris: Iterable[str] = (),
               emails: Iterable[str] = (), bad_san: bool = False) -> bytes:
    """A DER certificate made with ``cryptography``, for what trustme cannot issue.

    Self-signed unless ``issuer`` and ``signer`` (the issuer's private key) are given.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(subject).issuer_name(issuer or subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1)))
    names: list[x509.GeneralName] = [
        *(x509.DNSName(d) for d in dns), *(x509.UniformResourceIdentifier(u) for u in uris),
        *(x509.RFC822Name(e) for e in emails)]
    if bad_san:  # parses as a certificate; its SAN extension does not
        builder = builder.add_extension(x509.UnrecognizedExtension(
            ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x30\x05\x82"), critical=False)
    elif names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(signer or key, hashes.SHA256()).public_bytes(Encoding.DER)


def ca_name(ca: trustme.CA) -> x509.Name:
    return x509.load_pem_x509_certificate(ca.cert_pem.bytes()).subject


def ca_key(ca: trustme.CA) -> Any:
    return load_pem_private_key(ca.private_key_pem.bytes(), password=None)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def other_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def alice(ca: trustme.CA) -> bytes:
    """A client certificate of ``ca``: CN alice, SAN DNS and e-mail."""
    return der(ca.issue_cert("alice.example.org", "alice@example.org", common_name="alice"))


# -- requests ----------------------------------------------------------------------------


def request(mechanism: bytes, *credentials: bytes, address: bytes = b"192.0.2.10",
            domain: bytes = b"") -> list[bytes]:
    """A ZAP request as a REP handler receives it (no envelope)."""
    return [b"1.0", b"7", domain, address, b"", mechanism, *credentials]


def decide(auth: Authenticator, frames: list[bytes]) -> list[bytes]:
    """Status, status text and User-Id of the authenticator's reply to ``frames``."""
    reply = asyncio.run(auth.process_request(frames))
    assert reply[0] == b"1.0" and reply[1] == frames[1] and reply[5] == b""
    return reply[2:5]


def audit_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == AUDIT_LOGGER]


def reason(caplog: pytest.LogCaptureFixture) -> str:
    """The reason of the last audit record."""
    return str(audit_records(caplog)[-1].zap_reason)  # type: ignore[attr-defined]


@pytest.fixture
def auth(ctx: securemq.Context) -> Authenticator:
    """An authenticator (not started: no socket needed) without rate limit."""
    return Authenticator(ctx, rate_limit=None)


# -- the certificate as the policy sees it -----------------------------------------------


def test_peer_certificate_fields(alice: bytes) -> None:
    peer = PeerCertificate.from_der(alice)
    assert peer.der == alice
    assert peer.common_names == ("alice",)
    assert peer.subject.startswith("CN=alice,")
    assert peer.issuer.startswith("OU=Testing CA")
    assert peer.dns_names == ("alice.example.org",)
    assert peer.emails == ("alice@example.org",)
    assert peer.uris == () and peer.ip_addresses == ()
    assert peer.spki_sha256 == spki_sha256(alice)
    assert peer.pin == format_pin(spki_sha256(alice))
    assert "alice" in peer.names and "alice.example.org" in peer.names
    assert peer.certificate.public_bytes(Encoding.DER) == alice
    assert "der=" not in repr(peer)  # no kilobytes of DER in a repr


@pytest.mark.parametrize("bad", [b"junk", b"\x30\x03abc", "truncated", "bad SAN"])
def test_peer_certificate_malformed(alice: bytes, bad: bytes | str) -> None:
    data = alice[:-5] if bad == "truncated" else build_cert(bad_san=True) \
        if bad == "bad SAN" else bad
    assert isinstance(data, bytes)
    with pytest.raises(ValueError):
        PeerCertificate.from_der(data)


# -- by CA -------------------------------------------------------------------------------


def test_admitted_by_ca(auth: Authenticator, tmp_path: Path, ca: trustme.CA,
                        alice: bytes) -> None:
    auth.configure_tls(cas=pem_file(tmp_path, ca))
    assert decide(auth, request(b"NULL", alice)) == [*ADMIT, b"alice.example.org"]


def test_refused_by_another_ca(auth: Authenticator, tmp_path: Path, ca: trustme.CA,
                               other_ca: trustme.CA, alice: bytes,
                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    auth.configure_tls(cas=pem_file(tmp_path, other_ca))
    assert decide(auth, request(b"NULL", alice)) == [*REFUSE, b""]
    assert reason(caplog) == "TLS certificate not issued by an allowed CA"


def test_impostor_ca_with_the_same_name_refused(auth: Authenticator, tmp_path: Path,
                                                ca: trustme.CA) -> None:
    """The issuer's signature is checked, not only its name."""
    auth.configure_tls(cas=pem_file(tmp_path, ca))
    impostor_key = ec.generate_private_key(ec.SECP256R1())
    forged = build_cert(issuer=ca_name(ca), signer=impostor_key, dns=["alice.example.org"])
    genuine = build_cert(issuer=ca_name(ca), signer=ca_key(ca), dns=["alice.example.org"])
    assert decide(auth, request(b"NULL", forged))[0] == b"400"
    assert decide(auth, request(b"NULL", genuine))[0] == b"200"


def test_cas_several_bundles_and_intermediates(auth: Authenticator, tmp_path: Path,
                                               ca: trustme.CA, other_ca: trustme.CA) -> None:
    """ZAP sees the leaf only: the CA that issued it directly is what admits it."""
    intermediate = ca.create_child_ca()
    via_intermediate = der(intermediate.issue_cert("bob.example.org"))
    auth.configure_tls(cas=pem_file(tmp_path, ca))  # the root alone
    assert decide(auth, request(b"NULL", via_intermediate))[0] == b"400"
    auth.configure_tls(cas=[pem_file(tmp_path, other_ca, name="a.pem"),
                            str(pem_file(tmp_path, intermediate, name="b.pem"))])
    assert decide(auth, request(b"NULL", via_intermediate))[0] == b"200"
    auth.configure_tls(cas=pem_file(tmp_path, other_ca, intermediate, name="both.pem"))
    assert decide(auth, request(b"NULL", via_intermediate))[0] == b"200"


# -- by subject --------------------------------------------------------------------------


@pytest.mark.parametrize(("subjects", "ok"), [
    (["alice"], True),  # subject CN
    ("alice", True),  # one name as a string, not its characters
    (["ALICE.example.ORG"], True),  # DNS names ignore case
    (["alice@example.org"], True),
    (["bob", "alice.example.org"], True),
    (["Alice"], False),  # a CN is exact
    (["ALICE@example.org"], False),
    (["*.example.org"], False),  # no wildcard expansion
    (["bob"], False),
])
def test_subjects(auth: Authenticator, alice: bytes, subjects: Any, ok: bool) -> None:
    auth.configure_tls(subjects=subjects)
    assert decide(auth, request(b"NULL", alice))[0] == (b"200" if ok else b"400")


def test_subjects_uri_and_whole_dn(auth: Authenticator, alice: bytes) -> None:
    spiffe = build_cert(cn=None, uris=["spiffe://example.org/worker"])
    auth.configure_tls(subjects=["spiffe://example.org/worker"])
    assert decide(auth, request(b"NULL", spiffe)) == [*ADMIT, b"spiffe://example.org/worker"]
    assert decide(auth, request(b"NULL", alice))[0] == b"400"
    auth.configure_tls(subjects=[PeerCertificate.from_der(alice).subject])
    assert decide(auth, request(b"NULL", alice))[0] == b"200"


# -- by pin ------------------------------------------------------------------------------


def test_pins_in_every_form(auth: Authenticator, alice: bytes, ca: trustme.CA) -> None:
    digest = spki_sha256(alice)
    other = spki_sha256(der(ca.issue_cert("mallory.example.org")))
    for pins in ([digest.hex()], [digest.hex().upper()], [":".join(f"{b:02x}" for b in digest)],
                 [format_pin(digest)], f"{format_pin(other)}, {format_pin(digest)}",
                 f"{other.hex()} {digest.hex()}", [format_pin(digest).encode()]):
        auth.configure_tls(pins=pins)
        assert decide(auth, request(b"NULL", alice))[0] == b"200", pins
    auth.configure_tls(pins=[format_pin(other)])
    assert decide(auth, request(b"NULL", alice))[0] == b"400"


def test_criteria_narrow_each_other(auth: Authenticator, tmp_path: Path, ca: trustme.CA,
                                    alice: bytes, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    bob = der(ca.issue_cert("bob.example.org"))
    auth.configure_tls(cas=pem_file(tmp_path, ca), subjects=["alice"],
                       pins=[format_pin(spki_sha256(alice))])
    assert decide(auth, request(b"NULL", alice))[0] == b"200"
    assert decide(auth, request(b"NULL", bob))[0] == b"400"
    assert reason(caplog) == "TLS certificate subject not allowed"
    auth.configure_tls(cas=pem_file(tmp_path, ca), subjects=["bob.example.org"],
                       pins=[format_pin(spki_sha256(alice))])
    assert decide(auth, request(b"NULL", bob))[0] == b"400"
    assert reason(caplog) == "TLS certificate pin not allowed"


def test_any_certificate_when_no_criterion(auth: Authenticator, alice: bytes) -> None:
    auth.configure_tls()
    assert decide(auth, request(b"NULL", alice))[0] == b"200"
    assert decide(auth, request(b"NULL", build_cert()))[0] == b"200"
    assert decide(auth, request(b"NULL", b""))[0] == b"400"


# -- no certificate, malformed certificate -----------------------------------------------


def test_missing_certificate(auth: Authenticator, alice: bytes, ca: trustme.CA,
                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    auth.configure_tls(subjects=["alice"])
    assert decide(auth, request(b"NULL", b"")) == [*REFUSE, b""]
    assert reason(caplog) == "no TLS certificate"
    auth.configure_tls(subjects=["alice"], require_certificate=False)
    assert decide(auth, request(b"NULL", b"")) == [*ADMIT, b"anonymous"]
    assert decide(auth, request(b"NULL", alice)) == [*ADMIT, b"alice.example.org"]
    # Optional, but a certificate presented must still qualify.
    assert decide(auth, request(b"NULL", der(ca.issue_cert("bob.example.org"))))[0] == b"400"


@pytest.mark.parametrize("bad", [b"junk", b"\x30\x82\x01\x00", "bad SAN"])
def test_malformed_certificate_refused_and_not_counted(
        ctx: securemq.Context, caplog: pytest.LogCaptureFixture, alice: bytes,
        bad: bytes | str) -> None:
    caplog.set_level(logging.INFO)
    data = build_cert(bad_san=True) if bad == "bad SAN" else bad
    assert isinstance(data, bytes)
    auth = Authenticator(ctx, rate_limit=RateLimit(max_failures=2))
    auth.configure_plain(passwords=PasswordStore({b"u": b"p"}, **FAST))
    for frames in (request(b"NULL", data), request(b"PLAIN", b"u", b"p", data),
                   request(b"CURVE", os.urandom(32), data)) * 3:
        assert decide(auth, frames) == [*REFUSE, b""]
        assert reason(caplog) == "malformed TLS certificate"
    tracker = auth._tracker
    assert tracker is not None and not tracker._failures and not tracker._locked_until
    # Even with no TLS policy: the request itself is malformed.
    assert decide(auth, request(b"NULL", alice)) == [*ADMIT, b"anonymous"]


def test_tls_refusals_count_towards_the_rate_limit(ctx: securemq.Context, tmp_path: Path,
                                                   ca: trustme.CA, other_ca: trustme.CA,
                                                   alice: bytes) -> None:
    auth = Authenticator(ctx, rate_limit=RateLimit(max_failures=2))
    auth.configure_tls(cas=pem_file(tmp_path, ca))
    stranger = der(other_ca.issue_cert("stranger.example.org"))
    for _ in range(2):
        assert decide(auth, request(b"NULL", stranger))[0] == b"400"
    assert decide(auth, request(b"NULL", alice))[0] == b"400"  # locked out
    assert decide(auth, request(b"NULL", alice, address=b"192.0.2.11"))[0] == b"200"


# -- NULL without a policy, and peers without TLS ----------------------------------------


def test_null_over_tls_without_policy_is_anonymous(auth: Authenticator, alice: bytes) -> None:
    auth.configure_tls("elsewhere", subjects=["nobody"])
    assert decide(auth, request(b"NULL", alice)) == [*ADMIT, b"anonymous"]
    assert decide(auth, request(b"NULL", b"")) == [*ADMIT, b"anonymous"]
    auth.deny("192.0.2.10")
    assert decide(auth, request(b"NULL", alice))[0] == b"400"


def test_policy_applies_to_tls_requests_only(auth: Authenticator) -> None:
    auth.configure_tls(subjects=["alice"])
    auth.configure_curve(location=CURVE_ALLOW_ANY)
    key = os.urandom(32)
    assert decide(auth, request(b"NULL")) == [*ADMIT, b"anonymous"]
    assert decide(auth, request(b"CURVE", key)) == [*ADMIT, z85.encode(key)]
    assert decide(auth, request(b"CURVE", key, b""))[0] == b"400"


def test_address_lists_apply_to_tls_peers(auth: Authenticator, tmp_path: Path,
                                          ca: trustme.CA, alice: bytes,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    auth.configure_tls(cas=pem_file(tmp_path, ca))
    auth.allow("10.0.0.0/8")
    assert decide(auth, request(b"NULL", alice))[0] == b"400"
    assert reason(caplog) == "address not in the allow list"
    assert decide(auth, request(b"NULL", alice, address=b"10.1.2.3"))[0] == b"200"


@pytest.mark.parametrize(("frames", "why"), [
    (request(b"NULL", b"a", b"b"), "malformed NULL credentials"),
    (request(b"PLAIN", b"u", b"p", b"cert", b"more"), "malformed PLAIN credentials"),
    (request(b"CURVE", os.urandom(32), b"", b""), "malformed CURVE credentials"),
    (request(b"CURVE", b"short", b""), "malformed CURVE credentials"),
])
def test_frame_counts_other_than_tls_are_malformed(
        auth: Authenticator, caplog: pytest.LogCaptureFixture, frames: list[bytes],
        why: str) -> None:
    caplog.set_level(logging.INFO)
    auth.configure_plain(passwords=PasswordStore({b"u": b"p"}, **FAST))
    auth.configure_curve(location=CURVE_ALLOW_ANY)
    assert decide(auth, frames) == [*REFUSE, b""]
    assert reason(caplog) == why


# -- with PLAIN and CURVE: both must pass ------------------------------------------------


def test_plain_and_tls_both_must_pass(auth: Authenticator, tmp_path: Path, ca: trustme.CA,
                                      other_ca: trustme.CA, alice: bytes,
                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    store = PasswordStore({b"admin": b"right"}, **FAST)
    checks: list[bytes] = []
    real_check = store.check

    def spy(user: str | bytes, password: str | bytes) -> PasswordCheck:
        checks.append(bytes(user, "utf-8") if isinstance(user, str) else user)
        return real_check(user, password)

    store.check = spy  # type: ignore[method-assign]
    auth.configure_plain(passwords=store)
    auth.configure_tls(cas=pem_file(tmp_path, ca))
    stranger = der(other_ca.issue_cert("stranger.example.org"))
    assert decide(auth, request(b"PLAIN", b"admin", b"right", alice)) == [*ADMIT, b"admin"]
    assert decide(auth, request(b"PLAIN", b"admin", b"wrong", alice))[0] == b"400"
    assert reason(caplog) == "wrong password"
    assert decide(auth, request(b"PLAIN", b"admin", b"right", stranger))[0] == b"400"
    assert reason(caplog) == "TLS certificate not issued by an allowed CA"
    assert decide(auth, request(b"PLAIN", b"admin", b"right", b""))[0] == b"400"
    assert checks == [b"admin", b"admin"]  # a refused certificate costs no hash
    # Without TLS, the same domain is PLAIN alone.
    assert decide(auth, request(b"PLAIN", b"admin", b"right")) == [*ADMIT, b"admin"]


def test_plain_over_tls_needs_its_own_policy(auth: Authenticator, alice: bytes,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    auth.configure_tls()
    assert decide(auth, request(b"PLAIN", b"admin", b"right", alice))[0] == b"400"
    assert reason(caplog) == "no PLAIN passwords configured"


def test_plain_over_tls_without_tls_policy(auth: Authenticator, alice: bytes) -> None:
    auth.configure_plain(passwords=PasswordStore({b"admin": b"right"}, **FAST))
    assert decide(auth, request(b"PLAIN", b"admin", b"right", alice)) == [*ADMIT, b"admin"]
    assert decide(auth, request(b"PLAIN", b"admin", b"right", b"")) == [*ADMIT, b"admin"]


def test_curve_and_tls_both_must_pass(auth: Authenticator, tmp_path: Path, ca: trustme.CA,
                                      other_ca: trustme.CA, alice: bytes) -> None:
    good_key, bad_key = os.urandom(32), os.urandom(32)
    asked: list[bytes] = []

    def provider(domain: str, key: bytes) -> bool:
        asked.append(key)
        return key == z85.encode(good_key)

    auth.configure_curve_callback("*", provider)
    auth.configure_tls(cas=pem_file(tmp_path, ca))
    stranger = der(other_ca.issue_cert("stranger.example.org"))
    assert decide(auth, request(b"CURVE", good_key, alice)) == [*ADMIT, z85.encode(good_key)]
    assert decide(auth, request(b"CURVE", bad_key, alice))[0] == b"400"
    assert decide(auth, request(b"CURVE", good_key, stranger))[0] == b"400"
    assert asked == [z85.encode(good_key), z85.encode(bad_key)]  # not asked the third time


def test_match_ties_the_certificate_to_the_credential(auth: Authenticator,
                                                     ca: trustme.CA, alice: bytes) -> None:
    """Without ``match`` one admitted certificate may come with another admitted
    credential; with it, the certificate must belong to the PLAIN user or CURVE key."""
    auth.configure_plain(passwords=PasswordStore({b"alice": b"pw-a", b"bob": b"pw-b"},
                                                 **FAST))
    auth.configure_tls(match=lambda peer, user: user in peer.common_names)
    assert decide(auth, request(b"PLAIN", b"alice", b"pw-a", alice)) == [*ADMIT, b"alice"]
    assert decide(auth, request(b"PLAIN", b"bob", b"pw-b", alice))[0] == b"400"
    key = os.urandom(32)
    auth.configure_curve(location=CURVE_ALLOW_ANY)
    device = der(ca.issue_cert("dev.example.org", common_name=z85.encode(key).decode()))
    assert decide(auth, request(b"CURVE", key, device))[:2] == ADMIT
    assert decide(auth, request(b"CURVE", os.urandom(32), device))[0] == b"400"
    # NULL has no credential to match: the TLS policy alone decides.
    assert decide(auth, request(b"NULL", alice))[:2] == ADMIT
    with pytest.raises(TypeError):
        auth.configure_tls(match="alice")  # type: ignore[arg-type]


def test_match_that_raises_is_a_500(auth: Authenticator, alice: bytes) -> None:
    auth.configure_plain(passwords=PasswordStore({b"alice": b"pw-a"}, **FAST))

    def broken(peer: object, user: str) -> bool:
        raise RuntimeError("bug in the policy")

    auth.configure_tls(match=broken)
    assert decide(auth, request(b"PLAIN", b"alice", b"pw-a", alice))[0] == b"500"


# -- User-Id -----------------------------------------------------------------------------


def test_default_user_id_order(auth: Authenticator) -> None:
    """First SAN DNS name, else URI, else e-mail, else the subject CN, else the pin."""
    auth.configure_tls()
    cases = [
        (build_cert(cn="cn", dns=["d.example"], uris=["urn:u"], emails=["e@x"]), b"d.example"),
        (build_cert(cn="cn", uris=["urn:u", "urn:v"], emails=["e@x"]), b"urn:u"),
        (build_cert(cn="cn", emails=["e@x"]), b"e@x"),
        (build_cert(cn="cn"), b"cn"),
    ]
    for cert, user_id in cases:
        assert decide(auth, request(b"NULL", cert)) == [*ADMIT, user_id]
    nameless = build_cert(cn=None)
    assert decide(auth, request(b"NULL", nameless)) == \
        [*ADMIT, format_pin(spki_sha256(nameless)).encode()]


def test_user_id_mapping(auth: Authenticator, alice: bytes) -> None:
    auth.configure_tls(user_id=lambda peer: f"tls:{peer.common_names[0]}")
    auth.configure_plain(passwords=PasswordStore({b"admin": b"right"}, **FAST))
    key = os.urandom(32)
    auth.configure_curve(location=CURVE_ALLOW_ANY)
    assert decide(auth, request(b"NULL", alice)) == [*ADMIT, b"tls:alice"]
    # An explicit mapping names PLAIN and CURVE peers too, when they sent a certificate.
    assert decide(auth, request(b"PLAIN", b"admin", b"right", alice)) == [*ADMIT, b"tls:alice"]
    assert decide(auth, request(b"CURVE", key, alice)) == [*ADMIT, b"tls:alice"]
    auth.configure_tls(user_id=lambda peer: b"\xffraw", require_certificate=False)
    assert decide(auth, request(b"NULL", alice)) == [*ADMIT, b"\xffraw"]
    assert decide(auth, request(b"NULL", b"")) == [*ADMIT, b"anonymous"]
    assert decide(auth, request(b"PLAIN", b"admin", b"right", b"")) == [*ADMIT, b"admin"]
    # Without a mapping, PLAIN and CURVE keep their own User-Id.
    auth.configure_tls()
    assert decide(auth, request(b"PLAIN", b"admin", b"right", alice)) == [*ADMIT, b"admin"]
    assert decide(auth, request(b"CURVE", key, alice)) == [*ADMIT, z85.encode(key)]


def test_tls_user_id_override(ctx: securemq.Context, alice: bytes) -> None:
    class ByPin(Authenticator):
        def tls_user_id(self, peer: PeerCertificate) -> str:
            return peer.pin

    auth = ByPin(ctx, rate_limit=None)
    auth.configure_tls()
    assert decide(auth, request(b"NULL", alice)) == \
        [*ADMIT, format_pin(spki_sha256(alice)).encode()]


@pytest.mark.parametrize("mapper", [lambda peer: 1 / 0, lambda peer: 42, lambda peer: None])
def test_failing_mapping_answers_500(auth: Authenticator, alice: bytes, mapper: Any,
                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    auth.configure_tls(user_id=mapper)
    assert decide(auth, request(b"NULL", alice)) == [b"500", b"Internal error", b""]
    [rec] = audit_records(caplog)
    assert rec.zap_reason.startswith("policy raised")  # type: ignore[attr-defined]
    assert rec.zap_tls_subject.startswith("CN=alice")  # type: ignore[attr-defined]


# -- domains -----------------------------------------------------------------------------


def test_per_domain_policies(auth: Authenticator, tmp_path: Path, ca: trustme.CA,
                             other_ca: trustme.CA, alice: bytes) -> None:
    stranger = der(other_ca.issue_cert("stranger.example.org"))
    auth.configure_tls("billing", cas=pem_file(tmp_path, ca, name="a.pem"))
    auth.configure_tls("*", cas=pem_file(tmp_path, other_ca, name="b.pem"),
                       user_id=lambda peer: "star")
    assert decide(auth, request(b"NULL", alice, domain=b"billing")) == \
        [*ADMIT, b"alice.example.org"]
    assert decide(auth, request(b"NULL", stranger, domain=b"billing"))[0] == b"400"
    assert decide(auth, request(b"NULL", stranger)) == [*ADMIT, b"star"]  # "" is "*"
    assert decide(auth, request(b"NULL", alice))[0] == b"400"
    # No fallback from a domain to "*": a domain without a policy is plain NULL.
    assert decide(auth, request(b"NULL", alice, domain=b"other")) == [*ADMIT, b"anonymous"]


def test_remove_tls(auth: Authenticator, alice: bytes) -> None:
    auth.configure_tls("a", subjects=["nobody"])
    auth.configure_tls("b", subjects=["nobody"])
    assert decide(auth, request(b"NULL", alice, domain=b"a"))[0] == b"400"
    auth.remove_tls("a")
    auth.remove_tls("never-configured")
    assert decide(auth, request(b"NULL", alice, domain=b"a")) == [*ADMIT, b"anonymous"]
    assert decide(auth, request(b"NULL", alice, domain=b"b"))[0] == b"400"


# -- configuration errors ----------------------------------------------------------------


def test_configure_tls_errors(auth: Authenticator, tmp_path: Path, ca: trustme.CA) -> None:
    leaf = ca.issue_cert("leaf.example.org")
    leaf_file = tmp_path / "leaf.pem"
    leaf_file.write_bytes(leaf.cert_chain_pems[0].bytes())
    empty = tmp_path / "empty.pem"
    empty.write_text("no certificate here\n")
    with pytest.raises(FileNotFoundError):
        auth.configure_tls(cas=tmp_path / "missing.pem")
    with pytest.raises(ValueError, match="no PEM certificate"):
        auth.configure_tls(cas=empty)
    with pytest.raises(ValueError, match="not a CA"):
        auth.configure_tls(cas=leaf_file)
    with pytest.raises(ValueError, match="empty"):
        auth.configure_tls(cas=[])
    with pytest.raises(ValueError, match="empty"):
        auth.configure_tls(subjects=[])
    with pytest.raises(ValueError, match="empty"):
        auth.configure_tls(pins="")
    with pytest.raises(ValueError, match="pin"):
        auth.configure_tls(pins=["sha256//not-base64!"])
    with pytest.raises(ValueError, match="pin"):
        auth.configure_tls(pins=["abcd"])
    with pytest.raises(TypeError, match="paths"):
        auth.configure_tls(cas=ca.cert_pem.bytes())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        auth.configure_tls(subjects=[b"alice"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        auth.configure_tls(user_id="alice")  # type: ignore[arg-type]
    assert not auth._tls  # nothing half-configured


# -- audit -------------------------------------------------------------------------------


def test_audit_fields_for_tls(auth: Authenticator, tmp_path: Path, ca: trustme.CA,
                              other_ca: trustme.CA, alice: bytes,
                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    assert {"zap_tls_subject", "zap_tls_pin"} <= set(AUDIT_FIELDS)
    auth.configure_plain(passwords=PasswordStore({b"admin": b"s3cret-Pw"}, **FAST))
    auth.configure_tls(cas=pem_file(tmp_path, ca))
    stranger = der(other_ca.issue_cert("stranger.example.org"))
    peer = PeerCertificate.from_der(alice)
    decide(auth, request(b"NULL", alice))
    decide(auth, request(b"PLAIN", b"admin", b"s3cret-Pw", stranger))
    decide(auth, request(b"PLAIN", b"admin", b"s3cret-Pw", b""))
    decide(auth, request(b"PLAIN", b"admin", b"s3cret-Pw"))
    decide(auth, request(b"NULL", b"garbage"))
    records = audit_records(caplog)
    assert len(records) == 5  # one per decision
    fields = [{f: getattr(rec, f) for f in AUDIT_FIELDS} for rec in records]
    assert fields[0]["zap_status"] == 200
    assert fields[0]["zap_tls_subject"] == peer.subject
    assert fields[0]["zap_tls_pin"] == peer.pin
    assert fields[0]["zap_identity"] == f"{peer.subject} {peer.pin}"
    assert peer.pin in records[0].getMessage()
    stranger_peer = PeerCertificate.from_der(stranger)
    assert fields[1]["zap_status"] == 400
    assert fields[1]["zap_identity"] == f"admin; {stranger_peer.subject} {stranger_peer.pin}"
    assert fields[1]["zap_tls_pin"] == stranger_peer.pin
    for f in fields[2:]:  # no certificate, not TLS, a malformed certificate
        assert f["zap_tls_subject"] == f["zap_tls_pin"] == ""
    assert fields[2]["zap_reason"] == "no TLS certificate"
    assert fields[3]["zap_identity"] == "admin" and fields[3]["zap_status"] == 200
    assert fields[4]["zap_reason"] == "malformed TLS certificate"
    for rec in caplog.records:  # no password, no certificate bytes
        for text in (rec.getMessage(), *(str(v) for v in vars(rec).values())):
            assert "s3cret-Pw" not in text
            assert repr(alice[:16])[2:-1] not in text


def test_audit_escapes_certificate_names(auth: Authenticator,
                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    auth.configure_tls()
    decide(auth, request(b"NULL", build_cert(cn="evil\nINFO forged line")))
    [rec] = audit_records(caplog)
    assert "\n" not in rec.getMessage()
    assert rec.zap_tls_subject == "CN=evil\\nINFO forged line"  # type: ignore[attr-defined]


# -- flavours and exports ----------------------------------------------------------------


@pytest.mark.parametrize("flavour", [ThreadAuthenticator, AsyncioAuthenticator])
def test_flavours_share_the_policy(ctx: securemq.Context, alice: bytes,
                                   flavour: type[Authenticator]) -> None:
    auth = flavour(ctx, rate_limit=None)  # not started: the policy needs no socket
    auth.configure_tls(subjects=["alice"])
    assert decide(auth, request(b"NULL", alice)) == [*ADMIT, b"alice.example.org"]


def test_exports() -> None:
    for name in ("PeerCertificate", "TlsUserIdMapper"):
        assert name in securemq.auth.__all__
        assert name in securemq.auth.base.__all__
    assert callable(Authenticator.configure_tls) and callable(Authenticator.remove_tls)
