"""Routing and queueing policy shared by the socket types (application thread only).

A pattern sees the socket's peers as :class:`~securemq.pipe.Peer` objects and moves whole
messages (lists of frames) between the application and their pipes. ``send`` and
``recv`` never block: they raise :class:`~securemq.error.Again` and the socket waits on
its mailbox. The two building blocks are libzmq's: a :class:`FairQueue` that takes one
message from each readable peer in turn, and a :class:`LoadBalancer` that gives each
message to the next peer with room.
"""

from __future__ import annotations

import errno
from collections import deque
from typing import TYPE_CHECKING, Any

from ..error import Again, ZMQError
from ..pipe import Message, Peer, Pipe

if TYPE_CHECKING:
    from ..options import Options

_AGAIN = Again()

#: The most messages a receive-only socket takes from a lone peer's pipe ahead of
#: ``recv`` (see :meth:`FairQueue.read_ahead`): enough to spread the cost of the
#: pattern's calls over many messages.
AHEAD = 64


def ahead_room(pipe: Pipe) -> int:
    """How many of ``pipe``'s messages may be taken ahead at once.

    Taken messages free room for the writer before the application has them, so a
    batch stretches the pipe's high-water mark: by a sixteenth at most, and not at all
    for a mark below 16, whose exact count a caller may rely on. A conflating pipe
    gives none: its newest message must replace the one queued.
    """
    if pipe.conflate:
        return 0
    hwm = pipe.hwm
    room = hwm >> 4 if 0 < hwm < AHEAD * 16 else AHEAD
    n = len(pipe.q)
    return n if n < room else room


class FairQueue:
    """Round-robin reception over the peers whose inbound pipe may hold messages."""

    __slots__ = ("active", "i", "on_drained")

    def __init__(self) -> None:
        self.active: list[Peer] = []
        self.i = 0
        #: Called with a peer whose pipe is closed and empty (the connection is gone).
        self.on_drained: Any = None

    def add(self, peer: Peer) -> None:
        """Mark ``peer`` readable (its pipe woke us, or it just attached)."""
        if not peer.in_active:
            peer.in_active = True
            self.active.append(peer)

    def remove(self, peer: Peer) -> None:
        """Forget ``peer``."""
        if peer.in_active:
            peer.in_active = False
            self.active.remove(peer)

    def recv(self) -> tuple[Message, Peer]:
        """Take the next message and the peer it came from.

        Raises:
            Again: no peer has a message.
        """
        active = self.active
        while active:
            i = self.i
            if i >= len(active):
                i = 0
            peer = active[i]
            pipe = peer.inp
            q = pipe.q
            if q:
                msg = q.popleft()
                if pipe.writer_waiting:
                    pipe.read_done()
                self.i = i + 1
                return msg, peer
            if pipe.closed:
                active.pop(i)
                peer.in_active = False
                if self.on_drained is not None:
                    self.on_drained(peer)
            elif pipe.sleep():
                active.pop(i)
                peer.in_active = False
        raise _AGAIN.with_traceback(None)

    def read_ahead(self, ahead: deque[Message]) -> None:
        """Move a batch of messages to ``ahead`` when only one peer is readable.

        Call it right after :meth:`recv`. Fairness only matters between peers, so with
        one readable peer a socket may take a batch at once: ``Socket.recv`` then pops
        them without calling into the pattern, the cost of which dominated small
        messages. The pipe's writer sees the room at once (see :func:`ahead_room`).
        """
        active = self.active
        if len(active) != 1:
            return
        pipe = active[0].inp
        n = ahead_room(pipe)
        if n:
            append = ahead.append
            popleft = pipe.q.popleft
            for _ in range(n):
                append(popleft())
            if pipe.writer_waiting:
                pipe.read_done()

    def has_message(self) -> bool:
        """True if some peer has a message waiting (used for ``EVENTS``).

        Peers found empty are put to sleep, exactly as :meth:`recv` does, so that their
        next message wakes the socket's descriptor: a poller relies on that.
        """
        active = self.active
        i = 0
        while i < len(active):
            peer = active[i]
            pipe = peer.inp
            if pipe.q:
                return True
            if pipe.closed:
                # Gone and read to the end: not readable, just finished.
                active.pop(i)
                peer.in_active = False
                if self.on_drained is not None:
                    self.on_drained(peer)
                continue
            if not pipe.sleep():
                return True
            peer.in_active = False
            active.pop(i)
        return False


class LoadBalancer:
    """Round-robin distribution over the peers whose outbound pipe has room."""

    __slots__ = ("active", "i")

    def __init__(self) -> None:
        self.active: list[Peer] = []
        self.i = 0

    def add(self, peer: Peer) -> None:
        """Mark ``peer`` writable."""
        if not peer.out_active and not peer.dead:
            peer.out_active = True
            self.active.append(peer)

    def remove(self, peer: Peer) -> None:
        """Forget ``peer``."""
        if peer.out_active:
            peer.out_active = False
            self.active.remove(peer)

    def next_peer(self) -> Peer:
        """The peer the next message goes to, without sending.

        Raises:
            Again: every peer's pipe is full (or there is no peer).
        """
        active = self.active
        while active:
            i = self.i
            if i >= len(active):
                i = self.i = 0
            peer = active[i]
            if not peer.out.full():
                return peer
            if peer.out.wait_writable():
                active.pop(i)
                peer.out_active = False
        raise _AGAIN.with_traceback(None)

    def send(self, msg: Message) -> Peer:
        """Give ``msg`` to the next peer with room; return that peer.

        Raises:
            Again: every peer's pipe is full (or there is no peer).
        """
        peer = self.next_peer()
        peer.out.write(msg)
        self.i += 1
        return peer

    def has_room(self) -> bool:
        """True if a message could be sent now (used for ``EVENTS``)."""
        try:
            self.next_peer()
        except Again:
            return False
        return True


class Pattern:
    """Base of the socket types: what a socket does with peers and messages.

    Subclasses override what their type supports; the defaults refuse with ENOTSUP,
    as libzmq does for a send on a PULL socket.
    """

    def __init__(self, options: Options) -> None:
        self.options = options
        self.peers: list[Peer] = []
        #: Messages already taken from a pipe, to be received before any other (see
        #: FairQueue.read_ahead). The socket pops them itself; only receive-only types
        #: with a fair queue fill it.
        self.ahead: deque[Message] = deque()

    def _fair_queue(self) -> FairQueue:
        """A fair queue that reports peers read to the end to :meth:`drained`."""
        fq = FairQueue()
        fq.on_drained = self.drained
        return fq

    # -- peers --------------------------------------------------------------------------

    def attach(self, peer: Peer) -> bool:
        """A new peer joined; return False to refuse it (e.g. a second PAIR peer)."""
        self.peers.append(peer)
        return True

    def ready(self, peer: Peer) -> None:
        """A peer attached before its handshake has now told us its metadata."""

    def terminated(self, peer: Peer) -> None:
        """A peer's connection is gone: stop sending to it (its queued input stays)."""

    def drained(self, peer: Peer) -> None:
        """A gone peer's input has been read to the end, or dropped (``disconnect``, as
        libzmq discards a disconnected pipe's input): forget it."""
        if self.ahead and peer is self.last_peer:
            self.ahead.clear()  # taken from its pipe ahead of recv: dropped with the rest
        if peer in self.peers:
            self.peers.remove(peer)

    def read_activated(self, peer: Peer) -> None:
        """A peer's inbound pipe went from empty to non-empty."""

    def write_activated(self, peer: Peer) -> None:
        """A peer's outbound pipe fell below its low-water mark."""

    # -- messages -----------------------------------------------------------------------

    def send(self, msg: Message) -> None:
        """Queue a complete message.

        Raises:
            Again: it cannot be queued now.
            ZMQError: the socket type cannot send now or at all (EFSM, ENOTSUP, ...).
        """
        raise ZMQError(errno.ENOTSUP)

    def recv(self) -> Message:
        """Take a complete message.

        Raises:
            Again: nothing to receive now.
            ZMQError: the socket type cannot receive now or at all.
        """
        raise ZMQError(errno.ENOTSUP)

    def matching_changed(self) -> None:
        """Subscriptions or ``invert_matching`` changed (SUB: see its override)."""

    def can_send(self) -> bool:
        """Whether a send would succeed now (POLLOUT)."""
        return False

    def can_recv(self) -> bool:
        """Whether a recv would succeed now (POLLIN)."""
        return False

    #: The peer the last received message came from, for ``Frame.get(property)``.
    last_peer: Peer | None = None

    #: Whether what this type sends may answer what it received (see ``Socket.recv``).
    #: Receive-only types say no and skip that bookkeeping on every message.
    replies = True
