"""Events the ZMTP connection reports to its driver, one list per input."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..error import ProtocolError


@dataclass(frozen=True, slots=True)
class HandshakeComplete:
    """The security handshake succeeded: traffic may flow both ways."""

    metadata: dict[str, bytes]
    """The peer's properties (Socket-Type, Identity, application metadata), lower-cased."""
    peer_minor: int
    """The peer's ZMTP minor version: 0 for 3.0, 1 for 3.1."""


@dataclass(frozen=True, slots=True)
class MessagesReceived:
    """Complete messages decoded from the input, in stream order."""

    messages: list[list[bytes]]
    """Each message is the list of its frame bodies."""


@dataclass(frozen=True, slots=True)
class CommandReceived:
    """A traffic command the driver must act on (SUBSCRIBE, CANCEL, PING seen...)."""

    name: bytes
    """Command name, e.g. ``b"SUBSCRIBE"``."""
    data: bytes
    """Command data after the name."""


@dataclass(frozen=True, slots=True)
class ZapRequested:
    """The server mechanism asks a ZAP handler (RFC 27) before admitting the peer.

    The driver sends ``frames`` to the handler and hands the reply to
    :meth:`Connection.zap_reply`; the handshake waits until then.
    """

    frames: list[bytes] = field(repr=False)
    """The request, starting with the empty delimiter. It may hold a PLAIN password,
    so it stays out of the repr (and so out of logs and test reports)."""


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The peer broke the protocol: close the transport, log and report ``error``."""

    error: ProtocolError
    """Why; carries the monitor event and protocol error code."""


Event = HandshakeComplete | MessagesReceived | CommandReceived | ZapRequested | ConnectionClosed
