"""``asyncio``: the asyncio flavours side by side (``zmq.asyncio`` and ``securemq.asyncio``).

Why: asyncio services pay an event-loop hop per await; the issue's target is at least
0.8 of pyzmq's asyncio throughput at 64 B.

How: as ``throughput`` and ``latency``, with every socket an asyncio socket driven by
``asyncio.run`` in its own process: PUSH -> PULL over tcp timed from the first to the
last receive, and REQ -> REP round trips timed one by one.
"""

from __future__ import annotations

import asyncio
import importlib
import statistics
import time
from contextlib import ExitStack
from multiprocessing.connection import Connection
from types import ModuleType
from typing import Any

from benchmarks.core import BenchError, Case, Measurement, Metric, Settings, Target, Variant
from benchmarks.procs import START_TIMEOUT, Worker, report, wait_for_stop

SIZE = 64
COUNTS = {"throughput": 300_000, "latency": 10_000}
QUICK_DIVISOR = 6
HWM = 1000


def variants(settings: Settings) -> list[Variant]:
    """PUSH/PULL throughput and REQ/REP latency, tcp, 64 B."""
    divisor = QUICK_DIVISOR if settings.quick else 1
    common = {"size": SIZE, "idle_timeout": settings.idle_timeout,
              "max_seconds": settings.max_seconds}
    return [
        Variant("tcp 64 B push/pull",
                {**common, "kind": "throughput", "count": COUNTS["throughput"] // divisor},
                (Metric("msgs_per_s", "msg/s", "msg/s", True, Target(">=", 0.8)),)),
        Variant("tcp 64 B req/rep",
                {**common, "kind": "latency", "count": COUNTS["latency"] // divisor},
                (Metric("median_us", "median", "\N{MICRO SIGN}s", False),)),
    ]


def _aio(zmq: ModuleType) -> Any:
    return importlib.import_module(zmq.__name__ + ".asyncio")


def server_worker(zmq: ModuleType, chan: Connection, params: dict[str, Any]) -> None:
    """PULL (throughput) or REP (latency): bind, report the port, serve."""
    aio = _aio(zmq)

    async def main() -> None:
        ctx = aio.Context()
        kind = params["kind"]
        sock = ctx.socket(zmq.PULL if kind == "throughput" else zmq.REP)
        sock.rcvhwm = HWM
        sock.rcvtimeo = int(params["idle_timeout"] * 1000)
        sock.linger = 0
        report(chan, sock.bind_to_random_port("tcp://127.0.0.1"))
        count = params["count"]
        try:
            if kind == "throughput":
                await sock.recv()
                start = time.perf_counter()
                for _ in range(count - 1):
                    await sock.recv()
                report(chan, {"received": count, "seconds": time.perf_counter() - start})
            else:
                for _ in range(count + 100):
                    await sock.send(await sock.recv())
                report(chan, "done")
        except zmq.Again:
            report(chan, {"error": "idle timeout"})
        sock.close()
        ctx.term()

    asyncio.run(main())
    wait_for_stop(chan)


def client_worker(zmq: ModuleType, chan: Connection, params: dict[str, Any]) -> None:
    """PUSH (throughput) or REQ (latency): connect and run."""
    aio = _aio(zmq)

    async def main() -> None:
        ctx = aio.Context()
        kind = params["kind"]
        sock = ctx.socket(zmq.PUSH if kind == "throughput" else zmq.REQ)
        sock.sndhwm = HWM
        sock.rcvtimeo = int(params["idle_timeout"] * 1000)
        sock.linger = 0
        sock.connect(f"tcp://127.0.0.1:{params['port']}")
        payload = b"x" * params["size"]
        if kind == "throughput":
            for _ in range(params["count"]):
                await sock.send(payload)
            report(chan, "sent")
            await asyncio.sleep(params["max_seconds"] + params["idle_timeout"])
        else:
            for _ in range(100):
                await sock.send(payload)
                await sock.recv()
            samples = []
            clock = time.perf_counter_ns
            for _ in range(params["count"]):
                t = clock()
                await sock.send(payload)
                await sock.recv()
                samples.append(clock() - t)
            report(chan, samples)
        sock.close()
        ctx.term()

    asyncio.run(main())


def measure(impl: str, variant: Variant, settings: Settings) -> Measurement:
    """Run the two processes; turn what they report into the variant's metric."""
    params = dict(variant.params)
    timeout = params["max_seconds"] * 3 + params["idle_timeout"] + START_TIMEOUT
    with ExitStack() as stack:
        server = stack.enter_context(Worker("server", server_worker, impl, params))
        params["port"] = server.recv(START_TIMEOUT, "port")
        client = stack.enter_context(Worker("client", client_worker, impl, params))
        if params["kind"] == "throughput":
            result = server.recv(timeout, "result", watch=[client])
            client.close(grace=0.5)
            if "error" in result:
                raise BenchError(result["error"])
            return Measurement({"msgs_per_s": (result["received"] - 1) / result["seconds"]})
        samples: list[int] = client.recv(timeout, "samples", watch=[server])
        server.close(grace=1.0)
    if not samples:
        raise BenchError("no round trip completed")
    return Measurement({"median_us": statistics.median(samples) / 1e3})


CASE = Case(
    name="asyncio",
    summary="zmq.asyncio vs securemq.asyncio: PUSH->PULL msg/s and REQ/REP latency, 64 B",
    variants=variants,
    measure=measure,
)
