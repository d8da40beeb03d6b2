"""``connections``: 1,000 DEALERs in one process connecting to one ROUTER over tcp.

Why: a pure-Python implementation keeps per-connection state in Python objects
(buffers, protocol state machines, tasks or threads), which can cost far more
memory than libzmq's C structures, and setting up many connections stresses
the accept and handshake paths.

How: the ROUTER binds in one spawned process; a second process creates one
warm-up socket (so lazily created per-context machinery such as I/O threads is
in the baseline), reads its ``VmRSS``, then creates the DEALERs one by one, each
connecting and immediately sending one message carrying its index.  Reported:

* ``all delivered``: seconds from the client's first ``socket()`` call until
  the ROUTER has received one message from every DEALER (both sides read
  ``time.monotonic()``, which is system-wide on Linux);
* ``client mem/conn`` and ``server mem/conn``: growth of ``VmRSS`` in each
  process between its baseline and the moment everything was delivered,
  divided by the number of connections, in KiB.

A burst of 1,000 connects usually overflows the listen backlog (libzmq's default
``ZMQ_BACKLOG`` is 100); the kernel then drops SYNs, and the clients retry after
the 1 s SYN timeout, so delivery times just above 1 s mean "some connects were
retried".  The run notes how many SYNs were dropped (the system-wide
``ListenOverflows`` counter of ``/proc/net/netstat``, read before and after).

Each process raises ``RLIMIT_NOFILE`` to its hard limit.  If that limit cannot
hold 1,000 connections the count is scaled down, and the report says so.
"""

from __future__ import annotations

import resource
import time
from contextlib import ExitStack
from multiprocessing.connection import Connection
from types import ModuleType
from typing import Any

from benchmarks.core import BenchError, Case, Measurement, Metric, Settings, Target, Variant
from benchmarks.procs import START_TIMEOUT, Worker, report, rss_bytes, wait_for_stop

CONNECTIONS = 1_000
QUICK_CONNECTIONS = 200
FDS_PER_CONNECTION = 3
"""Descriptors budgeted per DEALER (libzmq uses a tcp socket and an eventfd)."""
FD_RESERVE = 100
"""Descriptors kept free for the interpreter, pipes and the implementation."""
DELIVERY_SECONDS = 120.0
"""Cap for the whole connect-and-deliver phase; past it the run is an error."""

MEMORY_TARGET = Target("<=", 2.0)


def fd_budget() -> int:
    """How many connections the hard ``RLIMIT_NOFILE`` allows in one process."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        return CONNECTIONS
    return max(1, (hard - FD_RESERVE) // FDS_PER_CONNECTION)


def listen_overflows() -> int | None:
    """System-wide count of connections dropped because a listen backlog was full.

    Read from ``/proc/net/netstat`` (``TcpExt: ListenOverflows``); ``None`` where
    that is unavailable.
    """
    try:
        with open("/proc/net/netstat", encoding="ascii") as netstat:
            lines = netstat.read().splitlines()
    except OSError:
        return None
    for header, values in zip(lines[::2], lines[1::2], strict=False):
        if header.startswith("TcpExt:") and "ListenOverflows" in header.split():
            return int(values.split()[header.split().index("ListenOverflows")])
    return None


def variants(settings: Settings) -> list[Variant]:
    """A single variant: N DEALERs over tcp (N = 1,000, 200 with ``--quick``)."""
    requested = QUICK_CONNECTIONS if settings.quick else CONNECTIONS
    count = min(requested, fd_budget())
    params = {
        "connections": count,
        "requested": requested,
        "idle_timeout": settings.idle_timeout,
        "delivery_seconds": DELIVERY_SECONDS,
    }
    metrics = (
        Metric("delivery_s", "all delivered", "s", higher_is_better=False),
        Metric("client_kib", "client mem/conn", "KiB", False, MEMORY_TARGET),
        Metric("server_kib", "server mem/conn", "KiB", False, MEMORY_TARGET),
    )
    return [Variant(f"tcp {count} dealers", params, metrics)]


def server_worker(zmq: ModuleType, chan: Connection, params: dict[str, Any]) -> None:
    """ROUTER side: wait for one message from each DEALER, then measure memory."""
    expected: int = params["connections"]
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.RCVTIMEO, int(params["idle_timeout"] * 1000))
    sock.setsockopt(zmq.LINGER, 0)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    rss_before = rss_bytes()
    report(chan, port)
    seen: set[bytes] = set()
    deadline = time.monotonic() + params["delivery_seconds"]
    try:
        while len(seen) < expected:
            frames = sock.recv_multipart(copy=True)
            seen.add(frames[-1])
            if time.monotonic() > deadline:
                raise BenchError(
                    f"only {len(seen)} of {expected} DEALERs delivered "
                    f"within {params['delivery_seconds']:g} s"
                )
    except zmq.Again:
        raise BenchError(
            f"nothing received for {params['idle_timeout']:g} s "
            f"after {len(seen)} of {expected} DEALERs"
        ) from None
    done_at = time.monotonic()
    report(chan, {"done_at": done_at, "rss_before": rss_before, "rss_after": rss_bytes()})
    wait_for_stop(chan)
    sock.close()
    ctx.term()


def client_worker(zmq: ModuleType, chan: Connection, params: dict[str, Any]) -> None:
    """DEALER side: open all connections, then measure memory when asked to."""
    endpoint = f"tcp://127.0.0.1:{params['port']}"
    ctx = zmq.Context()
    warmup = ctx.socket(zmq.DEALER)  # brings up per-context machinery before the baseline
    warmup.setsockopt(zmq.LINGER, 0)
    rss_before = rss_bytes()
    start = time.monotonic()
    sockets = []
    for index in range(params["connections"]):
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        sock.send(b"%d" % index, copy=True)
        sockets.append(sock)
    report(chan, {"start": start, "sent_seconds": time.monotonic() - start})
    if chan.recv() != "measure":  # sent once the ROUTER has everything
        return
    report(chan, {"rss_before": rss_before, "rss_after": rss_bytes()})
    wait_for_stop(chan)
    for sock in (*sockets, warmup):
        sock.close()
    ctx.term()


def measure(impl: str, variant: Variant, settings: Settings) -> Measurement:
    """Run ROUTER and DEALERs; derive delivery time and memory per connection."""
    params = dict(variant.params)
    count: int = params["connections"]
    with ExitStack() as stack:
        server = stack.enter_context(Worker("ROUTER server", server_worker, impl, params))
        params["port"] = server.recv(START_TIMEOUT, "port")
        overflows_before = listen_overflows()
        client = stack.enter_context(Worker("DEALER client", client_worker, impl, params))
        timeout = params["delivery_seconds"] + params["idle_timeout"] + START_TIMEOUT
        served = server.recv(timeout, "delivery report", watch=[client])
        started = client.recv(START_TIMEOUT, "start time")
        client.send("measure")
        client_rss = client.recv(START_TIMEOUT, "memory report")
    overflows_after = listen_overflows()
    notes = []
    extra: dict[str, float] = {}
    if overflows_before is not None and overflows_after is not None:
        dropped = overflows_after - overflows_before
        extra["listen_overflows"] = dropped
        if dropped:
            notes.append(f"{dropped} SYNs dropped by a full listen backlog, retried after 1 s")
    if count < params["requested"]:
        notes.append(f"scaled down from {params['requested']} (RLIMIT_NOFILE hard limit)")
    delivery = served["done_at"] - started["start"]
    if delivery <= 0:
        raise BenchError("delivery finished before the client started: clocks disagree")
    return Measurement(
        {
            "delivery_s": delivery,
            "client_kib": (client_rss["rss_after"] - client_rss["rss_before"]) / count / 1024,
            "server_kib": (served["rss_after"] - served["rss_before"]) / count / 1024,
            **extra,
        },
        notes,
    )


CASE = Case(
    name="connections",
    summary=f"{CONNECTIONS} DEALERs -> 1 ROUTER over tcp: delivery time, memory per connection",
    variants=variants,
    measure=measure,
)
