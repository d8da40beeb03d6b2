"""The sans-IO TLS filter (:mod:`securemq.transport.tls`), with no sockets.

A two-peer harness (:class:`Wire`) joins a client and a server :class:`TlsFilter` in
memory: what one owes the network (``send()`` output, then ``data_to_send()``) reaches the
other's ``receive()``, cut into pieces by a split plan (whole, byte by byte, cycled sizes).
Certificates come from trustme; the ones trustme cannot make (expired, not yet valid,
client-only EKU) are built with cryptography and signed by the same CA. Failures are the
real ones OpenSSL raises, so ``classify`` is checked against what it will meet, and once
more against a table of the reasons it knows.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import random
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from tls_certs import custom_leaf

from securemq.constants import Event
from securemq.transport.tls import (
    TlsAuthFailure,
    TlsFailure,
    TlsFilter,
    TlsProtocolFailure,
    TlsReason,
    TlsSettings,
    classify,
    format_pin,
    parse_pin,
    parse_pins,
    spki_sha256,
)
from securemq.zmtp.frames import Buffer
from securemq.zmtp.greeting import build_greeting

# -- certificates and contexts ---------------------------------------------------------------


class Pki:
    """A trustme CA (and an unrelated one), the leaves they issue, and contexts on them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca = trustme.CA()
        self.other_ca = trustme.CA()
        self.server = self.ca.issue_cert("localhost", "127.0.0.1")
        self.client = self.ca.issue_cert("client.example", common_name="client")
        self._n = 0

    def server_context(self, leaf: trustme.LeafCert | str | None = None,
                       client_certs: ssl.VerifyMode = ssl.CERT_NONE,
                       minimum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
        """A TLS server with ``leaf`` (a trustme leaf or a PEM path; default localhost)
        that asks for client certificates of the CA unless ``client_certs`` is CERT_NONE."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        _load(ctx, leaf or self.server)
        if client_certs != ssl.CERT_NONE:
            self.ca.configure_trust(ctx)
            ctx.verify_mode = client_certs
        if minimum is not None:
            ctx.minimum_version = minimum
        return ctx

    def client_context(self, leaf: trustme.LeafCert | str | None = None,
                       ca: trustme.CA | None = None,
                       maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
        """A TLS client trusting ``ca`` (default the CA), presenting ``leaf`` if any."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        (ca or self.ca).configure_trust(ctx)
        if leaf is not None:
            _load(ctx, leaf)
        if maximum is not None:
            ctx.maximum_version = maximum
        return ctx

    def custom(self, name: str, days: tuple[int, int] = (-1, 30),
               eku: list[x509.ObjectIdentifier] | None = None) -> str:
        """A leaf for ``name`` signed by the CA with chosen validity (days from now) and
        extended key usage, built with cryptography; the path of its PEM (cert + key)."""
        self._n += 1
        path = self.root / f"custom{self._n}.pem"
        path.write_bytes(custom_leaf(self.ca, name, days=days, eku=eku))
        return str(path)


def _load(ctx: ssl.SSLContext, leaf: trustme.LeafCert | str) -> None:
    if isinstance(leaf, str):
        ctx.load_cert_chain(leaf)
    else:
        leaf.configure_cert(ctx)


def der_of(leaf: trustme.LeafCert) -> bytes:
    """The DER of a trustme leaf (the first certificate of its chain)."""
    return ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("tls-filter"))


@pytest.fixture(scope="module")
def contexts(pki: Pki) -> dict[str, ssl.SSLContext]:
    """The contexts most tests share, built once (hypothesis reuses them per example)."""
    return {
        "server": pki.server_context(),
        "server-mutual": pki.server_context(client_certs=ssl.CERT_OPTIONAL),
        "client": pki.client_context(),
        "client-cert": pki.client_context(leaf=pki.client),
    }


def server_filter(ctx: ssl.SSLContext, pins: frozenset[bytes] = frozenset()) -> TlsFilter:
    return TlsFilter(TlsSettings(ctx, pins), server_side=True)


def client_filter(ctx: ssl.SSLContext, pins: frozenset[bytes] = frozenset(),
                  hostname: str = "localhost") -> TlsFilter:
    return TlsFilter(TlsSettings(ctx, pins, hostname), server_side=False)


# -- the two-peer harness --------------------------------------------------------------------

#: A split plan: the sizes pieces are cut to, cycled; () delivers each flight whole.
Split = tuple[int, ...]
WHOLE: Split = ()
BYTEWISE: Split = (1,)


def pieces(data: bytes, split: Split) -> Iterator[bytes]:
    """Cut ``data`` as ``split`` says (never an empty piece)."""
    if not split:
        if data:
            yield data
        return
    i = 0
    for n in itertools.cycle(split):
        if i >= len(data):
            return
        yield data[i:i + n]
        i += n


def random_split(seed: int, top: int, count: int = 997) -> Split:
    """``count`` pseudo-random sizes in 1..``top``, a pure function of ``seed``."""
    rng = random.Random(seed)
    return tuple(rng.randint(1, top) for _ in range(count))


class Wire:
    """A client and a server filter joined in memory, each direction cut by a split plan.

    ``send`` seals plaintext on one side and queues its ciphertext; ``run`` shuttles the
    queued ciphertext and each side's ``data_to_send()`` until both are quiet, collecting
    the plaintext each side's ``receive()`` returns. A TlsFailure propagates to the test.
    """

    def __init__(self, client: TlsFilter, server: TlsFilter,
                 to_server: Split = WHOLE, to_client: Split = WHOLE) -> None:
        self.client = client
        self.server = server
        self.splits = {id(server): to_server, id(client): to_client}
        #: Ciphertext in flight towards each side (keyed by the receiver).
        self.flight = {id(server): bytearray(), id(client): bytearray()}
        #: Plaintext each side has received.
        self.plain = {id(server): bytearray(), id(client): bytearray()}

    def peer(self, side: TlsFilter) -> TlsFilter:
        return self.server if side is self.client else self.client

    def send(self, side: TlsFilter, *buffers: Buffer) -> None:
        self.flight[id(self.peer(side))] += side.send(buffers)

    def at(self, side: TlsFilter) -> bytes:
        """The plaintext ``side`` has received so far."""
        return bytes(self.plain[id(side)])

    def _deliver(self, src: TlsFilter) -> bool:
        dst = self.peer(src)
        flight = self.flight[id(dst)]
        flight += src.data_to_send()
        if not flight:
            return False
        data = bytes(flight)
        flight.clear()
        for piece in pieces(data, self.splits[id(dst)]):
            got = dst.receive(piece)
            assert type(got) is bytes
            if not dst.established:
                assert got == b"", "plaintext before the peer was verified"
            self.plain[id(dst)] += got
        return True

    def run(self, rounds: int = 50) -> None:
        for _ in range(rounds):
            moved = self._deliver(self.client)
            moved = self._deliver(self.server) or moved
            if not moved:
                assert not self.client.wants_write and not self.server.wants_write
                return
        raise AssertionError("the peers never went quiet")


def connected(contexts: dict[str, ssl.SSLContext], to_server: Split = WHOLE,
              to_client: Split = WHOLE) -> Wire:
    """A wire between the default client and server, handshake done."""
    wire = Wire(client_filter(contexts["client"]), server_filter(contexts["server"]),
                to_server, to_client)
    wire.run()
    assert wire.client.established and wire.server.established
    return wire


def failure(wire: Wire) -> tuple[TlsFilter, TlsFailure, TlsFailure | None]:
    """Run ``wire`` until a side fails; hand its last words (an alert, if any) to the other.

    Returns the side that failed, its failure, and the other side's (None if it took the
    alert quietly).
    """
    with pytest.raises(TlsFailure) as first:
        wire.run()
    assert wire.client.failed != wire.server.failed, "exactly one side fails first"
    failed = wire.client if wire.client.failed else wire.server
    assert not failed.established
    other = wire.peer(failed)
    second: TlsFailure | None = None
    try:
        other.receive(failed.data_to_send())
    except TlsFailure as exc:
        second = exc
        assert other.failed
    return failed, first.value, second


# -- the handshake and the plaintext around it ------------------------------------------------


def test_handshake_completes_on_both_sides(contexts: dict[str, ssl.SSLContext]) -> None:
    client = client_filter(contexts["client"])
    server = server_filter(contexts["server"])
    assert not client.established and not server.established
    # The client speaks first: its ClientHello is pending from the start.
    assert client.wants_write and not server.wants_write
    wire = Wire(client, server)
    wire.run()
    for side in (client, server):
        assert side.established and not side.failed and not side.eof
        assert side.version == "TLSv1.3"
        assert not side.wants_write and side.data_to_send() == b""


def test_client_speaks_only_handshake_records_before_it_is_established(
        contexts: dict[str, ssl.SSLContext]) -> None:
    client = client_filter(contexts["client"])
    hello = client.send([b"greeting"])  # held: what leaves is the ClientHello alone
    assert hello[:1] == b"\x16" and len(hello) == 5 + int.from_bytes(hello[3:5], "big")
    assert b"greeting" not in hello
    assert client.send([b"more"]) == b"" and client.data_to_send() == b""


def test_plaintext_sent_before_the_handshake_is_held_then_delivered_in_order(
        contexts: dict[str, ssl.SSLContext]) -> None:
    wire = Wire(client_filter(contexts["client"]), server_filter(contexts["server"]))
    client, server = wire.client, wire.server
    wire.send(client, b"one", b"two")
    wire.send(server, b"ONE")
    wire.send(client, bytearray(b"three"), memoryview(b"four"))
    assert server.send([b"TWO"]) == b"", "a server has nothing to say before a ClientHello"
    wire.run()
    wire.send(client, b"five")
    wire.send(server, b"THREE")
    wire.run()
    assert wire.at(server) == b"onetwothreefourfive"
    assert wire.at(client) == b"ONETWOTHREE"


def test_server_plaintext_waits_for_the_client_finished(
        contexts: dict[str, ssl.SSLContext]) -> None:
    # TLS 1.3: the server could send data after its first flight; the filter holds it
    # until the client's certificate (if asked for) and Finished were checked.
    client = client_filter(contexts["client-cert"])
    server = server_filter(contexts["server-mutual"])
    server.send([b"ZMTP greeting"])
    assert server.receive(client.data_to_send()) == b""
    assert not server.established
    assert client.receive(server.data_to_send()) == b""
    assert client.established
    assert server.receive(client.data_to_send()) == b""
    assert server.established
    assert client.receive(server.data_to_send()) == b"ZMTP greeting"


def test_peer_certificate_and_pin_without_client_certificate(
        pki: Pki, contexts: dict[str, ssl.SSLContext]) -> None:
    wire = Wire(client_filter(contexts["client"]), server_filter(contexts["server-mutual"]))
    wire.run()
    assert wire.server.peer_certificate is None and wire.server.peer_pin == b""
    assert wire.client.peer_certificate == der_of(pki.server)
    assert wire.client.peer_pin == spki_sha256(der_of(pki.server))
    assert len(wire.client.peer_pin) == 32


def test_mutual_tls_shows_each_side_the_other_certificate(
        pki: Pki, contexts: dict[str, ssl.SSLContext]) -> None:
    wire = Wire(client_filter(contexts["client-cert"]),
                server_filter(contexts["server-mutual"]))
    wire.run()
    assert wire.server.peer_certificate == der_of(pki.client)
    assert wire.server.peer_pin == spki_sha256(der_of(pki.client))
    assert wire.client.peer_certificate == der_of(pki.server)
    assert wire.client.peer_pin == spki_sha256(der_of(pki.server))
    assert wire.client.peer_pin != wire.server.peer_pin


def test_a_server_that_asks_for_no_certificate_gets_none(
        contexts: dict[str, ssl.SSLContext]) -> None:
    wire = Wire(client_filter(contexts["client-cert"]), server_filter(contexts["server"]))
    wire.run()
    assert wire.server.established
    assert wire.server.peer_certificate is None and wire.server.peer_pin == b""


# -- pins ------------------------------------------------------------------------------------


def test_matching_pins_on_both_sides(pki: Pki, contexts: dict[str, ssl.SSLContext]) -> None:
    server_pin = spki_sha256(der_of(pki.server))
    client_pin = spki_sha256(der_of(pki.client))
    decoy = hashlib.sha256(b"decoy").digest()
    wire = Wire(client_filter(contexts["client-cert"], frozenset({decoy, server_pin})),
                server_filter(contexts["server-mutual"], frozenset({client_pin, decoy})))
    wire.send(wire.client, b"ping")
    wire.run()
    assert wire.client.established and wire.server.established
    assert wire.at(wire.server) == b"ping"


@pytest.mark.parametrize("side", ["client", "server"])
def test_pin_mismatch(pki: Pki, contexts: dict[str, ssl.SSLContext], side: str) -> None:
    wrong = frozenset({hashlib.sha256(b"someone else").digest()})
    wire = Wire(client_filter(contexts["client-cert"], wrong if side == "client" else
                              frozenset()),
                server_filter(contexts["server-mutual"], wrong if side == "server" else
                              frozenset()))
    wire.send(wire.client, b"client secret")
    wire.send(wire.server, b"server secret")
    with pytest.raises(TlsAuthFailure) as exc:
        wire.run()
    failed = wire.client if side == "client" else wire.server
    other = wire.peer(failed)
    assert exc.value.tls_reason is TlsReason.PIN_MISMATCH
    assert exc.value.event == Event.HANDSHAKE_FAILED_AUTH
    assert exc.value.event_value == 606
    assert failed.failed and not failed.established
    # The refused key is known, for the audit log.
    refused = pki.client if side == "server" else pki.server
    assert failed.peer_pin == spki_sha256(der_of(refused))
    # Dead: send seals nothing and returns only what was pending; receive reads nothing.
    last_words = failed.send([b"after the failure"])
    assert failed.data_to_send() == b"" and not failed.wants_write
    assert failed.send([b"again"]) == b""
    assert failed.receive(b"\x17\x03\x03\x00\x05hello") == b""
    assert failed.receive(b"") == b""
    assert failed.failed and not failed.established
    # Its held plaintext never reaches the peer, whatever the peer makes of its last words.
    if last_words:
        assert other.receive(last_words) == b""
    assert wire.at(other) == b""


# -- any split, same plaintext ---------------------------------------------------------------

splits = st.one_of(
    st.just(WHOLE), st.just(BYTEWISE),
    st.lists(st.integers(1, 700), min_size=1, max_size=6).map(tuple),
    st.integers(0, 2**32).map(lambda seed: random_split(seed, 3000, 50)),
)
payloads = st.lists(st.binary(max_size=3000), max_size=6)


@settings(max_examples=60, deadline=None)
@given(early_c=payloads, early_s=payloads, later_c=payloads, later_s=payloads,
       to_server=splits, to_client=splits)
def test_any_split_gives_the_same_plaintext(
        contexts: dict[str, ssl.SSLContext], early_c: list[bytes], early_s: list[bytes],
        later_c: list[bytes], later_s: list[bytes], to_server: Split,
        to_client: Split) -> None:
    wire = Wire(client_filter(contexts["client"]), server_filter(contexts["server"]),
                to_server, to_client)
    client, server = wire.client, wire.server
    for a, b in itertools.zip_longest(early_c, early_s):
        if a is not None:
            wire.send(client, a)
        if b is not None:
            wire.send(server, b)
    wire.run()
    assert client.established and server.established
    for i, (a, b) in enumerate(itertools.zip_longest(later_c, later_s)):
        if a is not None:
            wire.send(client, a)
        if b is not None:
            wire.send(server, b)
        if i % 2:
            wire.run()
    wire.run()
    assert wire.at(server) == b"".join(early_c + later_c)
    assert wire.at(client) == b"".join(early_s + later_s)


@settings(max_examples=40, deadline=None)
@given(bodies=st.lists(st.binary(min_size=1, max_size=40000), min_size=1, max_size=4),
       split=splits, sizes=st.lists(st.integers(0, 20000), min_size=1, max_size=5))
def test_feed_then_read_into_gives_what_receive_gives(
        contexts: dict[str, ssl.SSLContext], bodies: list[bytes], split: Split,
        sizes: list[int]) -> None:
    # The engine's path for large frames: feed() the ciphertext, then read_into() the
    # frame's buffer (of any size, 0 included), read() the rest.
    wire = connected(contexts)
    cipher = b"".join(wire.client.send([b]) for b in bodies)
    server = wire.server
    got = bytearray()
    size = itertools.cycle(sizes)
    for piece in pieces(cipher, split):
        if not server.feed(piece):
            continue
        while True:
            n = next(size)
            if n % 3 == 0:
                chunk = server.read()
                if not chunk:
                    break
                got += chunk
                continue
            buf = bytearray(n)
            count = server.read_into(memoryview(buf))
            assert 0 <= count <= n
            if not count:
                break
            got += buf[:count]
    while chunk := server.read():
        got += chunk
    assert got == b"".join(bodies)
    assert not server.failed and not server.eof


MIB = 1 << 20
LARGE_SPLITS = {
    "whole": WHOLE,
    "one-record-and-a-byte": (16384 + 22 + 1,),
    "small-random": random_split(1, 64),
    "large-random": random_split(2, 70000),
}


@pytest.mark.parametrize("early", [False, True], ids=["after", "held"])
@pytest.mark.parametrize("split", LARGE_SPLITS.values(), ids=LARGE_SPLITS.keys())
def test_one_mebibyte_both_ways(contexts: dict[str, ssl.SSLContext], split: Split,
                                early: bool) -> None:
    payload = random.Random(7).randbytes(MIB)
    wire = Wire(client_filter(contexts["client"]), server_filter(contexts["server"]),
                split, split)
    if not early:
        wire.run()
    wire.send(wire.client, payload)
    wire.send(wire.server, payload[::-1])
    wire.run()
    assert wire.at(wire.server) == payload
    assert wire.at(wire.client) == payload[::-1]


def test_records_split_byte_by_byte_across_a_record_boundary(
        contexts: dict[str, ssl.SSLContext]) -> None:
    wire = connected(contexts, BYTEWISE, BYTEWISE)
    payload = random.Random(8).randbytes(40000)  # three records each way
    wire.send(wire.client, payload)
    wire.send(wire.server, payload[::-1])
    wire.run()
    assert wire.at(wire.server) == payload
    assert wire.at(wire.client) == payload[::-1]


@pytest.mark.parametrize("split", [WHOLE, BYTEWISE, random_split(3, 100)],
                         ids=["whole", "bytewise", "random"])
def test_many_small_sends(contexts: dict[str, ssl.SSLContext], split: Split) -> None:
    rng = random.Random(9)
    sends = [rng.randbytes(rng.randint(1, 16)) for _ in range(3000)]
    wire = Wire(client_filter(contexts["client"]), server_filter(contexts["server"]),
                split, split)
    for body in sends[:100]:  # some held before the handshake
        wire.send(wire.client, body)
    wire.run()
    for i, body in enumerate(sends[100:]):
        wire.send(wire.client, body)
        wire.send(wire.server, body)
        if i % 500 == 0:
            wire.run()
    wire.run()
    assert wire.at(wire.server) == b"".join(sends)
    assert wire.at(wire.client) == b"".join(sends[100:])


# -- classify: the failures OpenSSL really raises ----------------------------------------------


def test_unknown_ca(pki: Pki, contexts: dict[str, ssl.SSLContext]) -> None:
    wire = Wire(client_filter(pki.client_context(ca=pki.other_ca)),
                server_filter(contexts["server"]))
    failed, first, second = failure(wire)
    assert failed is wire.client
    assert type(first) is TlsAuthFailure and first.tls_reason is TlsReason.UNKNOWN_CA
    # The client's alert tells the server it was refused.
    assert type(second) is TlsAuthFailure and second.tls_reason is TlsReason.PEER_REFUSED


def test_untrusted_client_certificate(pki: Pki, contexts: dict[str, ssl.SSLContext]) -> None:
    stranger = pki.other_ca.issue_cert("client.example")
    wire = Wire(client_filter(pki.client_context(leaf=stranger)),
                server_filter(contexts["server-mutual"]))
    failed, first, second = failure(wire)
    assert failed is wire.server
    assert type(first) is TlsAuthFailure and first.tls_reason is TlsReason.UNKNOWN_CA
    assert type(second) is TlsAuthFailure and second.tls_reason is TlsReason.PEER_REFUSED


@pytest.mark.parametrize("hostname", ["other.example", "192.0.2.1"])
def test_hostname_mismatch(contexts: dict[str, ssl.SSLContext], hostname: str) -> None:
    wire = Wire(client_filter(contexts["client"], hostname=hostname),
                server_filter(contexts["server"]))
    failed, first, second = failure(wire)
    assert failed is wire.client
    assert type(first) is TlsAuthFailure and first.tls_reason is TlsReason.HOSTNAME_MISMATCH
    assert second is not None and second.tls_reason is TlsReason.PEER_REFUSED


def test_hostname_matches_an_ip_san(contexts: dict[str, ssl.SSLContext]) -> None:
    wire = Wire(client_filter(contexts["client"], hostname="127.0.0.1"),
                server_filter(contexts["server"]))
    wire.run()
    assert wire.client.established and wire.server.established


@pytest.mark.parametrize(("days", "reason"), [
    ((-30, -1), TlsReason.EXPIRED),
    ((1, 30), TlsReason.NOT_YET_VALID),
], ids=["expired", "not-yet-valid"])
def test_server_certificate_outside_its_validity(
        pki: Pki, contexts: dict[str, ssl.SSLContext], days: tuple[int, int],
        reason: TlsReason) -> None:
    wire = Wire(client_filter(contexts["client"]),
                server_filter(pki.server_context(pki.custom("localhost", days))))
    failed, first, second = failure(wire)
    assert failed is wire.client
    assert type(first) is TlsAuthFailure and first.tls_reason is reason
    assert second is not None and second.tls_reason is TlsReason.PEER_REFUSED


def test_expired_client_certificate(pki: Pki, contexts: dict[str, ssl.SSLContext]) -> None:
    expired = pki.custom("client.example", (-30, -1))
    wire = Wire(client_filter(pki.client_context(leaf=expired)),
                server_filter(contexts["server-mutual"]))
    failed, first, second = failure(wire)
    assert failed is wire.server
    assert type(first) is TlsAuthFailure and first.tls_reason is TlsReason.EXPIRED
    # TLS 1.3: the client was done already; the alert reaches it as a refusal.
    assert second is not None and second.tls_reason is TlsReason.PEER_REFUSED


def test_server_certificate_for_client_auth_only(pki: Pki,
                                                 contexts: dict[str, ssl.SSLContext]) -> None:
    leaf = pki.custom("localhost", eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    wire = Wire(client_filter(contexts["client"]), server_filter(pki.server_context(leaf)))
    failed, first, _ = failure(wire)
    assert failed is wire.client
    assert type(first) is TlsAuthFailure and first.tls_reason is TlsReason.BAD_USAGE


@pytest.mark.parametrize(("client_max", "server_min"), [
    (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3),
], ids=["tls1.2-client-vs-tls1.3-server"])
def test_no_version_in_common(pki: Pki, client_max: ssl.TLSVersion,
                              server_min: ssl.TLSVersion) -> None:
    wire = Wire(client_filter(pki.client_context(maximum=client_max)),
                server_filter(pki.server_context(minimum=server_min)))
    failed, first, second = failure(wire)
    assert failed is wire.server
    assert type(first) is TlsAuthFailure and first.tls_reason is TlsReason.VERSION
    assert type(second) is TlsAuthFailure and second.tls_reason is TlsReason.VERSION
    assert first.event == Event.HANDSHAKE_FAILED_AUTH


@pytest.mark.parametrize("tls12", [False, True], ids=["tls1.3", "tls1.2"])
def test_no_client_certificate(pki: Pki, tls12: bool) -> None:
    client_ctx = pki.client_context(maximum=ssl.TLSVersion.TLSv1_2 if tls12 else None)
    wire = Wire(client_filter(client_ctx),
                server_filter(pki.server_context(client_certs=ssl.CERT_REQUIRED)))
    wire.send(wire.client, b"never read")
    failed, first, second = failure(wire)
    assert failed is wire.server
    assert type(first) is TlsAuthFailure and first.tls_reason is TlsReason.NO_CLIENT_CERT
    assert wire.at(wire.server) == b""
    assert second is not None
    # TLS 1.3 has an alert for it; TLS 1.2 says handshake_failure.
    assert second.tls_reason is (TlsReason.PEER_REFUSED if tls12 else TlsReason.NO_CLIENT_CERT)


NOT_TLS = {
    "zmtp-greeting": build_greeting(b"NULL", False),
    "zmtp-signature": build_greeting(b"NULL", False)[:10],
    "zmtp-plain-server": build_greeting(b"PLAIN", True),
    "http": b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "zeros": bytes(64),
    "record-too-long": b"\x16\x03\x01\xff\xff" + bytes(100),
}


@pytest.mark.parametrize("role", ["server", "client"])
@pytest.mark.parametrize("data", NOT_TLS.values(), ids=NOT_TLS.keys())
def test_bytes_that_are_not_tls(contexts: dict[str, ssl.SSLContext], role: str,
                                data: bytes) -> None:
    tls = (server_filter(contexts["server"]) if role == "server"
           else client_filter(contexts["client"]))
    tls.data_to_send()
    with pytest.raises(TlsProtocolFailure) as exc:
        tls.receive(data)
    assert exc.value.tls_reason is TlsReason.NOT_TLS
    assert exc.value.event == Event.HANDSHAKE_FAILED_PROTOCOL
    assert exc.value.event_value == 601
    assert tls.failed and not tls.established
    assert tls.receive(data) == b""


@pytest.mark.parametrize("split", [WHOLE, BYTEWISE], ids=["whole", "bytewise"])
def test_a_zmtp_greeting_fails_the_same_however_it_arrives(
        contexts: dict[str, ssl.SSLContext], split: Split) -> None:
    tls = server_filter(contexts["server"])
    greeting = build_greeting(b"NULL", False)
    with pytest.raises(TlsProtocolFailure) as exc:
        for piece in pieces(greeting, split):
            assert tls.receive(piece) == b""
    assert exc.value.tls_reason is TlsReason.NOT_TLS


def test_a_truncated_client_hello_waits(contexts: dict[str, ssl.SSLContext]) -> None:
    hello = client_filter(contexts["client"]).data_to_send()
    server = server_filter(contexts["server"])
    assert server.receive(hello[:-1]) == b""
    assert not server.failed and not server.wants_write
    assert server.receive(hello[-1:]) == b""
    assert server.wants_write  # its ServerHello


def test_a_corrupted_record_breaks_the_stream(contexts: dict[str, ssl.SSLContext]) -> None:
    wire = connected(contexts)
    sealed = bytearray(wire.client.send([b"hello"]))
    sealed[-1] ^= 0x01
    with pytest.raises(TlsProtocolFailure) as exc:
        wire.server.receive(bytes(sealed))
    assert exc.value.tls_reason is TlsReason.OTHER
    assert wire.server.failed
    assert wire.server.receive(b"\x17\x03\x03\x00\x01x") == b""


def _ssl_error(reason: str | None) -> ssl.SSLError:
    exc = ssl.SSLError(1, f"[SSL: {reason}] synthetic")
    exc.reason = reason  # type: ignore[assignment]
    exc.library = "SSL"
    return exc


def _verify_error(code: int) -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(1, "certificate verify failed")
    exc.reason = "CERTIFICATE_VERIFY_FAILED"
    exc.verify_code = code
    exc.verify_message = f"code {code}"
    return exc


# The mapping as documented: OpenSSL reason (or X509_V_ERR_* code) -> class, TlsReason.
REASONS = {
    "WRONG_VERSION_NUMBER": (TlsProtocolFailure, TlsReason.NOT_TLS),
    "HTTP_REQUEST": (TlsProtocolFailure, TlsReason.NOT_TLS),
    "HTTPS_PROXY_REQUEST": (TlsProtocolFailure, TlsReason.NOT_TLS),
    "UNKNOWN_PROTOCOL": (TlsProtocolFailure, TlsReason.NOT_TLS),
    "PACKET_LENGTH_TOO_LONG": (TlsProtocolFailure, TlsReason.NOT_TLS),
    "RECORD_LENGTH_MISMATCH": (TlsProtocolFailure, TlsReason.NOT_TLS),
    "UNEXPECTED_RECORD": (TlsProtocolFailure, TlsReason.NOT_TLS),
    "UNSUPPORTED_PROTOCOL": (TlsAuthFailure, TlsReason.VERSION),
    "NO_PROTOCOLS_AVAILABLE": (TlsAuthFailure, TlsReason.VERSION),
    "TLSV1_ALERT_PROTOCOL_VERSION": (TlsAuthFailure, TlsReason.VERSION),
    "WRONG_SSL_VERSION": (TlsAuthFailure, TlsReason.VERSION),
    "VERSION_TOO_LOW": (TlsAuthFailure, TlsReason.VERSION),
    "NO_SUITABLE_SIGNATURE_ALGORITHM": (TlsAuthFailure, TlsReason.VERSION),
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": (TlsAuthFailure, TlsReason.NO_CLIENT_CERT),
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": (TlsAuthFailure, TlsReason.NO_CLIENT_CERT),
    "SSLV3_ALERT_HANDSHAKE_FAILURE": (TlsAuthFailure, TlsReason.PEER_REFUSED),
    "SSLV3_ALERT_BAD_CERTIFICATE": (TlsAuthFailure, TlsReason.PEER_REFUSED),
    "TLSV1_ALERT_UNKNOWN_CA": (TlsAuthFailure, TlsReason.PEER_REFUSED),
    "TLSV13_ALERT_MISSING_EXTENSION": (TlsAuthFailure, TlsReason.PEER_REFUSED),
    "DECRYPTION_FAILED_OR_BAD_RECORD_MAC": (TlsProtocolFailure, TlsReason.OTHER),
    "UNEXPECTED_EOF_WHILE_READING": (TlsProtocolFailure, TlsReason.OTHER),
    None: (TlsProtocolFailure, TlsReason.OTHER),
}
VERIFY_CODES = {
    2: TlsReason.UNKNOWN_CA, 9: TlsReason.NOT_YET_VALID, 10: TlsReason.EXPIRED,
    18: TlsReason.UNKNOWN_CA, 19: TlsReason.UNKNOWN_CA, 20: TlsReason.UNKNOWN_CA,
    21: TlsReason.UNKNOWN_CA, 23: TlsReason.BAD_CERTIFICATE, 24: TlsReason.BAD_USAGE,
    26: TlsReason.BAD_USAGE, 28: TlsReason.BAD_USAGE, 62: TlsReason.HOSTNAME_MISMATCH,
    64: TlsReason.HOSTNAME_MISMATCH,
    7: TlsReason.BAD_CERTIFICATE,  # signature failure: no more specific reason
    99999: TlsReason.BAD_CERTIFICATE,
}


@pytest.mark.parametrize(("reason", "expected"), REASONS.items(), ids=map(str, REASONS))
def test_classify_table(reason: str | None,
                        expected: tuple[type[TlsFailure], TlsReason]) -> None:
    got = classify(_ssl_error(reason))
    assert (type(got), got.tls_reason) == expected
    assert got.event_value == int(expected[1])
    assert got.reason  # says why, for the log


@pytest.mark.parametrize(("code", "expected"), VERIFY_CODES.items(),
                         ids=map(str, VERIFY_CODES))
def test_classify_verification_codes(code: int, expected: TlsReason) -> None:
    got = classify(_verify_error(code))
    assert type(got) is TlsAuthFailure and got.tls_reason is expected
    assert f"code {code}" in got.reason


def test_reasons_are_distinct_and_above_zap_codes() -> None:
    values = [int(r) for r in TlsReason]
    assert len(set(values)) == len(values)
    assert min(values) >= 600


# -- close_notify ----------------------------------------------------------------------------


def test_close_before_the_handshake_says_nothing(contexts: dict[str, ssl.SSLContext]) -> None:
    client = client_filter(contexts["client"])
    hello = client.close()  # only what was pending: the ClientHello
    assert hello[:1] == b"\x16"
    assert client.close() == b""
    assert server_filter(contexts["server"]).close() == b""


def test_eof_once_both_sides_closed(contexts: dict[str, ssl.SSLContext]) -> None:
    wire = connected(contexts)
    notify = wire.client.close()
    assert notify[:1] == b"\x17"  # TLS 1.3: an encrypted alert record
    wire.server.receive(notify)
    assert wire.client.receive(wire.server.close()) == b""
    assert wire.client.eof


@pytest.mark.parametrize("closer", ["client", "server"])
def test_close_notify_sets_eof_on_the_peer(contexts: dict[str, ssl.SSLContext],
                                           closer: str) -> None:
    wire = connected(contexts)
    side = wire.client if closer == "client" else wire.server
    wire.send(side, b"last words")
    notify = side.close()
    assert notify
    peer = wire.peer(side)
    wire.run()  # delivers "last words"
    assert wire.at(peer) == b"last words"
    assert peer.receive(notify) == b""
    assert peer.eof


def test_send_after_close_seals_nothing(contexts: dict[str, ssl.SSLContext]) -> None:
    wire = connected(contexts)
    wire.client.close()
    assert wire.client.send([b"too late"]) == b""


# -- pins: format, parse, and what they hash --------------------------------------------------

DIGEST = bytes(range(32))


def test_format_pin() -> None:
    assert format_pin(DIGEST) == "sha256//" + base64.b64encode(DIGEST).decode()
    assert format_pin(DIGEST) == "sha256//AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="


@pytest.mark.parametrize("size", [0, 20, 31, 33, 64])
def test_format_pin_wants_32_bytes(size: int) -> None:
    with pytest.raises(ValueError):
        format_pin(bytes(size))


@given(st.binary(min_size=32, max_size=32))
def test_pin_round_trips(digest: bytes) -> None:
    text = format_pin(digest)
    assert parse_pin(text) == digest
    assert parse_pin(text.encode()) == digest
    assert parse_pin(f"  {text}\n") == digest
    assert parse_pin(digest.hex()) == digest
    assert parse_pin(digest.hex().upper()) == digest
    assert parse_pin(":".join(f"{b:02X}" for b in digest)) == digest
    assert parse_pins(f"{text}, {digest.hex()}\t{text}") == frozenset({digest})


def test_parse_pins() -> None:
    a, b = DIGEST, hashlib.sha256(b"b").digest()
    assert parse_pins("") == frozenset()
    assert parse_pins(" , ,\n") == frozenset()
    assert parse_pins(f"{format_pin(a)},{b.hex()}") == frozenset({a, b})
    assert parse_pins(f"{format_pin(a)}\n{format_pin(b)}".encode()) == frozenset({a, b})


REJECTED = {
    "empty": "",
    "prefix-only": "sha256//",
    "short-base64": "sha256//" + base64.b64encode(bytes(31)).decode(),
    "long-base64": "sha256//" + base64.b64encode(bytes(33)).decode(),
    "unpadded-base64": "sha256//" + base64.b64encode(DIGEST).decode().rstrip("="),
    "base64-junk": "sha256//" + "!" * 44,
    "urlsafe-base64": "sha256//" + base64.urlsafe_b64encode(b"\xff" * 32).decode(),
    "sha1": "sha1//" + base64.b64encode(bytes(20)).decode(),
    "other-algorithm": "sha384//" + base64.b64encode(DIGEST).decode(),
    "hex-62": DIGEST.hex()[:-2],
    "hex-66": DIGEST.hex() + "00",
    "hex-odd": DIGEST.hex()[:-1],
    "hex-junk": "zz" * 32,
    "non-ascii": "é" * 64,
    "bare-base64": base64.b64encode(DIGEST).decode(),
}


@pytest.mark.parametrize("text", REJECTED.values(), ids=REJECTED.keys())
def test_parse_pin_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a SHA-256 pin"):
        parse_pin(text)
    with pytest.raises(ValueError):
        parse_pin(text.encode())


def test_parse_pins_rejects_one_bad_pin() -> None:
    with pytest.raises(ValueError):
        parse_pins(f"{format_pin(DIGEST)}, sha256//nope")


pin_like = st.one_of(
    st.text(),
    st.text(alphabet="0123456789abcdefABCDEF: \t\n"),
    st.text(alphabet="ABCDEFabcdef0123456789+/=").map(lambda s: "sha256//" + s),
    st.binary(min_size=32, max_size=32).map(format_pin).flatmap(
        lambda p: st.integers(0, len(p)).map(lambda i: p[:i] + p[i + 1:])),
)


@given(st.one_of(pin_like, st.binary()))
def test_parse_pin_raises_only_value_error(text: str | bytes) -> None:
    try:
        digest = parse_pin(text)
    except ValueError:
        return
    assert type(digest) is bytes and len(digest) == 32


@given(st.one_of(st.lists(pin_like).map(", ".join), st.text(), st.binary()))
def test_parse_pins_raises_only_value_error(text: str | bytes) -> None:
    try:
        pins = parse_pins(text)
    except ValueError:
        return
    assert all(type(p) is bytes and len(p) == 32 for p in pins)


def _spki_der(cert_der: bytes) -> bytes:
    """The certificate's own SubjectPublicKeyInfo bytes, cut from its DER by hand."""

    def tlv(buf: bytes, pos: int) -> tuple[int, int, int]:
        """(tag position, content start, end) of the DER element at ``pos``."""
        n = buf[pos + 1]
        if n < 0x80:
            return pos, pos + 2, pos + 2 + n
        width = n & 0x7F
        size = int.from_bytes(buf[pos + 2:pos + 2 + width], "big")
        return pos, pos + 2 + width, pos + 2 + width + size

    _, cert_start, _ = tlv(cert_der, 0)
    _, pos, _ = tlv(cert_der, cert_start)  # into tbsCertificate
    if cert_der[pos] == 0xA0:  # [0] version
        pos = tlv(cert_der, pos)[2]
    for _ in range(5):  # serial, signature, issuer, validity, subject
        pos = tlv(cert_der, pos)[2]
    start, _, end = tlv(cert_der, pos)
    return cert_der[start:end]


def test_pin_is_the_hash_of_the_certificates_spki(pki: Pki) -> None:
    for leaf in (pki.server, pki.client):
        der = der_of(leaf)
        assert spki_sha256(der) == hashlib.sha256(_spki_der(der)).digest()


def test_spki_sha256_rejects_what_is_not_a_certificate() -> None:
    with pytest.raises(ValueError):
        spki_sha256(b"\x30\x03\x02\x01\x00")


# An RSA-PSS certificate (1024-bit, self-signed) made with OpenSSL 3.0:
#   openssl genpkey -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:1024 -out k.pem
#   openssl req -new -x509 -key k.pem -days 36500 -subj /CN=pss.example
# and its pin as curl and OpenSSL compute it:
#   openssl x509 -pubkey -noout | openssl pkey -pubin -outform der \
#     | openssl dgst -sha256 -binary | base64
RSA_PSS_CERT = """-----BEGIN CERTIFICATE-----
MIICcDCCAaWgAwIBAgIUU06Q+KlX1Jw5Vq3E/a8dQOzY9o8wQQYJKoZIhvcNAQEK
MDSgDzANBglghkgBZQMEAgEFAKEcMBoGCSqGSIb3DQEBCDANBglghkgBZQMEAgEF
AKIDAgFeMBYxFDASBgNVBAMMC3Bzcy5leGFtcGxlMCAXDTI2MTEyNjIwMjI1MloY
DzIxMjYxMTAyMjAyMjUyWjAWMRQwEgYDVQQDDAtwc3MuZXhhbXBsZTCBnTALBgkq
hkiG9w0BAQoDgY0AMIGJAoGBANrj79IXBM/v41X2946wkile4X/4wV/gHMAOaB/L
/x0lgqLphapGEPQpFKnnHPZlCij5L3rX1JbkTNhEb0BMEsjNgLpay8446vfGleDH
H1lzTfqgT70cyCW/+uml0njANA773iwnn94eInkkgVW5Xlccd/Mm2hXXj7jw4gbp
PF9JAgMBAAGjUzBRMB0GA1UdDgQWBBRjTsGOiQrwWoZerVXYAWST3H+3BzAfBgNV
HSMEGDAWgBRjTsGOiQrwWoZerVXYAWST3H+3BzAPBgNVHRMBAf8EBTADAQH/MEEG
CSqGSIb3DQEBCjA0oA8wDQYJYIZIAWUDBAIBBQChHDAaBgkqhkiG9w0BAQgwDQYJ
YIZIAWUDBAIBBQCiAwIBXgOBgQCUmiifOcqNmSC3zuXqlgslEikXDCCM6CdZ6M15
ivZTusO+OGY/Y8YBVTYWr1cVQrV3ltoI1fSYgae/w9Deckk/T2kW9RWtpwOh8o1d
UfEsl7EhGs373B5wmVlh2MwZl7yKttbkAhQbBoS3Zth90uS3em4QsbAoOQsz5IbC
liBUMQ==
-----END CERTIFICATE-----
"""
RSA_PSS_PIN = "sha256//wAG57H97ciwFXGqUrmkU4kA6G2LgItpzyKvCvOJH8xI="


def test_the_reference_pin_of_the_rsa_pss_certificate() -> None:
    der = ssl.PEM_cert_to_DER_cert(RSA_PSS_CERT)
    assert format_pin(hashlib.sha256(_spki_der(der)).digest()) == RSA_PSS_PIN


def test_pin_of_an_rsa_pss_certificate_is_its_spki_hash() -> None:
    assert format_pin(spki_sha256(ssl.PEM_cert_to_DER_cert(RSA_PSS_CERT))) == RSA_PSS_PIN


def _malformed_time_server(root: Path) -> ssl.SSLContext:
    """A server whose certificate has a notAfter UTCTime OpenSSL takes and RFC 5280 (and
    cryptography) refuse; the signature is broken too, which nobody checks here."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(5)
            .not_valid_before(dt.datetime(2020, 1, 1)).not_valid_after(dt.datetime(2049, 1, 1))
            .sign(key, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER)
    bad = der.replace(b"490101000000Z", b"4901010000ZZZ")
    assert bad != der
    path = root / "malformed-time.pem"
    path.write_bytes(ssl.DER_cert_to_PEM_cert(bad).encode() + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(path))
    return ctx


def test_an_unparseable_server_certificate_is_a_tls_failure(
        tmp_path: Path, contexts: dict[str, ssl.SSLContext]) -> None:
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    wire = Wire(client_filter(client_ctx, frozenset({DIGEST})),
                server_filter(_malformed_time_server(tmp_path)))
    with pytest.raises(TlsAuthFailure):
        wire.run()
    assert wire.client.failed


# -- the failure classes ---------------------------------------------------------------------


def test_failure_classes_carry_their_monitor_event() -> None:
    auth = TlsAuthFailure(TlsReason.EXPIRED, "expired")
    proto = TlsProtocolFailure(TlsReason.NOT_TLS, "not TLS")
    assert auth.event == Event.HANDSHAKE_FAILED_AUTH
    assert proto.event == Event.HANDSHAKE_FAILED_PROTOCOL
    assert (auth.event_value, proto.event_value) == (603, 601)
    assert auth.reason == "expired" and auth.tls_reason is TlsReason.EXPIRED

