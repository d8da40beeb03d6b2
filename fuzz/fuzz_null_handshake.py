"""Fuzz a Connection with the NULL mechanism, in the client or the server role.

Input: a control octet, a split-plan octet, then what the peer sends. The control octet
picks our socket type and role, a small or no ``maxmsgsize``, and whether the input is
preceded by a valid greeting (to get past it at once) or by a valid greeting and READY
(to fuzz traffic). Invariant: ``receive_data`` never raises; the events obey
:func:`check_events`; a closed connection stays closed and silent; any split gives the
same events, and so does the engine's zero-copy path (``receive_buffer`` /
``received_into``); the decoder never holds more than it was fed.
"""

from __future__ import annotations

from securemq.security.base import HandshakeConfig
from securemq.security.null import NullMechanism
from securemq.zmtp.commands import encode_metadata
from securemq.zmtp.connection import Connection, State
from securemq.zmtp.events import HandshakeComplete
from securemq.zmtp.frames import encode_command
from securemq.zmtp.greeting import build_greeting

from ._common import buffered, check_events, feed_all, flat, run_main

# (our socket type, a compatible peer type), client-ish and server-ish roles.
_PAIRS = ((5, b"ROUTER"), (6, b"DEALER"), (3, b"REP"), (4, b"REQ"), (8, b"PULL"),
          (7, b"PUSH"), (1, b"SUB"), (2, b"PUB"), (0, b"PAIR"), (9, b"XSUB"))
_GREETING = build_greeting(b"NULL", False)


def _run(stream: bytes, plan: int, socket_type: int, maxmsgsize: int, client: bool,
         zero_copy: bool = False) -> tuple[list[tuple[object, ...]], bytes]:
    conn = Connection(NullMechanism(HandshakeConfig(socket_type, b"id")), maxmsgsize, 5.0)
    sent = b""
    if client:
        # The connecting side writes first; the driver drains before reading.
        sent = b"".join(bytes(b) for b in conn.data_to_send())
    fed = 0

    def bounded() -> None:
        assert buffered(conn._decoder) <= fed and len(conn._greeting_buf) < 64

    events = []
    for piece in (stream[i:i + 4096] for i in range(0, len(stream), 4096)):
        fed += len(piece)
        events += feed_all(conn, piece, plan, bounded, zero_copy)
    check_events(events, conn)
    if any(isinstance(e, HandshakeComplete) for e in events):
        assert conn.peer_metadata.get("socket-type") is not None
    sent += b"".join(bytes(b) for b in conn.data_to_send())
    if conn.state is State.CLOSED:
        assert conn.receive_data(stream[:64] + b"\x00\x01x") == []
        assert conn.handle_timer(1e9) == []
        assert conn.data_to_send() == []
    else:
        check_events(conn.handle_timer(5.0), conn, in_traffic=conn.state is State.TRAFFIC)
    return flat(events), sent


def TestOneInput(data: bytes) -> None:
    if len(data) < 2:
        return
    ctrl, plan, rest = data[0], data[1], data[2:]
    socket_type, peer_type = _PAIRS[(ctrl & 0x0F) % len(_PAIRS)]
    client = bool(ctrl & 0x10)
    maxmsgsize = 300 if ctrl & 0x20 else -1
    prefix = b""
    if ctrl & 0xC0:
        prefix = _GREETING
    if ctrl & 0x80:
        metadata = encode_metadata([("Socket-Type", peer_type), ("Identity", b"peer")])
        prefix += encode_command(b"READY", metadata)
    stream = prefix + rest
    reference = _run(stream, 0, socket_type, maxmsgsize, client)
    assert _run(stream, plan, socket_type, maxmsgsize, client) == reference, "split changed"
    # The engine's zero-copy path for large frames must not change anything either.
    zero_copy = _run(stream, plan, socket_type, maxmsgsize, client, zero_copy=True)
    assert zero_copy == reference, "receive_buffer/received_into changed the result"


def main() -> None:
    run_main(TestOneInput)


if __name__ == "__main__":
    main()
