"""``latency``: REQ/REP round trips of 64 B over tcp (loopback).

Why: request/reply latency exposes the fixed cost of one message through the
whole stack (Python call, framing, event loop or I/O thread wake-up, syscalls)
without any batching to hide it.

How: a REP echo server in one spawned process, a REQ client in another.  The
client does ``warmup`` untimed round trips (connection set-up, caches), then
``count`` timed ones, each timed individually with ``perf_counter_ns``, and
reports the median, the 99th percentile and the mean in microseconds.

Bounds: both sides use ``RCVTIMEO`` = idle timeout; the client stops timing
early (and says so) once the timed part exceeds ``max_seconds``.
"""

from __future__ import annotations

import math
import statistics
import time
from contextlib import ExitStack
from multiprocessing.connection import Connection
from types import ModuleType
from typing import Any

from benchmarks.core import BenchError, Case, Measurement, Metric, Settings, Target, Variant
from benchmarks.procs import START_TIMEOUT, Worker, report, wait_for_stop

SIZE = 64
COUNT = 10_000
"""Timed round trips (about 2 s for pyzmq at ~190 us on a small VM)."""
WARMUP = 1_000
QUICK_DIVISOR = 8

MEDIAN_TARGET = Target("<=", 1.5)


def variants(settings: Settings) -> list[Variant]:
    """A single variant: tcp, 64 B."""
    divisor = QUICK_DIVISOR if settings.quick else 1
    params = {
        "size": SIZE,
        "count": COUNT // divisor,
        "warmup": WARMUP // divisor,
        "idle_timeout": settings.idle_timeout,
        "max_seconds": settings.max_seconds,
    }
    metrics = (
        Metric("median_us", "median", "\N{MICRO SIGN}s", False, MEDIAN_TARGET),
        Metric("p99_us", "p99", "\N{MICRO SIGN}s", False),
        Metric("mean_us", "mean", "\N{MICRO SIGN}s", False),
    )
    return [Variant("tcp 64 B", params, metrics)]


def _timeout_ms(params: dict[str, Any]) -> int:
    return int(params["idle_timeout"] * 1000)


def server_worker(zmq: ModuleType, chan: Connection, params: dict[str, Any]) -> None:
    """REP side: echo ``warmup + count`` requests, or fewer if the client stops early."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REP)
    sock.setsockopt(zmq.RCVTIMEO, _timeout_ms(params))
    sock.setsockopt(zmq.LINGER, 0)
    report(chan, sock.bind_to_random_port("tcp://127.0.0.1"))
    try:
        for _ in range(params["warmup"] + params["count"]):
            sock.send(sock.recv(copy=True), copy=True)
    except zmq.Again:
        pass  # the client stopped early or died; the client's report says which
    report(chan, "done")
    wait_for_stop(chan)
    sock.close()
    ctx.term()


def client_worker(zmq: ModuleType, chan: Connection, params: dict[str, Any]) -> None:
    """REQ side: warm up, then time each round trip individually."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.RCVTIMEO, _timeout_ms(params))
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"tcp://127.0.0.1:{params['port']}")
    payload = b"x" * params["size"]
    done = 0
    try:
        for _ in range(params["warmup"]):
            sock.send(payload, copy=True)
            sock.recv(copy=True)
        samples: list[int] = []
        clock = time.perf_counter_ns
        deadline = clock() + int(params["max_seconds"] * 1e9)
        for _ in range(params["count"]):
            start = clock()
            sock.send(payload, copy=True)
            reply = sock.recv(copy=True)
            end = clock()
            samples.append(end - start)
            done += 1
            if end > deadline:
                break
    except zmq.Again:
        raise BenchError(
            f"no reply for {params['idle_timeout']:g} s after {done} timed round trips"
        ) from None
    if reply != payload:
        raise BenchError("reply differs from request")
    report(chan, samples)
    sock.close()
    ctx.term()


def _percentile(sorted_samples: list[int], fraction: float) -> float:
    """Nearest-rank percentile of already sorted samples."""
    rank = max(1, math.ceil(fraction * len(sorted_samples)))
    return float(sorted_samples[rank - 1])


def measure(impl: str, variant: Variant, settings: Settings) -> Measurement:
    """Run the server and the client; summarise the round-trip samples in µs."""
    params = dict(variant.params)
    with ExitStack() as stack:
        server = stack.enter_context(Worker("REP server", server_worker, impl, params))
        params["port"] = server.recv(START_TIMEOUT, "port")
        client = stack.enter_context(Worker("REQ client", client_worker, impl, params))
        timeout = params["max_seconds"] * 2 + params["idle_timeout"] + START_TIMEOUT
        samples: list[int] = client.recv(timeout, "samples", watch=[server])
        server.close(grace=1.0)  # if the client stopped early, the server is stuck in recv
    if not samples:
        raise BenchError("no round trip completed")
    samples.sort()
    notes = []
    if len(samples) < params["count"]:
        notes.append(f"stopped after {len(samples)} of {params['count']} round trips")
    return Measurement(
        {
            "median_us": statistics.median(samples) / 1e3,
            "p99_us": _percentile(samples, 0.99) / 1e3,
            "mean_us": statistics.fmean(samples) / 1e3,
        },
        notes,
    )


CASE = Case(
    name="latency",
    summary="REQ/REP round trip over tcp, 64 B: median, p99, mean in microseconds",
    variants=variants,
    measure=measure,
)
