"""Heartbeats (RFC 37 PING/PONG): the sans-IO timers on a fake clock, then real peers.

A dead peer is simulated by the fault relay frozen in the middle: the connection stays
open but nothing crosses it, which is what a peer that stops reading, or a cut cable
that no RST reports, looks like. Detection is observed on the monitor socket.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest
from relay import Relay

import securemq
from securemq.error import MalformedCommand
from securemq.security.base import HandshakeConfig
from securemq.security.null import NullMechanism
from securemq.zmtp.commands import command_body, split_command
from securemq.zmtp.connection import Connection, State
from securemq.zmtp.events import CommandReceived, ConnectionClosed, Event
from securemq.zmtp.frames import FrameDecoder

pytestmark = pytest.mark.timeout(30)

# -- sans-IO ------------------------------------------------------------------------------


def _pair(**client_hb: float) -> tuple[Connection, Connection]:
    client = Connection(NullMechanism(HandshakeConfig(5)), **client_hb)
    server = Connection(NullMechanism(HandshakeConfig(6)))
    _pump(client, server)
    assert client.state is State.TRAFFIC and server.state is State.TRAFFIC
    return client, server


def _pump(a: Connection, b: Connection) -> list[Event]:
    """Move bytes both ways until quiet; return the events, in order."""
    events: list[Event] = []
    for _ in range(10):
        ab = b"".join(bytes(x) for x in a.data_to_send())
        ba = b"".join(bytes(x) for x in b.data_to_send())
        if not ab and not ba:
            break
        events += b.receive_data(ab) if ab else []
        events += a.receive_data(ba) if ba else []
    return events


def _commands(data: list[Any]) -> list[bytes]:
    dec = FrameDecoder(-1)
    dec.feed(b"".join(bytes(x) for x in data))
    names = []
    while dec.command is not None:
        names.append(dec.command)
        dec.command = None
        dec.feed(b"")
    return names


def test_no_heartbeat_no_timer() -> None:
    client, _ = _pair()
    assert not client.timers_pending
    assert client.get_timer() is None


def test_ping_sent_each_interval_and_pong_clears_the_deadline() -> None:
    client, server = _pair(heartbeat_ivl=1.0, heartbeat_timeout=3.0, heartbeat_ttl=2.5)
    assert client.timers_pending
    client.update_timers(100.0)
    assert client.get_timer() == 101.0
    assert client.handle_timer(100.5) == []
    assert not client.has_output()
    assert client.handle_timer(101.0) == []
    pings = _commands(client.data_to_send())
    assert pings == [command_body(b"PING", b"\x00\x19")]  # TTL 25 tenths
    assert client.get_timer() == 102.0  # next PING before the 104.0 deadline
    events = server.receive_data(b"".join(_frame(p) for p in pings))
    assert [type(e) for e in events] == [CommandReceived]
    pong = _commands(server.data_to_send())
    assert pong == [command_body(b"PONG")]
    client.receive_data(b"".join(_frame(p) for p in pong))
    client.handle_timer(102.0)
    client.data_to_send()
    assert client.get_timer() == 103.0  # the deadline went with the PONG


def _frame(body: bytes) -> bytes:
    return bytes((0x04, len(body))) + body


def test_no_answer_closes_at_the_timeout() -> None:
    client, _ = _pair(heartbeat_ivl=1.0, heartbeat_timeout=2.5)
    client.update_timers(0.0)
    client.handle_timer(1.0)
    client.handle_timer(2.0)
    client.handle_timer(3.0)
    assert client.state is State.TRAFFIC
    [closed] = client.handle_timer(3.5)
    assert isinstance(closed, ConnectionClosed)
    assert client.state is State.CLOSED
    assert client.get_timer() is None


def test_timeout_defaults_to_the_interval() -> None:
    client, _ = _pair(heartbeat_ivl=1.0)
    client.update_timers(0.0)
    client.handle_timer(1.0)
    assert client.get_timer() == 2.0
    assert isinstance(client.handle_timer(2.0)[0], ConnectionClosed)


def test_any_input_is_a_sign_of_life() -> None:
    client, server = _pair(heartbeat_ivl=1.0, heartbeat_timeout=1.5)
    client.update_timers(0.0)
    client.handle_timer(1.0)
    client.data_to_send()  # the PING is lost; the server talks anyway
    server.send_messages([[b"data"]])
    client.receive_data(b"".join(bytes(x) for x in server.data_to_send()))
    assert client.handle_timer(2.5) == []
    assert client.state is State.TRAFFIC


def test_peer_ttl_closes_a_silent_peer() -> None:
    _, server = _pair()
    server.receive_data(_frame(command_body(b"PING", b"\x00\x14ctx")))  # TTL 2 s
    assert _commands(server.data_to_send()) == [command_body(b"PONG", b"ctx")]
    assert server.timers_pending
    server.update_timers(10.0)
    assert server.get_timer() == 12.0
    assert server.handle_timer(11.9) == []
    assert isinstance(server.handle_timer(12.0)[0], ConnectionClosed)


def test_ping_without_ttl_sets_no_timer() -> None:
    _, server = _pair()
    server.receive_data(_frame(command_body(b"PING", b"\x00\x00")))
    assert not server.timers_pending


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x01" + b"c" * 17])
def test_malformed_ping_closes(data: bytes) -> None:
    _, server = _pair()
    [closed] = server.receive_data(_frame(command_body(b"PING", data)))
    assert isinstance(closed, ConnectionClosed)
    assert isinstance(closed.error, MalformedCommand)


def test_pong_and_ping_never_split_a_message() -> None:
    """Replies made while decoding wait in their own queue, not between frames."""
    client, server = _pair(heartbeat_ivl=1.0)
    client.update_timers(0.0)
    client.send_messages([[b"a", b"b"]])
    client.handle_timer(1.0)  # PING queued while a message is pending
    server.receive_data(_frame(command_body(b"PING", b"\x00\x00")))
    out = b"".join(bytes(x) for x in client.data_to_send())
    dec = FrameDecoder(-1)
    assert dec.feed(out) == [[b"a", b"b"]]
    name, _ = split_command(dec.command or b"")
    assert name == b"PING"


# -- with real peers ----------------------------------------------------------------------

IMPLS = ["securemq", pytest.param("zmq", marks=pytest.mark.interop)]


@pytest.fixture(params=IMPLS)
def far(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A context of the far side's implementation: securemq itself or libzmq."""
    mod = importlib.import_module(request.param)
    c = mod.Context()
    yield mod, c
    c.destroy(linger=0)


def _wait_event(mon: Any, wanted: str, timeout_ms: int = 5000) -> list[str]:
    seen = []
    mod = securemq if isinstance(mon, securemq.Socket) else importlib.import_module("zmq")
    um = importlib.import_module(mod.__name__ + ".utils.monitor")
    while True:
        assert mon.poll(timeout_ms), f"no {wanted} (saw {seen})"
        ev = um.recv_monitor_message(mon)
        name = mod.Event(ev["event"]).name
        seen.append(name)
        if name == wanted:
            return seen


def _socks(ctx: securemq.Context, far: Any, ours_hb: bool, theirs_hb: dict[str, int]) -> Any:
    mod, fctx = far
    server = fctx.socket(mod.ROUTER)
    server.linger = 0
    for k, v in theirs_hb.items():
        setattr(server, k, v)
    port = server.bind_to_random_port("tcp://127.0.0.1")
    client = ctx.socket(securemq.DEALER)
    client.linger = 0
    client.reconnect_ivl = 50
    if ours_hb:
        client.heartbeat_ivl = 50
        client.heartbeat_timeout = 300
    return server, port, client


def test_live_peer_stays_connected(ctx: securemq.Context, far: Any) -> None:
    server, port, client = _socks(ctx, far, True, {"heartbeat_ivl": 50})
    mon = client.get_monitor_socket()
    client.connect(f"tcp://127.0.0.1:{port}")
    _wait_event(mon, "HANDSHAKE_SUCCEEDED")
    # Ten heartbeat intervals and more with no traffic: the PONGs keep it alive.
    assert not mon.poll(800), "the connection dropped while the peer was alive"
    client.send(b"still here")
    assert server.poll(3000)
    assert server.recv_multipart()[1] == b"still here"
    mon.close()
    server.close()
    client.close()


def test_frozen_peer_detected_and_reconnected(ctx: securemq.Context, far: Any) -> None:
    server, port, client = _socks(ctx, far, True, {})
    with Relay(("127.0.0.1", port)) as relay:
        mon = client.get_monitor_socket()
        client.connect(relay.endpoint)
        _wait_event(mon, "HANDSHAKE_SUCCEEDED")
        relay.freeze()
        _wait_event(mon, "DISCONNECTED")
        relay.thaw()
        _wait_event(mon, "HANDSHAKE_SUCCEEDED")
        client.send(b"after")
        assert server.poll(3000)
        assert server.recv_multipart()[1] == b"after"
        mon.close()
        client.close()
        server.close()


def test_far_side_detects_our_silence(ctx: securemq.Context, far: Any) -> None:
    """The far side pings; our socket (no heartbeats of its own) answers until frozen."""
    server, port, client = _socks(ctx, far, False,
                                  {"heartbeat_ivl": 50, "heartbeat_timeout": 300})
    smon = server.get_monitor_socket()
    with Relay(("127.0.0.1", port)) as relay:
        client.connect(relay.endpoint)
        _wait_event(smon, "HANDSHAKE_SUCCEEDED")
        assert not smon.poll(500), "our PONGs did not keep the far side happy"
        relay.freeze()
        _wait_event(smon, "DISCONNECTED")
        relay.thaw()
    smon.close()
    client.close()
    server.close()


def test_peer_ttl_drops_us_when_it_goes_silent(ctx: securemq.Context, far: Any) -> None:
    """The far side asks for a TTL in its PINGs: we drop it when its PINGs stop."""
    mod, fctx = far
    ours = ctx.socket(securemq.ROUTER)
    ours.linger = 0
    port = ours.bind_to_random_port("tcp://127.0.0.1")
    mon = ours.get_monitor_socket()
    theirs = fctx.socket(mod.DEALER)
    theirs.linger = 0
    theirs.heartbeat_ivl = 50
    theirs.heartbeat_ttl = 300
    theirs.heartbeat_timeout = 10_000  # the far side itself would notice much later
    with Relay(("127.0.0.1", port)) as relay:
        theirs.connect(relay.endpoint)
        _wait_event(mon, "HANDSHAKE_SUCCEEDED")
        assert not mon.poll(500)
        relay.freeze()
        _wait_event(mon, "DISCONNECTED", timeout_ms=3000)
        relay.thaw()
    mon.close()
    theirs.close()
    ours.close()
