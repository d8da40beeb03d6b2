"""Fuzz a Connection with the PLAIN mechanism (RFC 24), as client or server, with ZAP.

Input: a control octet, a split-plan octet, a ZAP octet, then what the peer sends.

The control octet picks our socket type (low nibble) and role (0x10: client), a small
``maxmsgsize`` (0x80), and how far a valid peer has already gone (bits 0x60): nothing,
its greeting, greeting and first command (HELLO to a server, WELCOME to a client), or the
whole handshake (to fuzz traffic). The ZAP octet says how a server's ZAP handler behaves
(bits 0x03): none bound, bound but silent, or answering at once; the status it answers
(bits 0x0C: 200, 300, 400, 500), whether the reply is malformed (0x10), and strict mode
(0x20). "At once" means inside the HELLO's ``receive_command``, as libzmq does when the
reply is already there, so that the outcome cannot depend on how the input is split.

Invariant: ``receive_data`` never raises; the events obey :func:`check_events`; a closed
connection stays closed and silent; any split gives the same events and output, also
through the engine's zero-copy path; buffers stay bounded; a server admits a client only
after a well-formed 200 ZAP reply; a silent handler leaves the request pending with the
RFC 27 frames; no close reason contains the password.
"""

from __future__ import annotations

import struct

from securemq.security.base import ZAP_REQUEST_ID, HandshakeConfig
from securemq.security.plain import PlainMechanism
from securemq.zmtp.commands import encode_metadata
from securemq.zmtp.connection import Connection, State
from securemq.zmtp.events import ConnectionClosed, HandshakeComplete
from securemq.zmtp.frames import encode_command
from securemq.zmtp.greeting import build_greeting

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

# ZAP octet modes.
NO_HANDLER, SILENT, ANSWERS = 0, 1, 2


class _AnsweringPlain(PlainMechanism):
    """A PLAIN server whose ZAP handler has answered before the HELLO is processed."""

    def __init__(self, config: HandshakeConfig, reply: list[bytes]) -> None:
        super().__init__(config, "192.0.2.1")
        self._reply = reply

    def receive_command(self, name: bytes, data: bytes) -> list[bytes]:
        bodies = super().receive_command(name, data)
        if self.zap_request is not None:
            self.zap_request = None  # the engine takes it
            bodies += self.receive_zap_reply(self._reply)
        return bodies


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
    mode = zap & 3
    config = HandshakeConfig(socket_type, b"id", as_server=True, zap_domain=b"fuzz",
                             zap_handler=mode != NO_HANDLER, strict=bool(zap & 0x20))
    if mode >= ANSWERS:
        return _AnsweringPlain(config, _zap_reply(zap)[0])
    return PlainMechanism(config, "192.0.2.1")


def _run(stream: bytes, plan: int, socket_type: int, maxmsgsize: int, client: bool,
         zap: int, zero_copy: bool = False) -> tuple[list[tuple[object, ...]], bytes]:
    conn = Connection(_mechanism(socket_type, client, zap), maxmsgsize, 5.0)
    sent = b""
    if client:
        sent = b"".join(bytes(b) for b in conn.data_to_send())
    fed = 0

    def bounded() -> None:
        assert buffered(conn._decoder) <= fed and len(conn._greeting_buf) < 64

    events = []
    for piece in (stream[i:i + 4096] for i in range(0, len(stream), 4096)):
        fed += len(piece)
        events += feed_all(conn, piece, plan, bounded, zero_copy)
    check_events(events, conn)
    mech = conn.mechanism
    if any(isinstance(e, HandshakeComplete) for e in events):
        assert conn.peer_metadata.get("socket-type") is not None
        if not client:
            # Only a well-formed 200 reply admits a PLAIN client.
            assert zap & 3 >= ANSWERS and _zap_reply(zap)[1], zap
            assert mech.user_id == b"user"
    if not client and zap & 3 == SILENT and mech.zap_request is not None:
        request = mech.zap_request
        assert len(request) == 9 and request[:4] == [b"", b"1.0", ZAP_REQUEST_ID, b"fuzz"]
        assert request[6] == b"PLAIN"
    sent += b"".join(bytes(b) for b in conn.data_to_send())
    if conn.state is State.CLOSED:
        assert conn.receive_data(stream[:64] + b"\x00\x01x") == []
        assert conn.handle_timer(1e9) == []
        assert conn.data_to_send() == []
    else:
        check_events(conn.handle_timer(5.0), conn, in_traffic=conn.state is State.TRAFFIC)
    return flat(events) + _reasons(events), sent


def _reasons(events: list[object]) -> list[tuple[object, ...]]:
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
            assert SECRET.decode() not in reason, "password in a close reason"


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
    pull, push = 0x04, 0x05  # our PULL (peer PUSH), our PUSH (peer PULL)
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
