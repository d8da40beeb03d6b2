"""The socket monitor: exact event sequences, checked against libzmq's own.

Every scenario runs twice, on securemq and on pyzmq (libzmq 4.3.5), with the same
expected sequence: that is how we know the sequence is libzmq's. Events are awaited
with polls and deadlines; "nothing more" is a quiet period on the monitor socket.
"""

from __future__ import annotations

import errno
import importlib
import socket
from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(30)

WAIT_MS = 3000
QUIET_MS = 200

IMPLS = ["securemq", pytest.param("zmq", marks=pytest.mark.interop)]


@pytest.fixture(params=IMPLS)
def z(request: pytest.FixtureRequest) -> Any:
    """The implementation under test, as a module (``securemq`` or pyzmq's ``zmq``)."""
    return importlib.import_module(request.param)


class _Env:
    """A context of the implementation under test that closes every socket it made."""

    def __init__(self, z: Any) -> None:
        self.ctx = z.Context()
        self.made: list[Any] = []

    def sock(self, kind: int, **opts: Any) -> Any:
        s = self.ctx.socket(kind)
        self.made.append(s)
        s.linger = 0
        s.rcvtimeo = WAIT_MS
        for k, v in opts.items():
            setattr(s, k, v)
        return s

    def mon(self, s: Any, events: int | None = None) -> Any:
        m = s.get_monitor_socket(events)
        self.made.append(m)
        return m

    def close(self) -> None:
        for s in reversed(self.made):
            s.close(linger=0)
        self.ctx.destroy(linger=0)


@pytest.fixture
def zc(z: Any) -> Iterator[_Env]:
    env = _Env(z)
    yield env
    env.close()


def _recv(z: Any, mon: Any) -> tuple[str, int, str]:
    mod = importlib.import_module(z.__name__ + ".utils.monitor")
    assert mon.poll(WAIT_MS), "no monitor event arrived"
    ev = mod.recv_monitor_message(mon)
    return z.Event(ev["event"]).name, int(ev["value"]), ev["endpoint"].decode()


def _events(z: Any, mon: Any, n: int) -> list[tuple[str, int, str]]:
    """The next ``n`` events, then check that nothing else arrives for a while."""
    got = [_recv(z, mon) for _ in range(n)]
    if mon.poll(QUIET_MS):
        extra = _recv(z, mon)
        pytest.fail(f"unexpected event after {got}: {extra}")
    return got


def _names(events: list[tuple[str, int, str]]) -> list[str]:
    return [e[0] for e in events]


def test_bind_then_unbind(z: Any, zc: _Env) -> None:
    s = zc.sock(z.DEALER)
    mon = zc.mon(s)
    s.bind("tcp://127.0.0.1:*")
    url = s.last_endpoint.decode()
    [(name, fd, where)] = _events(z, mon, 1)
    assert (name, where) == ("LISTENING", url) and fd > 0
    s.unbind(url)
    assert _events(z, mon, 1) == [("CLOSED", fd, url)]
    s.close()


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
def test_connect_accept_disconnect(z: Any, zc: _Env, transport: str, ipc_path: str) -> None:
    srv = zc.sock(z.DEALER)
    srv.bind("tcp://127.0.0.1:*" if transport == "tcp" else ipc_path)
    url = srv.last_endpoint.decode()
    smon = zc.mon(srv)
    cli = zc.sock(z.DEALER, reconnect_ivl=50)
    cmon = zc.mon(cli)
    cli.connect(url)
    if transport == "tcp":
        delayed, connected, ok = _events(z, cmon, 3)
        assert delayed == ("CONNECT_DELAYED", errno.EINPROGRESS, url)
    else:
        connected, ok = _events(z, cmon, 2)
    assert connected[0] == "CONNECTED" and connected[1] > 0 and connected[2] == url
    assert ok == ("HANDSHAKE_SUCCEEDED", 0, url)
    accepted, sok = _events(z, smon, 2)
    assert accepted[0] == "ACCEPTED" and accepted[2] == url
    assert sok == ("HANDSHAKE_SUCCEEDED", 0, url)

    # The server end goes: the client sees DISCONNECTED with its descriptor, then
    # starts retrying; the server reports nothing for a connection it closed itself.
    srv.close()
    disconnected = _recv(z, cmon)
    assert disconnected == ("DISCONNECTED", connected[1], url)
    assert _recv(z, cmon)[0] == "CONNECT_RETRIED"
    cli.close()


def test_reconnect_after_server_restart(z: Any, zc: _Env) -> None:
    srv = zc.sock(z.ROUTER)
    srv.bind("tcp://127.0.0.1:*")
    url = srv.last_endpoint.decode()
    cli = zc.sock(z.DEALER, reconnect_ivl=20, reconnect_ivl_max=40)
    cmon = zc.mon(cli)
    cli.connect(url)
    assert _names(_events(z, cmon, 3)) == ["CONNECT_DELAYED", "CONNECTED",
                                            "HANDSHAKE_SUCCEEDED"]
    srv.close()
    seen = [_recv(z, cmon)[0], _recv(z, cmon)[0]]
    assert seen == ["DISCONNECTED", "CONNECT_RETRIED"]
    srv = zc.sock(z.ROUTER)
    srv.bind(url)
    # Retries while the port was closed: DELAYED, CLOSED (the failed attempt), RETRIED,
    # any number of times; then the connection that works.
    names: list[str] = []
    while names[-2:] != ["CONNECTED", "HANDSHAKE_SUCCEEDED"]:
        names.append(_recv(z, cmon)[0])
        assert len(names) < 200
    assert names[-3:] == ["CONNECT_DELAYED", "CONNECTED", "HANDSHAKE_SUCCEEDED"]
    cycle = {"CONNECT_DELAYED", "CLOSED", "CONNECT_RETRIED"}
    assert set(names[:-2]) <= cycle
    cli.send(b"back")
    assert srv.recv_multipart()[1] == b"back"
    srv.close()
    cli.close()


def test_connect_refused_cycle(z: Any, zc: _Env) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    url = f"tcp://127.0.0.1:{port}"
    cli = zc.sock(z.DEALER, reconnect_ivl=50)
    cmon = zc.mon(cli)
    cli.connect(url)
    delayed, closed, retried = (_recv(z, cmon) for _ in range(3))
    assert delayed == ("CONNECT_DELAYED", errno.EINPROGRESS, url)
    assert closed[0] == "CLOSED" and closed[2] == url
    assert retried[0] == "CONNECT_RETRIED" and retried[1] >= 50
    cli.close()


def _raw_greeting(mechanism: bytes) -> bytes:
    return (b"\xff" + b"\0" * 8 + b"\x7f" + b"\x03\x01" + mechanism.ljust(20, b"\0")
            + b"\0" + b"\0" * 31)


def test_failed_handshake_mechanism_mismatch(z: Any, zc: _Env) -> None:
    srv = zc.sock(z.DEALER)
    srv.bind("tcp://127.0.0.1:*")
    url = srv.last_endpoint.decode()
    port = int(url.rsplit(":", 1)[1])
    smon = zc.mon(srv)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(_raw_greeting(b"PLAIN"))
        accepted, failed, gone = _events(z, smon, 3)
    assert accepted[0] == "ACCEPTED"
    assert failed == ("HANDSHAKE_FAILED_PROTOCOL", z.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH,
                      url)
    assert gone == ("DISCONNECTED", accepted[1], url)
    srv.close()


def test_incompatible_socket_types(z: Any, zc: _Env) -> None:
    srv = zc.sock(z.PUSH)
    srv.bind("tcp://127.0.0.1:*")
    url = srv.last_endpoint.decode()
    smon = zc.mon(srv)
    cli = zc.sock(z.PUSH, reconnect_ivl=-1)
    cmon = zc.mon(cli)
    cli.connect(url)
    # libzmq reports a socket-type mismatch with DISCONNECTED alone.
    assert _names(_events(z, smon, 2)) == ["ACCEPTED", "DISCONNECTED"]
    assert _names(_events(z, cmon, 3)) == ["CONNECT_DELAYED", "CONNECTED", "DISCONNECTED"]
    cli.close()
    srv.close()


def test_peer_leaves_during_handshake(z: Any, zc: _Env) -> None:
    srv = zc.sock(z.DEALER)
    srv.bind("tcp://127.0.0.1:*")
    url = srv.last_endpoint.decode()
    port = int(url.rsplit(":", 1)[1])
    smon = zc.mon(srv)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.recv(10)  # the server's greeting has started: it is in the handshake
    accepted, failed, gone = _events(z, smon, 3)
    assert accepted[0] == "ACCEPTED"
    assert failed[0] == "HANDSHAKE_FAILED_NO_DETAIL" and failed[2] == url
    assert gone == ("DISCONNECTED", accepted[1], url)
    srv.close()


def test_close_reports_closed_then_stopped(z: Any, zc: _Env, ipc_path: str) -> None:
    s = zc.sock(z.PAIR)
    mon = zc.mon(s)
    s.bind(ipc_path)
    [(_, fd, _)] = _events(z, mon, 1)
    s.close()
    assert _events(z, mon, 2) == [("CLOSED", fd, ipc_path), ("MONITOR_STOPPED", 0, "")]


def test_disable_monitor(z: Any, zc: _Env) -> None:
    s = zc.sock(z.PAIR)
    mon = zc.mon(s)
    assert zc.mon(s) is mon
    s.disable_monitor()
    assert _events(z, mon, 1) == [("MONITOR_STOPPED", 0, "")]
    s.bind("tcp://127.0.0.1:*")  # no longer reported
    assert not mon.poll(QUIET_MS)
    s.close()


def test_event_mask(z: Any, zc: _Env) -> None:
    srv = zc.sock(z.PAIR)
    mon = zc.mon(srv, z.EVENT_ACCEPTED | z.EVENT_HANDSHAKE_SUCCEEDED)
    srv.bind("tcp://127.0.0.1:*")
    cli = zc.sock(z.PAIR)
    cli.connect(srv.last_endpoint.decode())
    assert _names(_events(z, mon, 2)) == ["ACCEPTED", "HANDSHAKE_SUCCEEDED"]
    cli.close()
    srv.close()


def test_monitor_needs_inproc(z: Any, zc: _Env) -> None:
    s = zc.sock(z.PAIR)
    with pytest.raises(z.ZMQError) as info:
        s.monitor("tcp://127.0.0.1:5999", z.EVENT_ALL)
    assert info.value.errno == errno.EPROTONOSUPPORT
    s.close()


def test_monitor_address_in_use(z: Any, zc: _Env) -> None:
    a, b = zc.sock(z.PAIR), zc.sock(z.PAIR)
    a.monitor("inproc://mon-taken", z.EVENT_ALL)
    with pytest.raises(z.ZMQError) as info:
        b.monitor("inproc://mon-taken", z.EVENT_ALL)
    assert info.value.errno == errno.EADDRINUSE
    a.close()
    b.close()


def test_monitor_on_closed_socket(z: Any, zc: _Env) -> None:
    s = zc.sock(z.PAIR)
    s.close()
    with pytest.raises(z.ZMQError) as info:
        s.monitor("inproc://mon-closed", z.EVENT_ALL)
    assert info.value.errno == errno.ENOTSOCK


def test_parse_rejects_non_events(z: Any) -> None:
    mod = importlib.import_module(z.__name__ + ".utils.monitor")
    with pytest.raises(RuntimeError):
        mod.parse_monitor_message([b"12345", b"x"])
    with pytest.raises(RuntimeError):
        mod.parse_monitor_message([b"123456"])


def _connect_events(sock: Any, endpoint: str, quiet_ms: int = 400) -> list[str]:
    """Connect ``sock`` and collect its monitor events until ``quiet_ms`` of silence."""
    import securemq
    from securemq.utils.monitor import recv_monitor_message

    mon = sock.get_monitor_socket()
    sock.connect(endpoint)
    names = []
    while mon.poll(quiet_ms) and len(names) < 20:
        names.append(securemq.Event(recv_monitor_message(mon)["event"]).name)
    sock.disable_monitor()
    mon.close()
    return names


@pytest.mark.parametrize("stop", [0, 1])
def test_reconnect_stop_conn_refused(stop: int) -> None:
    """RECONNECT_STOP_CONN_REFUSED: a refused connect is not retried."""
    import securemq

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with securemq.Context() as ctx:
        s = ctx.socket(securemq.DEALER)
        s.linger = 0
        s.reconnect_ivl = 20
        s.reconnect_stop = securemq.RECONNECT_STOP_CONN_REFUSED if stop else 0
        names = _connect_events(s, f"tcp://127.0.0.1:{port}")
        s.close()
    assert "CLOSED" in names
    assert ("CONNECT_RETRIED" in names) is not bool(stop)


@pytest.mark.parametrize("stop", [0, 1])
def test_reconnect_stop_handshake_failed(stop: int) -> None:
    """RECONNECT_STOP_HANDSHAKE_FAILED: a peer that hangs up mid-handshake is not
    reconnected to."""
    import securemq

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        with securemq.Context() as ctx:
            s = ctx.socket(securemq.DEALER)
            s.linger = 0
            s.reconnect_ivl = 20
            if stop:
                s.reconnect_stop = securemq.RECONNECT_STOP_HANDSHAKE_FAILED
            mon = s.get_monitor_socket()
            s.connect(f"tcp://127.0.0.1:{port}")
            conn, _ = server.accept()
            conn.close()  # hang up before any greeting
            from securemq.utils.monitor import recv_monitor_message
            names = []
            while mon.poll(400) and len(names) < 20:
                names.append(securemq.Event(recv_monitor_message(mon)["event"]).name)
            s.disable_monitor()
            mon.close()
            s.close()
    assert "HANDSHAKE_FAILED_NO_DETAIL" in names
    assert ("CONNECT_RETRIED" in names) is not bool(stop)
