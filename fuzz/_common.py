"""Helpers shared by the fuzz targets: input splitting and the event invariant."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

from securemq.error import ProtocolError
from securemq.zmtp import frames
from securemq.zmtp.connection import Connection, State
from securemq.zmtp.events import (
    CommandReceived,
    ConnectionClosed,
    Event,
    HandshakeComplete,
    MessagesReceived,
    ZapRequested,
)

#: What a FrameDecoder may allocate ahead of the octets that arrived (0 if nothing).
_PREALLOC: int = getattr(frames, "_PREALLOC", 0)


def chunks(data: bytes, plan: int) -> Iterator[bytes]:
    """Split ``data`` as ``plan`` says: 0 whole, 1 byte by byte, else pseudo-random sizes.

    The split is a pure function of (data, plan), so a crash reproduces from its input.
    Byte by byte is kept to inputs of 4 KiB, so that big inputs do not starve the fuzzer.
    """
    if plan == 1 and len(data) > 4096:
        plan = 255
    if plan == 0:
        if data:
            yield data
        return
    if plan == 1:
        for i in range(len(data)):
            yield data[i:i + 1]
        return
    rng = random.Random(plan)
    top = 1 + plan * 4
    i = 0
    while i < len(data):
        n = rng.randint(1, top)
        yield data[i:i + n]
        i += n


def flat(events: list[Event]) -> list[tuple[Any, ...]]:
    """Events with message batches flattened, so that any split compares equal."""
    result: list[tuple[Any, ...]] = []
    for ev in events:
        if isinstance(ev, MessagesReceived):
            assert ev.messages, "empty MessagesReceived"
            result += [("msg", m) for m in ev.messages]
        elif isinstance(ev, HandshakeComplete):
            result.append(("ready", ev.metadata, ev.peer_minor))
        elif isinstance(ev, CommandReceived):
            result.append(("cmd", ev.name, ev.data))
        elif isinstance(ev, ZapRequested):
            result.append(("zap", ev.frames))
        else:
            result.append(("closed", type(ev.error), ev.error.code))
    return result


def check_events(events: list[Event], conn: Connection, in_traffic: bool = False) -> None:
    """The connection invariant: only the five event types; at most one handshake, and
    no message or command before it (a ZAP request only before it); at most one close,
    always last, carrying a ProtocolError; CLOSED state if and only if closed.

    ``in_traffic`` says whether the handshake was complete before these events.
    """
    closes = 0
    for i, ev in enumerate(events):
        if isinstance(ev, ConnectionClosed):
            closes += 1
            assert i == len(events) - 1, "events after ConnectionClosed"
            assert isinstance(ev.error, ProtocolError), ev.error
        elif isinstance(ev, HandshakeComplete):
            assert not in_traffic, "second HandshakeComplete"
            in_traffic = True
        elif isinstance(ev, ZapRequested):
            assert not in_traffic, "ZAP request after the handshake"
        else:
            assert isinstance(ev, (MessagesReceived, CommandReceived)), ev
            assert in_traffic, "traffic before the handshake completed"
    assert closes <= 1
    assert (conn.state is State.CLOSED) == (closes == 1), (conn.state, events)


def feed_all(conn: Connection, data: bytes, plan: int,
             after_each: Callable[[], None] | None = None, zero_copy: bool = False
             ) -> list[Event]:
    """Feed ``data`` to ``conn`` split by ``plan``; return every event.

    With ``zero_copy``, do what the engine does: whenever the connection offers a
    ``receive_buffer()`` (a large frame arriving), write into it and call
    ``received_into`` instead of ``receive_data``.
    """
    events: list[Event] = []
    for chunk in chunks(data, plan):
        rest = chunk
        while rest:
            view = conn.receive_buffer() if zero_copy else None
            if view is None:
                events += conn.receive_data(rest)
                rest = b""
            else:
                n = min(len(view), len(rest))
                view[:n] = rest[:n]
                events += conn.received_into(n)
                rest = rest[n:]
            if after_each is not None:
                after_each()
    return events


def buffered(decoder: Any) -> int:
    """Octets a FrameDecoder has allocated for input (white-box: the invariant is about
    its internals). A large frame counts with the size of its buffer, not what is in it,
    less the allowance the decoder grants itself for preallocating a large frame.
    Octets of ``_buf`` before ``_buf_off`` are decoded already (the command holds a copy
    of the last of them) and do not count twice."""
    held = len(decoder._buf) - decoder._buf_off + sum(len(b) for b in decoder._cur)
    if decoder._large is not None:
        held += max(decoder._large_have, len(decoder._large) - _PREALLOC)
    if decoder.command is not None:
        held += len(decoder.command)
    return held


def run_main(test_one_input: Callable[[bytes], None]) -> None:
    """Run ``test_one_input`` under atheris with the command-line libFuzzer flags."""
    import sys  # noqa: PLC0415 - only when run as a script

    import atheris  # type: ignore[import-untyped]  # noqa: PLC0415 - optional

    atheris.instrument_all()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
