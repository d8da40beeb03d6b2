"""The ZAP client side (RFC 27): engines ask the handler bound at ``inproc://zeromq.zap.01``.

One :class:`ZapClient` serves the engines of one I/O thread through a DEALER socket that
only that thread touches. Each request travels with an envelope naming the engine that
asked (``[ticket, b"", "1.0", request id, ...]``), which a REP handler strips and echoes
back, so replies find their engine whatever order the handler answers in. The request
id inside stays the constant libzmq uses, which is what the mechanism checks.
"""

from __future__ import annotations

import itertools
import logging
from typing import TYPE_CHECKING, Protocol

from ..constants import DEALER, DONTWAIT
from ..error import Again, ZMQError
from .reactor import READ, Reactor

if TYPE_CHECKING:
    from ..context import Context

log = logging.getLogger("securemq.zap")

#: Where a ZAP handler binds (RFC 27 "Architecture").
ZAP_ENDPOINT = "inproc://zeromq.zap.01"


class ZapWaiter(Protocol):
    """What a ZAP client hands replies to: an engine in the handshake."""

    def zap_reply(self, frames: list[bytes]) -> None:
        """The handler answered: ``frames`` start with the empty delimiter."""


class ZapClient:
    """Sends the ZAP requests of one I/O thread's engines and routes the replies back.

    Created and used in the I/O thread only (``request``, ``cancel``, replies); the
    context closes it when it terminates.
    """

    def __init__(self, context: Context, reactor: Reactor, handler: object = None) -> None:
        self.reactor = reactor
        #: The handler's socket when we connected, to notice that it was replaced.
        self.handler = handler
        from ..socket import Socket  # noqa: PLC0415 - the socket module imports this one

        # Synchronous even in an asyncio context: only this I/O thread touches it.
        sock = context.socket(DEALER, socket_class=Socket, _internal=True)
        sock.linger = 0
        sock.sndhwm = sock.rcvhwm = 0  # never drop a request or a reply
        sock.connect(ZAP_ENDPOINT)
        self._sock = sock
        self._tickets = itertools.count(1)
        self._waiting: dict[bytes, ZapWaiter] = {}
        self._fd = sock.fileno()
        reactor.register(self._fd, READ, self._on_readable)
        self.closed = False

    def request(self, waiter: ZapWaiter, frames: list[bytes]) -> None:
        """Send ``frames`` (starting with the empty delimiter) on behalf of ``waiter``."""
        ticket = b"%x" % next(self._tickets)
        self._waiting[ticket] = waiter
        try:
            self._sock.send_multipart([ticket, *frames], DONTWAIT)
        except ZMQError as exc:  # not expected with no HWM; the handshake deadline rules
            log.warning("could not send a ZAP request: %s", exc)
        # A receive that finds nothing arms the wake-up: the reply, when the handler
        # writes it, then signals our descriptor.
        self._on_readable(0)

    def cancel(self, waiter: ZapWaiter) -> None:
        """Forget the requests of ``waiter`` (its connection ended)."""
        for ticket in [t for t, w in self._waiting.items() if w is waiter]:
            del self._waiting[ticket]

    def _on_readable(self, mask: int) -> None:
        sock = self._sock
        while not self.closed:
            try:
                msg = sock.recv_multipart(DONTWAIT)
            except Again:
                return
            except ZMQError:
                return  # the context is terminating
            waiter = self._waiting.pop(msg[0], None)
            if waiter is None:
                log.debug("ZAP reply for a connection that has gone")
                continue
            waiter.zap_reply(msg[1:])

    def close(self) -> None:
        """Stop and close the socket (I/O thread)."""
        if self.closed:
            return
        self.closed = True
        self._waiting.clear()
        self.reactor.unregister(self._fd)
        self._sock.close(linger=0)
