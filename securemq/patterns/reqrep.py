"""DEALER, ROUTER, REQ and REP (RFC 28): envelopes, routing ids and the REQ/REP lockstep."""

from __future__ import annotations

import errno
import os
import struct

from ..constants import EFSM
from ..error import Again, ZMQError
from ..options import Options
from ..pipe import Message, Peer
from .base import LoadBalancer, Pattern

_AGAIN = Again()
_U32 = struct.Struct(">I")


class Dealer(Pattern):
    """Load-balances outgoing and fair-queues incoming messages, untouched."""

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        self.lb = LoadBalancer()
        self.fq = self._fair_queue()

    def attach(self, peer: Peer) -> bool:
        super().attach(peer)
        self.lb.add(peer)
        self.fq.add(peer)
        return True

    def terminated(self, peer: Peer) -> None:
        self.lb.remove(peer)

    def drained(self, peer: Peer) -> None:
        self.lb.remove(peer)
        self.fq.remove(peer)
        super().drained(peer)

    def read_activated(self, peer: Peer) -> None:
        self.fq.add(peer)

    def write_activated(self, peer: Peer) -> None:
        self.lb.add(peer)

    def send(self, msg: Message) -> None:
        self.lb.send(msg)

    def recv(self) -> Message:
        msg, self.last_peer = self.fq.recv()
        return msg

    def can_send(self) -> bool:
        return self.lb.has_room()

    def can_recv(self) -> bool:
        return self.fq.has_message()


class Router(Pattern):
    """Prefixes each received message with its peer's routing id and routes replies by it.

    Peers without an Identity get a 5-octet id that starts with a zero octet (RFC 37
    reserves those for the implementation).
    """

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        self.fq = self._fair_queue()
        self.by_id: dict[bytes, Peer] = {}
        self._next_id = _U32.unpack(os.urandom(4))[0]

    def _new_id(self) -> bytes:
        # Skip ids in use: a peer may announce an identity that looks like ours.
        while True:
            self._next_id = (self._next_id + 1) & 0xFFFFFFFF
            rid = b"\x00" + _U32.pack(self._next_id)
            if rid not in self.by_id:
                return rid

    def attach(self, peer: Peer) -> bool:
        rid = peer.routing_id or peer.metadata.get("identity", b"")
        if rid[:1] == b"\x00" and not peer.routing_id:
            # RFC 37 reserves identities starting with a zero octet for the
            # implementation (our generated ids): a peer may not claim one.
            rid = b""
        if rid:
            old = self.by_id.get(rid)
            if old is not None:
                if not self.options.router_handover:
                    return False
                # Handover: the newcomer takes the name; the old peer becomes anonymous.
                old.routing_id = self._new_id()
                self.by_id[old.routing_id] = old
        else:
            rid = self._new_id()
        peer.routing_id = rid
        self.by_id[rid] = peer
        super().attach(peer)
        self.fq.add(peer)
        return True

    def terminated(self, peer: Peer) -> None:
        if self.by_id.get(peer.routing_id) is peer:
            del self.by_id[peer.routing_id]

    def drained(self, peer: Peer) -> None:
        self.terminated(peer)
        self.fq.remove(peer)
        super().drained(peer)

    def read_activated(self, peer: Peer) -> None:
        self.fq.add(peer)

    def send(self, msg: Message) -> None:
        if not msg:
            return
        peer = self.by_id.get(bytes(msg[0]))
        mandatory = self.options.router_mandatory
        if peer is None or peer.dead:
            if mandatory:
                raise ZMQError(errno.EHOSTUNREACH)
            return  # RFC 28: an unroutable message is silently dropped
        out = peer.out
        if out.full() and out.wait_writable():
            if mandatory:
                raise _AGAIN.with_traceback(None)
            return
        out.write(msg[1:])

    def check_route(self, rid: bytes) -> None:
        """Early check on the first frame of a multipart send (ROUTER_MANDATORY)."""
        if not self.options.router_mandatory:
            return
        peer = self.by_id.get(bytes(rid))
        if peer is None or peer.dead:
            raise ZMQError(errno.EHOSTUNREACH)
        if peer.out.full() and peer.out.wait_writable():
            raise _AGAIN.with_traceback(None)

    def recv(self) -> Message:
        msg, peer = self.fq.recv()
        self.last_peer = peer
        return [peer.routing_id, *msg]

    def can_send(self) -> bool:
        return True

    def can_recv(self) -> bool:
        return self.fq.has_message()


class Req(Dealer):
    """Strict send/receive alternation; each request goes to the next peer in turn.

    Peers are managed as by a DEALER. ``req_relaxed`` lets a new request replace one
    that got no reply; ``req_correlate`` prefixes requests with an id so that a late
    reply to an older request is dropped.
    """

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        self.receiving = False
        self.reply_peer: Peer | None = None
        self.request_id = _U32.unpack(os.urandom(4))[0]

    def terminated(self, peer: Peer) -> None:
        super().terminated(peer)
        if peer is self.reply_peer and self.options.req_relaxed:
            self.reply_peer = None

    def send(self, msg: Message) -> None:
        if self.receiving and not self.options.req_relaxed:
            raise ZMQError(EFSM)
        if self.options.req_correlate:
            self.request_id = (self.request_id + 1) & 0xFFFFFFFF
            envelope: list[bytes] = [_U32.pack(self.request_id), b""]
        else:
            envelope = [b""]
        self.reply_peer = self.lb.send(envelope + msg)
        self.receiving = True

    def recv(self) -> Message:
        if not self.receiving:
            raise ZMQError(EFSM)
        while True:
            msg, peer = self.fq.recv()
            if peer is not self.reply_peer:
                continue  # a reply from a peer we did not ask: drop it
            if self.options.req_correlate:
                if len(msg) < 2 or msg[0] != _U32.pack(self.request_id) or msg[1]:
                    continue
                body = msg[2:]
            else:
                if len(msg) < 2 or msg[0]:
                    continue  # no empty delimiter: not a reply to us
                body = msg[1:]
            self.receiving = False
            self.reply_peer = None
            self.last_peer = peer
            return body

    def can_send(self) -> bool:
        return (not self.receiving or bool(self.options.req_relaxed)) and self.lb.has_room()

    def can_recv(self) -> bool:
        return self.receiving and self.fq.has_message()


class Rep(Pattern):
    """Receives a request, strips and keeps its envelope, and sends the reply back."""

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        self.fq = self._fair_queue()
        self.sending = False
        self.envelope: list[bytes] = []
        self.reply_peer: Peer | None = None

    def attach(self, peer: Peer) -> bool:
        super().attach(peer)
        self.fq.add(peer)
        return True

    def drained(self, peer: Peer) -> None:
        self.fq.remove(peer)
        super().drained(peer)

    def read_activated(self, peer: Peer) -> None:
        self.fq.add(peer)

    def recv(self) -> Message:
        if self.sending:
            raise ZMQError(EFSM)
        while True:
            msg, peer = self.fq.recv()
            i = next((i for i, frame in enumerate(msg) if not frame), -1)
            if i < 0 or i == len(msg) - 1:
                # RFC 28: no empty delimiter, or nothing after it, is not a request.
                continue
            self.envelope = msg[:i + 1]
            self.reply_peer = peer
            self.sending = True
            self.last_peer = peer
            return msg[i + 1:]

    def send(self, msg: Message) -> None:
        if not self.sending:
            raise ZMQError(EFSM)
        peer = self.reply_peer
        self.sending = False
        self.reply_peer = None
        if peer is not None and not peer.dead and not peer.out.full():
            peer.out.write(self.envelope + msg)

    def can_send(self) -> bool:
        return self.sending

    def can_recv(self) -> bool:
        return not self.sending and self.fq.has_message()
