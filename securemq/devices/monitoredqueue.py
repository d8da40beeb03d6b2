"""``monitored_queue``: a queue that reports each message, tagged with where it came from."""

from __future__ import annotations

from typing import NoReturn

from .. import constants as C
from ..error import ZMQError
from ..proxy import Relay
from ..socket import Socket

__all__ = ["monitored_queue"]


def monitored_queue(in_socket: Socket, out_socket: Socket, mon_socket: Socket,
                    in_prefix: bytes = b"in", out_prefix: bytes = b"out") -> NoReturn:
    """Relay between ``in_socket`` and ``out_socket``, copying each message to a monitor.

    The predecessor of :func:`securemq.proxy.proxy`, kept from pyzmq. It differs in two
    ways: each copy sent to ``mon_socket`` starts with an extra frame, ``in_prefix`` for
    messages that arrived on ``in_socket`` and ``out_prefix`` for the others, so the
    monitor can tell the directions apart; and when both sockets are ROUTERs the first
    two frames (the sender's and the addressee's routing ids) are exchanged on the way,
    so that a ROUTER-to-ROUTER queue routes replies back. The monitor sees the message
    as it is sent on.

    Args:
        in_socket: One end; its messages are tagged with ``in_prefix``.
        out_socket: The other end; its messages are tagged with ``out_prefix``.
        mon_socket: Gets ``[prefix, *frames]`` for every message (PUB, PUSH...).
        in_prefix: The tag of messages from ``in_socket``.
        out_prefix: The tag of messages from ``out_socket``.

    Raises:
        ContextTerminated: the context was terminated (the normal end), or a socket
            was closed by another thread.
        ZMQError: ENOTSOCK if a socket is not an open securemq socket, ENOTSUP if
            ``mon_socket`` cannot send, EINVAL if a prefix is not bytes.
    """
    for name, prefix in (("in_prefix", in_prefix), ("out_prefix", out_prefix)):
        if not isinstance(prefix, bytes):
            raise ZMQError(C.EINVAL, f"{name} must be bytes, not {type(prefix).__name__}")
    if mon_socket is None:
        raise ZMQError(C.ENOTSOCK, "monitored_queue needs a monitor socket")
    swap = (getattr(in_socket, "socket_type", None) == C.ROUTER
            and getattr(out_socket, "socket_type", None) == C.ROUTER)
    Relay(in_socket, out_socket, mon_socket, None, prefixes=(in_prefix, out_prefix),
          swap_ids=swap).run()
    raise AssertionError("a relay without a control socket only ends by an exception")
