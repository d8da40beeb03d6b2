"""Interop with libzmq (through pyzmq): every compatible socket pair, both roles, both ends.

Each test builds one socket with securemq and the other with libzmq, binds one and
connects the other, and checks what arrives byte for byte. Every socket has ``rcvtimeo``
and ``sndtimeo`` so that a protocol hang fails in seconds rather than at the suite
timeout.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pytest

import securemq

zmq = pytest.importorskip("zmq")

pytestmark = pytest.mark.interop

TIMEOUT_MS = 3000
QUIET_MS = 300  # how long "nothing arrives" is watched

BIG = os.urandom(1 << 20)
#: Bodies exchanged in every direction: one frame, empty frames at both ends and in the
#: middle, an empty message, and 1 MiB (alone and next to a small frame).
BODIES: list[list[bytes]] = [
    [b"hello"],
    [b"", b"part", b"", b"end", b""],
    [b""],
    [BIG],
    [b"head", BIG, b"tail"],
]


def _errno(exc: BaseException) -> int | None:
    return getattr(exc, "errno", None)


def _tune(sock: Any) -> Any:
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, TIMEOUT_MS)
    sock.setsockopt(zmq.SNDTIMEO, TIMEOUT_MS)
    return sock


@pytest.fixture
def new(ctx: securemq.Context, zctx: Any) -> Any:
    """A factory of tuned sockets, ``new(context, type)``, all closed after the test.

    pyzmq warns (an error under our filterwarnings) about sockets left to the garbage
    collector, so every socket is closed explicitly before the contexts go.
    """
    made: list[Any] = []

    def make(context: Any, socket_type: int) -> Any:
        sock = _tune(context.socket(socket_type))
        made.append(sock)
        return sock

    yield make
    for sock in made:
        sock.close(linger=0)


def _bind(sock: Any, transport: str, ipc_path: str) -> str:
    """Bind to a free endpoint and return what a peer connects to."""
    sock.bind("tcp://127.0.0.1:*" if transport == "tcp" else ipc_path)
    return sock.getsockopt(zmq.LAST_ENDPOINT).decode()


def _quiet(sock: Any, ms: int = QUIET_MS) -> bool:
    """True if nothing becomes receivable on ``sock`` within ``ms``."""
    return sock.poll(ms, zmq.POLLIN) == 0


def _send_routable(router: Any, msg: list[bytes]) -> None:
    """Send from a ROUTER with ROUTER_MANDATORY, retrying until the peer is known."""
    deadline = time.monotonic() + 1  # a loopback handshake takes milliseconds
    while True:
        try:
            router.send_multipart(msg)
            return
        except Exception as exc:  # securemq and pyzmq each have their own ZMQError
            if _errno(exc) != zmq.EHOSTUNREACH or time.monotonic() > deadline:
                raise
        time.sleep(0.005)  # polling for the handshake; bounded by the deadline


# -- what each pair exchanges -----------------------------------------------------------
#
# An exchange takes the two sockets (first type, second type of the pair) and moves
# every body in each direction the pattern allows.


def _x_pair(a: Any, b: Any) -> None:
    for body in BODIES:
        a.send_multipart(body)
        assert b.recv_multipart() == body
        b.send_multipart(body[::-1])
        assert a.recv_multipart() == body[::-1]


def _x_push_pull(push: Any, pull: Any) -> None:
    for body in BODIES:
        push.send_multipart(body)
    for body in BODIES:
        assert pull.recv_multipart() == body


def _x_req_rep(req: Any, rep: Any) -> None:
    for body in BODIES:
        req.send_multipart(body)
        assert rep.recv_multipart() == body
        rep.send_multipart([b"re", *body])
        assert req.recv_multipart() == [b"re", *body]


def _x_req_router(req: Any, router: Any) -> None:
    for body in BODIES:
        req.send_multipart(body)
        rid, delim, *got = router.recv_multipart()
        assert rid and delim == b"" and got == body
        router.send_multipart([rid, b"", b"re", *body])
        assert req.recv_multipart() == [b"re", *body]


def _x_dealer_rep(dealer: Any, rep: Any) -> None:
    for body in BODIES:
        dealer.send_multipart([b"", *body])
        assert rep.recv_multipart() == body
        rep.send_multipart([b"re", *body])
        assert dealer.recv_multipart() == [b"", b"re", *body]


def _x_dealer_router(dealer: Any, router: Any) -> None:
    for body in BODIES:
        dealer.send_multipart(body)
        rid, *got = router.recv_multipart()
        assert rid and got == body
        router.send_multipart([rid, b"re", *body])
        assert dealer.recv_multipart() == [b"re", *body]


def _x_dealer_dealer(a: Any, b: Any) -> None:
    _x_pair(a, b)


def _x_router_router(a: Any, b: Any) -> None:
    # Both sockets were given routing ids and ROUTER_MANDATORY; ``a`` is the connecting
    # side, which cannot know when the binder becomes routable, so it retries.
    a_id, b_id = a.getsockopt(zmq.ROUTING_ID), b.getsockopt(zmq.ROUTING_ID)
    for body in BODIES:
        _send_routable(a, [b_id, *body])
        assert b.recv_multipart() == [a_id, *body]
        b.send_multipart([a_id, b"re", *body])
        assert a.recv_multipart() == [b_id, b"re", *body]


PAIRS: dict[str, tuple[int, int, Callable[[Any, Any], None]]] = {
    "PAIR-PAIR": (zmq.PAIR, zmq.PAIR, _x_pair),
    "PUSH-PULL": (zmq.PUSH, zmq.PULL, _x_push_pull),
    "REQ-REP": (zmq.REQ, zmq.REP, _x_req_rep),
    "REQ-ROUTER": (zmq.REQ, zmq.ROUTER, _x_req_router),
    "DEALER-REP": (zmq.DEALER, zmq.REP, _x_dealer_rep),
    "DEALER-ROUTER": (zmq.DEALER, zmq.ROUTER, _x_dealer_router),
    "DEALER-DEALER": (zmq.DEALER, zmq.DEALER, _x_dealer_dealer),
    "ROUTER-ROUTER": (zmq.ROUTER, zmq.ROUTER, _x_router_router),
}



def _matrix() -> list[Any]:
    params = []
    for name, (ta, tb, _) in PAIRS.items():
        for smq in ("first", "second"):
            for binder in ("first", "second"):
                # With two sockets of one type only "securemq binds" and "securemq
                # connects" differ.
                if ta == tb and smq == "second":
                    continue
                role = "binds" if smq == binder else "connects"
                for transport in ("tcp", "ipc"):
                    params.append(
                        pytest.param(
                            name,
                            smq,
                            binder,
                            transport,
                            id=f"{name}-smq_{smq}_{role}-{transport}",
                        )
                    )
    return params


@pytest.mark.parametrize(("pair", "smq", "binder", "transport"), _matrix())
def test_pair_matrix(
    new: Any,
    ctx: securemq.Context,
    zctx: Any,
    ipc_path: str,
    pair: str,
    smq: str,
    binder: str,
    transport: str,
) -> None:
    ta, tb, exchange = PAIRS[pair]
    a_ctx, b_ctx = (ctx, zctx) if smq == "first" else (zctx, ctx)
    a, b = new(a_ctx, ta), new(b_ctx, tb)
    if pair == "ROUTER-ROUTER":
        for s, rid in ((a, b"router-a"), (b, b"router-b")):
            s.setsockopt(zmq.ROUTING_ID, rid)
            s.setsockopt(zmq.ROUTER_MANDATORY, 1)
    bind_s, conn_s = (a, b) if binder == "first" else (b, a)
    addr = _bind(bind_s, transport, ipc_path)
    conn_s.connect(addr)
    if pair == "ROUTER-ROUTER" and binder == "first":
        # The exchange starts from the first socket; let it be the connecter so that
        # the retry loop covers the handshake.
        a, b = b, a
    exchange(a, b)


# -- routing ids ---------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
@pytest.mark.parametrize("smq_router", [True, False], ids=["smq_router", "zmq_router"])
@pytest.mark.parametrize("router_binds", [True, False], ids=["router_binds", "router_connects"])
def test_router_sees_dealer_routing_id(
    new: Any,
    ctx: securemq.Context,
    zctx: Any,
    ipc_path: str,
    transport: str,
    smq_router: bool,
    router_binds: bool,
) -> None:
    router = new(ctx if smq_router else zctx, zmq.ROUTER)
    dealers = []
    for rid in (b"dealer-one", b"dealer-two"):
        d = new(zctx if smq_router else ctx, zmq.DEALER)
        d.setsockopt(zmq.ROUTING_ID, rid)
        dealers.append((rid, d))
    if router_binds:
        addr = _bind(router, transport, ipc_path)
        for _, d in dealers:
            d.connect(addr)
    else:
        for i, (_, d) in enumerate(dealers):
            path = f"{ipc_path}{i}"
            router.connect(_bind(d, transport, path))
    for rid, d in dealers:
        d.send(b"hello from " + rid)
    seen = {}
    for _ in dealers:
        rid, body = router.recv_multipart()
        seen[rid] = body
    assert seen == {rid: b"hello from " + rid for rid, _ in dealers}
    # Route back by id, in the reverse order; each dealer gets exactly its own.
    for rid, _ in reversed(dealers):
        router.send_multipart([rid, b"for " + rid])
    for rid, d in dealers:
        assert d.recv_multipart() == [b"for " + rid]
        assert _quiet(d, 50)


@pytest.mark.parametrize(
    ("conn_type", "smq_binder"),
    [
        pytest.param(zmq.ROUTER, True, id="zmq_ROUTER_probes_smq"),
        pytest.param(zmq.DEALER, True, id="zmq_DEALER_probes_smq"),
        pytest.param(zmq.ROUTER, False, id="smq_ROUTER_probes_zmq"),
        pytest.param(zmq.DEALER, False, id="smq_DEALER_probes_zmq"),
    ],
)
@pytest.mark.parametrize("transport", ["tcp", "ipc"])
def test_probe_router(
    new: Any,
    ctx: securemq.Context,
    zctx: Any,
    ipc_path: str,
    conn_type: int,
    smq_binder: bool,
    transport: str,
) -> None:
    """A connecting ROUTER/DEALER with PROBE_ROUTER announces itself with an empty message."""
    router = new(ctx if smq_binder else zctx, zmq.ROUTER)
    router.setsockopt(zmq.RCVTIMEO, 1000)
    router.setsockopt(zmq.ROUTING_ID, b"the-router")
    prober = new(zctx if smq_binder else ctx, conn_type)
    prober.setsockopt(zmq.ROUTING_ID, b"prober")
    prober.setsockopt(zmq.PROBE_ROUTER, 1)
    prober.connect(_bind(router, transport, ipc_path))
    assert router.recv_multipart() == [b"prober", b""]
    router.send_multipart([b"prober", b"welcome"])
    expected = [b"the-router", b"welcome"] if conn_type == zmq.ROUTER else [b"welcome"]
    assert prober.recv_multipart() == expected


# -- incompatible socket types ---------------------------------------------------------

#: (sender type, receiver type, compatible sender type for the receiver)
INCOMPATIBLE = [
    (zmq.PUSH, zmq.DEALER, zmq.DEALER),
    (zmq.PUSH, zmq.PAIR, zmq.PAIR),
    (zmq.PUSH, zmq.ROUTER, zmq.DEALER),
    (zmq.DEALER, zmq.PULL, zmq.PUSH),
    (zmq.PAIR, zmq.PULL, zmq.PUSH),
    (zmq.REQ, zmq.PULL, zmq.PUSH),
    (zmq.DEALER, zmq.PAIR, zmq.PAIR),
    (zmq.REQ, zmq.REQ, None),
    (zmq.REP, zmq.DEALER, zmq.DEALER),
]
_NAMES = {
    v: k
    for k, v in vars(zmq).items()
    if k in ("PAIR", "PUSH", "PULL", "REQ", "REP", "DEALER", "ROUTER")
}


@pytest.mark.parametrize(
    ("st", "rt", "good"),
    INCOMPATIBLE,
    ids=[f"{_NAMES[s]}-to-{_NAMES[r]}" for s, r, _ in INCOMPATIBLE],
)
@pytest.mark.parametrize("smq_sender", [True, False], ids=["smq_sends", "zmq_sends"])
@pytest.mark.parametrize("sender_binds", [False, True], ids=["recv_binds", "send_binds"])
def test_incompatible_types_deliver_nothing(
    request: pytest.FixtureRequest,
    new: Any,
    ctx: securemq.Context,
    zctx: Any,
    ipc_path: str,
    st: int,
    rt: int,
    good: int | None,
    smq_sender: bool,
    sender_binds: bool,
) -> None:
    send_ctx, recv_ctx = (ctx, zctx) if smq_sender else (zctx, ctx)
    sender = new(send_ctx, st)
    receiver = new(recv_ctx, rt)
    if sender_binds:
        receiver.connect(_bind(sender, "tcp", ipc_path))
    else:
        sender.connect(_bind(receiver, "tcp", ipc_path))
    if st == zmq.REP:
        # A REP cannot send first; an incompatible peer must not even reach it.
        assert _quiet(sender)
        with pytest.raises(Exception) as info:
            sender.send(b"x")
        assert _errno(info.value) == zmq.EFSM
        return
    for i in range(1 if st == zmq.REQ else 3):
        try:
            sender.send(b"bad %d" % i, zmq.DONTWAIT)
        except Exception as exc:  # no pipe yet: nothing to queue to
            assert _errno(exc) == zmq.EAGAIN
            break
    if rt == zmq.PAIR and sender_binds:
        good = None  # the PAIR's one connection is the (refused) one to the sender
    if good is not None:
        # A compatible sender on the same receiver proves that the receiver works and
        # gives the bad messages time to arrive if they were (wrongly) accepted.
        ok = new(send_ctx, good)
        if sender_binds:
            receiver.connect(_bind(ok, "tcp", ipc_path))
        else:
            ok.connect(receiver.getsockopt(zmq.LAST_ENDPOINT).decode())
        ok.send(b"good")
        got = receiver.recv_multipart()
        assert got[-1] == b"good", got
    assert _quiet(receiver)


@pytest.mark.parametrize(
    ("st", "peer_t"),
    [
        (zmq.PUSH, zmq.PUSH),
        (zmq.PUSH, zmq.DEALER),
        (zmq.DEALER, zmq.PULL),
        (zmq.PAIR, zmq.DEALER),
        (zmq.PUSH, zmq.PULL),  # the control: compatible, so it must become writable
    ],
    ids=["PUSH-PUSH", "PUSH-DEALER", "DEALER-PULL", "PAIR-DEALER", "control-PUSH-PULL"],
)
@pytest.mark.parametrize("smq_sender", [True, False], ids=["smq_sends", "zmq_sends"])
@pytest.mark.parametrize("sender_binds", [False, True], ids=["peer_binds", "send_binds"])
def test_incompatible_peer_never_becomes_writable(
    new: Any,
    ctx: securemq.Context,
    zctx: Any,
    st: int,
    peer_t: int,
    smq_sender: bool,
    sender_binds: bool,
) -> None:
    """With IMMEDIATE a sender only counts completed handshakes: a refused peer (even
    one that cannot send, like a PUSH) never makes it writable."""
    sender = new(ctx if smq_sender else zctx, st)
    sender.setsockopt(zmq.IMMEDIATE, 1)
    peer = new(zctx if smq_sender else ctx, peer_t)
    if sender_binds:
        peer.connect(_bind(sender, "tcp", ""))
    else:
        sender.connect(_bind(peer, "tcp", ""))
    if peer_t == zmq.PULL and st == zmq.PUSH:
        assert sender.poll(TIMEOUT_MS, zmq.POLLOUT) == zmq.POLLOUT
        sender.send(b"ok")
        assert peer.recv() == b"ok"
    else:
        assert sender.poll(QUIET_MS, zmq.POLLOUT) == 0
        with pytest.raises(Exception) as info:
            sender.send(b"x", zmq.DONTWAIT)
        assert _errno(info.value) == zmq.EAGAIN


# -- large messages ----------------------------------------------------------------------


@pytest.mark.timeout(180)
@pytest.mark.parametrize("smq_sender", [True, False], ids=["smq_to_zmq", "zmq_to_smq"])
def test_100mib_message(new: Any, ctx: securemq.Context, zctx: Any, smq_sender: bool) -> None:
    push = new(ctx if smq_sender else zctx, zmq.PUSH)
    pull = new(zctx if smq_sender else ctx, zmq.PULL)
    for s in (push, pull):
        s.setsockopt(zmq.RCVTIMEO, 120_000)
        s.setsockopt(zmq.SNDTIMEO, 120_000)
    push.connect(_bind(pull, "tcp", ""))
    body = bytes(range(256)) * (100 * 4096)  # 100 MiB with a recognisable pattern
    assert len(body) == 100 << 20
    push.send_multipart([b"big", body, b"end"])
    got = pull.recv_multipart()
    assert [len(f) for f in got] == [3, len(body), 3]
    assert got[0] == b"big" and got[2] == b"end"
    assert got[1] == body


# -- frame metadata over the wire ----------------------------------------------------------


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
def test_frame_reports_libzmq_socket_type(
    new: Any, ctx: securemq.Context, zctx: Any, ipc_path: str, transport: str
) -> None:
    pull = new(ctx, zmq.PULL)
    push = new(zctx, zmq.PUSH)
    push.connect(_bind(pull, transport, ipc_path))
    push.send(b"x")
    frame = pull.recv(copy=False)
    assert frame.bytes == b"x"
    assert frame.get("Socket-Type") == "PUSH"


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
def test_libzmq_frame_reports_securemq_socket_type(
    new: Any, ctx: securemq.Context, zctx: Any, ipc_path: str, transport: str
) -> None:
    dealer = new(ctx, zmq.DEALER)
    dealer.setsockopt(zmq.ROUTING_ID, b"who")
    router = new(zctx, zmq.ROUTER)
    dealer.connect(_bind(router, transport, ipc_path))
    dealer.send(b"x")
    rid, frame = router.recv_multipart(copy=False)
    assert rid.bytes == b"who"
    assert frame.get("Socket-Type") == "DEALER"
    assert frame.get("Identity") == "who"
