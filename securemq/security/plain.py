"""The PLAIN mechanism (RFC 24): a user name and password checked by a ZAP handler.

Theory of operation. The client speaks first::

    C: HELLO username password      S: WELCOME           (or ERROR, or a silent close)
    C: INITIATE metadata            S: READY metadata

The server never judges the credentials itself: on HELLO it builds a ZAP request
(RFC 27 "The PLAIN Mechanism": mechanism ``PLAIN``, credentials username and password)
and waits in ``EXPECT_ZAP_REPLY`` until the driver hands the handler's reply to
:meth:`Mechanism.receive_zap_reply`; a 200 reply sends WELCOME. Each state is named after
what the mechanism waits for next, and the (state, command) pairs it accepts are the
``_ACCEPTS`` table; any other command gets the monitor code libzmq 4.3.5 reports for it.

PLAIN gives no confidentiality: the password crosses the network in clear. It is never
put in an exception, a log line or a ``repr`` here.
"""

from __future__ import annotations

import enum

from ..constants import EINVAL, ProtocolErrorCode
from ..error import (
    MalformedCommand,
    ProtocolError,
    UnexpectedCommand,
    UnspecifiedProtocolError,
    ZapHandlerMissing,
    ZMQError,
)
from ..zmtp.commands import basic_properties, command_body, encode_metadata
from .base import HandshakeConfig, Mechanism, error_from_peer

__all__ = ["PlainMechanism", "State", "ZapHandlerMissing"]

#: RFC 24: user name and password each carry a 1-octet length.
MAX_CREDENTIAL = 255


class State(enum.Enum):
    """What a PLAIN mechanism waits for next."""

    EXPECT_HELLO = "expect-hello"
    """Server: the client's credentials."""
    EXPECT_ZAP_REPLY = "expect-zap-reply"
    """Server: the ZAP handler's verdict (``zap_request`` is set)."""
    EXPECT_INITIATE = "expect-initiate"
    """Server: the client's metadata, after our WELCOME."""
    EXPECT_WELCOME = "expect-welcome"
    """Client: the server's acceptance of our HELLO."""
    EXPECT_READY = "expect-ready"
    """Client: the server's metadata, after our INITIATE."""
    TRAFFIC = "traffic"
    """Handshake done: no more handshake commands."""
    CLOSED = "closed"
    """A protocol error was raised: nothing more is accepted."""


# The only (state, command) pairs a PLAIN peer may send (RFC 24 grammar). ERROR comes
# from the server only, before READY.
_ACCEPTS: frozenset[tuple[State, bytes]] = frozenset({
    (State.EXPECT_HELLO, b"HELLO"),
    (State.EXPECT_INITIATE, b"INITIATE"),
    (State.EXPECT_WELCOME, b"WELCOME"),
    (State.EXPECT_WELCOME, b"ERROR"),
    (State.EXPECT_READY, b"READY"),
    (State.EXPECT_READY, b"ERROR"),
})

# States in which libzmq 4.3.5 reads any command other than the expected one as
# ZMTP_UNEXPECTED_COMMAND. Elsewhere (a command while the ZAP handler is deciding, e.g. an
# INITIATE pipelined behind the HELLO) plain_server.cpp falls into its default case and
# reports ZMTP_UNSPECIFIED; we do the same (checked against libzmq through pyzmq).
_UNEXPECTED_STATES = frozenset({State.EXPECT_HELLO, State.EXPECT_INITIATE,
                                State.EXPECT_WELCOME, State.EXPECT_READY})


class PlainMechanism(Mechanism):
    """PLAIN security: the client sends credentials, the server asks ZAP about them.

    The role comes from ``config.as_server``; a client takes its credentials from
    ``config.plain_username`` and ``config.plain_password``.

    Args:
        config: the handshake's socket options.
        peer_address: the peer's IP address, for the ZAP request (server only).

    Raises:
        ZMQError: EINVAL when a client's user name or password is over 255 octets.
    """

    name = b"PLAIN"

    def __init__(self, config: HandshakeConfig, peer_address: str = "") -> None:
        super().__init__(config, peer_address)
        self.as_server = config.as_server
        if self.as_server:
            self.state = State.EXPECT_HELLO
        else:
            if (len(config.plain_username) > MAX_CREDENTIAL
                    or len(config.plain_password) > MAX_CREDENTIAL):
                raise ZMQError(EINVAL, "PLAIN user name and password are at most 255 octets")
            self.state = State.EXPECT_WELCOME

    # -- Mechanism interface ---------------------------------------------------------------

    def start(self) -> list[bytes]:
        """The client sends HELLO at once (RFC 24); the server waits for it."""
        if self.as_server:
            return []
        cfg = self.config
        return [command_body(b"HELLO", bytes((len(cfg.plain_username),)) + cfg.plain_username
                             + bytes((len(cfg.plain_password),)) + cfg.plain_password)]

    def receive_command(self, name: bytes, data: bytes) -> list[bytes]:
        """Consume one handshake command; return the command bodies to send.

        Raises:
            ProtocolError: the command is out of order, malformed, an ERROR from the
                server, or the server has no ZAP handler; the mechanism is then closed.
        """
        try:
            return self._dispatch(name, data)
        except ProtocolError:
            self.state = State.CLOSED
            self.done = False  # a closed mechanism carries no traffic
            raise

    def zap_required(self) -> bool:
        """PLAIN always needs a ZAP handler: without one, the peer is refused.

        This differs from the base (CURVE) rule, where libzmq admits the peer when no
        handler is bound. libzmq 4.3.5 refuses a PLAIN client in that case (there is no
        point to PLAIN without someone to check the password), reporting
        ``HANDSHAKE_FAILED_NO_DETAIL`` with EFAULT and sending no ERROR; strict mode and
        ``zap_enforce_domain`` change nothing.

        Raises:
            ZapHandlerMissing: no handler is bound.
        """
        if self.config.zap_handler:
            return True
        raise ZapHandlerMissing("PLAIN server has no ZAP handler to check credentials")

    def receive_zap_reply(self, frames: list[bytes]) -> list[bytes]:
        """Consume the ZAP handler's reply; return the command bodies to send (WELCOME).

        Raises:
            RuntimeError: no ZAP request is waiting for a reply (a driver bug).
            ZapError: the reply is malformed.
            AuthenticationFailed: the handler refused; ``error_reply`` holds the ERROR.
        """
        if self.state is not State.EXPECT_ZAP_REPLY:
            raise RuntimeError("no PLAIN ZAP request is waiting for a reply")
        # The request holds the password: drop it as soon as it has been answered.
        self.zap_request = None
        try:
            return super().receive_zap_reply(frames)
        except ProtocolError:
            self.state = State.CLOSED
            raise

    def zap_admitted(self) -> list[bytes]:
        """The handler said 200: welcome the client (RFC 24, WELCOME has no data)."""
        self.state = State.EXPECT_INITIATE
        return [command_body(b"WELCOME")]

    # -- commands --------------------------------------------------------------------------

    def _dispatch(self, name: bytes, data: bytes) -> list[bytes]:
        state = self.state
        if (state, name) not in _ACCEPTS:
            text = name.decode("ascii", "replace")
            if state in _UNEXPECTED_STATES:
                raise UnexpectedCommand(f"unexpected {text} in PLAIN {state.value}")
            raise UnspecifiedProtocolError(f"{text} command in PLAIN {state.value}")
        if name == b"HELLO":
            return self._on_hello(data)
        if name == b"INITIATE":
            return self._on_initiate(data)
        if name == b"WELCOME":
            return self._on_welcome(data)
        if name == b"READY":
            return self._on_ready(data)
        return self._on_error(data)

    def _on_hello(self, data: bytes) -> list[bytes]:
        """Server: parse the credentials and ask ZAP about them."""
        username, password = _parse_hello(data)
        # PLAIN's zap_required() is True or raises ZapHandlerMissing: no PLAIN client is
        # admitted unless a handler has checked its credentials.
        self.zap_required()
        # RFC 27 "The PLAIN Mechanism": two credential frames, username then password.
        self.build_zap_request([username, password])
        self.state = State.EXPECT_ZAP_REPLY
        return []

    def _on_initiate(self, data: bytes) -> list[bytes]:
        """Server: check the client's metadata and answer READY with ours."""
        self.peer_metadata = self.check_peer_metadata(data)
        self.state = State.TRAFFIC
        self.done = True
        return [command_body(b"READY", self._metadata())]

    def _on_welcome(self, data: bytes) -> list[bytes]:
        """Client: the server accepted our credentials; send our metadata."""
        if data:
            # libzmq plain_client.cpp: a WELCOME of any other size is malformed.
            raise MalformedCommand("WELCOME carries no data",
                                   ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_WELCOME)
        self.state = State.EXPECT_READY
        return [command_body(b"INITIATE", self._metadata())]

    def _on_ready(self, data: bytes) -> list[bytes]:
        """Client: the server's metadata ends the handshake."""
        self.peer_metadata = self.check_peer_metadata(data)
        self.state = State.TRAFFIC
        self.done = True
        return []

    def _on_error(self, data: bytes) -> list[bytes]:
        """Client: the server refused us (RFC 23 ERROR: a 1-octet length, a reason)."""
        if not data or data[0] + 1 > len(data):
            raise MalformedCommand("ERROR reason runs past the end",
                                   ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_ERROR)
        raise error_from_peer(data)

    def _metadata(self) -> bytes:
        cfg = self.config
        return encode_metadata(basic_properties(cfg.socket_type, cfg.routing_id, cfg.metadata))


def _parse_hello(data: bytes) -> tuple[bytes, bytes]:
    """Split HELLO data into (username, password): each a 1-octet length, then octets.

    Like libzmq, any octets are accepted (RFC 24 says VCHAR; the ZAP handler judges).

    Raises:
        MalformedCommand: a length runs past the end, or octets follow the password
            (ZMTP_MALFORMED_COMMAND_HELLO, as libzmq reports).
    """
    end = len(data)
    if end < 1 or 1 + data[0] + 1 > end:
        raise MalformedCommand("HELLO user name is truncated",
                               ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_HELLO)
    user_end = 1 + data[0]
    if user_end + 1 + data[user_end] != end:
        raise MalformedCommand("HELLO password length does not match the command size",
                               ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_HELLO)
    return data[1:user_end], data[user_end + 1:]
