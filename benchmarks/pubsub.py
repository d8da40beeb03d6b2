"""``pubsub``: PUB fan-out to 4 SUBs, and subscription matching with 10,000 topics.

Why: PUB/SUB is where a message is matched against subscriptions and copied
into one queue per subscriber, in the publisher's application thread.  Fan-out
multiplies the per-message work of the publisher; many subscriptions test the
data structure that matches topics (libzmq uses a trie) and the path that
carries subscriptions from the SUB to the PUB.

How, fan-out (``tcp 4 subs 64 B``): a PUB in one spawned process, four SUBs in
four more, over tcp, all subscribed to ``b"t"``.  ``SNDHWM`` on the PUB and
``RCVHWM`` on the SUBs are 100,000, so that drops are rare.  Before the measured
part, the PUB publishes a short probe every millisecond until every SUB has
told the parent that it received one (so all four are connected and
subscribed), then publishes ``count`` 64 B messages as fast as it can, then an
end marker every 20 ms until it is stopped.  Each SUB times from its first to
its last 64 B message and stops after ``count`` messages, at the end marker or
at ``max_seconds``; the reported rate is the sum of the four SUBs' rates.
Messages a SUB never got (PUB drops them when a queue is full) are counted
and reported in a note.  The PUB's own send rate is reported too (a PUB does
not block on a full queue, so it is the rate at which it can match and queue).

How, matching (``tcp 10k topics``): one SUB first makes sure the connection is
up (a probe on a separate topic), then subscribes to 10,000 topics
``b"topic-00000"`` .. ``b"topic-09999"``.  Two times are reported: the
``setsockopt`` calls alone, and until the PUB has applied all of them (the SUB
receives a probe the PUB sends every millisecond on the last topic; the pipe
carrying subscriptions is ordered, so the last is applied after all the
others).  Then the PUB publishes ``count`` 64 B messages cycling through
20,000 topics, alternately one of the 10,000 subscribed and one of 10,000
others, so half match; the SUB reports delivered messages/s (first to last
matching message) and the PUB its publishing rate, matched or not.
Informational: the issue sets no target.

Bounds: every receive has ``RCVTIMEO`` = idle timeout; the PUB stops
publishing and each SUB stops receiving at ``max_seconds`` (the partial rate
is reported with a note); the parent kills anything that does not answer.
"""

from __future__ import annotations

import contextlib
import time
from contextlib import ExitStack
from multiprocessing.connection import Connection
from types import ModuleType
from typing import Any

from benchmarks.core import BenchError, Case, Measurement, Metric, Settings, Target, Variant
from benchmarks.procs import START_TIMEOUT, Worker, report

SIZE = 64
HWM = 100_000
SUBSCRIBERS = 4
FANOUT_COUNT = 600_000
"""Messages published in a fan-out run (each delivered to every SUB)."""
TOPICS = 10_000
"""Subscriptions of the matching SUB; the PUB cycles through twice as many topics."""
MATCHING_COUNT = 1_000_000
"""Messages published in a matching run (half of them match)."""
QUICK_DIVISOR = 6

PROBE_INTERVAL = 0.001
"""Seconds between probes while the PUB waits for its subscribers."""
END_INTERVAL = 0.02
"""Seconds between end markers once the PUB has published everything."""
CHECK_EVERY = 1024
"""Messages between deadline checks in the PUB's send loop."""

FANOUT_TOPIC = b"t"
FANOUT_PROBE = b"t-probe"
FANOUT_END = b"t-end"

SYNC_TOPIC = b"sync"
SYNC_PROBE = b"sync-probe"
LAST_PROBE = b"-probe"
MATCHING_END = b"-end"
"""Suffixes to the last subscribed topic.  Control messages are shorter than
``SIZE``: receivers tell them from data by length."""

FANOUT_TARGET = Target(">=", 0.5)


def variants(settings: Settings) -> list[Variant]:
    """Fan-out to 4 SUBs, then matching against 10,000 subscriptions."""
    divisor = QUICK_DIVISOR if settings.quick else 1
    common = {
        "size": SIZE,
        "hwm": HWM,
        "idle_timeout": settings.idle_timeout,
        "max_seconds": settings.max_seconds,
    }
    fanout = Variant(
        f"tcp {SUBSCRIBERS} subs 64 B",
        {**common, "subscribers": SUBSCRIBERS, "count": FANOUT_COUNT // divisor},
        (
            Metric("msgs_per_s", "delivered", "msg/s", True, FANOUT_TARGET),
            Metric("pub_msgs_per_s", "published", "msg/s", True),
        ),
    )
    matching = Variant(
        f"tcp {TOPICS // 1000}k topics",
        {**common, "topics": TOPICS, "count": MATCHING_COUNT // divisor},
        (
            Metric("msgs_per_s", "delivered", "msg/s", True),
            Metric("pub_msgs_per_s", "published", "msg/s", True),
            Metric("subscribe_ms", "subscribe calls", "ms", False),
            Metric("setup_ms", "subscriptions applied", "ms", False),
        ),
    )
    return [fanout, matching]


# --------------------------------------------------------------------------- socket helpers


def _pub_socket(zmq: ModuleType, ctx: Any, params: dict[str, Any]) -> Any:
    sock = ctx.socket(zmq.PUB)
    sock.setsockopt(zmq.SNDHWM, params["hwm"])
    sock.setsockopt(zmq.LINGER, 0)
    return sock


def _sub_socket(zmq: ModuleType, ctx: Any, params: dict[str, Any]) -> Any:
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.RCVHWM, params["hwm"])
    # Subscriptions travel to the PUB through the SUB's outgoing queue: libzmq
    # silently drops those beyond SNDHWM (default 1,000) when they are made faster
    # than the I/O thread sends them, which 10,000 setsockopt calls in a row are.
    sock.setsockopt(zmq.SNDHWM, params["hwm"])
    sock.setsockopt(zmq.RCVTIMEO, int(params["idle_timeout"] * 1000))
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"tcp://127.0.0.1:{params['port']}")
    return sock


def _probe_until_go(chan: Connection, sock: Any, probes: tuple[bytes, ...]) -> bool:
    """Publish ``probes`` every millisecond until the parent says go (True) or stop (False)."""
    while not chan.poll(PROBE_INTERVAL):
        for probe in probes:
            sock.send(probe, copy=True)
    try:
        return bool(chan.recv() == "go")
    except (EOFError, OSError):
        return False


def _publish(sock: Any, messages: list[bytes], params: dict[str, Any]) -> dict[str, Any]:
    """Send ``count`` messages cycling through ``messages``; stop at ``max_seconds``."""
    count: int = params["count"]
    cycle = len(messages)
    sent = 0
    start = time.perf_counter()
    deadline = start + params["max_seconds"]
    while sent < count:
        batch = min(CHECK_EVERY, count - sent)
        for index in range(sent, sent + batch):
            sock.send(messages[index % cycle], copy=True)
        sent += batch
        if time.perf_counter() > deadline:
            break
    return {"sent": sent, "seconds": time.perf_counter() - start}


def _end_until_stop(chan: Connection, sock: Any, end: bytes) -> None:
    """Publish the end marker every ``END_INTERVAL`` s until the parent says stop.

    A marker may be dropped by a full queue; a later one gets through once the
    SUB has caught up.
    """
    with contextlib.suppress(EOFError, OSError):
        while not chan.poll(END_INTERVAL):
            sock.send(end, copy=True)
        chan.recv()


def _wait_for(zmq: ModuleType, sock: Any, wanted: bytes, params: dict[str, Any]) -> None:
    """Receive until the control message ``wanted`` arrives (others are discarded).

    Gives up after the idle timeout, even if other messages keep arriving.
    """
    timeout: float = params["idle_timeout"]
    deadline = time.perf_counter() + timeout
    try:
        while sock.recv(copy=True) != wanted:
            if time.perf_counter() > deadline:
                raise BenchError(f"no {wanted!r} within {timeout:g} s")
    except zmq.Again:
        raise BenchError(f"no {wanted!r} within {timeout:g} s") from None


def _receive(
    zmq: ModuleType, sock: Any, expected: int, end: bytes, params: dict[str, Any]
) -> dict[str, Any]:
    """Receive data messages until ``expected``, the end marker or ``max_seconds``.

    Data messages are told from control messages (probes, end markers) by
    their length.  Timed from the first to the last data message.
    """
    size: int = params["size"]
    clock = time.perf_counter
    received = 0
    try:
        while True:
            msg = sock.recv(copy=True)
            if len(msg) == size:
                break
            if msg == end:
                return {"received": 0, "seconds": 0.0, "ended": True, "stopped": False}
        start = last = clock()
        deadline = start + params["max_seconds"]
        received = 1
        ended = stopped = False
        while received < expected:
            msg = sock.recv(copy=True)
            if len(msg) != size:
                if msg == end:
                    ended = True
                    break
                continue
            received += 1
            last = clock()
            if last > deadline:
                stopped = True
                break
    except zmq.Again:
        raise BenchError(
            f"subscriber got nothing for {params['idle_timeout']:g} s "
            f"after {received} of {expected} messages"
        ) from None
    return {"received": received, "seconds": last - start, "ended": ended, "stopped": stopped}


def _rate(result: dict[str, Any]) -> float:
    """Messages per second from first to last, or 0 when there is nothing to time."""
    if result["received"] < 2 or result["seconds"] <= 0:
        return 0.0
    return float((result["received"] - 1) / result["seconds"])


# --------------------------------------------------------------------------- fan-out workers


def fanout_pub_worker(zmq: ModuleType, chan: Connection, params: dict[str, Any]) -> None:
    """PUB: probe until all SUBs are in, publish ``count`` messages, then end markers."""
    ctx = zmq.Context()
    sock = _pub_socket(zmq, ctx, params)
    report(chan, sock.bind_to_random_port("tcp://127.0.0.1"))
    if _probe_until_go(chan, sock, (FANOUT_PROBE,)):
        payload = FANOUT_TOPIC + b"x" * (params["size"] - len(FANOUT_TOPIC))
        report(chan, _publish(sock, [payload], params))
        _end_until_stop(chan, sock, FANOUT_END)
    sock.close()
    ctx.term()


def fanout_sub_worker(zmq: ModuleType, chan: Connection, params: dict[str, Any]) -> None:
    """SUB: subscribe, report once a probe arrives, then count the data messages."""
    ctx = zmq.Context()
    sock = _sub_socket(zmq, ctx, params)
    sock.setsockopt(zmq.SUBSCRIBE, FANOUT_TOPIC)
    _wait_for(zmq, sock, FANOUT_PROBE, params)
    report(chan, "ready")
    report(chan, _receive(zmq, sock, params["count"], FANOUT_END, params))
    sock.close()
    ctx.term()


def measure_fanout(impl: str, variant: Variant, settings: Settings) -> Measurement:
    """Run the PUB and the SUBs; sum the SUBs' delivery rates."""
    params = dict(variant.params)
    count: int = params["count"]
    timeout = params["max_seconds"] * 2 + params["idle_timeout"] + START_TIMEOUT
    with ExitStack() as stack:
        pub = stack.enter_context(Worker("PUB", fanout_pub_worker, impl, params))
        params["port"] = pub.recv(START_TIMEOUT, "port")
        subs = [
            stack.enter_context(Worker(f"SUB {n + 1}", fanout_sub_worker, impl, params))
            for n in range(params["subscribers"])
        ]
        for sub in subs:
            sub.recv(START_TIMEOUT + params["idle_timeout"], "first probe", watch=[pub, *subs])
        pub.send("go")
        results = [sub.recv(timeout, "result", watch=[pub, *subs]) for sub in subs]
        published = pub.recv(START_TIMEOUT, "send time", watch=subs)
    rates = [_rate(result) for result in results]
    if not all(rates):
        raise BenchError(f"too few messages to time: {[r['received'] for r in results]}")
    notes = []
    sent: int = published["sent"]
    lost = sum(sent - r["received"] for r in results if not r["stopped"])
    if lost:
        notes.append(f"{lost} of {sent * len(results)} deliveries dropped (HWM {params['hwm']})")
    if published["sent"] < count:
        notes.append(
            f"PUB stopped after {published['seconds']:.1f} s: {published['sent']} of {count} sent"
        )
    stopped = [r for r in results if r["stopped"]]
    if stopped:
        got = ", ".join(str(r["received"]) for r in stopped)
        notes.append(f"{len(stopped)} SUBs stopped after {params['max_seconds']:g} s ({got})")
    return Measurement(
        {
            "msgs_per_s": sum(rates),
            "pub_msgs_per_s": published["sent"] / published["seconds"],
            "dropped": lost,
        },
        notes,
    )


# --------------------------------------------------------------------------- matching workers


def _topic(index: int) -> bytes:
    return b"topic-%05d" % index


def matching_pub_worker(zmq: ModuleType, chan: Connection, params: dict[str, Any]) -> None:
    """PUB: probe until the SUB is set up, then cycle through twice ``topics`` topics."""
    ctx = zmq.Context()
    sock = _pub_socket(zmq, ctx, params)
    report(chan, sock.bind_to_random_port("tcp://127.0.0.1"))
    topics: int = params["topics"]
    size: int = params["size"]
    last = _topic(topics - 1)
    if _probe_until_go(chan, sock, (SYNC_PROBE, last + LAST_PROBE)):
        # Alternately a subscribed topic (index < topics) and an unsubscribed one.
        order = [(i // 2) + (topics if i % 2 else 0) for i in range(2 * topics)]
        messages = [_topic(i).ljust(size, b"x") for i in order]
        report(chan, _publish(sock, messages, params))
        _end_until_stop(chan, sock, last + MATCHING_END)
    sock.close()
    ctx.term()


def matching_sub_worker(zmq: ModuleType, chan: Connection, params: dict[str, Any]) -> None:
    """SUB: connect, time the 10,000 subscriptions, then count the matching messages."""
    ctx = zmq.Context()
    sock = _sub_socket(zmq, ctx, params)
    sock.setsockopt(zmq.SUBSCRIBE, SYNC_TOPIC)
    _wait_for(zmq, sock, SYNC_PROBE, params)  # connected: the timing below excludes it
    start = time.perf_counter()
    for index in range(params["topics"]):
        sock.setsockopt(zmq.SUBSCRIBE, _topic(index))
    calls = time.perf_counter() - start
    last = _topic(params["topics"] - 1)
    _wait_for(zmq, sock, last + LAST_PROBE, params)
    applied = time.perf_counter() - start
    sock.setsockopt(zmq.UNSUBSCRIBE, SYNC_TOPIC)
    report(chan, {"subscribe_ms": calls * 1e3, "setup_ms": applied * 1e3})
    # Every other message matches (see matching_pub_worker).
    report(chan, _receive(zmq, sock, (params["count"] + 1) // 2, last + MATCHING_END, params))
    sock.close()
    ctx.term()


def measure_matching(impl: str, variant: Variant, settings: Settings) -> Measurement:
    """Run the PUB and the SUB; report delivery and publishing rates and set-up times."""
    params = dict(variant.params)
    timeout = params["max_seconds"] * 2 + params["idle_timeout"] + START_TIMEOUT
    with ExitStack() as stack:
        pub = stack.enter_context(Worker("PUB", matching_pub_worker, impl, params))
        params["port"] = pub.recv(START_TIMEOUT, "port")
        sub = stack.enter_context(Worker("SUB", matching_sub_worker, impl, params))
        setup = sub.recv(START_TIMEOUT + params["idle_timeout"] * 2, "subscriptions", watch=[pub])
        pub.send("go")
        result = sub.recv(timeout, "result", watch=[pub])
        published = pub.recv(START_TIMEOUT, "send time", watch=[sub])
    rate = _rate(result)
    if not rate:
        raise BenchError(f"too few messages to time ({result['received']})")
    notes = []
    expected = (published["sent"] + 1) // 2
    lost = 0 if result["stopped"] else expected - result["received"]
    if result["stopped"]:
        notes.append(
            f"SUB stopped after {params['max_seconds']:g} s: {result['received']} of {expected}"
        )
    elif lost:
        notes.append(f"{lost} of {expected} matching messages dropped (HWM {params['hwm']})")
    if published["sent"] < params["count"]:
        notes.append(
            f"PUB stopped after {published['seconds']:.1f} s: "
            f"{published['sent']} of {params['count']} sent"
        )
    return Measurement(
        {
            "msgs_per_s": rate,
            "pub_msgs_per_s": published["sent"] / published["seconds"],
            "subscribe_ms": setup["subscribe_ms"],
            "setup_ms": setup["setup_ms"],
            "dropped": lost,
        },
        notes,
    )


def measure(impl: str, variant: Variant, settings: Settings) -> Measurement:
    """Dispatch to the fan-out or the matching measurement."""
    if "topics" in variant.params:
        return measure_matching(impl, variant, settings)
    return measure_fanout(impl, variant, settings)


CASE = Case(
    name="pubsub",
    summary=f"PUB->{SUBSCRIBERS} SUBs over tcp: delivered msg/s; matching {TOPICS:,} topics",
    variants=variants,
    measure=measure,
)
