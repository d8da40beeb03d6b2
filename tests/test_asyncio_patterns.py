"""Every socket pattern through securemq.asyncio, mirroring the synchronous suites.

test_patterns.py, test_pubsub.py and test_stream.py check socket-type semantics with
blocking calls; this module checks the same behaviour with awaitables, on one event
loop, over the transports those suites use (plus ipc where they only use tcp: the
asyncio socket waits the same way whatever the transport). It adds what only asyncio
has: several tasks awaiting one socket, ``asyncio.wait_for`` and cancellation, pending
awaits when a socket closes or its context terminates, and many sockets on one loop
without a thread each.

No test sleeps to let things settle. Every wait is an ``await`` bounded by ``T`` seconds
(``rcvtimeo``/``sndtimeo`` on every socket, or ``asyncio.wait_for``); "nothing arrives"
is checked by polling for ``QUIET_MS``. Coroutines run with ``asyncio.run``, as in
test_asyncio.py (pytest-asyncio is not a dependency).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import socket
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

import securemq as zmq
import securemq.asyncio as zasync

pytestmark = pytest.mark.timeout(60)

TIMEOUT_MS = 3000  # rcvtimeo/sndtimeo of every socket: a hang fails in seconds
T = 5.0  # seconds: the bound of any single await that is expected to finish
QUIET_MS = 200  # how long "nothing (more) arrives" is watched
SYNC_S = 5.0  # how long pub-sub probes are published before a subscription counts as lost
PROBE_POLL_MS = 20
_names = itertools.count()

_R = TypeVar("_R")
Make = Callable[..., zasync.Socket]
Bind = Callable[[zasync.Socket, str], str]

TRANSPORTS = ["inproc", "tcp", "ipc"]
transports = pytest.mark.parametrize("transport", TRANSPORTS)


def async_test(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run the coroutine test ``fn`` to completion on a fresh default event loop.

    pytest reads the fixtures ``fn`` takes through ``functools.wraps``.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


# -- fixtures and helpers --------------------------------------------------------------


@pytest.fixture
def actx() -> Iterator[zasync.Context]:
    """An asyncio context destroyed with linger 0 after the test."""
    c = zasync.Context()
    yield c
    c.destroy(linger=0)


@pytest.fixture
def mk(actx: zasync.Context) -> Make:
    """``mk(type, **options)``: an asyncio socket with linger 0 and I/O timeouts."""

    def make(kind: int, **opts: Any) -> zasync.Socket:
        s = actx.socket(kind)
        s.linger = 0
        s.rcvtimeo = TIMEOUT_MS
        s.sndtimeo = TIMEOUT_MS
        for name, value in opts.items():
            setattr(s, name, value)
        assert isinstance(s, zasync.Socket)
        return s

    return make


@pytest.fixture
def bind(tmp_path: Path) -> Bind:
    """``bind(sock, transport)``: bind to a fresh endpoint; return what peers connect to."""

    def do_bind(sock: zasync.Socket, transport: str) -> str:
        if transport == "inproc":
            addr = f"inproc://asyncio-patterns-{os.getpid()}-{next(_names)}"
            sock.bind(addr)
            return addr
        if transport == "ipc":
            sock.bind(f"ipc://{tmp_path / f's{next(_names)}'}")
        else:
            sock.bind("tcp://127.0.0.1:*")
        return str(sock.last_endpoint.decode())

    return do_bind


async def within(aw: Awaitable[_R], seconds: float = T) -> _R:
    """``aw``, which must finish within ``seconds``."""
    return await asyncio.wait_for(aw, seconds)


async def quiet(sock: zasync.Socket, ms: int = QUIET_MS) -> bool:
    """True if no message can be received from ``sock`` for ``ms`` milliseconds.

    A POLLIN without a message (a peer leaving) does not count, as in test_patterns.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ms / 1000
    while (left := deadline - loop.time()) > 0:
        if await sock.poll(max(1, int(left * 1000)), zmq.POLLIN):
            try:
                await sock.recv_multipart(zmq.DONTWAIT)
            except zmq.Again:
                continue
            return False
    return True


async def errno_of(aw: Awaitable[Any]) -> int:
    """Await ``aw``, which must raise ``ZMQError``; return its errno."""
    with pytest.raises(zmq.ZMQError) as info:
        await aw
    return info.value.errno


async def fill(sock: zasync.Socket, limit: int = 10_000) -> int:
    """Send empty messages with DONTWAIT until EAGAIN; return how many were queued."""
    n = 0
    while n < limit:
        try:
            await sock.send(b"%d" % n, zmq.DONTWAIT)
        except zmq.Again:
            break
        n += 1
    return n


async def drain(sock: zasync.Socket) -> list[bytes]:
    """Receive with DONTWAIT until EAGAIN; return what was queued."""
    got = []
    while True:
        try:
            got.append(await sock.recv(zmq.DONTWAIT))
        except zmq.Again:
            return got


async def pending(task: asyncio.Future[Any], ms: int = QUIET_MS) -> bool:
    """True if ``task`` is still not done after ``ms`` milliseconds of loop time."""
    done, _ = await asyncio.wait({task}, timeout=ms / 1000)
    return not done


# -- PAIR (RFC 31) -----------------------------------------------------------------------


@transports
@async_test
async def test_pair_both_ways(mk: Make, bind: Bind, transport: str) -> None:
    a, b = mk(zmq.PAIR), mk(zmq.PAIR)
    b.connect(bind(a, transport))
    await b.send(b"")
    assert await a.recv() == b""
    await b.send_multipart([b"", b"", b""])
    frames = await a.recv_multipart(copy=False)
    assert [(f.bytes, f.more) for f in frames] == [(b"", True), (b"", True), (b"", False)]
    await a.send_multipart([b"", b"mid", b""])
    assert await b.recv_multipart() == [b"", b"mid", b""]

    async def ping(n: int) -> None:
        for i in range(n):
            await a.send(b"%d" % i)
            assert await a.recv() == b"re %d" % i

    async def pong(n: int) -> None:
        for _ in range(n):
            await b.send(b"re " + await b.recv())

    await within(asyncio.gather(ping(200), pong(200)))


@transports
@async_test
async def test_pair_is_exclusive(mk: Make, bind: Bind, transport: str) -> None:
    a = mk(zmq.PAIR)
    addr = bind(a, transport)
    b, c = mk(zmq.PAIR), mk(zmq.PAIR)
    b.connect(addr)
    await b.send(b"from b")
    assert await a.recv() == b"from b"
    c.connect(addr)
    await c.send(b"from c", zmq.DONTWAIT)  # queued on its side, refused by the binder
    await a.send(b"to the one peer")
    assert await b.recv() == b"to the one peer"
    assert await quiet(a)
    assert await quiet(c, 50)


# -- PUSH / PULL (RFC 30) ----------------------------------------------------------------


@transports
@async_test
async def test_push_round_robins_over_three_pulls(mk: Make, bind: Bind, transport: str) -> None:
    push = mk(zmq.PUSH)
    pulls = [mk(zmq.PULL) for _ in range(3)]
    for p in pulls:
        push.connect(bind(p, transport))
    for i in range(30):
        await push.send(b"%d" % i)

    async def take(p: zasync.Socket) -> list[int]:
        return sorted([int(await p.recv()) for _ in range(10)])

    received = await within(asyncio.gather(*(take(p) for p in pulls)))
    for p in pulls:
        assert await quiet(p, 50)
    # Exactly ten each, and each PULL got every third message.
    assert sorted(x for r in received for x in r) == list(range(30))
    for r in received:
        assert {x % 3 for x in r} == {r[0] % 3}


@async_test
async def test_push_binder_round_robins_over_connected_pulls(mk: Make, bind: Bind) -> None:
    push = mk(zmq.PUSH)
    addr = bind(push, "inproc")
    pulls = [mk(zmq.PULL) for _ in range(3)]
    for p in pulls:
        p.connect(addr)
    for i in range(30):
        await push.send(b"%d" % i)
    assert [len([await p.recv() for _ in range(10)]) for p in pulls] == [10, 10, 10]
    for p in pulls:
        assert await quiet(p, 50)


@transports
@async_test
async def test_pull_fair_queues_three_pushes(mk: Make, bind: Bind, transport: str) -> None:
    pull = mk(zmq.PULL)
    addr = bind(pull, transport)
    pushes = [mk(zmq.PUSH) for _ in range(3)]
    for p in pushes:
        p.connect(addr)

    async def produce(n: int, p: zasync.Socket) -> None:
        for i in range(10):
            await p.send_multipart([b"%d" % n, b"%d" % i])

    await within(asyncio.gather(*(produce(n, p) for n, p in enumerate(pushes))))
    got = [await pull.recv_multipart() for _ in range(30)]
    assert await quiet(pull, 50)
    for n in range(3):  # every message, each sender's in order
        assert [int(i) for s, i in got if s == b"%d" % n] == list(range(10))
    if transport == "inproc":
        # Everything was queued before the first recv: strict alternation.
        senders = [s for s, _ in got]
        for k in range(0, 30, 3):
            assert sorted(senders[k : k + 3]) == [b"0", b"1", b"2"], senders


@transports
@async_test
async def test_pipeline_producer_consumer_tasks(mk: Make, bind: Bind, transport: str) -> None:
    """A producer task blocked on HWM 1 is woken each time the consumer task reads."""
    n = 2000
    pull = mk(zmq.PULL, rcvhwm=1)
    push = mk(zmq.PUSH, sndhwm=1)
    push.connect(bind(pull, transport))

    async def produce() -> None:
        for i in range(n):
            await push.send(b"%d" % i)

    async def consume() -> list[bytes]:
        return [await pull.recv() for _ in range(n)]

    _, got = await within(asyncio.gather(produce(), consume()), 30)
    assert got == [b"%d" % i for i in range(n)]


@async_test
async def test_send_on_pull_and_recv_on_push_are_not_supported(mk: Make) -> None:
    assert await errno_of(mk(zmq.PULL).send(b"x")) == zmq.ENOTSUP
    assert await errno_of(mk(zmq.PUSH).recv()) == zmq.ENOTSUP
    assert await errno_of(mk(zmq.PUSH).recv_multipart(zmq.DONTWAIT)) == zmq.ENOTSUP


@async_test
async def test_connect_before_bind_inproc(mk: Make) -> None:
    addr = f"inproc://asyncio-early-{next(_names)}"
    push = mk(zmq.PUSH)
    push.connect(addr)
    await push.send(b"early")
    pull = mk(zmq.PULL)
    pull.bind(addr)
    assert await pull.recv() == b"early"
    await push.send(b"late")
    assert await pull.recv() == b"late"


@async_test
async def test_connect_before_bind_tcp(mk: Make) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    addr = f"tcp://127.0.0.1:{port}"
    push = mk(zmq.PUSH, reconnect_ivl=20)
    push.connect(addr)
    await push.send(b"early")
    pull = mk(zmq.PULL)
    pull.bind(addr)
    assert await pull.recv() == b"early"


# -- REQ / REP (RFC 28) ------------------------------------------------------------------


@transports
@async_test
async def test_req_rep_tasks(mk: Make, bind: Bind, transport: str) -> None:
    rep, req = mk(zmq.REP), mk(zmq.REQ)
    req.connect(bind(rep, transport))

    async def server() -> None:
        for _ in range(100):
            msg = await rep.recv_multipart()
            await rep.send_multipart([b"re:", *msg])

    async def client() -> list[list[bytes]]:
        replies = []
        for i in range(100):
            await req.send_multipart([b"%d" % i, b"x"])
            replies.append(await req.recv_multipart())
        return replies

    _, replies = await within(asyncio.gather(server(), client()))
    assert replies == [[b"re:", b"%d" % i, b"x"] for i in range(100)]


@async_test
async def test_req_rep_state_machine_efsm(mk: Make, bind: Bind) -> None:
    rep, req = mk(zmq.REP), mk(zmq.REQ)
    req.connect(bind(rep, "inproc"))
    assert await errno_of(req.recv()) == zmq.EFSM
    assert await errno_of(rep.send(b"x")) == zmq.EFSM
    await req.send(b"q")
    assert await errno_of(req.send(b"again")) == zmq.EFSM
    assert await errno_of(req.send(b"again", zmq.SNDMORE)) == zmq.EFSM
    assert await errno_of(req.send_multipart([b"again", b"x"])) == zmq.EFSM
    assert await rep.recv() == b"q"
    assert await errno_of(rep.recv()) == zmq.EFSM
    await rep.send(b"r")
    assert await req.recv() == b"r"
    assert await errno_of(req.recv()) == zmq.EFSM


@async_test
async def test_req_load_balances_over_reps(mk: Make, bind: Bind) -> None:
    req = mk(zmq.REQ)
    reps = [mk(zmq.REP) for _ in range(2)]
    for r in reps:
        req.connect(bind(r, "inproc"))
    for i in range(4):
        await req.send(b"%d" % i)
        r = reps[i % 2]
        assert await r.recv() == b"%d" % i
        await r.send(b"ok")
        assert await req.recv() == b"ok"


@pytest.mark.parametrize("relaxed", [0, 1])
@async_test
async def test_req_relaxed(mk: Make, bind: Bind, relaxed: int) -> None:
    rep = mk(zmq.REP)
    req = mk(zmq.REQ, req_relaxed=relaxed)
    req.connect(bind(rep, "inproc"))
    await req.send(b"q1")
    assert await rep.recv() == b"q1"
    if not relaxed:
        assert await errno_of(req.send(b"q2")) == zmq.EFSM
        return
    await req.send(b"q2")  # allowed: the first request is abandoned
    await rep.send(b"r1")
    assert await rep.recv() == b"q2"
    await rep.send(b"r2")
    # Without REQ_CORRELATE the stale reply is taken for the new one (libzmq does this).
    assert await req.recv() == b"r1"


@async_test
async def test_req_correlate_drops_stale_reply(mk: Make, bind: Bind) -> None:
    rep = mk(zmq.REP)
    req = mk(zmq.REQ, req_relaxed=1, req_correlate=1)
    req.connect(bind(rep, "inproc"))
    await req.send(b"q1")
    assert await rep.recv() == b"q1"
    await req.send(b"q2")
    await rep.send(b"r1")  # the reply to the abandoned request
    assert await rep.recv() == b"q2"
    await rep.send(b"r2")
    assert await req.recv() == b"r2"
    assert await req.poll(50) == 0


@async_test
async def test_req_correlate_wire_format(mk: Make, bind: Bind) -> None:
    router = mk(zmq.ROUTER)
    req = mk(zmq.REQ, routing_id=b"req", req_relaxed=1, req_correlate=1)
    req.connect(bind(router, "inproc"))
    await req.send(b"q1")
    rid, id1, delim, body = await router.recv_multipart()
    assert (rid, len(id1), delim, body) == (b"req", 4, b"", b"q1")
    await req.send(b"q2")
    _, id2, _, _ = await router.recv_multipart()
    assert id2 != id1
    await router.send_multipart([rid, id1, b"", b"r1"])
    await router.send_multipart([rid, id2, b"", b"r2"])
    assert await req.recv() == b"r2"
    await req.send(b"q3")
    _, id3, _, _ = await router.recv_multipart()
    await router.send_multipart([rid, id3, b"", b"part", b"", b"end"])
    assert await req.recv_multipart() == [b"part", b"", b"end"]


@async_test
async def test_rep_keeps_the_whole_envelope(mk: Make, bind: Bind) -> None:
    rep, dealer = mk(zmq.REP), mk(zmq.DEALER)
    dealer.connect(bind(rep, "inproc"))
    await dealer.send_multipart([b"hop2", b"hop1", b"", b"body", b"", b"x"])
    assert await rep.recv_multipart() == [b"body", b"", b"x"]
    await rep.send_multipart([b"reply"])
    assert await dealer.recv_multipart() == [b"hop2", b"hop1", b"", b"reply"]
    # A request without a delimiter is not a request: REP discards it.
    await dealer.send_multipart([b"no", b"delimiter"])
    await dealer.send_multipart([b"", b"good"])
    assert await rep.recv_multipart() == [b"good"]


@transports
@async_test
async def test_rep_behind_an_asyncio_proxy(mk: Make, bind: Bind, transport: str) -> None:
    """REQ clients, a ROUTER/DEALER proxy task and REP workers, all on one loop."""
    frontend, backend = mk(zmq.ROUTER), mk(zmq.DEALER)
    front_addr, back_addr = bind(frontend, transport), bind(backend, transport)
    workers = [mk(zmq.REP) for _ in range(2)]
    for w in workers:
        w.connect(back_addr)
    clients = [mk(zmq.REQ, routing_id=b"c%d" % i) for i in range(4)]
    for c in clients:
        c.connect(front_addr)
    rounds = 10

    async def forward(src: zasync.Socket, dst: zasync.Socket) -> None:
        while True:
            msg = await src.recv_multipart()
            await dst.send_multipart(msg)

    async def work(w: zasync.Socket, n: int) -> None:
        while True:
            body = await w.recv()
            await w.send(body + b" by %d" % n)

    async def client(c: zasync.Socket) -> list[bytes]:
        replies = []
        for i in range(rounds):
            await c.send(c.routing_id + b" asks %d" % i)
            replies.append(await c.recv())
        return replies

    background = [
        asyncio.ensure_future(forward(frontend, backend)),
        asyncio.ensure_future(forward(backend, frontend)),
        *(asyncio.ensure_future(work(w, n)) for n, w in enumerate(workers)),
    ]
    try:
        results = await within(asyncio.gather(*(client(c) for c in clients)))
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
    for c, replies in zip(clients, results):
        asks = [c.routing_id + b" asks %d" % i for i in range(rounds)]
        assert [r.rsplit(b" by ", 1)[0] for r in replies] == asks
    # Both workers took part: REQ-side DEALER round-robins.
    served = {r.rsplit(b" by ", 1)[1] for replies in results for r in replies}
    assert served == {b"0", b"1"}


# -- DEALER / ROUTER (RFC 28) ------------------------------------------------------------


@transports
@async_test
async def test_dealer_round_robins_and_fair_queues(mk: Make, bind: Bind, transport: str) -> None:
    dealer = mk(zmq.DEALER)
    routers = [mk(zmq.ROUTER) for _ in range(3)]
    for r in routers:
        dealer.connect(bind(r, transport))
    for i in range(9):
        await dealer.send(b"%d" % i)
    for k, r in enumerate(routers):
        msgs = [await r.recv_multipart() for _ in range(3)]
        assert await quiet(r, 50)
        bodies = [int(m[1]) for m in msgs]
        assert {b % 3 for b in bodies} == {bodies[0] % 3}
        await r.send_multipart([msgs[0][0], b"from %d" % k])
    replies = sorted([await dealer.recv() for _ in routers])
    assert replies == [b"from 0", b"from 1", b"from 2"]


@transports
@async_test
async def test_router_routes_by_routing_id(mk: Make, bind: Bind, transport: str) -> None:
    router = mk(zmq.ROUTER)
    addr = bind(router, transport)
    dealers = {rid: mk(zmq.DEALER, routing_id=rid) for rid in (b"A", b"B", b"C")}
    for d in dealers.values():
        d.connect(addr)
        await d.send(b"hi")
    seen = sorted([await router.recv_multipart() for _ in dealers])
    assert seen == [[b"A", b"hi"], [b"B", b"hi"], [b"C", b"hi"]]
    for rid in (b"C", b"A", b"B"):
        await router.send_multipart([rid, b"to " + rid])
    for rid, d in dealers.items():
        assert await d.recv_multipart() == [b"to " + rid]
        assert await quiet(d, 50)


@async_test
async def test_router_assigns_ids_to_anonymous_peers(mk: Make, bind: Bind) -> None:
    router = mk(zmq.ROUTER)
    addr = bind(router, "inproc")
    dealers = [mk(zmq.DEALER) for _ in range(2)]
    for d in dealers:
        d.connect(addr)
        await d.send(b"x")
    ids = [(await router.recv_multipart())[0] for _ in dealers]
    assert len(set(ids)) == 2
    for rid in ids:  # RFC 37: generated ids are 5 octets starting with a zero octet
        assert len(rid) == 5 and rid[0] == 0


@transports
@async_test
async def test_router_drops_unroutable_silently(mk: Make, bind: Bind, transport: str) -> None:
    router = mk(zmq.ROUTER)
    d = mk(zmq.DEALER, routing_id=b"known")
    d.connect(bind(router, transport))
    await d.send(b"hello")
    assert await router.recv_multipart() == [b"known", b"hello"]
    assert await router.send_multipart([b"nobody", b"lost"]) is None
    await router.send_multipart([b"known", b"found"])
    assert await d.recv() == b"found"
    assert await quiet(d, 50)


@transports
@async_test
async def test_router_mandatory_unknown_id_is_ehostunreach(
    mk: Make, bind: Bind, transport: str
) -> None:
    router = mk(zmq.ROUTER, router_mandatory=1)
    d = mk(zmq.DEALER, routing_id=b"known")
    d.connect(bind(router, transport))
    await d.send(b"hi")
    assert await router.recv_multipart() == [b"known", b"hi"]
    assert await errno_of(router.send_multipart([b"nobody", b"x"])) == zmq.EHOSTUNREACH
    # libzmq reports it on the first frame already.
    assert await errno_of(router.send(b"nobody", zmq.SNDMORE)) == zmq.EHOSTUNREACH
    await router.send_multipart([b"known", b"x"])
    assert await d.recv() == b"x"


@async_test
async def test_router_mandatory_full_pipe_waits_without_spinning(mk: Make, bind: Bind) -> None:
    """ROUTER reports POLLOUT whatever one pipe's fill: a send to a full pipe must wait
    for that pipe (letting other tasks run), not spin on the ready event."""
    router = mk(zmq.ROUTER, router_mandatory=1, sndhwm=1)
    d = mk(zmq.DEALER, routing_id=b"d", rcvhwm=1)
    d.connect(bind(router, "inproc"))
    await d.send(b"hi")
    await router.recv_multipart()
    assert await fill_router(router, b"d") == 2  # inproc: SNDHWM plus the peer's RCVHWM
    assert await router.poll(0, zmq.POLLOUT) == zmq.POLLOUT  # as libzmq: ROUTER is writable
    send = asyncio.ensure_future(router.send_multipart([b"d", b"more"]))
    assert await pending(send)  # the loop ran meanwhile: nothing spins
    assert [await d.recv() for _ in range(3)] == [b"0", b"1", b"more"]
    await within(send)


async def fill_router(router: zasync.Socket, rid: bytes) -> int:
    n = 0
    while n < 100:
        try:
            await router.send_multipart([rid, b"%d" % n], zmq.DONTWAIT)
        except zmq.Again:
            return n
        n += 1
    return n


@transports
@async_test
async def test_router_mandatory_sees_new_peer(mk: Make, bind: Bind, transport: str) -> None:
    """Sending to a peer that is still connecting is EHOSTUNREACH until it is routable."""
    a = mk(zmq.ROUTER, routing_id=b"A", router_mandatory=1)
    b = mk(zmq.DEALER, routing_id=b"B")
    b.connect(bind(a, transport))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + T
    while True:
        try:
            await a.send_multipart([b"B", b"hello"])
            break
        except zmq.ZMQError as exc:
            assert exc.errno == zmq.EHOSTUNREACH
            assert loop.time() < deadline, "B never became routable"
        await a.poll(5)  # lets the handshake finish; bounded by the deadline
    assert await b.recv_multipart() == [b"hello"]


@transports
@async_test
async def test_probe_router(mk: Make, bind: Bind, transport: str) -> None:
    router = mk(zmq.ROUTER)
    dealer = mk(zmq.DEALER, routing_id=b"probe", probe_router=1)
    dealer.connect(bind(router, transport))
    assert await router.recv_multipart() == [b"probe", b""]
    await router.send_multipart([b"probe", b"ok"])
    assert await dealer.recv() == b"ok"


@pytest.mark.parametrize("handover", [0, 1])
@async_test
async def test_router_handover(mk: Make, bind: Bind, handover: int) -> None:
    router = mk(zmq.ROUTER, router_handover=handover)
    addr = bind(router, "inproc")
    first = mk(zmq.DEALER, routing_id=b"X")
    first.connect(addr)
    await first.send(b"one")
    assert await router.recv_multipart() == [b"X", b"one"]
    second = mk(zmq.DEALER, routing_id=b"X")
    second.connect(addr)
    await second.send(b"two")
    if handover:
        assert await router.recv_multipart() == [b"X", b"two"]
        await router.send_multipart([b"X", b"reply"])
        assert await second.recv() == b"reply"
        assert await quiet(first, 50)
    else:
        assert await quiet(router)
        await router.send_multipart([b"X", b"reply"])
        assert await first.recv() == b"reply"
        assert await quiet(second, 50)


@transports
@async_test
async def test_dealer_send_and_recv_in_two_tasks(mk: Make, bind: Bind, transport: str) -> None:
    """One task awaits recv while another awaits send on the same DEALER: both wake."""
    router = mk(zmq.ROUTER)
    dealer = mk(zmq.DEALER, routing_id=b"d", sndhwm=1)
    dealer.connect(bind(router, transport))
    n = 300

    async def sender() -> None:
        for i in range(n):
            await dealer.send(b"%d" % i)

    async def receiver() -> list[bytes]:
        return [await dealer.recv() for _ in range(n)]

    async def echo() -> None:
        for _ in range(n):
            rid, body = await router.recv_multipart()
            await router.send_multipart([rid, b"re " + body])

    _, got, _ = await within(asyncio.gather(sender(), receiver(), echo()), 30)
    assert got == [b"re %d" % i for i in range(n)]


@async_test
async def test_send_by_one_task_does_not_steal_anothers_wakeup(mk: Make, bind: Bind) -> None:
    """A send that drains the mailbox (clearing the descriptor) must not leave a task
    that awaits recv on the same socket asleep with a message waiting."""
    router = mk(zmq.ROUTER)
    dealer = mk(zmq.DEALER, routing_id=b"d")
    dealer.connect(bind(router, "inproc"))
    await dealer.send(b"hello")
    assert await router.recv_multipart() == [b"d", b"hello"]
    recv = asyncio.ensure_future(dealer.recv())
    assert await pending(recv, 20)  # waiting on the descriptor
    await router.send_multipart([b"d", b"reply"])  # signals the dealer's descriptor...
    await dealer.send(b"more")  # ...which this send drains before the loop looks
    assert await within(recv) == b"reply"


@async_test
async def test_two_tasks_await_recv_on_one_socket(mk: Make, bind: Bind) -> None:
    pull, push = mk(zmq.PULL), mk(zmq.PUSH)
    push.connect(bind(pull, "inproc"))
    tasks = [asyncio.ensure_future(pull.recv()) for _ in range(5)]
    assert await pending(asyncio.gather(*tasks), 20)
    for i in range(5):
        await push.send(b"%d" % i)
    assert sorted(await within(asyncio.gather(*tasks))) == [b"%d" % i for i in range(5)]


# -- PUB / SUB, XPUB / XSUB (RFC 29) -----------------------------------------------------

COMBOS = [
    pytest.param((zmq.PUB, zmq.SUB), id="PUB-SUB"),
    pytest.param((zmq.XPUB, zmq.SUB), id="XPUB-SUB"),
    pytest.param((zmq.PUB, zmq.XSUB), id="PUB-XSUB"),
]


@pytest.fixture(params=COMBOS)
def pubsub(
    request: pytest.FixtureRequest, mk: Make, bind: Bind, transport: str
) -> tuple[zasync.Socket, zasync.Socket]:
    """A connected (publisher, subscriber) with no subscriptions yet."""
    pub_t, sub_t = request.param
    pub, sub = mk(pub_t), mk(sub_t)
    sub.connect(bind(pub, transport))
    return pub, sub


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def subscribe(sock: zasync.Socket, topic: bytes) -> None:
    """Subscribe a SUB (option) or an XSUB (a ``\\x01`` message upstream)."""
    if sock.socket_type == zmq.XSUB:
        await sock.send(b"\x01" + topic)
    else:
        sock.subscribe(topic)


async def unsubscribe(sock: zasync.Socket, topic: bytes) -> None:
    if sock.socket_type == zmq.XSUB:
        await sock.send(b"\x00" + topic)
    else:
        sock.unsubscribe(topic)


async def sync(pub: zasync.Socket, sub: zasync.Socket, topic: bytes,
               strict: bool = True) -> None:
    """Publish probes on ``topic`` until ``sub`` gets one, then flush every probe.

    As test_pubsub._sync: a probe arriving proves that the publisher has processed every
    (un)subscription sent up to the one that let it through. With ``strict`` nothing
    else may be in flight; otherwise other topics' probes are skipped too.
    """
    probe, end = topic + b"#probe", topic + b"#end"

    def check(got: list[bytes]) -> None:
        is_probe = len(got) == 1 and got[0].endswith((b"#probe", b"#end"))
        assert got == [probe] or (not strict and is_probe), got

    loop = asyncio.get_running_loop()
    deadline = loop.time() + SYNC_S
    while True:
        await pub.send(probe)
        if await sub.poll(PROBE_POLL_MS, zmq.POLLIN):
            got = await sub.recv_multipart()
            check(got)
            if got == [probe]:
                break
        assert loop.time() < deadline, f"no probe on {topic!r} arrived in {SYNC_S}s"
    await pub.send(end)
    while (got := await sub.recv_multipart()) != [end]:
        check(got)


@async_test
async def test_prefix_match(pubsub: tuple[zasync.Socket, zasync.Socket]) -> None:
    pub, sub = pubsub
    await subscribe(sub, b"a")
    await sync(pub, sub, b"a")
    for msg in (b"abc", b"b", b"", b"xa", b"a", b"ba", b"A", b"\x00a", b"abc-last"):
        await pub.send(msg)
    assert await sub.recv_multipart() == [b"abc"]
    assert await sub.recv_multipart() == [b"a"]
    assert await sub.recv_multipart() == [b"abc-last"]
    assert await quiet(sub)


@async_test
async def test_no_subscription_gets_nothing(
    pubsub: tuple[zasync.Socket, zasync.Socket], mk: Make
) -> None:
    pub, sub = pubsub
    other = mk(zmq.SUB)  # proves the messages were published
    other.connect(pub.last_endpoint.decode())
    other.subscribe(b"")
    await sync(pub, other, b"t")
    await pub.send(b"t1")
    await pub.send(b"")
    assert await other.recv_multipart() == [b"t1"]
    assert await other.recv_multipart() == [b""]
    assert await quiet(sub)


@async_test
async def test_multiple_subscriptions_and_unsubscribe(
    pubsub: tuple[zasync.Socket, zasync.Socket]
) -> None:
    pub, sub = pubsub
    for t in (b"a", b"b", b"ab"):
        await subscribe(sub, t)
    await sync(pub, sub, b"a")
    await sync(pub, sub, b"b")
    for m in (b"a1", b"c1", b"b1", b"abc", b"ca", b"bb", b"", b"zz"):
        await pub.send(m)
    # b"abc" matches two subscriptions ("a" and "ab") and still arrives once.
    assert [await sub.recv_multipart() for _ in range(4)] == [[b"a1"], [b"b1"], [b"abc"], [b"bb"]]
    assert await quiet(sub, 50)
    await unsubscribe(sub, b"a")
    await unsubscribe(sub, b"ab")
    await subscribe(sub, b"sync")  # travels after the unsubscriptions
    await sync(pub, sub, b"sync")
    await pub.send(b"a-after")
    await pub.send(b"b-after")
    assert await sub.recv_multipart() == [b"b-after"]


@async_test
async def test_multipart_filters_on_first_frame(
    pubsub: tuple[zasync.Socket, zasync.Socket]
) -> None:
    pub, sub = pubsub
    await subscribe(sub, b"top")
    await sync(pub, sub, b"top")
    await pub.send_multipart([b"other", b"top", b"topic"])  # only the first frame counts
    await pub.send_multipart([b"topic", b"body1", b"", b"body3"])
    await pub.send(b"to", zmq.SNDMORE)
    await pub.send(b"p-split")
    await pub.send_multipart([b"top-big", b"\x07" * 100_000])
    assert await sub.recv_multipart() == [b"topic", b"body1", b"", b"body3"]
    big = await sub.recv_multipart()
    assert big == [b"top-big", b"\x07" * 100_000]
    # Frame by frame, with RCVMORE, through the awaitable recv.
    await pub.send_multipart([b"top", b"one", b"two"])
    assert await sub.recv() == b"top" and sub.rcvmore == 1
    assert await sub.recv() == b"one" and sub.rcvmore == 1
    assert await sub.recv() == b"two" and sub.rcvmore == 0
    assert await quiet(sub, 50)


@async_test
async def test_fan_out(mk: Make, bind: Bind, transport: str) -> None:
    pub = mk(zmq.PUB)
    addr = bind(pub, transport)
    subs = {t: mk(zmq.SUB) for t in (b"a", b"b", b"")}
    for t, s in subs.items():
        s.connect(addr)
        s.subscribe(t)
    await sync(pub, subs[b"a"], b"a")
    await sync(pub, subs[b"b"], b"b")
    await sync(pub, subs[b""], b"e", strict=False)  # it also got the probes above
    for m in (b"a1", b"b1", b"c1"):
        await pub.send(m)

    async def take(s: zasync.Socket, n: int) -> list[list[bytes]]:
        return [await s.recv_multipart() for _ in range(n)]

    got = await within(asyncio.gather(take(subs[b"a"], 1), take(subs[b"b"], 1),
                                      take(subs[b""], 3)))
    assert got == [[[b"a1"]], [[b"b1"]], [[b"a1"], [b"b1"], [b"c1"]]]


@async_test
async def test_pub_recv_and_sub_send_are_not_supported(mk: Make) -> None:
    pub, sub = mk(zmq.PUB), mk(zmq.SUB)
    assert await errno_of(pub.recv()) == zmq.ENOTSUP
    assert await errno_of(pub.recv_multipart(zmq.DONTWAIT)) == zmq.ENOTSUP
    assert await errno_of(sub.send(b"x")) == zmq.ENOTSUP
    assert await errno_of(sub.send_multipart([b"x", b"y"])) == zmq.ENOTSUP


@async_test
async def test_xpub_receives_subscription_messages(mk: Make, bind: Bind, transport: str) -> None:
    xpub, sub = mk(zmq.XPUB), mk(zmq.SUB)
    sub.connect(bind(xpub, transport))
    sub.subscribe(b"topic")
    assert await xpub.recv_multipart() == [b"\x01topic"]
    await xpub.send(b"topic-data")  # in force once delivered to the application
    await xpub.send(b"other")
    await xpub.send(b"topic-2")
    assert await sub.recv_multipart() == [b"topic-data"]
    assert await sub.recv_multipart() == [b"topic-2"]
    sub.subscribe(b"")
    assert await xpub.recv_multipart() == [b"\x01"]
    sub.unsubscribe(b"topic")
    assert await xpub.recv_multipart() == [b"\x00topic"]
    sub.unsubscribe(b"")
    assert await xpub.recv_multipart() == [b"\x00"]


@pytest.mark.parametrize("verbose", [0, 1], ids=["default", "xpub_verbose"])
@async_test
async def test_xpub_duplicate_subscriptions(
    mk: Make, bind: Bind, transport: str, verbose: int
) -> None:
    xpub = mk(zmq.XPUB, xpub_verbose=verbose)
    addr = bind(xpub, transport)
    sub1, sub2 = mk(zmq.SUB), mk(zmq.SUB)
    sub1.connect(addr)
    sub1.subscribe(b"dup")
    assert await xpub.recv_multipart() == [b"\x01dup"]
    sub2.connect(addr)
    sub2.subscribe(b"dup")
    sub2.subscribe(b"zz-mark")  # travels after b"dup" on the same connection
    if verbose:
        assert await xpub.recv_multipart() == [b"\x01dup"]
    assert await xpub.recv_multipart() == [b"\x01zz-mark"]
    if verbose:
        return
    sub1.unsubscribe(b"dup")  # counted: only the last subscriber's unsubscription passes
    sub1.subscribe(b"zz-mark1")
    assert await xpub.recv_multipart() == [b"\x01zz-mark1"]
    sub2.unsubscribe(b"dup")
    assert await xpub.recv_multipart() == [b"\x00dup"]


@async_test
async def test_xsub_to_xpub_passes_subscriptions(mk: Make, bind: Bind, transport: str) -> None:
    xpub, xsub = mk(zmq.XPUB), mk(zmq.XSUB)
    xsub.connect(bind(xpub, transport))
    await xsub.send(b"\x01abc")
    assert await xpub.recv_multipart() == [b"\x01abc"]
    await xpub.send(b"abc-data")
    assert await xsub.recv_multipart() == [b"abc-data"]
    await xsub.send(b"\x00abc")
    assert await xpub.recv_multipart() == [b"\x00abc"]


@async_test
async def test_xpub_xsub_proxy_task(mk: Make, bind: Bind, transport: str) -> None:
    """An XSUB/XPUB forwarder as two tasks: subscriptions go up, data comes down."""
    pub, xsub, xpub, sub = mk(zmq.PUB), mk(zmq.XSUB), mk(zmq.XPUB), mk(zmq.SUB)
    xsub.connect(bind(pub, transport))
    sub.connect(bind(xpub, transport))

    async def forward(src: zasync.Socket, dst: zasync.Socket) -> None:
        while True:
            await dst.send_multipart(await src.recv_multipart())

    tasks = [asyncio.ensure_future(forward(xpub, xsub)),
             asyncio.ensure_future(forward(xsub, xpub))]
    try:
        sub.subscribe(b"news")
        await sync(pub, sub, b"news")
        await pub.send(b"weather")
        await pub.send_multipart([b"news-1", b"body"])
        assert await sub.recv_multipart() == [b"news-1", b"body"]
        assert await quiet(sub, 50)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.parametrize("pub_t", [zmq.PUB, zmq.XPUB], ids=["PUB", "XPUB"])
@async_test
async def test_pub_never_blocks(mk: Make, bind: Bind, transport: str, pub_t: int) -> None:
    """With a subscriber that never reads, awaiting a send never suspends: excess drops."""
    pub = mk(pub_t, sndhwm=10)
    sub = mk(zmq.SUB, rcvhwm=10)
    sub.connect(bind(pub, transport))
    sub.subscribe(b"")
    await sync(pub, sub, b"s")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    tick = asyncio.ensure_future(ticker())
    await asyncio.sleep(0)
    before = ticks
    for i in range(3000):
        await pub.send(b"%d " % i + b"f" * 1024)  # sndtimeo is set: blocking would raise
    assert ticks == before  # no send suspended
    tick.cancel()
    got = 0
    while await sub.poll(QUIET_MS):
        await sub.recv()
        got += 1
    assert 0 < got < 3000
    await sync(pub, sub, b"after")  # still works once the subscriber caught up


# -- STREAM: raw TCP peers that are asyncio streams ---------------------------------------


async def stream_read(s: zasync.Socket, rid: bytes, n: int) -> bytes:
    """Receive from STREAM ``s`` until ``n`` bytes came from ``rid`` (TCP may split them)."""
    data = b""
    while len(data) < n:
        got_rid, chunk = await s.recv_multipart()
        assert got_rid == rid and chunk, (got_rid, chunk)
        data += chunk
    return data


@async_test
async def test_stream_accepts_an_asyncio_client(mk: Make) -> None:
    s = mk(zmq.STREAM)
    port = s.bind_to_random_port("tcp://127.0.0.1")
    reader, writer = await within(asyncio.open_connection("127.0.0.1", port))
    rid, body = await s.recv_multipart()
    assert body == b"" and len(rid) == 5  # the connect notification
    writer.write(b"hello")
    await writer.drain()
    assert await stream_read(s, rid, 5) == b"hello"
    await s.send_multipart([rid, b"world"])
    assert await within(reader.readexactly(5)) == b"world"
    writer.close()
    await writer.wait_closed()
    assert await s.recv_multipart() == [rid, b""]  # the peer left


@async_test
async def test_stream_echo_server_for_many_asyncio_clients(mk: Make) -> None:
    s = mk(zmq.STREAM)
    port = s.bind_to_random_port("tcp://127.0.0.1")

    async def echo() -> None:
        while True:
            rid, data = await s.recv_multipart()
            if data:
                await s.send_multipart([rid, data.upper()])

    async def client(i: int) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        line = b"client %d says hello\n" % i
        writer.write(line)
        await writer.drain()
        reply = await reader.readexactly(len(line))
        writer.close()
        await writer.wait_closed()
        return reply

    server = asyncio.ensure_future(echo())
    try:
        replies = await within(asyncio.gather(*(client(i) for i in range(20))), 15)
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
    assert replies == [b"CLIENT %d SAYS HELLO\n" % i for i in range(20)]


@async_test
async def test_stream_connects_to_an_asyncio_server(mk: Make) -> None:
    accepted: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = \
        asyncio.Queue()

    async def on_client(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await accepted.put((r, w))

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    s = mk(zmq.STREAM)
    s.connect_routing_id = b"web"
    s.connect(f"tcp://127.0.0.1:{port}")
    reader, writer = await within(accepted.get())
    try:
        assert await s.recv_multipart() == [b"web", b""]
        request = b"GET / HTTP/1.0\r\n\r\n"
        await s.send_multipart([b"web", request])
        assert await within(reader.readexactly(len(request))) == request
        writer.write(b"HTTP/1.0 200 OK\r\n\r\nhi")
        await writer.drain()
        assert await stream_read(s, b"web", 21) == b"HTTP/1.0 200 OK\r\n\r\nhi"
        writer.close()
        await writer.wait_closed()
        assert await s.recv_multipart() == [b"web", b""]
    finally:
        server.close()
        await server.wait_closed()


@async_test
async def test_stream_empty_frame_closes_the_connection(mk: Make) -> None:
    s = mk(zmq.STREAM)
    port = s.bind_to_random_port("tcp://127.0.0.1")
    reader, writer = await within(asyncio.open_connection("127.0.0.1", port))
    rid, _ = await s.recv_multipart()
    await s.send_multipart([rid, b"bye"])
    await s.send_multipart([rid, b""])
    assert await within(reader.read()) == b"bye"  # then EOF: what preceded was written
    writer.close()
    await writer.wait_closed()
    assert not await s.poll(QUIET_MS)  # our own close is not announced back


@async_test
async def test_stream_unknown_routing_id(mk: Make) -> None:
    s = mk(zmq.STREAM)
    s.bind_to_random_port("tcp://127.0.0.1")
    assert await errno_of(s.send_multipart([b"\x00nope", b"data"])) == zmq.EHOSTUNREACH


# -- HWM and EAGAIN ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sndhwm", "rcvhwm", "expected"), [(1, 1, 2), (3, 5, 8), (0, 1, 10_000)]
)
@async_test
async def test_hwm_inproc_dontwait(mk: Make, bind: Bind, sndhwm: int, rcvhwm: int,
                                   expected: int) -> None:
    pull = mk(zmq.PULL, rcvhwm=rcvhwm)
    push = mk(zmq.PUSH, sndhwm=sndhwm)
    push.connect(bind(pull, "inproc"))
    assert await fill(push) == expected
    assert await drain(pull) == [b"%d" % i for i in range(expected)]


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
@async_test
async def test_hwm_dontwait_over_a_connection(mk: Make, bind: Bind, transport: str) -> None:
    """Over tcp/ipc the count depends on buffering; EAGAIN comes and nothing is lost."""
    pull = mk(zmq.PULL, rcvhwm=5)
    push = mk(zmq.PUSH, sndhwm=5)
    push.connect(bind(pull, transport))
    await push.send(b"first")  # waits (sndtimeo) for the connection
    assert await pull.recv() == b"first"
    n = await fill(push, 100_000)
    assert 5 <= n < 100_000  # at least SNDHWM; more once the I/O thread moved some on
    got = []
    while len(got) < n:
        got.append(await pull.recv())
    assert got == [b"%d" % i for i in range(n)]
    assert await quiet(pull, 50)


@async_test
async def test_no_peer_dontwait_is_again(mk: Make) -> None:
    push = mk(zmq.PUSH)
    with pytest.raises(zmq.Again):
        await push.send(b"nobody", zmq.DONTWAIT)
    assert await push.poll(0, zmq.POLLOUT) == 0


# -- timeouts --------------------------------------------------------------------------


@pytest.mark.parametrize("timeo", [0, 200])
@async_test
async def test_rcvtimeo_raises_again(mk: Make, bind: Bind, timeo: int) -> None:
    pull = mk(zmq.PULL, rcvtimeo=timeo)
    bind(pull, "inproc")
    loop = asyncio.get_running_loop()
    for call in (pull.recv, pull.recv_multipart, pull.recv_string, pull.recv_json):
        t0 = loop.time()
        with pytest.raises(zmq.Again):
            await call()
        assert timeo / 1000 * 0.9 <= loop.time() - t0 < timeo / 1000 + 1


@async_test
async def test_sndtimeo_raises_again(mk: Make, bind: Bind) -> None:
    loop = asyncio.get_running_loop()
    lonely = mk(zmq.PUSH, sndtimeo=200)
    t0 = loop.time()
    with pytest.raises(zmq.Again):
        await lonely.send(b"no peer")
    assert 0.18 <= loop.time() - t0 < 2
    pull = mk(zmq.PULL, rcvhwm=1)
    push = mk(zmq.PUSH, sndhwm=1, sndtimeo=200)
    push.connect(bind(pull, "inproc"))
    await push.send(b"1")
    await push.send(b"2")
    t0 = loop.time()
    with pytest.raises(zmq.Again):
        await push.send_multipart([b"3", b"tail"])
    assert 0.18 <= loop.time() - t0 < 2
    assert await pull.recv() == b"1"
    await push.send_multipart([b"3", b"tail"])  # the reader made room
    assert [await pull.recv_multipart() for _ in range(2)] == [[b"2"], [b"3", b"tail"]]


@async_test
async def test_timeout_bounds_the_whole_call(mk: Make, bind: Bind) -> None:
    """rcvtimeo is a deadline for the call, not per wake-up: wake-ups that bring nothing
    for this task (another task takes each message) do not extend it."""
    pull = mk(zmq.PULL, rcvtimeo=400)
    push = mk(zmq.PUSH)
    push.connect(bind(pull, "inproc"))
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    loser = asyncio.ensure_future(pull.recv())
    await asyncio.sleep(0)  # the call starts, and reads rcvtimeo
    pull.rcvtimeo = -1
    winners = 0

    async def steal() -> None:
        nonlocal winners
        while not loser.done():
            await push.send(b"x")
            await pull.recv()  # woken with the loser; it finishes first
            winners += 1
            await pull.poll(20)  # nothing comes: paces the loop

    stealer = asyncio.ensure_future(steal())
    with pytest.raises(zmq.Again):
        await within(loser)
    await within(stealer)
    assert winners > 3
    assert 0.35 <= loop.time() - t0 < 2


@async_test
async def test_wait_for_timeouts_leave_messages_queued(mk: Make, bind: Bind) -> None:
    pull = mk(zmq.PULL, rcvtimeo=-1, rcvhwm=1)
    push = mk(zmq.PUSH, sndtimeo=-1, sndhwm=1)
    push.connect(bind(pull, "inproc"))
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(pull.recv(), 0.05)
    assert await fill(push) == 2
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(push.send_multipart([b"never", b"sent"]), 0.05)
    assert await pull.recv() == b"0"
    await push.send(b"2")  # room again: the timed-out message did not take it
    # recv and send timed out again and again, racing with messages that arrive.
    for i in range(3, 200):
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(push.send(b"%d" % i), 0.001)
        assert await pull.recv() == b"%d" % (i - 2)
        await push.send(b"%d" % i)
    assert await drain(pull) == [b"198", b"199"]
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(pull.recv_multipart(), 0.01)
    await push.send_multipart([b"still", b"here"])
    assert await pull.recv_multipart() == [b"still", b"here"]


@async_test
async def test_loop_keeps_running_while_a_send_waits(mk: Make, bind: Bind) -> None:
    pull = mk(zmq.PULL, rcvhwm=1)
    push = mk(zmq.PUSH, sndhwm=1, sndtimeo=-1)
    push.connect(bind(pull, "inproc"))
    assert await fill(push) == 2
    send = asyncio.ensure_future(push.send(b"blocked"))
    ticks = 0
    while ticks < 100:
        await asyncio.sleep(0)
        ticks += 1
    assert not send.done()
    assert [await pull.recv() for _ in range(3)] == [b"0", b"1", b"blocked"]
    await within(send)


# -- many sockets, one loop, no thread per socket ----------------------------------------


@async_test
async def test_hundred_sockets_one_loop(mk: Make, bind: Bind) -> None:
    before = threading.active_count()
    pairs = []
    for i in range(50):
        pull, push = mk(zmq.PULL), mk(zmq.PUSH)
        push.connect(bind(pull, TRANSPORTS[i % 3]))
        pairs.append((pull, push))
    receivers = [asyncio.ensure_future(pull.recv_multipart()) for pull, _ in pairs]
    assert await pending(asyncio.gather(*receivers), 50)  # 50 awaits at once
    # One I/O thread for every tcp and ipc connection, none per socket.
    assert threading.active_count() <= before + 1
    for i, (_, push) in enumerate(pairs):
        await push.send_multipart([b"%d" % i, b"x" * i])
    got = await within(asyncio.gather(*receivers), 15)
    assert got == [[b"%d" % i, b"x" * i] for i in range(50)]
    assert threading.active_count() <= before + 1


# -- multipart atomicity -----------------------------------------------------------------


@transports
@async_test
async def test_multipart_not_visible_until_complete(mk: Make, bind: Bind, transport: str) -> None:
    pull, push = mk(zmq.PULL), mk(zmq.PUSH)
    push.connect(bind(pull, transport))
    recv = asyncio.ensure_future(pull.recv_multipart())
    await push.send(b"a", zmq.SNDMORE)
    await push.send(b"b", zmq.SNDMORE)
    assert await pending(recv, 100)
    await push.send(b"c")
    assert await within(recv) == [b"a", b"b", b"c"]
    await push.send_multipart([b"x", b"y", b"z"])
    assert await pull.recv() == b"x"
    assert pull.rcvmore == 1
    assert await pull.recv_multipart() == [b"y", b"z"]  # the rest of the current message
    assert pull.rcvmore == 0


@transports
@async_test
async def test_concurrent_multipart_sends_never_interleave(
    mk: Make, bind: Bind, transport: str
) -> None:
    pull = mk(zmq.PULL, rcvhwm=2)
    push = mk(zmq.PUSH, sndhwm=2)
    push.connect(bind(pull, transport))
    big = b"\x00" * 200_000

    async def sender(k: int) -> None:
        for i in range(20):
            await push.send_multipart([b"%d" % k, b"%d" % i, big if i % 5 == 0 else b"", b"end"])

    async def receiver() -> list[list[bytes]]:
        return [await pull.recv_multipart() for _ in range(100)]

    *_, got = await within(asyncio.gather(*(sender(k) for k in range(5)), receiver()), 30)
    for k in range(5):
        mine = [m for m in got if m[0] == b"%d" % k]
        assert [int(m[1]) for m in mine] == list(range(20))
        for m in mine:
            assert len(m) == 4 and m[3] == b"end"
            assert m[2] == (big if int(m[1]) % 5 == 0 else b"")


@transports
@async_test
async def test_partial_message_of_closed_sender_is_never_delivered(
    mk: Make, bind: Bind, transport: str
) -> None:
    pull = mk(zmq.PULL)
    addr = bind(pull, transport)
    bad = mk(zmq.PUSH)
    bad.connect(addr)
    await bad.send(b"orphan", zmq.SNDMORE)
    bad.close()
    good = mk(zmq.PUSH)
    good.connect(addr)
    await good.send_multipart([b"x", b"y"])
    assert await pull.recv_multipart() == [b"x", b"y"]
    assert await quiet(pull, 100)


# -- poll and Poller -------------------------------------------------------------------


@async_test
async def test_socket_poll_pollin_pollout(mk: Make, bind: Bind) -> None:
    push = mk(zmq.PUSH, sndhwm=1)
    assert await push.poll(20, zmq.POLLOUT) == 0  # no peer yet
    pull = mk(zmq.PULL, rcvhwm=1)
    waiting = asyncio.ensure_future(push.poll(None, zmq.POLLOUT))
    assert await pending(waiting, 20)
    push.connect(bind(pull, "inproc"))
    assert await within(waiting) == zmq.POLLOUT
    assert await pull.poll(0, zmq.POLLIN | zmq.POLLOUT) == 0
    await fill(push)
    assert await push.poll(0, zmq.POLLOUT) == 0  # full
    assert await pull.poll(T * 1000, zmq.POLLIN | zmq.POLLOUT) == zmq.POLLIN
    waiting = asyncio.ensure_future(push.poll(None, zmq.POLLOUT))
    assert await pending(waiting, 20)
    await drain(pull)
    assert await within(waiting) == zmq.POLLOUT


@async_test
async def test_req_poll_follows_the_state_machine(mk: Make, bind: Bind) -> None:
    rep, req = mk(zmq.REP), mk(zmq.REQ)
    req.connect(bind(rep, "tcp"))
    both = zmq.POLLIN | zmq.POLLOUT
    assert await req.poll(T * 1000, both) == zmq.POLLOUT
    await req.send(b"q")
    assert await req.poll(0, both) == 0
    assert await rep.poll(T * 1000, both) == zmq.POLLIN
    await rep.send(await rep.recv())
    assert await req.poll(T * 1000, both) == zmq.POLLIN
    await req.recv()
    assert await req.poll(0, both) == zmq.POLLOUT


@async_test
async def test_poller_pollin_pollout(mk: Make, bind: Bind) -> None:
    rep, req = mk(zmq.REP), mk(zmq.REQ)
    req.connect(bind(rep, "ipc"))
    pull, push = mk(zmq.PULL), mk(zmq.PUSH)
    push.connect(bind(pull, "inproc"))
    poller = zasync.Poller()
    poller.register(req, zmq.POLLIN | zmq.POLLOUT)
    poller.register(rep, zmq.POLLIN)
    poller.register(pull, zmq.POLLIN)
    assert dict(await poller.poll(T * 1000)) == {req: zmq.POLLOUT}
    await req.send(b"q")
    assert dict(await poller.poll(T * 1000)) == {rep: zmq.POLLIN}
    await rep.send(await rep.recv())
    assert dict(await poller.poll(T * 1000)) == {req: zmq.POLLIN}
    await req.recv()
    poller.unregister(req)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert await poller.poll(100) == []
    assert 0.09 <= loop.time() - t0 < 2
    waiting = asyncio.ensure_future(poller.poll())
    assert await pending(waiting, 20)
    await push.send(b"p")
    assert await within(waiting) == [(pull, zmq.POLLIN)]


@async_test
async def test_poller_with_a_plain_descriptor(mk: Make, bind: Bind) -> None:
    pull = mk(zmq.PULL)
    bind(pull, "inproc")
    a, b = socket.socketpair()
    with a, b:
        poller = zasync.Poller()
        poller.register(pull, zmq.POLLIN)
        poller.register(a, zmq.POLLIN)
        waiting = asyncio.ensure_future(poller.poll(T * 1000))
        assert await pending(waiting, 20)
        b.send(b"!")
        assert await within(waiting) == [(a.fileno(), zmq.POLLIN)]


@async_test
async def test_poller_and_recv_await_one_socket_together(mk: Make, bind: Bind) -> None:
    pull, push = mk(zmq.PULL), mk(zmq.PUSH)
    push.connect(bind(pull, "tcp"))
    poller = zasync.Poller()
    poller.register(pull, zmq.POLLIN)
    polled = asyncio.ensure_future(poller.poll(T * 1000))
    received = asyncio.ensure_future(pull.recv())
    assert await pending(asyncio.gather(polled, received), 20)
    await push.send(b"one")
    assert await within(received) == b"one"
    # The Poller was woken too; it reports what is ready when it looks (nothing now, so
    # it keeps waiting) and sees the next message.
    await push.send(b"two")
    assert await within(polled) == [(pull, zmq.POLLIN)]
    assert await pull.recv() == b"two"


# -- close and term with pending awaits --------------------------------------------------


@async_test
async def test_close_cancels_pending_awaits(mk: Make, bind: Bind) -> None:
    """As pyzmq: closing a socket cancels what awaits it; later calls are ENOTSOCK."""
    pull = mk(zmq.PULL, rcvtimeo=-1)
    bind(pull, "tcp")
    push = mk(zmq.PUSH, sndtimeo=-1)  # no peer: send waits
    waits = [pull.recv(), pull.recv_multipart(), pull.poll(), push.send(b"x"),
             push.poll(None, zmq.POLLOUT)]
    tasks = [asyncio.ensure_future(w) for w in waits]
    assert await pending(asyncio.gather(*tasks), 20)
    pull.close()
    push.close()
    for task in tasks:
        with pytest.raises(asyncio.CancelledError):
            await within(task)
    assert await errno_of(pull.recv()) == zmq.ENOTSOCK
    assert await errno_of(push.send(b"x")) == zmq.ENOTSOCK
    assert await errno_of(pull.poll(0)) == zmq.ENOTSOCK


@async_test
async def test_close_fails_a_pending_poller_with_enotsock(mk: Make, bind: Bind) -> None:
    pull = mk(zmq.PULL)
    bind(pull, "inproc")
    poller = zasync.Poller()
    poller.register(pull, zmq.POLLIN)
    waiting = asyncio.ensure_future(poller.poll())
    assert await pending(waiting, 20)
    pull.close()
    assert await errno_of(within(waiting)) == zmq.ENOTSOCK  # as the sync Poller


@async_test
async def test_close_from_another_thread_cancels(mk: Make, bind: Bind) -> None:
    pull = mk(zmq.PULL, rcvtimeo=-1)
    bind(pull, "inproc")
    recv = asyncio.ensure_future(pull.recv())
    assert await pending(recv, 20)
    await within(asyncio.to_thread(pull.close))
    with pytest.raises(asyncio.CancelledError):
        await within(recv)


@async_test
async def test_destroy_cancels_pending_awaits() -> None:
    ctx = zasync.Context()
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    pull.bind("tcp://127.0.0.1:*")
    tasks = [asyncio.ensure_future(pull.recv()), asyncio.ensure_future(push.send(b"x"))]
    assert await pending(asyncio.gather(*tasks), 20)
    ctx.destroy(linger=0)
    for task in tasks:
        with pytest.raises(asyncio.CancelledError):
            await within(task)
    assert ctx.closed


@async_test
async def test_term_fails_pending_awaits_with_context_terminated() -> None:
    """Context.term (in another thread: it blocks) wakes every pending await with
    ContextTerminated, as it wakes blocked synchronous calls; closing the sockets then
    lets term return. (pyzmq 27 leaves these awaits pending.)"""
    ctx = zasync.Context()
    pull, push, req = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH), ctx.socket(zmq.REQ)
    pull.bind("tcp://127.0.0.1:*")
    poller = zasync.Poller()
    poller.register(pull, zmq.POLLIN)
    waits = [pull.recv(), pull.poll(), push.send(b"x"), req.poll(None, zmq.POLLOUT),
             poller.poll()]
    tasks = [asyncio.ensure_future(w) for w in waits]
    assert await pending(asyncio.gather(*tasks), 20)
    term = asyncio.ensure_future(asyncio.to_thread(ctx.term))
    for task in tasks:
        with pytest.raises(zmq.ContextTerminated):
            await within(task)
    with pytest.raises(zmq.ContextTerminated):
        await pull.recv()
    with pytest.raises(zmq.ContextTerminated):
        await push.send(b"y", zmq.DONTWAIT)
    assert not term.done()
    for s in (pull, push, req):
        s.close(linger=0)
    await within(term)
    assert ctx.closed
