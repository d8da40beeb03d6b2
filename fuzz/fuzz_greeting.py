"""Fuzz the greeting parser and the connection's greeting state.

Input: the peer's first octets. Invariant: ``check_signature_prefix`` raises only
``GreetingError`` and ``parse_greeting`` only a ``ProtocolError``; a connection fed the
same octets (whole, byte by byte, or split at random) reports the same events, never
raises, and refuses exactly the greetings ``parse_greeting`` refuses.
"""

from __future__ import annotations

from typing import Any

from securemq.error import GreetingError, ProtocolError
from securemq.security.base import HandshakeConfig
from securemq.security.null import NullMechanism
from securemq.zmtp.connection import Connection, State
from securemq.zmtp.events import ConnectionClosed
from securemq.zmtp.greeting import GREETING_SIZE, check_signature_prefix, parse_greeting

from ._common import check_events, feed_all, flat, run_main

_MECHANISMS = (b"NULL", b"PLAIN", b"CURVE")


def TestOneInput(data: bytes) -> None:
    for end in (1, 10, 11, 12, GREETING_SIZE):
        try:
            check_signature_prefix(data[:end])
        except GreetingError:
            pass

    parsed: dict[bytes, bool] = {}
    for mech in _MECHANISMS:
        try:
            g = parse_greeting(data[:GREETING_SIZE], mech)
        except ProtocolError:
            parsed[mech] = False
        else:
            parsed[mech] = True
            assert len(data) >= GREETING_SIZE and g.major >= 3 and g.mechanism == mech
            assert g.major > 3 or g.minor == data[11]
    assert sum(parsed.values()) <= 1, "a greeting names one mechanism"

    reference: list[tuple[Any, ...]] | None = None
    for plan in (0, 1, len(data) % 251 + 2):
        conn = Connection(NullMechanism(HandshakeConfig(socket_type=6)), 1000, 10.0)
        events = feed_all(conn, data, plan)
        check_events(events, conn)
        if len(data) >= GREETING_SIZE:
            # The greeting alone decides whether we get past it (the NULL role check
            # aside, which parse_greeting leaves to the connection).
            refused_greeting = not parsed[b"NULL"] or data[32] != 0
            if refused_greeting:
                assert events and isinstance(events[0], ConnectionClosed)
            else:
                assert conn.peer_greeting is not None
        elif conn.state is not State.CLOSED:
            assert conn.state is State.EXPECT_GREETING
        flattened = flat(events)
        if reference is None:
            reference = flattened
        assert flattened == reference, "split changed the result"
        if conn.state is not State.CLOSED:
            check_events(conn.handle_timer(10.0), conn)


def main() -> None:
    run_main(TestOneInput)


if __name__ == "__main__":
    main()
