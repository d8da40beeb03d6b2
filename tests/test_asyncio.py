"""securemq.asyncio: awaitable sockets, as pyzmq's zmq.asyncio, and cancellation safety."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator

import pytest

import securemq as zmq
import securemq.asyncio as zasync

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def actx() -> Iterator[zasync.Context]:
    c = zasync.Context()
    yield c
    c.destroy(linger=0)


def _pair(actx: zasync.Context, a: int, b: int, transport: str = "tcp") -> tuple:
    x, y = actx.socket(a), actx.socket(b)
    for s in (x, y):
        s.linger = 0
    if transport == "inproc":
        x.bind(f"inproc://asyncio-{id(x)}")
    else:
        x.bind("tcp://127.0.0.1:*")
    y.connect(x.last_endpoint.decode())
    return x, y


def test_sockets_are_asyncio_sockets(actx: zasync.Context) -> None:
    s = actx.socket(zmq.PAIR)
    assert isinstance(s, zasync.Socket) and isinstance(s, zmq.Socket)


@pytest.mark.parametrize("transport", ["tcp", "inproc"])
def test_req_rep(actx: zasync.Context, transport: str) -> None:
    rep, req = _pair(actx, zmq.REP, zmq.REQ, transport)

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

    async def main() -> list[list[bytes]]:
        _, replies = await asyncio.gather(server(), client())
        return replies

    replies = asyncio.run(main())
    assert replies == [[b"re:", b"%d" % i, b"x"] for i in range(100)]


def test_string_json_pyobj(actx: zasync.Context) -> None:
    pull, push = _pair(actx, zmq.PULL, zmq.PUSH)

    async def main() -> tuple:
        await push.send_string("héllo")
        await push.send_json({"a": [1, 2]})
        await push.send_pyobj((1, "two"))
        return (await pull.recv_string(), await pull.recv_json(), await pull.recv_pyobj())

    assert asyncio.run(main()) == ("héllo", {"a": [1, 2]}, (1, "two"))


def test_rcvtimeo_and_dontwait(actx: zasync.Context) -> None:
    pull, _ = _pair(actx, zmq.PULL, zmq.PUSH)
    pull.rcvtimeo = 50

    async def main() -> None:
        with pytest.raises(zmq.Again):
            await pull.recv()
        with pytest.raises(zmq.Again):
            await pull.recv(zmq.DONTWAIT)
        with pytest.raises(asyncio.TimeoutError):
            pull.rcvtimeo = -1
            await asyncio.wait_for(pull.recv(), 0.05)

    asyncio.run(main())


def test_poll(actx: zasync.Context) -> None:
    pull, push = _pair(actx, zmq.PULL, zmq.PUSH)

    async def main() -> tuple[int, int]:
        before = await pull.poll(50)
        await push.send(b"x")
        after = await pull.poll(5000)
        return before, after

    assert asyncio.run(main()) == (0, zmq.POLLIN)


def test_poller(actx: zasync.Context) -> None:
    a_pull, _ = _pair(actx, zmq.PULL, zmq.PUSH)
    b_pull, b_push = _pair(actx, zmq.PULL, zmq.PUSH, "inproc")
    poller = zasync.Poller()
    poller.register(a_pull, zmq.POLLIN)
    poller.register(b_pull, zmq.POLLIN)

    async def main() -> tuple:
        empty = await poller.poll(50)
        await b_push.send(b"b")
        ready = await poller.poll(5000)
        return empty, ready

    empty, ready = asyncio.run(main())
    assert empty == [] and ready == [(b_pull, zmq.POLLIN)]


def test_many_sockets_one_loop(actx: zasync.Context) -> None:
    pairs = [_pair(actx, zmq.PULL, zmq.PUSH) for _ in range(20)]

    async def echo(pull: zasync.Socket, push: zasync.Socket, i: int) -> bytes:
        await push.send(b"%d" % i)
        return await pull.recv()

    async def main() -> list[bytes]:
        return await asyncio.gather(*(echo(p, q, i) for i, (p, q) in enumerate(pairs)))

    assert asyncio.run(main()) == [b"%d" % i for i in range(20)]


@pytest.mark.parametrize("transport", ["tcp", "inproc"])
def test_cancellation_never_loses_or_duplicates(actx: zasync.Context, transport: str) -> None:
    """At least 10,000 random cancellations of recv and send (before they start, while
    they wait, or as they finish): every message arrives exactly once, in order. A
    cancelled recv leaves its message queued; a cancelled send sent all or nothing."""
    pull, push = _pair(actx, zmq.PULL, zmq.PUSH, transport)
    pull.rcvhwm = push.sndhwm = 50  # so that sends block and get cancelled too
    n = 20_000
    rng = random.Random(1234)

    async def sender() -> int:
        i = cancelled = 0
        while i < n:
            task = asyncio.ensure_future(push.send_multipart([b"%d" % i, b"tail"]))
            if rng.random() < 0.8:
                for _ in range(rng.randrange(3)):
                    await asyncio.sleep(0)
                if task.cancel():
                    cancelled += 1
            try:
                await task
                i += 1
            except asyncio.CancelledError:
                pass  # not sent: send the same message again
        return cancelled

    async def receiver() -> tuple[list[bytes], int]:
        got: list[bytes] = []
        cancelled = 0
        while len(got) < n:
            task = asyncio.ensure_future(pull.recv_multipart())
            if rng.random() < 0.8:
                for _ in range(rng.randrange(3)):
                    await asyncio.sleep(0)
                if task.cancel():
                    cancelled += 1
            try:
                msg = await task
            except asyncio.CancelledError:
                continue
            assert msg[1] == b"tail"
            got.append(msg[0])
        return got, cancelled

    async def main() -> tuple[int, list[bytes], int]:
        s, (got, r) = await asyncio.gather(sender(), receiver())
        return s, got, r

    sent_cancels, got, recv_cancels = asyncio.run(main())
    assert got == [b"%d" % i for i in range(n)]
    assert sent_cancels + recv_cancels >= 10_000


def test_recv_monitor_message_awaits_on_an_asyncio_socket() -> None:
    """As pyzmq: from an asyncio monitor socket, recv_monitor_message is awaitable."""
    from zmq.utils.monitor import recv_monitor_message

    async def main() -> int:
        ctx = zasync.Context()
        sock = ctx.socket(zmq.PUSH)
        sock.linger = 0
        mon = sock.get_monitor_socket()
        sock.bind("tcp://127.0.0.1:*")
        msg = await asyncio.wait_for(recv_monitor_message(mon), 5)
        sock.disable_monitor()
        mon.close()
        sock.close()
        ctx.term()
        return msg["event"]

    assert asyncio.run(main()) == zmq.EVENT_LISTENING
