"""The connection of a STREAM socket: raw bytes, no ZMTP, behind the Connection interface.

A STREAM socket speaks to plain TCP peers (an HTTP server, a telnet client), so there is
no greeting, no handshake and no framing: every chunk read is one message, every frame
sent is written as it is. It presents the same methods as
:class:`~securemq.zmtp.connection.Connection`, so the engine drives both alike. As
libzmq does with ``stream_notify``, an empty message tells the application that the peer
connected and, later, that it left; an empty frame sent to the peer closes the
connection.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..zmtp.events import Event, HandshakeComplete, MessagesReceived
from .connection import State
from .frames import Buffer


class _RawIdentity:
    """What the engine reads from a connection's mechanism: the peer's address."""

    encrypts = False
    zap_answered = False

    def __init__(self, peer_address: str) -> None:
        self.peer_address = peer_address
        self.name = b"NULL"


class RawConnection:
    """Bytes in, bytes out, for a STREAM socket (sans I/O like :class:`Connection`).

    Args:
        peer_address: the peer's IP address, for ``Peer-Address``.
        notify: deliver an empty message on connect and on disconnect.
    """

    peer_minor = 1
    timers_pending = False

    def __init__(self, peer_address: str = "", notify: bool = True) -> None:
        self.mechanism = _RawIdentity(peer_address)
        self.state = State.TRAFFIC
        self.notify = notify
        self.peer_metadata: dict[str, bytes] = {}
        #: Set when the application sent an empty frame: close once the rest is out.
        self.close_requested = False
        self._out: list[Buffer] = []

    def start(self) -> list[Event]:
        """The connection is usable at once; with ``notify``, say so with b""."""
        events: list[Event] = [HandshakeComplete({}, 1)]
        if self.notify:
            events.append(MessagesReceived([[b""]]))
        return events

    def goodbye(self) -> list[list[bytes]]:
        """The message to deliver when the peer has gone (b"" with ``notify``)."""
        return [[b""]] if self.notify else []

    # -- the Connection interface the engine uses --------------------------------------

    def receive_buffer(self) -> memoryview | None:
        return None

    def received_into(self, n: int) -> list[Event]:  # pragma: no cover - no buffer offered
        return []

    def receive_data(self, data: Buffer) -> list[Event]:
        return [MessagesReceived([[bytes(data)]])]

    def send_messages(self, messages: Sequence[Sequence[Buffer]]) -> int:
        """Queue every frame's bytes; an empty frame asks to close after what precedes."""
        size = 0
        out = self._out
        for msg in messages:
            for part in msg:
                if not len(part):
                    self.close_requested = True
                    return size
                out.append(part)
                size += len(part)
        return size

    def send_command(self, name: bytes, data: bytes = b"") -> None:
        """Raw peers have no commands."""

    def data_to_send(self) -> list[Buffer]:
        out, self._out = self._out, []
        return out

    def has_output(self) -> bool:
        return bool(self._out)

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> list[Event]:
        return []

    def update_timers(self, now: float) -> None:
        """No timers: no heartbeats without ZMTP."""

    def zap_reply(self, frames: list[bytes]) -> list[Event]:
        return []

    def wipe(self) -> None:
        """Nothing secret to forget."""
