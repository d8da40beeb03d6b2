"""The NULL mechanism (RFC 37): each side sends READY with its metadata, then traffic."""

from __future__ import annotations

from ..error import UnexpectedCommand
from ..zmtp.commands import basic_properties, command_body, encode_metadata
from .base import HandshakeConfig, Mechanism, error_from_peer


class NullMechanism(Mechanism):
    """NULL security: no authentication, no confidentiality.

    A socket with a ``zap_domain`` still asks a ZAP handler (RFC 27 "The NULL
    Mechanism": filtering by address), as libzmq does: the request goes out at once,
    and our READY only after a 200 reply, so that a refused peer never sees it.
    """

    name = b"NULL"

    def __init__(self, config: HandshakeConfig, peer_address: str = "") -> None:
        super().__init__(config, peer_address)
        self._ready_received = False
        self._admitted = True

    def start(self) -> list[bytes]:
        """Send READY now, or once ZAP has admitted the peer.

        Over TLS the server side asks whenever a handler is bound, with or without a
        domain: the client's certificate is a credential worth a policy.
        """
        tls = self.tls
        if tls is not None and tls.server_side and self.config.zap_handler:
            self._admitted = False
            self.build_zap_request([])
            return []
        if self.config.zap_domain and self.zap_required():
            self._admitted = False
            self.build_zap_request([])
            return []
        return [self._ready()]

    def _ready(self) -> bytes:
        props = basic_properties(self.config.socket_type, self.config.routing_id,
                                 self.config.metadata)
        return command_body(b"READY", encode_metadata(props))

    def zap_admitted(self) -> list[bytes]:
        self._admitted = True
        self.done = self._ready_received
        return [self._ready()]

    def receive_command(self, name: bytes, data: bytes) -> list[bytes]:
        if name == b"READY" and not self._ready_received:
            self.peer_metadata = self.check_peer_metadata(data)
            self._ready_received = True
            self.done = self._admitted
            return []
        if name == b"ERROR":
            raise error_from_peer(data)
        text = name.decode("ascii", "replace")
        raise UnexpectedCommand(f"unexpected {text} during NULL handshake")
