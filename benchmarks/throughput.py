"""``throughput``: PUSH -> PULL streaming over tcp, ipc and inproc.

Why: raw one-way message rate is where a pure-Python implementation pays the
most per-message overhead (small messages) and where it can win by avoiding
copies and per-frame syscalls (large messages).

How: for tcp and ipc, the PULL receiver and the PUSH sender live in two
separate spawned processes (so one side's GIL does not slow the other); for
inproc, both sides are threads of one process, as inproc requires.  The sender
blasts ``count`` messages of ``size`` bytes with ``send(copy=True)``; the receiver
times from its first to its last ``recv`` and reports messages/s and MB/s
(1 MB = 10**6 bytes).  Connection setup is therefore not part of the figure.

Bounds: the receiver gives up after ``idle_timeout`` s without a message
(``RCVTIMEO``) and stops early, reporting the partial rate, once the measured
part exceeds ``max_seconds``.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from contextlib import ExitStack
from multiprocessing.connection import Connection
from types import ModuleType
from typing import Any

from benchmarks.core import BenchError, Case, Measurement, Metric, Settings, Target, Variant
from benchmarks.procs import START_TIMEOUT, Worker, report, wait_for_stop

TRANSPORTS = ("tcp", "ipc", "inproc")

SIZES: dict[int, str] = {64: "64 B", 1024: "1 KiB", 65536: "64 KiB", 1 << 20: "1 MiB"}

COUNTS: dict[tuple[str, int], int] = {
    ("tcp", 64): 800_000,
    ("tcp", 1024): 600_000,
    ("tcp", 65536): 30_000,
    ("tcp", 1 << 20): 3_000,
    ("ipc", 64): 1_200_000,
    ("ipc", 1024): 1_000_000,
    ("ipc", 65536): 30_000,
    ("ipc", 1 << 20): 3_000,
    ("inproc", 64): 700_000,
    ("inproc", 1024): 700_000,
    ("inproc", 65536): 150_000,
    ("inproc", 1 << 20): 20_000,
}
"""Messages per run, tuned so pyzmq needs about 1.5-2 s on a small 2-core VM."""

QUICK_DIVISOR = 6
"""``--quick`` sends this many times fewer messages (about 0.3 s for pyzmq)."""

HWM_BYTES = 64 << 20
"""Per-side queue budget: HWM = min(1000, HWM_BYTES // size), so 1 MiB runs
queue at most 64 messages per side instead of 1000 (1 GB)."""

TARGETS: dict[tuple[str, int], Target] = {
    ("tcp", 64): Target(">=", 0.5),
    ("tcp", 1 << 20): Target(">=", 1.2),
}
"""The issue's targets; every other variant is informational."""

INPROC_ENDPOINT = "inproc://bench-throughput"


def stream_params(size: int, count: int, settings: Settings) -> dict[str, Any]:
    """What a PUSH -> PULL stream of ``count`` messages of ``size`` octets needs
    (shared by the throughput, curve and tls cases)."""
    return {
        "size": size,
        "count": count,
        "hwm": max(1, min(1000, HWM_BYTES // size)),
        "idle_timeout": settings.idle_timeout,
        "max_seconds": settings.max_seconds,
    }


def variants(settings: Settings) -> list[Variant]:
    """All transport x size combinations, with counts scaled for ``--quick``."""
    result = []
    for transport in TRANSPORTS:
        for size, size_label in SIZES.items():
            count = COUNTS[transport, size]
            if settings.quick:
                count //= QUICK_DIVISOR
            target = TARGETS.get((transport, size))
            params = {"transport": transport, **stream_params(size, count, settings)}
            metrics = (
                Metric("msgs_per_s", "msg/s", "msg/s", higher_is_better=True, target=target),
                Metric("mb_per_s", "MB/s", "MB/s", higher_is_better=True),
            )
            result.append(Variant(f"{transport} {size_label}", params, metrics))
    return result


# --------------------------------------------------------------------------- socket loops


def _receive(zmq: ModuleType, sock: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Receive up to ``count`` messages and time them from first to last.

    The deadline is checked every ``check_every`` messages (about every MiB of
    payload) to keep the hot loop lean for small messages.
    """
    size: int = params["size"]
    count: int = params["count"]
    check_every = max(1, min(1024, (1 << 20) // size))
    received = 0
    try:
        first = sock.recv(copy=True)
        start = time.perf_counter()
        deadline = start + params["max_seconds"]
        received = 1
        nbytes = len(first)
        last = start
        while received < count:
            nbytes += len(sock.recv(copy=True))
            received += 1
            if received % check_every == 0:
                last = time.perf_counter()
                if last > deadline:
                    break
        last = time.perf_counter()
    except zmq.Again:
        raise BenchError(
            f"receiver got nothing for {params['idle_timeout']:g} s "
            f"after {received} of {count} messages"
        ) from None
    if nbytes != received * size:
        raise BenchError(f"received {nbytes} bytes in {received} messages of {size} bytes")
    return {"received": received, "seconds": last - start}


def _send(sock: Any, params: dict[str, Any]) -> float:
    """Send ``count`` messages of ``size`` bytes; return the seconds it took."""
    payload = b"x" * params["size"]
    start = time.perf_counter()
    for _ in range(params["count"]):
        sock.send(payload, copy=True)
    return time.perf_counter() - start


def _pull_socket(zmq: ModuleType, ctx: Any, params: dict[str, Any]) -> Any:
    sock = ctx.socket(zmq.PULL)
    sock.setsockopt(zmq.RCVHWM, params["hwm"])
    sock.setsockopt(zmq.RCVTIMEO, int(params["idle_timeout"] * 1000))
    sock.setsockopt(zmq.LINGER, 0)
    return sock


def _push_socket(zmq: ModuleType, ctx: Any, params: dict[str, Any]) -> Any:
    sock = ctx.socket(zmq.PUSH)
    sock.setsockopt(zmq.SNDHWM, params["hwm"])
    return sock


# --------------------------------------------------------------------------- workers


def receiver_worker(zmq: ModuleType, chan: Connection, params: dict[str, Any]) -> None:
    """PULL side (tcp/ipc): bind, report the endpoint, receive, report the timing."""
    ctx = zmq.Context()
    sock = _pull_socket(zmq, ctx, params)
    if params["transport"] == "tcp":
        endpoint = f"tcp://127.0.0.1:{sock.bind_to_random_port('tcp://127.0.0.1')}"
    else:
        endpoint = params["endpoint"]
        sock.bind(endpoint)
    report(chan, endpoint)
    report(chan, _receive(zmq, sock, params))
    sock.close()
    ctx.term()


def sender_worker(zmq: ModuleType, chan: Connection, params: dict[str, Any]) -> None:
    """PUSH side (tcp/ipc): connect, send everything, then hold on until told to stop.

    Closing right after the last ``send`` could drop messages still queued, so
    the socket stays open until the parent has the receiver's result.
    """
    ctx = zmq.Context()
    sock = _push_socket(zmq, ctx, params)
    sock.connect(params["endpoint"])
    send_and_hold(zmq, chan, ctx, sock, params)


def send_and_hold(zmq: ModuleType, chan: Connection, ctx: Any, sock: Any,
                  params: dict[str, Any]) -> None:
    """Send the stream on a connected PUSH, report the time, close once told to stop."""
    report(chan, {"send_seconds": _send(sock, params)})
    wait_for_stop(chan)
    sock.setsockopt(zmq.LINGER, 0)
    sock.close()
    ctx.term()


def inproc_worker(zmq: ModuleType, chan: Connection, params: dict[str, Any]) -> None:
    """Both sides as two threads of one process over inproc (one shared Context).

    Each socket is created and used only by its own thread.  The result is
    reported from the receiving thread; a hung thread is left to the parent,
    which kills the process after its timeout.
    """
    ctx = zmq.Context()
    bound = threading.Event()
    failures: list[BaseException] = []

    def pull() -> None:
        try:
            sock = _pull_socket(zmq, ctx, params)
            sock.bind(INPROC_ENDPOINT)
            bound.set()
            result = _receive(zmq, sock, params)
            sock.close()
            report(chan, result)
        except BaseException as exc:
            failures.append(exc)
            bound.set()

    def push() -> None:
        try:
            bound.wait()
            if failures:
                return
            sock = _push_socket(zmq, ctx, params)
            sock.connect(INPROC_ENDPOINT)
            _send(sock, params)
            wait_for_stop(chan)
            sock.setsockopt(zmq.LINGER, 0)
            sock.close()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=f, daemon=True) for f in (pull, push)]
    for thread in threads:
        thread.start()
    threads[0].join()
    if failures:
        raise failures[0]
    threads[1].join(timeout=3.0)  # it is blocked in send() if the receiver stopped early
    if failures:
        raise failures[0]
    if not threads[1].is_alive():
        ctx.term()


# --------------------------------------------------------------------------- parent side


def measure(impl: str, variant: Variant, settings: Settings) -> Measurement:
    """Run one variant with ``impl`` and turn the receiver timing into rates."""
    params = dict(variant.params)
    result_timeout = params["max_seconds"] + params["idle_timeout"] + START_TIMEOUT
    with ExitStack() as stack:
        if params["transport"] == "inproc":
            both = stack.enter_context(Worker("inproc worker", inproc_worker, impl, params))
            result = both.recv(result_timeout, "result")
        else:
            if params["transport"] == "ipc":
                name = f"tp-{os.getpid()}-{uuid.uuid4().hex[:8]}.sock"
                params["endpoint"] = f"ipc://{os.path.join(settings.tmpdir, name)}"
            rx = stack.enter_context(Worker("receiver", receiver_worker, impl, params))
            params["endpoint"] = rx.recv(START_TIMEOUT, "endpoint")
            tx = stack.enter_context(Worker("sender", sender_worker, impl, params))
            result = rx.recv(result_timeout, "result", watch=[tx])
            if result["received"] < params["count"]:
                tx.close(grace=0.5)  # stopped early: the sender is stuck in send()
    received, seconds = result["received"], result["seconds"]
    if received < 2 or seconds <= 0:
        raise BenchError(f"too few messages to time ({received} in {seconds:.3g} s)")
    rate = (received - 1) / seconds
    notes = []
    if received < params["count"]:
        notes.append(f"stopped after {seconds:.1f} s: {received} of {params['count']} messages")
    return Measurement({"msgs_per_s": rate, "mb_per_s": rate * params["size"] / 1e6}, notes)


CASE = Case(
    name="throughput",
    summary="PUSH->PULL msg/s and MB/s over tcp, ipc, inproc at 64 B .. 1 MiB",
    variants=variants,
    measure=measure,
)
