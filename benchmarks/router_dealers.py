"""``router_dealers``: one ROUTER echo server, 50 DEALER clients, over tcp.

Why: a server multiplexing many peers exercises routing by identity, fair
queuing and the poller, which a single PUSH/PULL pair does not.

How: the ROUTER lives in one spawned process and echoes every request
(``recv_multipart`` / ``send_multipart``).  The 50 DEALERs live in a second
process, driven by one ``zmq.Poller``: each DEALER keeps exactly one 64 B request
in flight and sends the next one when its reply arrives, until it has done
``requests`` round trips.  The client reports completed round trips per second
(each is one request and one reply through the ROUTER), timed from the first
send to the last reply.  Informational: the issue sets no target.

Bounds: no reply for the idle timeout is an error; the client stops at
``max_seconds`` (abandoning the requests still in flight, and saying so), and
never lets a ``poll`` block past that deadline.
"""

from __future__ import annotations

import math
import time
from contextlib import ExitStack
from multiprocessing.connection import Connection
from types import ModuleType
from typing import Any

from benchmarks.core import BenchError, Case, Measurement, Metric, Settings, Variant
from benchmarks.procs import START_TIMEOUT, Worker, report, wait_for_stop

CLIENTS = 50
REQUESTS = 1_200
"""Round trips per DEALER in a normal run (60,000 in all, about 2 s for pyzmq)."""
QUICK_DIVISOR = 8
SIZE = 64


def variants(settings: Settings) -> list[Variant]:
    """A single variant: 50 DEALERs over tcp."""
    params = {
        "clients": CLIENTS,
        "requests": REQUESTS // (QUICK_DIVISOR if settings.quick else 1),
        "size": SIZE,
        "idle_timeout": settings.idle_timeout,
        "max_seconds": settings.max_seconds,
    }
    metric = Metric("round_trips_per_s", "round trips/s", "round trips/s", higher_is_better=True)
    return [Variant(f"tcp {CLIENTS} dealers", params, (metric,))]


def server_worker(zmq: ModuleType, chan: Connection, params: dict[str, Any]) -> None:
    """ROUTER side: echo every request back to the DEALER that sent it."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.RCVTIMEO, int(params["idle_timeout"] * 1000))
    sock.setsockopt(zmq.LINGER, 0)
    report(chan, sock.bind_to_random_port("tcp://127.0.0.1"))
    echoed = 0
    try:
        for _ in range(params["clients"] * params["requests"]):
            sock.send_multipart(sock.recv_multipart(copy=True), copy=True)
            echoed += 1
    except zmq.Again:
        pass  # the client stopped early or died; the client's report says which
    report(chan, echoed)
    wait_for_stop(chan)
    sock.close()
    ctx.term()


def client_worker(zmq: ModuleType, chan: Connection, params: dict[str, Any]) -> None:
    """All DEALERs in one process, driven by a single Poller."""
    ctx = zmq.Context()
    endpoint = f"tcp://127.0.0.1:{params['port']}"
    payload = b"x" * params["size"]
    requests: int = params["requests"]
    poller = zmq.Poller()
    remaining: dict[Any, int] = {}
    for _ in range(params["clients"]):
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        poller.register(sock, zmq.POLLIN)
        remaining[sock] = requests
    idle_timeout: float = params["idle_timeout"]
    completed = 0
    start = last_reply = time.perf_counter()
    deadline = start + params["max_seconds"]
    for sock in remaining:
        sock.send(payload, copy=True)
    in_flight = len(remaining)
    while in_flight:
        # Never block past the deadline: a stuck poll must not stretch the run.
        now = time.perf_counter()
        if now > deadline:
            break  # replies still in flight are abandoned; the report says so
        events = poller.poll(max(1, math.ceil(min(idle_timeout, deadline - now) * 1000)))
        if not events:
            if time.perf_counter() - last_reply >= idle_timeout:
                raise BenchError(f"no reply for {idle_timeout:g} s after {completed} round trips")
            continue
        last_reply = time.perf_counter()
        for sock, _event in events:
            if sock.recv(copy=True) != payload:
                raise BenchError("reply differs from request")
            completed += 1
            in_flight -= 1
            remaining[sock] -= 1
            if remaining[sock] and last_reply <= deadline:
                sock.send(payload, copy=True)
                in_flight += 1
    seconds = time.perf_counter() - start
    total = params["clients"] * requests
    report(chan, {"completed": completed, "total": total, "seconds": seconds})
    for sock in remaining:
        poller.unregister(sock)
        sock.close()
    ctx.term()


def measure(impl: str, variant: Variant, settings: Settings) -> Measurement:
    """Run server and clients; report completed round trips per second."""
    params = dict(variant.params)
    with ExitStack() as stack:
        server = stack.enter_context(Worker("ROUTER server", server_worker, impl, params))
        params["port"] = server.recv(START_TIMEOUT, "port")
        client = stack.enter_context(Worker("DEALER client", client_worker, impl, params))
        timeout = params["max_seconds"] * 2 + params["idle_timeout"] + START_TIMEOUT
        result = client.recv(timeout, "result", watch=[server])
        server.close(grace=1.0)  # if the client stopped early, the server is stuck in recv
    notes = []
    if result["completed"] < result["total"]:
        notes.append(f"stopped after {result['completed']} of {result['total']} round trips")
    return Measurement({"round_trips_per_s": result["completed"] / result["seconds"]}, notes)


CASE = Case(
    name="router_dealers",
    summary=f"1 ROUTER echoing to {CLIENTS} DEALERs over tcp: round trips/s",
    variants=variants,
    measure=measure,
)
