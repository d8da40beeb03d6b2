"""REQ/REP with asyncio: one server coroutine, several client coroutines, one thread.

``securemq.asyncio`` has the same sockets as ``securemq``, but ``send``, ``recv`` (and
their multipart and string forms) and ``poll`` are coroutines, so many sockets share
one event loop without a thread each. The rules of the pattern do not change: each REQ
socket still alternates send and receive, and the REP socket answers requests one at a
time, in the order they arrive, each to the client that sent it.

Three clients ask a "clock" server for the time concurrently; the server is a task that
runs until it is cancelled. Cancelling a ``recv`` never loses a message: one that was
not returned stays queued in the socket.

Run it with ``python examples/asyncio/reqrep.py``.
"""

from __future__ import annotations

import asyncio
import time

import securemq as zmq
import securemq.asyncio as azmq


async def server(sock: azmq.Socket) -> None:
    """Answer every request with how long the server has been running."""
    started = time.monotonic()
    while True:
        name = await sock.recv_string()
        uptime_ms = (time.monotonic() - started) * 1000
        await sock.send_string(f"hello {name}, server up for {uptime_ms:.0f} ms")


async def client(ctx: azmq.Context, endpoint: str, name: str, asks: int) -> list[str]:
    """Ask ``asks`` times, waiting for each answer (REQ allows one request at a time)."""
    with ctx.socket(zmq.REQ) as sock:
        sock.linger = 0
        sock.rcvtimeo = 5000  # an awaited recv raises Again after 5 s, as a blocking one
        sock.connect(endpoint)
        answers = []
        for _ in range(asks):
            await sock.send_string(name)
            answers.append(await sock.recv_string())
            print(f"{name}: {answers[-1]}")
            await asyncio.sleep(0.01)  # let the others take a turn
        return answers


async def main_async() -> None:
    ctx = azmq.Context()
    rep = ctx.socket(zmq.REP)
    rep.linger = 0
    port = rep.bind_to_random_port("tcp://127.0.0.1")
    endpoint = f"tcp://127.0.0.1:{port}"
    print(f"server on {endpoint}")

    serving = asyncio.create_task(server(rep))
    results = await asyncio.gather(*(client(ctx, endpoint, name, 3)
                                     for name in ("ada", "grace", "edsger")))

    serving.cancel()  # the server was waiting in recv: nothing is lost
    try:
        await serving
    except asyncio.CancelledError:
        pass
    rep.close()
    ctx.term()
    print(f"reqrep (asyncio): {sum(len(r) for r in results)} requests answered")


def main() -> None:
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
