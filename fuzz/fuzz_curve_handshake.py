"""Fuzz a Connection with the CURVE mechanism, in the server or the client role.

Input: a control octet, a split-plan octet, then what the peer sends. The control octet:

* ``0x01``: we are the client (else the server);
* ``0x06`` (two bits, the stage): what a real peer said before the input, so that the
  fuzzer starts deep in the handshake: 0 nothing, 1 its greeting, 2 its greeting and
  HELLO (server role) or greeting and WELCOME (client role), 3 the whole handshake
  (HELLO and INITIATE, or WELCOME and READY), so the input is traffic;
* ``0x08``: server role: a ZAP handler is bound;
* ``0x10``: a small ``maxmsgsize``;
* ``0x60`` (two bits): what the ZAP handler answers: 200 (with a User-Id and a
  property), 300, 400, or a malformed reply (version 2.0);
* ``0x80``: the ZAP handler never answers.

The driver takes the request from the :class:`ZapRequested` event and hands the reply to
:meth:`Connection.zap_reply`, as the engine does, "at once": right after the octets of the
frame that carried the INITIATE (the second frame after the greeting: only it can raise
the request), before any later octet. The stream is cut there whatever the split plan,
so the outcome cannot depend on how it is split, and the input after a valid INITIATE is
traffic through ZAP.

The prefixes are recorded at import from a real handshake and real traffic between two
of our Connections with fixed randomness, and the mechanism under test gets the same
randomness, so they stay valid for it. The Connection seals and opens traffic itself.

Invariant: ``receive_data`` never raises; the events obey :func:`check_events`, with at
most one :class:`ZapRequested`, from a server with a handler, before any handshake or
close, carrying the RFC 27 frames (the mechanism keeps no copy); a server with a handler
admits a client only after a 200 reply, with its User-Id and properties in the peer
metadata; a reply sends exactly READY (200), ERROR with the status (400) or nothing (300,
malformed); a silent handler leaves the handshake waiting until its deadline; our
output is our greeting, handshake commands, then only traffic frames with outer flags 0
(LONG if needed), each one MESSAGE with consecutive short nonces, which open under the
session key to inner COMMAND PONGs answering, in order, every PING reported, and nothing
at all is sent in traffic by a connection that closed; a failure wipes the mechanism at
once; a closed connection stays closed and silent; any split gives the same events and
output, also through the engine's zero-copy path; buffers never hold more than was fed;
``wipe`` zeroes the secrets.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from typing import Any

import nacl.bindings as nb

from securemq.error import AuthenticationFailed, UnspecifiedProtocolError, ZapBadVersion
from securemq.security.base import ZAP_REQUEST_ID, HandshakeConfig
from securemq.security.curve import FLAG_COMMAND, CurveMechanism
from securemq.zmtp.commands import command_body, encode_metadata
from securemq.zmtp.connection import Connection, State
from securemq.zmtp.events import (
    CommandReceived,
    ConnectionClosed,
    Event,
    HandshakeComplete,
    ZapRequested,
)
from securemq.zmtp.frames import encode_command, frame_header
from securemq.zmtp.greeting import GREETING_SIZE, build_greeting

from ._common import buffered, check_events, feed_all, flat, run_main

_SERVER_SEC = random.Random(1).randbytes(32)
_SERVER_PUB = nb.crypto_scalarmult_base(_SERVER_SEC)
_CLIENT_SEC = random.Random(2).randbytes(32)
_CLIENT_PUB = nb.crypto_scalarmult_base(_CLIENT_SEC)
_SERVER_SEED, _CLIENT_SEED = 101, 202
_ADDRESS = "192.0.2.1"
_DEADLINE = 5.0
#: The ZAP handler's replies, by bits 0x60 of the control octet.
_REPLIES = (
    [b"", b"1.0", ZAP_REQUEST_ID, b"200", b"OK", b"user",
     encode_metadata([("X-Fuzz", b"zap")])],
    [b"", b"1.0", ZAP_REQUEST_ID, b"300", b"later", b"", b""],
    [b"", b"1.0", ZAP_REQUEST_ID, b"400", b"no", b"", b""],
    [b"", b"2.0", ZAP_REQUEST_ID, b"200", b"OK", b"", b""],
)
_SILENT = 0x80
#: What we may send in the clear, by role: a prefix of the handshake, or a refusal.
_CLIENT_COMMANDS: tuple[list[bytes], ...] = ([], [b"HELLO"], [b"HELLO", b"INITIATE"])
_SERVER_COMMANDS: tuple[list[bytes], ...] = ([], [b"WELCOME"], [b"WELCOME", b"READY"],
                                             [b"WELCOME", b"ERROR"])


def _random(seed: int) -> Callable[[int], bytes]:
    return random.Random(seed).randbytes


def _mechanism(client: bool, zap: bool = False) -> CurveMechanism:
    if client:
        cfg = HandshakeConfig(5, routing_id=b"fuzz", curve_publickey=_CLIENT_PUB,
                              curve_secretkey=_CLIENT_SEC, curve_serverkey=_SERVER_PUB)
        return CurveMechanism(cfg, random=_random(_CLIENT_SEED))
    cfg = HandshakeConfig(6, as_server=True, curve_secretkey=_SERVER_SEC, zap_handler=zap,
                          zap_domain=b"fuzz")
    return CurveMechanism(cfg, _ADDRESS, random=_random(_SERVER_SEED))


def _take(conn: Connection) -> bytes:
    return b"".join(bytes(b) for b in conn.data_to_send())


def _frames(data: bytes) -> list[tuple[int, bytes]]:
    """(flags, body) of each whole frame in ``data``, decoded here; a partial frame at
    the end is an error."""
    result = []
    i = 0
    while i < len(data):
        assert len(data) - i >= 2, "partial frame in our output"
        flags = data[i]
        if flags & 0x02:
            assert len(data) - i >= 9, "partial frame in our output"
            size = struct.unpack_from(">Q", data, i + 1)[0]
            start = i + 9
        else:
            size, start = data[i + 1], i + 2
        assert start + size <= len(data), "partial frame in our output"
        result.append((flags, data[start:start + size]))
        i = start + size
    return result


def _wire(frames: list[tuple[int, bytes]]) -> list[bytes]:
    return [bytes((flags, len(body))) + body if not flags & 0x02
            else struct.pack(">BQ", flags, len(body)) + body for flags, body in frames]


def _record() -> dict[str, Any]:
    """A real handshake and some traffic, command by command, in both directions."""
    client, server = Connection(_mechanism(True)), Connection(_mechanism(False))
    c_greeting, s_greeting = _take(client), _take(server)
    client.receive_data(s_greeting)
    hello = _take(client)
    server.receive_data(c_greeting + hello)
    welcome = _take(server)
    client.receive_data(welcome)
    initiate = _take(client)
    server.receive_data(initiate)
    ready = _take(server)
    client.receive_data(ready)
    cm = client.mechanism
    assert isinstance(cm, CurveMechanism) and cm.done and server.mechanism.done
    client.send_messages([[b"part", b"end"]])
    client.send_command(b"PING", b"\x00\x00ctx")
    client.send_command(b"SUBSCRIBE", b"topic")
    to_server = _wire(_frames(_take(client)))
    client.send_messages([[b"L" * 40000, b"M" * 70000, b"end"]])
    big_to_server = _wire(_frames(_take(client)))
    server.send_messages([[b"hello"]])
    server.send_command(b"SUBSCRIBE", b"topic")
    server.send_command(b"PING", b"\x00\x05sc")
    to_client = _wire(_frames(_take(server)))
    # The recording itself goes through the Connection: check what the server got.
    assert flat(server.receive_data(b"".join(to_server + big_to_server))) == [
        ("msg", [b"part", b"end"]), ("cmd", b"PING", b"\x00\x00ctx"),
        ("cmd", b"SUBSCRIBE", b"topic"), ("msg", [b"L" * 40000, b"M" * 70000, b"end"])]
    server.send_command(b"ERROR", b"\x03400")
    error_to_client = _take(server)
    return {
        "client": [c_greeting, hello, initiate], "server": [s_greeting, welcome, ready],
        "to_server": to_server, "big_to_server": big_to_server, "to_client": to_client,
        "error_to_client": error_to_client, "key": bytes(cm._key or b""),
    }


_RECORDED = _record()


def _prefix(client: bool, stage: int) -> bytes:
    """What the peer sent before the fuzzed input (its greeting, then commands)."""
    peer = _RECORDED["server" if client else "client"]
    return b"".join(peer[:stage])


def _initiate_end(stream: bytes) -> int:
    """Where the second frame after the greeting ends (the stream's end if sooner)."""
    i = GREETING_SIZE
    for _ in range(2):
        if len(stream) - i < 2:
            return len(stream)
        if stream[i] & 0x02:
            if len(stream) - i < 9:
                return len(stream)
            i += 9 + struct.unpack_from(">Q", stream, i + 1)[0]
        else:
            i += 2 + stream[i + 1]
    return min(i, len(stream))


def _answer(conn: Connection, reply: list[bytes]) -> tuple[list[Event], bytes]:
    """Hand ``conn`` the handler's reply; check and return its events and output."""
    waiting = conn.state is State.EXPECT_HANDSHAKE
    events = conn.zap_reply(reply)
    wire = _take(conn)
    if not waiting:  # closed meanwhile: the late reply changes nothing
        assert events == [] and wire == b"", (events, wire)
        return events, wire
    status = reply[3]
    if reply[1] == b"1.0" and status == b"200":
        assert len(events) == 1 and isinstance(events[0], HandshakeComplete), events
        ((flags, ready),) = _frames(wire)
        assert flags == 0x04 and ready[:6] == b"\x05READY", wire
        assert events[0].metadata["user-id"] == b"user"
        assert events[0].metadata["x-fuzz"] == b"zap"
        return events, wire
    assert len(events) == 1 and isinstance(events[0], ConnectionClosed), events
    error = events[0].error
    if reply[1] != b"1.0":
        assert type(error) is ZapBadVersion, error
        assert wire == b"", wire
    else:
        assert type(error) is AuthenticationFailed and error.status_code == int(status)
        # RFC 27: the client learns a 400; a 300 closes silently.
        assert wire == (b"" if status == b"300" else encode_command(b"ERROR", b"\x03" + status))
    return events, wire


def _check_zap(events: list[Event], zap: bool) -> list[Event]:
    """Check the ZapRequested events; return the others, for :func:`check_events`."""
    rest: list[Event] = []
    requests = 0
    for ev in events:
        if not isinstance(ev, ZapRequested):
            rest.append(ev)
            continue
        requests += 1
        assert zap, "ZAP request without a handler"
        assert not any(isinstance(e, (HandshakeComplete, ConnectionClosed)) for e in rest)
        assert ev.frames == [b"", b"1.0", ZAP_REQUEST_ID, b"fuzz", _ADDRESS.encode(), b"",
                             b"CURVE", _CLIENT_PUB], ev.frames
    assert requests <= 1
    return rest


def _flat(events: list[Event]) -> list[tuple[object, ...]]:
    """:func:`flat`, knowing ZapRequested too."""
    result: list[tuple[object, ...]] = []
    for ev in events:
        result += [("zap", *ev.frames)] if isinstance(ev, ZapRequested) else flat([ev])
    return result


def _check_output(sent: bytes, events: list[Event], conn: Connection, client: bool,
                  key: bytes | None) -> None:
    """Our greeting, handshake commands, then sealed PONGs only (see the module doc)."""
    assert sent[:GREETING_SIZE] == build_greeting(b"CURVE", not client)
    frames = _frames(sent[GREETING_SIZE:])
    n = 0
    while n < len(frames) and frames[n][0] & 0x04:
        assert frames[n][0] in (0x04, 0x06), frames[n]
        n += 1
    # Only handshake commands go out in the clear, each once and in order.
    names = [body[1:1 + body[0]] for _, body in frames[:n]]
    assert names in (_CLIENT_COMMANDS if client else _SERVER_COMMANDS), names
    traffic = frames[n:]
    pings = [e.data for e in events if isinstance(e, CommandReceived) and e.name == b"PING"]
    if conn.state is State.CLOSED or not traffic:
        # A closed connection owes nothing, and sends nothing in the clear instead.
        assert traffic == [] and (conn.state is State.CLOSED or pings == []), traffic
        return
    assert key is not None
    nonce = 3 if client else 2  # the client used 1 and 2 (HELLO, INITIATE); READY 1
    prefix = b"CurveZMQMESSAGEC" if client else b"CurveZMQMESSAGES"
    assert len(traffic) == len(pings), (traffic, pings)
    for (flags, body), ping in zip(traffic, pings, strict=True):
        assert flags in (0x00, 0x02), flags
        assert body[:8] == b"\x07MESSAGE" and body[8:16] == struct.pack(">Q", nonce)
        plain = nb.crypto_box_open_easy_afternm(body[16:], prefix + body[8:16], key)
        assert plain == bytes((FLAG_COMMAND,)) + command_body(b"PONG", ping[2:])
        nonce += 1


def _run(stream: bytes, plan: int, client: bool, zap: bool, answer: int,
         maxmsgsize: int, zero_copy: bool = False) -> tuple[list[tuple[object, ...]], bytes]:
    mech = _mechanism(client, zap)
    conn = Connection(mech, maxmsgsize, _DEADLINE)
    sent = _take(conn)
    fed = 0

    def bounded() -> None:
        assert buffered(conn._decoder) <= fed and len(conn._greeting_buf) < 64
        assert sum(len(p) for p in conn._partial) <= fed

    def feed(segment: bytes) -> list[Event]:
        nonlocal fed
        got: list[Event] = []
        for piece in (segment[i:i + 4096] for i in range(0, len(segment), 4096)):
            fed += len(piece)
            got += feed_all(conn, piece, plan, bounded, zero_copy)
        return got

    # The handler answers at once: after the frame that carried the INITIATE, before
    # the next octet. Cutting the stream there keeps every split plan equivalent.
    cut = _initiate_end(stream) if zap else len(stream)
    events = feed(stream[:cut])
    requested = any(isinstance(e, ZapRequested) for e in events)
    if requested and not answer & _SILENT:
        sent += _take(conn)
        answered, wire = _answer(conn, _REPLIES[(answer >> 5) & 3])
        events += answered
        sent += wire
    later = feed(stream[cut:])
    assert not any(isinstance(e, ZapRequested) for e in later), "ZAP request after INITIATE"
    events += later
    if requested and answer & _SILENT and conn.state is not State.CLOSED:
        # Nobody answers: the handshake waits for the reply, until its deadline.
        assert conn.state is State.EXPECT_HANDSHAKE and not mech.done
        assert conn.handle_timer(_DEADLINE - 0.1) == []
        timed_out = conn.handle_timer(_DEADLINE)
        assert len(timed_out) == 1 and isinstance(timed_out[0], ConnectionClosed)
        assert type(timed_out[0].error) is UnspecifiedProtocolError
        events += timed_out
    check_events(_check_zap(events, zap), conn)
    assert mech.zap_request is None, "the Connection takes the request"
    if any(isinstance(e, HandshakeComplete) for e in events):
        assert mech.done and conn.peer_metadata.get("socket-type") is not None
        if zap and not client:
            # A server with a handler admits a client only after a 200 reply.
            assert requested and not answer & _SILENT and (answer >> 5) & 3 == 0
            assert conn.peer_metadata["user-id"] == b"user"
    key = bytes(mech._key) if mech._key is not None else None
    sent += _take(conn)
    _check_output(sent, events, conn, client, key)
    if conn.state is State.CLOSED:
        # A failure wipes the mechanism at once; a closed connection stays silent.
        assert mech._key is None and mech._cn_secret is None and not any(mech._secret)
        assert conn.receive_data(stream[:64] + b"\x00\x01x") == []
        assert conn.handle_timer(1e9) == []
        assert conn.zap_reply(_REPLIES[0]) == []
        conn.send_command(b"PING", b"\x00\x00")
        assert conn.data_to_send() == []
    secret = mech._secret
    conn.wipe()
    assert not any(secret) and mech._key is None
    return [*_flat(events)], sent


def TestOneInput(data: bytes) -> None:
    if len(data) < 2:
        return
    ctrl, plan, rest = data[0], data[1], data[2:]
    client = bool(ctrl & 0x01)
    stage = (ctrl >> 1) & 0x03
    zap = bool(ctrl & 0x08) and not client
    maxmsgsize = 300 if ctrl & 0x10 else -1
    answer = ctrl & 0xE0
    stream = _prefix(client, stage) + rest
    reference = _run(stream, 0, client, zap, answer, maxmsgsize)
    assert _run(stream, plan, client, zap, answer, maxmsgsize) == reference, "split changed"
    zero_copy = _run(stream, plan, client, zap, answer, maxmsgsize, zero_copy=True)
    assert zero_copy == reference, "receive_buffer/received_into changed the result"


def _flip(data: bytes, index: int) -> bytes:
    b = bytearray(data)
    b[index] ^= 0x01
    return bytes(b)


def seeds() -> dict[str, bytes]:
    """The ``seed-*`` files of ``fuzz/corpus/fuzz_curve_handshake/``, by name."""
    rec = _RECORDED
    c_greeting, hello, initiate = rec["client"]
    s_greeting, welcome, ready = rec["server"]
    to_server, to_client = rec["to_server"], rec["to_client"]
    # A box with a reserved inner flag bit, under the real session key (RFC 26: MUST be 0).
    short = (1000).to_bytes(8, "big")
    reserved = b"\x07MESSAGE" + short + nb.crypto_box_easy_afternm(
        b"\x04x", b"CurveZMQMESSAGEC" + short, rec["key"])
    server, client = 0x00, 0x01
    traffic = server | 3 << 1
    zap = server | 3 << 1 | 0x08
    ping = to_server[2]  # the client's PING, in a box
    return {
        "server-hello-raw-short": bytes((server | 1 << 1, 0)) + b"\x04\x06\x05HELLO",
        "server-whole-session-bytewise": bytes((server, 1)) + c_greeting + hello + initiate
        + b"".join(to_server),
        "server-initiate-cookie-flipped": bytes((server | 2 << 1, 0)) + _flip(initiate, 9 + 30),
        "server-initiate-zap": bytes((server | 2 << 1 | 0x08, 3)) + initiate
        + b"".join(to_server),
        "server-zap-traffic": bytes((zap, 5)) + b"".join(to_server),
        "server-zap-300": bytes((zap | 1 << 5, 0)) + b"".join(to_server),
        "server-zap-400": bytes((zap | 2 << 5, 0)) + b"".join(to_server),
        "server-zap-malformed": bytes((zap | 3 << 5, 2)) + to_server[0],
        "server-zap-silent-then-command": bytes((server | 2 << 1 | 0x08 | 0x80, 0)) + initiate
        + encode_command(b"PING", b"\x00\x00"),
        "server-traffic-replay": bytes((traffic, 5)) + to_server[0] + to_server[0],
        "server-traffic-reordered": bytes((traffic, 0)) + to_server[1] + to_server[0],
        "server-traffic-reserved-flag": bytes((traffic, 0)) + to_server[0]
        + frame_header(len(reserved)) + reserved,
        "server-traffic-small-maxmsgsize": bytes((traffic | 0x10, 2))
        + b"".join(to_server) + frame_header(400) + bytes(400),
        "server-traffic-big-multipart": bytes((traffic, 9)) + b"".join(rec["big_to_server"]),
        "server-traffic-ping-then-flipped": bytes((traffic, 0)) + to_server[0] + to_server[1]
        + ping + _flip(to_server[3], -1),
        # Messages, then a frame with a reserved outer flag: delivered once, whatever
        # the split; likewise a MESSAGE in a frame with the outer COMMAND flag.
        "server-traffic-then-reserved": bytes((traffic, 1)) + to_server[0] + to_server[1]
        + b"\x08\x00",
        "server-traffic-outer-command-then-reserved": bytes((traffic, 1)) + to_server[0]
        + bytes((to_server[1][0] | 0x04,)) + to_server[1][1:] + b"\x08\x00",
        "server-traffic-outer-more": bytes((traffic, 2)) + bytes((to_server[0][0] | 0x01,))
        + to_server[0][1:] + to_server[1],
        "client-whole-session-random": bytes((client, 9)) + s_greeting + welcome + ready
        + b"".join(to_client),
        "client-welcome-flipped": bytes((client | 1 << 1, 0)) + _flip(welcome, 40),
        "client-error-400": bytes((client | 2 << 1, 0)) + encode_command(b"ERROR", b"\x03400"),
        "client-traffic-ping-outer": bytes((client | 3 << 1, 0)) + b"".join(to_client)
        + encode_command(b"PING", b"\x00\x00ab") + _flip(to_client[0], 30),
        "client-traffic-sealed-error": bytes((client | 3 << 1, 1)) + b"".join(to_client)
        + rec["error_to_client"],
    }


def main() -> None:
    run_main(TestOneInput)


if __name__ == "__main__":
    main()
