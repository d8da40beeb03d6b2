"""PUSH and PULL (RFC 30): load-balanced sending, fair-queued receiving."""

from __future__ import annotations

from ..options import Options
from ..pipe import Message, Peer
from .base import LoadBalancer, Pattern


class Push(Pattern):
    """Sends each message to the next connected PULL peer with room; never receives."""

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        self.lb = LoadBalancer()

    def attach(self, peer: Peer) -> bool:
        super().attach(peer)
        self.lb.add(peer)
        return True

    def terminated(self, peer: Peer) -> None:
        self.lb.remove(peer)

    def drained(self, peer: Peer) -> None:
        self.lb.remove(peer)
        super().drained(peer)

    def write_activated(self, peer: Peer) -> None:
        self.lb.add(peer)

    def send(self, msg: Message) -> None:
        self.lb.send(msg)

    def can_send(self) -> bool:
        return self.lb.has_room()


class Pull(Pattern):
    """Receives from all connected PUSH peers in turn; never sends."""

    replies = False

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        self.fq = self._fair_queue()

    def attach(self, peer: Peer) -> bool:
        super().attach(peer)
        self.fq.add(peer)
        return True

    def read_activated(self, peer: Peer) -> None:
        self.fq.add(peer)

    def drained(self, peer: Peer) -> None:
        self.fq.remove(peer)
        super().drained(peer)

    def recv(self) -> Message:
        ahead = self.ahead
        if ahead:
            return ahead.popleft()
        fq = self.fq
        msg, self.last_peer = fq.recv()
        fq.read_ahead(ahead)
        return msg

    def can_recv(self) -> bool:
        return bool(self.ahead) or self.fq.has_message()
