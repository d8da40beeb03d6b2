"""The NULL mechanism (RFC 37): each side sends READY with its metadata, then traffic."""

from __future__ import annotations

from ..error import UnexpectedCommand
from ..zmtp.commands import basic_properties, command_body, encode_metadata
from .base import HandshakeConfig, Mechanism, error_from_peer


class NullMechanism(Mechanism):
    """NULL security: no authentication, no confidentiality.

    ZAP for NULL (a ``zap_domain`` on the server) arrives with the ZAP issue; until then a
    NULL handshake completes as soon as a valid READY arrives.
    """

    name = b"NULL"

    def __init__(self, config: HandshakeConfig) -> None:
        super().__init__(config)
        self._sent_ready = False

    def start(self) -> list[bytes]:
        """Both peers send READY at once: RFC 37 lets the server reply without waiting."""
        self._sent_ready = True
        props = basic_properties(self.config.socket_type, self.config.routing_id,
                                 self.config.metadata)
        return [command_body(b"READY", encode_metadata(props))]

    def receive_command(self, name: bytes, data: bytes) -> list[bytes]:
        if name == b"READY" and not self.done:
            self.peer_metadata = self.check_peer_metadata(data)
            self.done = True
            return []
        if name == b"ERROR":
            raise error_from_peer(data)
        text = name.decode("ascii", "replace")
        raise UnexpectedCommand(f"unexpected {text} during NULL handshake")
