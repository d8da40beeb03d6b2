"""TLS under ZMTP (``tls+tcp://``) between real securemq sockets.

Rows 55-61 of SECURITY-TESTS.md and the TLS issue's checks: mutual TLS, a client
without a certificate, an untrusted CA, a wrong host name, expired / not-yet-valid /
wrong-EKU certificates, a version below policy, pins (mismatch, and a reload that
unpins a live peer), configuration refused at bind/connect, TLS identities reaching ZAP
and User-Id, rotation under traffic with nothing lost, PLAIN and CURVE above TLS with
the authenticator, and every pattern over ``tls+tcp``. Certificates come from trustme
CAs; the unusual ones (validity, EKU) are built with ``cryptography``.

Every refusal is asserted through the exact monitor event and value
(:class:`~securemq.transport.tls.TlsReason`) and one audit record; nothing is ever
delivered to the application from a refused peer.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from tls_certs import custom_leaf
from zap_handlers import ZapHandler, ZapRequest, reply

import securemq as zmq
from securemq.transport.tls import TlsReason, format_pin, spki_sha256
from securemq.utils.monitor import recv_monitor_message

pytestmark = pytest.mark.timeout(30)

WAIT_MS = 5000
QUIET_MS = 300
AUTH = zmq.EVENT_HANDSHAKE_FAILED_AUTH
PROTO = zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
AUDIT = "securemq.auth.audit"


# -- certificates --------------------------------------------------------------------------


class Pki:
    """Two unrelated trustme CAs and a directory of PEM files issued by them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca = trustme.CA()
        self.other_ca = trustme.CA()
        self.ca_file = self._write("ca.pem", self.ca.cert_pem.bytes())
        self.other_ca_file = self._write("other-ca.pem", self.other_ca.cert_pem.bytes())
        self._n = 0

    def _write(self, name: str, data: bytes) -> str:
        path = self.root / name
        path.write_bytes(data)
        return str(path)

    def leaf(self, *names: str, ca: trustme.CA | None = None, **kw: Any) -> str:
        """A certificate chain and its key in one PEM file; its path."""
        cert = (ca or self.ca).issue_cert(*names, **kw)
        self._n += 1
        return self._write(f"leaf{self._n}.pem", cert.private_key_and_cert_chain_pem.bytes())

    def custom(self, name: str, *, days: tuple[int, int] = (-1, 30),
               eku: list[x509.ObjectIdentifier] | None = None) -> str:
        """A leaf for ``name`` (DNS and IP SAN) signed by ``ca``, with chosen validity
        (days relative to now) and extended key usage, built with cryptography."""
        self._n += 1
        return self._write(f"custom{self._n}.pem",
                           custom_leaf(self.ca, name, days=days, eku=eku, ips=["127.0.0.1"]))


def pin_of(path: str) -> str:
    """The SPKI pin of the first certificate in a PEM file."""
    pem = Path(path).read_text()
    start = pem.index("-----BEGIN CERTIFICATE-----")
    end = pem.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")
    return format_pin(spki_sha256(ssl.PEM_cert_to_DER_cert(pem[start:end])))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def server_pem(pki: Pki) -> str:
    return pki.leaf("localhost", "127.0.0.1")


@pytest.fixture(scope="module")
def client_pem(pki: Pki) -> str:
    return pki.leaf("client-a.example", common_name="client-a")


# -- sockets and events --------------------------------------------------------------------


class Events:
    """The monitor of one socket, read as (event, value) pairs with deadlines."""

    def __init__(self, sock: zmq.Socket, mask: int = zmq.EVENT_ALL) -> None:
        self.sock = sock.get_monitor_socket(mask)
        self.seen: list[tuple[int, int]] = []

    def _next(self, timeout_ms: int) -> tuple[int, int] | None:
        if not self.sock.poll(timeout_ms):
            return None
        msg = recv_monitor_message(self.sock)
        pair = (int(msg["event"]), int(msg["value"]))
        self.seen.append(pair)
        return pair

    def wait(self, event: int, timeout_ms: int = WAIT_MS) -> int:
        """The value of the next ``event``; fails if it does not come in time."""
        while True:
            pair = self._next(timeout_ms)
            if pair is None:
                raise AssertionError(f"no {zmq.Event(event)!r}; saw {self.seen}")
            if pair[0] == event:
                return pair[1]

    def quiet(self, ms: int = QUIET_MS) -> list[tuple[int, int]]:
        """The events until ``ms`` milliseconds pass without one (at most 50 events)."""
        out = []
        while len(out) < 50 and (pair := self._next(ms)) is not None:
            out.append(pair)
        return out


def bind_tls(ctx: zmq.Context, kind: int, **opts: Any) -> tuple[zmq.Socket, str]:
    sock = ctx.socket(kind)
    sock.linger = 0
    sock.rcvtimeo = sock.sndtimeo = WAIT_MS
    for name, value in opts.items():
        setattr(sock, name, value)
    sock.bind("tls+tcp://127.0.0.1:*")
    return sock, sock.last_endpoint.decode()


def connect_tls(ctx: zmq.Context, kind: int, endpoint: str, **opts: Any) -> zmq.Socket:
    sock = ctx.socket(kind)
    sock.linger = 0
    sock.rcvtimeo = sock.sndtimeo = WAIT_MS
    for name, value in opts.items():
        setattr(sock, name, value)
    sock.connect(endpoint)
    return sock


def try_send(sock: zmq.Socket, body: bytes) -> None:
    """Queue ``body`` if the socket still has a peer: a refused one may be gone already."""
    try:
        sock.send(body, zmq.NOBLOCK)
    except zmq.Again:
        pass


def assert_nothing_received(sock: zmq.Socket) -> None:
    assert not sock.poll(QUIET_MS), "a refused peer's message reached the application"


def audit_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == AUDIT]


def wait_audit(caplog: pytest.LogCaptureFixture, n: int, events: Events) -> None:
    """Audit records are logged by the I/O thread before the DISCONNECTED event."""
    events.wait(zmq.EVENT_DISCONNECTED)
    assert len(audit_records(caplog)) >= n


# -- success -------------------------------------------------------------------------------


def test_server_authenticated_tls_carries_every_message(ctx: zmq.Context, pki: Pki,
                                                        server_pem: str) -> None:
    pull, ep = bind_tls(ctx, zmq.PULL, tls_cert=server_pem)
    assert ep.startswith("tls+tcp://127.0.0.1:") and not ep.endswith(":0")
    push = connect_tls(ctx, zmq.PUSH, ep, tls_ca=pki.ca_file)
    payloads = [b"", b"x", os.urandom(300), os.urandom(70_000), os.urandom(3 << 20)]
    for p in payloads:
        push.send(p)
    push.send_multipart([b"a", b"", b"c" * 1000])
    assert [pull.recv() for _ in payloads] == payloads
    assert pull.recv_multipart() == [b"a", b"", b"c" * 1000]


def test_mutual_tls(ctx: zmq.Context, pki: Pki, server_pem: str, client_pem: str) -> None:
    rep, ep = bind_tls(ctx, zmq.REP, tls_cert=server_pem, tls_ca=pki.ca_file,
                       tls_require_client_cert=1)
    events = Events(rep)
    req = connect_tls(ctx, zmq.REQ, ep, tls_ca=pki.ca_file, tls_cert=client_pem)
    req.send(b"ping")
    assert rep.recv() == b"ping"
    rep.send(b"pong")
    assert req.recv() == b"pong"
    events.wait(zmq.EVENT_HANDSHAKE_SUCCEEDED)


def test_ssl_context_option(ctx: zmq.Context, pki: Pki, server_pem: str) -> None:
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(server_pem)
    client_ctx = ssl.create_default_context(cafile=pki.ca_file)
    pair_a = ctx.socket(zmq.PAIR)
    pair_a.linger = 0
    pair_a.ssl_context = server_ctx
    assert pair_a.ssl_context is server_ctx
    pair_a.bind("tls+tcp://127.0.0.1:*")
    pair_b = connect_tls(ctx, zmq.PAIR, pair_a.last_endpoint.decode())
    pair_b.setsockopt(zmq.SSL_CONTEXT, client_ctx)  # ignored: set after connect
    pair_b.close()
    pair_b = ctx.socket(zmq.PAIR)
    pair_b.linger = 0
    pair_b.setsockopt(zmq.SSL_CONTEXT, client_ctx)
    pair_b.connect(pair_a.last_endpoint.decode())
    pair_b.send(b"over a given context")
    pair_a.rcvtimeo = WAIT_MS
    assert pair_a.recv() == b"over a given context"


def test_hostname_option_checks_another_name(ctx: zmq.Context, pki: Pki) -> None:
    pem = pki.leaf("broker.internal")  # no IP SAN: 127.0.0.1 alone would not match
    pull, ep = bind_tls(ctx, zmq.PULL, tls_cert=pem)
    push = connect_tls(ctx, zmq.PUSH, ep, tls_ca=pki.ca_file, tls_hostname="broker.internal")
    push.send(b"named")
    assert pull.recv() == b"named"


# -- refusals (rows 55-59) -----------------------------------------------------------------


def test_client_without_certificate_is_refused(ctx: zmq.Context, pki: Pki, server_pem: str,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """Row 55: the server refuses; a TLS 1.3 client learns it at its first read."""
    caplog.set_level(logging.INFO, logger=AUDIT)
    pull, ep = bind_tls(ctx, zmq.PULL, tls_cert=server_pem, tls_ca=pki.ca_file,
                        tls_require_client_cert=1)
    server_events = Events(pull)
    push = ctx.socket(zmq.PUSH)
    push.linger = 0
    push.tls_ca = pki.ca_file
    client_events = Events(push)
    push.connect(ep)
    try_send(push, b"should never arrive")
    assert server_events.wait(AUTH) == TlsReason.NO_CLIENT_CERT
    assert client_events.wait(AUTH) == TlsReason.NO_CLIENT_CERT
    assert zmq.EVENT_HANDSHAKE_SUCCEEDED not in [e for e, _ in server_events.seen]
    assert_nothing_received(pull)
    server_events.wait(zmq.EVENT_DISCONNECTED)
    records = [r for r in audit_records(caplog)
               if getattr(r, "zap_status", None) == TlsReason.NO_CLIENT_CERT]
    assert len(records) == 2  # one per side
    for r in records:
        assert r.zap_mechanism == "TLS"  # type: ignore[attr-defined]
        assert "certificate" in r.zap_reason  # type: ignore[attr-defined]


def test_untrusted_server_ca(ctx: zmq.Context, pki: Pki, caplog: pytest.LogCaptureFixture
                             ) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT)
    pem = pki.leaf("localhost", "127.0.0.1", ca=pki.other_ca)
    pull, ep = bind_tls(ctx, zmq.PULL, tls_cert=pem)
    server_events = Events(pull)
    push = ctx.socket(zmq.PUSH)
    push.linger = 0
    push.tls_ca = pki.ca_file
    client_events = Events(push)
    push.connect(ep)
    try_send(push, b"secret")
    assert client_events.wait(AUTH) == TlsReason.UNKNOWN_CA
    assert server_events.wait(AUTH) == TlsReason.PEER_REFUSED
    assert_nothing_received(pull)
    client_events.wait(zmq.EVENT_DISCONNECTED)
    reasons = [r.zap_status for r in audit_records(caplog)]  # type: ignore[attr-defined]
    assert TlsReason.UNKNOWN_CA in reasons


def test_untrusted_client_ca(ctx: zmq.Context, pki: Pki, server_pem: str) -> None:
    stranger = pki.leaf("mallory", ca=pki.other_ca)
    pull, ep = bind_tls(ctx, zmq.PULL, tls_cert=server_pem, tls_ca=pki.ca_file,
                        tls_require_client_cert=1)
    server_events = Events(pull)
    push = connect_tls(ctx, zmq.PUSH, ep, tls_ca=pki.ca_file, tls_cert=stranger)
    try_send(push, b"let me in")
    assert server_events.wait(AUTH) == TlsReason.UNKNOWN_CA
    assert_nothing_received(pull)


def test_wrong_hostname(ctx: zmq.Context, pki: Pki) -> None:
    """Row 56: a certificate for another name, and one without the IP SAN."""
    for pem, endpoint_host in ((pki.leaf("elsewhere.example"), "127.0.0.1"),
                               (pki.leaf("elsewhere.example"), "localhost")):
        pull, ep = bind_tls(ctx, zmq.PULL, tls_cert=pem)
        push = ctx.socket(zmq.PUSH)
        push.linger = 0
        push.tls_ca = pki.ca_file
        events = Events(push)
        push.connect(ep.replace("127.0.0.1", endpoint_host))
        try_send(push, b"x")
        assert events.wait(AUTH) == TlsReason.HOSTNAME_MISMATCH
        assert_nothing_received(pull)
        pull.close()
        push.close()


@pytest.mark.parametrize(("days", "reason"), [((-30, -1), TlsReason.EXPIRED),
                                              ((2, 30), TlsReason.NOT_YET_VALID)])
def test_certificate_outside_validity(ctx: zmq.Context, pki: Pki, days: tuple[int, int],
                                      reason: TlsReason) -> None:
    """Row 57: expired and not-yet-valid server certificates."""
    _pull, ep = bind_tls(ctx, zmq.PULL, tls_cert=pki.custom("localhost", days=days),
                        tls_expiry_warning=0)
    push = ctx.socket(zmq.PUSH)
    push.linger = 0
    push.tls_ca = pki.ca_file
    events = Events(push)
    push.connect(ep)
    assert events.wait(AUTH) == reason


def test_server_certificate_without_server_auth_eku(ctx: zmq.Context, pki: Pki) -> None:
    """Row 57: a client-only certificate may not serve."""
    pem = pki.custom("localhost", eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    _pull, ep = bind_tls(ctx, zmq.PULL, tls_cert=pem)
    push = ctx.socket(zmq.PUSH)
    push.linger = 0
    push.tls_ca = pki.ca_file
    events = Events(push)
    push.connect(ep)
    assert events.wait(AUTH) == TlsReason.BAD_USAGE


def test_expired_client_certificate(ctx: zmq.Context, pki: Pki, server_pem: str) -> None:
    pull, ep = bind_tls(ctx, zmq.PULL, tls_cert=server_pem, tls_ca=pki.ca_file,
                        tls_require_client_cert=1)
    events = Events(pull)
    push = connect_tls(ctx, zmq.PUSH, ep, tls_ca=pki.ca_file,
                       tls_cert=pki.custom("client", days=(-10, -2)), tls_expiry_warning=0)
    try_send(push, b"x")
    assert events.wait(AUTH) == TlsReason.EXPIRED
    assert_nothing_received(pull)


def test_version_below_policy(ctx: zmq.Context, pki: Pki, server_pem: str) -> None:
    """Row 58: a TLS 1.3-only server and a client that stops at 1.2."""
    pull, ep = bind_tls(ctx, zmq.PULL, tls_cert=server_pem,
                        tls_min_version=ssl.TLSVersion.TLSv1_3)
    server_events = Events(pull)
    old = ssl.create_default_context(cafile=pki.ca_file)
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    push = ctx.socket(zmq.PUSH)
    push.linger = 0
    push.ssl_context = old
    client_events = Events(push)
    push.connect(ep)
    try_send(push, b"x")
    assert server_events.wait(AUTH) == TlsReason.VERSION
    assert client_events.wait(AUTH) in (TlsReason.VERSION, TlsReason.PEER_REFUSED)
    assert_nothing_received(pull)


def test_tls13_only_client_and_server_agree(ctx: zmq.Context, pki: Pki,
                                            server_pem: str) -> None:
    pull, ep = bind_tls(ctx, zmq.PULL, tls_cert=server_pem,
                        tls_min_version=ssl.TLSVersion.TLSv1_3)
    push = connect_tls(ctx, zmq.PUSH, ep, tls_ca=pki.ca_file,
                       tls_min_version=ssl.TLSVersion.TLSv1_3)
    push.send(b"modern")
    assert pull.recv() == b"modern"


def test_pin_mismatch_closes_before_greeting(ctx: zmq.Context, pki: Pki, server_pem: str,
                                             client_pem: str) -> None:
    """Row 59: the client pins another key; the server never sees a ZMTP byte."""
    pull, ep = bind_tls(ctx, zmq.PULL, tls_cert=server_pem)
    server_events = Events(pull)
    push = ctx.socket(zmq.PUSH)
    push.linger = 0
    push.tls_ca = pki.ca_file
    push.tls_pins = [pin_of(client_pem)]  # a real pin, of the wrong key
    client_events = Events(push)
    push.connect(ep)
    try_send(push, b"x")
    assert client_events.wait(AUTH) == TlsReason.PIN_MISMATCH
    server_events.wait(zmq.EVENT_DISCONNECTED)
    assert zmq.EVENT_HANDSHAKE_SUCCEEDED not in [e for e, _ in server_events.seen]
    assert_nothing_received(pull)


def test_pin_alone_without_ca(ctx: zmq.Context, server_pem: str) -> None:
    """tls_verify=0 with a pin: trust exactly one key, no CA needed."""
    pull, ep = bind_tls(ctx, zmq.PULL, tls_cert=server_pem)
    push = connect_tls(ctx, zmq.PUSH, ep, tls_verify=0,
                       tls_pins=pin_of(server_pem).encode())
    push.send(b"pinned")
    assert pull.recv() == b"pinned"


def test_pin_reload_drops_the_unpinned_live_peer(ctx: zmq.Context, pki: Pki, server_pem: str
                                                 ) -> None:
    """Row 59: a reload that removes a live client's pin disconnects it, only it."""
    keep_pem = pki.leaf("keep", common_name="keep")
    drop_pem = pki.leaf("drop", common_name="drop")
    router, ep = bind_tls(ctx, zmq.ROUTER, tls_cert=server_pem, tls_ca=pki.ca_file,
                          tls_require_client_cert=1,
                          tls_pins=[pin_of(keep_pem), pin_of(drop_pem)])
    events = Events(router)
    clients = {}
    for name, pem in (("keep", keep_pem), ("drop", drop_pem)):
        d = connect_tls(ctx, zmq.DEALER, ep, tls_ca=pki.ca_file, tls_cert=pem,
                        routing_id=name.encode())
        d.send(b"hello")
        clients[name] = d
    keep_events = Events(clients["keep"])
    got = {router.recv_multipart()[0] for _ in range(2)}
    assert got == {b"keep", b"drop"}
    router.tls_pins = [pin_of(keep_pem)]
    router.reload_tls()
    events.wait(zmq.EVENT_DISCONNECTED)
    # The dropped client comes back (it cannot know why it was cut) and is refused.
    assert events.wait(AUTH) == TlsReason.PIN_MISMATCH
    assert zmq.EVENT_DISCONNECTED not in [e for e, _ in keep_events.quiet()]
    clients["keep"].send(b"still here")
    assert router.recv_multipart() == [b"keep", b"still here"]
    router.router_mandatory = 1
    with pytest.raises(zmq.ZMQError) as exc:
        router.send_multipart([b"drop", b"gone?"])
    assert exc.value.errno == zmq.EHOSTUNREACH


def test_plain_tcp_peer_on_a_tls_port(ctx: zmq.Context, server_pem: str) -> None:
    pull, ep = bind_tls(ctx, zmq.PULL, tls_cert=server_pem)
    events = Events(pull)
    push = ctx.socket(zmq.PUSH)
    push.linger = 0
    push.connect(ep.replace("tls+tcp", "tcp"))
    try_send(push, b"clear text")
    assert events.wait(PROTO) == TlsReason.NOT_TLS
    assert_nothing_received(pull)


def test_garbage_on_a_tls_port_closes_only_that_connection(ctx: zmq.Context, pki: Pki,
                                                           server_pem: str) -> None:
    pull, ep = bind_tls(ctx, zmq.PULL, tls_cert=server_pem)
    events = Events(pull)
    good = connect_tls(ctx, zmq.PUSH, ep, tls_ca=pki.ca_file)
    good.send(b"first")
    assert pull.recv() == b"first"
    host, port = ep.rsplit("/", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(port))) as raw:
        raw.sendall(b"\x16\x03\x01\xff\xff" + os.urandom(2000))
        events.wait(PROTO)
    good.send(b"second")
    assert pull.recv() == b"second"


# -- configuration refused at bind/connect (row 60) ------------------------------------------


def test_misconfiguration_is_refused(ctx: zmq.Context, pki: Pki, server_pem: str,
                                     client_pem: str, tmp_path: Path) -> None:
    def bind_error(**opts: Any) -> zmq.ZMQError:
        s = ctx.socket(zmq.PULL)
        s.linger = 0
        for k, v in opts.items():
            setattr(s, k, v)
        with pytest.raises(zmq.ZMQError) as exc:
            s.bind("tls+tcp://127.0.0.1:*")
        s.close()
        return exc.value

    err = bind_error(tls_cert=server_pem, tls_require_client_cert=1)
    assert err.errno == errno.EINVAL and "tls_ca" in str(err)
    assert bind_error().errno == errno.EINVAL  # a server with no certificate
    err = bind_error(tls_cert=str(tmp_path / "missing.pem"))
    assert err.errno == errno.ENOENT and "missing.pem" in str(err)
    # A key that does not belong to the certificate.
    cert_only = tmp_path / "cert-only.pem"
    pem = Path(server_pem).read_text()
    cert_only.write_text(pem[pem.index("-----BEGIN CERTIFICATE-----"):])
    other_key = tmp_path / "other-key.pem"
    other = Path(client_pem).read_text()
    key_end = other.index("-----END", other.index("PRIVATE KEY"))
    other_key.write_text(other[other.index("-----BEGIN"):other.index("\n", key_end) + 1])
    err = bind_error(tls_cert=str(cert_only), tls_key=str(other_key))
    assert err.errno == errno.EINVAL and "does not match" in str(err)
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    assert bind_error(tls_cert=server_pem, tls_ca=str(not_pem)).errno == errno.EINVAL

    # Found by writing docs/tls.md: each was a late or misleading failure before.
    err = bind_error(tls_cert=str(cert_only), tls_key=str(tmp_path / "no-key.pem"))
    assert err.errno == errno.ENOENT and "no-key.pem" in str(err)
    err = bind_error(tls_cert=str(cert_only))
    assert err.errno == errno.EINVAL and "private key" in str(err)
    from cryptography.hazmat.primitives import serialization as ser
    key = ser.load_pem_private_key(other_key.read_bytes(), None)
    encrypted = tmp_path / "encrypted-key.pem"
    encrypted.write_bytes(key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8,
                                            ser.BestAvailableEncryption(b"pass")))
    err = bind_error(tls_cert=str(cert_only), tls_key=str(encrypted))  # no prompt
    assert err.errno == errno.EINVAL and "encrypted" in str(err)
    err = bind_error(tls_cert=server_pem, tls_pins=pin_of(client_pem))
    assert err.errno == errno.EINVAL and "tls_ca" in str(err)
    err = bind_error(ssl_context=ssl.create_default_context())  # a client context
    assert err.errno == errno.EINVAL and "server" in str(err)
    wrong_role = ctx.socket(zmq.PUSH)
    wrong_role.ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with pytest.raises(zmq.ZMQError) as exc:
        wrong_role.connect("tls+tcp://127.0.0.1:5555")
    assert exc.value.errno == errno.EINVAL
    wrong_role.close(0)

    c = ctx.socket(zmq.PUSH)
    c.linger = 0
    c.tls_verify = 0
    with pytest.raises(zmq.ZMQError) as exc:
        c.connect("tls+tcp://127.0.0.1:5555")  # unverified and unpinned: anyone
    assert exc.value.errno == errno.EINVAL
    with pytest.raises(zmq.ZMQError) as exc:
        c.tls_pins = "sha256//not-base64!"
    assert exc.value.errno == errno.EINVAL
    with pytest.raises(zmq.ZMQError):
        c.tls_min_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(TypeError):
        c.ssl_context = "not a context"
    c.close()


def test_options_by_attribute_and_setsockopt(ctx: zmq.Context, tmp_path: Path) -> None:
    s = ctx.socket(zmq.DEALER)
    s.tls_cert = tmp_path / "a.pem"  # path-like
    assert s.tls_cert == str(tmp_path / "a.pem")
    s.setsockopt(zmq.TLS_CA, b"/etc/ca.pem")
    assert s.getsockopt(zmq.TLS_CA) == "/etc/ca.pem"
    s.setsockopt_string(zmq.TLS_HOSTNAME, "broker")
    assert s.getsockopt_string(zmq.TLS_HOSTNAME) == "broker"
    assert s.tls_verify == 1 and s.tls_require_client_cert == 0
    assert s.tls_min_version == ssl.TLSVersion.TLSv1_2
    assert s.ssl_context is None
    s.close()


def test_strict_mode_allows_plain_under_tls_only(tmp_path: Path, server_pem: str) -> None:
    with zmq.Context(strict=True) as strict:
        for transport, refused in (("tcp", True), ("tls+tcp", False)):
            s = strict.socket(zmq.DEALER)
            s.linger = 0
            s.plain_username, s.plain_password = b"u", b"p"
            s.tls_ca = server_pem
            if refused:
                with pytest.raises(zmq.ZMQError) as exc:
                    s.connect(f"{transport}://192.0.2.1:5555")
                assert exc.value.errno == errno.EACCES
            else:
                s.connect(f"{transport}://192.0.2.1:5555")
            s.close()


# -- identity, ZAP and mechanisms above TLS (row 61) ------------------------------------------


def tls_identity_policy(req: ZapRequest) -> list[bytes]:
    """Admit TLS peers whose certificate CN starts with ``client``; User-Id is the CN."""
    der = req.credentials[-1] if req.credentials else b""
    if not der:
        return reply(req, b"400", b"no certificate")
    cert = x509.load_der_x509_certificate(der)
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert isinstance(cn, str)
    if not cn.startswith("client"):
        return reply(req, b"400", b"not a client")
    return reply(req, b"200", b"OK", f"tls:{cn}".encode())


def test_tls_identity_reaches_zap_and_user_id(ctx: zmq.Context, pki: Pki, server_pem: str,
                                              client_pem: str) -> None:
    with ZapHandler(ctx, tls_identity_policy) as zap:
        pull, ep = bind_tls(ctx, zmq.PULL, tls_cert=server_pem, tls_ca=pki.ca_file,
                            tls_require_client_cert=1)
        events = Events(pull)
        push = connect_tls(ctx, zmq.PUSH, ep, tls_ca=pki.ca_file, tls_cert=client_pem)
        push.send(b"who am i")
        frame = pull.recv(copy=False)
        assert frame.bytes == b"who am i"
        assert frame.get("User-Id") == "tls:client-a"
        assert frame.get("Peer-Address") == "127.0.0.1"
        req = zap.requests[0]
        assert req.mechanism == b"NULL" and len(req.credentials) == 1
        assert format_pin(spki_sha256(req.credentials[0])) == pin_of(client_pem)
        # Another client of the same CA whose name the policy refuses.
        other = connect_tls(ctx, zmq.PUSH, ep, tls_ca=pki.ca_file,
                            tls_cert=pki.leaf("server-b", common_name="server-b"))
        try_send(other, b"refused")
        assert events.wait(AUTH) == 400
        assert_nothing_received(pull)


def test_zap_sees_an_empty_certificate_frame_without_client_cert(
        ctx: zmq.Context, pki: Pki, server_pem: str) -> None:
    with ZapHandler(ctx, tls_identity_policy) as zap:
        pull, ep = bind_tls(ctx, zmq.PULL, tls_cert=server_pem)
        events = Events(pull)
        push = connect_tls(ctx, zmq.PUSH, ep, tls_ca=pki.ca_file)
        try_send(push, b"anonymous")
        assert events.wait(AUTH) == 400
        assert zap.requests[0].credentials == [b""]


@pytest.mark.parametrize("mechanism", ["PLAIN", "CURVE"])
def test_mechanisms_over_tls_with_the_authenticator(ctx: zmq.Context, pki: Pki,
                                                    server_pem: str, client_pem: str,
                                                    mechanism: str) -> None:
    from securemq.auth.thread import ThreadAuthenticator

    auth = ThreadAuthenticator(ctx)
    auth.start()
    try:
        server_opts: dict[str, Any] = {"tls_cert": server_pem, "tls_ca": pki.ca_file,
                                       "tls_require_client_cert": 1}
        client_opts: dict[str, Any] = {"tls_ca": pki.ca_file, "tls_cert": client_pem}
        if mechanism == "PLAIN":
            auth.configure_plain(domain="*", passwords={"alice": "s3cret"})
            server_opts["plain_server"] = 1
            client_opts.update(plain_username=b"alice", plain_password=b"s3cret")
            user_id = "alice"
        else:
            spub, ssec = zmq.curve_keypair()
            cpub, csec = zmq.curve_keypair()
            auth.configure_curve(domain="*", location=zmq.auth.CURVE_ALLOW_ANY)
            server_opts.update(curve_server=1, curve_secretkey=ssec)
            client_opts.update(curve_serverkey=spub, curve_publickey=cpub,
                               curve_secretkey=csec)
            user_id = cpub.decode()
        rep, ep = bind_tls(ctx, zmq.REP, **server_opts)
        req = connect_tls(ctx, zmq.REQ, ep, **client_opts)
        req.send(b"double wrapped")
        frame = rep.recv(copy=False)
        assert frame.bytes == b"double wrapped"
        assert frame.get("User-Id") == user_id
        rep.send(b"ok")
        assert req.recv() == b"ok"
    finally:
        auth.stop()


# -- rotation and expiry --------------------------------------------------------------------


def test_rotation_under_traffic_loses_nothing(ctx: zmq.Context, pki: Pki) -> None:
    old_pem = pki.leaf("localhost", "127.0.0.1")
    new_pem = pki.leaf("localhost", "127.0.0.1")
    pull, ep = bind_tls(ctx, zmq.PULL, tls_cert=old_pem, sndhwm=0, rcvhwm=0)
    events = Events(pull)
    push = connect_tls(ctx, zmq.PUSH, ep, tls_ca=pki.ca_file, sndhwm=0)
    n = 20_000
    sent = threading.Event()

    def send_all() -> None:
        for i in range(n):
            push.send(i.to_bytes(4, "big"))
        sent.set()

    sender = threading.Thread(target=send_all)
    sender.start()
    assert pull.recv() == (0).to_bytes(4, "big")
    pull.tls_cert = new_pem
    pull.reload_tls()
    # A new client that trusts only the new key gets in: the reload took effect.
    late = connect_tls(ctx, zmq.PUSH, ep, tls_ca=pki.ca_file, tls_pins=pin_of(new_pem))
    late.send(b"late")
    got = [pull.recv() for _ in range(n)]  # n - 1 counters and "late"
    sender.join(10)
    assert sent.is_set()
    counters = sorted(int.from_bytes(g, "big") for g in got if g != b"late")
    assert b"late" in got
    assert counters == list(range(1, n))
    assert zmq.EVENT_DISCONNECTED not in [e for e, _ in events.quiet(50)]


def test_failed_reload_keeps_the_old_settings(ctx: zmq.Context, pki: Pki, server_pem: str,
                                              tmp_path: Path) -> None:
    pull, ep = bind_tls(ctx, zmq.PULL, tls_cert=server_pem)
    pull.tls_cert = str(tmp_path / "gone.pem")
    with pytest.raises(zmq.ZMQError) as exc:
        pull.reload_tls()
    assert exc.value.errno == errno.ENOENT
    push = connect_tls(ctx, zmq.PUSH, ep, tls_ca=pki.ca_file)
    push.send(b"still served")
    assert pull.recv() == b"still served"


def test_expiry_warning_ahead_of_time(ctx: zmq.Context, pki: Pki,
                                      caplog: pytest.LogCaptureFixture) -> None:
    """Row 57: a local certificate within the warning window is reported at bind."""
    caplog.set_level(logging.WARNING, logger="securemq.tls")
    pem = pki.custom("localhost", days=(-1, 5))
    s = ctx.socket(zmq.PULL)
    s.linger = 0
    s.tls_cert = pem
    events = Events(s, zmq.EVENT_TLS_CERT_EXPIRING | zmq.EVENT_LISTENING)
    s.bind("tls+tcp://127.0.0.1:*")
    left = events.wait(zmq.EVENT_TLS_CERT_EXPIRING)
    assert 4 * 86400 < left <= 5 * 86400
    assert any("expires" in r.getMessage() for r in caplog.records)
    # Outside the window: nothing.
    quiet = ctx.socket(zmq.PULL)
    quiet.linger = 0
    quiet.tls_cert = pem
    quiet.tls_expiry_warning = 86400
    events = Events(quiet, zmq.EVENT_TLS_CERT_EXPIRING)
    quiet.bind("tls+tcp://127.0.0.1:*")
    assert events.quiet() == []


# -- every pattern over tls+tcp ------------------------------------------------------------

PAIRS = [
    ("PAIR", "PAIR"), ("PUSH", "PULL"), ("REQ", "REP"), ("DEALER", "ROUTER"),
    ("REQ", "ROUTER"), ("DEALER", "REP"), ("DEALER", "DEALER"), ("PUB", "SUB"),
    ("XPUB", "SUB"), ("PUB", "XSUB"), ("XPUB", "XSUB"),
]


@pytest.fixture
def tls_pair(ctx: zmq.Context, pki: Pki, server_pem: str, client_pem: str) -> Iterator[Any]:
    def make(binder: int, connecter: int) -> tuple[zmq.Socket, zmq.Socket]:
        b, ep = bind_tls(ctx, binder, tls_cert=server_pem, tls_ca=pki.ca_file,
                         tls_require_client_cert=1)
        c = connect_tls(ctx, connecter, ep, tls_ca=pki.ca_file, tls_cert=client_pem)
        return b, c
    yield make


def _exchange(a: zmq.Socket, a_kind: str, b: zmq.Socket, b_kind: str) -> None:
    """A multipart message from ``a`` to ``b`` and, where the pattern allows, a reply."""
    body = [b"part-1", os.urandom(100_000)]
    if a_kind in ("PUB", "XPUB"):
        if b_kind == "SUB":
            b.subscribe(b"part")
        else:
            b.send(b"\x01part")
        for _ in range(100):  # until the subscription has crossed: no sleeping
            a.send_multipart(body)
            if b.poll(50):
                break
        assert b.recv_multipart() == body
        if a_kind == "XPUB":
            # A connecting XPUB reads subscriptions once it sends, as libzmq's does.
            assert a.recv() == b"\x01part"
        return
    if a_kind == "DEALER" and b_kind == "REP":
        a.send_multipart([b"", *body])
    else:
        a.send_multipart(body)
    got = b.recv_multipart()
    if b_kind == "ROUTER":
        envelope = [b""] if a_kind == "REQ" else []
        assert got[1:] == [*envelope, *body]
        b.send_multipart([got[0], *envelope, b"reply"])
        assert a.recv_multipart() == [b"reply"]
        return
    assert got == body
    if b_kind != "PULL":
        b.send(b"reply")
        assert a.recv_multipart()[-1:] == [b"reply"]


@pytest.mark.parametrize(("connecter", "binder"), PAIRS)
def test_pattern_over_tls(tls_pair: Any, connecter: str, binder: str) -> None:
    b, c = tls_pair(getattr(zmq, binder), getattr(zmq, connecter))
    _exchange(c, connecter, b, binder)


@pytest.mark.parametrize(("binder", "connecter"), [("PUB", "SUB"), ("XPUB", "XSUB"),
                                                   ("ROUTER", "DEALER"), ("PULL", "PUSH")])
def test_pattern_over_tls_reversed_roles(tls_pair: Any, binder: str, connecter: str) -> None:
    b, c = tls_pair(getattr(zmq, binder), getattr(zmq, connecter))
    if binder in ("PUB", "XPUB"):
        _exchange(b, binder, c, connecter)
    elif binder == "ROUTER":
        c.send(b"hi")
        rid, body = b.recv_multipart()
        assert body == b"hi"
        b.send_multipart([rid, b"back"])
        assert c.recv() == b"back"
    else:
        c.send(b"pushed")
        assert b.recv() == b"pushed"


def test_stream_socket_over_tls(ctx: zmq.Context, pki: Pki, server_pem: str) -> None:
    """A STREAM socket serves a plain Python TLS client: raw bytes under TLS."""
    stream, ep = bind_tls(ctx, zmq.STREAM, tls_cert=server_pem)
    host, port = ep.rsplit("/", 1)[1].rsplit(":", 1)
    client_ctx = ssl.create_default_context(cafile=pki.ca_file)
    with socket.create_connection((host, int(port)), timeout=5) as raw, \
            client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        rid, empty = stream.recv_multipart()  # connect notification
        assert empty == b""
        tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while not data.endswith(b"\r\n\r\n"):
            got_rid, chunk = stream.recv_multipart()
            assert got_rid == rid
            data += chunk
        stream.send_multipart([rid, b"HTTP/1.0 200 OK\r\n\r\nhello"])
        stream.send_multipart([rid, b""])  # close
        reply_data = b""
        while chunk := tls.recv(1024):
            reply_data += chunk
        assert reply_data == b"HTTP/1.0 200 OK\r\n\r\nhello"


def test_authenticator_tls_policy_end_to_end(ctx: zmq.Context, pki: Pki, server_pem: str
                                             ) -> None:
    """Row 61 with the library's authenticator: configure_tls admits by subject and
    maps the certificate to the User-Id; a certificate of the same CA for another
    name is refused with 400."""
    from securemq.auth.thread import ThreadAuthenticator

    sensor = pki.leaf("sensor-7.edge.example", common_name="sensor-7")
    intruder = pki.leaf("laptop.example", common_name="laptop")
    auth = ThreadAuthenticator(ctx)
    auth.start()
    try:
        auth.configure_tls("*", cas=pki.ca_file, subjects=["sensor-7.edge.example"])
        pull, ep = bind_tls(ctx, zmq.PULL, tls_cert=server_pem, tls_ca=pki.ca_file,
                            tls_require_client_cert=1)
        events = Events(pull)
        good = connect_tls(ctx, zmq.PUSH, ep, tls_ca=pki.ca_file, tls_cert=sensor)
        good.send(b"reading")
        frame = pull.recv(copy=False)
        assert frame.get("User-Id") == "sensor-7.edge.example"
        bad = connect_tls(ctx, zmq.PUSH, ep, tls_ca=pki.ca_file, tls_cert=intruder)
        try_send(bad, b"let me in")
        assert events.wait(AUTH) == 400
        assert_nothing_received(pull)
    finally:
        auth.stop()
