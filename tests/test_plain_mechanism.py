"""The PLAIN mechanism (RFC 24) with ZAP (RFC 27), sans I/O and against libzmq.

Two :class:`Connection` objects, a PLAIN client and a PLAIN server, talk through an
in-memory harness (:func:`pump`) fed whole, byte by byte and in random chunks. The
``interop`` tests put libzmq 4.3.5 (through pyzmq) on the other end of a TCP connection,
in both roles, with a hand-written ZAP handler on ``inproc://zeromq.zap.01``.

A PLAIN server asks ZAP through its Connection: the HELLO yields a :class:`ZapRequested`
event carrying the request, and the harness plays the handler by handing a reply to
:meth:`Connection.zap_reply` (:func:`answer_zap`), as the engine does with the real one.
"""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
import zmq
from hypothesis import given, settings
from hypothesis import strategies as st
from zmq.utils.monitor import recv_monitor_message

from securemq.constants import EFAULT, EINVAL, Event, ProtocolErrorCode
from securemq.error import (
    AuthenticationFailed,
    InvalidMetadata,
    MalformedCommand,
    MechanismMismatch,
    ProtocolError,
    UnexpectedCommand,
    UnspecifiedProtocolError,
    ZapBadRequestId,
    ZapBadVersion,
    ZapError,
    ZapHandlerMissing,
    ZapInvalidMetadata,
    ZapInvalidStatusCode,
    ZapMalformedReply,
    ZMQError,
)
from securemq.security.base import HandshakeConfig
from securemq.security.plain import PlainMechanism, State
from securemq.zmtp.commands import command_body, encode_metadata, split_command
from securemq.zmtp.connection import Connection
from securemq.zmtp.connection import State as ConnState
from securemq.zmtp.events import (
    ConnectionClosed,
    HandshakeComplete,
    MessagesReceived,
    ZapRequested,
)
from securemq.zmtp.events import Event as ZEvent
from securemq.zmtp.frames import encode_command
from securemq.zmtp.greeting import build_greeting

PAIR, PUB, SUB, REQ, REP, DEALER, ROUTER, PULL, PUSH = range(9)
Code = ProtocolErrorCode

USER, PASSWORD = b"admin", b"secret"
# A password that no reason, log line or repr may contain.
SECRET = b"pw-Zq7!never-logged"

CLIENT_GREETING = build_greeting(b"PLAIN", False)
SERVER_GREETING = build_greeting(b"PLAIN", True)

# Captured from libzmq 4.3.5 through pyzmq (a PUSH client "admin"/"secret", a PULL server;
# see the interop tests, which check them again).
LIBZMQ_HELLO = b"\x04\x13\x05HELLO\x05admin\x06secret"
LIBZMQ_WELCOME = b"\x04\x08\x07WELCOME"
LIBZMQ_INITIATE_PUSH = b"\x04\x1d\x08INITIATE\x0bSocket-Type\x00\x00\x00\x04PUSH"
LIBZMQ_READY_PULL = b"\x04\x1a\x05READY\x0bSocket-Type\x00\x00\x00\x04PULL"
# libzmq 4.3.5 spells its PLAIN error prefix "\x05ERROR" in C++, where "\x05E" is one
# hex escape (0x5E, '^'): its PLAIN server sends this body for a ZAP 400.
LIBZMQ_PLAIN_ERROR_400 = b"\x04\x09^RROR\x03400"


# -- harness --------------------------------------------------------------------------------


def client_config(socket_type: int = DEALER, username: bytes = USER,
                  password: bytes = PASSWORD, routing_id: bytes = b"",
                  metadata: Mapping[str, bytes] | None = None) -> HandshakeConfig:
    return HandshakeConfig(socket_type, routing_id, dict(metadata or {}),
                           plain_username=username, plain_password=password)


def server_config(socket_type: int = ROUTER, *, zap_handler: bool = True,
                  routing_id: bytes = b"", zap_domain: bytes = b"",
                  metadata: Mapping[str, bytes] | None = None, **kw: Any) -> HandshakeConfig:
    return HandshakeConfig(socket_type, routing_id, dict(metadata or {}), as_server=True,
                           zap_domain=zap_domain, zap_handler=zap_handler, **kw)


def make_client(**kw: Any) -> Connection:
    return Connection(PlainMechanism(client_config(**kw)))


def make_server(peer_address: str = "192.0.2.7", **kw: Any) -> Connection:
    return Connection(PlainMechanism(server_config(**kw), peer_address))


def plain(conn: Connection) -> PlainMechanism:
    mech = conn.mechanism
    assert isinstance(mech, PlainMechanism)
    return mech


def out(conn: Connection) -> bytes:
    return b"".join(bytes(b) for b in conn.data_to_send())


Chunker = Callable[[bytes], Iterator[bytes]]


def whole(data: bytes) -> Iterator[bytes]:
    if data:
        yield data


def bytewise(data: bytes) -> Iterator[bytes]:
    for i in range(len(data)):
        yield data[i:i + 1]


def random_chunks(seed: int, max_chunk: int = 20) -> Chunker:
    rng = random.Random(seed)

    def chunker(data: bytes) -> Iterator[bytes]:
        i = 0
        while i < len(data):
            n = rng.randint(1, max_chunk)
            yield data[i:i + n]
            i += n
    return chunker


CHUNKERS = {"whole": whole, "bytewise": bytewise, "random": random_chunks(42),
            "random-small": random_chunks(7, 3)}


def feed(conn: Connection, data: bytes, chunker: Chunker = whole) -> list[ZEvent]:
    events: list[ZEvent] = []
    for chunk in chunker(data):
        events += conn.receive_data(chunk)
    return events


def pump(a: Connection, b: Connection, chunker: Chunker = whole
         ) -> tuple[list[ZEvent], list[ZEvent]]:
    """Move bytes both ways until neither side has anything to send."""
    ev_a: list[ZEvent] = []
    ev_b: list[ZEvent] = []
    while True:
        to_b, to_a = out(a), out(b)
        if not to_a and not to_b:
            return ev_a, ev_b
        ev_b += feed(b, to_b, chunker)
        ev_a += feed(a, to_a, chunker)


def zap_reply(request: list[bytes], status: bytes = b"200", user_id: bytes = b"joe",
              metadata: bytes = b"") -> list[bytes]:
    """The RFC 27 reply to ``request``, as a REP handler sends it (delimiter included).

    RFC 27: the user id is empty unless the status is 200.
    """
    return [b"", b"1.0", request[2], status, b"OK" if status == b"200" else b"refused",
            user_id if status == b"200" else b"", metadata]


def zap_requested(events: list[ZEvent]) -> list[bytes]:
    """The frames of the one :class:`ZapRequested` among ``events``."""
    requests = [e.frames for e in events if isinstance(e, ZapRequested)]
    assert len(requests) == 1, events
    return requests[0]


def answer_zap(conn: Connection, request: list[bytes], status: bytes = b"200",
               user_id: bytes = b"joe", metadata: bytes = b"") -> list[ZEvent]:
    """Play the ZAP handler: hand ``conn`` the reply to ``request``; return its events."""
    return conn.zap_reply(zap_reply(request, status, user_id, metadata))


def handshake(chunker: Chunker = whole, client_kw: Mapping[str, Any] | None = None,
              server_kw: Mapping[str, Any] | None = None
              ) -> tuple[Connection, Connection, list[ZEvent], list[ZEvent]]:
    """A whole handshake; the server's events include its ZapRequested, answered 200."""
    client = make_client(**(client_kw or {}))
    server = make_server(**(server_kw or {}))
    ev_c, ev_s = pump(client, server, chunker)
    assert ev_c == []
    request = zap_requested(ev_s)
    assert ev_s == [ZapRequested(request)]
    assert plain(server).state is State.EXPECT_ZAP_REPLY
    assert plain(server).zap_request is None  # the Connection took it
    ev_s += answer_zap(server, request)
    more_c, more_s = pump(client, server, chunker)
    return client, server, ev_c + more_c, ev_s + more_s


def closed(events: list[ZEvent]) -> ProtocolError:
    assert events, "no events"
    last = events[-1]
    assert isinstance(last, ConnectionClosed), events
    assert sum(isinstance(e, ConnectionClosed) for e in events) == 1
    return last.error


def server_after(data: bytes, **kw: Any) -> tuple[Connection, list[ZEvent]]:
    """A server fed a client greeting, then ``data``."""
    server = make_server(**kw)
    events = server.receive_data(CLIENT_GREETING + data)
    return server, events


def server_after_hello(**kw: Any) -> tuple[Connection, list[bytes]]:
    """A server fed a client greeting and HELLO; return it and its ZAP request."""
    server, events = server_after(LIBZMQ_HELLO, **kw)
    request = zap_requested(events)
    assert events == [ZapRequested(request)]
    assert plain(server).state is State.EXPECT_ZAP_REPLY
    assert plain(server).zap_request is None  # the Connection took it
    return server, request


def server_after_welcome(**kw: Any) -> Connection:
    server, request = server_after_hello(**kw)
    out(server)
    assert answer_zap(server, request) == []
    assert out(server) == LIBZMQ_WELCOME
    assert plain(server).state is State.EXPECT_INITIATE
    return server


def client_after_greeting(**kw: Any) -> Connection:
    """A client that has read the server's greeting; its HELLO is queued."""
    client = make_client(**kw)
    assert out(client) == CLIENT_GREETING
    assert client.receive_data(SERVER_GREETING) == []
    return client


def client_after_welcome(**kw: Any) -> Connection:
    client = client_after_greeting(**kw)
    assert client.receive_data(LIBZMQ_WELCOME) == []
    assert plain(client).state is State.EXPECT_READY
    return client


def metadata_cmd(name: bytes, socket_type: bytes, **props: bytes) -> bytes:
    return encode_command(name, encode_metadata([("Socket-Type", socket_type),
                                                 *props.items()]))


# -- wire bytes -----------------------------------------------------------------------------


def test_client_sends_greeting_then_hello_like_libzmq() -> None:
    client = make_client(socket_type=PUSH)
    assert out(client) == CLIENT_GREETING  # as-server = 0 (RFC 24: the greeting decides)
    assert client.receive_data(SERVER_GREETING) == []
    assert out(client) == LIBZMQ_HELLO


def test_server_sends_greeting_only_until_hello() -> None:
    server = make_server(socket_type=PULL)
    assert out(server) == SERVER_GREETING
    assert server.receive_data(CLIENT_GREETING) == []
    assert out(server) == b""


def test_libzmq_session_byte_exact() -> None:
    """Every command of a libzmq PUSH -> PULL session, both ways, as libzmq sends it."""
    server, request = server_after_hello(socket_type=PULL)
    assert out(server) == SERVER_GREETING
    assert answer_zap(server, request) == []
    assert out(server) == LIBZMQ_WELCOME
    events = server.receive_data(LIBZMQ_INITIATE_PUSH)
    assert events == [HandshakeComplete({"socket-type": b"PUSH", "user-id": b"joe"}, 1)]
    assert out(server) == LIBZMQ_READY_PULL

    client = client_after_greeting(socket_type=PUSH)
    out(client)
    assert client.receive_data(LIBZMQ_WELCOME) == []
    assert out(client) == LIBZMQ_INITIATE_PUSH
    assert client.receive_data(LIBZMQ_READY_PULL) == [
        HandshakeComplete({"socket-type": b"PULL"}, 1)]


@pytest.mark.parametrize(("username", "password"), [
    (b"", b""), (b"u", b""), (b"", b"p"), (b"\x00\xff", b" \t"), (b"u" * 255, b"p" * 255),
])
def test_hello_carries_any_credentials_up_to_255(username: bytes, password: bytes) -> None:
    client = client_after_greeting(username=username, password=password)
    frame = out(client)
    body = frame[2:] if frame[0] == 0x04 else frame[9:]  # short or long command frame
    assert body == (b"\x05HELLO" + bytes((len(username),)) + username
                    + bytes((len(password),)) + password)
    server, events = server_after(frame)
    request = zap_requested(events)
    assert events == [ZapRequested(request)]
    assert request[7:] == [username, password]
    assert plain(server).zap_request is None


@pytest.mark.parametrize("field", ["username", "password"])
def test_credentials_over_255_octets_are_a_caller_error(field: str) -> None:
    with pytest.raises(ZMQError) as info:
        make_client(**{field: b"x" * 256})
    assert info.value.errno == EINVAL


# -- the handshake between two peers ------------------------------------------------------------


@pytest.mark.parametrize("chunker", CHUNKERS.values(), ids=CHUNKERS.keys())
def test_two_peers_handshake_and_traffic(chunker: Chunker) -> None:
    client, server, ev_c, ev_s = handshake(
        chunker, client_kw={"routing_id": b"client-1", "metadata": {"X-App": b"a"}},
        server_kw={"metadata": {"X-Zone": b"eu"}})
    assert ev_c == [HandshakeComplete({"socket-type": b"ROUTER", "identity": b"",
                                       "x-zone": b"eu"}, 1)]
    assert ev_s == [
        ZapRequested([b"", b"1.0", b"1", b"", b"192.0.2.7", b"", b"PLAIN", USER, PASSWORD]),
        HandshakeComplete({"socket-type": b"DEALER", "identity": b"client-1", "x-app": b"a",
                           "user-id": b"joe"}, 1)]
    assert client.state is server.state is ConnState.TRAFFIC
    assert plain(client).done and plain(server).done
    assert plain(server).user_id == b"joe"
    assert server.peer_metadata["user-id"] == b"joe"
    assert "user-id" not in client.peer_metadata
    client.send_messages([[b"hello", b"x" * 300]])
    server.send_messages([[b"client-1"], [b"back"]])
    ev_c, ev_s = pump(client, server, chunker)
    assert [m for e in ev_s if isinstance(e, MessagesReceived) for m in e.messages] == [
        [b"hello", b"x" * 300]]
    assert [m for e in ev_c if isinstance(e, MessagesReceived) for m in e.messages] == [
        [b"client-1"], [b"back"]]


def test_greeting_and_hello_in_one_chunk() -> None:
    server, events = server_after(LIBZMQ_HELLO)
    assert events == [ZapRequested(
        [b"", b"1.0", b"1", b"", b"192.0.2.7", b"", b"PLAIN", USER, PASSWORD])]
    assert plain(server).zap_request is None


def test_zap_request_follows_rfc_27() -> None:
    _, request = server_after_hello(zap_domain=b"global", routing_id=b"srv")
    assert request == [
        b"", b"1.0", b"1", b"global", b"192.0.2.7", b"srv", b"PLAIN", USER, PASSWORD]


def test_zap_user_id_and_properties_are_kept() -> None:
    server, request = server_after_hello()
    assert answer_zap(server, request, user_id=b"alice", metadata=encode_metadata(
        [("X-Role", b"admin"), ("Hello", b"world")])) == []
    assert plain(server).user_id == b"alice"
    assert plain(server).zap_properties == {"x-role": b"admin", "hello": b"world"}
    assert plain(server).zap_request is None  # the password is not kept around


def test_zap_properties_and_user_id_reach_peer_metadata() -> None:
    """As libzmq: the handler's properties override the peer's; User-Id is added."""
    server, request = server_after_hello(socket_type=PULL)
    out(server)
    assert answer_zap(server, request, user_id=b"alice", metadata=encode_metadata(
        [("X-Role", b"admin"), ("Hello", b"world")])) == []
    assert out(server) == LIBZMQ_WELCOME
    events = server.receive_data(metadata_cmd(b"INITIATE", b"PUSH", **{"X-Role": b"user"}))
    expected = {"socket-type": b"PUSH", "x-role": b"admin", "hello": b"world",
                "user-id": b"alice"}
    assert events == [HandshakeComplete(expected, 1)]
    assert server.peer_metadata == expected


def test_zap_with_empty_user_id_gives_an_empty_user_id_property() -> None:
    """libzmq takes User-Id from the reply's frame even when it is empty."""
    server, request = server_after_hello(socket_type=PULL)
    assert answer_zap(server, request, user_id=b"") == []
    events = server.receive_data(LIBZMQ_INITIATE_PUSH)
    assert events == [HandshakeComplete({"socket-type": b"PUSH", "user-id": b""}, 1)]
    assert plain(server).user_id == b""


@pytest.mark.parametrize("status", [b"400", b"500"])
def test_zap_refusal_sends_error_and_client_fails(status: bytes) -> None:
    client = make_client()
    server = make_server()
    _, ev_s = pump(client, server)
    events = answer_zap(server, zap_requested(ev_s), status)
    error = closed(events)
    assert events == [ConnectionClosed(error)]
    assert type(error) is AuthenticationFailed
    assert error.status_code == int(status)
    assert error.event == Event.HANDSHAKE_FAILED_AUTH
    assert server.state is ConnState.CLOSED
    assert plain(server).state is State.CLOSED
    wire = out(server)  # queued before the close was reported
    assert wire == encode_command(b"ERROR", b"\x03" + status)
    events = client.receive_data(wire)
    error = closed(events)
    assert isinstance(error, AuthenticationFailed)
    assert error.status_code == int(status)
    assert plain(client).state is State.CLOSED


def test_zap_temporary_failure_closes_silently() -> None:
    """RFC 27/26: a 300 reply disconnects the client without an ERROR."""
    client = make_client()
    server = make_server()
    _, ev_s = pump(client, server)
    events = answer_zap(server, zap_requested(ev_s), b"300")
    error = closed(events)
    assert events == [ConnectionClosed(error)]
    assert type(error) is AuthenticationFailed
    assert error.status_code == 300
    assert error.error_reply is None
    assert server.state is ConnState.CLOSED
    assert plain(server).state is State.CLOSED
    assert out(server) == b""


class _WipedPlain(PlainMechanism):
    """A PLAIN mechanism that records the Connection's calls to ``wipe``."""

    wiped = 0

    def wipe(self) -> None:
        self.wiped += 1


@pytest.mark.parametrize("status", [b"200", b"300", b"400", b"bad"])
def test_connection_wipes_the_mechanism_on_failure_only(status: bytes) -> None:
    mech = _WipedPlain(server_config(), "192.0.2.7")
    server = Connection(mech)
    events = server.receive_data(CLIENT_GREETING + LIBZMQ_HELLO)
    assert mech.wiped == 0
    reply = zap_reply(zap_requested(events), b"200" if status == b"bad" else status)
    events = server.zap_reply(reply[:-1] if status == b"bad" else reply)
    if status == b"200":
        assert events == []
        assert server.receive_data(metadata_cmd(b"INITIATE", b"DEALER"))[0] == \
            HandshakeComplete({"socket-type": b"DEALER", "user-id": b"joe"}, 1)
        assert mech.wiped == 0
    else:
        closed(events)
        assert mech.wiped == 1


def test_zap_reply_after_close_is_ignored() -> None:
    """The handler may answer after the connection closed: nothing happens."""
    server, events = server_after(LIBZMQ_HELLO + encode_command(b"PING", b"\x00\x00"))
    request = zap_requested(events)
    assert type(closed(events)) is UnspecifiedProtocolError
    assert out(server) == SERVER_GREETING
    for status in (b"200", b"400"):
        assert answer_zap(server, request, status) == []
        assert out(server) == b""  # no WELCOME, no ERROR
        assert server.state is ConnState.CLOSED


@pytest.mark.parametrize(("reply", "exc_type"), [
    ([b"", b"1.0", b"1", b"200", b"OK", b"joe"], ZapMalformedReply),
    ([b"", b"2.0", b"1", b"200", b"OK", b"joe", b""], ZapBadVersion),
    ([b"", b"1.0", b"2", b"200", b"OK", b"joe", b""], ZapBadRequestId),
    ([b"", b"1.0", b"1", b"201", b"OK", b"joe", b""], ZapInvalidStatusCode),
    ([b"", b"1.0", b"1", b"200", b"OK", b"joe", b"\x05bad"], ZapInvalidMetadata),
    ([b"x", b"1.0", b"1", b"200", b"OK", b"joe", b""], ZapError),
])
def test_malformed_zap_reply_refuses_the_client(reply: list[bytes],
                                                exc_type: type[ZapError]) -> None:
    server, _ = server_after_hello()
    out(server)
    events = server.zap_reply(reply)
    error = closed(events)
    assert events == [ConnectionClosed(error)]
    assert type(error) is exc_type
    assert error.error_reply is None
    assert server.state is ConnState.CLOSED
    assert plain(server).state is State.CLOSED
    assert out(server) == b""  # no WELCOME, no ERROR


def test_zap_reply_without_request_is_a_driver_bug() -> None:
    server = make_server()
    assert server.receive_data(CLIENT_GREETING) == []
    with pytest.raises(RuntimeError):
        server.zap_reply(zap_reply([b""] * 9))
    server = server_after_welcome()
    with pytest.raises(RuntimeError):
        server.zap_reply(zap_reply([b""] * 9))  # a second reply
    assert out(server) == b""
    client = client_after_greeting()
    with pytest.raises(RuntimeError):
        client.zap_reply(zap_reply([b""] * 9))
    mech = PlainMechanism(server_config())
    with pytest.raises(RuntimeError):
        mech.receive_zap_reply(zap_reply([b""] * 9))


@pytest.mark.parametrize("policy", [{}, {"strict": True}, {"zap_enforce_domain": True},
                                    {"zap_domain": b"global"}], ids=repr)
def test_no_zap_handler_refuses_like_libzmq(policy: dict[str, Any]) -> None:
    """libzmq 4.3.5: no handler -> HANDSHAKE_FAILED_NO_DETAIL with EFAULT, no ERROR."""
    server, events = server_after(LIBZMQ_HELLO, zap_handler=False, **policy)
    error = closed(events)
    assert events == [ConnectionClosed(error)]  # no ZapRequested
    assert isinstance(error, ZapHandlerMissing)
    assert error.event == Event.HANDSHAKE_FAILED_NO_DETAIL
    assert error.event_value == error.errno == EFAULT
    assert out(server) == SERVER_GREETING  # the greeting only: no ERROR, no WELCOME
    assert plain(server).zap_request is None


def test_client_without_handler_on_server_sees_a_close_only() -> None:
    client = make_client()
    server = make_server(zap_handler=False)
    ev_c, ev_s = pump(client, server)
    assert ev_c == []
    assert isinstance(closed(ev_s), ZapHandlerMissing)


# -- malformed and unexpected commands: server ------------------------------------------------


@pytest.mark.parametrize("data", [
    b"",  # no user name length
    b"\x05adm",  # user name runs past the end
    b"\x05admin",  # no password length
    b"\x05admin\x07secret",  # password runs past the end
    b"\x05admin\x06secretX",  # octets after the password
    b"\x00",  # empty user name, no password length
    b"\xff" + b"u" * 255,  # longest user name, no password length
])
@pytest.mark.parametrize("chunker", [whole, bytewise], ids=["whole", "bytewise"])
def test_malformed_hello(data: bytes, chunker: Chunker) -> None:
    server = make_server()
    events = feed(server, CLIENT_GREETING + encode_command(b"HELLO", data), chunker)
    error = closed(events)
    assert events == [ConnectionClosed(error)]  # no ZapRequested
    assert isinstance(error, MalformedCommand)
    assert error.code == Code.ZMTP_MALFORMED_COMMAND_HELLO
    assert plain(server).zap_request is None


@pytest.mark.parametrize("command", [
    metadata_cmd(b"READY", b"DEALER"),
    metadata_cmd(b"INITIATE", b"DEALER"),
    encode_command(b"WELCOME"),
    encode_command(b"ERROR", b"\x03400"),  # ERROR only goes server -> client
    encode_command(b"PING", b"\x00\x00"),
    encode_command(b"HELLOX", b"\x00\x00"),
])
def test_server_expects_hello_first(command: bytes) -> None:
    _, events = server_after(command)
    error = closed(events)
    assert type(error) is UnexpectedCommand
    assert error.code == Code.ZMTP_UNEXPECTED_COMMAND


@pytest.mark.parametrize("command", [
    LIBZMQ_HELLO,
    metadata_cmd(b"READY", b"DEALER"),
    encode_command(b"ERROR", b"\x03400"),
    encode_command(b"WELCOME"),
])
def test_server_expects_initiate_after_welcome(command: bytes) -> None:
    server = server_after_welcome()
    error = closed(server.receive_data(command))
    assert type(error) is UnexpectedCommand
    assert error.code == Code.ZMTP_UNEXPECTED_COMMAND


@pytest.mark.parametrize("command", [metadata_cmd(b"INITIATE", b"DEALER"), LIBZMQ_HELLO])
def test_command_while_zap_decides_is_unspecified_like_libzmq(command: bytes) -> None:
    """An INITIATE pipelined behind the HELLO: libzmq reports ZMTP_UNSPECIFIED."""
    _, events = server_after(LIBZMQ_HELLO + command)
    error = closed(events)
    assert events == [ZapRequested(zap_requested(events)), ConnectionClosed(error)]
    assert type(error) is UnspecifiedProtocolError
    assert error.code == Code.ZMTP_UNSPECIFIED


@pytest.mark.parametrize("data", [
    b"\x0bSocket-Type\x00\x00\x00\x09DEALER",  # value runs past the end
    encode_metadata([("Socket-Type", b"PUB")]),  # may not talk to a ROUTER
    b"",  # no Socket-Type (libzmq 4.3.5 admits this; securemq refuses)
])
def test_initiate_with_bad_metadata(data: bytes) -> None:
    server = server_after_welcome()
    error = closed(server.receive_data(encode_command(b"INITIATE", data)))
    assert isinstance(error, InvalidMetadata)
    assert error.code == Code.ZMTP_INVALID_METADATA
    assert out(server) == b""  # no READY


def test_message_frame_before_initiate_refused() -> None:
    server = server_after_welcome()
    error = closed(server.receive_data(b"\x00\x05hello"))
    assert isinstance(error, UnexpectedCommand)


# -- malformed and unexpected commands: client ------------------------------------------------


def test_welcome_with_data_is_malformed() -> None:
    client = client_after_greeting()
    error = closed(client.receive_data(encode_command(b"WELCOME", b"x")))
    assert isinstance(error, MalformedCommand)
    assert error.code == Code.ZMTP_MALFORMED_COMMAND_WELCOME


@pytest.mark.parametrize("command", [
    metadata_cmd(b"READY", b"ROUTER"),  # READY before WELCOME
    LIBZMQ_HELLO,
    metadata_cmd(b"INITIATE", b"ROUTER"),
    encode_command(b"PING", b"\x00\x00"),
    encode_command(b"WELCOMEX"),
])
def test_client_expects_welcome_first(command: bytes) -> None:
    client = client_after_greeting()
    error = closed(client.receive_data(command))
    assert type(error) is UnexpectedCommand
    assert error.code == Code.ZMTP_UNEXPECTED_COMMAND


@pytest.mark.parametrize("command", [
    LIBZMQ_WELCOME, LIBZMQ_HELLO, metadata_cmd(b"INITIATE", b"ROUTER"),
])
def test_client_expects_ready_after_welcome(command: bytes) -> None:
    client = client_after_welcome()
    error = closed(client.receive_data(command))
    assert type(error) is UnexpectedCommand
    assert error.code == Code.ZMTP_UNEXPECTED_COMMAND


@pytest.mark.parametrize("data", [
    b"\x0bSocket-Type\x00\x00\x00\x09ROUTER",
    encode_metadata([("Socket-Type", b"PULL")]),
    b"\x00\x00\x00\x00\x00",
])
def test_ready_with_bad_metadata(data: bytes) -> None:
    client = client_after_welcome()
    error = closed(client.receive_data(encode_command(b"READY", data)))
    assert isinstance(error, InvalidMetadata)
    assert not plain(client).done


@pytest.mark.parametrize("after_welcome", [False, True])
@pytest.mark.parametrize(("reason", "exc_type", "status"), [
    (b"400", AuthenticationFailed, 400),
    (b"500", AuthenticationFailed, 500),
    (b"300", AuthenticationFailed, 300),
    (b"Invalid credentials", UnspecifiedProtocolError, None),
    (b"", UnspecifiedProtocolError, None),
])
def test_error_from_server(after_welcome: bool, reason: bytes,
                           exc_type: type[ProtocolError], status: int | None) -> None:
    client = client_after_welcome() if after_welcome else client_after_greeting()
    error = closed(client.receive_data(encode_command(b"ERROR", bytes((len(reason),))
                                                      + reason)))
    assert type(error) is exc_type
    if status is not None:
        assert isinstance(error, AuthenticationFailed)
        assert error.status_code == status
        assert error.event == Event.HANDSHAKE_FAILED_AUTH


@pytest.mark.parametrize("data", [b"", b"\x03ab", b"\xff"])
def test_malformed_error_from_server(data: bytes) -> None:
    client = client_after_greeting()
    error = closed(client.receive_data(encode_command(b"ERROR", data)))
    assert isinstance(error, MalformedCommand)
    assert error.code == Code.ZMTP_MALFORMED_COMMAND_ERROR


@pytest.mark.parametrize("after_welcome", [False, True])
@pytest.mark.parametrize("chunker", [whole, bytewise], ids=["whole", "bytewise"])
def test_libzmq_4_3_5_plain_error_reports_the_status(after_welcome: bool,
                                                     chunker: Chunker) -> None:
    """libzmq 4.3.5's PLAIN ERROR (name length 0x5E, see LIBZMQ_PLAIN_ERROR_400) is read
    as the ERROR it means: the client closes with the ZAP status code."""
    client = client_after_welcome() if after_welcome else client_after_greeting()
    error = closed(feed(client, LIBZMQ_PLAIN_ERROR_400, chunker))
    assert type(error) is AuthenticationFailed
    assert error.status_code == 400
    assert error.event == Event.HANDSHAKE_FAILED_AUTH
    assert plain(client).state is State.CLOSED


# -- greetings -------------------------------------------------------------------------------


def test_two_clients_refuse_each_other() -> None:
    """Two clients pass the greeting (libzmq 4.3.5 servers send as-server 0 too, so a
    client cannot refuse it there), then each refuses the other's HELLO."""
    a, b = make_client(), make_client()
    ev_a, ev_b = pump(a, b)
    for events in (ev_a, ev_b):
        error = closed(events)
        assert type(error) is UnexpectedCommand
        assert error.code == Code.ZMTP_UNEXPECTED_COMMAND


def test_client_accepts_a_server_greeting_with_as_server_0() -> None:
    """libzmq 4.3.5 never sets as-server (zmtp_engine.cpp zeroes the 32 octets after the
    mechanism name): its PLAIN server greets like a client, and we go on with HELLO."""
    client = make_client(socket_type=PUSH)
    assert out(client) == CLIENT_GREETING
    assert client.receive_data(CLIENT_GREETING) == []
    assert client.state is ConnState.EXPECT_HANDSHAKE
    assert out(client) == LIBZMQ_HELLO
    assert client.receive_data(LIBZMQ_WELCOME) == []
    assert out(client) == LIBZMQ_INITIATE_PUSH
    assert client.receive_data(LIBZMQ_READY_PULL) == [
        HandshakeComplete({"socket-type": b"PULL"}, 1)]


def test_two_servers_refuse_each_other() -> None:
    a, b = make_server(), make_server()
    ev_a, ev_b = pump(a, b)
    assert isinstance(closed(ev_a), MechanismMismatch)
    assert isinstance(closed(ev_b), MechanismMismatch)


@pytest.mark.parametrize("mechanism", [b"NULL", b"CURVE"])
def test_other_mechanism_refused(mechanism: bytes) -> None:
    server = make_server()
    error = closed(server.receive_data(build_greeting(mechanism, False)))
    assert isinstance(error, MechanismMismatch)


# -- the mechanism alone ------------------------------------------------------------------------


def test_states_name_what_comes_next() -> None:
    client = PlainMechanism(client_config())
    server = PlainMechanism(server_config(), "10.0.0.1")
    assert client.as_server is False and server.as_server is True
    assert client.state is State.EXPECT_WELCOME
    assert server.state is State.EXPECT_HELLO
    assert server.start() == []
    assert server.receive_command(b"HELLO", b"\x01u\x01p") == []
    assert server.state is State.EXPECT_ZAP_REPLY
    assert server.receive_zap_reply(zap_reply(server.zap_request or [])) == [
        command_body(b"WELCOME")]
    assert server.state is State.EXPECT_INITIATE
    ready = server.receive_command(b"INITIATE", encode_metadata([("Socket-Type", b"DEALER")]))
    assert [split_command(b)[0] for b in ready] == [b"READY"]
    assert server.state is State.TRAFFIC and server.done

    assert client.start()[0].startswith(b"\x05HELLO")
    initiate = client.receive_command(b"WELCOME", b"")
    assert [split_command(b)[0] for b in initiate] == [b"INITIATE"]
    assert client.state is State.EXPECT_READY
    assert client.receive_command(b"READY", split_command(ready[0])[1]) == []
    assert client.state is State.TRAFFIC and client.done


def test_nothing_accepted_after_done_or_failure() -> None:
    client = PlainMechanism(client_config())
    client.receive_command(b"WELCOME", b"")
    client.receive_command(b"READY", encode_metadata([("Socket-Type", b"ROUTER")]))
    with pytest.raises(UnspecifiedProtocolError):
        client.receive_command(b"READY", encode_metadata([("Socket-Type", b"ROUTER")]))
    server = PlainMechanism(server_config())
    with pytest.raises(MalformedCommand):
        server.receive_command(b"HELLO", b"")
    assert server.state is State.CLOSED
    with pytest.raises(UnspecifiedProtocolError):
        server.receive_command(b"HELLO", b"\x01u\x01p")


def _commands() -> st.SearchStrategy[list[tuple[bytes, bytes]]]:
    names = st.sampled_from([b"HELLO", b"WELCOME", b"INITIATE", b"READY", b"ERROR", b"PING",
                             b"MESSAGE"])
    good_data = st.sampled_from([b"", b"\x01u\x01p", b"\x03400",
                                 encode_metadata([("Socket-Type", b"ROUTER")]),
                                 encode_metadata([("Socket-Type", b"DEALER")])])
    data = st.one_of(good_data, st.binary(max_size=40))
    return st.lists(st.tuples(names, data), max_size=6)


@settings(max_examples=300, deadline=None)
@given(commands=_commands(), as_server=st.booleans(), zap=st.sampled_from(
    [None, b"200", b"300", b"400", b"500", b"bad"]))
def test_any_command_sequence_is_accepted_or_refused_cleanly(
        commands: list[tuple[bytes, bytes]], as_server: bool, zap: bytes | None) -> None:
    """Whatever the peer sends, the mechanism returns commands or raises a ProtocolError;
    once it raised, it stays closed; it is done only after the RFC 24 sequence."""
    mech = PlainMechanism(server_config(DEALER, zap_handler=zap is not None) if as_server
                          else client_config(ROUTER, password=SECRET))
    mech.start()
    seen: list[bytes] = []
    failed = False
    for name, data in commands:
        try:
            mech.receive_command(name, data)
            seen.append(name)
            if mech.zap_request is not None and zap is not None:
                reply = zap_reply(mech.zap_request, zap if zap != b"bad" else b"200",
                                  metadata=b"\x05x" if zap == b"bad" else b"")
                mech.receive_zap_reply(reply)
        except ProtocolError as exc:
            assert SECRET.decode() not in exc.reason
            failed = True
            break
    if failed:
        assert mech.state is State.CLOSED and not mech.done
        with pytest.raises(ProtocolError):
            mech.receive_command(b"READY", b"")
    if mech.done:
        assert seen[-2:] == ([b"HELLO", b"INITIATE"] if as_server else [b"WELCOME", b"READY"])
        assert mech.state is State.TRAFFIC


# -- secrets --------------------------------------------------------------------------------


def _all_failures() -> Iterator[ProtocolError]:
    """Every way a PLAIN handshake carrying SECRET can fail, server and client side."""
    hello = encode_command(b"HELLO", b"\x05admin" + bytes((len(SECRET),)) + SECRET)
    for tail in (b"", b"X"):  # a good HELLO, and one with a byte too many
        bad = hello[:1] + bytes((hello[1] + len(tail),)) + hello[2:] + tail
        yield from (e.error for e in server_after(bad, zap_handler=False)[1]
                    if isinstance(e, ConnectionClosed))
        yield from (e.error for e in server_after(bad)[1] if isinstance(e, ConnectionClosed))
    for status in (b"300", b"400", b"500"):
        server, events = server_after(hello)
        yield closed(answer_zap(server, zap_requested(events), status))
    server, _ = server_after(hello)
    yield closed(server.zap_reply([SECRET]))
    server, events = server_after(hello + hello)
    yield closed(events)
    client = client_after_greeting(password=SECRET)
    yield closed(client.receive_data(encode_command(b"ERROR", b"\x03400")))


def test_password_never_in_reasons() -> None:
    failures = list(_all_failures())
    assert len(failures) >= 8
    for exc in failures:
        for text in (exc.reason, str(exc), repr(exc), repr(exc.args)):
            assert SECRET.decode() not in text, type(exc)


def test_password_not_in_mechanism_repr() -> None:
    client = PlainMechanism(client_config(password=SECRET))
    assert SECRET.decode() not in repr(client)
    assert SECRET.decode() not in repr(client.state)


# -- hypothesis over the whole connection ---------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(garbage=st.binary(max_size=300), as_server=st.booleans(),
       prefix=st.sampled_from(["greeting", "hello", "welcome"]))
def test_garbage_never_raises(garbage: bytes, as_server: bool, prefix: str) -> None:
    if as_server:
        conn = server_after_welcome() if prefix == "welcome" else make_server()
        head = {"greeting": CLIENT_GREETING, "hello": CLIENT_GREETING + LIBZMQ_HELLO,
                "welcome": b""}[prefix]
    else:
        conn = client_after_welcome() if prefix == "welcome" else make_client()
        head = {"greeting": SERVER_GREETING, "hello": SERVER_GREETING + LIBZMQ_WELCOME,
                "welcome": b""}[prefix]
    events = feed(conn, head + garbage, random_chunks(len(garbage)))
    closes = [e for e in events if isinstance(e, ConnectionClosed)]
    assert len(closes) <= 1
    assert (conn.state is ConnState.CLOSED) == bool(closes)
    for e in closes:
        assert isinstance(e.error, ProtocolError)
    requests = [e.frames for e in events if isinstance(e, ZapRequested)]
    assert len(requests) <= int(as_server)
    if requests and not closes:
        # The handler admits the client: the handshake resumes without raising.
        assert answer_zap(conn, requests[0]) == []
        assert plain(conn).state is State.EXPECT_INITIATE


def test_whole_session_split_at_every_byte_boundary() -> None:
    """The server's view of a libzmq client session, split in two at every offset."""
    session = CLIENT_GREETING + LIBZMQ_HELLO
    request = [b"", b"1.0", b"1", b"", b"192.0.2.7", b"", b"PLAIN", USER, PASSWORD]
    for cut in range(len(session) + 1):
        server = make_server(socket_type=PULL)
        assert feed(server, session[:cut]) + feed(server, session[cut:]) == [
            ZapRequested(request)]
        assert plain(server).zap_request is None
    tail = LIBZMQ_INITIATE_PUSH + b"\x00\x03abc"
    for cut in range(len(tail) + 1):
        server = make_server(socket_type=PULL)
        assert feed(server, session) == [ZapRequested(request)]
        assert answer_zap(server, request) == []
        events = feed(server, tail[:cut]) + feed(server, tail[cut:])
        assert events[0] == HandshakeComplete({"socket-type": b"PUSH", "user-id": b"joe"}, 1)
        assert [m for e in events if isinstance(e, MessagesReceived)
                for m in e.messages] == [[b"abc"]]


# -- interop with libzmq over TCP -----------------------------------------------------------


class ZapHandler:
    """A ZAP handler (RFC 27) on a REP socket in pyzmq's context, served by a thread.

    The policy is a pure function of the request: "admin"/"secret" gets 200 with user
    id "admin", anything else 400. Every request is recorded.
    """

    def __init__(self, zctx: Any) -> None:
        self.requests: list[list[bytes]] = []
        self._stop = threading.Event()
        self._sock = zctx.socket(zmq.REP)
        self._sock.linger = 0
        # Bound before any server starts (RFC 27), from this thread: then handed over.
        self._sock.bind("inproc://zeromq.zap.01")
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @staticmethod
    def policy(request: list[bytes]) -> list[bytes]:
        version, request_id, _domain, _address, _identity, mechanism = request[:6]
        ok = mechanism == b"PLAIN" and request[6:] == [USER, PASSWORD]
        return [version, request_id, b"200" if ok else b"400", b"OK" if ok else b"denied",
                USER if ok else b"", b""]

    def _serve(self) -> None:
        while not self._stop.is_set():
            if self._sock.poll(50):  # a bounded wait, so that stop() is prompt
                request = self._sock.recv_multipart()
                self.requests.append(request)
                self._sock.send_multipart(self.policy(request))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        assert not self._thread.is_alive()
        self._sock.close(linger=0)


@pytest.fixture
def zap_handler(zctx: Any) -> Iterator[ZapHandler]:
    handler = ZapHandler(zctx)
    yield handler
    handler.stop()  # before zctx is destroyed


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as s:
        s.settimeout(10)
        yield s


class TcpPeer:
    """Pumps one Connection over a blocking TCP socket, the stream passed as is."""

    def __init__(self, sock: socket.socket, conn: Connection) -> None:
        self.sock, self.conn = sock, conn

    def drive(self, done: Callable[[list[ZEvent]], bool]) -> list[ZEvent]:
        """Exchange data until ``done(events)``, a close, or EOF (as a close)."""
        events: list[ZEvent] = []
        while True:
            pending = out(self.conn)
            if pending:
                self.sock.sendall(pending)
            if done(events) or any(isinstance(e, ConnectionClosed) for e in events):
                return events
            data = self.sock.recv(65536)
            if not data:
                events.append(ConnectionClosed(UnspecifiedProtocolError("EOF")))
                return events
            events += self.conn.receive_data(data)


def _has(kind: type) -> Callable[[list[ZEvent]], bool]:
    return lambda events: any(isinstance(e, kind) for e in events)


def _ask_handler(zctx: Any, request: list[bytes]) -> list[bytes]:
    """Send a ZapRequested's frames to the handler on ``inproc://zeromq.zap.01`` as the
    engine does, from a DEALER (the empty delimiter is the first frame); return the reply,
    delimiter included, for :meth:`Connection.zap_reply`."""
    dealer = zctx.socket(zmq.DEALER)
    dealer.linger = 0
    dealer.rcvtimeo = 5000
    try:
        dealer.connect("inproc://zeromq.zap.01")
        dealer.send_multipart(request)
        reply: list[bytes] = dealer.recv_multipart()
        return reply
    finally:
        dealer.close(linger=0)


def _recv_at_least(sock: socket.socket, n: int) -> bytes:
    """Read until ``n`` octets have arrived (the socket's timeout bounds each wait)."""
    got = b""
    while len(got) < n:
        data = sock.recv(4096)
        assert data, f"EOF after {len(got)} octets"
        got += data
    return got


def _monitor_events(mon: Any, until: Callable[[int], bool]) -> list[tuple[int, int]]:
    """Read monitor events until one satisfies ``until`` (rcvtimeo bounds the wait)."""
    seen: list[tuple[int, int]] = []
    while True:
        ev = recv_monitor_message(mon)
        seen.append((ev["event"], ev["value"]))
        if until(ev["event"]):
            return seen


@pytest.mark.interop
def test_we_connect_to_libzmq_plain_server(zctx: Any, zap_handler: ZapHandler) -> None:
    pull = zctx.socket(zmq.PULL)
    pull.linger = 0
    pull.rcvtimeo = 5000
    pull.plain_server = True
    pull.zap_domain = b"test"
    try:
        port = pull.bind_to_random_port("tcp://127.0.0.1")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            conn = make_client(socket_type=PUSH)
            peer = TcpPeer(sock, conn)
            events = peer.drive(_has(HandshakeComplete))
            assert events == [HandshakeComplete({"socket-type": b"PULL"}, 1)]
            conn.send_messages([[b"over", b"plain"]])
            peer.drive(lambda ev: True)
            assert pull.recv_multipart() == [b"over", b"plain"]
        [request] = zap_handler.requests
        assert request[:3] == [b"1.0", b"1", b"test"]
        assert request[3] == b"127.0.0.1"
        assert request[5:] == [b"PLAIN", USER, PASSWORD]
    finally:
        pull.close(linger=0)


@pytest.mark.interop
def test_libzmq_plain_server_refuses_our_wrong_password(zctx: Any,
                                                        zap_handler: ZapHandler) -> None:
    pull = zctx.socket(zmq.PULL)
    pull.linger = 0
    pull.plain_server = True
    try:
        port = pull.bind_to_random_port("tcp://127.0.0.1")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            conn = make_client(socket_type=PUSH, password=b"wrong")
            events = TcpPeer(sock, conn).drive(_has(HandshakeComplete))
            # libzmq 4.3.5 answers with its malformed PLAIN ERROR (LIBZMQ_PLAIN_ERROR_400),
            # which we read as ERROR 400; a fixed libzmq sends a proper ERROR 400.
            error = closed(events)
            assert events == [ConnectionClosed(error)]
            assert type(error) is AuthenticationFailed
            assert error.status_code == 400
        assert zap_handler.requests[0][5:] == [b"PLAIN", USER, b"wrong"]
    finally:
        pull.close(linger=0)


@pytest.mark.interop
def test_libzmq_plain_error_bytes(zctx: Any, zap_handler: ZapHandler) -> None:
    """Pin down what libzmq 4.3.5's PLAIN server sends when ZAP says 400."""
    pull = zctx.socket(zmq.PULL)
    pull.linger = 0
    pull.plain_server = True
    try:
        port = pull.bind_to_random_port("tcp://127.0.0.1")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(CLIENT_GREETING + encode_command(b"HELLO", b"\x05admin\x01x"))
            got = _recv_at_least(sock, 64 + len(LIBZMQ_PLAIN_ERROR_400))
        # as-server is never set by libzmq 4.3.5 (test_client_accepts_a_server_greeting_
        # with_as_server_0 checks that we go on all the same).
        assert got[32] == 0
        # libzmq keeps the connection open after its ERROR: read just the command.
        assert got[64:] in (LIBZMQ_PLAIN_ERROR_400, encode_command(b"ERROR", b"\x03400"))
    finally:
        pull.close(linger=0)


def _accept_server(listener: socket.socket, **kw: Any
                   ) -> tuple[socket.socket, Connection]:
    sock, (host, _) = listener.accept()
    sock.settimeout(10)
    return sock, make_server(peer_address=host, **kw)


@pytest.mark.interop
def test_libzmq_plain_client_connects_to_us(zctx: Any, listener: socket.socket,
                                           zap_handler: ZapHandler) -> None:
    push = zctx.socket(zmq.PUSH)
    push.linger = 0
    push.sndtimeo = 5000
    push.plain_username = USER
    push.plain_password = PASSWORD
    push.routing_id = b"pusher"
    try:
        push.connect(f"tcp://127.0.0.1:{listener.getsockname()[1]}")
        sock, conn = _accept_server(listener, socket_type=PULL, zap_domain=b"dom")
        with sock:
            peer = TcpPeer(sock, conn)
            events = peer.drive(_has(ZapRequested))
            request = [b"", b"1.0", b"1", b"dom", b"127.0.0.1", b"", b"PLAIN", USER, PASSWORD]
            assert events == [ZapRequested(request)]
            assert plain(conn).zap_request is None
            # The ZAP handler (libzmq's REP) gets the request and answers.
            reply = _ask_handler(zctx, request)
            assert reply == [b"", b"1.0", b"1", b"200", b"OK", USER, b""]
            assert zap_handler.requests == [request[1:]]
            assert conn.zap_reply(reply) == []
            events = peer.drive(_has(HandshakeComplete))
            assert events == [HandshakeComplete({"socket-type": b"PUSH", "user-id": USER}, 1)]
            push.send_multipart([b"from", b"libzmq"])
            events = peer.drive(_has(MessagesReceived))
            assert [m for e in events if isinstance(e, MessagesReceived)
                    for m in e.messages] == [[b"from", b"libzmq"]]
    finally:
        push.close(linger=0)


@pytest.mark.interop
def test_libzmq_plain_client_wire_matches_ours(zctx: Any, listener: socket.socket) -> None:
    """Capture libzmq's HELLO and INITIATE and compare them with our client's."""
    push = zctx.socket(zmq.PUSH)
    push.linger = 0
    push.plain_username = USER
    push.plain_password = PASSWORD
    try:
        push.connect(f"tcp://127.0.0.1:{listener.getsockname()[1]}")
        sock, _ = listener.accept()
        with sock:
            sock.settimeout(10)
            sock.sendall(SERVER_GREETING)
            got = b""
            while len(got) < 64 + len(LIBZMQ_HELLO):
                got += sock.recv(4096)
            assert got[64:] == LIBZMQ_HELLO
            sock.sendall(LIBZMQ_WELCOME)
            while len(got) < 64 + len(LIBZMQ_HELLO) + len(LIBZMQ_INITIATE_PUSH):
                got += sock.recv(4096)
            assert got[64 + len(LIBZMQ_HELLO):] == LIBZMQ_INITIATE_PUSH
        client = client_after_greeting(socket_type=PUSH)
        assert out(client) == LIBZMQ_HELLO
        client.receive_data(LIBZMQ_WELCOME)
        assert out(client) == LIBZMQ_INITIATE_PUSH
    finally:
        push.close(linger=0)


@pytest.mark.interop
@pytest.mark.parametrize("status", [b"400", b"500"])
def test_we_refuse_libzmq_plain_client(zctx: Any, listener: socket.socket,
                                       status: bytes) -> None:
    push = zctx.socket(zmq.PUSH)
    push.linger = 0
    push.reconnect_ivl = 60000  # one attempt is enough
    push.plain_username = USER
    push.plain_password = b"wrong"
    mon = push.get_monitor_socket()
    mon.rcvtimeo = 5000
    try:
        push.connect(f"tcp://127.0.0.1:{listener.getsockname()[1]}")
        sock, conn = _accept_server(listener, socket_type=PULL)
        with sock:
            events = TcpPeer(sock, conn).drive(_has(ZapRequested))
            request = zap_requested(events)
            assert events == [ZapRequested(request)]
            assert request[7:] == [USER, b"wrong"]
            events = answer_zap(conn, request, status)
            error = closed(events)
            assert events == [ConnectionClosed(error)]
            assert type(error) is AuthenticationFailed
            assert error.status_code == int(status)
            wire = out(conn)
            assert wire == encode_command(b"ERROR", b"\x03" + status)
            sock.sendall(wire)
            failures = (zmq.EVENT_HANDSHAKE_FAILED_AUTH, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)
            seen = _monitor_events(mon, lambda event: event in failures)
            event, value = seen[-1]
            # libzmq 4.3.5 cannot read a well-formed PLAIN ERROR (its client compares
            # against the same mis-escaped prefix): it reports an unexpected command. A
            # fixed libzmq reports the ZAP status with HANDSHAKE_FAILED_AUTH.
            assert (event, value) in (
                (zmq.EVENT_HANDSHAKE_FAILED_AUTH, int(status)),
                (zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, Code.ZMTP_UNEXPECTED_COMMAND))
            assert not any(e == zmq.EVENT_HANDSHAKE_SUCCEEDED for e, _ in seen)
    finally:
        push.disable_monitor()
        mon.close(linger=0)
        push.close(linger=0)


@pytest.mark.interop
def test_we_refuse_libzmq_plain_client_without_zap_handler(zctx: Any,
                                                           listener: socket.socket) -> None:
    push = zctx.socket(zmq.PUSH)
    push.linger = 0
    push.reconnect_ivl = 60000
    push.plain_username = USER
    push.plain_password = PASSWORD
    try:
        push.connect(f"tcp://127.0.0.1:{listener.getsockname()[1]}")
        sock, conn = _accept_server(listener, socket_type=PULL, zap_handler=False)
        with sock:
            events = TcpPeer(sock, conn).drive(lambda ev: False)
            assert isinstance(closed(events), ZapHandlerMissing)
    finally:
        push.close(linger=0)
