"""PUB, SUB, XPUB and XSUB (RFC 29): filtering at the publisher, subscriptions upstream.

Subscriptions travel as :class:`~securemq.pipe.Subscription` items in the pipes (the
engine maps them to ZMTP SUBSCRIBE/CANCEL commands). A publisher keeps a
:class:`SubscriptionIndex` and writes each message only to the peers with a matching
prefix, dropping it for a peer whose queue is full: a publisher never blocks.
"""

from __future__ import annotations

import errno
from collections import deque
from collections.abc import Iterable
from typing import Any

from ..error import Again, ZMQError
from ..options import Options
from ..pipe import Message, Peer, Subscription
from .base import Pattern, ahead_room

_AGAIN = Again()

#: Up to this many topics, matching tries each as a prefix in C (bytes.startswith);
#: beyond, it looks up the message's prefix of each distinct topic length.
FEW_TOPICS = 16


class SubscriptionIndex:
    """Prefix subscriptions, by subscriber.

    With ``counted`` (a SUB's own subscriptions) subscribing twice needs unsubscribing
    twice; without (a publisher's view of its peers, as libzmq's) a peer either holds a
    topic or not.

    Topics are kept whole in a dict, together with the set of distinct topic lengths;
    matching a message looks up its prefix of each such length. That is a handful of
    dict lookups per message however many topics there are, and memory proportional to
    what was subscribed (a 1 MiB topic is one entry, not a million trie nodes).
    """

    __slots__ = ("_lengths", "_sorted", "counted", "prefixes", "subs")

    def __init__(self, counted: bool = False) -> None:
        self.counted = counted
        self.subs: dict[bytes, dict[Any, int]] = {}
        self._lengths: dict[int, int] = {}
        self._sorted: list[int] = []
        #: Every topic, while there are at most FEW_TOPICS: then ``bytes.startswith``
        #: with this tuple answers :meth:`matches` in one C call, the usual SUB's case.
        self.prefixes: tuple[bytes, ...] | None = ()

    def add(self, topic: bytes, who: Any) -> bool:
        """Count one subscription of ``who`` to ``topic``; True if the topic is new."""
        holders = self.subs.get(topic)
        new = holders is None
        if holders is None:
            holders = self.subs[topic] = {}
            n = len(topic)
            self._lengths[n] = self._lengths.get(n, 0) + 1
            if self._lengths[n] == 1:
                self._sorted = sorted(self._lengths)
            self._topics_changed()
        holders[who] = holders.get(who, 0) + 1 if self.counted else 1
        return new

    def remove(self, topic: bytes, who: Any) -> bool:
        """Drop one subscription; True if nobody subscribes to ``topic`` any more."""
        holders = self.subs.get(topic)
        if holders is None or who not in holders:
            return False
        holders[who] -= 1
        if holders[who] == 0:
            del holders[who]
        if holders:
            return False
        self._forget(topic)
        return True

    def remove_all(self, who: Any) -> list[bytes]:
        """Drop every subscription of ``who``; return the topics nobody holds any more."""
        gone = []
        for topic in [t for t, h in self.subs.items() if who in h]:
            holders = self.subs[topic]
            del holders[who]
            if not holders:
                self._forget(topic)
                gone.append(topic)
        return gone

    def _forget(self, topic: bytes) -> None:
        del self.subs[topic]
        n = len(topic)
        self._lengths[n] -= 1
        if not self._lengths[n]:
            del self._lengths[n]
            self._sorted = sorted(self._lengths)
        self._topics_changed()

    def _topics_changed(self) -> None:
        self.prefixes = tuple(self.subs) if len(self.subs) <= FEW_TOPICS else None

    def match(self, data: bytes) -> Iterable[Any]:
        """Everyone holding a topic that is a prefix of ``data``."""
        subs = self.subs
        if len(self._sorted) == 1 and not self._sorted[0]:
            holders = subs.get(b"")
            return holders.keys() if holders else ()
        first: dict[Any, int] | None = None
        found: dict[Any, None] | None = None
        size = len(data)
        for n in self._sorted:
            if n > size:
                break
            holders = subs.get(data[:n])
            if holders:
                # Usually one topic matches: hand out its holders without a merged copy.
                if first is None:
                    first = holders
                else:
                    if found is None:
                        found = dict.fromkeys(first)
                    found.update(dict.fromkeys(holders))
        if found is not None:
            return found.keys()
        return first.keys() if first is not None else ()

    def matches(self, data: bytes) -> bool:
        """Whether any topic is a prefix of ``data``."""
        subs = self.subs
        size = len(data)
        for n in self._sorted:
            if n > size:
                return False
            if data[:n] in subs:
                return True
        return False

    def __len__(self) -> int:
        return len(self.subs)


class Pub(Pattern):
    """Sends each message to every subscriber whose subscription prefixes it.

    ``invert_matching`` sends to the subscribers with no matching subscription instead;
    ``xpub_nodrop`` makes a full subscriber fail the send with EAGAIN rather than lose
    the message; ``xpub_welcome_msg`` is queued to each new subscriber first.
    """

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        self.index = SubscriptionIndex()

    def attach(self, peer: Peer) -> bool:
        super().attach(peer)
        welcome = self.options.xpub_welcome_msg
        if welcome:
            peer.out.write([welcome])
        self._read_subscriptions(peer)
        return True

    def terminated(self, peer: Peer) -> None:
        self._unsubscribed(peer, self.index.remove_all(peer))
        self.drained(peer)

    def read_activated(self, peer: Peer) -> None:
        self._read_subscriptions(peer)

    def _read_subscriptions(self, peer: Peer) -> None:
        """Apply everything the peer sent us, then re-arm its pipe's wake-up."""
        pipe = peer.inp
        q = pipe.q
        while True:
            while q:
                item = q.popleft()
                if type(item) is Subscription:
                    self._apply(peer, item.subscribe, item.topic)
                else:
                    self._message_from_peer(peer, item)
            if pipe.writer_waiting:
                pipe.read_done()
            if pipe.closed or pipe.sleep():
                return

    def _message_from_peer(self, peer: Peer, msg: Message) -> None:
        # RFC 29 / ZMTP 3.0: a subscription is a message whose first octet is 1 or 0.
        if len(msg) == 1 and msg[0][:1] in (b"\x01", b"\x00"):
            self._apply(peer, msg[0][0] == 1, bytes(msg[0][1:]))

    def _apply(self, peer: Peer, subscribe: bool, topic: bytes) -> None:
        if subscribe:
            first = self.index.add(topic, peer)
            self._subscribed(peer, topic, first)
        else:
            last = self.index.remove(topic, peer)
            self._unsubscribed(peer, [topic] if last else [], topic)

    def _subscribed(self, peer: Peer, topic: bytes, first: bool) -> None:
        """Hook for XPUB: a subscription arrived (``first`` for a new topic)."""

    def _unsubscribed(self, peer: Peer, gone: list[bytes], topic: bytes | None = None) -> None:
        """Hook for XPUB: topics nobody holds any more."""

    #: XPUB's manual modes: the subscriber whose request the application read last.
    last_subscriber: Peer | None = None

    def send(self, msg: Message) -> None:
        options = self.options
        if not options.invert_matching and not options.xpub_nodrop and \
                not options.xpub_manual_last_value:
            # The hot path, with the pipe's full() and write() inlined: a publisher
            # pays this once per subscriber per message.
            for peer in self.index.match(msg[0]):
                out = peer.out
                q = out.q
                hwm = out.hwm
                if (not hwm or len(q) < hwm) and not peer.dead:
                    q.append(msg)  # a full subscriber loses this message (RFC 29)
                    if out.reader_asleep:
                        out.wake_reader()
            return
        peers: Iterable[Peer] = self.index.match(msg[0])
        if options.invert_matching:
            matched = set(peers)
            peers = [p for p in self.peers if p not in matched]
        last = self.last_subscriber if options.xpub_manual_last_value else None
        if last is not None:
            # Last-value caching: the first message after a subscription request goes
            # only to the subscriber that asked (if it matches); the others have it.
            peers = [p for p in peers if p is last]
        if options.xpub_nodrop:
            # All or nothing: if one subscriber is full, nobody gets it yet (libzmq's
            # check_hwm), and the socket waits until that subscriber drains.
            peers = list(peers)
            for peer in peers:
                if not peer.dead and peer.out.full() and peer.out.wait_writable():
                    raise _AGAIN.with_traceback(None)
        for peer in peers:
            if not peer.dead and not peer.out.full():
                peer.out.write(msg)  # a full subscriber loses this message (RFC 29)
        if last is not None:
            self.last_subscriber = None  # its turn is used (kept above on EAGAIN)

    def can_send(self) -> bool:
        return True


class XPub(Pub):
    """A PUB that also hands subscriptions to the application as messages.

    ``b"\\x01topic"`` for a new topic and ``b"\\x00topic"`` for one nobody holds any
    more; with ``xpub_verbose`` every subscribe is passed up, with ``xpub_verboser``
    every unsubscribe too. Other messages from subscribers are passed up as they are.
    """

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        # Messages for the application, each with the subscriber it came from.
        self.pending: deque[tuple[Message, Peer | None]] = deque()
        #: xpub_manual: what subscribers asked for (the application decides what to
        #: put in ``index``); and the subscriber of the last message received.
        self.requested = SubscriptionIndex()

    def _apply(self, peer: Peer, subscribe: bool, topic: bytes) -> None:
        if not self.options.xpub_manual:
            super()._apply(peer, subscribe, topic)
            return
        # Manual mode: every request goes up as it came; the application answers with
        # SUBSCRIBE/UNSUBSCRIBE, which apply to the subscriber it came from.
        if subscribe:
            self.requested.add(topic, peer)
        else:
            self.requested.remove(topic, peer)
        self.pending.append(([(b"\x01" if subscribe else b"\x00") + topic], peer))

    def terminated(self, peer: Peer) -> None:
        if self.options.xpub_manual:
            self.index.remove_all(peer)
            self._unsubscribed(peer, self.requested.remove_all(peer))
            self.drained(peer)
            if self.last_subscriber is peer:
                self.last_subscriber = None
            return
        super().terminated(peer)

    def manual(self, subscribe: bool, topic: bytes) -> None:
        """SUBSCRIBE/UNSUBSCRIBE on a manual XPUB: act for the last subscriber heard."""
        peer = self.last_subscriber
        if peer is None or peer.dead:
            return
        if subscribe:
            self.index.add(topic, peer)
        else:
            self.index.remove(topic, peer)

    def _subscribed(self, peer: Peer, topic: bytes, first: bool) -> None:
        if first or self.options.xpub_verbose or self.options.xpub_verboser:
            self.pending.append(([b"\x01" + topic], peer))

    def _unsubscribed(self, peer: Peer, gone: list[bytes], topic: bytes | None = None) -> None:
        if topic is not None and not gone and self.options.xpub_verboser:
            self.pending.append(([b"\x00" + topic], peer))
            return
        for t in gone:
            self.pending.append(([b"\x00" + t], peer))

    def _message_from_peer(self, peer: Peer, msg: Message) -> None:
        if len(msg) == 1 and msg[0][:1] in (b"\x01", b"\x00"):
            super()._message_from_peer(peer, msg)
        else:
            self.pending.append((msg, None))

    def recv(self) -> Message:
        if not self.pending:
            raise _AGAIN.with_traceback(None)
        msg, peer = self.pending.popleft()
        if peer is not None:
            self.last_subscriber = peer
        return msg

    def can_recv(self) -> bool:
        return bool(self.pending)


class Sub(Pattern):
    """Receives from all publishers, keeping only messages that match a subscription.

    Subscriptions are counted: the unsubscribe that removes a topic's last count is the
    one that travels upstream. Every new publisher gets the current set.
    """

    replies = False

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        self.fq = self._fair_queue()
        self.index = SubscriptionIndex(counted=True)
        self.filter = True

    def attach(self, peer: Peer) -> bool:
        super().attach(peer)
        self.fq.add(peer)
        self._send_all(peer)
        return True

    def ready(self, peer: Peer) -> None:
        # Reconnected: the publisher on the new connection knows nothing of us yet.
        if peer.generation > 1:
            self._send_all(peer)

    def _send_all(self, peer: Peer) -> None:
        for topic in self.index.subs:
            peer.out.has_commands = True
            peer.out.write(Subscription(True, topic))

    def drained(self, peer: Peer) -> None:
        self.fq.remove(peer)
        super().drained(peer)

    def read_activated(self, peer: Peer) -> None:
        self.fq.add(peer)

    def subscribe(self, topic: bytes) -> None:
        """Add a subscription (the ``SUBSCRIBE`` option).

        Every subscribe goes upstream, as in libzmq (publishers hold a topic per peer
        once, so repeats are harmless, and a verbose XPUB upstream sees each one).
        """
        self.index.add(topic, None)
        self.matching_changed()  # with invert_matching, a new topic drops messages
        self._upstream(Subscription(True, topic))

    def unsubscribe(self, topic: bytes) -> None:
        """Remove a subscription (the ``UNSUBSCRIBE`` option)."""
        if self.index.remove(topic, None):
            self.matching_changed()
            self._upstream(Subscription(False, topic))

    def matching_changed(self) -> None:
        # libzmq matches a message when the application receives it: put what was
        # taken ahead back in front of its pipe, to be matched then. It all came from
        # last_peer, which stays readable while its batch lasts (nothing calls the
        # fair queue meanwhile).
        ahead = self.ahead
        if ahead:
            peer = self.last_peer
            assert peer is not None
            peer.inp.q.extendleft(reversed(ahead))  # the writer appends on the right
            ahead.clear()  # the socket holds this deque: change it in place
            self.fq.add(peer)

    def _upstream(self, item: Any) -> None:
        for peer in self.peers:
            if not peer.dead:
                if type(item) is Subscription:
                    peer.out.has_commands = True
                peer.out.write(item)  # subscriptions are never dropped for HWM

    def recv(self) -> Message:
        fq = self.fq
        if not self.filter:
            msg, self.last_peer = fq.recv()
            return msg
        ahead = self.ahead
        if ahead:
            return ahead.popleft()
        index = self.index
        keep = not self.options.invert_matching
        while True:
            msg, peer = fq.recv()
            first = msg[0]
            prefixes = index.prefixes
            if prefixes is not None and type(first) is bytes:
                hit = first.startswith(prefixes)
            else:
                hit = index.matches(first)
            if hit is keep:
                self.last_peer = peer
                self._read_ahead(keep)
                return msg

    def _read_ahead(self, keep: bool) -> None:
        """FairQueue.read_ahead, but only a run of messages that pass the filter.

        The first that does not is put back: were a subscription added before the
        application gets to it, it would be delivered (libzmq matches at receive).
        """
        active = self.fq.active
        if len(active) != 1:
            return
        pipe = active[0].inp
        n = ahead_room(pipe)
        if not n:
            return
        q = pipe.q
        append = self.ahead.append
        popleft = q.popleft
        prefixes = self.index.prefixes
        matches = self.index.matches
        for _ in range(n):
            msg = popleft()
            first = msg[0]
            if prefixes is not None and type(first) is bytes:
                hit = first.startswith(prefixes)
            else:
                hit = matches(first)
            if hit is not keep:
                # Only this thread takes from the left; the writer appends on the right.
                q.appendleft(msg)
                break
            append(msg)
        if pipe.writer_waiting:
            pipe.read_done()

    def can_recv(self) -> bool:
        return bool(self.ahead) or self.fq.has_message()


class XSub(Sub):
    """A SUB whose subscriptions are messages the application sends.

    ``b"\\x01topic"`` subscribes, ``b"\\x00topic"`` unsubscribes; any other message is
    sent to every publisher as it is. Incoming messages are not filtered again.
    """

    replies = True  # a proxy's XSUB forwards requests upstream

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        self.filter = False

    def send(self, msg: Message) -> None:
        first = msg[0]
        if len(msg) == 1 and first[:1] == b"\x01":
            self.subscribe(bytes(first[1:]))
        elif len(msg) == 1 and first[:1] == b"\x00":
            self.unsubscribe(bytes(first[1:]))
        else:
            self._upstream(msg)

    def can_send(self) -> bool:
        return True


def not_subscribable() -> ZMQError:
    """The error for SUBSCRIBE/UNSUBSCRIBE on a socket that is not a SUB."""
    return ZMQError(errno.EINVAL, "only SUB sockets take SUBSCRIBE and UNSUBSCRIBE")
