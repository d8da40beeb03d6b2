"""XPUB's manual, welcome and no-drop modes, and invert_matching.

Like tests/test_pubsub.py, whose helpers this reuses, the expectations are libzmq's and
can be checked against it: ``SMQ_TEST_IMPL=zmq python -m pytest tests/test_xpub_modes.py``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from test_pubsub import IMPL, Make, _sync, made, mk, sctx, smq  # noqa: F401 - fixtures

pytestmark = pytest.mark.timeout(30)

TRANSPORTS = ["tcp", "ipc", "inproc"]


def _endpoint(sock: Any, transport: str, ipc_path: str) -> str:
    if transport == "inproc":
        addr = f"inproc://xpub-modes-{time.monotonic_ns()}"
        sock.bind(addr)
        return addr
    sock.bind(f"{ipc_path}-x" if transport == "ipc" else "tcp://127.0.0.1:*")
    return sock.getsockopt(smq.LAST_ENDPOINT).decode()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_welcome_message_reaches_each_new_subscriber(mk: Make, transport: str,
                                                     ipc_path: str) -> None:
    xpub = mk(smq.XPUB, xpub_welcome_msg=b"WELCOME", xpub_verbose=1)
    addr = _endpoint(xpub, transport, ipc_path)
    for _ in range(2):
        sub = mk(smq.SUB)
        sub.subscribe(b"WELCOME")
        sub.connect(addr)
        # The XPUB attaches (and welcomes) the subscriber when it is next used.
        assert xpub.recv() == b"\x01WELCOME"
        assert sub.recv() == b"WELCOME"


def test_welcome_message_is_filtered_by_the_subscriber(mk: Make, ipc_path: str) -> None:
    """The welcome goes out like any message, so a SUB not subscribed to it drops it."""
    xpub = mk(smq.XPUB, xpub_welcome_msg=b"WELCOME")
    addr = _endpoint(xpub, "tcp", ipc_path)
    sub = mk(smq.SUB)
    sub.subscribe(b"data")
    sub.connect(addr)
    assert xpub.recv() == b"\x01data"
    _sync(xpub, sub, b"data")  # the first thing through is a probe, not the welcome


@pytest.mark.parametrize("transport", ["tcp", "inproc"])
def test_nodrop_refuses_instead_of_dropping(mk: Make, transport: str, ipc_path: str) -> None:
    """SECURITY-TESTS row 51: EAGAIN at the HWM, and sent == received."""
    xpub = mk(smq.XPUB, xpub_nodrop=1, sndhwm=20)
    addr = _endpoint(xpub, transport, ipc_path)
    sub = mk(smq.SUB, rcvhwm=20)
    sub.subscribe(b"")
    sub.connect(addr)
    assert xpub.recv() == b"\x01"
    _sync(xpub, sub, b"")
    sent = 0
    deadline = time.monotonic() + 10
    while True:
        try:
            xpub.send(b"m%d" % sent, smq.DONTWAIT)
            sent += 1
        except smq.Again:
            break  # queues and kernel buffers are full: the subscriber is not reading
        assert time.monotonic() < deadline
    assert sent >= 10
    for i in range(sent):
        assert sub.recv() == b"m%d" % i
    xpub.send(b"after")  # room again once the subscriber has read (sndtimeo bounds it)
    assert sub.recv() == b"after"


def test_without_nodrop_the_publisher_drops(mk: Make) -> None:
    xpub = mk(smq.XPUB, sndhwm=5)
    xpub.bind("inproc://xpub-drop")
    sub = mk(smq.SUB, rcvhwm=5)
    sub.subscribe(b"")
    sub.connect("inproc://xpub-drop")
    assert xpub.recv() == b"\x01"
    for i in range(100):
        xpub.send(b"m%d" % i, smq.DONTWAIT)  # never EAGAIN
    got = []
    while sub.poll(100):
        got.append(sub.recv())
    assert 0 < len(got) < 100


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_manual_mode_the_application_subscribes(mk: Make, transport: str,
                                                ipc_path: str) -> None:
    xpub = mk(smq.XPUB, xpub_manual=1)
    addr = _endpoint(xpub, transport, ipc_path)
    sub = mk(smq.SUB)
    sub.subscribe(b"A")
    sub.connect(addr)
    assert xpub.recv() == b"\x01A"
    # Nothing is subscribed until the application says so: "A" messages are not sent.
    xpub.send(b"A-before")
    xpub.setsockopt(smq.SUBSCRIBE, b"A")  # for the subscriber we just heard from
    _sync(xpub, sub, b"A", strict=False)
    xpub.send(b"A-after")
    assert sub.recv() == b"A-after"
    # An unsubscription is passed up too, and applied only by the application.
    sub.unsubscribe(b"A")
    assert xpub.recv() == b"\x00A"
    xpub.setsockopt(smq.UNSUBSCRIBE, b"A")


def test_manual_mode_passes_duplicates(mk: Make) -> None:
    xpub = mk(smq.XPUB, xpub_manual=1)
    xpub.bind("inproc://xpub-manual-dup")
    subs = [mk(smq.SUB) for _ in range(2)]
    for sub in subs:
        sub.connect("inproc://xpub-manual-dup")
        sub.subscribe(b"T")
    assert [xpub.recv(), xpub.recv()] == [b"\x01T", b"\x01T"]


def test_manual_mode_can_rewrite_a_subscription(mk: Make) -> None:
    """Last-value caching and access control start here: answer a request with another
    topic (here: a SUB asking for everything is given "pub." only)."""
    xpub = mk(smq.XPUB, xpub_manual=1)
    xpub.bind("inproc://xpub-manual-rewrite")
    sub = mk(smq.SUB)
    sub.connect("inproc://xpub-manual-rewrite")
    sub.subscribe(b"")
    assert xpub.recv() == b"\x01"
    xpub.setsockopt(smq.SUBSCRIBE, b"pub.")
    xpub.send(b"secret.x")
    xpub.send(b"pub.x")
    assert sub.recv() == b"pub.x"


def test_subscribe_option_needs_manual_mode(mk: Make) -> None:
    xpub = mk(smq.XPUB)
    with pytest.raises(smq.ZMQError):
        xpub.setsockopt(smq.SUBSCRIBE, b"A")


def test_invert_matching_publisher(mk: Make) -> None:
    """An inverting PUB sends each message to the peers with no matching subscription
    (an XSUB, which does not filter, shows what the publisher sent)."""
    pub = mk(smq.PUB, invert_matching=1)
    pub.bind("inproc://invert-pub")
    xsub = mk(smq.XSUB)
    xsub.connect("inproc://invert-pub")
    xsub.send(b"\x01noise")
    deadline = time.monotonic() + 5
    while True:  # before the subscription arrives, everything comes through
        pub.send(b"noise")
        pub.send(b"signal")
        seen = []
        while (got := xsub.recv()) != b"signal":
            seen.append(got)
        if not seen:
            break
        assert time.monotonic() < deadline
    pub.send(b"noise-1")
    pub.send(b"signal-1")
    assert xsub.recv() == b"signal-1"


def test_invert_matching_pair(mk: Make) -> None:
    """Both ends inverted, as zmq_setsockopt(3) asks: the SUB gets what does not match."""
    pub = mk(smq.PUB, invert_matching=1)
    pub.bind("inproc://invert-pair")
    sub = mk(smq.SUB, invert_matching=1)
    sub.connect("inproc://invert-pair")
    sub.subscribe(b"noise")
    for i in range(20):
        pub.send(b"noise-%d" % i)
        pub.send(b"signal-%d" % i)
        assert sub.recv() == b"signal-%d" % i  # never a noise message, before or after


@pytest.mark.parametrize("transport", ["tcp", "inproc"])
def test_manual_last_value_goes_to_the_new_subscriber_only(mk: Make, transport: str,
                                                           ipc_path: str) -> None:
    """XPUB_MANUAL_LAST_VALUE: after a subscription request and SUBSCRIBE, the next
    message goes to that subscriber only (the cached value); later ones to all."""
    xpub = mk(smq.XPUB, xpub_manual_last_value=1)
    addr = _endpoint(xpub, transport, ipc_path)
    first = mk(smq.SUB)
    first.subscribe(b"A")
    first.connect(addr)
    assert xpub.recv() == b"\x01A"
    xpub.subscribe(b"A")
    xpub.send(b"A cached for first")
    assert first.recv() == b"A cached for first"
    second = mk(smq.SUB)
    second.subscribe(b"A")
    second.connect(addr)
    assert xpub.recv() == b"\x01A"  # manual mode passes duplicates up
    xpub.subscribe(b"A")
    xpub.send(b"A cached for second")
    assert second.recv() == b"A cached for second"
    xpub.send(b"A for everyone")
    assert second.recv() == b"A for everyone"
    assert first.recv() == b"A for everyone"  # the second's cached value skipped it
