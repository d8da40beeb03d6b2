"""Reads by a waiting application thread (``Engine.borrow``) and their lingering.

A blocking ``recv`` reads its connections itself, and keeps them for BORROW_LINGER after
it returns so that a receive loop does not re-register them each time. These tests pin
what must not change while a borrow lingers: the I/O thread takes the stream back on its
own, input still reaches the socket and a vanished peer is still noticed while the
application receives nothing, and a poller gets the stream back at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from relay import wait_until

import securemq as zmq
from securemq.iothread.engine import Engine
from securemq.utils.monitor import recv_monitor_message

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def pair(ctx: zmq.Context) -> Iterator[tuple[Any, Any]]:
    """A PULL that has waited for input through a borrow (now lingering), and its PUSH."""
    pull = ctx.socket(zmq.PULL)
    pull.linger = 0
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    push = ctx.socket(zmq.PUSH)
    push.linger = 0
    push.connect(f"tcp://127.0.0.1:{port}")
    push.send(b"hello")
    pull.rcvtimeo = 5000
    assert pull.recv() == b"hello"
    # Nothing more comes: this receive waits on the connection itself, then times out.
    pull.rcvtimeo = 50
    with pytest.raises(zmq.Again):
        pull.recv()
    assert pull._lent == [engine_of(pull)]
    yield pull, push
    push.close()
    pull.close()


def engine_of(sock: Any) -> Engine:
    (peer,) = sock._pattern.peers
    engine = peer.session.engine
    assert isinstance(engine, Engine)
    return engine


def test_the_io_thread_takes_an_idle_borrow_back(pair: tuple[Any, Any]) -> None:
    pull, _ = pair
    engine = engine_of(pull)
    wait_until(lambda: not engine.borrowed and not engine._watching, timeout=5)


def test_input_still_reaches_the_socket_while_nobody_receives(pair: tuple[Any, Any]) -> None:
    pull, push = pair
    for i in range(3):
        push.send(b"m%d" % i)
    (peer,) = pull._pattern.peers
    # Not pull.poll(): that would give the borrow back itself.
    wait_until(lambda: len(peer.inp.q) == 3, timeout=5)
    pull.rcvtimeo = 0
    assert [pull.recv() for _ in range(3)] == [b"m0", b"m1", b"m2"]


def test_a_lost_peer_is_noticed_without_a_receive(pair: tuple[Any, Any]) -> None:
    pull, push = pair
    mon = pull.get_monitor_socket(zmq.EVENT_DISCONNECTED)
    mon.rcvtimeo = 5000
    push.close()
    assert recv_monitor_message(mon)["event"] == zmq.EVENT_DISCONNECTED
    pull.disable_monitor()
    mon.close()


def test_a_poller_gives_the_borrow_back_at_once(pair: tuple[Any, Any]) -> None:
    pull, push = pair
    engine = engine_of(pull)
    poller = zmq.Poller()
    poller.register(pull, zmq.POLLIN)
    assert poller.poll(0) == []
    assert pull._lent == []
    assert not engine.borrowed
    push.send(b"after")
    assert poller.poll(5000) == [(pull, zmq.POLLIN)]
    assert pull.recv() == b"after"


def test_a_receive_loop_keeps_its_borrow(pair: tuple[Any, Any],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Waits in a row reuse one borrow while it lingers (without it, each wait changed
    the I/O thread's interest twice), and lose nothing."""
    pull, push = pair
    reactor = engine_of(pull).reactor
    me = threading.get_ident()
    changes = []
    modify = reactor.modify

    def counting_modify(fd: int, mask: int) -> None:
        if threading.get_ident() == me:
            changes.append(mask)
        modify(fd, mask)

    monkeypatch.setattr(reactor, "modify", counting_modify)
    pull.rcvtimeo = 5000
    for i in range(300):
        push.send(b"%d" % i)
        assert pull.recv() == b"%d" % i
    # A fresh borrow (one change) only after a pause of BORROW_LINGER between two.
    assert len(changes) < 100
