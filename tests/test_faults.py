"""Network faults between securemq peers, injected by the relay in ``tests/relay.py``.

Each test runs for PUSH→PULL and DEALER→ROUTER: the receiving socket binds, the relay
forwards to it, the sending socket connects to the relay with a small ``reconnect_ivl``.
Every wait is a deadline loop on a condition; nothing sleeps and hopes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from relay import DOWN, UP, Relay, wait_until

import securemq as zmq

DEALER_ID = b"dealer-1"


@dataclass
class Path:
    """A sender and a receiver with a relay in between."""

    kind: str
    sender: Any
    receiver: Any
    relay: Relay
    received: list[bytes] = field(default_factory=list)

    def connect(self) -> None:
        self.sender.connect(self.relay.endpoint)

    def send(self, payload: bytes, flags: int = 0) -> None:
        self.sender.send(payload, flags)

    def recv(self, timeout_ms: int = 5000) -> bytes:
        """The next payload; raises Again after ``timeout_ms``."""
        self.receiver.rcvtimeo = timeout_ms
        if self.kind == "push-pull":
            return bytes(self.receiver.recv())
        rid, payload = self.receiver.recv_multipart()
        assert rid == DEALER_ID
        return bytes(payload)

    def reply(self, payload: bytes) -> bytes:
        """DEALER→ROUTER only: the router answers through the relay."""
        self.receiver.send_multipart([DEALER_ID, payload])
        self.sender.rcvtimeo = 5000
        return bytes(self.sender.recv())

    def check_round_trip(self, tag: bytes) -> None:
        """``tag`` arrives (after any late probes) and, for DEALER, a reply comes back."""
        self.send(tag)
        self.expect_in_order([tag])
        if self.kind == "dealer-router":
            assert self.reply(b"re: " + tag) == b"re: " + tag

    def wait_flowing(self, timeout: float = 5.0) -> bytes:
        """Send probes until one arrives (messages in flight at a fault may be lost).

        Returns the first probe received. Probes sent later may still arrive after it.
        """
        deadline = time.monotonic() + timeout
        i = 0
        while time.monotonic() < deadline:
            i += 1
            self.send(b"probe %d" % i)
            try:
                return self.recv(50)
            except zmq.Again:
                continue
        raise AssertionError("messages did not flow again before the deadline")

    def expect_in_order(self, expected: list[bytes], timeout: float = 5.0) -> None:
        """Receive ``expected`` in order, skipping late probes from :meth:`wait_flowing`."""
        deadline = time.monotonic() + timeout
        got: list[bytes] = []
        while len(got) < len(expected):
            left = int((deadline - time.monotonic()) * 1000)
            assert left > 0, f"only {len(got)} of {len(expected)} arrived"
            m = self.recv(left)
            if not m.startswith(b"probe "):
                got.append(m)
        assert got == expected


KINDS = ["push-pull", "dealer-router"]


@pytest.fixture(params=KINDS)
def path(request: pytest.FixtureRequest, ctx: zmq.Context) -> Iterator[Path]:
    kind = request.param
    if kind == "push-pull":
        receiver, sender = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    else:
        receiver, sender = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
        sender.routing_id = DEALER_ID
    for s in (receiver, sender):
        s.linger = 0
    sender.reconnect_ivl = 50
    port = receiver.bind_to_random_port("tcp://127.0.0.1")
    with Relay(("127.0.0.1", port)) as relay:
        yield Path(kind, sender, receiver, relay)
        # Close the sockets while the relay still answers, then the relay.
        sender.close()
        receiver.close()


# -- reset and cut: the client reconnects -----------------------------------------------------


@pytest.mark.parametrize("fault", ["reset", "drop_connections", "cut"])
def test_reconnect_after_connection_loss(path: Path, fault: str) -> None:
    path.connect()
    path.check_round_trip(b"before")
    assert getattr(path.relay, fault)() == 1
    path.wait_flowing()
    wait_until(lambda: path.relay.accepted >= 2)
    batch = [b"after %d" % i for i in range(100)]
    for m in batch:
        path.send(m)
    path.expect_in_order(batch)
    path.check_round_trip(b"both ways")
    assert path.relay.live == 1  # one connection, not a pile of half-dead ones


def test_reconnect_after_repeated_resets(path: Path) -> None:
    path.connect()
    path.check_round_trip(b"start")
    for round_ in range(5):
        wait_until(lambda: path.relay.live == 1)
        assert path.relay.reset() == 1
        path.wait_flowing()
        path.check_round_trip(b"round %d" % round_)
    assert path.relay.accepted >= 6


def test_messages_queued_while_disconnected_are_delivered(path: Path) -> None:
    """Messages sent while the link is down wait in the session's pipe (immediate off)."""
    path.connect()
    path.check_round_trip(b"start")
    path.relay.freeze()  # hold the reconnect's handshake back while we queue
    assert path.relay.reset() == 1
    # Once the client has reconnected it has noticed the reset: nothing we send now can
    # go down the dead connection (messages written into it are lost, as with libzmq).
    wait_until(lambda: path.relay.accepted >= 2)
    queued = [b"queued %d" % i for i in range(20)]
    for m in queued:
        path.send(m, zmq.DONTWAIT)
    path.relay.thaw()
    path.expect_in_order(queued)


# -- freeze: back-pressure, never a blocked application ---------------------------------------


def test_frozen_link_makes_send_raise_again(path: Path) -> None:
    """A peer that stops reading (frozen relay): the HWM and the kernel buffers fill, and
    then send raises Again (DONTWAIT, or a blocking send after sndtimeo) instead of
    hanging. After the thaw every message accepted is delivered, in order."""
    path.sender.sndhwm = 10
    path.sender.sndbuf = 65536
    path.receiver.rcvhwm = 10
    path.connect()
    path.check_round_trip(b"warm-up")
    path.relay.freeze()
    payload = b"z" * 16384
    sent: list[bytes] = []

    def fill(flags: int) -> None:
        """Send until Again; each call must return promptly."""
        deadline = time.monotonic() + 5
        while True:
            msg = b"%06d" % len(sent) + payload
            t0 = time.monotonic()
            try:
                path.send(msg, flags)
            except zmq.Again:
                assert time.monotonic() - t0 < 1
                return
            assert time.monotonic() - t0 < 1
            sent.append(msg)
            # Bounded: HWM + kernel buffers; 5000 x 16 KiB would mean no back-pressure.
            assert len(sent) < 5000, "send never pushed back"
            assert time.monotonic() < deadline, "send never pushed back"

    fill(zmq.DONTWAIT)
    assert len(sent) >= 10  # at least the HWM's worth was accepted
    # Blocking sends with a timeout: the kernel may still take a little more (buffers
    # grow), but soon one of them times out with Again.
    path.sender.sndtimeo = 100
    fill(0)
    assert path.relay.live == 1
    path.relay.thaw()
    path.expect_in_order(sent)
    path.sender.sndtimeo = -1
    path.check_round_trip(b"after thaw")


def test_frozen_link_keeps_the_receiver_responsive(path: Path) -> None:
    """While the link is frozen the receiver's recv times out normally."""
    path.connect()
    path.check_round_trip(b"warm-up")
    path.relay.freeze()
    path.send(b"held")
    t0 = time.monotonic()
    with pytest.raises(zmq.Again):
        path.recv(250)
    assert time.monotonic() - t0 < 2
    path.relay.thaw()
    assert path.recv() == b"held"


# -- corruption --------------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [0, 9, 12], ids=["signature-0", "signature-9", "mechanism"])
def test_corrupt_client_greeting_reconnects(path: Path, offset: int) -> None:
    """A flipped octet in the client's greeting: the server drops the connection, the
    client reconnects, and since no handshake completed, no message is lost."""
    path.relay.corrupt(offset, direction=UP)
    path.connect()
    msgs = [b"m %d" % i for i in range(10)]
    for m in msgs:
        path.send(m)
    path.expect_in_order(msgs)
    assert path.relay.corrupted == 1
    assert path.relay.accepted >= 2
    path.check_round_trip(b"after")


@pytest.mark.parametrize("direction", [UP, DOWN])
def test_corrupt_greeting_padding_is_ignored(path: Path, direction: str) -> None:
    """RFC 37: the padding (octets 1-8) MUST NOT be validated; one connection suffices."""
    path.relay.corrupt(4, direction=direction)
    path.connect()
    path.check_round_trip(b"hello")
    assert path.relay.corrupted == 1
    assert path.relay.accepted == 1


def test_corrupt_frame_flags_in_traffic_reconnects(path: Path) -> None:
    """A flipped flags octet after the handshake (reserved bits set): the server drops the
    connection, the client reconnects and later messages flow."""
    path.connect()
    tag = b"measure"
    path.send(tag)
    assert path.recv() == tag
    # Everything sent up so far is greeting + READY + one short frame.
    handshake = path.relay.stats()["bytes_up"] - (2 + len(tag))
    assert handshake > 64
    path.relay.corrupt(handshake, direction=UP)  # the next connection's first frame
    assert path.relay.reset() == 1
    wait_until(lambda: path.relay.live == 1 and path.relay.accepted == 2)
    path.send(b"victim")
    # The corrupted connection is dropped by the server; a third one carries the probes.
    path.wait_flowing()
    wait_until(lambda: path.relay.accepted >= 3)
    assert path.relay.corrupted == 1
    batch = [b"after %d" % i for i in range(20)]
    for m in batch:
        path.send(m)
    path.expect_in_order(batch)


# -- latency -----------------------------------------------------------------------------------


def test_delay_keeps_order_and_adds_latency(path: Path) -> None:
    path.relay.delay(0.1)
    path.connect()
    path.check_round_trip(b"slow hello")
    t0 = time.monotonic()
    batch = [b"%d" % i for i in range(50)]
    for m in batch:
        path.send(m)
    path.expect_in_order(batch)
    assert time.monotonic() - t0 >= 0.1


def test_handshake_slower_than_handshake_ivl_is_retried(path: Path) -> None:
    """A path too slow for the server's handshake_ivl: the server drops each attempt, the
    client keeps retrying, and once the path is fast again everything sent is delivered."""
    path.receiver.handshake_ivl = 200
    # handshake_ivl is read at bind time: rebind on a fresh port for the relay.
    port = path.receiver.bind_to_random_port("tcp://127.0.0.1")
    with Relay(("127.0.0.1", port)) as slow:
        slow.delay(0.3)  # each way: the server's 200 ms run out before READY arrives
        path.sender.connect(slow.endpoint)
        wait_until(lambda: slow.accepted >= 2)  # the first attempt was dropped
        slow.delay(0)
        # Messages sent while attempts were being dropped may be lost with them (the
        # NULL client can finish its half of the handshake just before the server gives
        # up); what must hold is that the connection comes back and carries traffic.
        path.wait_flowing()
        msgs = [b"m %d" % i for i in range(10)]
        for m in msgs:
            path.send(m)
        path.expect_in_order(msgs)
        path.sender.close()
