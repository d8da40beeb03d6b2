"""STREAM: raw TCP peers addressed by routing id, as libzmq's ZMQ_STREAM.

Each message received is ``[routing id, bytes]``; an empty body announces a connection
or a disconnection (``stream_notify``). To send, give the routing id and then the
bytes; an empty body closes that connection.
"""

from __future__ import annotations

import errno

from ..error import ZMQError
from ..pipe import Message, Peer
from .reqrep import Router


class Stream(Router):
    """Routes by generated routing ids (or ``connect_routing_id``); no identities."""

    def attach(self, peer: Peer) -> bool:
        if not peer.routing_id:
            peer.routing_id = self._new_id()
        elif peer.routing_id in self.by_id:
            return False
        self.by_id[peer.routing_id] = peer
        self.peers.append(peer)
        self.fq.add(peer)
        return True

    def send(self, msg: Message) -> None:
        if len(msg) < 2:
            raise ZMQError(errno.EINVAL, "STREAM sends a routing id, then the data")
        peer = self.by_id.get(bytes(msg[0]))
        if peer is None or peer.dead:
            # libzmq: a STREAM socket always reports an unknown peer.
            raise ZMQError(errno.EHOSTUNREACH)
        out = peer.out
        if out.full() and out.wait_writable():
            raise ZMQError(errno.EAGAIN)
        out.write(msg[1:])

    def check_route(self, rid: bytes) -> None:
        peer = self.by_id.get(bytes(rid))
        if peer is None or peer.dead:
            raise ZMQError(errno.EHOSTUNREACH)
