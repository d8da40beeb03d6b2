"""Publish-subscribe (RFC 29): PUB, SUB, XPUB, XSUB, alone and with libzmq (pyzmq).

The expectations are pyzmq's documented behaviour. The suite can be pointed at pyzmq
instead of securemq to check the expectations themselves::

    SMQ_TEST_IMPL=zmq python -m pytest tests/test_pubsub.py -q -p no:cacheprovider

Then every "securemq" socket is a libzmq socket and the interop tests run libzmq against
libzmq; every test must pass that way too.

Subscriptions travel upstream asynchronously (the "slow joiner"), so no test assumes one
has taken effect: after (un)subscribing, :func:`_sync` publishes probes on a topic that
is (newly) subscribed until one arrives. A subscription command and the ones before it
travel in order on one connection, so once a probe on a newly subscribed topic arrives,
every earlier (un)subscription has reached the publisher too. "This message was not
delivered" is checked by sending it and then a marker on a subscribed topic: messages
from one publisher arrive in order, so the next message received must be the marker.
Every socket has ``rcvtimeo``/``sndtimeo`` so that a hang fails in seconds, and no test
sleeps.
"""

from __future__ import annotations

import importlib
import itertools
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

#: The implementation under test: ``securemq`` (default) or ``zmq`` (pyzmq, to validate
#: the expectations against libzmq).
IMPL = os.environ.get("SMQ_TEST_IMPL", "securemq")
smq: Any = importlib.import_module(IMPL)
zmq = pytest.importorskip("zmq")

pytestmark = pytest.mark.timeout(30)

TIMEOUT_MS = 3000
QUIET_MS = 300  # how long "nothing more arrives" is watched
SYNC_S = 5.0  # how long probes are published before a subscription counts as lost
PROBE_POLL_MS = 20
_names = itertools.count()

Make = Callable[..., Any]


# -- fixtures and helpers --------------------------------------------------------------


@pytest.fixture
def sctx(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A context of the implementation under test, destroyed with linger 0."""
    if IMPL == "securemq":
        yield request.getfixturevalue("ctx")
        return
    c = smq.Context()
    yield c
    c.destroy(linger=0)


@pytest.fixture
def made() -> Iterator[list[Any]]:
    """Every socket a test makes, closed (linger 0) before the contexts go."""
    socks: list[Any] = []
    yield socks
    for s in reversed(socks):
        s.close(linger=0)


def _tune(sock: Any, made: list[Any], **opts: Any) -> Any:
    made.append(sock)
    sock.setsockopt(smq.LINGER, 0)
    sock.setsockopt(smq.RCVTIMEO, TIMEOUT_MS)
    sock.setsockopt(smq.SNDTIMEO, TIMEOUT_MS)
    for name, value in opts.items():
        sock.setsockopt(getattr(smq, name.upper()), value)
    return sock


@pytest.fixture
def mk(sctx: Any, made: list[Any]) -> Make:
    """``mk(type, **options)``: a socket of the implementation under test."""

    def make(kind: int, **opts: Any) -> Any:
        return _tune(sctx.socket(kind), made, **opts)

    return make


@pytest.fixture
def mkz(zctx: Any, made: list[Any]) -> Make:
    """``mkz(type, **options)``: a libzmq socket (pyzmq)."""

    def make(kind: int, **opts: Any) -> Any:
        return _tune(zctx.socket(kind), made, **opts)

    return make


def _bind(sock: Any, transport: str, ipc_path: str) -> str:
    """Bind ``sock`` to a fresh endpoint of ``transport``; return what peers connect to."""
    if transport == "inproc":
        addr = f"inproc://pubsub-{os.getpid()}-{next(_names)}"
        sock.bind(addr)
        return addr
    if transport == "ipc":
        sock.bind(f"{ipc_path}-{next(_names)}")
    else:
        sock.bind("tcp://127.0.0.1:*")
    return sock.getsockopt(smq.LAST_ENDPOINT).decode()


def _link(pub: Any, sub: Any, transport: str, ipc_path: str, sub_binds: bool = False) -> None:
    if sub_binds:
        pub.connect(_bind(sub, transport, ipc_path))
    else:
        sub.connect(_bind(pub, transport, ipc_path))


def _await_attached(xpub: Any, sub: Any) -> None:
    """Make sure ``sub`` is attached to ``xpub`` before scripted (un)subscriptions.

    A SUB that binds attaches its new connection when its application next calls into
    it (libzmq does the same), and until then its subscriptions are only sent in one
    batch at attach time. Poll the SUB while a sync topic goes up, then take it back.
    """
    sub.subscribe(b"\xffsync")
    deadline = time.monotonic() + 5
    while True:
        assert time.monotonic() < deadline, "the SUB never attached"
        sub.poll(10)
        try:
            if xpub.recv(zmq.DONTWAIT) == b"\x01\xffsync":
                break
        except (zmq.Again, smq.Again):
            continue
    sub.unsubscribe(b"\xffsync")
    xpub.setsockopt(zmq.RCVTIMEO, 5000)
    assert xpub.recv() == b"\x00\xffsync"


def _is_xsub(sock: Any) -> bool:
    return sock.getsockopt(smq.TYPE) == smq.XSUB


def _sub(sock: Any, topic: bytes) -> None:
    """Subscribe a SUB (option) or an XSUB (a ``\\x01`` message upstream)."""
    if _is_xsub(sock):
        sock.send(b"\x01" + topic)
    else:
        sock.subscribe(topic)


def _unsub(sock: Any, topic: bytes) -> None:
    if _is_xsub(sock):
        sock.send(b"\x00" + topic)
    else:
        sock.unsubscribe(topic)


def _is_probe(msg: list[bytes]) -> bool:
    return len(msg) == 1 and msg[0].endswith((b"#probe", b"#end"))


def _sync(pub: Any, sub: Any, topic: bytes, strict: bool = True) -> None:
    """Publish probes on ``topic`` until ``sub`` gets one, then flush every probe.

    ``topic`` must be subscribed on ``sub``. With ``strict``, nothing else may be in
    flight from ``pub`` to ``sub``: anything but one of these probes fails the test.
    Otherwise probes of other topics (other subscribers' syncs) are skipped too.

    A probe arriving proves that the publisher has processed every (un)subscription
    sent up to and including the one that let it through. So to prove that an earlier
    change has taken effect, ``topic`` must match only a subscription made after that
    change, and none in force before it (an empty subscription matches every probe).
    """
    probe, end = topic + b"#probe", topic + b"#end"

    def check(got: list[bytes]) -> None:
        assert got == [probe] or (not strict and _is_probe(got)), got

    deadline = time.monotonic() + SYNC_S
    while True:
        pub.send(probe)
        if sub.poll(PROBE_POLL_MS, smq.POLLIN):
            got = sub.recv_multipart()
            check(got)
            if got == [probe]:
                break
        assert time.monotonic() < deadline, f"no probe on {topic!r} arrived in {SYNC_S}s"
    pub.send(end)
    while (got := sub.recv_multipart()) != [end]:
        check(got)


def _await_dropped(pub: Any, sub: Any, gone: bytes, marker: bytes) -> None:
    """Publish ``gone`` then ``marker`` until the marker arrives with nothing before it.

    For an unsubscription that no later subscription can prove (see :func:`_sync`).
    ``marker``'s subscription must already be in force.
    """
    deadline = time.monotonic() + SYNC_S
    while True:
        pub.send(gone)
        pub.send(marker)
        got = sub.recv_multipart()
        if got == [marker]:
            return
        assert got == [gone], got
        assert sub.recv_multipart() == [marker]
        assert time.monotonic() < deadline, f"{gone!r} still delivered after {SYNC_S}s"


def _next(sub: Any) -> list[bytes]:
    return sub.recv_multipart()


def _drain(sock: Any, ms: int = QUIET_MS) -> int:
    """Receive until nothing arrives for ``ms``; return how many messages came."""
    n = 0
    while sock.poll(ms, smq.POLLIN):
        try:
            sock.recv_multipart(smq.DONTWAIT)
        except smq.Again:
            continue
        n += 1
    return n


def _errno(call: Callable[[], Any]) -> int:
    with pytest.raises(smq.ZMQError) as info:
        call()
    return info.value.errno


TRANSPORTS = ["inproc", "tcp", "ipc"]
#: (publisher, subscriber) socket types of the pattern, within one implementation.
COMBOS = [
    pytest.param(("PUB", "SUB"), id="PUB-SUB"),
    pytest.param(("XPUB", "SUB"), id="XPUB-SUB"),
    pytest.param(("PUB", "XSUB"), id="PUB-XSUB"),
]


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=COMBOS)
def pair(
    request: pytest.FixtureRequest, mk: Make, transport: str, ipc_path: str
) -> tuple[Any, Any]:
    """A connected (publisher, subscriber) with no subscriptions yet."""
    pub_t, sub_t = request.param
    pub, sub = mk(getattr(smq, pub_t)), mk(getattr(smq, sub_t))
    _link(pub, sub, transport, ipc_path)
    return pub, sub


# -- filtering -------------------------------------------------------------------------


def test_prefix_match(pair: tuple[Any, Any]) -> None:
    pub, sub = pair
    _sub(sub, b"a")
    _sync(pub, sub, b"a")
    for msg in (b"abc", b"b", b"", b"xa", b"a", b"ba", b"A", b"\x00a", b"abc-last"):
        pub.send(msg)
    assert _next(sub) == [b"abc"]
    assert _next(sub) == [b"a"]
    assert _next(sub) == [b"abc-last"]
    assert _drain(sub) == 0


def test_binary_topics(pair: tuple[Any, Any]) -> None:
    """Matching is a plain byte comparison: NULs and high bytes are ordinary."""
    pub, sub = pair
    topic = b"\x00\xff\x01t"
    _sub(sub, topic)
    _sync(pub, sub, topic)
    pub.send(b"\x00\xff\x02t")
    pub.send(b"\x00\xff")
    pub.send(topic + b"\x00body")
    assert _next(sub) == [topic + b"\x00body"]


def test_empty_subscription_gets_everything(pair: tuple[Any, Any]) -> None:
    pub, sub = pair
    _sub(sub, b"")
    _sync(pub, sub, b"any")
    msgs = [b"abc", b"", b"\x00", b"\x01zz", b"zzz", bytes(range(256))]
    for m in msgs:
        pub.send(m)
    assert [_next(sub)[0] for _ in msgs] == msgs


def test_no_subscription_gets_nothing(pair: tuple[Any, Any], mk: Make) -> None:
    pub, sub = pair
    # A second subscriber on the same publisher proves the messages were published.
    other = mk(smq.SUB)
    other.connect(_endpoint_of(pub, sub))
    other.subscribe(b"")
    _sync(pub, other, b"t")
    pub.send(b"t1")
    pub.send(b"")
    assert _next(other) == [b"t1"]
    assert _next(other) == [b""]
    assert _drain(sub) == 0


def _endpoint_of(pub: Any, sub: Any) -> str:
    return pub.getsockopt(smq.LAST_ENDPOINT).decode()


def test_multiple_subscriptions(pair: tuple[Any, Any]) -> None:
    pub, sub = pair
    for t in (b"a", b"b", b"ab"):
        _sub(sub, t)
    _sync(pub, sub, b"a")
    _sync(pub, sub, b"b")
    for m in (b"a1", b"c1", b"b1", b"abc", b"ca", b"bb", b"", b"zz"):
        pub.send(m)
    # b"abc" matches two subscriptions ("a" and "ab") and still arrives once.
    assert [_next(sub) for _ in range(4)] == [[b"a1"], [b"b1"], [b"abc"], [b"bb"]]
    assert _drain(sub) == 0


def test_unsubscribe(pair: tuple[Any, Any]) -> None:
    pub, sub = pair
    _sub(sub, b"a")
    _sub(sub, b"b")
    _sync(pub, sub, b"a")
    pub.send(b"a-before")
    assert _next(sub) == [b"a-before"]
    _unsub(sub, b"a")
    _sub(sub, b"sync")  # travels after the unsubscribe: once it works, so does that
    _sync(pub, sub, b"sync")
    pub.send(b"a-after")
    pub.send(b"b-after")
    assert _next(sub) == [b"b-after"]
    # Unsubscribing a topic that was never subscribed changes nothing.
    _unsub(sub, b"never")
    _sub(sub, b"sync2")
    _sync(pub, sub, b"sync2")
    pub.send(b"a-again")
    pub.send(b"b-again")
    assert _next(sub) == [b"b-again"]
    # Subscribing again restores delivery.
    _sub(sub, b"a")
    _sync(pub, sub, b"a")
    pub.send(b"a-back")
    assert _next(sub) == [b"a-back"]


def test_unsubscribe_everything(pair: tuple[Any, Any]) -> None:
    pub, sub = pair
    _sub(sub, b"keep")
    _sync(pub, sub, b"keep")
    _sub(sub, b"")
    _sync(pub, sub, b"x")  # matches only the empty subscription: it is in force
    _unsub(sub, b"")
    # Any later probe would match the empty subscription too, so none can prove the
    # unsubscription: wait for its effect instead.
    _await_dropped(pub, sub, b"x1", b"keep-1")
    pub.send(b"x2")
    pub.send(b"")
    pub.send(b"keep-2")
    assert _next(sub) == [b"keep-2"]


def test_subscriptions_are_counted(pair: tuple[Any, Any]) -> None:
    pub, sub = pair
    _sub(sub, b"a")
    _sub(sub, b"a")
    _sync(pub, sub, b"a")
    _unsub(sub, b"a")  # one of two: still subscribed
    _sub(sub, b"sync1")
    _sync(pub, sub, b"sync1")
    pub.send(b"a-still")
    assert _next(sub) == [b"a-still"]
    _unsub(sub, b"a")  # the last one
    _sub(sub, b"sync2")
    _sync(pub, sub, b"sync2")
    pub.send(b"a-gone")
    pub.send(b"sync2-marker")
    assert _next(sub) == [b"sync2-marker"]


def test_multipart_filters_on_first_frame(pair: tuple[Any, Any]) -> None:
    pub, sub = pair
    _sub(sub, b"top")
    _sync(pub, sub, b"top")
    pub.send_multipart([b"other", b"top", b"topic"])  # only the first frame counts
    pub.send_multipart([b"topic", b"body1", b"", b"body3"])
    pub.send_multipart([b"top", b""])
    pub.send(b"to", smq.SNDMORE)
    pub.send(b"p-split")
    pub.send_multipart([b"top-big", os.urandom(100_000)])
    assert _next(sub) == [b"topic", b"body1", b"", b"body3"]
    assert _next(sub) == [b"top", b""]
    big = _next(sub)
    assert big[0] == b"top-big" and len(big[1]) == 100_000
    assert _drain(sub) == 0


def test_multipart_rcvmore(pair: tuple[Any, Any]) -> None:
    pub, sub = pair
    _sub(sub, b"t")
    _sync(pub, sub, b"t")
    pub.send_multipart([b"t", b"one", b"two"])
    assert sub.recv() == b"t"
    assert sub.getsockopt(smq.RCVMORE) == 1
    assert sub.recv() == b"one"
    assert sub.getsockopt(smq.RCVMORE) == 1
    assert sub.recv() == b"two"
    assert sub.getsockopt(smq.RCVMORE) == 0


def test_fan_out(mk: Make, transport: str, ipc_path: str) -> None:
    """Every subscriber gets its own copy of what matches its own subscriptions."""
    pub = mk(smq.PUB)
    addr = _bind(pub, transport, ipc_path)
    subs = {t: mk(smq.SUB) for t in (b"a", b"b", b"")}
    for t, s in subs.items():
        s.connect(addr)
        s.subscribe(t)
    _sync(pub, subs[b"a"], b"a")
    _sync(pub, subs[b"b"], b"b")
    # The catch-all subscriber also got the probes above: skip them.
    _sync(pub, subs[b""], b"e", strict=False)
    for m in (b"a1", b"b1", b"c1"):
        pub.send(m)
    assert _next(subs[b"a"]) == [b"a1"]
    assert _next(subs[b"b"]) == [b"b1"]
    assert [_next(subs[b""]) for _ in range(3)] == [[b"a1"], [b"b1"], [b"c1"]]
    for s in subs.values():
        assert _drain(s) == 0


# -- the subscription API --------------------------------------------------------------

SUBSCRIBERS: dict[str, Callable[[Any, str], None]] = {
    "subscribe_bytes": lambda s, t: s.subscribe(t.encode()),
    "subscribe_str": lambda s, t: s.subscribe(t),
    "setsockopt": lambda s, t: s.setsockopt(smq.SUBSCRIBE, t.encode()),
    "setsockopt_string": lambda s, t: s.setsockopt_string(smq.SUBSCRIBE, t),
}
UNSUBSCRIBERS: dict[str, Callable[[Any, str], None]] = {
    "unsubscribe_bytes": lambda s, t: s.unsubscribe(t.encode()),
    "unsubscribe_str": lambda s, t: s.unsubscribe(t),
    "setsockopt": lambda s, t: s.setsockopt(smq.UNSUBSCRIBE, t.encode()),
    "setsockopt_string": lambda s, t: s.setsockopt_string(smq.UNSUBSCRIBE, t),
}


@pytest.mark.parametrize("how", list(SUBSCRIBERS))
@pytest.mark.parametrize("how_un", list(UNSUBSCRIBERS))
def test_subscription_api(mk: Make, ipc_path: str, how: str, how_un: str) -> None:
    pub, sub = mk(smq.PUB), mk(smq.SUB)
    _link(pub, sub, "tcp", ipc_path)
    SUBSCRIBERS[how](sub, "x")
    SUBSCRIBERS[how](sub, "ü")  # non-ASCII: str topics are UTF-8
    _sync(pub, sub, "ü".encode())  # sent after "x", so "x" is in force too
    pub.send(b"x-1")
    pub.send("ü-1".encode())
    pub.send(b"y-1")
    assert _next(sub) == [b"x-1"]
    assert _next(sub) == ["ü-1".encode()]
    UNSUBSCRIBERS[how_un](sub, "x")
    SUBSCRIBERS[how](sub, "sync")
    _sync(pub, sub, b"sync")
    pub.send(b"x-2")
    pub.send("ü-2".encode())
    assert _next(sub) == ["ü-2".encode()]


@pytest.mark.parametrize(
    "kind", ["PUB", "XPUB", "XSUB", "PUSH", "PULL", "PAIR", "DEALER", "ROUTER", "REQ", "REP"]
)
@pytest.mark.parametrize("option", ["SUBSCRIBE", "UNSUBSCRIBE"])
def test_subscribe_option_only_on_sub(mk: Make, kind: str, option: str) -> None:
    s = mk(getattr(smq, kind))
    opt = getattr(smq, option)
    assert _errno(lambda: s.setsockopt(opt, b"x")) == smq.EINVAL
    assert _errno(lambda: s.setsockopt_string(opt, "x")) == smq.EINVAL
    method = s.subscribe if option == "SUBSCRIBE" else s.unsubscribe
    assert _errno(lambda: method(b"x")) == smq.EINVAL


def test_recv_on_pub_is_not_supported(mk: Make) -> None:
    pub = mk(smq.PUB)
    assert _errno(lambda: pub.recv()) == smq.ENOTSUP
    assert _errno(lambda: pub.recv(smq.DONTWAIT)) == smq.ENOTSUP
    assert _errno(lambda: pub.recv_multipart()) == smq.ENOTSUP


def test_send_on_sub_is_not_supported(mk: Make) -> None:
    sub = mk(smq.SUB)
    assert _errno(lambda: sub.send(b"x")) == smq.ENOTSUP
    assert _errno(lambda: sub.send(b"x", smq.DONTWAIT)) == smq.ENOTSUP
    assert _errno(lambda: sub.send(b"\x01x")) == smq.ENOTSUP  # not a subscription either
    assert _errno(lambda: sub.send_multipart([b"x", b"y"])) == smq.ENOTSUP


def test_unsupported_ops_with_peers(mk: Make, ipc_path: str) -> None:
    """Connected or not, PUB does not receive and SUB does not send."""
    pub, sub = mk(smq.PUB), mk(smq.SUB)
    _link(pub, sub, "tcp", ipc_path)
    sub.subscribe(b"")
    _sync(pub, sub, b"p")
    assert _errno(lambda: pub.recv(smq.DONTWAIT)) == smq.ENOTSUP
    assert _errno(lambda: sub.send(b"x", smq.DONTWAIT)) == smq.ENOTSUP
    pub.send(b"still-works")
    assert _next(sub) == [b"still-works"]


# -- XPUB sees subscriptions, XSUB sends them ------------------------------------------


def test_xpub_receives_subscriptions(mk: Make, transport: str, ipc_path: str) -> None:
    xpub, sub = mk(smq.XPUB), mk(smq.SUB)
    _link(xpub, sub, transport, ipc_path)
    sub.subscribe(b"topic")
    assert xpub.recv_multipart() == [b"\x01topic"]
    # Delivered to the application once processed: the subscription is in force.
    xpub.send(b"topic-data")
    xpub.send(b"other")
    xpub.send(b"topic-2")
    assert _next(sub) == [b"topic-data"]
    assert _next(sub) == [b"topic-2"]
    sub.subscribe(b"")
    assert xpub.recv_multipart() == [b"\x01"]
    sub.unsubscribe(b"topic")
    assert xpub.recv_multipart() == [b"\x00topic"]
    sub.unsubscribe(b"")
    assert xpub.recv_multipart() == [b"\x00"]


def test_xpub_gets_subscriptions_made_before_connecting(
    mk: Make, transport: str, ipc_path: str
) -> None:
    xpub, sub = mk(smq.XPUB), mk(smq.SUB)
    sub.subscribe(b"early")
    addr = _bind(xpub, transport, ipc_path)
    sub.connect(addr)
    assert xpub.recv_multipart() == [b"\x01early"]


@pytest.mark.parametrize("verbose", [False, True], ids=["default", "xpub_verbose"])
def test_xpub_duplicate_subscriptions(
    mk: Make, transport: str, ipc_path: str, verbose: bool
) -> None:
    xpub = mk(smq.XPUB)
    if verbose:
        xpub.setsockopt(smq.XPUB_VERBOSE, 1)
    addr = _bind(xpub, transport, ipc_path)
    sub1, sub2 = mk(smq.SUB), mk(smq.SUB)
    sub1.connect(addr)
    sub1.subscribe(b"dup")
    assert xpub.recv_multipart() == [b"\x01dup"]
    sub2.connect(addr)
    sub2.subscribe(b"dup")
    sub2.subscribe(b"zz-mark")  # travels after b"dup" on the same connection
    if verbose:
        assert xpub.recv_multipart() == [b"\x01dup"]
    assert xpub.recv_multipart() == [b"\x01zz-mark"]
    if verbose:
        return
    # Unsubscriptions are counted the same way: only the last subscriber's passes.
    sub1.unsubscribe(b"dup")
    sub1.subscribe(b"zz-mark1")
    assert xpub.recv_multipart() == [b"\x01zz-mark1"]
    sub2.unsubscribe(b"dup")
    assert xpub.recv_multipart() == [b"\x00dup"]


def test_xpub_verbose_passes_every_subscribe_from_one_subscriber(
    mk: Make, transport: str, ipc_path: str
) -> None:
    xpub, sub = mk(smq.XPUB), mk(smq.SUB)
    xpub.setsockopt(smq.XPUB_VERBOSE, 1)
    _link(xpub, sub, transport, ipc_path)
    sub.subscribe(b"dup")
    sub.subscribe(b"dup")
    assert xpub.recv_multipart() == [b"\x01dup"]
    assert xpub.recv_multipart() == [b"\x01dup"]


def test_xsub_subscribes_upstream(mk: Make, transport: str, ipc_path: str) -> None:
    pub, xsub = mk(smq.PUB), mk(smq.XSUB)
    _link(pub, xsub, transport, ipc_path)
    xsub.send(b"\x01news")
    _sync(pub, xsub, b"news")
    pub.send(b"weather")
    pub.send_multipart([b"news-1", b"body"])
    assert _next(xsub) == [b"news-1", b"body"]
    xsub.send(b"\x00news")
    xsub.send(b"\x01sync")
    _sync(pub, xsub, b"sync")
    pub.send(b"news-2")
    pub.send(b"sync-marker")
    assert _next(xsub) == [b"sync-marker"]


def test_xsub_to_xpub_passes_subscriptions(mk: Make, transport: str, ipc_path: str) -> None:
    xpub, xsub = mk(smq.XPUB), mk(smq.XSUB)
    _link(xpub, xsub, transport, ipc_path)
    xsub.send(b"\x01abc")
    assert xpub.recv_multipart() == [b"\x01abc"]
    xpub.send(b"abc-data")
    assert _next(xsub) == [b"abc-data"]
    xsub.send(b"\x00abc")
    assert xpub.recv_multipart() == [b"\x00abc"]


# -- PUB never blocks ------------------------------------------------------------------

N_FLOOD = 10_000
FLOOD_BODY = b"f" * 4096


@pytest.mark.parametrize("pub_t", ["PUB", "XPUB"])
def test_pub_never_blocks(mk: Make, transport: str, ipc_path: str, pub_t: str) -> None:
    """With a subscriber that never reads, sending neither blocks nor fails: excess drops."""
    pub = mk(getattr(smq, pub_t), sndhwm=10)
    sub = mk(smq.SUB, rcvhwm=10)
    _link(pub, sub, transport, ipc_path)
    sub.subscribe(b"")
    _sync(pub, sub, b"s")
    start = time.monotonic()
    for i in range(N_FLOOD):
        # sndtimeo is set: a send that blocks fails with EAGAIN after TIMEOUT_MS.
        pub.send(b"%d " % i + FLOOD_BODY)
    elapsed = time.monotonic() - start
    assert elapsed < 15, f"{N_FLOOD} sends took {elapsed:.1f}s"
    got = _drain(sub)
    assert 0 < got < N_FLOOD
    if transport == "inproc":
        assert got <= 100, f"{got} messages queued with sndhwm=rcvhwm=10"
    # The publisher still works once the subscriber catches up.
    _sync(pub, sub, b"after")


def test_pub_without_subscribers_drops(mk: Make) -> None:
    pub = mk(smq.PUB, sndhwm=1)
    pub.bind("tcp://127.0.0.1:*")
    for i in range(1000):
        pub.send(b"nobody %d" % i)
    pub2 = mk(smq.PUB)
    for i in range(100):  # not even bound or connected
        pub2.send_multipart([b"t", b"%d" % i])


# -- inproc -----------------------------------------------------------------------------


@pytest.mark.parametrize("sub_binds", [False, True], ids=["pub_binds", "sub_binds"])
@pytest.mark.parametrize("connect_first", [False, True], ids=["bind_first", "connect_first"])
def test_inproc(mk: Make, sub_binds: bool, connect_first: bool) -> None:
    pub, sub = mk(smq.PUB), mk(smq.SUB)
    sub.subscribe(b"in")
    addr = f"inproc://pubsub-inproc-{next(_names)}"
    binder, connecter = (sub, pub) if sub_binds else (pub, sub)
    if connect_first:
        connecter.connect(addr)
        binder.bind(addr)
    else:
        binder.bind(addr)
        connecter.connect(addr)
    _sync(pub, sub, b"in")
    pub.send(b"out")
    pub.send_multipart([b"inproc", b"body"])
    assert _next(sub) == [b"inproc", b"body"]


# -- interop with libzmq ---------------------------------------------------------------


@pytest.mark.interop
@pytest.mark.parametrize("transport_", ["tcp", "ipc"])
@pytest.mark.parametrize("sub_binds", [False, True], ids=["pub_binds", "sub_binds"])
@pytest.mark.parametrize(
    ("pub_t", "smq_pub"),
    [
        pytest.param("PUB", True, id="smq_PUB-zmq_SUB"),
        pytest.param("PUB", False, id="zmq_PUB-smq_SUB"),
        pytest.param("XPUB", True, id="smq_XPUB-zmq_SUB"),
        pytest.param("XPUB", False, id="zmq_XPUB-smq_SUB"),
    ],
)
def test_interop(
    mk: Make,
    mkz: Make,
    ipc_path: str,
    transport_: str,
    sub_binds: bool,
    pub_t: str,
    smq_pub: bool,
) -> None:
    pub = (mk if smq_pub else mkz)(getattr(zmq, pub_t))
    sub = (mkz if smq_pub else mk)(zmq.SUB)
    xpub = pub_t == "XPUB"
    _link(pub, sub, transport_, ipc_path, sub_binds=sub_binds)
    if xpub and sub_binds:
        _await_attached(pub, sub)
    sub.subscribe(b"a")
    sub.subscribe(b"")
    sub.unsubscribe(b"")
    sub.subscribe(b"c")
    if xpub:
        # What the wire carried, in order: libzmq's SUB and ours send the same.
        assert pub.recv_multipart() == [b"\x01a"]
        assert pub.recv_multipart() == [b"\x01"]
        assert pub.recv_multipart() == [b"\x00"]
        assert pub.recv_multipart() == [b"\x01c"]
    _sync(pub, sub, b"c")
    for m in (b"abc", b"b", b"", b"c", b"xa"):
        pub.send(m)
    pub.send_multipart([b"a-multi", b"", b"x" * 70_000, b"end"])
    pub.send_multipart([b"b-multi", b"a"])
    pub.send(b"c-last")
    assert _next(sub) == [b"abc"]
    assert _next(sub) == [b"c"]
    assert _next(sub) == [b"a-multi", b"", b"x" * 70_000, b"end"]
    assert _next(sub) == [b"c-last"]
    # Unsubscribing reaches the other side too.
    sub.unsubscribe(b"a")
    sub.subscribe(b"s")
    if xpub:
        assert pub.recv_multipart() == [b"\x00a"]
        assert pub.recv_multipart() == [b"\x01s"]
    _sync(pub, sub, b"s")
    pub.send(b"a-gone")
    pub.send(b"c-here")
    assert _next(sub) == [b"c-here"]


@pytest.mark.interop
@pytest.mark.parametrize("transport_", ["tcp", "ipc"])
@pytest.mark.parametrize("sub_binds", [False, True], ids=["xpub_binds", "sub_binds"])
@pytest.mark.parametrize("smq_xpub", [True, False], ids=["smq_XPUB-zmq_SUB", "zmq_XPUB-smq_SUB"])
@pytest.mark.parametrize("verbose", [False, True], ids=["default", "xpub_verbose"])
def test_interop_xpub_duplicates(
    mk: Make,
    mkz: Make,
    ipc_path: str,
    transport_: str,
    sub_binds: bool,
    smq_xpub: bool,
    verbose: bool,
) -> None:
    xpub = (mk if smq_xpub else mkz)(zmq.XPUB)
    if verbose:
        xpub.setsockopt(zmq.XPUB_VERBOSE, 1)
    sub1, sub2 = ((mkz if smq_xpub else mk)(zmq.SUB) for _ in range(2))
    _link(xpub, sub1, transport_, ipc_path, sub_binds=sub_binds)
    if sub_binds:
        _await_attached(xpub, sub1)
    sub1.subscribe(b"dup")
    assert xpub.recv_multipart() == [b"\x01dup"]
    _link(xpub, sub2, transport_, ipc_path + "-2", sub_binds=sub_binds)
    if sub_binds:
        _await_attached(xpub, sub2)
    sub2.subscribe(b"dup")
    sub2.subscribe(b"zz-mark")
    if verbose:
        assert xpub.recv_multipart() == [b"\x01dup"]
    assert xpub.recv_multipart() == [b"\x01zz-mark"]
    xpub.send(b"dup-data")
    assert _next(sub1) == [b"dup-data"]
    assert _next(sub2) == [b"dup-data"]


def test_topics_count(ctx: Any) -> None:
    """TOPICS_COUNT (libzmq draft): subscriptions held by a subscriber or a publisher."""
    sub = ctx.socket(smq.SUB)
    assert sub.topics_count == 0
    sub.subscribe(b"a")
    sub.subscribe(b"b")
    sub.subscribe(b"a")  # counted twice, one topic
    assert sub.getsockopt(smq.TOPICS_COUNT) == 2
    sub.unsubscribe(b"b")
    assert sub.topics_count == 1
    dealer = ctx.socket(smq.DEALER)
    with pytest.raises(smq.ZMQError) as exc:
        dealer.getsockopt(smq.TOPICS_COUNT)
    assert exc.value.errno == smq.EINVAL
    sub.close()
    dealer.close()
