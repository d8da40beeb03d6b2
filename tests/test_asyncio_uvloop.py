"""securemq.asyncio on uvloop and on the default loop: the core scenarios under both.

uvloop (libuv) watches descriptors differently from the selector loop: readers are
libuv poll handles, and a descriptor must leave the loop before it is closed. Each
scenario runs on a fresh loop made by a factory, with ``asyncio.Runner`` (Python 3.11+)
or by hand; the global event loop policy is never touched, so uvloop's deprecated
``install()`` and policy APIs stay out of the way of ``filterwarnings = error``.
"""

from __future__ import annotations

import asyncio
import random
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from test_asyncio_patterns import T, fill, pending, quiet, sync, within

import securemq as zmq
import securemq.asyncio as zasync

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a test dependency where it builds
    uvloop = None

pytestmark = pytest.mark.timeout(60)

_R = TypeVar("_R")
Run = Callable[[Coroutine[Any, Any, _R]], _R]

LOOPS = [
    "asyncio",
    pytest.param("uvloop", marks=pytest.mark.skipif(
        uvloop is None, reason="uvloop is not importable here")),
]
TRANSPORTS = ["inproc", "tcp", "ipc"]


@pytest.fixture(params=LOOPS)
def run(request: pytest.FixtureRequest) -> Run[Any]:
    """``run(coro)``: run ``coro`` to completion on a new loop of the parameter's kind."""
    kind = request.param
    factory = uvloop.new_event_loop if kind == "uvloop" else asyncio.new_event_loop

    async def checked(coro: Coroutine[Any, Any, _R]) -> _R:
        loop = asyncio.get_running_loop()
        assert (type(loop).__module__.split(".")[0] == "uvloop") == (kind == "uvloop")
        return await coro

    def runner(coro: Coroutine[Any, Any, _R]) -> _R:
        if sys.version_info >= (3, 11):
            with asyncio.Runner(loop_factory=factory) as r:
                return r.run(checked(coro))
        loop = factory()  # pragma: no cover - Python 3.10
        try:
            return loop.run_until_complete(checked(coro))
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    return runner


@pytest.fixture
def actx() -> Iterator[zasync.Context]:
    c = zasync.Context()
    yield c
    c.destroy(linger=0)


def link(actx: zasync.Context, binder_t: int, connecter_t: int, transport: str,
         tmp_path: Any, **opts: Any) -> tuple[zasync.Socket, zasync.Socket]:
    """A (binder, connecter) pair with linger 0, timeouts and ``opts`` on both."""
    b, c = actx.socket(binder_t), actx.socket(connecter_t)
    for s in (b, c):
        s.linger = 0
        s.rcvtimeo = s.sndtimeo = 3000
        for name, value in opts.items():
            setattr(s, name, value)
    if transport == "inproc":
        b.bind(f"inproc://uvloop-{id(b)}")
    elif transport == "ipc":
        b.bind(f"ipc://{tmp_path / 'sock'}")
    else:
        b.bind("tcp://127.0.0.1:*")
    c.connect(b.last_endpoint.decode())
    return b, c


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_push_pull(run: Run[Any], actx: zasync.Context, transport: str, tmp_path: Any) -> None:
    pull, push = link(actx, zmq.PULL, zmq.PUSH, transport, tmp_path, sndhwm=10, rcvhwm=10)
    n = 3000

    async def main() -> list[list[bytes]]:
        async def produce() -> None:
            for i in range(n):
                await push.send_multipart([b"%d" % i, b"body"])

        async def consume() -> list[list[bytes]]:
            return [await pull.recv_multipart() for _ in range(n)]

        _, got = await within(asyncio.gather(produce(), consume()), 30)
        assert await fill(push) >= 10  # DONTWAIT sends until EAGAIN
        return got

    assert run(main()) == [[b"%d" % i, b"body"] for i in range(n)]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_req_rep(run: Run[Any], actx: zasync.Context, transport: str, tmp_path: Any) -> None:
    rep, req = link(actx, zmq.REP, zmq.REQ, transport, tmp_path)

    async def main() -> list[bytes]:
        async def server() -> None:
            for _ in range(300):
                await rep.send(b"re " + await rep.recv())

        async def client() -> list[bytes]:
            out = []
            for i in range(300):
                await req.send(b"%d" % i)
                out.append(await req.recv())
            with pytest.raises(zmq.ZMQError) as info:
                await req.recv()
            assert info.value.errno == zmq.EFSM
            return out

        _, replies = await within(asyncio.gather(server(), client()), 30)
        return replies

    assert run(main()) == [b"re %d" % i for i in range(300)]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_pub_sub(run: Run[Any], actx: zasync.Context, transport: str, tmp_path: Any) -> None:
    pub, sub = link(actx, zmq.PUB, zmq.SUB, transport, tmp_path)

    async def main() -> None:
        sub.subscribe(b"a")
        await sync(pub, sub, b"a")
        for m in (b"abc", b"b", b"", b"a", b"xa"):
            await pub.send(m)
        await pub.send_multipart([b"a-multi", b"", b"end"])
        assert [await sub.recv_multipart() for _ in range(3)] == \
            [[b"abc"], [b"a"], [b"a-multi", b"", b"end"]]
        assert await quiet(sub)

    run(main())


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_xpub_xsub(run: Run[Any], actx: zasync.Context, transport: str, tmp_path: Any) -> None:
    xpub, xsub = link(actx, zmq.XPUB, zmq.XSUB, transport, tmp_path)

    async def main() -> None:
        await xsub.send(b"\x01abc")
        assert await xpub.recv_multipart() == [b"\x01abc"]
        await xpub.send(b"abc-data")
        assert await xsub.recv_multipart() == [b"abc-data"]
        await xsub.send(b"\x00abc")
        assert await xpub.recv_multipart() == [b"\x00abc"]

    run(main())


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_dealer_router(run: Run[Any], actx: zasync.Context, transport: str,
                       tmp_path: Any) -> None:
    router, first = link(actx, zmq.ROUTER, zmq.DEALER, transport, tmp_path)
    router.router_mandatory = 1
    dealers = [first]
    for _ in range(2):
        d = actx.socket(zmq.DEALER)
        d.linger = 0
        d.connect(router.last_endpoint.decode())
        dealers.append(d)

    async def main() -> None:
        async def echo() -> None:
            while True:
                rid, *body = await router.recv_multipart()
                await router.send_multipart([rid, b"re", *body])

        async def client(d: zasync.Socket, k: int) -> list[list[bytes]]:
            out = []
            for i in range(100):
                await d.send_multipart([b"%d" % k, b"%d" % i])
                out.append(await d.recv_multipart())
            return out

        server = asyncio.ensure_future(echo())
        try:
            results = await within(asyncio.gather(*(client(d, k) for k, d in
                                                    enumerate(dealers))), 30)
        finally:
            server.cancel()
            await asyncio.gather(server, return_exceptions=True)
        for k, got in enumerate(results):
            assert got == [[b"re", b"%d" % k, b"%d" % i] for i in range(100)]
        with pytest.raises(zmq.ZMQError) as info:
            await router.send_multipart([b"nobody", b"x"])
        assert info.value.errno == zmq.EHOSTUNREACH

    run(main())


@pytest.mark.parametrize("transport", ["inproc", "tcp"])
def test_cancellation_never_loses_or_duplicates(
    run: Run[Any], actx: zasync.Context, transport: str, tmp_path: Any
) -> None:
    """About 1,000 random cancellations of recv and send, as in test_asyncio's 10,000:
    every message arrives exactly once, in order."""
    pull, push = link(actx, zmq.PULL, zmq.PUSH, transport, tmp_path, sndhwm=20, rcvhwm=20)
    pull.rcvtimeo = push.sndtimeo = -1
    n = 2000
    rng = random.Random(4321)

    async def attempt(make: Callable[[], Coroutine[Any, Any, _R]]) -> tuple[int, _R | None]:
        """Start ``make()`` and maybe cancel it soon after: (cancellations, result).

        The result is None when the call was cancelled before it finished: then it
        took or queued nothing.
        """
        task = asyncio.ensure_future(make())
        cancelled = 0
        if rng.random() < 0.8:
            for _ in range(rng.randrange(3)):
                await asyncio.sleep(0)
            cancelled = int(task.cancel())
        try:
            return cancelled, await task
        except asyncio.CancelledError:
            return cancelled, None

    async def sender() -> int:
        i = cancels = 0
        while i < n:
            msg = [b"%d" % i, b"tail"]
            cancelled, done = await attempt(lambda: push.send_multipart(msg, track=True))
            cancels += cancelled
            if done is not None:  # sent (a tracker came back); otherwise send it again
                i += 1
        return cancels

    async def receiver() -> tuple[list[bytes], int]:
        got: list[bytes] = []
        cancels = 0
        while len(got) < n:
            cancelled, msg = await attempt(pull.recv_multipart)
            cancels += cancelled
            if msg is not None:
                assert msg[1] == b"tail"
                got.append(msg[0])
        return got, cancels

    async def main() -> tuple[int, list[bytes], int]:
        s, (got, r) = await within(asyncio.gather(sender(), receiver()), 50)
        return s, got, r

    sent_cancels, got, recv_cancels = run(main())
    assert got == [b"%d" % i for i in range(n)]
    assert sent_cancels + recv_cancels >= 1000


def test_close_and_term_with_pending_awaits(run: Run[Any]) -> None:
    """Pending awaits are cancelled by close (in the loop's thread or another) and fail
    with ContextTerminated on term; a watched descriptor is never closed under the loop
    (libuv aborts the process if its number is reused meanwhile)."""

    async def main() -> None:
        ctx = zasync.Context()
        a, b = ctx.socket(zmq.PULL), ctx.socket(zmq.PULL)
        for s in (a, b):
            s.bind("tcp://127.0.0.1:*")
        closing = [asyncio.ensure_future(a.recv()), asyncio.ensure_future(a.poll())]
        terming = [asyncio.ensure_future(b.recv()), asyncio.ensure_future(b.poll())]
        assert await pending(asyncio.gather(*closing, *terming), 20)
        a.close(linger=0)
        for task in closing:
            with pytest.raises(asyncio.CancelledError):
                await within(task)
        for n in range(20):
            # Closed from another thread, then new sockets (which may take the closed
            # descriptor's number) are awaited at once: the loop must not mix them up.
            e = ctx.socket(zmq.PULL)
            e.bind(f"inproc://closed-elsewhere-{n}")
            waiting = asyncio.ensure_future(e.recv())
            await asyncio.sleep(0)  # it starts waiting
            # No wait_for around this: its extra loop iteration would hide the bug.
            await asyncio.to_thread(e.close, 0)
            with pytest.raises(asyncio.CancelledError):
                await within(waiting)
            c, d = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
            c.bind(f"inproc://after-close-{n}")
            d.connect(f"inproc://after-close-{n}")
            got = asyncio.ensure_future(c.recv())
            await d.send(b"fresh")
            assert await within(got) == b"fresh"
            c.close(linger=0)
            d.close(linger=0)
        term = asyncio.ensure_future(asyncio.to_thread(ctx.term))
        for task in terming:
            with pytest.raises(zmq.ContextTerminated):
                await within(task)
        b.close(linger=0)
        await within(term)

    run(main())


def test_stream_with_asyncio_streams(run: Run[Any], actx: zasync.Context) -> None:
    s = actx.socket(zmq.STREAM)
    s.linger = 0
    port = s.bind_to_random_port("tcp://127.0.0.1")

    async def main() -> None:
        reader, writer = await within(asyncio.open_connection("127.0.0.1", port))
        rid, note = await within(s.recv_multipart())
        assert note == b""
        writer.write(b"ping")
        await writer.drain()
        data = b""
        while len(data) < 4:
            r, chunk = await within(s.recv_multipart())
            assert r == rid
            data += chunk
        assert data == b"ping"
        await s.send_multipart([rid, b"pong"])
        assert await within(reader.readexactly(4)) == b"pong"
        writer.close()
        await writer.wait_closed()
        assert await within(s.recv_multipart()) == [rid, b""]

    run(main())


def test_many_sockets_one_loop(run: Run[Any], actx: zasync.Context, tmp_path: Any) -> None:
    before = threading.active_count()
    pairs = [link(actx, zmq.PULL, zmq.PUSH, TRANSPORTS[i % 2], tmp_path) for i in range(50)]

    async def main() -> list[bytes]:
        tasks = [asyncio.ensure_future(pull.recv()) for pull, _ in pairs]
        assert await pending(asyncio.gather(*tasks), 20)
        assert threading.active_count() <= before + 1
        poller = zasync.Poller()
        for pull, _ in pairs:
            poller.register(pull, zmq.POLLIN)
        for i, (_, push) in enumerate(pairs):
            await push.send(b"%d" % i)
        results = await within(asyncio.gather(*tasks), T * 3)
        assert await poller.poll(0) == []
        return results

    assert run(main()) == [b"%d" % i for i in range(50)]
