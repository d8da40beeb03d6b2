"""PAIR (RFC 31): one peer at a time, both directions."""

from __future__ import annotations

from ..error import Again
from ..options import Options
from ..pipe import Message, Peer
from .base import Pattern

_AGAIN = Again()


class Pair(Pattern):
    """Exclusive pair: a second peer is refused while the first is attached."""

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        self.peer: Peer | None = None

    def attach(self, peer: Peer) -> bool:
        if self.peer is not None:
            return False
        self.peer = peer
        return super().attach(peer)

    def terminated(self, peer: Peer) -> None:
        pass  # keep reading what it sent; forget it once drained

    def drained(self, peer: Peer) -> None:
        if self.peer is peer:
            self.peer = None
        super().drained(peer)

    def send(self, msg: Message) -> None:
        peer = self.peer
        if peer is None or peer.dead:
            raise _AGAIN.with_traceback(None)
        out = peer.out
        if out.full() and out.wait_writable():
            raise _AGAIN.with_traceback(None)
        out.write(msg)

    def recv(self) -> Message:
        peer = self.peer
        if peer is None:
            raise _AGAIN.with_traceback(None)
        pipe = peer.inp
        q = pipe.q
        while True:
            if q:
                msg: Message = q.popleft()
                if pipe.writer_waiting:
                    pipe.read_done()
                self.last_peer = peer
                return msg
            if pipe.closed:
                self.drained(peer)
                raise _AGAIN.with_traceback(None)
            if pipe.sleep():
                raise _AGAIN.with_traceback(None)

    def can_send(self) -> bool:
        peer = self.peer
        if peer is None or peer.dead:
            return False
        return not peer.out.full() or not peer.out.wait_writable()

    def can_recv(self) -> bool:
        peer = self.peer
        if peer is None:
            return False
        pipe = peer.inp
        if pipe.q:
            return True
        if pipe.closed:
            self.drained(peer)  # gone and read to the end: nothing to receive
            return False
        return not pipe.sleep()
