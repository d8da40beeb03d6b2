"""Context lifetime: term/destroy semantics, linger (row 53), and leaks under socket churn."""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

import securemq as zmq

TIMEOUT_MS = 3000
_names = itertools.count()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def dead_endpoint() -> Iterator[str]:
    """A tcp endpoint that refuses connections (bound, never listening)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    yield f"tcp://127.0.0.1:{s.getsockname()[1]}"
    s.close()


def _term_in_thread(ctx: zmq.Context) -> threading.Thread:
    t = threading.Thread(target=ctx.term, daemon=True)
    t.start()
    return t


def _wait_terminating(ctx: zmq.Context) -> None:
    """Return once ``ctx`` refuses new sockets, i.e. term() has begun."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        try:
            ctx.socket(zmq.PAIR).close()
        except zmq.ZMQError:
            return
        time.sleep(0.001)  # term() runs in another thread; bounded by the deadline
    pytest.fail("term() never started")


@pytest.mark.parametrize("transport", ["inproc", "tcp"])
def test_term_wakes_blocked_recv(transport: str) -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PULL)
    sock.linger = 0
    if transport == "tcp":
        sock.bind("tcp://127.0.0.1:*")
    else:
        sock.bind(f"inproc://ctx-{next(_names)}")
    outcome: list[BaseException] = []
    blocked = threading.Event()

    def worker() -> None:
        blocked.set()
        try:
            sock.recv()  # no timeout: only term() can end this
        except zmq.ContextTerminated as exc:
            outcome.append(exc)
            try:
                sock.recv(zmq.DONTWAIT)
            except zmq.ContextTerminated as again:
                outcome.append(again)
        finally:
            sock.close()

    t = threading.Thread(target=worker, daemon=True)
    t.start()
    blocked.wait(TIMEOUT_MS / 1000)
    term = _term_in_thread(ctx)
    term.join(TIMEOUT_MS / 1000)
    t.join(TIMEOUT_MS / 1000)
    assert not term.is_alive(), "term() did not return"
    assert not t.is_alive(), "the blocked recv was not woken"
    assert len(outcome) == 2 and all(e.errno == zmq.ETERM for e in outcome)
    assert ctx.closed and sock.closed


def test_term_wakes_blocked_poll_and_send() -> None:
    ctx = zmq.Context()
    push = ctx.socket(zmq.PUSH)  # no peer: send blocks
    pull = ctx.socket(zmq.PULL)
    pull.bind(f"inproc://ctx-{next(_names)}")
    errors: list[int] = []

    def blocked(call: object, sock: zmq.Socket) -> None:
        try:
            call()  # type: ignore[operator]
        except zmq.ZMQError as exc:
            errors.append(exc.errno)
        finally:
            sock.close(linger=0)

    threads = [
        threading.Thread(target=blocked, args=(lambda: push.send(b"x"), push), daemon=True),
        threading.Thread(target=blocked, args=(lambda: pull.poll(), pull), daemon=True),
    ]
    for t in threads:
        t.start()
    term = _term_in_thread(ctx)
    for t in [*threads, term]:
        t.join(TIMEOUT_MS / 1000)
        assert not t.is_alive()
    assert errors == [zmq.ETERM, zmq.ETERM]


def test_recv_started_after_term_began_raises_eterm() -> None:
    """A socket not yet blocked when term() starts must see ETERM at once, not hang."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PULL)
    sock.bind(f"inproc://ctx-{next(_names)}")
    sock.rcvtimeo = 1000  # bounds the hang this test is about
    term = _term_in_thread(ctx)
    _wait_terminating(ctx)
    t0 = time.monotonic()
    try:
        with pytest.raises(zmq.ContextTerminated):
            sock.recv()
        assert time.monotonic() - t0 < 0.5, "recv waited for rcvtimeo instead of waking"
    finally:
        sock.close(linger=0)
        term.join(TIMEOUT_MS / 1000)
    assert not term.is_alive()


def test_destroy_linger0_is_prompt_with_undeliverable_messages(dead_endpoint: str) -> None:
    ctx = zmq.Context()
    push = ctx.socket(zmq.PUSH)
    push.connect(dead_endpoint)
    for i in range(100):
        push.send(b"%d" % i, zmq.DONTWAIT)
    inproc = ctx.socket(zmq.PUSH)
    inproc.connect(f"inproc://nobody-{next(_names)}")
    inproc.send(b"never", zmq.DONTWAIT)
    t0 = time.monotonic()
    ctx.destroy(linger=0)
    assert time.monotonic() - t0 < 1
    assert push.closed and inproc.closed and ctx.closed


def test_term_waits_for_linger_with_absent_peer(dead_endpoint: str) -> None:
    """Row 53: with LINGER L and no peer, term() returns after about L."""
    ctx = zmq.Context()
    push = ctx.socket(zmq.PUSH)
    push.linger = 300
    push.connect(dead_endpoint)
    push.send(b"stuck")
    push.close()
    t0 = time.monotonic()
    ctx.term()
    elapsed = time.monotonic() - t0
    assert 0.25 <= elapsed < 2


def test_linger_delivers_to_a_peer_that_binds_after_close() -> None:
    reserve = socket.socket()
    reserve.bind(("127.0.0.1", 0))  # refuses connections until we let go
    endpoint = f"tcp://127.0.0.1:{reserve.getsockname()[1]}"
    sender_ctx, receiver_ctx = zmq.Context(), zmq.Context()
    try:
        push = sender_ctx.socket(zmq.PUSH)
        push.linger = TIMEOUT_MS
        push.reconnect_ivl = 20
        push.connect(endpoint)
        push.send(b"late")
        push.close()
        reserve.close()
        pull = receiver_ctx.socket(zmq.PULL)
        pull.linger = 0
        pull.rcvtimeo = TIMEOUT_MS
        pull.bind(endpoint)
        t0 = time.monotonic()
        sender_ctx.term()  # waits until written out, at most LINGER
        assert time.monotonic() - t0 < TIMEOUT_MS / 1000
        assert pull.recv() == b"late"  # written is not yet read: allow the receiver time
    finally:
        reserve.close()
        receiver_ctx.destroy(linger=0)


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
def test_linger_delivers_everything_to_a_live_peer(transport: str, ipc_path: str) -> None:
    """Row 53: send then close at once (pyzmq #102): LINGER flushes it all before term returns."""
    receiver_ctx = zmq.Context()
    try:
        pull = receiver_ctx.socket(zmq.PULL)
        pull.rcvtimeo = TIMEOUT_MS
        pull.linger = 0
        pull.bind("tcp://127.0.0.1:*" if transport == "tcp" else ipc_path)
        endpoint = pull.last_endpoint.decode()
        sender_ctx = zmq.Context()
        push = sender_ctx.socket(zmq.PUSH)
        push.linger = 5000
        push.sndtimeo = TIMEOUT_MS
        push.connect(endpoint)
        # Wait for the connection: queues of connections not up yet are the test above.
        push.send(b"first")
        assert pull.recv() == b"first"
        n = 800  # fits in the receiver's RCVHWM: nobody reads until term() returns
        for i in range(n):
            push.send_multipart([b"%d" % i, b"x" * 100])
        push.close()
        t0 = time.monotonic()
        sender_ctx.term()
        assert time.monotonic() - t0 < 5  # returned because flushed, not by linger
        got = [pull.recv_multipart()[0] for _ in range(n)]
        assert got == [b"%d" % i for i in range(n)]
    finally:
        receiver_ctx.destroy(linger=0)


def test_linger_delivers_inproc_queue_after_close() -> None:
    ctx = zmq.Context()
    try:
        pull = ctx.socket(zmq.PULL)
        pull.rcvtimeo = TIMEOUT_MS
        addr = f"inproc://ctx-{next(_names)}"
        pull.bind(addr)
        push = ctx.socket(zmq.PUSH)
        push.connect(addr)
        for i in range(100):
            push.send(b"%d" % i)
        push.close()
        assert [pull.recv() for _ in range(100)] == [b"%d" % i for i in range(100)]
    finally:
        ctx.destroy(linger=0)


def test_socket_churn_leaks_no_fds_or_threads(ipc_path: str) -> None:
    fds, threads = open_fds(), threading.active_count()
    ctx = zmq.Context()
    for i in range(200):
        kind = ("tcp", "ipc", "inproc")[i % 3]
        pull = ctx.socket(zmq.PULL)
        push = ctx.socket(zmq.PUSH)
        pull.rcvtimeo = TIMEOUT_MS
        if kind == "tcp":
            pull.bind("tcp://127.0.0.1:*")
        elif kind == "ipc":
            pull.bind(f"{ipc_path}-{i}")
        else:
            pull.bind(f"inproc://churn-{i}")
        push.connect(pull.last_endpoint.decode())
        push.send(b"%d" % i)
        assert pull.recv() == b"%d" % i
        push.close(linger=0)
        pull.close(linger=0)
    ctx.term()
    assert threading.active_count() == threads
    assert open_fds() == fds


def test_closed_sockets_release_fds_before_term() -> None:
    """Closing sockets (without term) does not grow the process's fd count without bound."""
    ctx = zmq.Context()
    try:
        pull = ctx.socket(zmq.PULL)
        pull.bind("tcp://127.0.0.1:*")
        endpoint = pull.last_endpoint.decode()
        pull.rcvtimeo = TIMEOUT_MS

        def churn(n: int) -> None:
            for i in range(n):
                push = ctx.socket(zmq.PUSH)
                push.connect(endpoint)
                push.send(b"%d" % i)
                assert pull.recv() == b"%d" % i
                push.close(linger=0)

        churn(20)  # warm up: I/O thread, listener
        before = open_fds()
        churn(100)
        # The accepted side of each closed connection is reaped when the I/O thread sees
        # the close; allow for the few still in flight.
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while open_fds() > before + 5 and time.monotonic() < deadline:
            pull.poll(10)
        assert open_fds() <= before + 5
    finally:
        ctx.destroy(linger=0)
