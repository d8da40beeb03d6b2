"""What every security mechanism offers the ZMTP connection.

A mechanism is a sans-IO state machine over handshake commands: the connection hands it
each command body received and sends the command bodies it returns. When it reports
``done``, the connection switches to traffic and exposes ``peer_metadata``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..error import AuthenticationFailed, InvalidMetadata, ProtocolError, UnspecifiedProtocolError
from ..zmtp.commands import SOCKET_TYPE_NAMES, compatible, decode_metadata


@dataclass(frozen=True, slots=True)
class HandshakeConfig:
    """A frozen snapshot of the socket options a handshake needs (STYLE habit 7)."""

    socket_type: int
    """libzmq number of the local socket type."""
    routing_id: bytes = b""
    """Our ``routing_id``, announced as the Identity property where it applies."""
    metadata: Mapping[str, bytes] = field(default_factory=dict)
    """Application metadata (``ZMQ_METADATA``) announced to the peer."""
    as_server: bool = False
    """Whether we take the server role (always False for NULL)."""


class Mechanism:
    """Base class of the security mechanisms."""

    name: bytes = b""
    as_server: bool = False

    def __init__(self, config: HandshakeConfig) -> None:
        self.config = config
        self.done = False
        #: Properties the peer announced, keyed by lower-cased name.
        self.peer_metadata: dict[str, bytes] = {}

    def start(self) -> list[bytes]:
        """Return the command bodies to send once both greetings are exchanged."""
        return []

    def receive_command(self, name: bytes, data: bytes) -> list[bytes]:
        """Consume one handshake command; return the command bodies to send in reply.

        Raises:
            ProtocolError: the command is unexpected, malformed or refused.
        """
        raise NotImplementedError

    def check_peer_metadata(self, data: bytes) -> dict[str, bytes]:
        """Decode the peer's metadata and validate its Socket-Type against ours.

        Raises:
            InvalidMetadata: malformed metadata, or an incompatible or missing socket type.
        """
        props = decode_metadata(data)
        theirs = props.get("socket-type")
        ours = SOCKET_TYPE_NAMES[self.config.socket_type]
        if theirs is None or not compatible(ours, theirs):
            raise InvalidMetadata(
                f"socket type {theirs!r} may not talk to {ours.decode()}",
            )
        return props


def error_from_peer(data: bytes) -> ProtocolError:
    """Turn a peer's ERROR command into the exception that closes the connection.

    libzmq puts a ZAP status code ("400") in the reason when authentication failed; we
    report that as an authentication failure with the code, anything else as unspecified.
    """
    if not data or data[0] + 1 > len(data):
        return UnspecifiedProtocolError("malformed ERROR command")
    reason = data[1:1 + data[0]]
    text = reason.decode("ascii", "replace")
    if len(reason) == 3 and reason.isdigit() and reason[:1] in (b"3", b"4", b"5"):
        return AuthenticationFailed(f"peer refused: {text}", int(reason))
    return UnspecifiedProtocolError(f"peer sent ERROR: {text}")


__all__ = ["HandshakeConfig", "Mechanism", "error_from_peer"]
