"""Read-ahead: PULL and SUB take a batch from a lone peer's pipe (FairQueue.read_ahead).

The batch must not change what the application receives: fairness between peers,
libzmq's matching at receive time (a subscription change applies to what is already
queued), readiness for poll, and a blocked writer's wake-up.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import securemq as zmq
from securemq.constants import SocketOption, SocketType
from securemq.error import Again
from securemq.options import Options
from securemq.patterns.base import AHEAD
from securemq.patterns.pipeline import Pull
from securemq.patterns.pubsub import Sub
from securemq.pipe import ConflatePipe, Peer, Pipe

pytestmark = pytest.mark.timeout(30)


def _peer(*messages: bytes, hwm: int = 0) -> Peer:
    peer = Peer(Pipe(0), Pipe(hwm))
    peer.inp.q.extend([m] for m in messages)
    return peer


def _sub(*topics: bytes) -> Sub:
    sub = Sub(Options(SocketType.SUB))
    for topic in topics:
        sub.subscribe(topic)
    return sub


def _inproc(ctx: zmq.Context, binder: int, connecter: int,
            name: str) -> tuple[zmq.Socket, zmq.Socket]:
    """Two sockets (linger 0) joined over ``inproc://read-ahead-<name>``, binder first."""
    a, b = ctx.socket(binder), ctx.socket(connecter)
    a.linger = b.linger = 0
    a.bind(f"inproc://read-ahead-{name}")
    b.connect(f"inproc://read-ahead-{name}")
    return a, b


def _drain(pattern: Pull | Sub) -> list[bytes]:
    got = []
    while True:
        try:
            got.append(pattern.recv()[0])
        except Again:
            return got


def test_pull_takes_a_batch_from_a_lone_peer() -> None:
    messages = [b"m%d" % i for i in range(AHEAD + 10)]
    pull = Pull(Options(SocketType.PULL))
    peer = _peer(*messages)
    pull.attach(peer)
    assert pull.recv() == [b"m0"]
    assert len(pull.ahead) == AHEAD and len(peer.inp.q) == 9
    assert pull.last_peer is peer
    assert pull.can_recv()
    assert [b"m0", *_drain(pull)] == messages


def test_pull_keeps_turns_between_two_peers() -> None:
    pull = Pull(Options(SocketType.PULL))
    pull.attach(_peer(b"a1", b"a2", b"a3"))
    pull.attach(_peer(b"b1", b"b2", b"b3"))
    assert [pull.recv()[0] for _ in range(4)] == [b"a1", b"b1", b"a2", b"b2"]
    assert not pull.ahead


def test_read_ahead_wakes_a_blocked_writer() -> None:
    pull = Pull(Options(SocketType.PULL))
    # HWM 32: batches of 2, and the writer is woken at 16 left.
    peer = _peer(*(b"%d" % i for i in range(19)), hwm=32)
    woken = []
    peer.inp.on_writable = lambda: woken.append(True)
    peer.inp.writer_waiting = True
    pull.attach(peer)
    pull.recv()
    assert woken == [True] and len(peer.inp.q) == 16 and len(pull.ahead) == 2


def test_no_read_ahead_below_hwm_16() -> None:
    pull = Pull(Options(SocketType.PULL))
    pull.attach(_peer(b"1", b"2", b"3", hwm=15))
    pull.recv()
    assert not pull.ahead


def test_sub_batch_stops_at_the_first_message_it_would_drop() -> None:
    sub = _sub(b"a")
    peer = _peer(b"a1", b"a2", b"b1", b"a3")
    sub.attach(peer)
    assert sub.recv() == [b"a1"]
    assert list(sub.ahead) == [[b"a2"]]
    # b1 is still queued, so a subscription made now lets it through, as in libzmq.
    sub.subscribe(b"b")
    assert _drain(sub) == [b"a2", b"b1", b"a3"]


def test_sub_unsubscribe_applies_to_messages_taken_ahead() -> None:
    sub = _sub(b"a", b"b")
    sub.attach(_peer(b"a1", b"a2", b"b1", b"a3"))
    assert sub.recv() == [b"a1"]
    assert len(sub.ahead) == 3
    sub.unsubscribe(b"a")
    assert not sub.ahead  # back in the pipe, to be matched when received
    assert _drain(sub) == [b"b1"]


def test_sub_unsubscribe_then_subscribe_again_loses_nothing_taken_ahead() -> None:
    sub = _sub(b"a")
    sub.attach(_peer(b"a1", b"a2", b"a3"))
    assert sub.recv() == [b"a1"]
    sub.unsubscribe(b"a")
    sub.subscribe(b"a")  # before the next recv: libzmq still delivers a2 and a3
    assert _drain(sub) == [b"a2", b"a3"]


def test_pull_disconnect_drops_what_was_queued(ctx: zmq.Context) -> None:
    """libzmq discards a disconnected pipe's input, batch taken ahead included."""
    push, pull = _inproc(ctx, zmq.PUSH, zmq.PULL, "disconnect")
    for n in range(200):
        push.send(b"%d" % n)  # inproc: queued in the PULL's pipe before send returns
    assert pull.recv() == b"0"
    assert pull._pattern.ahead  # type: ignore[attr-defined]  # and more in the pipe
    pull.disconnect("inproc://read-ahead-disconnect")
    with pytest.raises(zmq.Again):
        pull.recv(zmq.NOBLOCK)


def test_sub_drops_the_batch_of_a_peer_it_disconnects() -> None:
    sub = _sub(b"a")
    peer = _peer(b"a1", b"a2", b"a3")
    sub.attach(peer)
    assert sub.recv() == [b"a1"]
    sub.drained(peer)  # what Socket.disconnect does: the peer's queued input goes
    assert not sub.ahead
    sub.unsubscribe(b"a")  # nothing to put back, and the peer stays gone
    assert not sub.fq.active and _drain(sub) == []


def test_sub_inverted_subscribe_applies_to_messages_taken_ahead() -> None:
    sub = _sub(b"a")
    sub.options.set(SocketOption.INVERT_MATCHING, 1)
    sub.attach(_peer(b"x1", b"x2", b"y1", b"x3"))
    assert sub.recv() == [b"x1"]
    sub.subscribe(b"x")  # inverted: x is no longer wanted
    assert _drain(sub) == [b"y1"]


@pytest.mark.parametrize("kind", [SocketType.PULL, SocketType.SUB])
def test_conflating_pipes_give_nothing_ahead(kind: SocketType) -> None:
    pattern = Pull(Options(kind)) if kind == SocketType.PULL else _sub(b"")
    peer = Peer(Pipe(0), ConflatePipe(0))
    peer.inp.write([b"old"])
    pattern.attach(peer)
    assert pattern.recv() == [b"old"]
    for n in range(2 * AHEAD):
        peer.inp.write([b"%d" % n])
    assert pattern.recv() == [b"%d" % (2 * AHEAD - 1)]
    assert not pattern.ahead
    peer.inp.write([b"newest"])
    assert pattern.recv() == [b"newest"]


def test_setting_invert_matching_applies_to_messages_taken_ahead(ctx: zmq.Context) -> None:
    sub, pub = _inproc(ctx, zmq.SUB, zmq.PUB, "invert")
    sub.subscribe(b"a")
    while not sub.poll(10):
        pub.send(b"a-sync")  # until the PUB knows of the subscription
    while sub.poll(0):
        sub.recv()
    for n in range(3):
        pub.send(b"a%d" % n)  # inproc: queued in the SUB's pipe before send returns
    assert sub.recv() == b"a0"
    sub.invert_matching = 1
    with pytest.raises(zmq.Again):
        sub.recv(zmq.NOBLOCK)


def test_messages_taken_ahead_are_readable_for_poll(ctx: zmq.Context) -> None:
    pull, push = _inproc(ctx, zmq.PULL, zmq.PUSH, "poll")
    for n in range(3):
        push.send(b"%d" % n)
    assert pull.recv() == b"0"
    assert pull.poll(0) == zmq.POLLIN
    assert pull.getsockopt(zmq.EVENTS) & zmq.POLLIN
    assert pull.recv_multipart() == [b"1"]
    assert pull.recv(copy=False).bytes == b"2"
    assert pull.poll(0) == 0


# One step of the property below: write a message, receive, (un)subscribe, invert.
_TOPICS = st.sampled_from([b"", b"a", b"ab", b"b"])
_STEPS = st.lists(st.one_of(
    st.tuples(st.just("write"), st.sampled_from([b"a1", b"ab2", b"b3", b"c4", b"abc5"])),
    st.tuples(st.just("recv"), st.none()),
    st.tuples(st.just("subscribe"), _TOPICS),
    st.tuples(st.just("unsubscribe"), _TOPICS),
    st.tuples(st.just("invert"), st.booleans()),
), max_size=120)


@settings(max_examples=300, deadline=None)
@given(steps=_STEPS, burst=st.integers(0, 2 * AHEAD))
def test_sub_receives_as_if_it_matched_at_recv(
        steps: list[tuple[str, Any]], burst: int) -> None:
    """Whatever was taken ahead, a SUB delivers exactly what matching each message
    against the subscriptions of the moment it is received would (libzmq's rule)."""
    sub = Sub(Options(SocketType.SUB))
    peer = _peer(*(b"a%d" % i for i in range(burst)))  # enough to fill a batch
    sub.attach(peer)
    peer.inp.on_readable = lambda: sub.read_activated(peer)  # the socket's mailbox, direct
    queued = [b"a%d" % i for i in range(burst)]  # the model: the pipe as libzmq sees it
    subs: list[bytes] = []
    inverted = False
    for op, arg in steps:
        if op == "write":
            peer.inp.write([arg])
            queued.append(arg)
        elif op == "recv":
            expected = None
            while queued:
                msg = queued.pop(0)
                if any(msg.startswith(t) for t in subs) is not inverted:
                    expected = msg
                    break
            try:
                got = sub.recv()[0]
            except Again:
                got = None
            assert got == expected
        elif op == "subscribe":
            sub.subscribe(arg)
            subs.append(arg)
        elif op == "unsubscribe":
            sub.unsubscribe(arg)
            if arg in subs:
                subs.remove(arg)
        else:
            inverted = arg
            sub.options.set(SocketOption.INVERT_MATCHING, int(arg))
            sub.matching_changed()  # what Socket.setsockopt does


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st.one_of(st.integers(0, 2), st.none()), max_size=300),
       hwm=st.sampled_from([0, 8, 16, 100, 2000]))
def test_pull_delivers_each_peer_in_order_and_loses_nothing(
        steps: list[int | None], hwm: int) -> None:
    """Writes to three peers (an int: which one) and receives (None), in any order:
    every message arrives once, each peer's in the order written, and a batch never
    holds more than a sixteenth of the HWM."""
    pull = Pull(Options(SocketType.PULL))
    peers = [_peer(hwm=hwm) for _ in range(3)]
    for peer in peers:
        pull.attach(peer)
        peer.inp.on_readable = lambda p=peer: pull.read_activated(p)
    written: list[bytes] = []
    got: list[bytes] = []
    for step in [*steps, *[None] * len(steps)]:  # then receive everything left
        if step is not None:
            msg = b"%d-%d" % (step, len(written))
            peers[step].inp.write([msg])
            written.append(msg)
            continue
        try:
            got.append(pull.recv()[0])
        except Again:
            pass
        if hwm:
            assert len(pull.ahead) <= hwm // 16
    assert sorted(got) == sorted(written)
    for n in range(3):
        mine = [m for m in got if m.startswith(b"%d-" % n)]
        assert mine == [m for m in written if m.startswith(b"%d-" % n)]
