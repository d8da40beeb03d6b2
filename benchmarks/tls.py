"""``tls``: PUSH -> PULL over ``tls+tcp`` against the same implementation over ``tcp``.

Why: TLS under ZMTP adds a record layer (AES-GCM or ChaCha20 in OpenSSL, one
``SSLObject`` call per batch of frames) between the stream and the ZMTP framing.
The issue's target is that TLS keeps at least half of plain-tcp throughput at
64 KiB: the TLS layer must be batched, not per frame.

How: as in :mod:`benchmarks.throughput` over tcp (same loops, same high-water
marks), twice per implementation: once over ``tcp`` and once over ``tls+tcp``,
server-authenticated, with an ECDSA P-256 certificate from a throw-away CA (TLS
1.3 negotiated).  Each implementation's own ``tcp`` rate is the baseline of its
``tls+tcp`` rate: the ``tls share`` metric is ``tls / tcp`` and the target is
judged on it directly.  pyzmq has no ``tls+tcp``; its column shows its tcp rate
and "no tls+tcp" in the TLS rows, for reference.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from multiprocessing.connection import Connection
from types import ModuleType
from typing import Any

from benchmarks.core import BenchError, Case, Measurement, Metric, Settings, Target, Variant
from benchmarks.procs import START_TIMEOUT, Worker, report
from benchmarks.throughput import (
    _pull_socket,
    _push_socket,
    _receive,
    send_and_hold,
    stream_params,
)

SIZES: dict[int, str] = {64: "64 B", 65536: "64 KiB"}

COUNTS: dict[int, int] = {64: 800_000, 65536: 30_000}
"""Messages per run, as the tcp variants of ``throughput``."""

QUICK_DIVISOR = 6

TARGETS: dict[int, Target] = {65536: Target(">=", 0.5, on_value=True)}
"""The issue's target: at 64 KiB, tls+tcp keeps half of plain-tcp throughput."""


def variants(settings: Settings) -> list[Variant]:
    """64 B and 64 KiB, each measured over tcp and tls+tcp."""
    divisor = QUICK_DIVISOR if settings.quick else 1
    result = []
    for size, label in SIZES.items():
        params = {**stream_params(size, COUNTS[size] // divisor, settings),
                  "tmpdir": settings.tmpdir}
        metrics = (
            Metric("tcp_msgs_per_s", "tcp msg/s", "msg/s", higher_is_better=True),
            Metric("tls_msgs_per_s", "tls+tcp msg/s", "msg/s", higher_is_better=True),
            Metric("tls_share", "tls / tcp", "x", higher_is_better=True,
                   target=TARGETS.get(size)),
        )
        result.append(Variant(label, params, metrics))
    return result


def _certificates(tmpdir: str) -> tuple[str, str]:
    """A CA and a server certificate for 127.0.0.1 in ``tmpdir``; (server PEM, CA PEM)."""
    server_pem = os.path.join(tmpdir, "tls-bench-server.pem")
    ca_pem = os.path.join(tmpdir, "tls-bench-ca.pem")
    if not os.path.exists(server_pem):
        import trustme  # a test dependency; the benchmarks run from a test install

        ca = trustme.CA()
        ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(server_pem)
        ca.cert_pem.write_to_path(ca_pem)
    return server_pem, ca_pem


def receiver_worker(zmq: ModuleType, chan: Connection, params: dict[str, Any]) -> None:
    """PULL: bind over tcp or tls+tcp, report the endpoint, receive, report the timing."""
    ctx = zmq.Context()
    sock = _pull_socket(zmq, ctx, params)
    if params["transport"] == "tls+tcp":
        sock.setsockopt(zmq.TLS_CERT, params["server_pem"])
    sock.bind(f"{params['transport']}://127.0.0.1:*")
    report(chan, {"endpoint": sock.getsockopt(zmq.LAST_ENDPOINT).decode()})
    report(chan, _receive(zmq, sock, params))
    sock.close()
    ctx.term()


def sender_worker(zmq: ModuleType, chan: Connection, params: dict[str, Any]) -> None:
    """PUSH: connect, send everything, then hold on until told to stop."""
    ctx = zmq.Context()
    sock = _push_socket(zmq, ctx, params)
    if params["transport"] == "tls+tcp":
        sock.setsockopt(zmq.TLS_CA, params["ca_pem"])
    sock.connect(params["endpoint"])
    send_and_hold(zmq, chan, ctx, sock, params)


def _rate(impl: str, params: dict[str, Any]) -> tuple[float, list[str]]:
    result_timeout = params["max_seconds"] + params["idle_timeout"] + START_TIMEOUT
    with ExitStack() as stack:
        rx = stack.enter_context(Worker("receiver", receiver_worker, impl, params))
        params.update(rx.recv(START_TIMEOUT, "endpoint"))
        tx = stack.enter_context(Worker("sender", sender_worker, impl, params))
        result = rx.recv(result_timeout, "result", watch=[tx])
        if result["received"] < params["count"]:
            tx.close(grace=0.5)
    received, seconds = result["received"], result["seconds"]
    if received < 2 or seconds <= 0:
        raise BenchError(f"too few messages to time ({received} in {seconds:.3g} s)")
    notes = []
    if received < params["count"]:
        notes.append(f"{params['transport']}: stopped after {seconds:.1f} s: "
                     f"{received} of {params['count']} messages")
    return (received - 1) / seconds, notes


def measure(impl: str, variant: Variant, settings: Settings) -> Measurement:
    """Measure ``impl`` over tcp, then over tls+tcp if it has it."""
    params = dict(variant.params)
    tcp, notes = _rate(impl, {**params, "transport": "tcp"})
    values = {"tcp_msgs_per_s": tcp}
    module = __import__(impl)
    if not hasattr(module, "TLS_CERT"):
        notes.append("no tls+tcp in this implementation")
        return Measurement(values, notes)
    server_pem, ca_pem = _certificates(params["tmpdir"])
    tls, tls_notes = _rate(impl, {**params, "transport": "tls+tcp",
                                  "server_pem": server_pem, "ca_pem": ca_pem})
    values.update(tls_msgs_per_s=tls, tls_share=tls / tcp)
    return Measurement(values, notes + tls_notes)


CASE = Case(
    name="tls",
    summary="PUSH->PULL over tls+tcp vs tcp at 64 B and 64 KiB (ratio within each impl)",
    variants=variants,
    measure=measure,
)
