"""The two error families: caller mistakes (``ZMQError``) and peer mistakes (``ProtocolError``).

``ZMQError`` and its subclasses are what the application sees, with pyzmq's names and
libzmq's errno values and messages, so ``except zmq.Again:`` works unchanged.
``ZMQError(EAGAIN)`` is already an ``Again``: the errno picks the subclass.

``ProtocolError`` and its subclasses never reach the application. The sans-IO protocol
core raises them when a peer breaks the rules; each carries the monitor event and libzmq
protocol error code that report it, and the engine turns it into a closed connection, a
log line and that monitor event (ARCHITECTURE.md, rule 6).
"""

from __future__ import annotations

import os
from typing import ClassVar, TypeVar, cast

from .constants import (
    EACCES,
    EAGAIN,
    EFAULT,
    EFSM,
    EHOSTUNREACH,
    EINTR,
    EINVAL,
    EMSGSIZE,
    EMTHREAD,
    ENOCOMPATPROTO,
    EPROTO,
    ETERM,
    Event,
    ProtocolErrorCode,
    zmq_version,
    zmq_version_info,
)

__all__ = [
    "Again",
    "AuthenticationFailed",
    "ContextTerminated",
    "CryptographicError",
    "GreetingError",
    "InterruptedSystemCall",
    "InvalidMetadata",
    "InvalidSequence",
    "KeyExchangeError",
    "MalformedCommand",
    "MechanismMismatch",
    "MessageTooLarge",
    "NotDone",
    "ProtocolError",
    "SocketTypeMismatch",
    "UnexpectedCommand",
    "UnspecifiedProtocolError",
    "ZMQBaseError",
    "ZMQBindError",
    "ZMQError",
    "ZMQVersionError",
    "ZapBadRequestId",
    "ZapBadVersion",
    "ZapError",
    "ZapHandlerMissing",
    "ZapInvalidMetadata",
    "ZapInvalidStatusCode",
    "ZapMalformedReply",
    "strerror",
    "zmq_error",
]

# libzmq's messages for the errno values it defines itself, and for the one system errno
# whose text it replaces; the OS knows the others.
_ZMQ_MESSAGES: dict[int, str] = {
    EFSM: "Operation cannot be accomplished in current state",
    ENOCOMPATPROTO: "The protocol is not compatible with the socket type",
    ETERM: "Context was terminated",
    EMTHREAD: "No thread available",
    EHOSTUNREACH: "Host unreachable",
}


def strerror(errno: int) -> str:
    """Return libzmq's message for ``errno``, like ``zmq_strerror``."""
    message = _ZMQ_MESSAGES.get(errno)
    return message if message is not None else os.strerror(errno)


# ---------------------------------------------------------------------------
# Caller mistakes: raised to the application.


class ZMQBaseError(Exception):
    """Base of every exception securemq raises to the application."""


_E = TypeVar("_E", bound="ZMQError")


class ZMQError(ZMQBaseError):
    """A call failed; ``errno`` says why, with libzmq's number.

    ``ZMQError(n)`` returns the subclass that pyzmq raises for ``n`` (``Again`` for
    EAGAIN, ``ContextTerminated`` for ETERM, ``InterruptedSystemCall`` for EINTR), so
    code inside securemq may raise ``ZMQError(EAGAIN)`` and callers still catch ``Again``.

    Attributes:
        errno: The error number, or None when only a message was given.
        strerror: The message: ``msg`` if given, else libzmq's text for ``errno``.
    """

    errno: int | None
    strerror: str
    _default_errno: ClassVar[int | None] = None

    def __new__(cls: type[_E], errno: int | str | None = None, msg: str | None = None) -> _E:
        target = cls
        if cls is ZMQError and isinstance(errno, int):
            target = cast("type[_E]", _ERRNO_CLASSES.get(errno, cls))
        # Start the MRO walk from ``target``: InterruptedSystemCall needs OSError.__new__.
        return super(ZMQError, target).__new__(target)

    def __init__(self, errno: int | str | None = None, msg: str | None = None) -> None:
        if isinstance(errno, str):  # ZMQError("message"), as pyzmq allows
            errno, msg = None, errno
        if errno is None:
            errno = self._default_errno
        self.errno = errno = None if errno is None else int(errno)
        if msg is None:
            msg = strerror(errno) if errno is not None else "Unknown error"
        self.strerror = msg
        self.args = (errno, msg)  # so that pickling rebuilds the same error

    def __str__(self) -> str:
        return self.strerror


class Again(ZMQError):
    """The operation would block (EAGAIN): no message to receive, or no room to send."""

    _default_errno = EAGAIN


class ContextTerminated(ZMQError):
    """The socket's context was terminated (ETERM): close the socket."""

    _default_errno = ETERM


# OSError types ``strerror`` as optional; ours is always set, hence the ignore.
class InterruptedSystemCall(ZMQError, InterruptedError):  # type: ignore[misc]
    """A blocking call was interrupted by a signal (EINTR) and was not resumed."""

    _default_errno = EINTR


_ERRNO_CLASSES: dict[int, type[ZMQError]] = {
    EAGAIN: Again,
    ETERM: ContextTerminated,
    EINTR: InterruptedSystemCall,
}


def zmq_error(errno: int, msg: str | None = None) -> ZMQError:
    """Build the ``ZMQError`` subclass pyzmq raises for ``errno``.

    The same as ``ZMQError(errno, msg)``; this spelling tells type checkers and readers
    that the result may be a subclass.
    """
    return _ERRNO_CLASSES.get(errno, ZMQError)(errno, msg)


class NotDone(ZMQBaseError):
    """Waiting on a ``MessageTracker`` timed out before the message was sent."""


class ZMQBindError(ZMQBaseError):
    """``bind_to_random_port`` found no free port in the range within its tries."""


class ZMQVersionError(ZMQBaseError, NotImplementedError):
    """A feature needs a newer libzmq than the one securemq emulates.

    Attributes:
        min_version: The oldest libzmq version that has the feature.
        msg: What the feature is.
    """

    def __init__(self, min_version: str, msg: str = "Feature") -> None:
        self.min_version = min_version
        self.msg = msg
        super().__init__(min_version, msg)

    def __str__(self) -> str:
        return f"{self.msg} requires libzmq >= {self.min_version}, have {zmq_version()}"


def _check_version(
    min_version_info: tuple[int] | tuple[int, int] | tuple[int, int, int], msg: str = "Feature"
) -> None:
    """Raise ``ZMQVersionError`` unless the emulated libzmq is at least ``min_version_info``."""
    if zmq_version_info() < min_version_info:
        raise ZMQVersionError(".".join(map(str, min_version_info)), msg)


# ---------------------------------------------------------------------------
# Peer mistakes: raised inside the protocol core, caught by the engine.


class ProtocolError(Exception):
    """A peer broke the protocol: close its connection, log ``reason``, report ``event``.

    Never raised to the application. Subclasses name the kind of mistake and carry the
    numbers libzmq puts in its monitor events.

    Attributes:
        code: libzmq's ``ZMQ_PROTOCOL_ERROR_*`` code, the value of a
            ``HANDSHAKE_FAILED_PROTOCOL`` monitor event.
        event: The monitor event that reports the failure, emitted before the
            ``DISCONNECTED`` every closed connection gets; 0 when libzmq emits nothing
            more specific than ``DISCONNECTED``.
        errno: The errno the engine records for the closed connection.
        reason: What went wrong, for the log; never contains secrets.
    """

    code: int = ProtocolErrorCode.ZMTP_UNSPECIFIED
    event: ClassVar[int] = Event.HANDSHAKE_FAILED_PROTOCOL
    errno: ClassVar[int] = EPROTO

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        #: A command body (ERROR) to send the peer before closing, if any.
        self.error_reply: bytes | None = None

    @property
    def event_value(self) -> int:
        """The number that travels with ``event``: the protocol error code by default."""
        return self.code


class UnspecifiedProtocolError(ProtocolError):
    """The peer broke ZMTP in a way libzmq has no specific code for."""


class UnexpectedCommand(ProtocolError):
    """The peer sent a command that is not valid at this point of the handshake."""

    code = ProtocolErrorCode.ZMTP_UNEXPECTED_COMMAND


class InvalidSequence(ProtocolError):
    """A CURVE nonce did not increase (RFC 26), so the message may be a replay."""

    code = ProtocolErrorCode.ZMTP_INVALID_SEQUENCE


class KeyExchangeError(ProtocolError):
    """The security handshake's key exchange failed (e.g. a cookie or vouch is wrong)."""

    code = ProtocolErrorCode.ZMTP_KEY_EXCHANGE


_MALFORMED_CODES = frozenset(
    {
        ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_UNSPECIFIED,
        ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_MESSAGE,
        ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_HELLO,
        ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_INITIATE,
        ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_ERROR,
        ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_READY,
        ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_WELCOME,
    }
)


class MalformedCommand(ProtocolError):
    """A command could not be parsed; ``code`` names which command when known.

    Raises:
        ValueError: ``code`` is not one of the ``ZMTP_MALFORMED_COMMAND_*`` codes.
    """

    code = ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_UNSPECIFIED

    def __init__(
        self,
        reason: str = "",
        code: int = ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_UNSPECIFIED,
    ) -> None:
        if code not in _MALFORMED_CODES:
            raise ValueError(f"not a malformed-command code: {code:#x}")
        super().__init__(reason)
        self.code = ProtocolErrorCode(code)


class CryptographicError(ProtocolError):
    """A box failed to open: wrong key, or the data was altered in transit."""

    code = ProtocolErrorCode.ZMTP_CRYPTOGRAPHIC


class MechanismMismatch(ProtocolError):
    """The peer's greeting names a different security mechanism, or the same role."""

    code = ProtocolErrorCode.ZMTP_MECHANISM_MISMATCH


class InvalidMetadata(ProtocolError):
    """The peer's metadata is malformed, or its Socket-Type cannot talk to ours."""

    code = ProtocolErrorCode.ZMTP_INVALID_METADATA


class SocketTypeMismatch(InvalidMetadata):
    """The peer's Socket-Type cannot talk to ours (or is missing).

    libzmq reports this only with ``DISCONNECTED``, so ``event`` is 0.
    """

    event = 0
    errno = EINVAL


class ZapHandlerMissing(ProtocolError):
    """A server must ask ZAP about its peer but no handler is bound, so it refuses.

    libzmq (``zap_connect`` failing with ``zap_enforce_domain``, and always for PLAIN)
    closes without an ERROR and reports ``HANDSHAKE_FAILED_NO_DETAIL`` with EFAULT.
    """

    event: ClassVar[int] = Event.HANDSHAKE_FAILED_NO_DETAIL
    errno: ClassVar[int] = EFAULT

    @property
    def event_value(self) -> int:
        """The errno libzmq sends with ``HANDSHAKE_FAILED_NO_DETAIL``: EFAULT."""
        return self.errno


class ZapError(ProtocolError):
    """The ZAP handler's reply was unusable, so the peer cannot be admitted."""

    code = ProtocolErrorCode.ZAP_UNSPECIFIED


class ZapMalformedReply(ZapError):
    """The ZAP reply does not have the frames RFC 27 requires."""

    code = ProtocolErrorCode.ZAP_MALFORMED_REPLY


class ZapBadRequestId(ZapError):
    """The ZAP reply answers a request id we did not send."""

    code = ProtocolErrorCode.ZAP_BAD_REQUEST_ID


class ZapBadVersion(ZapError):
    """The ZAP reply's version frame is not ``1.0``."""

    code = ProtocolErrorCode.ZAP_BAD_VERSION


class ZapInvalidStatusCode(ZapError):
    """The ZAP reply's status code is not one of 200, 300, 400 and 500."""

    code = ProtocolErrorCode.ZAP_INVALID_STATUS_CODE


class ZapInvalidMetadata(ZapError):
    """The ZAP reply's metadata frame is malformed."""

    code = ProtocolErrorCode.ZAP_INVALID_METADATA


class MessageTooLarge(ProtocolError):
    """A frame is longer than ``MAXMSGSIZE`` allows (or than any length can be).

    libzmq reports this only with ``DISCONNECTED``, so ``event`` is 0.
    """

    event = 0
    errno = EMSGSIZE


class GreetingError(ProtocolError):
    """The peer's greeting is not a ZMTP 3.x greeting we can accept."""


class AuthenticationFailed(ProtocolError):
    """The peer was refused: by the ZAP handler, or (client side) by the server's ERROR.

    Attributes:
        status_code: The ZAP status code (RFC 27): 300 for a temporary failure, 400 for
            refused credentials, 500 for an internal error of the handler.
    """

    event = Event.HANDSHAKE_FAILED_AUTH
    errno = EACCES

    def __init__(self, reason: str = "", status_code: int = 400) -> None:
        super().__init__(reason)
        self.status_code = status_code

    @property
    def event_value(self) -> int:
        """The ZAP status code, which libzmq sends with ``HANDSHAKE_FAILED_AUTH``."""
        return self.status_code
