"""Hostile and broken peers, played with raw Python sockets (SECURITY-TESTS.md rows 1, 2,
3, 6, 25, 26 and 30).

Every attack is made against a securemq PULL, ROUTER or REP bound on tcp (one family of
cases on ipc) while a well-behaved securemq or libzmq (pyzmq) client is connected to the
same socket. For each attack we check that:

(a) the server closes the raw connection (EOF or ECONNRESET within a deadline);
(b) the application receives nothing (``recv`` with ``rcvtimeo`` 250 ms raises ``Again``)
    and no peer shows up in a ROUTER's routing table;
(c) the good client still delivers messages (round trips for ROUTER and REP).

The wire bytes are built here by hand, independently of the library's encoders, so that
a mistake shared by the encoder and the decoder cannot hide.
"""

from __future__ import annotations

import contextlib
import gc
import os
import random
import socket
import struct
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import securemq as zmq

# -- wire bytes, by hand (RFC 23/37) ---------------------------------------------------------

# ZMTP 2.0 socket type octets (RFC 15/ZMTP 2.0): PAIR 0, PUB 1, SUB 2, REQ 3, REP 4,
# DEALER 5, ROUTER 6, PULL 7, PUSH 8.
V2_TYPE = {"PUSH": 8, "DEALER": 5, "REQ": 3}


def greeting(
    major: int = 3, minor: int = 1, mechanism: bytes = b"NULL", as_server: int = 0
) -> bytes:
    """A 64-octet ZMTP 3.x greeting."""
    g = (
        b"\xff"
        + bytes(8)
        + b"\x7f"
        + bytes((major, minor))
        + mechanism.ljust(20, b"\0")
        + bytes((as_server,))
        + bytes(31)
    )
    assert len(g) == 64
    return g


def frame(
    body: bytes, more: bool = False, command: bool = False, force_long: bool = False
) -> bytes:
    flags = (0x01 if more else 0) | (0x04 if command else 0)
    if len(body) < 256 and not force_long:
        return bytes((flags, len(body))) + body
    return struct.pack(">BQ", flags | 0x02, len(body)) + body


def long_header(size: int, more: bool = False, command: bool = False) -> bytes:
    """A long-frame header announcing ``size`` octets (any 64-bit value)."""
    return struct.pack(">BQ", 0x02 | (0x01 if more else 0) | (0x04 if command else 0), size)


def command(name: bytes, data: bytes = b"") -> bytes:
    return frame(bytes((len(name),)) + name + data, command=True)


def metadata(props: list[tuple[bytes, bytes]]) -> bytes:
    return b"".join(bytes((len(k),)) + k + struct.pack(">I", len(v)) + v for k, v in props)


def ready(socket_type: bytes | None, identity: bytes | None = None) -> bytes:
    props = []
    if socket_type is not None:
        props.append((b"Socket-Type", socket_type))
    if identity is not None:
        props.append((b"Identity", identity))
    return command(b"READY", metadata(props))


def message(*frames: bytes) -> bytes:
    return b"".join(frame(f, more=i < len(frames) - 1) for i, f in enumerate(frames))


def parse_metadata(data: bytes) -> dict[bytes, bytes]:
    out = {}
    off = 0
    while off < len(data):
        n = data[off]
        name = data[off + 1 : off + 1 + n]
        off += 1 + n
        (size,) = struct.unpack_from(">I", data, off)
        off += 4
        out[name.lower()] = data[off : off + size]
        off += size
    return out


# -- a raw peer ------------------------------------------------------------------------------


class Closed(Exception):
    """The server closed the raw connection while we expected data."""


class RawPeer:
    """A raw stream socket speaking (or not) ZMTP to an endpoint."""

    def __init__(self, endpoint: str, timeout: float = 5.0) -> None:
        transport, _, addr = endpoint.partition("://")
        if transport == "ipc":
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(addr)
        else:
            host, _, port = addr.rpartition(":")
            self.sock = socket.create_connection((host, int(port)), timeout=timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connected_at = time.monotonic()
        self.received = b""  # everything read so far, for inspection
        self._buf = b""

    def send(self, data: bytes) -> bool:
        """Send everything; False if the server has already closed the connection."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return False
        return True

    def recv_exactly(self, n: int, timeout: float = 5.0) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self._buf) < n:
            self.sock.settimeout(max(0.001, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                raise Closed("connection reset") from None
            if not chunk:
                raise Closed(f"EOF after {len(self._buf)} of {n} octets")
            self.received += chunk
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def recv_frame(self, timeout: float = 5.0) -> tuple[int, bytes]:
        flags = self.recv_exactly(1, timeout)[0]
        if flags & 0x02:
            (size,) = struct.unpack(">Q", self.recv_exactly(8, timeout))
        else:
            size = self.recv_exactly(1, timeout)[0]
        return flags, self.recv_exactly(size, timeout)

    def recv_message(self, timeout: float = 5.0) -> list[bytes]:
        frames = []
        while True:
            flags, body = self.recv_frame(timeout)
            assert not flags & 0x04, f"unexpected command {body!r}"
            frames.append(body)
            if not flags & 0x01:
                return frames

    def handshake(
        self, socket_type: bytes, identity: bytes | None = None, major: int = 3, minor: int = 1
    ) -> dict[bytes, bytes]:
        """Do a NULL handshake; return the server's READY metadata."""
        assert self.send(greeting(major, minor) + ready(socket_type, identity))
        return self.expect_greeting_and_ready()

    def expect_greeting_and_ready(self) -> dict[bytes, bytes]:
        theirs = self.recv_exactly(64)
        assert theirs[0] == 0xFF and theirs[9] == 0x7F
        assert theirs[10:12] == b"\x03\x01", "the server must announce ZMTP 3.1"
        assert theirs[12:32] == b"NULL".ljust(20, b"\0")
        assert theirs[32] == 0
        flags, body = self.recv_frame()
        assert flags == 0x04
        assert body[:6] == b"\x05READY"
        return parse_metadata(body[6:])

    def wait_closed(self, timeout: float = 2.0) -> bool:
        """Read (and keep) whatever comes until EOF or RST; False if the deadline passes."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return True
            except TimeoutError:
                return False
            if not chunk:
                return True
            self.received += chunk

    def half_close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw_peers() -> Iterator[list[RawPeer]]:
    """Raw peers registered here are closed after the test whatever happens."""
    peers: list[RawPeer] = []
    yield peers
    for p in peers:
        p.close()


# -- the server under attack and its good client ---------------------------------------------

SERVER_TYPES = {"PULL": zmq.PULL, "ROUTER": zmq.ROUTER, "REP": zmq.REP}
# What the raw peer announces to look legitimate to each server.
PEER_OF = {"PULL": b"PUSH", "ROUTER": b"DEALER", "REP": b"REQ"}
GOOD_ID = b"good-client"


@dataclass
class Harness:
    kind: str
    server: Any
    endpoint: str
    good: Any  # a securemq or pyzmq socket
    good_lib: str
    n: int = 0

    def raw(self, peers: list[RawPeer]) -> RawPeer:
        p = RawPeer(self.endpoint)
        peers.append(p)
        return p

    def deliver(self) -> None:
        """(c): the good client's message (and for ROUTER/REP the reply) gets through."""
        self.n += 1
        payload = b"good %d" % self.n
        self.server.rcvtimeo = 5000
        self.good.send(payload)
        if self.kind == "PULL":
            assert self.server.recv() == payload
            return
        if self.kind == "ROUTER":
            assert self.server.recv_multipart() == [GOOD_ID, payload]
            self.server.send_multipart([GOOD_ID, b"re: " + payload])
        else:
            assert self.server.recv() == payload
            self.server.send(b"re: " + payload)
        assert self.good.recv() == b"re: " + payload

    def assert_nothing_delivered(self, live_raw: int = 0) -> None:
        """(b): nothing reaches the application, no stranger in the routing table.

        ``live_raw``: raw peers that completed a handshake and are still connected.
        """
        self.server.rcvtimeo = 250
        with pytest.raises(zmq.Again):
            self.server.recv_multipart()
        if self.kind == "ROUTER":
            assert set(self.server._pattern.by_id) == {GOOD_ID}
        assert len(self.server._pattern.peers) <= 1 + live_raw


def make_harness(
    ctx: zmq.Context,
    zctx: Any,
    kind: str,
    good_lib: str,
    transport: str = "tcp",
    ipc_path: str = "",
    **options: Any,
) -> Harness:
    server = ctx.socket(SERVER_TYPES[kind])
    server.linger = 0
    for name, value in options.items():
        setattr(server, name, value)
    if transport == "ipc":
        server.bind(ipc_path)
        endpoint = ipc_path
    else:
        port = server.bind_to_random_port("tcp://127.0.0.1")
        endpoint = f"tcp://127.0.0.1:{port}"
    good_type = {"PULL": "PUSH", "ROUTER": "DEALER", "REP": "REQ"}[kind]
    if good_lib == "libzmq":
        import zmq as pyzmq

        good = zctx.socket(getattr(pyzmq, good_type))
    else:
        good = ctx.socket(getattr(zmq, good_type))
    good.linger = 0
    good.rcvtimeo = 5000
    good.sndtimeo = 5000
    if kind == "ROUTER":
        good.routing_id = GOOD_ID
    good.connect(endpoint)
    h = Harness(kind, server, endpoint, good, good_lib)
    h.deliver()  # the good client is connected before the attack starts
    return h


# A mix of server types and good clients from both libraries.
HARNESSES = [("PULL", "securemq"), ("PULL", "libzmq"), ("ROUTER", "securemq"), ("REP", "libzmq")]


@pytest.fixture(params=HARNESSES, ids=[f"{k}-{lib}" for k, lib in HARNESSES])
def harness(request: pytest.FixtureRequest, ctx: zmq.Context, zctx: Any) -> Harness:
    kind, lib = request.param
    return make_harness(ctx, zctx, kind, lib)


def check_attack(h: Harness, peer: RawPeer, timeout: float = 2.0, sent_ready: bool = False) -> None:
    """(a), (b), (c) for one attack whose bytes have been sent."""
    assert peer.wait_closed(timeout), "the server did not close the connection"
    if not sent_ready:
        # A peer refused at the greeting never gets our READY (nor any metadata).
        assert len(peer.received) <= 64
        assert b"READY" not in peer.received
    h.assert_nothing_delivered()
    h.deliver()


# -- rows 1, 2, 3, 6: greetings from the past, garbage, port scanners -------------------------

ZMTP10_SHORT = b"\x01\x00" + b"\x06\x00hello"  # empty identity, then a data frame
ZMTP10_LONG = b"\xff" + struct.pack(">Q", 6) + b"\x00" + b"hello"  # long identity frame


def zmtp20(socket_type: str) -> bytes:
    """A ZMTP 2.0 greeting (signature, revision 1, socket type, empty identity) + data."""
    return (
        b"\xff"
        + struct.pack(">Q", 1)
        + b"\x7f"
        + b"\x01"
        + bytes((V2_TYPE[socket_type],))
        + b"\x00\x00"
        + b"\x00\x05hello"
    )


GARBAGE = {
    "http-get": b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: scanner\r\n\r\n",
    "tls-client-hello": bytes.fromhex("16030100a5010000a10303") + os.urandom(32) + b"\x00" * 40,
    "ssh-banner": b"SSH-2.0-OpenSSH_9.6\r\n",
    "zeros": bytes(64),
    "random": random.Random(1234).randbytes(512),
    "signature-bit0-clear": b"\xff" + bytes(8) + b"\x7e" + greeting()[10:],
    "major-version-2": greeting(major=2, minor=0),
    "major-version-0": greeting(major=0, minor=0),
    "mechanism-curve": greeting(mechanism=b"CURVE"),
    "mechanism-plain": greeting(mechanism=b"PLAIN"),
    "mechanism-lowercase": greeting(mechanism=b"null"),
    "mechanism-embedded-nul": greeting(mechanism=b"NU\0LL"),
}


@pytest.mark.parametrize("attack", ["zmtp1.0", "zmtp1.0-long-identity", "zmtp2.0"])
def test_old_zmtp_peer_is_refused(harness: Harness, raw_peers: list[RawPeer], attack: str) -> None:
    """Rows 1 and 3: ZMTP 1.0 and 2.0 peers are closed at once, never downgraded to."""
    peer = harness.raw(raw_peers)
    data = {
        "zmtp1.0": ZMTP10_SHORT,
        "zmtp1.0-long-identity": ZMTP10_LONG,
        "zmtp2.0": zmtp20(PEER_OF[harness.kind].decode()),
    }[attack]
    peer.send(data)
    check_attack(harness, peer)
    # We never downgrade: the server's first octets are a 3.x signature, not a v1 frame.
    if len(peer.received) >= 11:
        assert peer.received[0] == 0xFF and peer.received[10] == 3


@pytest.mark.parametrize("security", ["zap-domain", "plain-server"])
@pytest.mark.parametrize("attack", ["zmtp1.0", "zmtp2.0"])
def test_old_zmtp_peer_is_refused_by_secured_socket(
    ctx: zmq.Context, zctx: Any, raw_peers: list[RawPeer], attack: str, security: str
) -> None:
    """Rows 1 and 2: the same with a ZAP domain or a PLAIN server.

    CVE-2014-9721: a v1/v2 peer must not bypass the mechanism (it cannot even name one).
    """
    opts: dict[str, Any] = (
        {"zap_domain": b"global"} if security == "zap-domain" else {"plain_server": 1}
    )
    server = ctx.socket(zmq.PULL)
    server.linger = 0
    for k, v in opts.items():
        try:
            setattr(server, k, v)
        except zmq.ZMQError as exc:
            # Refused (EINVAL) while PLAIN, CURVE and ZAP are not implemented: the test
            # comes alive with them.
            pytest.skip(f"{k} is not available: {exc}")
    port = server.bind_to_random_port("tcp://127.0.0.1")
    peer = RawPeer(f"tcp://127.0.0.1:{port}")
    raw_peers.append(peer)
    peer.send(ZMTP10_SHORT if attack == "zmtp1.0" else zmtp20("PUSH"))
    assert peer.wait_closed(2.0)
    assert b"READY" not in peer.received
    server.rcvtimeo = 250
    with pytest.raises(zmq.Again):
        server.recv()


@pytest.mark.parametrize("attack", sorted(GARBAGE))
def test_garbage_is_refused(harness: Harness, raw_peers: list[RawPeer], attack: str) -> None:
    """Rows 3 and 6: port scanners and bad signatures are closed at once."""
    peer = harness.raw(raw_peers)
    peer.send(GARBAGE[attack])
    check_attack(harness, peer)


def test_garbage_is_refused_before_64_octets(harness: Harness, raw_peers: list[RawPeer]) -> None:
    """A non-ZMTP first octet is enough: no waiting for a full greeting that never comes."""
    peer = harness.raw(raw_peers)
    peer.send(b"G")  # the first octet of "GET", nothing more, and the socket stays open
    check_attack(harness, peer)


@pytest.mark.parametrize("cut_at", [1, 9, 10, 11, 12, 40, 63])
def test_truncated_greeting_then_half_close(
    harness: Harness, raw_peers: list[RawPeer], cut_at: int
) -> None:
    """Row 6: a greeting that stops short and an EOF: closed on the EOF, not the timer."""
    peer = harness.raw(raw_peers)
    peer.send(greeting()[:cut_at])
    peer.half_close()
    check_attack(harness, peer, timeout=2.0)  # handshake_ivl is the default 30 s


def test_truncated_greeting_then_close(harness: Harness, raw_peers: list[RawPeer]) -> None:
    """Row 6: the same with a full close: the server forgets the peer, the rest goes on."""
    for cut_at in (1, 11, 63):
        peer = harness.raw(raw_peers)
        peer.send(greeting()[:cut_at])
        peer.close()
    harness.assert_nothing_delivered()
    harness.deliver()


# -- row 6: slowloris and stalls, reaped by handshake_ivl ------------------------------------

HANDSHAKE_IVL = 200


@pytest.fixture
def slow_harness(request: pytest.FixtureRequest, ctx: zmq.Context, zctx: Any) -> Harness:
    kind, lib = request.param
    return make_harness(ctx, zctx, kind, lib, handshake_ivl=HANDSHAKE_IVL)


def dribble_until_closed(peer: RawPeer, data: bytes, interval: float, timeout: float = 4.5) -> bool:
    """Send ``data`` one octet at a time, ``interval`` apart, watching for the close.

    Waiting for the close *is* the pacing: each pause is a blocking ``recv`` with a
    timeout, which returns early with EOF or RST when the server gives up.
    """
    deadline = time.monotonic() + timeout
    for octet in data:
        if not peer.send(bytes((octet,))):
            return True
        if peer.wait_closed(interval):
            return True
        if time.monotonic() > deadline:
            return False
    return peer.wait_closed(max(0.0, deadline - time.monotonic()))


SLOW = [("PULL", "securemq"), ("ROUTER", "libzmq")]


@pytest.mark.parametrize("slow_harness", SLOW, ids=[f"{k}-{lib}" for k, lib in SLOW], indirect=True)
@pytest.mark.parametrize("stage", ["silent", "greeting", "after-greeting", "ready"])
def test_slowloris_is_reaped_by_handshake_ivl(
    slow_harness: Harness, raw_peers: list[RawPeer], stage: str
) -> None:
    """Row 6 / CVE-2020-15166: a peer that never finishes its handshake is closed after
    ``handshake_ivl``, however it dribbles, and the established good client is not."""
    h = slow_harness
    peer = h.raw(raw_peers)
    full = greeting() + ready(PEER_OF[h.kind])
    if stage == "silent":
        closed = peer.wait_closed(4.5)
    elif stage == "greeting":  # the greeting, one octet every 50 ms (64 octets = 3.2 s)
        closed = dribble_until_closed(peer, greeting(), 0.05)
    elif stage == "after-greeting":  # a full greeting, then READY never comes
        peer.send(greeting())
        closed = peer.wait_closed(4.5)
    else:  # greeting at once, then READY dribbled
        peer.send(greeting())
        closed = dribble_until_closed(peer, full[64:], 0.05)
    elapsed = time.monotonic() - peer.connected_at
    assert closed, "the slow peer was not reaped"
    # The upper bound leaves room for a loaded 2-core machine (seen: 2.5 s once).
    assert HANDSHAKE_IVL / 1000 * 0.75 <= elapsed < 4.0, elapsed
    if stage in ("silent", "greeting"):
        assert len(peer.received) <= 64
    h.assert_nothing_delivered()
    h.deliver()


def test_handshake_ivl_spares_established_connections(
    ctx: zmq.Context, raw_peers: list[RawPeer]
) -> None:
    """A raw peer that completes the handshake is not reaped by handshake_ivl later."""
    server = ctx.socket(zmq.PULL)
    server.linger = 0
    server.handshake_ivl = HANDSHAKE_IVL
    server.rcvtimeo = 5000
    port = server.bind_to_random_port("tcp://127.0.0.1")
    peer = RawPeer(f"tcp://127.0.0.1:{port}")
    raw_peers.append(peer)
    peer.handshake(b"PUSH")
    assert not peer.wait_closed(HANDSHAKE_IVL / 1000 * 2.5)
    assert peer.send(message(b"still here"))
    assert server.recv() == b"still here"


# -- ipc ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("attack", ["zmtp1.0", "zmtp2.0", "http-get", "slowloris"])
def test_attacks_over_ipc(
    ctx: zmq.Context, zctx: Any, ipc_path: str, raw_peers: list[RawPeer], attack: str
) -> None:
    h = make_harness(
        ctx, zctx, "PULL", "libzmq", transport="ipc", ipc_path=ipc_path, handshake_ivl=HANDSHAKE_IVL
    )
    peer = h.raw(raw_peers)
    if attack == "slowloris":
        assert dribble_until_closed(peer, greeting(), 0.05)
        assert time.monotonic() - peer.connected_at >= HANDSHAKE_IVL / 1000 * 0.75
    else:
        peer.send(
            {"zmtp1.0": ZMTP10_SHORT, "zmtp2.0": zmtp20("PUSH"), "http-get": GARBAGE["http-get"]}[
                attack
            ]
        )
    check_attack(h, peer)


# -- ZMTP 3.0 and later peers are served --------------------------------------------------------


@pytest.mark.parametrize(
    "version", [(3, 0), (3, 1), (3, 2), (4, 0)], ids=lambda v: f"zmtp{v[0]}.{v[1]}"
)
def test_zmtp3_peer_is_served(
    ctx: zmq.Context, raw_peers: list[RawPeer], version: tuple[int, int]
) -> None:
    """RFC 37: ZMTP 3.0 peers (minor 0) and any later version are served in 3.1."""
    pull = ctx.socket(zmq.PULL)
    pull.linger = 0
    pull.rcvtimeo = 5000
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    peer = RawPeer(f"tcp://127.0.0.1:{port}")
    raw_peers.append(peer)
    meta = peer.handshake(b"PUSH", major=version[0], minor=version[1])
    assert meta[b"socket-type"] == b"PULL"
    assert peer.send(message(b"hello from the past") + message(b"two", b"frames"))
    assert pull.recv() == b"hello from the past"
    assert pull.recv_multipart() == [b"two", b"frames"]


@pytest.mark.parametrize("kind", ["ROUTER", "REP"])
def test_zmtp30_peer_round_trip(ctx: zmq.Context, raw_peers: list[RawPeer], kind: str) -> None:
    """A ZMTP 3.0 REQ/DEALER played by hand gets its reply, envelope and all."""
    server = ctx.socket(SERVER_TYPES[kind])
    server.linger = 0
    server.rcvtimeo = 5000
    port = server.bind_to_random_port("tcp://127.0.0.1")
    peer = RawPeer(f"tcp://127.0.0.1:{port}")
    raw_peers.append(peer)
    identity = b"old-timer" if kind == "ROUTER" else None
    meta = peer.handshake(PEER_OF[kind], identity=identity, minor=0)
    assert meta[b"socket-type"] == kind.encode()
    assert peer.send(message(b"", b"question"))
    if kind == "ROUTER":
        assert server.recv_multipart() == [b"old-timer", b"", b"question"]
        server.send_multipart([b"old-timer", b"", b"answer"])
    else:
        assert server.recv() == b"question"
        server.send(b"answer")
    assert peer.recv_message() == [b"", b"answer"]


# -- incompatible or missing socket type in READY -----------------------------------------------

BAD_READY = [
    ("PULL", ready(b"PUB")),
    ("PULL", ready(b"PULL")),
    ("PULL", ready(b"push")),  # socket type names are case-sensitive (libzmq compares bytes)
    ("PULL", ready(None)),
    ("PULL", ready(b"NOT-A-TYPE")),
    ("ROUTER", ready(b"PUSH", identity=b"x")),
    ("ROUTER", ready(b"SUB")),
    ("REP", ready(b"REP")),
    ("REP", ready(b"PAIR")),
    ("PULL", command(b"READY", b"\x00\x00\x00\x00\x00")),  # zero-length property name
    ("PULL", command(b"READY", metadata([(b"Socket-Type", b"PUSH")])[:-2])),  # truncated
    ("PULL", command(b"HELLO", bytes(200))),  # a CURVE command in a NULL handshake
    ("PULL", message(b"data before READY")),
]


@pytest.mark.parametrize(
    ("kind", "bad"), BAD_READY, ids=[f"{k}-{i}" for i, (k, _) in enumerate(BAD_READY)]
)
def test_bad_ready_is_refused(
    ctx: zmq.Context, zctx: Any, raw_peers: list[RawPeer], kind: str, bad: bytes
) -> None:
    """An incompatible, missing or malformed Socket-Type (or a message in place of READY)
    closes the connection; a message sent right behind it is not delivered."""
    h = make_harness(ctx, zctx, kind, "securemq")
    peer = h.raw(raw_peers)
    peer.send(greeting() + bad + message(b"", b"smuggled"))
    check_attack(h, peer, sent_ready=True)


# -- routing identities and envelopes from a hostile peer ---------------------------------------


def test_identity_of_a_connected_peer_cannot_be_taken(ctx: zmq.Context, zctx: Any,
                                                      raw_peers: list[RawPeer]) -> None:
    """A raw DEALER announcing the good client's Identity: without ROUTER_HANDOVER it gets
    nothing delivered under that id and never receives the good client's replies."""
    h = make_harness(ctx, zctx, "ROUTER", "securemq")
    peer = h.raw(raw_peers)
    peer.handshake(b"DEALER", identity=GOOD_ID)
    peer.send(message(b"spoofed"))
    h.assert_nothing_delivered()
    h.deliver()  # the reply goes to the good client...
    peer.wait_closed(0.3)
    assert b"re: good" not in peer.received  # ...and not to the impostor
    assert b"spoofed" not in b"".join(h.server._pattern.by_id)


def test_identity_starting_with_zero_is_not_trusted(ctx: zmq.Context,
                                                    raw_peers: list[RawPeer]) -> None:
    """RFC 37: identities starting with a zero octet are reserved for the implementation,
    which uses them for the ids it makes up. A peer announcing one must not be able to
    share its routing id with an anonymous peer that connects after it."""
    router = ctx.socket(zmq.ROUTER)
    router.linger = 0
    router.rcvtimeo = 1000
    port = router.bind_to_random_port("tcp://127.0.0.1")
    endpoint = f"tcp://127.0.0.1:{port}"
    # Stands for a lucky (or informed) guess of the next id the ROUTER will make up.
    guess = b"\x00" + struct.pack(">I", (router._pattern._next_id + 1) & 0xFFFFFFFF)
    peer = RawPeer(endpoint)
    raw_peers.append(peer)
    peer.handshake(b"DEALER", identity=guess)
    peer.send(message(b"from the impostor"))
    legit = ctx.socket(zmq.DEALER)
    legit.linger = 0
    legit.rcvtimeo = 2000
    legit.connect(endpoint)
    legit.send(b"from the legit peer")
    got: dict[bytes, bytes] = {}
    while b"from the legit peer" not in got:
        rid, body = router.recv_multipart()
        got[body] = rid
    impostor = got.get(b"from the impostor")
    # The announced identity is ignored: the impostor gets an id we made up (which may
    # well be the one it guessed), and the next peer gets a different one.
    assert impostor is not None
    assert impostor != got[b"from the legit peer"], "two peers share one routing id"
    assert len(router._pattern.by_id) == 2


def test_request_without_delimiter_is_dropped_by_rep(ctx: zmq.Context,
                                                     raw_peers: list[RawPeer]) -> None:
    """RFC 28: REP discards a request with no empty delimiter frame and serves the next."""
    rep = ctx.socket(zmq.REP)
    rep.linger = 0
    rep.rcvtimeo = 2000
    port = rep.bind_to_random_port("tcp://127.0.0.1")
    peer = RawPeer(f"tcp://127.0.0.1:{port}")
    raw_peers.append(peer)
    peer.handshake(b"REQ")
    peer.send(message(b"no delimiter") + message(b"a", b"b") + message(b"", b"valid"))
    assert rep.recv() == b"valid"
    rep.send(b"answer")
    assert peer.recv_message() == [b"", b"answer"]


@pytest.mark.parametrize("bad", [[b""], [b"hop", b""]], ids=["lone-delimiter", "no-body"])
def test_request_with_envelope_only_is_dropped_by_rep(ctx: zmq.Context,
                                                      raw_peers: list[RawPeer],
                                                      bad: list[bytes]) -> None:
    """A request that ends with its delimiter has no body: libzmq's REP discards it (the
    delimiter must carry MORE). It must neither break recv nor wedge the REP state."""
    rep = ctx.socket(zmq.REP)
    rep.linger = 0
    rep.rcvtimeo = 2000
    port = rep.bind_to_random_port("tcp://127.0.0.1")
    peer = RawPeer(f"tcp://127.0.0.1:{port}")
    raw_peers.append(peer)
    peer.handshake(b"REQ")
    peer.send(message(*bad) + message(b"", b"valid"))
    assert rep.recv() == b"valid"
    rep.send(b"answer")
    assert peer.recv_message() == [b"", b"answer"]


# -- row 25: absurd frame sizes -----------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(long_header(2**64 - 1), id="2^64-1"),
        pytest.param(long_header(2**63), id="2^63"),
        pytest.param(long_header(2**64 - 1, more=True), id="2^64-1-more"),
        pytest.param(long_header(2**63, command=True), id="2^63-command"),
        pytest.param(long_header(1001), id="maxmsgsize+1"),
        pytest.param(long_header(1001, more=True), id="maxmsgsize+1-more"),
        pytest.param(bytes((0x08, 1)) + b"x", id="reserved-flag-bit"),
        pytest.param(bytes((0x05, 1)) + b"x", id="command-with-more"),
    ],
)
@pytest.mark.parametrize("kind", ["PULL", "ROUTER"])
def test_absurd_frame_size_after_handshake(
    ctx: zmq.Context, zctx: Any, raw_peers: list[RawPeer], kind: str, header: bytes
) -> None:
    """Row 25 / CVE-2019-6250: sizes past 2^63-1 or maxmsgsize close the connection at the
    size field, before any memory is set aside for the body."""
    h = make_harness(ctx, zctx, kind, "libzmq", maxmsgsize=1000)
    peer = h.raw(raw_peers)
    peer.handshake(PEER_OF[kind], identity=b"attacker" if kind == "ROUTER" else None)
    tracemalloc.start()
    try:
        peer.send(header + b"A" * 100)
        check_attack(h, peer, sent_ready=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024


def test_absurd_size_in_handshake(harness: Harness, raw_peers: list[RawPeer]) -> None:
    """A huge command frame before READY: closed at the size field."""
    peer = harness.raw(raw_peers)
    peer.send(greeting() + long_header(2**63 - 1, command=True) + b"\x05READY")
    check_attack(harness, peer, sent_ready=True)


def test_frame_at_maxmsgsize_is_accepted(
    ctx: zmq.Context, zctx: Any, raw_peers: list[RawPeer]
) -> None:
    """The limit is inclusive: 1000 octets pass when maxmsgsize is 1000."""
    h = make_harness(ctx, zctx, "PULL", "securemq", maxmsgsize=1000)
    peer = h.raw(raw_peers)
    peer.handshake(b"PUSH")
    peer.send(frame(b"m" * 1000))
    h.server.rcvtimeo = 5000
    assert h.server.recv() == b"m" * 1000


def test_huge_declared_size_is_not_preallocated(
    ctx: zmq.Context, zctx: Any, raw_peers: list[RawPeer]
) -> None:
    """Without maxmsgsize a frame may legally announce 2^62 octets; memory then grows
    with what actually arrives, never with what was announced."""
    h = make_harness(ctx, zctx, "PULL", "securemq")
    peer = h.raw(raw_peers)
    peer.handshake(b"PUSH")
    tracemalloc.start()
    try:
        peer.send(long_header(2**62))
        chunk = b"B" * 65536
        for _ in range(16):  # 1 MiB of body
            assert peer.send(chunk)
        # The server has read it all once the kernel buffers are empty again: wait for a
        # round trip of the good client, which goes through the same I/O thread.
        h.assert_nothing_delivered(live_raw=1)
        h.deliver()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024
    peer.half_close()
    check_attack(h, peer, sent_ready=True)


# -- row 26: messages split at every byte boundary ----------------------------------------------

BIG1 = bytes(range(256)) * 36  # 9216 octets
BIG2 = [b"\x00" * 8193, b"", b"x" * 255, b"y" * 256]
SPLIT_MESSAGES = [[BIG1], BIG2]


def split_stream() -> bytes:
    return greeting() + ready(b"PUSH") + b"".join(message(*m) for m in SPLIT_MESSAGES)


@pytest.mark.parametrize("seed", range(6))
def test_messages_split_randomly_over_tcp(
    ctx: zmq.Context, zctx: Any, raw_peers: list[RawPeer], seed: int
) -> None:
    """Row 26 / CVE-2021-20235: two > 8 KiB messages sent in random pieces (1-40 octets,
    TCP_NODELAY, greeting and READY included) arrive exactly, and nothing else does."""
    h = make_harness(ctx, zctx, "PULL", "libzmq")
    peer = h.raw(raw_peers)
    data = split_stream()
    rng = random.Random(seed)
    off = 0
    while off < len(data):
        n = rng.randint(1, 40)
        assert peer.send(data[off : off + n])
        off += n
    h.server.rcvtimeo = 5000
    got = [h.server.recv_multipart() for _ in SPLIT_MESSAGES]
    assert got == SPLIT_MESSAGES
    assert peer.send(message(b"and then", b"one more"))  # the decoder is in a clean state
    assert h.server.recv_multipart() == [b"and then", b"one more"]
    h.assert_nothing_delivered(live_raw=1)
    h.deliver()
    assert not peer.wait_closed(0.05)  # the connection is healthy and stays open


def _decode_in_pieces(data: bytes, cuts: list[int]) -> list[list[bytes]]:
    """Feed ``data`` to a fresh sans-IO PULL connection cut at ``cuts``; return messages."""
    from securemq.security.base import HandshakeConfig
    from securemq.security.null import NullMechanism
    from securemq.zmtp.connection import Connection
    from securemq.zmtp.events import ConnectionClosed, HandshakeComplete, MessagesReceived

    conn = Connection(NullMechanism(HandshakeConfig(zmq.PULL)))
    messages: list[list[bytes]] = []
    handshakes = 0
    prev = 0
    for cut in [*cuts, len(data)]:
        for ev in conn.receive_data(data[prev:cut]):
            assert not isinstance(ev, ConnectionClosed), ev
            if isinstance(ev, HandshakeComplete):
                handshakes += 1
            elif isinstance(ev, MessagesReceived):
                messages.extend([bytes(f) for f in m] for m in ev.messages)
        prev = cut
    assert handshakes == 1
    return messages


def test_messages_split_at_every_byte_boundary() -> None:
    """Row 26 at the sans-IO level, exhaustively: every single cut point of the stream."""
    data = split_stream()
    for cut in range(len(data) + 1):
        assert _decode_in_pieces(data, [cut]) == SPLIT_MESSAGES, cut


def test_messages_fed_one_byte_at_a_time() -> None:
    data = split_stream()
    assert _decode_in_pieces(data, list(range(1, len(data)))) == SPLIT_MESSAGES


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_messages_split_at_random_boundaries(data: st.DataObject) -> None:
    stream = split_stream()
    cuts = sorted(data.draw(st.sets(st.integers(0, len(stream)), max_size=60)))
    assert _decode_in_pieces(stream, cuts) == SPLIT_MESSAGES


# -- row 30: a partial multipart then a disconnect, again and again -----------------------------

PARTIAL_BODY = b"P" * 65536  # big, so that any leak of partial messages is plain to see


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


HANDSHAKE_IVLS = [
    pytest.param(0, id="handshake_ivl=0"),
    pytest.param(30000, id="handshake_ivl=30000"),
]


@pytest.mark.parametrize("handshake_ivl", HANDSHAKE_IVLS)
@pytest.mark.parametrize("kind", ["PULL", "ROUTER"])
def test_more_frame_then_disconnect_repeatedly(
    ctx: zmq.Context, zctx: Any, raw_peers: list[RawPeer], kind: str, handshake_ivl: int
) -> None:
    """Row 30 / CVE-2021-20234, client side: 200 peers each send the first frames of a
    multipart message and leave. No partial message is ever delivered, the dead peers
    leave the socket's tables and memory stays flat.

    With handshake_ivl=0 there is no handshake timer: that case shows the decoder's part
    (partial messages discarded with the connection) on its own; with the default, a
    cancelled handshake timer must not keep the closed connection (and its partial
    message) alive until it would have fired.
    """
    h = make_harness(ctx, zctx, kind, "securemq", handshake_ivl=handshake_ivl)
    peer_type = PEER_OF[kind]

    def one_round(i: int) -> None:
        peer = RawPeer(h.endpoint)
        try:
            peer.handshake(peer_type, identity=b"partial-%d" % i if kind == "ROUTER" else None)
            assert peer.send(
                frame(b"", more=True) + frame(PARTIAL_BODY, more=True) + frame(b"tail", more=True)
            )
            peer.half_close()
            assert peer.wait_closed(2.0)  # the server read it all and let go
        finally:
            peer.close()

    for i in range(20):  # warm-up: caches, free lists, first allocations
        one_round(i)
    h.assert_nothing_delivered()
    tracemalloc.start()
    try:
        before = _traced()
        for i in range(20, 220):
            one_round(i)
        h.assert_nothing_delivered()
        after = _traced()
    finally:
        tracemalloc.stop()
    assert after - before < 1024 * 1024, f"grew by {after - before} octets"
    h.deliver()


@pytest.mark.parametrize("handshake_ivl", HANDSHAKE_IVLS)
def test_fake_server_sends_more_frame_then_disconnects(
    ctx: zmq.Context, handshake_ivl: int
) -> None:
    """Row 30 / CVE-2021-20234 as written: a fake server that the PULL connects to sends a
    MORE frame and hangs up, 200 times; the PULL reconnects each time, delivers none of
    it, keeps memory flat, and then receives the one complete message intact."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(5)
    port = listener.getsockname()[1]
    pull = ctx.socket(zmq.PULL)
    pull.linger = 0
    pull.reconnect_ivl = 1
    pull.handshake_ivl = handshake_ivl
    pull.connect(f"tcp://127.0.0.1:{port}")

    def serve(last: bool) -> None:
        conn, _ = listener.accept()
        conn.settimeout(5)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            conn.sendall(greeting() + ready(b"PUSH"))
            buf = b""
            while b"READY" not in buf or len(buf) < 64 + 28:  # their greeting + READY
                chunk = conn.recv(4096)
                assert chunk, "the client hung up during the handshake"
                buf += chunk
            if last:
                conn.sendall(message(b"complete", b"message"))
            else:
                conn.sendall(frame(PARTIAL_BODY, more=True) + frame(b"more", more=True))
            conn.shutdown(socket.SHUT_WR)
            # Wait for the client to see our FIN and close its side.
            while conn.recv(4096):
                pass
        finally:
            conn.close()

    try:
        for _ in range(20):
            serve(last=False)
        pull.rcvtimeo = 0
        with pytest.raises(zmq.Again):
            pull.recv()
        tracemalloc.start()
        try:
            before = _traced()
            for _ in range(200):
                serve(last=False)
            with pytest.raises(zmq.Again):
                pull.recv()
            after = _traced()
        finally:
            tracemalloc.stop()
        assert after - before < 1024 * 1024, f"grew by {after - before} octets"
        serve(last=True)
        pull.rcvtimeo = 5000
        assert pull.recv_multipart() == [b"complete", b"message"]
        pull.rcvtimeo = 250
        with pytest.raises(zmq.Again):
            pull.recv()
    finally:
        listener.close()


# -- many attackers at once ------------------------------------------------------------------


def test_concurrent_attackers_do_not_disturb_the_good_client(
    ctx: zmq.Context, zctx: Any, raw_peers: list[RawPeer]
) -> None:
    """A little of row 27: 30 garbage or stalled peers at once; the good client's 200
    messages all arrive while they sit there."""
    h = make_harness(ctx, zctx, "PULL", "libzmq")
    attacks = [ZMTP10_SHORT, zmtp20("PUSH"), GARBAGE["http-get"], greeting()[:20], b"", greeting()]
    for i in range(30):
        p = h.raw(raw_peers)
        p.send(attacks[i % len(attacks)])
    for i in range(200):
        h.good.send(b"%d" % i)
    h.server.rcvtimeo = 5000
    assert [h.server.recv() for _ in range(200)] == [b"%d" % i for i in range(200)]
    # The refused ones are closed; the stalled ones (partial or silent greeting) are not
    # yet, as handshake_ivl is 30 s: both kinds never deliver anything.
    for i, p in enumerate(raw_peers):
        if attacks[i % len(attacks)] in (ZMTP10_SHORT, zmtp20("PUSH"), GARBAGE["http-get"]):
            assert p.wait_closed(2.0)
    h.assert_nothing_delivered()
    h.deliver()
