"""Proxies and devices: ``proxy``, ``proxy_steerable``, ``device``, ``securemq.devices``.

The expectations are libzmq 4.3.5's and pyzmq's. As in ``test_pubsub.py``, the suite
can be pointed at pyzmq to check the expectations themselves::

    SMQ_TEST_IMPL=zmq python -m pytest tests/test_proxy.py -q -p no:cacheprovider

Tests of what only securemq promises (argument errors, pickling a process device for
the spawn start method) are skipped then.

A proxy blocks its thread, so each runs in a :class:`Running` thread that owns the
sockets handed to it and closes them when the proxy ends: ``Context.term()`` waits for
that. Every socket has ``rcvtimeo``/``sndtimeo``, every join a timeout, and no test
sleeps: "nothing arrives" is a bounded poll, and a PUB/SUB slow joiner is handled by
publishing until the subscriber receives, with a deadline.
"""

from __future__ import annotations

import importlib
import itertools
import multiprocessing
import os
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

#: The implementation under test: ``securemq`` (default) or ``zmq`` (pyzmq).
IMPL = os.environ.get("SMQ_TEST_IMPL", "securemq")
smq: Any = importlib.import_module(IMPL)
zmq = pytest.importorskip("zmq")

if IMPL == "securemq":
    from securemq import devices
    from securemq.proxy import device, proxy, proxy_steerable
else:
    devices = importlib.import_module("zmq.devices")
    device, proxy, proxy_steerable = smq.device, smq.proxy, smq.proxy_steerable

pytestmark = pytest.mark.timeout(60)

TIMEOUT_MS = 5000
QUIET_MS = 300  # how long "nothing more arrives" is watched
JOIN_S = 10.0
SYNC_S = 5.0
_names = itertools.count()

only_securemq = pytest.mark.skipif(IMPL != "securemq", reason="a securemq promise")

#: libzmq 4.3.5 as released (the one pyzmq wheels bundle) steers wrongly: RESUME pauses,
#: PAUSE and unknown commands resume, and every command but STATISTICS is answered even
#: on a PAIR. libzmq fixed both days later (zeromq/libzmq#4600); its manual
#: (zmq_proxy_steerable(3)) documents the fixed behaviour, which is what we expect.
LIBZMQ_435_STEERING = IMPL == "zmq" and zmq.zmq_version() == "4.3.5"
libzmq_435_steering = pytest.mark.xfail(
    LIBZMQ_435_STEERING, strict=True, reason="libzmq 4.3.5 steering bugs, fixed in #4600")

Make = Callable[..., Any]


# -- fixtures and helpers --------------------------------------------------------------


@pytest.fixture
def sctx(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A context of the implementation under test, destroyed with linger 0."""
    if IMPL == "securemq":
        yield request.getfixturevalue("ctx")
        return
    c = smq.Context()
    yield c
    c.destroy(linger=0)


@pytest.fixture
def made() -> Iterator[list[Any]]:
    """Every socket a test makes, closed (linger 0) before the contexts go."""
    socks: list[Any] = []
    yield socks
    for s in reversed(socks):
        s.close(linger=0)


def _tune(sock: Any, made: list[Any], **opts: Any) -> Any:
    made.append(sock)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, TIMEOUT_MS)
    sock.setsockopt(zmq.SNDTIMEO, TIMEOUT_MS)
    for name, value in opts.items():
        sock.setsockopt(getattr(zmq, name.upper()), value)
    return sock


@pytest.fixture
def mk(sctx: Any, made: list[Any]) -> Make:
    """``mk(type, **options)``: a socket of the implementation under test."""
    return lambda kind, **opts: _tune(sctx.socket(kind), made, **opts)


@pytest.fixture
def mkz(zctx: Any, made: list[Any]) -> Make:
    """``mkz(type, **options)``: a libzmq socket (pyzmq)."""
    return lambda kind, **opts: _tune(zctx.socket(kind), made, **opts)


def _bind(sock: Any, transport: str, ipc_path: str) -> str:
    """Bind ``sock`` to a fresh endpoint of ``transport``; return what peers connect to."""
    if transport == "inproc":
        addr = f"inproc://proxy-{os.getpid()}-{next(_names)}"
        sock.bind(addr)
        return addr
    if transport == "ipc":
        sock.bind(f"{ipc_path}-{next(_names)}")
    else:
        sock.bind("tcp://127.0.0.1:*")
    return bytes(sock.getsockopt(zmq.LAST_ENDPOINT)).decode()


class Running:
    """``fn(*args)`` run in a thread that owns the sockets among ``args``.

    The sockets are closed (linger 0) by that thread when ``fn`` ends, however it ends,
    so that ``Context.term()`` can finish. ``result`` and ``error`` say how it ended.
    """

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self.fn, self.args = fn, args
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()

    def _main(self) -> None:
        try:
            self.result = self.fn(*self.args)
        except BaseException as exc:  # reported by the test through .error
            self.error = exc
        finally:
            for a in self.args:
                if hasattr(a, "close") and not a.closed:
                    a.close(linger=0)

    def join(self) -> None:
        self.thread.join(JOIN_S)
        assert not self.thread.is_alive(), f"{self.fn.__name__} did not end"

    def expect_eterm(self) -> None:
        self.join()
        assert isinstance(self.error, smq.ContextTerminated), repr(self.error)
        assert self.error.errno == smq.ETERM


@pytest.fixture
def spawn(made: list[Any]) -> Iterator[Callable[..., Running]]:
    """``spawn(fn, *args)``: a :class:`Running`; any still running at teardown is
    stopped by closing its sockets under it (the safety net of a failed test)."""
    running: list[Running] = []

    def start(fn: Callable[..., Any], *args: Any) -> Running:
        r = Running(fn, *args)
        running.append(r)
        return r

    yield start
    for r in running:
        if r.thread.is_alive():
            for a in r.args:
                if hasattr(a, "close"):
                    a.close(linger=0)
            r.thread.join(JOIN_S)


def _terminate(sctx: Any, *clients: Any) -> None:
    """Close the test's own sockets, then terminate the context (with a deadline)."""
    for s in clients:
        s.close(linger=0)
    t = threading.Thread(target=sctx.term, daemon=True)
    t.start()
    t.join(JOIN_S)
    assert not t.is_alive(), "Context.term() did not return"


def _stats(control: Any) -> list[int]:
    """Ask a steerable proxy for STATISTICS; return the eight counters."""
    control.send(b"STATISTICS")
    reply = control.recv_multipart()
    assert len(reply) == 8, reply
    assert all(len(f) == 8 for f in reply)
    return [struct.unpack("=Q", f)[0] for f in reply]


def _quiet(sock: Any) -> bool:
    """True if nothing arrives on ``sock`` for QUIET_MS."""
    return not sock.poll(QUIET_MS, zmq.POLLIN)


def _sized(msgs: list[list[bytes]]) -> tuple[int, int]:
    """(frames, bytes) in ``msgs``: what libzmq's STATISTICS counts."""
    return sum(len(m) for m in msgs), sum(len(f) for m in msgs for f in m)


#: Messages pushed through the proxies: one frame, empty frames, many frames, 70 kB.
MESSAGES: list[list[bytes]] = [
    [b"hello"],
    [b"", b"part", b""],
    [b"%d" % i for i in range(10)],
    [b"big", b"x" * 70_000],
    [b""],
]


def _pipeline(mk: Make, transport: str, ipc_path: str,
              **extra: Any) -> tuple[Any, Any, Any, Any]:
    """PUSH -> [PULL frontend | PUSH backend] -> PULL; returns (src, fe, be, dst)."""
    fe, be = mk(zmq.PULL, **extra), mk(zmq.PUSH, **extra)
    src, dst = mk(zmq.PUSH), mk(zmq.PULL)
    src.connect(_bind(fe, transport, ipc_path))
    dst.connect(_bind(be, transport, ipc_path))
    return src, fe, be, dst


# -- proxy -------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["inproc", "ipc", "tcp"])
def test_push_pull_through_proxy(mk: Make, sctx: Any, spawn: Any, transport: str,
                                 ipc_path: str) -> None:
    src, fe, be, dst = _pipeline(mk, transport, ipc_path)
    running = spawn(proxy, fe, be)
    for m in MESSAGES:
        src.send_multipart(m)
    for m in MESSAGES:
        assert dst.recv_multipart() == m
    assert _quiet(dst)
    _terminate(sctx, src, dst)
    running.expect_eterm()


def test_router_dealer_broker(mk: Make, sctx: Any, spawn: Any, ipc_path: str) -> None:
    """REQ clients and REP workers meet through a ROUTER/DEALER proxy."""
    fe, be = mk(zmq.ROUTER), mk(zmq.DEALER)
    front = _bind(fe, "tcp", ipc_path)
    back = _bind(be, "ipc", ipc_path)
    clients = [mk(zmq.REQ) for _ in range(3)]
    workers = [mk(zmq.REP) for _ in range(2)]
    for c in clients:
        c.connect(front)
    for w in workers:
        w.connect(back)
    running = spawn(proxy, fe, be)
    poller = smq.Poller()
    for w in workers:
        poller.register(w, zmq.POLLIN)
    for rnd in range(5):
        for i, c in enumerate(clients):
            c.send_multipart([b"req", b"%d-%d" % (i, rnd)])
        served = 0
        deadline = time.monotonic() + SYNC_S
        while served < len(clients):
            assert time.monotonic() < deadline, "requests did not reach the workers"
            for w, _ in poller.poll(TIMEOUT_MS):
                req = w.recv_multipart()
                assert req[0] == b"req"
                w.send_multipart([b"rep", req[1]])
                served += 1
        for i, c in enumerate(clients):
            assert c.recv_multipart() == [b"rep", b"%d-%d" % (i, rnd)]
    _terminate(sctx, *clients, *workers)
    running.expect_eterm()


def test_capture_gets_a_copy_of_every_message(mk: Make, sctx: Any, spawn: Any,
                                              ipc_path: str) -> None:
    src, fe, be, dst = _pipeline(mk, "ipc", ipc_path)
    cap, mon = mk(zmq.PUSH), mk(zmq.PULL)
    mon.connect(_bind(cap, "inproc", ipc_path))
    running = spawn(proxy, fe, be, cap)
    for m in MESSAGES:
        src.send_multipart(m)
    for m in MESSAGES:
        assert dst.recv_multipart() == m
        assert mon.recv_multipart() == m
    assert _quiet(mon)
    _terminate(sctx, src, dst, mon)
    running.expect_eterm()


def test_capture_sees_both_directions(mk: Make, sctx: Any, spawn: Any,
                                      ipc_path: str) -> None:
    fe, be, cap = mk(zmq.ROUTER), mk(zmq.DEALER), mk(zmq.PUSH)
    client = mk(zmq.REQ, routing_id=b"client")
    worker, mon = mk(zmq.REP), mk(zmq.PULL)
    client.connect(_bind(fe, "tcp", ipc_path))
    worker.connect(_bind(be, "tcp", ipc_path))
    mon.connect(_bind(cap, "ipc", ipc_path))
    running = spawn(proxy, fe, be, cap)
    client.send(b"question")
    assert worker.recv() == b"question"
    worker.send(b"answer")
    assert client.recv() == b"answer"
    assert mon.recv_multipart() == [b"client", b"", b"question"]
    assert mon.recv_multipart() == [b"client", b"", b"answer"]
    _terminate(sctx, client, worker, mon)
    running.expect_eterm()


def test_backpressure_loses_and_reorders_nothing(mk: Make, sctx: Any, spawn: Any,
                                                 ipc_path: str) -> None:
    """With tiny queues the proxy keeps waiting for room: every message, in order."""
    src, fe, be, dst = _pipeline(mk, "tcp", ipc_path, sndhwm=5, rcvhwm=5)
    dst.setsockopt(zmq.RCVHWM, 5)
    running = spawn(proxy, fe, be)
    n = 3000
    sender = threading.Thread(
        target=lambda: [src.send_multipart([b"%d" % i, b"body"]) for i in range(n)],
        daemon=True)
    sender.start()
    for i in range(n):
        assert dst.recv_multipart() == [b"%d" % i, b"body"]
    sender.join(JOIN_S)
    assert not sender.is_alive()
    _terminate(sctx, src, dst)
    running.expect_eterm()


@pytest.mark.parametrize("how", ["proxy", "proxy_steerable", "device"])
def test_proxy_ends_with_context_terminated(mk: Make, sctx: Any, spawn: Any,
                                            how: str, ipc_path: str) -> None:
    src, fe, be, dst = _pipeline(mk, "tcp", ipc_path)
    if how == "proxy":
        running = spawn(proxy, fe, be)
    elif how == "device":
        running = spawn(device, zmq.QUEUE, fe, be)
    else:
        ctl = mk(zmq.PAIR)
        _bind(ctl, "inproc", ipc_path)
        running = spawn(proxy_steerable, fe, be, None, ctl)
    src.send(b"through")
    assert dst.recv() == b"through"  # the proxy is running
    assert running.thread.is_alive()
    _terminate(sctx, src, dst)
    running.expect_eterm()


def test_device_with_one_socket_echoes(mk: Make, sctx: Any, spawn: Any,
                                       ipc_path: str) -> None:
    """frontend is backend: a ROUTER proxied to itself routes each message home."""
    router = mk(zmq.ROUTER)
    addr = _bind(router, "tcp", ipc_path)
    dealer = mk(zmq.DEALER)
    dealer.connect(addr)
    running = spawn(proxy, router, router)
    dealer.send_multipart([b"echo", b"me"])
    assert dealer.recv_multipart() == [b"echo", b"me"]
    _terminate(sctx, dealer)
    running.expect_eterm()


# -- proxy_steerable --------------------------------------------------------------------


def _command(control: Any, command: bytes) -> None:
    """Send a command; a REP control answers each with an empty frame."""
    control.send(command)
    if control.getsockopt(zmq.TYPE) == zmq.REQ:
        assert control.recv_multipart() == [b""]


@pytest.fixture(params=["PAIR", "REP"])
def steered(request: pytest.FixtureRequest, mk: Make, spawn: Any,
            ipc_path: str) -> tuple[Any, Any, Any, Running]:
    """A steerable PULL/PUSH pipeline proxy: (src, dst, control, running)."""
    src, fe, be, dst = _pipeline(mk, "tcp", ipc_path)
    ctl = mk(getattr(zmq, request.param))
    client = mk(zmq.PAIR if request.param == "PAIR" else zmq.REQ)
    client.connect(_bind(ctl, "ipc", ipc_path))
    running = spawn(proxy_steerable, fe, be, None, ctl)
    return src, dst, client, running


def test_steerable_statistics_count_frames(steered: Any) -> None:
    src, dst, control, running = steered
    assert _stats(control) == [0] * 8
    for m in MESSAGES:
        src.send_multipart(m)
    for m in MESSAGES:
        assert dst.recv_multipart() == m
    frames, size = _sized(MESSAGES)
    # frontend: received; backend: sent. libzmq counts frames, not messages.
    assert _stats(control) == [frames, size, 0, 0, 0, 0, frames, size]
    _command(control, b"TERMINATE")
    running.join()
    assert running.error is None
    assert running.result == 0


@libzmq_435_steering
def test_steerable_pause_and_resume(steered: Any) -> None:
    src, dst, control, running = steered
    src.send(b"before")
    assert dst.recv() == b"before"
    _command(control, b"PAUSE")
    before = _stats(control)  # answered after PAUSE was applied: commands keep order
    held = [[b"held-%d" % i] for i in range(20)]
    for m in held:
        src.send_multipart(m)
    assert _quiet(dst)
    assert _stats(control) == before  # nothing was even read
    _command(control, b"RESUME")
    for m in held:
        assert dst.recv_multipart() == m
    frames, size = _sized([[b"before"], *held])
    assert _stats(control) == [frames, size, 0, 0, 0, 0, frames, size]
    _command(control, b"TERMINATE")
    running.join()
    assert running.error is None


def test_steerable_ignores_unknown_commands(steered: Any,
                                            request: pytest.FixtureRequest) -> None:
    src, dst, control, running = steered
    if control.getsockopt(zmq.TYPE) == zmq.PAIR:
        request.applymarker(libzmq_435_steering)
    for cmd in (b"BOGUS", b"pause", b"PAUSEX", b""):
        _command(control, cmd)
    src.send(b"still-forwarding")
    assert dst.recv() == b"still-forwarding"
    assert _stats(control)[:2] == [1, len(b"still-forwarding")]
    _command(control, b"TERMINATE")
    running.join()
    assert running.error is None


def test_steerable_terminate_while_paused(steered: Any) -> None:
    src, _dst, control, running = steered
    _command(control, b"PAUSE")
    src.send(b"never-forwarded")
    _command(control, b"TERMINATE")
    running.join()
    assert (running.error, running.result) == (None, 0)


@libzmq_435_steering
def test_pair_control_gets_no_reply(mk: Make, spawn: Any, ipc_path: str) -> None:
    src, fe, be, dst = _pipeline(mk, "inproc", ipc_path)
    ctl, client = mk(zmq.PAIR), mk(zmq.PAIR)
    client.connect(_bind(ctl, "inproc", ipc_path))
    running = spawn(proxy_steerable, fe, be, None, ctl)
    client.send(b"PAUSE")
    client.send(b"RESUME")
    assert _stats(client) == [0] * 8  # the first reply is STATISTICS'
    src.send(b"resumed")
    assert dst.recv() == b"resumed"
    client.send(b"TERMINATE")
    running.join()
    assert running.error is None


# -- the same traffic through libzmq's proxy and ours -----------------------------------


def _steered_broker_transcript(context: Any, made: list[Any], run: Callable[..., Any],
                               ipc_path: str) -> list[Any]:
    """Drive a steerable ROUTER/DEALER broker; return what the control socket saw."""

    def make(kind: int, **opts: Any) -> Any:
        return _tune(context.socket(kind), made, **opts)

    fe, be, ctl = make(zmq.ROUTER), make(zmq.DEALER), make(zmq.REP)
    client, worker = make(zmq.REQ, routing_id=b"client-1"), make(zmq.REP)
    control = make(zmq.REQ)
    client.connect(_bind(fe, "tcp", ipc_path))
    worker.connect(_bind(be, "ipc", ipc_path))
    control.connect(_bind(ctl, "tcp", ipc_path))
    thread = Running(run, fe, be, None, ctl)
    transcript: list[Any] = [_stats(control)]
    for request, reply in [([b"hello"], [b"world!"]), ([b"a", b"bc"], [b""]),
                           ([b"x" * 1000], [b"y", b"z" * 300])]:
        client.send_multipart(request)
        assert worker.recv_multipart() == request
        worker.send_multipart(reply)
        assert client.recv_multipart() == reply
        transcript.append(_stats(control))
    for command in (b"PAUSE", b"NOPE", b"RESUME"):
        control.send(command)
        transcript.append(control.recv_multipart())
    control.send(b"TERMINATE")
    transcript.append(control.recv_multipart())
    thread.join()
    transcript.append((thread.error, thread.result))
    return transcript


def _expected_transcript() -> list[Any]:
    """What libzmq 4.3.5 answers, worked out by hand: frames and bytes, per socket.

    A request through the ROUTER is [routing id, empty delimiter, *body]; its reply
    comes back through the DEALER the same way.
    """
    rid = b"client-1"
    stats = [0] * 8
    out: list[Any] = [list(stats)]
    for request, reply in [([b"hello"], [b"world!"]), ([b"a", b"bc"], [b""]),
                           ([b"x" * 1000], [b"y", b"z" * 300])]:
        req_frames, req_bytes = len(request) + 2, len(rid) + sum(map(len, request))
        rep_frames, rep_bytes = len(reply) + 2, len(rid) + sum(map(len, reply))
        stats[0] += req_frames  # frontend received
        stats[1] += req_bytes
        stats[6] += req_frames  # backend sent
        stats[7] += req_bytes
        stats[4] += rep_frames  # backend received
        stats[5] += rep_bytes
        stats[2] += rep_frames  # frontend sent
        stats[3] += rep_bytes
        out.append(list(stats))
    out += [[b""], [b""], [b""], [b""], (None, 0)]
    return out


@pytest.mark.parametrize("impl", [pytest.param("pyzmq", marks=pytest.mark.interop),
                                  "securemq"])
def test_statistics_same_as_libzmq(impl: str, made: list[Any], ipc_path: str,
                                   request: pytest.FixtureRequest) -> None:
    """The same traffic through pyzmq's proxy_steerable and ours: the same answers."""
    if impl == "pyzmq":
        context, run = request.getfixturevalue("zctx"), zmq.proxy_steerable
    else:
        import securemq
        from securemq.proxy import proxy_steerable as ours
        context, run = request.getfixturevalue("ctx"), ours
        assert isinstance(context, securemq.Context)
    assert _steered_broker_transcript(context, made, run, ipc_path) == \
        _expected_transcript()


# -- interop: our XSUB/XPUB proxy between libzmq's PUB and SUB --------------------------


@pytest.mark.interop
@pytest.mark.parametrize("transport", ["tcp", "ipc"])
def test_xsub_xpub_proxy_between_libzmq_peers(mk: Make, mkz: Make, sctx: Any, spawn: Any,
                                              transport: str, ipc_path: str) -> None:
    xsub, xpub, cap = mk(zmq.XSUB), mk(zmq.XPUB), mk(zmq.PUSH)
    pub, sub, mon = mkz(zmq.PUB), mkz(zmq.SUB), mk(zmq.PULL)
    pub.connect(_bind(xsub, transport, ipc_path))
    sub.connect(_bind(xpub, transport, ipc_path))
    mon.connect(_bind(cap, "inproc", ipc_path))
    running = spawn(proxy, xsub, xpub, cap)
    sub.subscribe(b"weather")
    # The subscription travels upstream through the proxy (the capture sees it pass),
    assert mon.recv_multipart() == [b"\x01weather"]
    # and data comes down once the PUB has it: publish until one arrives.
    deadline = time.monotonic() + SYNC_S
    while not sub.poll(20, zmq.POLLIN):
        assert time.monotonic() < deadline, "nothing reached the SUB through the proxy"
        pub.send(b"weather-probe")
    while sub.poll(QUIET_MS, zmq.POLLIN):
        assert sub.recv_multipart() == [b"weather-probe"]
    pub.send(b"sports")  # filtered out by the PUB: nobody subscribed
    pub.send_multipart([b"weather", b"sunny", b"x" * 70_000])
    assert sub.recv_multipart() == [b"weather", b"sunny", b"x" * 70_000]
    sub.unsubscribe(b"weather")
    # Probes may still be queued at the capture; the cancel follows them.
    while (got := mon.recv_multipart()) != [b"\x00weather"]:
        assert got == [b"weather-probe"] or got[0] == b"weather", got
    _terminate(sctx, mon)
    running.expect_eterm()


# -- argument checks ----------------------------------------------------------------------


@only_securemq
def test_bad_arguments_raise_zmqerror(mk: Make, ipc_path: str) -> None:
    pull, push = mk(zmq.PULL), mk(zmq.PUSH)
    cases: list[tuple[Callable[[], Any], int]] = [
        (lambda: proxy(b"not a socket", push), smq.ENOTSOCK),
        (lambda: proxy(pull, None), smq.ENOTSOCK),
        (lambda: proxy(pull, push, object()), smq.ENOTSOCK),
        (lambda: proxy(pull, push, mk(zmq.SUB)), smq.ENOTSUP),
        (lambda: proxy_steerable(pull, push, None, mk(zmq.PUB)), smq.ENOTSUP),
        (lambda: devices.monitored_queue(pull, push, mk(zmq.PUSH), "in"), smq.EINVAL),
        (lambda: devices.monitored_queue(pull, push, None), smq.ENOTSOCK),
    ]
    closed = mk(zmq.PUSH)
    closed.close()
    cases.append((lambda: proxy(pull, closed), smq.ENOTSOCK))
    for call, errno in cases:
        with pytest.raises(smq.ZMQError) as info:
            call()
        assert info.value.errno == errno


@only_securemq
def test_proxy_with_a_zmq_socket_is_refused(mk: Make, mkz: Make) -> None:
    with pytest.raises(smq.ZMQError) as info:
        proxy(mk(zmq.PULL), mkz(zmq.PUSH))
    assert info.value.errno == smq.ENOTSOCK


@only_securemq
def test_proxy_ends_when_a_socket_is_closed_under_it(mk: Make, spawn: Any,
                                                     ipc_path: str) -> None:
    src, fe, be, dst = _pipeline(mk, "inproc", ipc_path)
    running = spawn(proxy, fe, be)
    src.send(b"through")
    assert dst.recv() == b"through"  # the proxy is running
    be.close(linger=0)  # from another thread: noticed within a poll interval
    running.expect_eterm()


def test_device_constructor_checks_types() -> None:
    with pytest.raises(TypeError):
        devices.Device(zmq.QUEUE, zmq.PULL)
    with pytest.raises(TypeError):
        devices.Device(zmq.QUEUE, None, zmq.PUSH)


@only_securemq
def test_device_constructor_refuses_unknown_types() -> None:
    for args in [(zmq.QUEUE, 999, zmq.PUSH), (zmq.QUEUE, zmq.PULL, "PUSH")]:
        with pytest.raises(smq.ZMQError) as info:
            devices.Device(*args)
        assert info.value.errno == smq.EINVAL
    with pytest.raises(smq.ZMQError):
        devices.ProxySteerable(zmq.PULL, zmq.PUSH, zmq.PUB, 999)
    with pytest.raises(smq.ZMQError):
        devices.MonitoredQueue(zmq.PULL, zmq.PUSH, zmq.PUB, "in")


# -- monitored_queue -----------------------------------------------------------------------


def test_monitored_queue_prefixes(mk: Make, sctx: Any, spawn: Any, ipc_path: str) -> None:
    fe, be, mon_out = mk(zmq.ROUTER), mk(zmq.DEALER), mk(zmq.PUSH)
    client, worker = mk(zmq.REQ, routing_id=b"c"), mk(zmq.REP)
    mon = mk(zmq.PULL)
    client.connect(_bind(fe, "tcp", ipc_path))
    worker.connect(_bind(be, "ipc", ipc_path))
    mon.connect(_bind(mon_out, "inproc", ipc_path))
    running = spawn(devices.monitored_queue, fe, be, mon_out, b"IN", b"OUT")
    client.send_multipart([b"q", b"2"])
    assert worker.recv_multipart() == [b"q", b"2"]
    worker.send(b"a")
    assert client.recv() == b"a"
    assert mon.recv_multipart() == [b"IN", b"c", b"", b"q", b"2"]
    assert mon.recv_multipart() == [b"OUT", b"c", b"", b"a"]
    _terminate(sctx, client, worker, mon)
    running.expect_eterm()


def test_monitored_queue_router_to_router_swaps_ids(mk: Make, sctx: Any, spawn: Any,
                                                    ipc_path: str) -> None:
    """Between two ROUTERs the routing ids trade places, so replies find their way."""
    ins, outs, mon_out = mk(zmq.ROUTER), mk(zmq.ROUTER), mk(zmq.PUSH)
    client = mk(zmq.DEALER, routing_id=b"C")
    worker = mk(zmq.DEALER, routing_id=b"W")
    mon = mk(zmq.PULL)
    client.connect(_bind(ins, "tcp", ipc_path))
    worker.connect(_bind(outs, "tcp", ipc_path))
    mon.connect(_bind(mon_out, "inproc", ipc_path))
    running = spawn(devices.monitored_queue, ins, outs, mon_out)
    # A ROUTER drops what it cannot route yet: send until the worker is known.
    deadline = time.monotonic() + SYNC_S
    while not worker.poll(20, zmq.POLLIN):
        assert time.monotonic() < deadline, "the request never reached the worker"
        client.send_multipart([b"W", b"job"])
    assert worker.recv_multipart() == [b"C", b"job"]
    while worker.poll(QUIET_MS, zmq.POLLIN):
        assert worker.recv_multipart() == [b"C", b"job"]
    worker.send_multipart([b"C", b"done"])
    assert client.recv_multipart() == [b"W", b"done"]
    # The monitor sees each message as it is sent on.
    seen = []
    while not seen or seen[-1][0] != b"out":
        seen.append(mon.recv_multipart())
    assert seen[0] == [b"in", b"W", b"C", b"job"]
    assert seen[-1] == [b"out", b"C", b"W", b"done"]
    _terminate(sctx, client, worker, mon)
    running.expect_eterm()


# -- devices ------------------------------------------------------------------------------


def _device(dev: Any, sctx: Any) -> Any:
    """Run ``dev`` on the test's context and with linger 0 on every socket."""
    dev.context_factory = lambda: sctx
    for name in ("in", "out", "mon", "ctrl"):
        setter = getattr(dev, f"setsockopt_{name}", None)
        if setter is not None:
            setter(zmq.LINGER, 0)
    return dev


def _stop(dev: Any, sctx: Any, *clients: Any) -> None:
    _terminate(sctx, *clients)
    dev.join(JOIN_S)
    assert dev.done


def test_thread_device_queue(mk: Make, sctx: Any) -> None:
    dev = _device(devices.ThreadDevice(zmq.QUEUE, zmq.ROUTER, zmq.DEALER), sctx)
    front, back = f"inproc://dev-{next(_names)}", f"inproc://dev-{next(_names)}"
    dev.bind_in(front)
    dev.bind_out(back)
    client, worker = mk(zmq.REQ), mk(zmq.REP)
    client.connect(front)  # inproc: connecting before the bind is fine
    worker.connect(back)
    assert dev.daemon
    dev.start()
    client.send(b"ping")
    assert worker.recv() == b"ping"
    worker.send(b"pong")
    assert client.recv() == b"pong"
    _stop(dev, sctx, client, worker)
    assert not dev.launcher.is_alive()


def test_device_in_the_calling_thread(mk: Make, sctx: Any, ipc_path: str) -> None:
    """A plain Device blocks in start(); join() waits for it to end."""
    dev = _device(devices.Device(zmq.STREAMER, zmq.PULL, zmq.PUSH), sctx)
    dev.bind_in(f"{ipc_path}-in")
    dev.bind_out(f"{ipc_path}-out")
    src, dst = mk(zmq.PUSH), mk(zmq.PULL)
    src.connect(f"{ipc_path}-in")
    dst.connect(f"{ipc_path}-out")
    thread = threading.Thread(target=dev.start, daemon=True)
    thread.start()
    src.send_multipart([b"a", b"b"])
    assert dst.recv_multipart() == [b"a", b"b"]
    assert not dev.done
    _stop(dev, sctx, src, dst)
    thread.join(JOIN_S)
    assert not thread.is_alive()


def test_device_binds_random_ports(mk: Make, sctx: Any) -> None:
    dev = _device(devices.ThreadDevice(zmq.QUEUE, zmq.PULL, zmq.PUSH), sctx)
    port_in = dev.bind_in_to_random_port("tcp://127.0.0.1")
    port_out = dev.bind_out_to_random_port("tcp://127.0.0.1")
    assert port_in != port_out
    dev.start()
    src, dst = mk(zmq.PUSH), mk(zmq.PULL)
    src.connect(f"tcp://127.0.0.1:{port_in}")
    dst.connect(f"tcp://127.0.0.1:{port_out}")
    src.send(b"via-random-ports")
    assert dst.recv() == b"via-random-ports"
    _stop(dev, sctx, src, dst)


def test_device_sockopts_apply_before_connect(mk: Make, sctx: Any, ipc_path: str) -> None:
    """setsockopt_out's routing id is in force when the out socket connects."""
    worker = mk(zmq.ROUTER)
    dev = _device(devices.ThreadDevice(zmq.QUEUE, zmq.PULL, zmq.DEALER), sctx)
    dev.bind_in(f"{ipc_path}-in")
    dev.connect_out(_bind(worker, "tcp", ipc_path))
    dev.setsockopt_out(zmq.ROUTING_ID, b"the-device")
    dev.start()
    src = mk(zmq.PUSH)
    src.connect(f"{ipc_path}-in")
    src.send(b"job")
    assert worker.recv_multipart() == [b"the-device", b"job"]
    _stop(dev, sctx, src, worker)


def test_device_with_one_socket(mk: Make, sctx: Any, ipc_path: str) -> None:
    """out_type < 0: the in socket serves both ends (here a ROUTER echoing)."""
    dev = _device(devices.ThreadDevice(zmq.QUEUE, zmq.ROUTER, -1), sctx)
    dev.bind_in(f"{ipc_path}-echo")
    dev.start()
    dealer = mk(zmq.DEALER)
    dealer.connect(f"{ipc_path}-echo")
    dealer.send(b"hi")
    assert dealer.recv() == b"hi"
    _stop(dev, sctx, dealer)


def test_thread_proxy_monitor(mk: Make, sctx: Any, ipc_path: str) -> None:
    dev = _device(devices.ThreadProxy(zmq.PULL, zmq.PUSH, zmq.PUSH), sctx)
    dev.bind_in(f"{ipc_path}-in")
    dev.bind_out(f"{ipc_path}-out")
    dev.bind_mon(f"{ipc_path}-mon")
    src, dst, mon = mk(zmq.PUSH), mk(zmq.PULL), mk(zmq.PULL)
    src.connect(f"{ipc_path}-in")
    dst.connect(f"{ipc_path}-out")
    mon.connect(f"{ipc_path}-mon")
    dev.start()
    for m in MESSAGES:
        src.send_multipart(m)
    for m in MESSAGES:
        assert dst.recv_multipart() == m
        assert mon.recv_multipart() == m
    _stop(dev, sctx, src, dst, mon)


def test_thread_proxy_steerable(mk: Make, sctx: Any, ipc_path: str) -> None:
    dev = _device(devices.ThreadProxySteerable(zmq.PULL, zmq.PUSH, zmq.PUSH, zmq.PAIR),
                  sctx)
    dev.bind_in(f"{ipc_path}-in")
    dev.bind_out(f"{ipc_path}-out")
    dev.bind_mon(f"{ipc_path}-mon")
    dev.bind_ctrl(f"{ipc_path}-ctrl")
    src, dst, mon, ctrl = mk(zmq.PUSH), mk(zmq.PULL), mk(zmq.PULL), mk(zmq.PAIR)
    for s, name in ((src, "in"), (dst, "out"), (mon, "mon"), (ctrl, "ctrl")):
        s.connect(f"{ipc_path}-{name}")
    dev.start()
    src.send(b"steered")
    assert dst.recv() == b"steered"
    assert mon.recv() == b"steered"
    assert _stats(ctrl) == [1, 7, 0, 0, 0, 0, 1, 7]
    ctrl.send(b"TERMINATE")
    dev.join(JOIN_S)
    assert dev.done
    assert not dev.launcher.is_alive()


def test_thread_monitored_queue(mk: Make, sctx: Any, ipc_path: str) -> None:
    dev = _device(devices.ThreadMonitoredQueue(zmq.ROUTER, zmq.DEALER, zmq.PUSH,
                                               b"to-worker", b"to-client"), sctx)
    dev.bind_in(f"{ipc_path}-in")
    dev.bind_out(f"{ipc_path}-out")
    dev.bind_mon(f"{ipc_path}-mon")
    client, worker, mon = mk(zmq.REQ, routing_id=b"cl"), mk(zmq.REP), mk(zmq.PULL)
    client.connect(f"{ipc_path}-in")
    worker.connect(f"{ipc_path}-out")
    mon.connect(f"{ipc_path}-mon")
    dev.start()
    client.send(b"work")
    assert worker.recv() == b"work"
    worker.send(b"result")
    assert client.recv() == b"result"
    assert mon.recv_multipart() == [b"to-worker", b"cl", b"", b"work"]
    assert mon.recv_multipart() == [b"to-client", b"cl", b"", b"result"]
    _stop(dev, sctx, client, worker, mon)


@only_securemq
def test_process_proxy_steerable(mk: Make, ipc_path: str,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A device in a process of its own; spawned, so that it is pickled on the way."""
    monkeypatch.setattr(devices.ProcessDevice, "_launch_class",
                        multiprocessing.get_context("spawn").Process)
    dev = devices.ProcessProxySteerable(zmq.PULL, zmq.PUSH, zmq.PUSH, zmq.REP)
    for name in ("in", "out", "mon", "ctrl"):
        getattr(dev, f"bind_{name}")(f"{ipc_path}-{name}")
        getattr(dev, f"setsockopt_{name}")(zmq.LINGER, 0)
    dev.start()
    src, dst, mon, ctrl = mk(zmq.PUSH), mk(zmq.PULL), mk(zmq.PULL), mk(zmq.REQ)
    for s, name in ((src, "in"), (dst, "out"), (mon, "mon"), (ctrl, "ctrl")):
        s.setsockopt(zmq.RCVTIMEO, 30_000)  # the child imports securemq first
        s.connect(f"{ipc_path}-{name}")
    src.send_multipart([b"across", b"processes"])
    assert dst.recv_multipart() == [b"across", b"processes"]
    assert mon.recv_multipart() == [b"across", b"processes"]
    assert _stats(ctrl) == [2, 15, 0, 0, 0, 0, 2, 15]
    ctrl.send(b"TERMINATE")
    assert ctrl.recv() == b""
    dev.join(30)
    assert dev.launcher.exitcode == 0
