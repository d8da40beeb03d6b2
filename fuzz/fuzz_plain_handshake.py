"""Fuzz a Connection with the PLAIN mechanism (RFC 24), as client or server, with ZAP.

Input: a control octet, a split-plan octet, a ZAP octet, then what the peer sends.

The control octet picks our socket type (low nibble) and role (0x10: client), a small
``maxmsgsize`` (0x80), and how far a valid peer has already gone (bits 0x60): nothing,
its greeting, greeting and first command (HELLO to a server, WELCOME to a client), or the
whole handshake (to fuzz traffic). The ZAP octet says how a server's ZAP handler behaves
(bits 0x03): none bound, bound but silent, or answering at once; the status it answers
(bits 0x0C: 200, 300, 400, 500), whether the reply is malformed (0x10), and strict mode
(0x20). The driver takes the request from the :class:`ZapRequested` event and hands the
reply to :meth:`Connection.zap_reply`, as the engine does. "At once" means right after
the octets of the frame that carried the HELLO (the first frame after the 64-octet
greeting: only it can raise the request), before any later octet: the stream is cut
there whatever the split plan, so that the outcome cannot depend on how it is split.

Invariant: ``receive_data`` never raises; the events obey :func:`check_events`, with at
most one :class:`ZapRequested`, from a server with a handler, before any handshake or
close, carrying the RFC 27 frames (the mechanism keeps no copy); a closed connection stays
closed and silent, also to a late ZAP reply; any split gives the same events and output,
also through the engine's zero-copy path; buffers stay bounded; a server admits a client
only after a well-formed 200 ZAP reply, with the handler's User-Id and properties in the
peer metadata; a reply sends exactly WELCOME (200), ERROR with the status (400, 500) or
nothing (300, malformed); a silent handler leaves the handshake waiting; no close reason
contains the password.
"""

from __future__ import annotations

import struct

from securemq.error import AuthenticationFailed, ZapBadVersion
from securemq.security.base import ZAP_REQUEST_ID, HandshakeConfig
from securemq.security.plain import PlainMechanism
from securemq.security.plain import State as PlainState
from securemq.zmtp.commands import encode_metadata
from securemq.zmtp.connection import Connection, State
from securemq.zmtp.events import ConnectionClosed, Event, HandshakeComplete, ZapRequested
from securemq.zmtp.frames import encode_command
from securemq.zmtp.greeting import GREETING_SIZE, build_greeting

from ._common import buffered, check_events, feed_all, flat, run_main

# (our socket type, a compatible peer type), as in fuzz_null_handshake.
_PAIRS = ((5, b"ROUTER"), (6, b"DEALER"), (3, b"REP"), (4, b"REQ"), (8, b"PULL"),
          (7, b"PUSH"), (1, b"SUB"), (2, b"PUB"), (0, b"PAIR"), (9, b"XSUB"))
_STATUS = (b"200", b"300", b"400", b"500")
_USER = b"admin"
#: The client's password: no close reason may contain it.
SECRET = b"s3cr3t-Pw"
_PEER_HELLO = encode_command(b"HELLO", bytes((len(_USER),)) + _USER
                             + bytes((len(SECRET),)) + SECRET)
_WELCOME = encode_command(b"WELCOME")
_ADDRESS = "192.0.2.1"

# ZAP octet modes.
NO_HANDLER, SILENT, ANSWERS = 0, 1, 2


def _zap_reply(zap: int) -> tuple[list[bytes], bool]:
    """The handler's reply for ZAP octet ``zap``, and whether it admits the client."""
    status = _STATUS[(zap >> 2) & 3]
    malformed = bool(zap & 0x10)
    reply = [b"", b"1.0" if not malformed else b"9.9", ZAP_REQUEST_ID, status, b"",
             b"user" if status == b"200" else b"", encode_metadata([("X-Who", b"fuzz")])]
    return reply, status == b"200" and not malformed


def _mechanism(socket_type: int, client: bool, zap: int) -> PlainMechanism:
    if client:
        return PlainMechanism(HandshakeConfig(socket_type, b"id", plain_username=_USER,
                                              plain_password=SECRET))
    config = HandshakeConfig(socket_type, b"id", as_server=True, zap_domain=b"fuzz",
                             zap_handler=zap & 3 != NO_HANDLER, strict=bool(zap & 0x20))
    return PlainMechanism(config, _ADDRESS)


def _hello_end(stream: bytes) -> int:
    """Where the first frame after the greeting ends (the stream's end if it runs past):
    the only frame whose arrival can raise a ZAP request."""
    pos = GREETING_SIZE
    if len(stream) < pos + 2:
        return len(stream)
    if stream[pos] & 0x02:  # long frame: 8-octet size
        if len(stream) < pos + 9:
            return len(stream)
        end = pos + 9 + int.from_bytes(stream[pos + 1:pos + 9], "big")
    else:
        end = pos + 2 + stream[pos + 1]
    return min(end, len(stream))


def _out(conn: Connection) -> bytes:
    return b"".join(bytes(b) for b in conn.data_to_send())


def _answer(conn: Connection, zap: int) -> tuple[list[Event], bytes]:
    """Hand ``conn`` the handler's reply; check and return its events and output."""
    reply, admits = _zap_reply(zap)
    waiting = conn.state is State.EXPECT_HANDSHAKE
    events = conn.zap_reply(reply)
    wire = _out(conn)
    if not waiting:  # closed meanwhile: the late reply changes nothing
        assert events == [] and wire == b"", (events, wire)
        return events, wire
    status = reply[3]
    if admits:
        assert events == [] and wire == _WELCOME, (events, wire)
        return events, wire
    assert len(events) == 1 and isinstance(events[0], ConnectionClosed), events
    error = events[0].error
    if zap & 0x10:
        assert type(error) is ZapBadVersion, error
        assert wire == b"", wire
    else:
        assert type(error) is AuthenticationFailed and error.status_code == int(status)
        # RFC 27: the client learns a 400 or 500; a 300 closes silently.
        assert wire == (b"" if status == b"300" else encode_command(b"ERROR", b"\x03" + status))
    return events, wire


def _check_zap(events: list[Event], client: bool, zap: int) -> list[Event]:
    """Check the ZapRequested events; return the others, for :func:`check_events`."""
    rest: list[Event] = []
    requests = 0
    for ev in events:
        if not isinstance(ev, ZapRequested):
            rest.append(ev)
            continue
        requests += 1
        assert not client and zap & 3 != NO_HANDLER, "ZAP request without a handler"
        assert not any(isinstance(e, (HandshakeComplete, ConnectionClosed)) for e in rest)
        frames = ev.frames
        assert len(frames) == 9, frames
        assert frames[:7] == [b"", b"1.0", ZAP_REQUEST_ID, b"fuzz", _ADDRESS.encode(), b"id",
                              b"PLAIN"], frames
    assert requests <= 1
    return rest


def _flat(events: list[Event]) -> list[tuple[object, ...]]:
    """:func:`flat`, knowing ZapRequested too."""
    result: list[tuple[object, ...]] = []
    for ev in events:
        result += [("zap", *ev.frames)] if isinstance(ev, ZapRequested) else flat([ev])
    return result


def _run(stream: bytes, plan: int, socket_type: int, maxmsgsize: int, client: bool,
         zap: int, zero_copy: bool = False) -> tuple[list[tuple[object, ...]], bytes]:
    conn = Connection(_mechanism(socket_type, client, zap), maxmsgsize, 5.0)
    sent = b""
    if client:
        sent = _out(conn)
    fed = 0

    def bounded() -> None:
        assert buffered(conn._decoder) <= fed and len(conn._greeting_buf) < 64

    def feed(segment: bytes) -> list[Event]:
        nonlocal fed
        got: list[Event] = []
        for piece in (segment[i:i + 4096] for i in range(0, len(segment), 4096)):
            fed += len(piece)
            got += feed_all(conn, piece, plan, bounded, zero_copy)
        return got

    # The handler answers at once: after the frame that carried the HELLO, before the
    # next octet. Cutting the stream there keeps every split plan equivalent.
    cut = _hello_end(stream)
    events = feed(stream[:cut])
    requested = any(isinstance(e, ZapRequested) for e in events)
    if requested and zap & 3 >= ANSWERS:
        sent += _out(conn)
        answered, wire = _answer(conn, zap)
        events += answered
        sent += wire
    later = feed(stream[cut:])
    assert not any(isinstance(e, ZapRequested) for e in later), "ZAP request after the HELLO"
    events += later
    check_events(_check_zap(events, client, zap), conn)
    mech = conn.mechanism
    assert isinstance(mech, PlainMechanism)
    assert mech.zap_request is None, "the Connection leaves the request (and password)"
    if any(isinstance(e, HandshakeComplete) for e in events):
        assert conn.peer_metadata.get("socket-type") is not None
        if not client:
            # Only a well-formed 200 reply admits a PLAIN client, and what the handler
            # said about it is part of its metadata.
            assert requested and zap & 3 >= ANSWERS and _zap_reply(zap)[1], zap
            assert mech.user_id == b"user"
            assert conn.peer_metadata["user-id"] == b"user"
            assert conn.peer_metadata["x-who"] == b"fuzz"
    if requested and zap & 3 == SILENT and conn.state is not State.CLOSED:
        # Nobody answers: the handshake waits for the reply.
        assert conn.state is State.EXPECT_HANDSHAKE
        assert mech.state is PlainState.EXPECT_ZAP_REPLY
    sent += _out(conn)
    if conn.state is State.CLOSED:
        assert conn.receive_data(stream[:64] + b"\x00\x01x") == []
        assert conn.handle_timer(1e9) == []
        assert conn.zap_reply(_zap_reply(0)[0]) == []
        assert conn.data_to_send() == []
    else:
        check_events(conn.handle_timer(5.0), conn, in_traffic=conn.state is State.TRAFFIC)
    return _flat(events) + _reasons(events), sent


def _reasons(events: list[Event]) -> list[tuple[object, ...]]:
    return [("reason", e.error.reason, type(e.error).__name__) for e in events
            if isinstance(e, ConnectionClosed)]


def TestOneInput(data: bytes) -> None:
    if len(data) < 3:
        return
    ctrl, plan, zap, rest = data[0], data[1], data[2], data[3:]
    socket_type, peer_type = _PAIRS[(ctrl & 0x0F) % len(_PAIRS)]
    client = bool(ctrl & 0x10)
    maxmsgsize = 300 if ctrl & 0x80 else -1
    stage = (ctrl >> 5) & 3
    metadata = encode_metadata([("Socket-Type", peer_type), ("Identity", b"peer")])
    # What a valid peer sends, command by command, in the opposite role.
    valid = [build_greeting(b"PLAIN", client)]
    if client:
        valid += [_WELCOME, encode_command(b"READY", metadata)]
    else:
        valid += [_PEER_HELLO, encode_command(b"INITIATE", metadata)]
    stream = b"".join(valid[:stage]) + rest
    reference = _run(stream, 0, socket_type, maxmsgsize, client, zap)
    assert _run(stream, plan, socket_type, maxmsgsize, client, zap) == reference, \
        "split changed"
    zero_copy = _run(stream, plan, socket_type, maxmsgsize, client, zap, zero_copy=True)
    assert zero_copy == reference, "receive_buffer/received_into changed the result"
    if SECRET not in rest:
        for _, reason, _ in (r for r in reference[0] if r[0] == "reason"):
            assert SECRET.decode() not in str(reason), "password in a close reason"


# -- seeds -------------------------------------------------------------------------------------

# libzmq 4.3.5 on the wire (PUSH client "admin"/"secret", PULL server), and its PLAIN
# ERROR for ZAP 400, whose C++ "\x05ERROR" literal became "^RROR" (hex escape 0x5E).
LIBZMQ_HELLO = b"\x04\x13\x05HELLO\x05admin\x06secret"
LIBZMQ_INITIATE_PUSH = b"\x04\x1d\x08INITIATE\x0bSocket-Type\x00\x00\x00\x04PUSH"
LIBZMQ_READY_PULL = b"\x04\x1a\x05READY\x0bSocket-Type\x00\x00\x00\x04PULL"
LIBZMQ_PLAIN_ERROR_400 = b"\x04\x09^RROR\x03400"


def seeds() -> dict[str, bytes]:
    """The seed corpus: ``fuzz/corpus/fuzz_plain_handshake/seed-<name>``.

    Header octets: control (low nibble socket pair, 0x10 client, 0x20/0x40 stage, 0x80
    small maxmsgsize), split plan, ZAP (0x03 mode, 0x0C status, 0x10 malformed, 0x20
    strict).
    """
    pull, push = 0x05, 0x04  # _PAIRS[5]: our PULL (peer PUSH); _PAIRS[4]: the reverse
    client_greeting = build_greeting(b"PLAIN", False)
    server_greeting = build_greeting(b"PLAIN", True)
    answers = {200: ANSWERS, 300: ANSWERS | 0x04, 400: ANSWERS | 0x08, 500: ANSWERS | 0x0C}
    message = b"\x01\x05hello\x00\x03abc"
    return {
        "libzmq-client-session": bytes((pull, 0, answers[200])) + client_greeting
        + LIBZMQ_HELLO + LIBZMQ_INITIATE_PUSH + message,
        "libzmq-client-bytewise": bytes((pull, 1, answers[200])) + client_greeting
        + LIBZMQ_HELLO + LIBZMQ_INITIATE_PUSH + message,
        "libzmq-client-random": bytes((pull, 9, answers[200])) + client_greeting
        + LIBZMQ_HELLO + LIBZMQ_INITIATE_PUSH + message,
        "zap-300": bytes((pull, 0, answers[300])) + client_greeting + LIBZMQ_HELLO,
        "zap-400": bytes((pull, 0, answers[400])) + client_greeting + LIBZMQ_HELLO,
        "zap-500-strict": bytes((pull, 0, answers[500] | 0x20)) + client_greeting
        + LIBZMQ_HELLO,
        "zap-bad-version": bytes((pull, 0, answers[200] | 0x10)) + client_greeting
        + LIBZMQ_HELLO,
        "no-zap-handler": bytes((pull, 0, NO_HANDLER)) + client_greeting + LIBZMQ_HELLO,
        "zap-silent-pipelined": bytes((pull, 0, SILENT)) + client_greeting + LIBZMQ_HELLO
        + LIBZMQ_INITIATE_PUSH,
        "malformed-hello": bytes((0x20 | pull, 0, answers[200]))
        + encode_command(b"HELLO", b"\x05admin\x07secret"),
        "hello-extra-octet": bytes((0x20 | pull, 1, answers[200]))
        + encode_command(b"HELLO", b"\x05admin\x06secretX"),
        "initiate-bad-metadata": bytes((0x40 | pull, 0, answers[200]))
        + encode_command(b"INITIATE", b"\x0bSocket-Type\x80\x00\x00\x00PUSH"),
        "server-traffic-ping": bytes((0x60 | pull, 0, answers[200]))
        + encode_command(b"PING", b"\x00\x0actx") + message,
        "libzmq-server-session": bytes((0x10 | push, 0, 0)) + server_greeting
        + encode_command(b"WELCOME") + LIBZMQ_READY_PULL + message,
        # libzmq 4.3.5's PLAIN server greets with as-server 0, like a client.
        "libzmq-server-as-server-0": bytes((0x10 | push, 2, 0)) + client_greeting
        + encode_command(b"WELCOME") + LIBZMQ_READY_PULL + message,
        # A HELLO in a long frame: the stream is cut after its 8-octet size too.
        "hello-long-frame": bytes((pull, 1, answers[200])) + client_greeting + b"\x06"
        + struct.pack(">Q", len(LIBZMQ_HELLO) - 2) + LIBZMQ_HELLO[2:]
        + LIBZMQ_INITIATE_PUSH + message,
        "libzmq-error-400": bytes((0x10 | push, 0, 0)) + server_greeting
        + LIBZMQ_PLAIN_ERROR_400,
        "error-400": bytes((0x10 | push, 0, 0)) + server_greeting
        + encode_command(b"ERROR", b"\x03400"),
        "welcome-with-data": bytes((0x30 | push, 0, 0)) + encode_command(b"WELCOME", b"x"),
        "ready-before-welcome": bytes((0x30 | push, 0, 0)) + LIBZMQ_READY_PULL,
        "client-traffic-huge-frame": bytes((0xF0 | push, 0, 0)) + b"\x02"
        + struct.pack(">Q", 1 << 40),
        "null-greeting": bytes((pull, 0, answers[200])) + build_greeting(b"NULL", False),
    }


def main() -> None:
    run_main(TestOneInput)


if __name__ == "__main__":
    main()
