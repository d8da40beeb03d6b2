"""``curve``: CURVE-encrypted PUSH -> PULL throughput, and CURVE handshakes per second.

Why: CURVE (RFC 26) adds a Curve25519 handshake to every connection and a
``crypto_box`` on every message.  In libzmq both are C calls into libsodium; in
a pure-Python implementation the per-message encryption and framing add Python
work on both sides, and the handshake (four commands, several public-key
operations, metadata) is a long Python code path per connection.

How, throughput (``tcp 64 B``, ``tcp 64 KiB``): as in :mod:`benchmarks.throughput`
over tcp (same receive and send loops, same high-water marks), with the PULL
receiver as CURVE server (``CURVE_SERVER`` = 1, ``CURVE_SECRETKEY``) and the
PUSH sender as CURVE client (``CURVE_SERVERKEY``, ``CURVE_PUBLICKEY``,
``CURVE_SECRETKEY``).  Each process makes its key pair with the
implementation's own ``curve_keypair()``; the server reports its public key
with its endpoint.  Timed from the first to the last message, so the
handshake is not part of the figure.

How, handshakes (``tcp handshakes``): a ROUTER CURVE server in one process
echoes every message.  A client process makes one key pair, then ``count``
times: creates a DEALER with the CURVE client options, connects, sends one
64 B message, waits for the echo and closes the socket (``LINGER`` 0).  The
reported rate is completed cycles per second over the whole loop, so it
includes socket creation, the TCP connect and one round trip besides the
handshake: what an application that opens short-lived secure connections gets.

Neither side has a ZAP handler, so both implementations admit any client key
(securemq says so with one WARNING per server socket; the workers silence the
``securemq`` logger).

Bounds: as in the other cases (``RCVTIMEO`` = idle timeout on every receive,
``max_seconds`` on the timed part, partial rates reported with a note).
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from multiprocessing.connection import Connection
from types import ModuleType
from typing import Any

from benchmarks.core import BenchError, Case, Measurement, Metric, Settings, Target, Variant
from benchmarks.procs import START_TIMEOUT, Worker, report, wait_for_stop
from benchmarks.throughput import _receive, send_and_hold, stream_params

SIZES: dict[int, str] = {64: "64 B", 65536: "64 KiB"}

COUNTS: dict[int, int] = {64: 800_000, 65536: 12_000}
"""Messages per throughput run, tuned so pyzmq needs about 1.5-2 s on a small 2-core VM."""

HANDSHAKES = 800
"""Connect-handshake-echo-close cycles per run (about 1.5-2 s for pyzmq)."""

HANDSHAKE_SIZE = 64

QUICK_DIVISOR = 6
"""``--quick`` does this many times fewer messages and handshakes."""

TARGETS: dict[int, Target] = {64: Target(">=", 0.35), 65536: Target(">=", 1.0)}
"""The issue's targets on the throughput ratio (securemq / pyzmq msg/s)."""


def variants(settings: Settings) -> list[Variant]:
    """Throughput at 64 B and 64 KiB, then the handshake rate; counts scaled for ``--quick``."""
    divisor = QUICK_DIVISOR if settings.quick else 1
    result = []
    for size, size_label in SIZES.items():
        params = stream_params(size, COUNTS[size] // divisor, settings)
        metrics = (
            Metric("msgs_per_s", "msg/s", "msg/s", higher_is_better=True, target=TARGETS[size]),
            Metric("mb_per_s", "MB/s", "MB/s", higher_is_better=True),
        )
        result.append(Variant(f"tcp {size_label}", params, metrics))
    params = {
        "size": HANDSHAKE_SIZE,
        "count": HANDSHAKES // divisor,
        "idle_timeout": settings.idle_timeout,
        "max_seconds": settings.max_seconds,
    }
    metric = Metric("handshakes_per_s", "handshakes/s", "handshakes/s", higher_is_better=True)
    result.append(Variant("tcp handshakes", params, (metric,)))
    return result


# --------------------------------------------------------------------------- helpers


def _quiet() -> None:
    """Silence securemq's "CURVE server without a ZAP handler" warning (one per socket)."""
    logging.getLogger("securemq").setLevel(logging.ERROR)


def _curve_server(zmq: ModuleType, sock: Any) -> bytes:
    """Make ``sock`` a CURVE server with a fresh key pair; return its public key."""
    public, secret = zmq.curve_keypair()
    sock.setsockopt(zmq.CURVE_SERVER, 1)
    sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
    return bytes(public)


def _curve_client(zmq: ModuleType, sock: Any, server_key: bytes, keys: tuple[bytes, bytes]) -> None:
    """Make ``sock`` a CURVE client of the server with public key ``server_key``."""
    public, secret = keys
    sock.setsockopt(zmq.CURVE_SERVERKEY, server_key)
    sock.setsockopt(zmq.CURVE_PUBLICKEY, public)
    sock.setsockopt(zmq.CURVE_SECRETKEY, secret)


def _timeout_ms(params: dict[str, Any]) -> int:
    return int(params["idle_timeout"] * 1000)


# --------------------------------------------------------------------------- throughput workers


def receiver_worker(zmq: ModuleType, chan: Connection, params: dict[str, Any]) -> None:
    """PULL CURVE server: bind, report endpoint and key, receive, report the timing."""
    _quiet()
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PULL)
    server_key = _curve_server(zmq, sock)
    sock.setsockopt(zmq.RCVHWM, params["hwm"])
    sock.setsockopt(zmq.RCVTIMEO, _timeout_ms(params))
    sock.setsockopt(zmq.LINGER, 0)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    report(chan, {"endpoint": f"tcp://127.0.0.1:{port}", "server_key": server_key})
    report(chan, _receive(zmq, sock, params))
    sock.close()
    ctx.term()


def sender_worker(zmq: ModuleType, chan: Connection, params: dict[str, Any]) -> None:
    """PUSH CURVE client: connect, send everything, then hold on until told to stop."""
    _quiet()
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUSH)
    _curve_client(zmq, sock, params["server_key"], zmq.curve_keypair())
    sock.setsockopt(zmq.SNDHWM, params["hwm"])
    sock.connect(params["endpoint"])
    send_and_hold(zmq, chan, ctx, sock, params)


def measure_throughput(impl: str, variant: Variant, settings: Settings) -> Measurement:
    """Run one throughput variant with ``impl`` and turn the receiver timing into rates."""
    params = dict(variant.params)
    result_timeout = params["max_seconds"] + params["idle_timeout"] + START_TIMEOUT
    with ExitStack() as stack:
        rx = stack.enter_context(Worker("CURVE receiver", receiver_worker, impl, params))
        params.update(rx.recv(START_TIMEOUT, "endpoint"))
        tx = stack.enter_context(Worker("CURVE sender", sender_worker, impl, params))
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


# --------------------------------------------------------------------------- handshake workers


def echo_server_worker(zmq: ModuleType, chan: Connection, params: dict[str, Any]) -> None:
    """ROUTER CURVE server: echo ``count`` messages, or fewer if the client stops early."""
    _quiet()
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    server_key = _curve_server(zmq, sock)
    sock.setsockopt(zmq.RCVTIMEO, _timeout_ms(params))
    sock.setsockopt(zmq.LINGER, 0)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    report(chan, {"endpoint": f"tcp://127.0.0.1:{port}", "server_key": server_key})
    echoed = 0
    try:
        for _ in range(params["count"]):
            sock.send_multipart(sock.recv_multipart(copy=True), copy=True)
            echoed += 1
    except zmq.Again:
        pass  # the client stopped early or died; the client's report says which
    report(chan, echoed)
    wait_for_stop(chan)
    sock.close()
    ctx.term()


def handshake_client_worker(zmq: ModuleType, chan: Connection, params: dict[str, Any]) -> None:
    """Open, handshake, echo once and close a CURVE DEALER ``count`` times."""
    _quiet()
    ctx = zmq.Context()
    keys = zmq.curve_keypair()
    payload = b"x" * params["size"]
    completed = 0
    start = time.perf_counter()
    deadline = start + params["max_seconds"]
    try:
        for _ in range(params["count"]):
            sock = ctx.socket(zmq.DEALER)
            try:
                _curve_client(zmq, sock, params["server_key"], keys)
                sock.setsockopt(zmq.RCVTIMEO, _timeout_ms(params))
                sock.setsockopt(zmq.LINGER, 0)
                sock.connect(params["endpoint"])
                sock.send(payload, copy=True)
                if sock.recv(copy=True) != payload:
                    raise BenchError("reply differs from request")
            finally:
                sock.close()
            completed += 1
            if time.perf_counter() > deadline:
                break
    except zmq.Again:
        raise BenchError(
            f"no reply for {params['idle_timeout']:g} s after {completed} handshakes"
        ) from None
    seconds = time.perf_counter() - start
    report(chan, {"completed": completed, "seconds": seconds})
    ctx.term()


def measure_handshakes(impl: str, variant: Variant, settings: Settings) -> Measurement:
    """Run the echo server and the handshaking client; report completed cycles per second."""
    params = dict(variant.params)
    with ExitStack() as stack:
        server = stack.enter_context(Worker("ROUTER server", echo_server_worker, impl, params))
        params.update(server.recv(START_TIMEOUT, "endpoint"))
        client = stack.enter_context(Worker("DEALER client", handshake_client_worker, impl, params))
        timeout = params["max_seconds"] * 2 + params["idle_timeout"] + START_TIMEOUT
        result = client.recv(timeout, "result", watch=[server])
        server.close(grace=1.0)  # if the client stopped early, the server is stuck in recv
    completed, seconds = result["completed"], result["seconds"]
    if completed < 1 or seconds <= 0:
        raise BenchError(f"no handshake completed in {seconds:.3g} s")
    notes = []
    if completed < params["count"]:
        notes.append(f"stopped after {seconds:.1f} s: {completed} of {params['count']} handshakes")
    return Measurement({"handshakes_per_s": completed / seconds}, notes)


def measure(impl: str, variant: Variant, settings: Settings) -> Measurement:
    """Dispatch to the throughput or the handshake measurement."""
    if variant.name == "tcp handshakes":
        return measure_handshakes(impl, variant, settings)
    return measure_throughput(impl, variant, settings)


CASE = Case(
    name="curve",
    summary="CURVE over tcp: PUSH->PULL msg/s at 64 B and 64 KiB, handshakes/s",
    variants=variants,
    measure=measure,
)
