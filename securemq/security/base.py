"""What every security mechanism offers the ZMTP connection.

A mechanism is a sans-IO state machine over handshake commands: the connection hands it
each command body received and sends the command bodies it returns. When it reports
``done``, the connection switches to traffic and exposes ``peer_metadata``.

Server mechanisms may ask a ZAP handler (RFC 27) before admitting a peer: they set
``zap_request`` to the request frames and wait; the connection reports that to its
driver, which later hands the handler's reply to :meth:`Mechanism.receive_zap_reply`.
Mechanisms that encrypt traffic (CURVE) set ``encrypts`` and implement :meth:`seal` and
:meth:`open`, which the connection applies to every frame once the handshake is done.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from ..error import (
    AuthenticationFailed,
    ProtocolError,
    SocketTypeMismatch,
    UnspecifiedProtocolError,
    ZapBadRequestId,
    ZapBadVersion,
    ZapError,
    ZapHandlerMissing,
    ZapInvalidMetadata,
    ZapInvalidStatusCode,
    ZapMalformedReply,
)
from ..zmtp.commands import SOCKET_TYPE_NAMES, command_body, compatible, decode_metadata
from ..zmtp.frames import Buffer, frame_header

if TYPE_CHECKING:
    from ..transport.tls import TlsFilter

#: The request id we put in every ZAP request: one request per connection at a time,
#: so a constant serves (libzmq uses "1" too).
ZAP_REQUEST_ID = b"1"
ZAP_VERSION = b"1.0"


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
    zap_domain: bytes = b""
    """``ZMQ_ZAP_DOMAIN``: sent in ZAP requests; a NULL server asks ZAP only if set."""
    zap_enforce_domain: bool = False
    """``ZMQ_ZAP_ENFORCE_DOMAIN``: a missing ZAP handler refuses instead of admitting."""
    zap_handler: bool = False
    """Whether a ZAP handler was bound to ``inproc://zeromq.zap.01`` when the
    connection started (libzmq decides the same way, once per handshake)."""
    strict: bool = False
    """``Context(strict=True)``: fail closed where libzmq would admit."""
    plain_username: bytes = b""
    plain_password: bytes = field(default=b"", repr=False)
    curve_publickey: bytes = b""
    """Our long-term CURVE public key, 32 raw octets."""
    curve_secretkey: bytes = field(default=b"", repr=False)
    """Our long-term CURVE secret key, 32 raw octets."""
    curve_serverkey: bytes = b""
    """The server's long-term public key (clients only), 32 raw octets."""


class Mechanism:
    """Base class of the security mechanisms."""

    name: bytes = b""
    as_server: bool = False
    #: True for mechanisms whose traffic goes through :meth:`seal` and :meth:`open`.
    encrypts: ClassVar[bool] = False

    def __init__(self, config: HandshakeConfig, peer_address: str = "") -> None:
        self.config = config
        self.peer_address = peer_address
        self.done = False
        #: Properties the peer announced, keyed by lower-cased name.
        self.peer_metadata: dict[str, bytes] = {}
        #: Set when the mechanism waits for a ZAP handler; the connection takes it.
        self.zap_request: list[bytes] | None = None
        #: From a 200 ZAP reply: the User-Id and the properties to attach to messages.
        self.user_id = b""
        self.zap_properties: dict[str, bytes] = {}
        #: Whether a ZAP handler admitted the peer (then User-Id is set, even empty).
        self.zap_answered = False
        #: The credential the ZAP request carried first (see :meth:`build_zap_request`).
        self.zap_identity = b""
        #: The TLS layer below this connection (``tls+tcp``), set by the driver. Its
        #: handshake is done before any ZMTP byte, so its peer certificate is known here.
        self.tls: TlsFilter | None = None

    def start(self) -> list[bytes]:
        """Return the command bodies to send once both greetings are exchanged."""
        return []

    def receive_command(self, name: bytes, data: bytes) -> list[bytes]:
        """Consume one handshake command; return the command bodies to send in reply.

        Raises:
            ProtocolError: the command is unexpected, malformed or refused.
        """
        raise NotImplementedError

    # -- ZAP (RFC 27), server side ---------------------------------------------------------

    def zap_required(self) -> bool:
        """Whether this handshake must ask a ZAP handler (CURVE and NULL semantics).

        With no handler bound libzmq admits the peer (CurveZMQ's "Stonehouse" mode,
        encryption without authentication) unless ``zap_enforce_domain`` is set; strict
        mode refuses too.

        Raises:
            ZapHandlerMissing: no handler is bound and the policy says to refuse.
        """
        cfg = self.config
        if cfg.zap_handler:
            return True
        if cfg.strict or cfg.zap_enforce_domain:
            raise ZapHandlerMissing("no ZAP handler to authenticate the peer")
        return False

    def build_zap_request(self, credentials: list[bytes]) -> list[bytes]:
        """Set ``zap_request`` to the RFC 27 request for ``credentials``; return it.

        The leading empty delimiter is included: the driver sends it as is, like a
        DEALER talking to the handler's REP or ROUTER. Over TLS one more credential
        follows the mechanism's: the peer's certificate (DER; empty if it sent none),
        so that one ZAP policy can judge addresses, credentials and certificates.
        """
        cfg = self.config
        if self.tls is not None:
            credentials = [*credentials, self.tls.peer_certificate or b""]
        # Whom we asked about (CURVE key, PLAIN user name, TLS certificate; never a
        # password), so that the connection can be cut if that credential is revoked.
        self.zap_identity = credentials[0] if credentials else b""
        self.zap_request = [b"", ZAP_VERSION, ZAP_REQUEST_ID, cfg.zap_domain,
                            self.peer_address.encode(), cfg.routing_id, self.name,
                            *credentials]
        return self.zap_request

    def receive_zap_reply(self, frames: list[bytes]) -> list[bytes]:
        """Consume the handler's reply; return the command bodies to send.

        Raises:
            ZapError: the reply is malformed (the peer is refused, no ERROR is sent).
            AuthenticationFailed: the handler refused; its ``error_reply`` holds the
                ERROR command to send first, except for 300 (RFC 26: disconnect
                silently on a temporary failure).
        """
        status, user_id, props = parse_zap_reply(frames)
        if status != 200:
            exc = AuthenticationFailed(f"ZAP handler refused the peer with {status}", status)
            if status != 300:
                exc.error_reply = command_body(b"ERROR", b"\x03" + str(status).encode())
            raise exc
        self.user_id = user_id
        self.zap_properties = props
        self.zap_answered = True
        return self.zap_admitted()

    def zap_admitted(self) -> list[bytes]:
        """Go on with the handshake after a 200 reply; return the bodies to send."""
        raise NotImplementedError

    # -- traffic encryption ----------------------------------------------------------------

    def seal(self, flags: int, payload: bytes) -> bytes | bytearray:
        """Return the command body (``MESSAGE``) carrying one frame with ``flags``.

        ``flags`` is the frame's inner flags octet: 0x01 MORE, 0x02 COMMAND (libzmq puts
        heartbeats and subscriptions in boxes with 0x02; RFC 26 leaves those bits 0).
        """
        raise NotImplementedError

    def seal_frame(self, flags: int, payload: Buffer) -> bytes | bytearray:
        """:meth:`seal` with the frame header (outer flags 0) in front: one buffer.

        Mechanisms override it to build the frame in one piece (CURVE does).
        """
        body = self.seal(flags, bytes(payload))
        return frame_header(len(body)) + body

    def seal_messages(self, messages: Sequence[Sequence[Buffer]],
                      append: Callable[[Buffer], None]) -> int:
        """Seal every frame of ``messages`` (MORE inside the box) and ``append`` each
        framed result; return the octets appended. Mechanisms override it for speed.
        """
        size = 0
        for msg in messages:
            last = len(msg) - 1
            for i, part in enumerate(msg):
                frame = self.seal_frame(0x01 if i < last else 0, part)
                append(frame)
                size += len(frame)
        return size

    def wipe(self) -> None:
        """Forget every secret held; the connection calls it when it ends."""

    def open(self, body: bytes) -> tuple[int, bytes]:
        """Open a ``MESSAGE`` command body; return the inner flags and the payload.

        Raises:
            ProtocolError: the box is malformed, replayed or fails authentication.
        """
        raise NotImplementedError

    def open_frames(self, messages: Sequence[Sequence[Buffer]],
                    out: list[tuple[int, bytes]]) -> None:
        """:meth:`open` every body of ``messages`` into ``out`` as (flags, payload).

        On a failure ``out`` keeps what was opened before it. Mechanisms override it
        for speed.

        Raises:
            ProtocolError: as :meth:`open`.
        """
        for msg in messages:
            for body in msg:
                out.append(self.open(bytes(body)))

    def check_peer_metadata(self, data: bytes) -> dict[str, bytes]:
        """Decode the peer's metadata and validate its Socket-Type against ours.

        Raises:
            InvalidMetadata: malformed metadata.
            SocketTypeMismatch: an incompatible or missing socket type.
        """
        props = decode_metadata(data)
        theirs = props.get("socket-type")
        ours = SOCKET_TYPE_NAMES[self.config.socket_type]
        if theirs is None or not compatible(ours, theirs):
            raise SocketTypeMismatch(
                f"socket type {theirs!r} may not talk to {ours.decode()}",
            )
        return props


def parse_zap_reply(frames: list[bytes]) -> tuple[int, bytes, dict[str, bytes]]:
    """Check a ZAP reply as libzmq does; return (status code, user id, properties).

    Raises:
        ZapError: the reply breaks RFC 27; the subclass says how.
    """
    if len(frames) != 7:
        raise ZapMalformedReply(f"ZAP reply has {len(frames)} frames, not 7")
    delimiter, version, request_id, status, _text, user_id, metadata = frames
    if delimiter:
        raise ZapError("ZAP reply does not start with an empty delimiter")
    if version != ZAP_VERSION:
        raise ZapBadVersion("ZAP reply version is not 1.0")
    if request_id != ZAP_REQUEST_ID:
        raise ZapBadRequestId("ZAP reply answers another request")
    if status not in (b"200", b"300", b"400", b"500"):
        raise ZapInvalidStatusCode("ZAP reply status is not 200, 300, 400 or 500")
    if status != b"200" and user_id:
        # RFC 27: the user id "SHALL be empty" unless the status is 200. libzmq does not
        # check; a handler that breaks the rule may be confused about what it decided.
        raise ZapMalformedReply("ZAP reply gives a user id with a refusal")
    try:
        props = decode_metadata(metadata)
    except ProtocolError as exc:
        raise ZapInvalidMetadata(f"ZAP reply metadata: {exc.reason}") from None
    return int(status), user_id, props


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


__all__ = ["ZAP_REQUEST_ID", "HandshakeConfig", "Mechanism", "error_from_peer", "parse_zap_reply"]
