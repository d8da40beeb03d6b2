"""The pyzmq API surface: ``import securemq as zmq`` must run ordinary pyzmq code.

Every expectation here was checked against pyzmq/libzmq; where securemq deliberately
differs (failing fast on a connect that libzmq would accept) the test says so.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import select
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

import securemq as zmq

TIMEOUT_MS = 3000
_names = itertools.count()


def inproc() -> str:
    return f"inproc://api-{next(_names)}"


def errno_of(call: Callable[[], Any]) -> int:
    """Run ``call``, which must raise ``ZMQError``; return its errno."""
    with pytest.raises(zmq.ZMQError) as info:
        call()
    return info.value.errno


@pytest.fixture
def pair(ctx: zmq.Context) -> tuple[zmq.Socket, zmq.Socket]:
    """Two connected PAIR sockets over inproc, with timeouts."""
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    for s in (a, b):
        s.linger = 0
        s.rcvtimeo = s.sndtimeo = TIMEOUT_MS
    addr = inproc()
    a.bind(addr)
    b.connect(addr)
    return a, b


@pytest.fixture
def tcp_pair(ctx: zmq.Context) -> tuple[zmq.Socket, zmq.Socket]:
    """A PULL bound on tcp and a PUSH connected to it."""
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    for s in (pull, push):
        s.linger = 0
        s.rcvtimeo = s.sndtimeo = TIMEOUT_MS
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    push.connect(f"tcp://127.0.0.1:{port}")
    return pull, push


# -- Context -----------------------------------------------------------------------------


def test_context_manager_terminates() -> None:
    with zmq.Context() as c:
        s = c.socket(zmq.PUSH)
        assert isinstance(s, zmq.Socket)
        assert s.context is c
        s.close()
    assert c.closed
    # libzmq's zmq_socket says ETERM; pyzmq checks first and says ENOTSUP.
    assert errno_of(lambda: c.socket(zmq.PUSH)) in (zmq.ETERM, errno.ENOTSUP)


def test_context_instance_is_shared() -> None:
    a = zmq.Context.instance()
    try:
        assert zmq.Context.instance() is a
    finally:
        a.term()
    b = zmq.Context.instance()
    try:
        assert b is not a  # a terminated instance is replaced
    finally:
        b.term()


def test_context_socket(ctx: zmq.Context) -> None:
    s = ctx.socket(zmq.DEALER)
    s.linger = 0
    s.routing_id = b"me"
    assert s.socket_type == zmq.DEALER
    assert s.type == zmq.DEALER
    assert s.getsockopt(zmq.TYPE) == zmq.DEALER
    assert s.linger == 0 and s.routing_id == b"me"


def test_context_option_defaults_apply_to_new_sockets(ctx: zmq.Context) -> None:
    ctx.linger = 0
    ctx.setsockopt(zmq.SNDHWM, 7)
    s = ctx.socket(zmq.PUSH)
    assert s.linger == 0 and s.sndhwm == 7
    assert ctx.linger == 0
    assert ctx.get(zmq.IO_THREADS) == 1
    assert ctx.io_threads == 1


def test_term_and_destroy() -> None:
    c = zmq.Context()
    c.term()
    assert c.closed
    c.term()  # twice is harmless
    c = zmq.Context()
    socks = [c.socket(zmq.PUSH) for _ in range(3)]
    socks[0].connect("tcp://127.0.0.1:9")  # nobody there
    socks[0].send(b"pending")
    c.destroy(linger=0)
    assert c.closed and all(s.closed for s in socks)


def test_socket_type_is_a_sockettype(ctx: zmq.Context) -> None:
    s = ctx.socket(zmq.PUSH)
    assert zmq.SocketType(s.socket_type).name == "PUSH"
    assert s.type.name == "PUSH"  # pyzmq returns the enum member


# -- bind / connect / endpoints ---------------------------------------------------------


def test_bind_to_random_port(ctx: zmq.Context) -> None:
    pull = ctx.socket(zmq.PULL)
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    assert isinstance(port, int) and 0 < port < 65536
    assert pull.last_endpoint == f"tcp://127.0.0.1:{port}".encode()
    other = ctx.socket(zmq.PULL)
    port2 = other.bind_to_random_port("tcp://127.0.0.1", min_port=20000, max_port=60000)
    assert 20000 <= port2 < 60000


def test_bind_connect_as_context_managers(ctx: zmq.Context) -> None:
    """pyzmq >= 26: ``with sock.bind(url):`` unbinds on exit (and connect disconnects)."""
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    addr = inproc()
    with pull.bind(addr), push.connect(addr):
        pass
    assert errno_of(lambda: pull.unbind(addr)) == errno.ENOENT


def test_tcp_wildcard_and_last_endpoint(ctx: zmq.Context) -> None:
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    pull.rcvtimeo = TIMEOUT_MS
    pull.bind("tcp://*:*")
    host, _, port = pull.last_endpoint.decode().rpartition(":")
    assert host == "tcp://0.0.0.0" and int(port) > 0
    assert pull.getsockopt(zmq.LAST_ENDPOINT) == pull.last_endpoint
    push.connect(f"tcp://127.0.0.1:{port}")
    assert push.last_endpoint == f"tcp://127.0.0.1:{port}".encode()
    push.send(b"x")
    assert pull.recv() == b"x"


def test_tcp_ipv6_loopback(ctx: zmq.Context) -> None:
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    pull.ipv6 = push.ipv6 = 1
    pull.rcvtimeo = TIMEOUT_MS
    pull.bind("tcp://[::1]:*")
    ep = pull.last_endpoint.decode()
    assert ep.startswith("tcp://[::1]:")
    push.connect(ep)
    push.send(b"six")
    assert pull.recv() == b"six"
    frame_src = ctx.socket(zmq.PULL)
    with pytest.raises(zmq.ZMQError):  # without IPV6 an IPv6 address is refused
        frame_src.bind("tcp://[::1]:*")


def test_ipc_abstract_name(ctx: zmq.Context) -> None:
    name = f"ipc://@securemq-test-{uuid.uuid4().hex}"
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    pull.rcvtimeo = TIMEOUT_MS
    pull.bind(name)
    assert pull.last_endpoint == name.encode()
    push.connect(name)
    push.send(b"abstract")
    assert pull.recv() == b"abstract"


def test_ipc_wildcard(ctx: zmq.Context) -> None:
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    pull.rcvtimeo = TIMEOUT_MS
    pull.bind("ipc://*")
    ep = pull.last_endpoint.decode()
    assert ep.startswith("ipc://") and ep != "ipc://*"
    push.connect(ep)
    push.send(b"anywhere")
    assert pull.recv() == b"anywhere"


def test_ipc_path(ctx: zmq.Context, ipc_path: str) -> None:
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    pull.rcvtimeo = TIMEOUT_MS
    pull.bind(ipc_path)
    assert pull.last_endpoint == ipc_path.encode()
    push.connect(ipc_path)
    push.send(b"file")
    assert pull.recv() == b"file"


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("tcp://", errno.EINVAL),
        ("tcp://127.0.0.1", errno.EINVAL),
        ("tcp://127.0.0.1:abc", errno.EINVAL),
        ("tcp:/127.0.0.1:5555", errno.EINVAL),
        ("ipc://", errno.EINVAL),
        ("inproc://", errno.EINVAL),
        ("nonsense", errno.EINVAL),
        ("foo://bar", errno.EPROTONOSUPPORT),
        ("udpx://127.0.0.1:5555", errno.EPROTONOSUPPORT),
        ("tcp://eth-does-not-exist:*", errno.ENODEV),
    ],
)
def test_bad_bind_endpoints(ctx: zmq.Context, endpoint: str, expected: int) -> None:
    assert errno_of(lambda: ctx.socket(zmq.PULL).bind(endpoint)) == expected


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("tcp://", errno.EINVAL),
        ("tcp://*:5555", errno.EINVAL),
        ("tcp://127.0.0.1:*", errno.EINVAL),
        ("foo://bar", errno.EPROTONOSUPPORT),
    ],
)
def test_bad_connect_endpoints(ctx: zmq.Context, endpoint: str, expected: int) -> None:
    assert errno_of(lambda: ctx.socket(zmq.PUSH).connect(endpoint)) == expected


@pytest.mark.parametrize(
    "endpoint",
    ["tcp://[::1]:*", "tcp://host.that.does.not.exist.invalid:5555"],
)
def test_bind_unusable_address_is_enodev_as_libzmq(ctx: zmq.Context, endpoint: str) -> None:
    assert errno_of(lambda: ctx.socket(zmq.PULL).bind(endpoint)) == errno.ENODEV



# ipc: libzmq silently takes the path over from a live socket; securemq refuses (see
# socket._bind_ipc), which is what this checks.
@pytest.mark.parametrize("transport", ["tcp", "inproc", "ipc"])
def test_double_bind_is_eaddrinuse(ctx: zmq.Context, transport: str, ipc_path: str) -> None:
    a, b = ctx.socket(zmq.PULL), ctx.socket(zmq.PULL)
    if transport == "tcp":
        a.bind("tcp://127.0.0.1:*")
    elif transport == "ipc":
        a.bind(ipc_path)
    else:
        a.bind(inproc())
    ep = a.last_endpoint.decode()
    assert errno_of(lambda: b.bind(ep)) == errno.EADDRINUSE


def test_unbind_and_disconnect_unknown_are_enoent(ctx: zmq.Context) -> None:
    s = ctx.socket(zmq.PULL)
    s.bind("tcp://127.0.0.1:*")
    assert errno_of(lambda: s.unbind("tcp://127.0.0.1:1")) == errno.ENOENT
    assert errno_of(lambda: s.unbind("inproc://never-bound")) == errno.ENOENT
    assert errno_of(lambda: s.disconnect("tcp://127.0.0.1:1")) == errno.ENOENT
    s.unbind(s.last_endpoint.decode())  # the resolved form works


# -- send / recv -------------------------------------------------------------------------


def test_send_recv_flags(pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    a, b = pair
    with pytest.raises(zmq.Again):
        b.recv(zmq.NOBLOCK)
    with pytest.raises(zmq.Again):
        b.recv(flags=zmq.DONTWAIT)
    assert zmq.NOBLOCK == zmq.DONTWAIT
    a.send(b"one", zmq.SNDMORE)
    a.send(b"two")
    assert b.recv() == b"one"
    assert b.getsockopt(zmq.RCVMORE) == 1
    assert b.rcvmore == 1
    assert b.recv() == b"two"
    assert b.getsockopt(zmq.RCVMORE) == 0


@pytest.mark.parametrize(
    "data", [b"raw", bytearray(b"raw"), memoryview(b"raw"), zmq.Frame(b"raw")], ids=type
)
def test_send_accepts_buffers(pair: tuple[zmq.Socket, zmq.Socket], data: Any) -> None:
    a, b = pair
    a.send(data)
    assert b.recv() == b"raw"
    a.send(data, copy=False)
    assert b.recv() == b"raw"


def test_send_str_is_typeerror(pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    a, _ = pair
    with pytest.raises(TypeError):
        a.send("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        a.send_multipart([b"ok", "text"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        a.send_string(b"bytes")  # type: ignore[arg-type]


def test_recv_copy_false_gives_frames(pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    a, b = pair
    a.send_multipart([b"first", b"second"])
    f1 = b.recv(copy=False)
    assert isinstance(f1, zmq.Frame)
    assert f1.bytes == b"first" and bytes(f1.buffer) == b"first"
    assert f1.more and f1.get(zmq.MORE) == 1
    f2 = b.recv(copy=False)
    assert f2.bytes == b"second" and not f2.more
    a.send_multipart([b"x", b"y"])
    frames = b.recv_multipart(copy=False)
    assert [f.bytes for f in frames] == [b"x", b"y"]
    assert [f.more for f in frames] == [True, False]


def test_frame_object() -> None:
    f = zmq.Frame(b"abc")
    assert f.bytes == b"abc" and len(f) == 3 and bytes(f) == b"abc"
    assert zmq.Message is zmq.Frame
    with pytest.raises(TypeError):
        zmq.Frame("text")  # type: ignore[arg-type]
    assert errno_of(lambda: f.get("Socket-Type")) == errno.EINVAL  # not received


def test_frame_reports_peer_socket_type_over_tcp(tcp_pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    pull, push = tcp_pair
    push.send(b"x")
    frame = pull.recv(copy=False)
    assert frame.get("Socket-Type") == "PUSH"
    push.send_multipart([b"a", b"b"])
    assert [f.get("Socket-Type") for f in pull.recv_multipart(copy=False)] == ["PUSH"] * 2


def test_frame_reports_peer_address_over_tcp(tcp_pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    pull, push = tcp_pair
    push.send(b"x")
    assert pull.recv(copy=False).get("Peer-Address") == "127.0.0.1"


def test_multipart_string_json_pyobj(pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    a, b = pair
    a.send_multipart([b"a", b"", b"c"])
    assert b.recv_multipart() == [b"a", b"", b"c"]
    a.send_string("héllo")
    assert b.recv_string() == "héllo"
    a.send_string("latin", encoding="latin-1")
    assert b.recv_string(encoding="latin-1") == "latin"
    obj = {"n": [1, 2.5, None], "s": "x"}
    a.send_json(obj)
    assert b.recv_json() == obj
    a.send_pyobj(("tuple", {1, 2}))
    assert b.recv_pyobj() == ("tuple", {1, 2})
    a.send_serialized(obj, lambda o: [json.dumps(o).encode()])
    assert b.recv_serialized(lambda frames: json.loads(frames[0])) == obj


def test_track_returns_a_finished_tracker(pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    a, b = pair
    tracker = a.send(b"x", copy=False, track=True)
    tracker.wait()
    assert tracker.done
    assert b.recv() == b"x"


def test_efsm_and_enotsup(ctx: zmq.Context) -> None:
    assert errno_of(ctx.socket(zmq.REQ).recv) == zmq.EFSM
    assert errno_of(lambda: ctx.socket(zmq.REP).send(b"x")) == zmq.EFSM
    assert errno_of(lambda: ctx.socket(zmq.PULL).send(b"x")) == zmq.ENOTSUP
    assert errno_of(ctx.socket(zmq.PUSH).recv) == zmq.ENOTSUP


# -- options -----------------------------------------------------------------------------


def test_options_every_way(ctx: zmq.Context) -> None:
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.SNDHWM, 10)
    assert s.getsockopt(zmq.SNDHWM) == 10
    s.set(zmq.RCVHWM, 11)
    assert s.get(zmq.RCVHWM) == 11
    s.linger = 5
    assert s.linger == 5 and s.getsockopt(zmq.LINGER) == 5
    s.hwm = 12
    assert s.hwm == 12 and s.sndhwm == 12 and s.rcvhwm == 12
    s.setsockopt_string(zmq.ROUTING_ID, "ünï")
    assert s.getsockopt(zmq.ROUTING_ID) == "ünï".encode()
    assert s.getsockopt_string(zmq.ROUTING_ID) == "ünï"
    s.routing_id = b"bytes"
    assert s.routing_id == b"bytes"
    assert s.getsockopt(zmq.TYPE) == zmq.DEALER


def test_bad_options(ctx: zmq.Context) -> None:
    s = ctx.socket(zmq.PUSH)
    with pytest.raises(AttributeError):
        _ = s.no_such_option
    with pytest.raises(AttributeError):
        s.no_such_option = 1
    assert errno_of(lambda: s.setsockopt(99999, 1)) == errno.EINVAL
    assert errno_of(lambda: s.getsockopt(99999)) == errno.EINVAL
    assert errno_of(lambda: s.setsockopt(zmq.SNDHWM, -1)) == errno.EINVAL
    assert errno_of(lambda: s.setsockopt(zmq.LINGER, -2)) == errno.EINVAL
    assert errno_of(lambda: s.setsockopt(zmq.SUBSCRIBE, b"")) == errno.EINVAL
    with pytest.raises(TypeError):
        s.setsockopt(zmq.ROUTING_ID, "str")
    with pytest.raises(TypeError):
        s.setsockopt(zmq.SNDHWM, "10")


def test_unknown_socket_type_is_einval(ctx: zmq.Context) -> None:
    assert errno_of(lambda: ctx.socket(999)) == errno.EINVAL


def test_fd_and_events(ctx: zmq.Context) -> None:
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    addr = inproc()
    pull.bind(addr)
    push.connect(addr)
    fd = pull.getsockopt(zmq.FD)
    assert isinstance(fd, int) and fd == pull.FD == pull.fileno()
    assert pull.getsockopt(zmq.EVENTS) & zmq.POLLIN == 0
    assert push.EVENTS & zmq.POLLOUT
    push.send(b"x")
    # FD is edge-triggered: readable means "look at EVENTS again".
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not pull.getsockopt(zmq.EVENTS) & zmq.POLLIN:
        left = deadline - time.monotonic()
        assert left > 0, "POLLIN never showed"
        select.select([fd], [], [], left)
    assert pull.recv(zmq.DONTWAIT) == b"x"
    assert pull.getsockopt(zmq.EVENTS) & zmq.POLLIN == 0


def test_fd_wakes_select_on_tcp_arrival(tcp_pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    pull, push = tcp_pair
    assert pull.EVENTS & zmq.POLLIN == 0  # arms the descriptor
    push.send(b"x")
    r, _, _ = select.select([pull.FD], [], [], TIMEOUT_MS / 1000)
    assert r == [pull.FD]
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not pull.EVENTS & zmq.POLLIN:
        assert time.monotonic() < deadline
        select.select([pull.FD], [], [], 0.05)
    assert pull.recv(zmq.DONTWAIT) == b"x"


# -- poll / Poller / select --------------------------------------------------------------


def test_socket_poll(pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    a, b = pair
    assert b.poll(0) == 0
    t0 = time.monotonic()
    assert b.poll(100) == 0
    assert time.monotonic() - t0 >= 0.09
    assert a.poll(0, zmq.POLLOUT) == zmq.POLLOUT
    a.send(b"x")
    assert b.poll(TIMEOUT_MS) == zmq.POLLIN
    assert b.poll(TIMEOUT_MS, zmq.POLLIN | zmq.POLLOUT) == zmq.POLLIN | zmq.POLLOUT
    assert b.recv() == b"x"


def test_poll_wakes_from_another_thread(pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    a, b = pair
    timer = threading.Timer(0.05, lambda: a.send(b"late"))
    timer.start()
    try:
        assert b.poll(TIMEOUT_MS) == zmq.POLLIN
    finally:
        timer.join()
    assert b.recv() == b"late"


def test_poller_register_modify_unregister(ctx: zmq.Context) -> None:
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    addr = inproc()
    pull.bind(addr)
    push.connect(addr)
    poller = zmq.Poller()
    poller.register(pull, zmq.POLLIN)
    poller.register(push)  # default: POLLIN | POLLOUT
    assert pull in poller and push in poller
    assert poller.poll(0) == [(push, zmq.POLLOUT)]
    poller.modify(push, zmq.POLLIN)
    assert poller.poll(0) == []
    push.send(b"x")
    assert poller.poll(TIMEOUT_MS) == [(pull, zmq.POLLIN)]
    assert dict(poller.poll(0)) == {pull: zmq.POLLIN}
    poller.unregister(pull)
    assert pull not in poller
    assert poller.poll(0) == []
    with pytest.raises(KeyError):
        poller.unregister(pull)
    poller.register(push, 0)  # zero flags unregisters
    assert push not in poller
    assert pull.recv() == b"x"


def test_poller_with_raw_fd_and_sockets(pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    a, b = pair
    r, w = os.pipe()
    try:
        poller = zmq.Poller()
        poller.register(r, zmq.POLLIN)
        poller.register(b, zmq.POLLIN)
        assert poller.poll(50) == []
        os.write(w, b"!")
        assert poller.poll(TIMEOUT_MS) == [(r, zmq.POLLIN)]
        a.send(b"x")
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        events: dict[Any, int] = {}
        while len(events) < 2 and time.monotonic() < deadline:
            events = dict(poller.poll(TIMEOUT_MS))
        assert events == {r: zmq.POLLIN, b: zmq.POLLIN}
        os.read(r, 1)
        assert b.recv() == b"x"
        assert poller.poll(0) == []
    finally:
        os.close(r)
        os.close(w)


def test_poller_with_fileno_objects(ctx: zmq.Context) -> None:
    s1, s2 = socket.socketpair()
    with s1, s2:
        poller = zmq.Poller()
        poller.register(s1, zmq.POLLIN)
        assert poller.poll(0) == []
        s2.send(b"?")
        events = poller.poll(TIMEOUT_MS)
        assert len(events) == 1 and events[0][1] == zmq.POLLIN
        # pyzmq reports such objects by their descriptor number.
        assert events == [(s1.fileno(), zmq.POLLIN)]



def test_poller_timeout_is_milliseconds(ctx: zmq.Context) -> None:
    poller = zmq.Poller()
    poller.register(ctx.socket(zmq.PULL), zmq.POLLIN)
    t0 = time.monotonic()
    assert poller.poll(150) == []
    assert 0.14 <= time.monotonic() - t0 < 2


def test_zmq_select(pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    a, b = pair
    assert zmq.select([b], [], [], 0) == ([], [], [])
    assert zmq.select([b], [a], [], 0) == ([], [a], [])
    a.send(b"x")
    rlist, wlist, xlist = zmq.select([b], [], [], TIMEOUT_MS / 1000)  # seconds
    assert (rlist, wlist, xlist) == ([b], [], [])
    t0 = time.monotonic()
    assert b.recv() == b"x"
    assert zmq.select([b], [], [], 0.1) == ([], [], [])
    assert time.monotonic() - t0 >= 0.09


@pytest.mark.parametrize(
    ("kind", "peer_kind"),
    [
        (zmq.PULL, zmq.PUSH),
        (zmq.DEALER, zmq.DEALER),
        (zmq.ROUTER, zmq.DEALER),
        pytest.param(
            zmq.PAIR,
            zmq.PAIR,
        ),
    ],
    ids=["PULL", "DEALER", "ROUTER", "PAIR"],
)
def test_poll_not_ready_when_peer_leaves_without_sending(
    ctx: zmq.Context, kind: int, peer_kind: int
) -> None:
    """POLLIN promises a message: a peer going away must not produce one that isn't."""
    sock, peer = ctx.socket(kind), ctx.socket(peer_kind)
    addr = inproc()
    sock.bind(addr)
    peer.connect(addr)
    assert sock.poll(10) == 0  # attaches the peer
    peer.close(linger=0)
    if sock.poll(200):
        with pytest.raises(zmq.Again):
            sock.recv(zmq.DONTWAIT)
        pytest.fail("POLLIN reported with nothing to receive")


# -- closed sockets, constants, errors --------------------------------------------------------


def test_closed_socket_is_enotsock(ctx: zmq.Context) -> None:
    s = ctx.socket(zmq.PUSH)
    assert not s.closed
    s.close()
    assert s.closed
    s.close()  # harmless
    for call in (
        lambda: s.send(b"x"),
        lambda: s.recv(),
        lambda: s.bind(inproc()),
        lambda: s.connect(inproc()),
        lambda: s.getsockopt(zmq.LINGER),
        lambda: s.setsockopt(zmq.LINGER, 0),
        lambda: s.linger,
    ):
        assert errno_of(call) == errno.ENOTSOCK


def test_socket_context_manager(ctx: zmq.Context) -> None:
    with ctx.socket(zmq.PUSH) as s:
        assert not s.closed
    assert s.closed


def test_constants_match_pyzmq() -> None:
    pyzmq = pytest.importorskip("zmq")
    names = [
        "PAIR", "PUB", "SUB", "REQ", "REP", "DEALER", "ROUTER", "PULL", "PUSH", "XPUB",
        "XSUB", "STREAM", "NOBLOCK", "DONTWAIT", "SNDMORE", "RCVMORE", "POLLIN", "POLLOUT",
        "POLLERR", "LINGER", "SNDHWM", "RCVHWM", "ROUTING_ID", "IDENTITY", "RCVTIMEO",
        "SNDTIMEO", "ROUTER_MANDATORY", "ROUTER_HANDOVER", "PROBE_ROUTER", "REQ_RELAXED",
        "REQ_CORRELATE", "IMMEDIATE", "CONFLATE", "CONNECT_ROUTING_ID", "LAST_ENDPOINT",
        "FD", "EVENTS", "TYPE", "IPV6", "MORE", "EAGAIN", "EINVAL", "EFSM", "ETERM",
        "ENOTSUP", "ENOTSOCK", "EHOSTUNREACH", "EPROTONOSUPPORT", "EADDRINUSE",
        "ENOCOMPATPROTO", "EMTHREAD", "IO_THREADS", "MAX_SOCKETS",
    ]  # fmt: skip
    for name in names:
        assert int(getattr(zmq, name)) == int(getattr(pyzmq, name)), name
    assert int(zmq.SocketType.PUSH) == int(pyzmq.SocketType.PUSH)
    assert int(zmq.SocketOption.LINGER) == int(pyzmq.SocketOption.LINGER)


def test_error_classes_and_messages() -> None:
    pyzmq = pytest.importorskip("zmq")
    assert issubclass(zmq.Again, zmq.ZMQError)
    assert issubclass(zmq.ContextTerminated, zmq.ZMQError)
    assert issubclass(zmq.ZMQError, zmq.ZMQBaseError)
    assert issubclass(zmq.ZMQBindError, zmq.ZMQBaseError)
    for number in (zmq.EFSM, zmq.ETERM, zmq.EAGAIN, zmq.EHOSTUNREACH, zmq.ENOTSOCK):
        err = zmq.ZMQError(number)
        assert err.errno == number
        assert str(err) == pyzmq.strerror(number) == zmq.strerror(number)
    assert zmq.ContextTerminated().errno == zmq.ETERM
    assert zmq.Again().errno == zmq.EAGAIN


def test_bind_to_random_port_gives_up_with_zmqbinderror(ctx: zmq.Context) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    try:
        s = ctx.socket(zmq.PULL)
        with pytest.raises(zmq.ZMQBindError):
            s.bind_to_random_port("tcp://127.0.0.1", min_port=port, max_port=port + 1,
                                  max_tries=3)  # fmt: skip
    finally:
        blocker.close()
