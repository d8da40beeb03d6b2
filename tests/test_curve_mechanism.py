"""The CURVE mechanism (RFC 25/26) in the Connection: handshake, ZAP, sealed traffic,
attacks, libzmq interop.

Three layers of evidence:

* an in-memory two-peer harness of two :class:`Connection` objects, fed whole, byte by
  byte and in random chunks: the Connection seals every frame it sends, opens every
  frame it receives, reassembles multipart messages and drives ZAP (RFC 27);
* a hand-written CurveZMQ peer (:class:`ForgedClient`, :class:`ForgedServer`), built here
  from RFC 26 with PyNaCl primitives and nothing from ``securemq.security.curve``, which
  both checks our mechanism against an independent reading of the RFC and forges the
  commands of SECURITY-TESTS.md rows 7-24;
* TCP interop with libzmq 4.3.5 through pyzmq in both roles, driven by a small blocking
  driver that uses only the Connection API, which pins down how libzmq frames MESSAGE,
  heartbeats and subscriptions.
"""

from __future__ import annotations

import errno
import random
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import nacl.bindings as nb
import pytest

from securemq.constants import Event as MonitorEvent
from securemq.constants import ProtocolErrorCode as Code
from securemq.error import (
    AuthenticationFailed,
    CryptographicError,
    InvalidMetadata,
    InvalidSequence,
    KeyExchangeError,
    MalformedCommand,
    MechanismMismatch,
    MessageTooLarge,
    ProtocolError,
    UnexpectedCommand,
    UnspecifiedProtocolError,
    ZapBadRequestId,
    ZapBadVersion,
    ZapError,
    ZapHandlerMissing,
    ZapInvalidMetadata,
    ZapInvalidStatusCode,
    ZapMalformedReply,
)
from securemq.security.base import HandshakeConfig
from securemq.security.curve import CookieKeeper, CurveMechanism
from securemq.zmtp.connection import HANDSHAKE_FRAME_LIMIT, Connection, State
from securemq.zmtp.events import (
    CommandReceived,
    ConnectionClosed,
    Event,
    HandshakeComplete,
    MessagesReceived,
    ZapRequested,
)
from securemq.zmtp.greeting import build_greeting

DEALER, ROUTER, PUB, SUB, PULL, PUSH = 5, 6, 1, 2, 7, 8

# -- keys, randomness and wire bytes, by hand --------------------------------------------------


def det_random(seed: int) -> Callable[[int], bytes]:
    """A repeatable source of random octets (never for real keys)."""
    rng = random.Random(seed)
    return rng.randbytes


def keypair(seed: int) -> tuple[bytes, bytes]:
    """(public, secret) Curve25519 keys derived from ``seed``."""
    secret = random.Random(seed).randbytes(32)
    return nb.crypto_scalarmult_base(secret), secret


SERVER_PUB, SERVER_SEC = keypair(1)
CLIENT_PUB, CLIENT_SEC = keypair(2)
OTHER_PUB, OTHER_SEC = keypair(3)


def frame(body: bytes, command: bool = False, more: bool = False) -> bytes:
    """One ZMTP frame (RFC 23/37 "Framing"), encoded here independently of the library."""
    flags = (0x04 if command else 0) | (0x01 if more else 0)
    if len(body) < 256:
        return bytes((flags, len(body))) + body
    return struct.pack(">BQ", flags | 0x02, len(body)) + body


def cmd(body: bytes) -> bytes:
    return frame(body, command=True)


def parse_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(flags, body) of every frame in ``data``, decoded here independently; ``data``
    must hold whole frames."""
    result = []
    i = 0
    while i < len(data):
        flags = data[i]
        if flags & 0x02:
            size = struct.unpack(">Q", data[i + 1:i + 9])[0]
            start = i + 9
        else:
            size = data[i + 1]
            start = i + 2
        assert start + size <= len(data), "truncated frame"
        result.append((flags, data[start:start + size]))
        i = start + size
    return result


def metadata(props: list[tuple[bytes, bytes]]) -> bytes:
    return b"".join(bytes((len(k),)) + k + struct.pack(">I", len(v)) + v for k, v in props)


def split(data: bytes, plan: str, seed: int = 7) -> Iterator[bytes]:
    """Chunks of ``data``: ``whole``, ``bytewise`` or ``random`` sizes."""
    if plan == "whole":
        yield data
    elif plan == "bytewise":
        for i in range(len(data)):
            yield data[i:i + 1]
    else:
        rng = random.Random(seed)
        i = 0
        while i < len(data):
            n = rng.randint(1, 97)
            yield data[i:i + n]
            i += n


PLANS = ("whole", "bytewise", "random")


def server_config(**kw: Any) -> HandshakeConfig:
    base = HandshakeConfig(ROUTER, as_server=True, curve_secretkey=SERVER_SEC,
                           curve_publickey=SERVER_PUB)
    return replace(base, **kw)


def client_config(**kw: Any) -> HandshakeConfig:
    base = HandshakeConfig(DEALER, routing_id=b"client-1", curve_publickey=CLIENT_PUB,
                           curve_secretkey=CLIENT_SEC, curve_serverkey=SERVER_PUB)
    return replace(base, **kw)


def server_mech(seed: int = 10, **kw: Any) -> CurveMechanism:
    keeper = kw.pop("cookie_keeper", None)
    return CurveMechanism(server_config(**kw), "192.0.2.1", random=det_random(seed),
                          cookie_keeper=keeper)


def client_mech(seed: int = 20, **kw: Any) -> CurveMechanism:
    return CurveMechanism(client_config(**kw), random=det_random(seed))


def out(conn: Connection) -> bytes:
    return b"".join(bytes(b) for b in conn.data_to_send())


def feed(conn: Connection, data: bytes, plan: str = "whole") -> list[Event]:
    """Feed ``data`` to ``conn`` in the chunks of ``plan``; return every event."""
    events: list[Event] = []
    for piece in split(data, plan):
        events += conn.receive_data(piece)
    return events


def feed_zero_copy(conn: Connection, data: bytes, plan: str) -> list[Event]:
    """As :func:`feed`, but write into ``receive_buffer()`` whenever it is offered, as the
    engine does while a large frame arrives."""
    events: list[Event] = []
    for piece in split(data, plan):
        while piece:
            view = conn.receive_buffer()
            if view is None:
                events += conn.receive_data(piece)
                break
            n = min(len(view), len(piece))
            view[:n] = piece[:n]
            view.release()
            events += conn.received_into(n)
            piece = piece[n:]
    return events


def delivered(events: list[Event]) -> list[list[bytes]]:
    """The messages of every MessagesReceived in ``events``, in order."""
    return [m for ev in events if isinstance(ev, MessagesReceived) for m in ev.messages]


def flat(events: list[Event]) -> list[Any]:
    """Events with message batches flattened, so that any split compares equal."""
    result: list[Any] = []
    for ev in events:
        if isinstance(ev, MessagesReceived):
            assert ev.messages, "empty MessagesReceived"
            result += [("msg", m) for m in ev.messages]
        elif isinstance(ev, ConnectionClosed):
            result.append(("closed", type(ev.error), ev.error.code))
        else:
            result.append(ev)
    return result


def exchange(a: Connection, b: Connection, plan: str = "whole"
             ) -> tuple[list[Event], list[Event]]:
    """Shuttle bytes between ``a`` and ``b`` until both are quiet; return their events."""
    ea: list[Event] = []
    eb: list[Event] = []
    for _ in range(20):
        moved = False
        for src, dst, events in ((a, b, eb), (b, a, ea)):
            data = out(src)
            if data:
                moved = True
                events += feed(dst, data, plan)
        if not moved:
            break
    return ea, eb


def closed(events: list[Event]) -> ProtocolError:
    """The error of the ConnectionClosed that must end ``events``."""
    assert events, "expected the connection to close"
    last = events[-1]
    assert isinstance(last, ConnectionClosed), events
    assert not any(isinstance(e, ConnectionClosed) for e in events[:-1]), events
    return last.error


def handshake(plan: str = "whole", **kw: Any
              ) -> tuple[Connection, Connection, list[Event], list[Event]]:
    client = Connection(client_mech(**kw.pop("client", {})), **kw.pop("client_conn", {}))
    server = Connection(server_mech(**kw.pop("server", {})), **kw.pop("server_conn", {}))
    ec, es = exchange(client, server, plan)
    return client, server, ec, es


def traffic(**kw: Any) -> tuple[Connection, Connection]:
    """A client and a server Connection that completed their handshake."""
    client, server, ec, es = handshake(**kw)
    assert [type(e) for e in ec] == [HandshakeComplete], ec
    assert [type(e) for e in es] == [HandshakeComplete], es
    return client, server


def mech(conn: Connection) -> CurveMechanism:
    m = conn.mechanism
    assert isinstance(m, CurveMechanism)
    return m


def wiped(conn: Connection) -> bool:
    """Whether the connection's mechanism holds no secret any more."""
    m = mech(conn)
    return m._key is None and not any(m._secret) and m._cn_secret is None


# -- an independent CurveZMQ peer, from RFC 26 --------------------------------------------------


def box(plain: bytes, nonce: bytes, pk: bytes, sk: bytes) -> bytes:
    return nb.crypto_box(plain, nonce, pk, sk)


def unbox(data: bytes, nonce: bytes, pk: bytes, sk: bytes) -> bytes:
    return nb.crypto_box_open(data, nonce, pk, sk)


class ForgedClient:
    """A CurveZMQ client written from RFC 26, with a knob for every field."""

    def __init__(self, server_key: bytes = SERVER_PUB, long_pub: bytes = CLIENT_PUB,
                 long_sec: bytes = CLIENT_SEC, seed: int = 30) -> None:
        self.server_key = server_key
        self.long_pub, self.long_sec = long_pub, long_sec
        self.cn_pub, self.cn_sec = keypair(seed)
        self.nonce = 0
        self.server_transient = b""
        self.cookie = b""

    def short(self, n: int | None = None) -> bytes:
        if n is None:
            self.nonce += 1
            n = self.nonce
        return struct.pack(">Q", n)

    def hello(self, version: bytes = b"\x01\x00", padding: bytes = bytes(72),
              signature: bytes = bytes(64), cn_pub: bytes | None = None) -> bytes:
        n = self.short()
        sig = box(signature, b"CurveZMQHELLO---" + n, self.server_key, self.cn_sec)
        return (b"\x05HELLO" + version + padding + (cn_pub or self.cn_pub) + n + sig)

    def welcome(self, body: bytes) -> None:
        assert body[:8] == b"\x07WELCOME" and len(body) == 168
        plain = unbox(body[24:], b"WELCOME-" + body[8:24], self.server_key, self.cn_sec)
        self.server_transient, self.cookie = plain[:32], plain[32:]

    def initiate(self, meta: bytes | None = None, vouch_cn: bytes | None = None,
                 vouch_server: bytes | None = None, vouch_sec: bytes | None = None,
                 client_key: bytes | None = None, nonce: int | None = None,
                 cookie: bytes | None = None) -> bytes:
        if meta is None:
            meta = metadata([(b"Socket-Type", b"DEALER"), (b"Identity", b"forged")])
        vouch_nonce = bytes(range(16))
        vouch = box((vouch_cn or self.cn_pub) + (vouch_server or self.server_key),
                    b"VOUCH---" + vouch_nonce, self.server_transient,
                    vouch_sec or self.long_sec)
        n = self.short(nonce)
        inner = box((client_key or self.long_pub) + vouch_nonce + vouch + meta,
                    b"CurveZMQINITIATE" + n, self.server_transient, self.cn_sec)
        return b"\x08INITIATE" + (cookie or self.cookie) + n + inner

    def ready(self, body: bytes) -> bytes:
        assert body[:6] == b"\x05READY"
        return unbox(body[14:], b"CurveZMQREADY---" + body[6:14], self.server_transient,
                     self.cn_sec)

    def message(self, flags: int, payload: bytes, nonce: int | None = None) -> bytes:
        n = self.short(nonce)
        return (b"\x07MESSAGE" + n + box(bytes((flags,)) + payload, b"CurveZMQMESSAGEC" + n,
                                         self.server_transient, self.cn_sec))

    def unseal(self, body: bytes) -> bytes:
        """The flags octet and payload of a server MESSAGE body."""
        assert body[:8] == b"\x07MESSAGE"
        return unbox(body[16:], b"CurveZMQMESSAGES" + body[8:16], self.server_transient,
                     self.cn_sec)


class ForgedServer:
    """A CurveZMQ server written from RFC 26: answers a HELLO, forges READY, then
    exchanges MESSAGE boxes (its transient secret s' is the key with the client's C')."""

    def __init__(self, seed: int = 40) -> None:
        self.cn_pub, self.cn_sec = keypair(seed)
        self.client_transient = b""
        self.nonce = 1

    def welcome(self, hello: bytes, cookie: bytes = bytes(96)) -> bytes:
        self.client_transient = hello[80:112]
        nonce = bytes(16)
        return b"\x07WELCOME" + nonce + box(self.cn_pub + cookie, b"WELCOME-" + nonce,
                                           self.client_transient, SERVER_SEC)

    def ready(self, meta: bytes, nonce: int = 1) -> bytes:
        n = struct.pack(">Q", nonce)
        return b"\x05READY" + n + box(meta, b"CurveZMQREADY---" + n, self.client_transient,
                                      self.cn_sec)

    def message(self, flags: int, payload: bytes) -> bytes:
        self.nonce += 1
        n = struct.pack(">Q", self.nonce)
        return b"\x07MESSAGE" + n + box(bytes((flags,)) + payload, b"CurveZMQMESSAGES" + n,
                                        self.client_transient, self.cn_sec)

    def unseal(self, body: bytes) -> bytes:
        """The flags octet and payload of a client MESSAGE body."""
        assert body[:8] == b"\x07MESSAGE"
        return unbox(body[16:], b"CurveZMQMESSAGEC" + body[8:16], self.client_transient,
                     self.cn_sec)


def server_at_initiate(**kw: Any) -> tuple[Connection, ForgedClient]:
    """A server Connection that has answered a forged client's HELLO with WELCOME."""
    conn_kw = kw.pop("conn", {})
    server = Connection(server_mech(**kw), **conn_kw)
    forged = ForgedClient()
    events = server.receive_data(build_greeting(b"CURVE", False) + cmd(forged.hello()))
    assert events == []
    sent = out(server)
    welcome = sent[64:]
    assert welcome[:2] == b"\x04\xa8"  # command frame of 168 octets
    forged.welcome(welcome[2:])
    return server, forged


def server_in_traffic(**kw: Any) -> tuple[Connection, ForgedClient]:
    """A server Connection in traffic with a forged client (READY taken)."""
    server, forged = server_at_initiate(**kw)
    events = server.receive_data(cmd(forged.initiate()))
    assert [type(e) for e in events] == [HandshakeComplete]
    ready = parse_frames(out(server))
    assert len(ready) == 1 and ready[0][0] == 0x04
    forged.ready(ready[0][1])
    return server, forged


def client_at_welcome(**kw: Any) -> tuple[Connection, bytes]:
    """A client Connection that has sent HELLO to a server greeting; return its HELLO."""
    client = Connection(client_mech(**kw))
    out(client)
    assert client.receive_data(build_greeting(b"CURVE", True)) == []
    hello = out(client)
    assert hello[:2] == b"\x04\xc8"
    return client, hello[2:]


# -- the handshake -------------------------------------------------------------------------------


@pytest.mark.parametrize("plan", PLANS)
def test_handshake_and_traffic(plan: str) -> None:
    client, server, ec, es = handshake(plan)
    assert ec == [HandshakeComplete({"socket-type": b"ROUTER", "identity": b""}, 1)]
    assert es == [HandshakeComplete({"socket-type": b"DEALER", "identity": b"client-1"}, 1)]
    assert client.state is State.TRAFFIC and server.state is State.TRAFFIC
    assert client.peer_metadata == {"socket-type": b"ROUTER", "identity": b""}
    # Plaintext in, plaintext out: the Connection seals and opens every frame.
    messages = [[b"part-1", b"part-2"], [b"single"], [b""], [b"L" * 70000, b"tail"]]
    client.send_messages(messages)
    events = feed(server, out(client), plan)
    assert all(isinstance(e, MessagesReceived) for e in events)
    assert delivered(events) == messages
    server.send_messages([[b"reply", b""]])
    assert delivered(feed(client, out(server), plan)) == [[b"reply", b""]]


def test_wire_layout() -> None:
    """Sizes, fixed fields and short nonces of every command (RFC 26 grammar, libzmq)."""
    client = Connection(client_mech())
    server = Connection(server_mech())
    server.receive_data(out(client))
    client.receive_data(out(server))
    hello = out(client)[2:]
    assert len(hello) == 200 and hello[:8] == b"\x05HELLO\x01\x00"
    assert hello[8:80] == bytes(72)                          # anti-amplification padding
    assert hello[112:120] == struct.pack(">Q", 1)            # libzmq starts at 1
    server.receive_data(b"\x04\xc8" + hello)
    welcome = out(server)[2:]
    assert len(welcome) == 168 and welcome[:8] == b"\x07WELCOME"
    client.receive_data(b"\x04\xa8" + welcome)
    initiate = out(client)
    assert initiate[0] == 0x06  # long command frame
    initiate = initiate[9:]
    meta = metadata([(b"Socket-Type", b"DEALER"), (b"Identity", b"client-1")])
    assert len(initiate) == 257 + len(meta) and initiate[:9] == b"\x08INITIATE"
    assert initiate[105:113] == struct.pack(">Q", 2)
    server.receive_data(frame(initiate, command=True))
    ready = out(server)[2:]
    server_meta = metadata([(b"Socket-Type", b"ROUTER"), (b"Identity", b"")])
    assert len(ready) == 30 + len(server_meta) and ready[:14] == b"\x05READY" + struct.pack(
        ">Q", 1)
    # The first MESSAGE follows READY's nonce: one frame, outer flags 0, 33 + 10 octets.
    server.send_messages([[b"x" * 10]])
    sent = out(server)
    assert sent[:2] == b"\x00\x2b" and len(sent) == 2 + 43
    assert sent[2:18] == b"\x07MESSAGE" + struct.pack(">Q", 2)


def test_sealed_wire_layout_server_side() -> None:
    """How the Connection frames sealed traffic, read by the independent client: one
    MESSAGE per frame, outer flags 0 (LONG when needed), MORE and COMMAND in the box,
    short nonces counting on from READY's."""
    server, forged = server_in_traffic()
    server.send_messages([[b"a", b"b"], [b"x" * 300]])
    server.send_command(b"SUBSCRIBE", b"t")
    frames = parse_frames(out(server))
    assert [f for f, _ in frames] == [0x00, 0x00, 0x02, 0x00]
    assert [struct.unpack(">Q", b[8:16])[0] for _, b in frames] == [2, 3, 4, 5]
    assert [forged.unseal(b) for _, b in frames] == [
        b"\x01a", b"\x00b", b"\x00" + b"x" * 300, b"\x02\x09SUBSCRIBEt"]


def test_sealed_wire_layout_client_side() -> None:
    """The same for the client's traffic, read by the independent server: the client's
    first MESSAGE nonce is 3 (HELLO 1, INITIATE 2), as libzmq's."""
    client, forged = client_at_ready()
    events = client.receive_data(cmd(forged.ready(metadata([(b"Socket-Type", b"ROUTER")]))))
    assert events == [HandshakeComplete({"socket-type": b"ROUTER"}, 1)]
    client.send_messages([[b"one", b"two", b"three"]])
    client.send_command(b"PING", b"\x00\x0actx")
    frames = parse_frames(out(client))
    assert [f for f, _ in frames] == [0x00] * 4
    assert [struct.unpack(">Q", b[8:16])[0] for _, b in frames] == [3, 4, 5, 6]
    assert [forged.unseal(b) for _, b in frames] == [
        b"\x01one", b"\x01two", b"\x00three", b"\x02\x04PING\x00\x0actx"]


def test_same_randomness_same_bytes() -> None:
    """Randomness is injected: equal seeds give byte-identical handshakes and traffic."""
    def run() -> bytes:
        client = Connection(client_mech(seed=5))
        server = Connection(server_mech(seed=6))
        wire = b""
        for _ in range(4):
            a = out(client)
            server.receive_data(a)
            b = out(server)
            client.receive_data(b)
            wire += a + b
        client.send_messages([[b"same"]])
        return wire + out(client)
    assert run() == run()


def test_independent_client_talks_to_our_server() -> None:
    """The hand-written RFC 26 client completes a handshake and exchanges messages."""
    server, forged = server_at_initiate()
    events = server.receive_data(cmd(forged.initiate()))
    assert events == [HandshakeComplete({"socket-type": b"DEALER", "identity": b"forged"}, 1)]
    ready = out(server)
    meta = forged.ready(ready[2:])
    assert meta == metadata([(b"Socket-Type", b"ROUTER"), (b"Identity", b"")])
    events = server.receive_data(frame(forged.message(1, b"part"))
                                 + frame(forged.message(0, b"end"))
                                 + frame(forged.message(2, b"\x06CANCELt")))
    assert events == [MessagesReceived([[b"part", b"end"]]), CommandReceived(b"CANCEL", b"t")]
    server.send_messages([[b"more", b"last"]])
    assert [forged.unseal(b) for _, b in parse_frames(out(server))] == [b"\x01more",
                                                                         b"\x00last"]
    # The mechanism itself reads both inner flags of an independent box.
    assert mech(server).open(forged.message(3, b"both flags")) == (3, b"both flags")


def test_independent_server_talks_to_our_client() -> None:
    client, hello = client_at_welcome()
    forged = ForgedServer()
    assert client.receive_data(cmd(forged.welcome(hello))) == []
    assert out(client)[:1] == b"\x06"  # INITIATE follows
    events = client.receive_data(cmd(forged.ready(metadata([(b"Socket-Type", b"ROUTER")]))))
    assert events == [HandshakeComplete({"socket-type": b"ROUTER"}, 1)]
    events = client.receive_data(frame(forged.message(1, b"from"))
                                 + frame(forged.message(0, b"forged")))
    assert events == [MessagesReceived([[b"from", b"forged"]])]
    client.send_messages([[b"to forged"]])
    assert [forged.unseal(b) for _, b in parse_frames(out(client))] == [b"\x00to forged"]


def test_routing_id_of_255_octets() -> None:
    """SECURITY-TESTS row 24: large legitimate metadata goes through intact."""
    rid = bytes(range(1, 256))
    _, _, ec, es = handshake(client={"routing_id": rid}, server={"routing_id": b"S" * 255,
                                                                 "socket_type": ROUTER})
    assert es == [HandshakeComplete({"socket-type": b"DEALER", "identity": rid}, 1)]
    assert ec == [HandshakeComplete({"socket-type": b"ROUTER", "identity": b"S" * 255}, 1)]


def test_application_metadata_near_the_frame_limit() -> None:
    big = {"X-Big": b"v" * (HANDSHAKE_FRAME_LIMIT - 1000)}
    _, _, _, es = handshake(client={"metadata": big})
    assert isinstance(es[0], HandshakeComplete) and es[0].metadata["x-big"] == big["X-Big"]


# -- multipart reassembly and sealed commands -----------------------------------------------------


MULTIPART = [[b"a", b"", b"b" * 255, b"c" * 256], [b"d" * 40000, b"e"], [b"f"],
             [b"g" * 70000], [b"", b""]]


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize("zero_copy", [False, True], ids=["receive_data", "receive_buffer"])
def test_multipart_reassembly_across_chunks(plan: str, zero_copy: bool) -> None:
    """Each frame is one MESSAGE with outer flags 0; the inner MORE flag rebuilds the
    messages whatever the chunks (and through the zero-copy path of large frames)."""
    client, server = traffic()
    client.send_messages(MULTIPART)
    wire = out(client)
    events = (feed_zero_copy if zero_copy else feed)(server, wire, plan)
    assert all(isinstance(e, MessagesReceived) for e in events)
    assert delivered(events) == MULTIPART
    server.send_messages(MULTIPART)
    assert delivered((feed_zero_copy if zero_copy else feed)(client, out(server), plan)
                     ) == MULTIPART


def test_multipart_held_until_its_last_frame() -> None:
    """A message is delivered only once the frame without inner MORE has arrived, even
    when every frame so far came whole in its own chunk."""
    client, server = traffic()
    client.send_messages([[b"1", b"2", b"3"]])
    frames = parse_frames(out(client))
    assert server.receive_data(frame(frames[0][1])) == []
    assert server.receive_data(frame(frames[1][1])) == []
    assert server.receive_data(frame(frames[2][1])) == [MessagesReceived([[b"1", b"2",
                                                                           b"3"]])]


def test_outer_command_flag_does_not_matter() -> None:
    """libzmq opens every traffic frame whatever its outer flags (its own are 0): outer
    COMMAND is ignored, the inner flags decide."""
    server, forged = server_in_traffic()
    events = server.receive_data(frame(forged.message(1, b"a"))
                                 + frame(forged.message(0, b"b"))
                                 + frame(forged.message(0, b"c"), command=True)
                                 + frame(forged.message(2, b"\x09SUBSCRIBEx"), command=True))
    assert flat(events) == [("msg", [b"a", b"b"]), ("msg", [b"c"]),
                            CommandReceived(b"SUBSCRIBE", b"x")]


def test_outer_more_is_refused() -> None:
    """Outer flags are not authenticated: a forged outer MORE could hold a frame back
    while a later one overtakes it and truncates a message. libzmq never sends it."""
    server, forged = server_in_traffic()
    events = server.receive_data(frame(forged.message(1, b"a"), more=True)
                                 + frame(forged.message(0, b"end"), command=True))
    err = closed(events)
    assert events == [ConnectionClosed(err)]
    assert type(err) is MalformedCommand
    assert err.code == Code.ZMTP_MALFORMED_COMMAND_MESSAGE


@pytest.mark.parametrize("plan", PLANS)
def test_sealed_ping_answered_with_sealed_pong(plan: str) -> None:
    """A PING in a box with inner COMMAND (libzmq's heartbeat) is reported and answered
    by a PONG in a box, outer flags 0, echoing the context."""
    server, forged = server_in_traffic()
    events = feed(server, frame(forged.message(2, b"\x04PING\x00\x00ctx")), plan)
    assert events == [CommandReceived(b"PING", b"\x00\x00ctx")]
    frames = parse_frames(out(server))
    assert len(frames) == 1 and frames[0][0] == 0x00
    assert forged.unseal(frames[0][1]) == b"\x02\x04PONGctx"


def test_sealed_ping_with_ttl_asks_for_a_timer() -> None:
    server, forged = server_in_traffic()
    events = server.receive_data(frame(forged.message(2, b"\x04PING\x00\x0a")))
    assert events == [CommandReceived(b"PING", b"\x00\x0a")]
    assert server.timers_pending
    server.update_timers(100.0)
    assert server.get_timer() == pytest.approx(101.0)  # 10 tenths of a second
    assert forged.unseal(parse_frames(out(server))[0][1]) == b"\x02\x04PONG"


@pytest.mark.parametrize("plan", PLANS)
def test_sealed_subscribe_and_cancel(plan: str) -> None:
    """SUBSCRIBE and CANCEL travel in boxes with inner COMMAND and are reported as
    CommandReceived, in stream order with the messages around them."""
    client, server = traffic(server={"socket_type": PUB}, client={"socket_type": SUB})
    client.send_messages([[b"before"]])
    client.send_command(b"SUBSCRIBE", b"topic")
    client.send_messages([[b"between-1", b"between-2"]])
    client.send_command(b"CANCEL", b"topic")
    wire = out(client)
    assert [f for f, _ in parse_frames(wire)] == [0x00] * 5
    events = feed(server, wire, plan)
    assert flat(events) == [("msg", [b"before"]), CommandReceived(b"SUBSCRIBE", b"topic"),
                            ("msg", [b"between-1", b"between-2"]),
                            CommandReceived(b"CANCEL", b"topic")]
    assert out(server) == b""  # nothing to answer


def test_command_inside_a_multipart_message() -> None:
    """A sealed command between the frames of a multipart message does not split it."""
    server, forged = server_in_traffic()
    events = server.receive_data(frame(forged.message(1, b"head"))
                                 + frame(forged.message(2, b"\x04PING\x00\x00"))
                                 + frame(forged.message(0, b"tail")))
    assert flat(events) == [CommandReceived(b"PING", b"\x00\x00"), ("msg", [b"head", b"tail"])]


def test_sealed_error_closes() -> None:
    """An ERROR in a box ends the connection like a plain traffic ERROR; the messages
    before it are delivered."""
    server, forged = server_in_traffic()
    events = server.receive_data(frame(forged.message(0, b"first"))
                                 + frame(forged.message(2, b"\x05ERROR\x03400")))
    assert delivered(events) == [[b"first"]]
    err = closed(events)
    assert isinstance(err, AuthenticationFailed) and err.status_code == 400
    assert out(server) == b"" and wiped(server)


def test_sealed_command_malformed() -> None:
    server, forged = server_in_traffic()
    err = closed(server.receive_data(frame(forged.message(2, b"\x09SUB"))))
    assert type(err) is MalformedCommand
    assert err.code == Code.ZMTP_MALFORMED_COMMAND_UNSPECIFIED


def test_plain_command_in_traffic_is_refused() -> None:
    """After a CURVE handshake every frame must be a MESSAGE: a PING in the clear is not
    answered in the clear, it closes the connection (libzmq's order of checks)."""
    server, _ = server_in_traffic()
    err = closed(server.receive_data(cmd(b"\x04PING\x00\x00ctx")))
    assert type(err) is UnexpectedCommand and err.code == Code.ZMTP_UNEXPECTED_COMMAND
    assert out(server) == b""


def test_heartbeats_over_curve() -> None:
    """SECURITY-TESTS row 49: our PING goes in a box, the peer's PONG comes back in one
    and keeps the connection alive past the timeout."""
    client, server = traffic(client_conn={"heartbeat_ivl": 1.0, "heartbeat_timeout": 0.5,
                                          "heartbeat_ttl": 3.0})
    client.update_timers(0.0)
    assert client.get_timer() == 1.0
    assert client.handle_timer(1.0) == []
    frames = parse_frames(out(client))
    assert len(frames) == 1 and frames[0][0] == 0x00 and frames[0][1][:8] == b"\x07MESSAGE"
    events = server.receive_data(frame(frames[0][1]))
    assert events == [CommandReceived(b"PING", b"\x00\x1e")]  # TTL 3.0 s in tenths
    assert client.receive_data(out(server)) == [CommandReceived(b"PONG", b"")]
    assert client.handle_timer(1.6) == []  # the PONG counted: no timeout
    assert client.state is State.TRAFFIC
    # Without an answer, the timeout closes the connection.
    assert client.handle_timer(2.0) == []
    out(client)
    assert type(closed(client.handle_timer(2.5))) is UnspecifiedProtocolError
    assert wiped(client)


def test_maxmsgsize_applies_to_the_message_frame() -> None:
    """``maxmsgsize`` is checked on the frame as it travels (box included), before it is
    buffered, as libzmq's decoder does."""
    client, server = traffic(server_conn={"maxmsgsize": 100})
    client.send_messages([[b"x" * 67]])  # 33 + 67 = 100 octets
    assert server.receive_data(out(client)) == [MessagesReceived([[b"x" * 67]])]
    client.send_messages([[b"x" * 68]])
    events = server.receive_data(out(client))
    assert type(closed(events)) is MessageTooLarge and delivered(events) == []


# -- ZAP (RFC 27) ---------------------------------------------------------------------------------

ZAP_OK = [b"", b"1.0", b"1", b"200", b"OK", b"alice", metadata([(b"Role", b"admin")])]
ZAP_REQUEST = [b"", b"1.0", b"1", b"global", b"192.0.2.1", b"", b"CURVE", CLIENT_PUB]


def zap_waiting(**server_kw: Any) -> tuple[Connection, Connection]:
    """A client and a server whose handshake waits for the ZAP handler."""
    client = Connection(client_mech())
    server = Connection(server_mech(zap_handler=True, zap_domain=b"global", **server_kw))
    ec, es = exchange(client, server)
    assert ec == [] and es == [ZapRequested(ZAP_REQUEST)]
    assert mech(server).zap_request is None, "the Connection takes the request"
    assert not mech(server).done and out(server) == b""  # no READY before the reply
    assert server.state is State.EXPECT_HANDSHAKE
    return client, server


@pytest.mark.parametrize("plan", PLANS)
def test_zap_admits(plan: str) -> None:
    client = Connection(client_mech())
    server = Connection(server_mech(zap_handler=True, zap_domain=b"global"))
    ec, es = exchange(client, server, plan)
    assert ec == [] and es == [ZapRequested(ZAP_REQUEST)]
    meta = {"socket-type": b"DEALER", "identity": b"client-1", "role": b"admin",
            "user-id": b"alice"}
    assert server.zap_reply(ZAP_OK) == [HandshakeComplete(meta, 1)]
    assert server.peer_metadata == meta
    ec, es = exchange(client, server, plan)
    assert ec == [HandshakeComplete({"socket-type": b"ROUTER", "identity": b""}, 1)]
    assert es == []
    server.send_messages([[b"welcome", b"alice"]])
    assert delivered(feed(client, out(server), plan)) == [[b"welcome", b"alice"]]
    client.send_messages([[b"hi"]])
    assert delivered(feed(server, out(client), plan)) == [[b"hi"]]


def test_zap_properties_override_the_peers() -> None:
    """As libzmq: the handler's properties win over the peer's own; no User-Id property
    when the handler gave none."""
    _, server = zap_waiting()
    reply = [b"", b"1.0", b"1", b"200", b"OK", b"",
             metadata([(b"Identity", b"from-zap"), (b"X-Tier", b"gold")])]
    meta = {"socket-type": b"DEALER", "identity": b"from-zap", "x-tier": b"gold",
            "user-id": b""}  # libzmq: User-Id from the reply's frame, even empty
    assert server.zap_reply(reply) == [HandshakeComplete(meta, 1)]
    assert server.peer_metadata == meta


@pytest.mark.parametrize("status", [b"400", b"500"])
def test_zap_refuses_client(status: bytes) -> None:
    """SECURITY-TESTS rows 19 and 36: AUTH(n); the ERROR is queued before the close and
    the client stops with AUTH(n), exactly once."""
    client, server = zap_waiting()
    events = server.zap_reply([b"", b"1.0", b"1", status, b"no", b"", b""])
    err = closed(events)
    assert len(events) == 1
    assert type(err) is AuthenticationFailed and err.status_code == int(status)
    assert err.event == MonitorEvent.HANDSHAKE_FAILED_AUTH and err.event_value == int(status)
    assert out(server) == cmd(b"\x05ERROR\x03" + status)
    assert wiped(server)
    events = client.receive_data(cmd(b"\x05ERROR\x03" + status))
    err = closed(events)
    assert len(events) == 1
    assert type(err) is AuthenticationFailed and err.status_code == int(status)
    assert client.receive_data(cmd(b"\x05ERROR\x03" + status)) == []
    assert out(client) == b"" and wiped(client)
    assert server.zap_reply(ZAP_OK) == [] and out(server) == b""


def test_zap_temporary_failure_sends_no_error() -> None:
    """Row 35: 300 closes silently (RFC 27), the client may retry."""
    _, server = zap_waiting()
    events = server.zap_reply([b"", b"1.0", b"1", b"300", b"later", b"", b""])
    err = closed(events)
    assert len(events) == 1
    assert type(err) is AuthenticationFailed and err.status_code == 300
    assert out(server) == b"" and wiped(server)


@pytest.mark.parametrize(("reply", "exc"), [
    ([b"", b"2.0", b"1", b"200", b"", b"", b""], ZapBadVersion),
    ([b"", b"1.0", b"2", b"200", b"", b"", b""], ZapBadRequestId),
    ([b"", b"1.0", b"1", b"201", b"", b"", b""], ZapInvalidStatusCode),
    ([b"", b"1.0", b"1", b"200", b"", b""], ZapMalformedReply),
    ([b"", b"1.0", b"1", b"200", b"", b"", b"", b""], ZapMalformedReply),
    ([b"", b"1.0", b"1", b"200", b"", b"", b"\x00"], ZapInvalidMetadata),
    ([b"x", b"1.0", b"1", b"200", b"", b"", b""], ZapError),
], ids=["version", "request-id", "status", "6-frames", "8-frames", "metadata", "delimiter"])
def test_zap_malformed_reply(reply: list[bytes], exc: type[ZapError]) -> None:
    """Rows 31-34: a malformed reply refuses the peer with the ZAP code, no ERROR."""
    _, server = zap_waiting()
    err = closed(server.zap_reply(reply))
    assert type(err) is exc and err.code == exc.code
    assert out(server) == b"" and wiped(server)
    with pytest.raises(RuntimeError):  # the mechanism is closed
        mech(server).receive_zap_reply(ZAP_OK)
    assert server.zap_reply(ZAP_OK) == []


def test_zap_enforced_without_handler() -> None:
    """Row 37: no handler and ``zap_enforce_domain``: NODETAIL(EFAULT), no ERROR, no
    ZAP request, no READY."""
    client = Connection(client_mech())
    server = Connection(server_mech(zap_enforce_domain=True))
    _, es = exchange(client, server)
    err = closed(es)
    assert len(es) == 1 and type(err) is ZapHandlerMissing
    assert err.event == MonitorEvent.HANDSHAKE_FAILED_NO_DETAIL
    assert err.event_value == errno.EFAULT
    assert client.state is State.EXPECT_HANDSHAKE and wiped(server)


def test_no_zap_handler_admits() -> None:
    """libzmq's default: no handler bound, no enforcement: the client is admitted
    without a ZAP request (encryption without authentication)."""
    _, _, ec, es = handshake()
    assert [type(e) for e in ec] == [type(e) for e in es] == [HandshakeComplete]


def test_command_while_waiting_for_zap() -> None:
    """libzmq's curve_server reports this as an unspecified protocol error."""
    server, forged = server_at_initiate(zap_handler=True)
    assert [type(e) for e in server.receive_data(cmd(forged.initiate()))] == [ZapRequested]
    err = closed(server.receive_data(cmd(forged.initiate())))
    assert type(err) is UnspecifiedProtocolError
    assert wiped(server) and server.zap_reply(ZAP_OK) == [] and out(server) == b""


def test_message_while_waiting_for_zap() -> None:
    server, forged = server_at_initiate(zap_handler=True)
    events = server.receive_data(cmd(forged.initiate()) + frame(forged.message(0, b"early")))
    assert type(events[0]) is ZapRequested
    assert type(closed(events)) is UnexpectedCommand and delivered(events) == []


def test_zap_wait_times_out() -> None:
    """A handler that never answers: the handshake deadline still closes the connection."""
    server, forged = server_at_initiate(zap_handler=True, conn={"handshake_deadline": 10.0})
    assert [type(e) for e in server.receive_data(cmd(forged.initiate()))] == [ZapRequested]
    assert server.get_timer() == 10.0 and server.handle_timer(9.9) == []
    assert type(closed(server.handle_timer(10.0))) is UnspecifiedProtocolError
    assert wiped(server) and server.zap_reply(ZAP_OK) == []


def test_zap_reply_when_none_is_pending() -> None:
    """A reply outside the handshake is ignored; during it, without a request, it is a
    driver mistake."""
    _, server = traffic()
    assert server.zap_reply(ZAP_OK) == [] and out(server) == b""
    server, _ = server_at_initiate(zap_handler=True)
    with pytest.raises(RuntimeError):
        server.zap_reply(ZAP_OK)
    assert Connection(server_mech()).zap_reply(ZAP_OK) == []


# -- SECURITY-TESTS rows 7-18: the server refuses forged HELLO and INITIATE --------------------


def server_refuses(*bodies: bytes) -> tuple[ProtocolError, bytes]:
    """Feed a greeting and ``bodies`` to a fresh server; return its error and output."""
    server = Connection(server_mech())
    events = server.receive_data(build_greeting(b"CURVE", False)
                                 + b"".join(cmd(b) for b in bodies))
    return closed(events), out(server)


GREETING_ONLY = build_greeting(b"CURVE", True)


@pytest.mark.parametrize("body", [b"\x05HELLO", ForgedClient().hello()[:199],
                                  ForgedClient().hello() + b"\x00"],
                         ids=["name-only", "199", "201"])
def test_hello_wrong_size(body: bytes) -> None:
    """Row 7: HELLO of any size but 200 is malformed; no WELCOME is sent."""
    err, sent = server_refuses(body)
    assert isinstance(err, MalformedCommand) and err.code == Code.ZMTP_MALFORMED_COMMAND_HELLO
    assert sent == GREETING_ONLY


def test_hello_raw_bytes_from_the_matrix() -> None:
    server = Connection(server_mech())
    err = closed(server.receive_data(build_greeting(b"CURVE", False) + b"\x04\x06\x05HELLO"))
    assert err.code == Code.ZMTP_MALFORMED_COMMAND_HELLO


@pytest.mark.parametrize("name", [b"HELLP", b"WELCOME", b"INITIATE", b"READY", b"ERROR",
                                  b"MESSAGE"])
def test_hello_wrong_name(name: bytes) -> None:
    """Row 8: anything but HELLO first is an unexpected command."""
    body = ForgedClient().hello()
    err, sent = server_refuses(bytes((len(name),)) + name + body[6:])
    assert type(err) is UnexpectedCommand and err.code == Code.ZMTP_UNEXPECTED_COMMAND
    assert sent == GREETING_ONLY


@pytest.mark.parametrize("version", [b"\x02\x00", b"\x01\x01", b"\x00\x00"])
def test_hello_wrong_version(version: bytes) -> None:
    """Row 9."""
    err, _ = server_refuses(ForgedClient().hello(version=version))
    assert isinstance(err, MalformedCommand) and err.code == Code.ZMTP_MALFORMED_COMMAND_HELLO


@pytest.mark.parametrize("forged", [
    ForgedClient(server_key=OTHER_PUB), ForgedClient(server_key=CLIENT_PUB)],
    ids=["other-server-key", "client-key"])
def test_hello_for_another_server(forged: ForgedClient) -> None:
    """Row 10: the signature box opens only with our key; no WELCOME is sent."""
    err, sent = server_refuses(forged.hello())
    assert type(err) is CryptographicError and err.code == Code.ZMTP_CRYPTOGRAPHIC
    assert sent == GREETING_ONLY


def test_hello_with_all_zero_client_key() -> None:
    """Row 10: an all-zero C' (a low-order point) cannot make a box."""
    hello = bytearray(ForgedClient().hello())
    hello[80:112] = bytes(32)
    err, sent = server_refuses(bytes(hello))
    assert type(err) is CryptographicError and sent == GREETING_ONLY


def test_client_with_all_zero_server_key() -> None:
    """Row 10, client side: libzmq's client fails to box HELLO and reports CRYPTOGRAPHIC."""
    client = Connection(client_mech(curve_serverkey=bytes(32)))
    err = closed(client.receive_data(build_greeting(b"CURVE", True)))
    assert type(err) is CryptographicError
    assert out(client) == build_greeting(b"CURVE", False)


@pytest.mark.parametrize("index", [0, 35, 71])
def test_hello_nonzero_padding(index: int) -> None:
    """Row 11: stricter than libzmq, which never reads the padding."""
    padding = bytearray(72)
    padding[index] = 1
    err, sent = server_refuses(ForgedClient().hello(padding=bytes(padding)))
    assert isinstance(err, MalformedCommand) and err.code == Code.ZMTP_MALFORMED_COMMAND_HELLO
    assert sent == GREETING_ONLY


def test_hello_signature_not_zero() -> None:
    err, _ = server_refuses(ForgedClient().hello(signature=b"\x01" * 64))
    assert err.code == Code.ZMTP_MALFORMED_COMMAND_HELLO


@pytest.mark.parametrize("size", [9, 100, 256])
def test_initiate_too_short(size: int) -> None:
    """Row 12, including the matrix's raw ``\\x04\\x09\\x08INITIATE``."""
    server, forged = server_at_initiate()
    body = forged.initiate()[:size]
    events = server.receive_data(cmd(body))
    err = closed(events)
    assert len(events) == 1, "no event before the refusal"
    assert isinstance(err, MalformedCommand)
    assert err.code == Code.ZMTP_MALFORMED_COMMAND_INITIATE


def test_initiate_wrong_name() -> None:
    """Row 13."""
    server, forged = server_at_initiate()
    body = bytearray(forged.initiate())
    body[5] ^= 0x20
    err = closed(server.receive_data(cmd(bytes(body))))
    assert type(err) is UnexpectedCommand and err.code == Code.ZMTP_UNEXPECTED_COMMAND


@pytest.mark.parametrize("offset", [10, 30, 104], ids=["cookie-nonce", "cookie-box",
                                                       "cookie-mac-end"])
def test_initiate_cookie_tampered(offset: int) -> None:
    """Row 14: flip a cookie octet (the matrix flips octet 30)."""
    server, forged = server_at_initiate()
    body = bytearray(forged.initiate())
    body[offset] ^= 0x01
    err = closed(server.receive_data(cmd(bytes(body))))
    assert type(err) is CryptographicError and err.code == Code.ZMTP_CRYPTOGRAPHIC


@pytest.mark.parametrize("offset", [106, 150, -1], ids=["nonce", "box-150", "box-last"])
def test_initiate_box_tampered(offset: int) -> None:
    """Row 15: flip an octet of the short nonce or of the initiate box."""
    server, forged = server_at_initiate()
    body = bytearray(forged.initiate())
    body[offset] ^= 0x01
    err = closed(server.receive_data(cmd(bytes(body))))
    assert type(err) is CryptographicError


def test_initiate_nonce_must_follow_hello() -> None:
    """RFC 26: the client's short nonces increase (libzmq does not check INITIATE's)."""
    server, forged = server_at_initiate()
    err = closed(server.receive_data(cmd(forged.initiate(nonce=1))))
    assert type(err) is InvalidSequence and err.code == Code.ZMTP_INVALID_SEQUENCE


def refuse_initiate_with(**kw: Any) -> ProtocolError:
    server, forged = server_at_initiate(zap_handler=True)
    events = server.receive_data(cmd(forged.initiate(**kw)))
    assert out(server) == b"", "nothing may be sent after a refused INITIATE"
    assert not mech(server).done and len(events) == 1, "no ZAP request for a bad INITIATE"
    return closed(events)


def test_initiate_vouch_for_other_transient_key() -> None:
    """Row 17: the vouch must name the C' of this connection's HELLO."""
    err = refuse_initiate_with(vouch_cn=OTHER_PUB)
    assert type(err) is KeyExchangeError and err.code == Code.ZMTP_KEY_EXCHANGE


def test_initiate_vouch_names_other_server() -> None:
    """Row 18: stricter than libzmq, which reads only the C' half of the vouch."""
    err = refuse_initiate_with(vouch_server=OTHER_PUB)
    assert type(err) is KeyExchangeError and err.code == Code.ZMTP_KEY_EXCHANGE


def test_initiate_vouch_signed_by_another_key() -> None:
    """The vouch must be boxed by the long-term key that INITIATE announces."""
    assert type(refuse_initiate_with(vouch_sec=OTHER_SEC)) is CryptographicError
    assert type(refuse_initiate_with(client_key=OTHER_PUB)) is CryptographicError


@pytest.mark.parametrize("meta", [
    b"\x00",                                                 # name length 0
    b"\x0bSocket-Type\x00\x00\x00\x07DEALER",                # value runs past the end
    b"\x0bSocket-Type\x80\x00\x00\x00DEALER",                # value length 2^31
    b"\x0bSocket-Type",                                      # no value length
    b"\x05Sock\xfe\x00\x00\x00\x00",                          # bad name character
    metadata([(b"Identity", b"x")]),                         # no Socket-Type
    metadata([(b"Socket-Type", b"PUB")]),                    # cannot talk to a ROUTER
], ids=["name-0", "value-past-end", "value-2^31", "truncated", "bad-char", "no-type",
        "wrong-type"])
def test_initiate_bad_metadata(meta: bytes) -> None:
    """Row 23: malformed or incompatible metadata in INITIATE."""
    err = refuse_initiate_with(meta=meta)
    # A socket-type mismatch is the subclass libzmq reports with DISCONNECTED alone.
    assert isinstance(err, InvalidMetadata) and err.code == Code.ZMTP_INVALID_METADATA


def test_initiate_over_the_handshake_frame_limit() -> None:
    """Row 23: a huge INITIATE is refused on its frame header, before it is buffered."""
    server, _ = server_at_initiate()
    err = closed(server.receive_data(struct.pack(">BQ", 0x06, HANDSHAKE_FRAME_LIMIT + 1)))
    assert isinstance(err, MessageTooLarge)


def first_hello(client: Connection) -> bytes:
    """The client's HELLO frame, once it has seen a server greeting."""
    out(client)
    client.receive_data(build_greeting(b"CURVE", True))
    return out(client)


def test_initiate_replayed_on_a_new_connection() -> None:
    """Row 16: HELLO and INITIATE captured and replayed on a new connection."""
    client = Connection(client_mech())
    server = Connection(server_mech())
    hello = first_hello(client)
    server.receive_data(build_greeting(b"CURVE", False) + hello)
    client.receive_data(out(server)[64:])
    initiate = out(client)
    assert isinstance(server.receive_data(initiate)[0], HandshakeComplete)
    replay = Connection(server_mech(seed=11))
    err = closed(replay.receive_data(build_greeting(b"CURVE", False) + hello + initiate))
    assert type(err) is CryptographicError and err.code == Code.ZMTP_CRYPTOGRAPHIC


def test_initiate_replayed_under_a_shared_cookie_key() -> None:
    """Row 16 with a CookieKeeper shared by the socket: the old cookie still opens, but it
    was not issued on this connection, so the replay is refused all the same."""
    now = [0.0]
    keeper = CookieKeeper(lambda: now[0], random=det_random(99))
    client = Connection(client_mech())
    server = Connection(server_mech(cookie_keeper=keeper))
    hello = first_hello(client)
    server.receive_data(build_greeting(b"CURVE", False) + hello)
    client.receive_data(out(server)[64:])
    initiate = out(client)
    assert isinstance(server.receive_data(initiate)[0], HandshakeComplete)
    now[0] = 1.0
    replay = Connection(server_mech(seed=11, cookie_keeper=keeper))
    err = closed(replay.receive_data(build_greeting(b"CURVE", False) + hello + initiate))
    assert type(err) is CryptographicError


def test_initiate_cookie_from_another_connection_same_keeper() -> None:
    """A cookie taken from a concurrent connection of the same socket is refused."""
    keeper = CookieKeeper(lambda: 0.0, random=det_random(98))
    server_a, forged_a = server_at_initiate(cookie_keeper=keeper)
    server_b, forged_b = server_at_initiate(seed=12, cookie_keeper=keeper)
    err = closed(server_b.receive_data(cmd(forged_b.initiate(cookie=forged_a.cookie))))
    assert type(err) is CryptographicError
    assert isinstance(server_a.receive_data(cmd(forged_a.initiate()))[0], HandshakeComplete)


@pytest.mark.parametrize(("delay", "ok"), [(59.0, True), (119.9, True), (120.0, False),
                                           (500.0, False)])
def test_cookie_lifetime(delay: float, ok: bool) -> None:
    """RFC 26: the cookie key is discarded after a short interval (60 to 120 s here)."""
    now = [1000.0]
    keeper = CookieKeeper(lambda: now[0], random=det_random(97))
    server, forged = server_at_initiate(cookie_keeper=keeper)
    now[0] += delay
    events = server.receive_data(cmd(forged.initiate()))
    if ok:
        assert isinstance(events[0], HandshakeComplete)
    else:
        assert type(closed(events)) is CryptographicError


def test_cookie_keeper_rotates_and_zeroes() -> None:
    now = [0.0]
    keeper = CookieKeeper(lambda: now[0], random=det_random(96))
    first = keeper.sealing_key()
    assert keeper.sealing_key() == first and keeper.opening_keys() == [first]
    now[0] = 60.0
    second = keeper.sealing_key()
    assert second != first and keeper.opening_keys() == [second, first]
    old = keeper._keys[-1][1]
    now[0] = 120.0
    assert keeper.opening_keys() == [second]
    assert old == bytearray(32), "an expired key is zeroed"
    keeper.wipe()
    assert keeper.opening_keys() == []


# -- the client's side: rows 10 and 22 --------------------------------------------------------


@pytest.mark.parametrize("offset", [8, 30, 167], ids=["nonce", "box", "mac-end"])
def test_welcome_tampered(offset: int) -> None:
    """Row 22: a WELCOME that does not open (libzmq: CRYPTOGRAPHIC)."""
    client, hello = client_at_welcome()
    welcome = bytearray(ForgedServer().welcome(hello))
    welcome[offset] ^= 0x01
    err = closed(client.receive_data(cmd(bytes(welcome))))
    assert type(err) is CryptographicError
    assert out(client) == b""


def test_welcome_from_another_server() -> None:
    """A WELCOME boxed by a server key other than the one we trust."""
    client = Connection(client_mech(curve_serverkey=OTHER_PUB))
    out(client)
    client.receive_data(build_greeting(b"CURVE", True))
    hello = out(client)[2:]
    err = closed(client.receive_data(cmd(ForgedServer().welcome(hello))))
    assert type(err) is CryptographicError


@pytest.mark.parametrize("size", [8, 167, 169])
def test_welcome_wrong_size(size: int) -> None:
    """Row 22: WELCOME must be 168 octets (libzmq says CRYPTOGRAPHIC; we say which)."""
    client, hello = client_at_welcome()
    welcome = (ForgedServer().welcome(hello) + b"\x00")[:size]
    err = closed(client.receive_data(cmd(welcome)))
    assert isinstance(err, MalformedCommand)
    assert err.code == Code.ZMTP_MALFORMED_COMMAND_WELCOME


def client_at_ready() -> tuple[Connection, ForgedServer]:
    client, hello = client_at_welcome()
    forged = ForgedServer()
    client.receive_data(cmd(forged.welcome(hello)))
    assert out(client)
    return client, forged


def test_ready_tampered() -> None:
    """Row 22."""
    client, forged = client_at_ready()
    ready = bytearray(forged.ready(metadata([(b"Socket-Type", b"ROUTER")])))
    ready[20] ^= 0x01
    err = closed(client.receive_data(cmd(bytes(ready))))
    assert type(err) is CryptographicError


def test_ready_too_short() -> None:
    client, forged = client_at_ready()
    ready = forged.ready(b"")[:29]
    err = closed(client.receive_data(cmd(ready)))
    assert isinstance(err, MalformedCommand) and err.code == Code.ZMTP_MALFORMED_COMMAND_READY


@pytest.mark.parametrize("meta", [b"\x00", b"\x0bSocket-Type\x80\x00\x00\x00",
                                  metadata([(b"Socket-Type", b"PULL")])])
def test_ready_bad_metadata(meta: bytes) -> None:
    """Row 23, READY side."""
    client, forged = client_at_ready()
    err = closed(client.receive_data(cmd(forged.ready(meta))))
    assert isinstance(err, InvalidMetadata)


@pytest.mark.parametrize("at_ready", [False, True])
def test_error_during_handshake(at_ready: bool) -> None:
    """Row 22: ERROR with a ZAP status code is an authentication failure, as in libzmq."""
    client = client_at_ready()[0] if at_ready else client_at_welcome()[0]
    err = closed(client.receive_data(cmd(b"\x05ERROR\x03400")))
    assert isinstance(err, AuthenticationFailed) and err.status_code == 400


def test_error_other_text_and_malformed() -> None:
    client, _ = client_at_welcome()
    err = closed(client.receive_data(cmd(b"\x05ERROR\x04nope")))
    assert type(err) is UnspecifiedProtocolError
    client, _ = client_at_welcome()
    err = closed(client.receive_data(cmd(b"\x05ERROR\x09short")))
    assert isinstance(err, MalformedCommand) and err.code == Code.ZMTP_MALFORMED_COMMAND_ERROR
    client, _ = client_at_welcome()
    err = closed(client.receive_data(cmd(b"\x05ERROR")))
    assert err.code == Code.ZMTP_MALFORMED_COMMAND_ERROR


@pytest.mark.parametrize("name", [b"READY", b"HELLO", b"INITIATE", b"MESSAGE", b"PING"])
def test_client_unexpected_command(name: bytes) -> None:
    client, _ = client_at_welcome()
    err = closed(client.receive_data(cmd(bytes((len(name),)) + name + bytes(200))))
    assert type(err) is UnexpectedCommand


def test_client_command_before_start() -> None:
    m = client_mech()
    with pytest.raises(UnexpectedCommand):
        m.receive_command(b"WELCOME", bytes(160))
    m = client_mech()
    assert len(m.start()) == 1 and m.start() == []


def test_server_unexpected_second_hello() -> None:
    server, forged = server_at_initiate()
    err = closed(server.receive_data(cmd(forged.hello())))
    assert type(err) is UnexpectedCommand


def test_message_frame_before_ready() -> None:
    client, _ = client_at_ready()
    err = closed(client.receive_data(frame(b"\x07MESSAGE" + bytes(40))))
    assert type(err) is UnexpectedCommand


def test_both_peers_claim_the_server_role() -> None:
    """Row 5: two CURVE servers are refused on the greeting, before any command."""
    server = Connection(server_mech())
    out(server)
    events = server.receive_data(build_greeting(b"CURVE", True))
    assert type(closed(events)) is MechanismMismatch
    assert out(server) == b""


def test_libzmq_server_greeting_with_as_server_0() -> None:
    """libzmq 4.3.5 sends as-server 0 even as a CURVE server: our client accepts it."""
    client = Connection(client_mech())
    out(client)
    assert client.receive_data(build_greeting(b"CURVE", False)) == []
    assert out(client)[:2] == b"\x04\xc8"  # HELLO follows


# -- traffic through the Connection: rows 20 and 21 ---------------------------------------------


@pytest.mark.parametrize("plan", PLANS)
def test_message_replayed(plan: str) -> None:
    """Row 20: a MESSAGE duplicated by a man in the middle is not delivered a second
    time; the connection closes with INVALID_SEQUENCE and sends nothing."""
    client, server = traffic()
    client.send_messages([[b"pay me"]])
    wire = out(client)
    events = feed(server, wire + wire, plan)
    assert delivered(events) == [[b"pay me"]]
    err = closed(events)
    assert type(err) is InvalidSequence and err.code == Code.ZMTP_INVALID_SEQUENCE
    assert out(server) == b"" and server.state is State.CLOSED and wiped(server)
    client.send_messages([[b"next"]])
    assert server.receive_data(out(client)) == []
    with pytest.raises(RuntimeError):  # the mechanism is closed after a violation
        mech(server).open(mech(client).seal(0, b"after"))


def test_message_replayed_in_a_later_read() -> None:
    client, server = traffic()
    client.send_messages([[b"once"]])
    wire = out(client)
    assert server.receive_data(wire) == [MessagesReceived([[b"once"]])]
    events = server.receive_data(wire)
    assert len(events) == 1 and type(closed(events)) is InvalidSequence


def test_message_replayed_inside_a_multipart() -> None:
    """A replayed first frame of a multipart message: the partial message is dropped,
    never delivered."""
    client, server = traffic()
    client.send_messages([[b"head", b"tail"]])
    (_, head), (_, tail) = parse_frames(out(client))
    events = server.receive_data(frame(head) + frame(head) + frame(tail))
    assert len(events) == 1 and type(closed(events)) is InvalidSequence


@pytest.mark.parametrize("plan", PLANS)
def test_message_reordered(plan: str) -> None:
    client, server = traffic()
    client.send_messages([[b"1"], [b"2"]])
    first, second = parse_frames(out(client))
    events = feed(server, frame(second[1]) + frame(first[1]), plan)
    assert delivered(events) == [[b"2"]]
    err = closed(events)
    assert type(err) is InvalidSequence and err.code == Code.ZMTP_INVALID_SEQUENCE


def test_message_nonce_of_the_handshake() -> None:
    """The client's first MESSAGE must follow INITIATE's nonce (2), as libzmq checks."""
    server, forged = server_in_traffic()
    events = server.receive_data(frame(forged.message(0, b"x", nonce=2)))
    assert len(events) == 1 and type(closed(events)) is InvalidSequence


def test_nonces_increase_and_directions_differ() -> None:
    client, _ = traffic()
    client.send_messages([[b"a"], [b"a"]])
    (_, first), (_, second) = parse_frames(out(client))
    assert struct.unpack(">Q", first[8:16])[0] + 1 == struct.unpack(">Q", second[8:16])[0]
    assert first[16:] != second[16:]
    # A client box cannot be reflected back to the client: the nonce prefixes differ.
    events = client.receive_data(frame(first))
    assert type(closed(events)) is CryptographicError and delivered(events) == []


def flipped(body: bytes, index: int) -> bytes:
    b = bytearray(body)
    b[index] ^= 0x01
    return bytes(b)


def one_sealed_frame(conn: Connection, payload: bytes) -> bytes:
    conn.send_messages([[payload]])
    ((flags, body),) = parse_frames(out(conn))
    assert flags == 0
    return body


@pytest.mark.parametrize("index", [16, 20, 32, -1], ids=["mac-start", "mac", "payload",
                                                         "last"])
@pytest.mark.parametrize("plan", PLANS)
def test_message_box_tampered(index: int, plan: str) -> None:
    """Row 21: a flipped bit anywhere in the box fails authentication: nothing is
    delivered and the connection closes without ERROR."""
    client, server = traffic()
    body = flipped(one_sealed_frame(client, b"payload!"), index)
    events = feed(server, frame(body), plan)
    err = closed(events)
    assert len(events) == 1
    assert type(err) is CryptographicError and err.code == Code.ZMTP_CRYPTOGRAPHIC
    assert out(server) == b"" and wiped(server)


def test_message_tampered_after_intact_ones() -> None:
    """The intact messages before the bad box are delivered, then the close."""
    client, server = traffic()
    client.send_messages([[b"ok-1"], [b"ok-2", b"ok-3"], [b"bad"]])
    frames = [b for _, b in parse_frames(out(client))]
    frames[-1] = flipped(frames[-1], -1)
    events = server.receive_data(b"".join(frame(b) for b in frames))
    assert delivered(events) == [[b"ok-1"], [b"ok-2", b"ok-3"]]
    assert type(closed(events)) is CryptographicError


def test_message_nonce_tampered() -> None:
    client, server = traffic()
    body = flipped(one_sealed_frame(client, b"payload!"), 14)  # a higher nonce, not its own
    events = server.receive_data(frame(body))
    assert len(events) == 1 and type(closed(events)) is CryptographicError


@pytest.mark.parametrize("cut", [1, 16])
def test_message_truncated(cut: int) -> None:
    """Row 21: a box cut short does not open."""
    client, server = traffic()
    body = one_sealed_frame(client, b"x" * 20)[:-cut]
    events = server.receive_data(frame(body))
    assert len(events) == 1 and type(closed(events)) is CryptographicError


@pytest.mark.parametrize(("body", "exc", "code"), [
    (b"", MalformedCommand, Code.ZMTP_MALFORMED_COMMAND_UNSPECIFIED),
    (b"\x07", MalformedCommand, Code.ZMTP_MALFORMED_COMMAND_UNSPECIFIED),
    (b"\x07MESSAG", MalformedCommand, Code.ZMTP_MALFORMED_COMMAND_UNSPECIFIED),
    (b"\x07MESSAGE", MalformedCommand, Code.ZMTP_MALFORMED_COMMAND_MESSAGE),
    (b"\x07MESSAGE" + bytes(24), MalformedCommand, Code.ZMTP_MALFORMED_COMMAND_MESSAGE),
    (b"\x07MESSAGE" + struct.pack(">Q", 9), MalformedCommand,
     Code.ZMTP_MALFORMED_COMMAND_MESSAGE),
    (b"\x05HELLO" + bytes(40), UnexpectedCommand, Code.ZMTP_UNEXPECTED_COMMAND),
    (b"\x04PING\x00\x00" + bytes(30), UnexpectedCommand, Code.ZMTP_UNEXPECTED_COMMAND),
    (b"hello world, plain", MalformedCommand, Code.ZMTP_MALFORMED_COMMAND_UNSPECIFIED),
], ids=["empty", "name-length-only", "short-name", "name-only", "32", "header-only",
        "hello", "ping", "plain"])
@pytest.mark.parametrize("command", [False, True], ids=["outer-0", "outer-command"])
def test_message_malformed(body: bytes, exc: type[ProtocolError], code: int,
                           command: bool) -> None:
    """Row 21: truncated (< 33 octets) and non-MESSAGE traffic frames, checked in
    libzmq's order (command structure, then name, then size), whatever the outer flags:
    nothing delivered, nothing sent."""
    _, server = traffic()
    events = server.receive_data(frame(body, command=command))
    err = closed(events)
    assert len(events) == 1
    assert type(err) is exc and err.code == code
    assert out(server) == b"" and wiped(server)


@pytest.mark.parametrize("flags", [0x04, 0x08, 0x80, 0xFF])
def test_message_reserved_flags(flags: int) -> None:
    """Row 21: inner flag bits 7-2 are reserved (RFC 26); libzmq ignores them, we refuse."""
    server, forged = server_in_traffic()
    events = server.receive_data(frame(forged.message(flags, b"x")))
    err = closed(events)
    assert len(events) == 1
    assert type(err) is MalformedCommand and err.code == Code.ZMTP_MALFORMED_COMMAND_MESSAGE


def test_message_command_flag_accepted() -> None:
    """Row 21: 0x02 (COMMAND, libzmq's) is accepted and routed to the command handler."""
    server, forged = server_in_traffic()
    events = server.receive_data(frame(forged.message(2, b"\x09SUBSCRIBEtopic")))
    assert events == [CommandReceived(b"SUBSCRIBE", b"topic")]


def test_no_clear_command_after_a_failure() -> None:
    """A PONG owed for a PING that came before a bad box is not sent: the session key is
    gone and nothing goes out in the clear; nor does a command queued afterwards."""
    server, forged = server_in_traffic()
    events = server.receive_data(frame(forged.message(2, b"\x04PING\x00\x00ctx"))
                                 + frame(flipped(forged.message(0, b"bad"), -1)))
    assert events[0] == CommandReceived(b"PING", b"\x00\x00ctx")
    assert type(closed(events)) is CryptographicError
    server.send_command(b"SUBSCRIBE", b"x")
    assert out(server) == b"" and not server.has_output()


@pytest.mark.parametrize("plan", PLANS)
def test_framing_error_after_messages(plan: str) -> None:
    """A frame with reserved outer flags after sealed frames: each message before it is
    delivered exactly once, whatever the chunks, then the close."""
    server, forged = server_in_traffic()
    wire = (frame(forged.message(0, b"once")) + cmd(forged.message(0, b"in a command"))
            + b"\x08\x00")
    events = feed(server, wire, plan)
    assert flat(events) == [("msg", [b"once"]), ("msg", [b"in a command"]),
                            ("closed", UnspecifiedProtocolError, Code.ZMTP_UNSPECIFIED)]


# -- the mechanism's own API ---------------------------------------------------------------------


def traffic_pair() -> tuple[CurveMechanism, CurveMechanism]:
    client, server = traffic()
    return mech(client), mech(server)


@pytest.mark.parametrize("flags", [0, 1, 2, 3])
@pytest.mark.parametrize("size", [0, 1, 64, 65536])
def test_seal_open_round_trip(flags: int, size: int) -> None:
    cm, sm = traffic_pair()
    payload = bytes(random.Random(size).randbytes(size))
    body = cm.seal(flags, payload)
    assert len(body) == 33 + size
    assert sm.open(body) == (flags, payload)
    assert cm.open(sm.seal(flags, payload)) == (flags, payload)


def test_seal_refuses_bad_flags_and_early_use() -> None:
    cm, _ = traffic_pair()
    for flags in (-1, 4, 0x80):
        with pytest.raises(ValueError):
            cm.seal(flags, b"x")
    early = client_mech()
    with pytest.raises(RuntimeError):
        early.seal(0, b"x")
    with pytest.raises(RuntimeError):
        early.open(b"\x07MESSAGE" + bytes(30))


def test_open_accepts_buffers() -> None:
    cm, sm = traffic_pair()
    assert sm.open(memoryview(cm.seal(0, b"view"))) == (0, b"view")
    assert sm.open(bytearray(cm.seal(1, b"ba"))) == (1, b"ba")


def test_send_before_the_handshake() -> None:
    client = Connection(client_mech())
    with pytest.raises(RuntimeError):
        client.send_messages([[b"too early"]])


# -- secrets ---------------------------------------------------------------------------------------


def test_wipe_zeroes_secrets() -> None:
    """The driver's ``conn.wipe()`` at the end of the stream zeroes the mechanism."""
    client, server = traffic()
    for conn in (client, server):
        m = mech(conn)
        secrets = [m._secret, m._key]
        assert any(any(s) for s in secrets if s is not None)
        conn.wipe()
        assert all(s == bytearray(len(s)) for s in secrets if s is not None)
        assert wiped(conn)
        with pytest.raises(RuntimeError):
            m.seal(0, b"after wipe")
        with pytest.raises(UnexpectedCommand):
            m.receive_command(b"READY", b"")


def test_failed_open_waits_for_a_seal_in_another_thread(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One thread may seal while another opens; a forged box makes the opener wipe the
    session key, which must wait for the seal in progress rather than zero the key
    under it (the seal would then go out under a key of zeros)."""
    import securemq.security.curve as curve_module

    cm, sm = traffic_pair()
    real = curve_module._sodium
    in_seal, release = threading.Event(), threading.Event()

    class SlowSeal:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def crypto_box_easy_afternm(self, *args: Any) -> int:
            in_seal.set()
            release.wait(10)
            return int(real.crypto_box_easy_afternm(*args))

    forged = bytearray(sm.seal(0, b"from the server"))
    forged[-1] ^= 1
    monkeypatch.setattr(curve_module, "_sodium", SlowSeal())
    sealed: list[Any] = []
    sealer = threading.Thread(target=cm.seal_messages, args=([[b"secret"]], sealed.append))
    sealer.start()
    assert in_seal.wait(10)
    failures: list[BaseException] = []

    def open_forged() -> None:
        try:
            cm.open_frames([[bytes(forged)]], [])
        except CryptographicError as exc:
            failures.append(exc)

    opener = threading.Thread(target=open_forged)
    opener.start()
    opener.join(0.3)
    assert opener.is_alive(), "the wipe did not wait for the seal in progress"
    assert cm._key is not None and any(cm._key)
    release.set()
    sealer.join(10)
    opener.join(10)
    assert len(failures) == 1 and cm._key is None
    (frame,) = sealed
    assert sm.open(bytes(frame[2:])) == (0, b"secret")  # sealed under the real key
    with pytest.raises(RuntimeError):
        cm.seal_messages([[b"after"]], sealed.append)


def test_secrets_dropped_as_the_handshake_goes() -> None:
    client = Connection(client_mech())
    server = Connection(server_mech())
    cm, sm = mech(client), mech(server)
    server.receive_data(build_greeting(b"CURVE", False) + first_hello(client))
    # After WELCOME the server holds no transient secret: s' lives only in the cookie.
    assert sm._cn_secret is None and sm._key is None
    cookie_key = sm._cookies._keys[0][1] if sm._cookies else None
    assert cookie_key is not None and any(cookie_key)
    c_prime = cm._cn_secret
    assert c_prime is not None and any(c_prime)
    client.receive_data(out(server)[64:])
    # After INITIATE the client keeps only the session key.
    assert c_prime == bytearray(32) and cm._secret == bytearray(32)
    server.receive_data(out(client))
    # A private cookie key is zeroed once INITIATE arrives.
    assert cookie_key == bytearray(32)


def test_failure_wipes() -> None:
    """The Connection wipes the mechanism on any failure: handshake, traffic, ZAP."""
    server, forged = server_at_initiate()
    secret = mech(server)._secret
    closed(server.receive_data(cmd(forged.initiate(vouch_server=OTHER_PUB))))
    assert secret == bytearray(32)
    client, server = traffic()
    key = mech(server)._key
    assert key is not None and any(key)
    closed(server.receive_data(frame(flipped(one_sealed_frame(client, b"x"), -1))))
    assert key == bytearray(32) and wiped(server)
    _, server = zap_waiting()
    secret, key = mech(server)._secret, mech(server)._key
    assert key is not None and any(key)
    closed(server.zap_reply([b"", b"1.0", b"1", b"400", b"", b"", b""]))
    assert secret == bytearray(32) and key == bytearray(32)


def test_keys_must_be_32_octets() -> None:
    with pytest.raises(ValueError):
        CurveMechanism(server_config(curve_secretkey=b""))
    with pytest.raises(ValueError):
        CurveMechanism(client_config(curve_serverkey=b"z" * 40))


# -- interop with libzmq 4.3.5 through pyzmq --------------------------------------------------
#
# A small blocking driver: a TCP socket and a Connection, nothing else. It writes what
# data_to_send() gives, feeds what arrives to receive_data(), answers ZapRequested through a
# callback and keeps the Connection's timers. Every wait is a select() with a deadline.

ZapHandler = Callable[[list[bytes]], list[bytes]]


class Driver:
    """Drives a Connection over a blocking TCP socket, with the Connection API only."""

    def __init__(self, sock: socket.socket, conn: Connection, zap: ZapHandler | None = None
                 ) -> None:
        self.sock = sock
        self.conn = conn
        self.zap = zap
        self.events: list[Event] = []      # everything but messages, in order
        self.messages: list[list[bytes]] = []
        self.received = bytearray()        # the raw bytes from libzmq, for wire checks
        self.answer = True                 # False: drop our output (a silent peer)
        self.eof = False

    def flush(self) -> None:
        data = out(self.conn)
        if data and self.answer:
            self.sock.sendall(data)

    def _handle(self, events: list[Event]) -> None:
        for ev in events:
            if isinstance(ev, MessagesReceived):
                self.messages += ev.messages
                continue
            self.events.append(ev)
            if isinstance(ev, ZapRequested):
                assert self.zap is not None, "unexpected ZAP request"
                self._handle(self.conn.zap_reply(self.zap(ev.frames)))
        self.conn.update_timers(time.monotonic())

    def step(self, deadline: float) -> None:
        """Write what is queued, then wait until input, a timer or ``deadline``."""
        self.flush()
        now = time.monotonic()
        wait = deadline - now
        timer = self.conn.get_timer()
        if timer is not None:
            wait = min(wait, timer - now)
        ready, _, _ = select.select([self.sock], [], [], max(0.0, wait))
        if ready:
            try:
                data = self.sock.recv(1 << 16)
            except ConnectionResetError:
                data = b""
            if not data:
                self.eof = True
                return
            self.received += data
            self._handle(self.conn.receive_data(data))
        else:
            self._handle(self.conn.handle_timer(time.monotonic()))
        self.flush()

    def is_closed(self) -> bool:
        return any(isinstance(e, ConnectionClosed) for e in self.events)

    def until(self, done: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert not self.is_closed(), self.events
            assert not self.eof, f"libzmq closed the connection; {self.events}"
            if time.monotonic() >= deadline:
                raise TimeoutError(f"waited in vain; events so far: {self.events}")
            self.step(deadline)

    def run_for(self, seconds: float) -> None:
        """Keep the conversation going for ``seconds``; the connection must stay up."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            assert not self.is_closed(), self.events
            assert not self.eof, f"libzmq closed the connection; {self.events}"
            self.step(end)

    def handshake(self) -> dict[str, bytes]:
        self.until(lambda: any(isinstance(e, HandshakeComplete) for e in self.events))
        complete = [e for e in self.events if isinstance(e, HandshakeComplete)]
        assert len(complete) == 1
        return complete[0].metadata

    def send(self, *messages: list[bytes]) -> None:
        self.conn.send_messages(list(messages))
        self.flush()

    def receive(self, n: int = 1, timeout: float = 5.0) -> list[list[bytes]]:
        """The next ``n`` messages."""
        self.until(lambda: len(self.messages) >= n, timeout)
        taken, self.messages = self.messages[:n], self.messages[n:]
        return taken

    def commands(self, name: bytes) -> list[bytes]:
        return [e.data for e in self.events if isinstance(e, CommandReceived) and e.name == name]

    def wait_zmq(self, zsock: Any, timeout: float = 5.0) -> None:
        """Wait until ``zsock`` has a message, answering libzmq all the while."""
        deadline = time.monotonic() + timeout
        while not zsock.poll(0):
            assert time.monotonic() < deadline, "nothing arrived at the libzmq socket"
            assert not self.is_closed() and not self.eof, self.events
            self.step(min(deadline, time.monotonic() + 0.01))

    def expect_eof(self, timeout: float = 5.0) -> None:
        """Keep the conversation going until libzmq closes the connection."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"libzmq kept the connection; events: {self.events}")
            self.step(deadline)

    def close(self) -> None:
        self.conn.wipe()
        self.sock.close()


@pytest.fixture
def zsock(zctx: Any) -> Iterator[Callable[[int], Any]]:
    """``zsock(type)``: a pyzmq socket with linger 0, closed before the context goes."""
    made: list[Any] = []

    def make(kind: int) -> Any:
        sock = zctx.socket(kind)
        sock.linger = 0
        made.append(sock)
        return sock
    yield make
    for sock in made:
        sock.close(linger=0)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    lst = socket.create_server(("127.0.0.1", 0))
    yield lst
    lst.close()


def z85() -> Any:
    return pytest.importorskip("zmq.utils.z85")


def libzmq_server(zsock: Callable[[int], Any], kind: int, **opts: Any
                  ) -> tuple[Any, int, bytes]:
    """A pyzmq CURVE server socket bound to a random port; returns it, the port, S."""
    zmq = pytest.importorskip("zmq")
    public, secret = zmq.curve_keypair()
    sock = zsock(kind)
    sock.curve_server = True
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    for name, value in opts.items():
        setattr(sock, name, value)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    return sock, port, z85().decode(public)


def our_client(port: int, server_key: bytes, socket_type: int = DEALER, **conn_kw: Any
               ) -> Driver:
    zmq = pytest.importorskip("zmq")
    public, secret = zmq.curve_keypair()
    cfg = HandshakeConfig(socket_type, routing_id=b"ours", curve_publickey=z85().decode(public),
                          curve_secretkey=z85().decode(secret), curve_serverkey=server_key)
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return Driver(sock, Connection(CurveMechanism(cfg), **conn_kw))


def our_server(listener: socket.socket, socket_type: int, zap: ZapHandler | None = None,
               **cfg: Any) -> tuple[Callable[[], Driver], bytes]:
    """A server config with fresh keys; returns an accept function and S."""
    secret = nb.randombytes(32)
    public = nb.crypto_scalarmult_base(secret)

    def accept() -> Driver:
        listener.settimeout(5)
        sock, addr = listener.accept()
        config = HandshakeConfig(socket_type, as_server=True, curve_secretkey=secret, **cfg)
        return Driver(sock, Connection(CurveMechanism(config, addr[0])), zap)
    return accept, public


def libzmq_client(zsock: Callable[[int], Any], kind: int, port: int, server_key: bytes,
                  **opts: Any) -> tuple[Any, bytes]:
    zmq = pytest.importorskip("zmq")
    public, secret = zmq.curve_keypair()
    sock = zsock(kind)
    sock.curve_serverkey = z85().encode(server_key)
    sock.curve_publickey = public
    sock.curve_secretkey = secret
    for name, value in opts.items():
        setattr(sock, name, value)
    sock.connect(f"tcp://127.0.0.1:{port}")
    return sock, z85().decode(public)


def first_message_frame(wire: bytes) -> tuple[int, int]:
    """(outer flags, short nonce) of the first MESSAGE frame libzmq sent."""
    i = wire.index(b"\x07MESSAGE")
    return wire[i - 2], struct.unpack(">Q", wire[i + 8:i + 16])[0]


BIG = bytes(random.Random(5).randbytes(100_000))


@pytest.mark.interop
def test_interop_our_client_libzmq_server(zsock: Any) -> None:
    zmq = pytest.importorskip("zmq")
    router, port, server_key = libzmq_server(zsock, zmq.ROUTER)
    driver = our_client(port, server_key)
    try:
        # libzmq sends as-server 0 even as a server; no patch of its greeting is needed.
        assert driver.handshake() == {"socket-type": b"ROUTER", "identity": b""}
        driver.send([b"hello", b"libzmq"], [BIG])
        driver.wait_zmq(router)
        rid, *parts = router.recv_multipart()
        assert rid == b"ours" and parts == [b"hello", b"libzmq"]
        driver.wait_zmq(router)
        assert router.recv_multipart() == [rid, BIG]
        # A multipart message comes back as one MESSAGE per frame, outer flags 0,
        # reassembled by the inner MORE flag.
        router.send_multipart([rid, b"part-1", b"part-2", b"part-3"])
        router.send_multipart([rid, BIG, b""])
        assert driver.receive(2) == [[b"part-1", b"part-2", b"part-3"], [BIG, b""]]
        assert first_message_frame(bytes(driver.received)) == (0x00, 2)  # READY took 1
        # A PING in a box is answered by a PONG in a box.
        driver.conn.send_command(b"PING", b"\x00\x00ctx")
        driver.until(lambda: driver.commands(b"PONG") == [b"ctx"])
    finally:
        driver.close()


@pytest.mark.interop
def test_interop_libzmq_heartbeats_answered_through_the_box(zsock: Any) -> None:
    """libzmq's server PINGs every 50 ms and drops a peer silent for 500 ms: our sealed
    PONGs, the only thing we send, keep the connection up; once we stop answering,
    libzmq closes it (so the PONGs are what it counted)."""
    zmq = pytest.importorskip("zmq")
    router, port, server_key = libzmq_server(zsock, zmq.ROUTER, heartbeat_ivl=50,
                                             heartbeat_timeout=500)
    driver = our_client(port, server_key)
    try:
        driver.handshake()
        driver.run_for(1.5)
        pings = driver.commands(b"PING")
        assert len(pings) >= 5 and set(pings) == {b"\x00\x00"}
        driver.send([b"still", b"here"])
        driver.wait_zmq(router)
        rid, *parts = router.recv_multipart()
        assert parts == [b"still", b"here"]
        router.send_multipart([rid, b"and back"])
        assert driver.receive() == [[b"and back"]]
        driver.answer = False
        driver.expect_eof(timeout=5.0)
        assert not driver.is_closed()  # libzmq closed, not us
    finally:
        driver.close()


@pytest.mark.interop
def test_interop_our_heartbeats_with_ttl_to_libzmq(zsock: Any) -> None:
    """Our sealed PINGs: libzmq answers with sealed PONGs, which keep our heartbeat
    timeout at bay; libzmq honours the TTL inside our PING and drops us once silent."""
    zmq = pytest.importorskip("zmq")
    _router, port, server_key = libzmq_server(zsock, zmq.ROUTER)
    driver = our_client(port, server_key, heartbeat_ivl=0.05, heartbeat_timeout=5.0,
                        heartbeat_ttl=0.5)
    try:
        driver.handshake()
        driver.run_for(1.0)
        assert len(driver.commands(b"PONG")) >= 5
        assert set(driver.commands(b"PONG")) == {b""}
        driver.answer = False
        started = time.monotonic()
        driver.expect_eof(timeout=5.0)
        assert time.monotonic() - started >= 0.3, "closed before the TTL"
    finally:
        driver.close()


ZAP_ALICE = [b"", b"1.0", b"1", b"200", b"OK", b"alice", metadata([(b"Role", b"admin")])]


@pytest.mark.interop
def test_interop_libzmq_client_our_server_with_zap(zsock: Any, listener: socket.socket
                                                   ) -> None:
    """pyzmq CURVE client ↔ our server: ZAP through the Connection, multipart both ways,
    and the client's heartbeats answered through the box."""
    zmq = pytest.importorskip("zmq")
    requests: list[list[bytes]] = []

    def zap(frames: list[bytes]) -> list[bytes]:
        requests.append(frames)
        return ZAP_ALICE

    accept, server_key = our_server(listener, ROUTER, zap, zap_handler=True, zap_domain=b"d")
    dealer, client_key = libzmq_client(zsock, zmq.DEALER, listener.getsockname()[1],
                                       server_key, routing_id=b"theirs", heartbeat_ivl=50,
                                       heartbeat_timeout=500)
    driver = accept()
    try:
        assert driver.handshake() == {"socket-type": b"DEALER", "identity": b"theirs",
                                      "user-id": b"alice", "role": b"admin"}
        assert requests == [[b"", b"1.0", b"1", b"d", b"127.0.0.1", b"", b"CURVE",
                             client_key]], "ZAP credential: C as 32 raw octets"
        assert [type(e) for e in driver.events[:2]] == [ZapRequested, HandshakeComplete]
        dealer.send_multipart([b"a", b"b", BIG])
        assert driver.receive() == [[b"a", b"b", BIG]]
        assert first_message_frame(bytes(driver.received)) == (0x00, 3)
        driver.send([b"x", b"y"], [b"z"])
        driver.wait_zmq(dealer)
        assert dealer.recv_multipart() == [b"x", b"y"]
        driver.wait_zmq(dealer)
        assert dealer.recv_multipart() == [b"z"]
        driver.run_for(1.2)
        assert len(driver.commands(b"PING")) >= 5
        dealer.send(b"after the heartbeats")
        assert driver.receive() == [[b"after the heartbeats"]]
    finally:
        driver.close()


@pytest.mark.interop
def test_interop_libzmq_client_refused_by_zap(zsock: Any, listener: socket.socket) -> None:
    """Row 19 against libzmq: our 400 reaches the libzmq client as ERROR, which it
    reports as HANDSHAKE_FAILED_AUTH with 400."""
    zmq = pytest.importorskip("zmq")
    from zmq.utils.monitor import recv_monitor_message

    def zap(frames: list[bytes]) -> list[bytes]:
        return [b"", b"1.0", b"1", b"400", b"unknown key", b"", b""]

    accept, server_key = our_server(listener, ROUTER, zap, zap_handler=True)
    dealer = zsock(zmq.DEALER)
    monitor = dealer.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH)
    try:
        public, secret = zmq.curve_keypair()
        dealer.curve_serverkey = z85().encode(server_key)
        dealer.curve_publickey = public
        dealer.curve_secretkey = secret
        dealer.connect(f"tcp://127.0.0.1:{listener.getsockname()[1]}")
        driver = accept()
        try:
            driver.until(driver.is_closed)
            err = driver.events[-1]
            assert isinstance(err, ConnectionClosed)
            assert type(err.error) is AuthenticationFailed and err.error.status_code == 400
            assert monitor.poll(5000)
            event = recv_monitor_message(monitor)
            assert event["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH and event["value"] == 400
        finally:
            driver.close()
        assert not monitor.poll(200), "one AUTH event only"
    finally:
        dealer.disable_monitor()
        monitor.close(linger=0)


@pytest.mark.interop
def test_interop_libzmq_sub_sends_subscribe_and_ping_in_boxes(
        zsock: Any, listener: socket.socket) -> None:
    """libzmq's SUB puts SUBSCRIBE and CANCEL in boxes with inner COMMAND (0x02), and so
    its heartbeats; its first MESSAGE nonce is 3 (HELLO 1, INITIATE 2), outer flags 0."""
    zmq = pytest.importorskip("zmq")
    accept, server_key = our_server(listener, PUB)
    sub, _ = libzmq_client(zsock, zmq.SUB, listener.getsockname()[1], server_key,
                           heartbeat_ivl=50, heartbeat_timeout=10000)
    sub.subscribe(b"topic")
    driver = accept()
    try:
        assert driver.handshake() == {"socket-type": b"SUB"}
        driver.until(lambda: bool(driver.commands(b"SUBSCRIBE")))
        assert first_message_frame(bytes(driver.received)) == (0x00, 3)
        assert driver.commands(b"SUBSCRIBE") == [b"topic"]
        driver.send([b"topic news", b"more"])
        driver.wait_zmq(sub)
        assert sub.recv_multipart() == [b"topic news", b"more"]
        driver.until(lambda: len(driver.commands(b"PING")) >= 2)
        sub.unsubscribe(b"topic")
        driver.until(lambda: driver.commands(b"CANCEL") == [b"topic"])
        assert driver.messages == []
    finally:
        driver.close()


@pytest.mark.interop
def test_interop_libzmq_drops_outer_command_flag(zsock: Any) -> None:
    """A MESSAGE frame with the outer COMMAND flag is decrypted by libzmq, taken for a
    command and silently dropped: the outer flags of traffic must be 0 (ours are)."""
    zmq = pytest.importorskip("zmq")
    pull, port, server_key = libzmq_server(zsock, zmq.PULL)
    driver = our_client(port, server_key, socket_type=PUSH)
    try:
        driver.handshake()
        driver.conn.send_messages([[b"outer command flag"]])
        wire = bytearray(out(driver.conn))
        assert wire[0] == 0x00
        wire[0] |= 0x04  # a man in the middle sets the outer COMMAND flag
        driver.sock.sendall(wire)
        driver.send([b"outer flags 0"])
        driver.wait_zmq(pull)
        assert pull.recv() == b"outer flags 0"
        assert not pull.poll(100)
    finally:
        driver.close()


@pytest.mark.interop
def test_interop_libzmq_refuses_replay(zsock: Any) -> None:
    """libzmq checks our short nonces too: a replayed MESSAGE closes the connection."""
    zmq = pytest.importorskip("zmq")
    pull, port, server_key = libzmq_server(zsock, zmq.PULL)
    driver = our_client(port, server_key, socket_type=PUSH)
    try:
        driver.handshake()
        driver.conn.send_messages([[b"once"]])
        wire = out(driver.conn)
        driver.sock.sendall(wire + wire)
        driver.wait_zmq(pull)
        assert pull.recv() == b"once"
        driver.expect_eof()
        assert not pull.poll(100)
    finally:
        driver.close()


@pytest.mark.interop
def test_interop_libzmq_refuses_wrong_server_key(zsock: Any) -> None:
    zmq = pytest.importorskip("zmq")
    _router, port, _ = libzmq_server(zsock, zmq.ROUTER)
    driver = our_client(port, OTHER_PUB)
    try:
        driver.expect_eof()
        assert not any(isinstance(e, HandshakeComplete) for e in driver.events)
    finally:
        driver.close()


# -- the batch paths: seal_messages and open_frames ----------------------------------------


def test_batch_seal_matches_frame_by_frame_seal() -> None:
    """seal_messages gives the bytes seal_frame gives, frame for frame (same key and
    nonces: the box is deterministic), MORE inside the box."""
    a, _ = traffic()
    b, _ = traffic()  # the same seeds: the same session keys
    messages = [[b"one"], [b"x" * 300, b"", b"last"], [b"y" * 70_000]]
    batch: list[bytearray] = []
    mech(a).seal_messages(messages, batch.append)
    single = [mech(b).seal_frame(0, b"one"), mech(b).seal_frame(1, b"x" * 300),
              mech(b).seal_frame(1, b""), mech(b).seal_frame(0, b"last"),
              mech(b).seal_frame(0, b"y" * 70_000)]
    assert [bytes(f) for f in batch] == [bytes(f) for f in single]


def test_batch_open_keeps_what_came_before_a_bad_box() -> None:
    client, server = traffic()
    frames: list[bytearray] = []
    mech(client).seal_messages([[b"a"], [b"b"], [b"c"], [b"d"]], frames.append)
    bodies = [bytes(f[2:]) for f in frames]  # short frames: 2 header octets
    tampered = bytearray(bodies[2])
    tampered[-1] ^= 1
    bodies[2] = bytes(tampered)
    out: list[tuple[int, bytes]] = []
    with pytest.raises(CryptographicError):
        mech(server).open_frames([[b] for b in bodies], out)
    assert out == [(0, b"a"), (0, b"b")]
    assert wiped(server)


def test_batch_open_refuses_a_replay_inside_one_batch() -> None:
    client, server = traffic()
    frames: list[bytearray] = []
    mech(client).seal_messages([[b"a"], [b"b"]], frames.append)
    bodies = [bytes(f[2:]) for f in frames]
    out: list[tuple[int, bytes]] = []
    with pytest.raises(InvalidSequence):
        mech(server).open_frames([[bodies[0]], [bodies[1]], [bodies[1]]], out)
    assert out == [(0, b"a"), (0, b"b")]
