"""Fuzz a Connection with the CURVE mechanism, in the server or the client role.

Input: a control octet, a split-plan octet, then what the peer sends. The control octet:

* ``0x01``: we are the client (else the server);
* ``0x06`` (two bits, the stage): what a real peer said before the input, so that the
  fuzzer starts deep in the handshake: 0 nothing, 1 its greeting, 2 its greeting and
  HELLO (server role) or greeting and WELCOME (client role), 3 the whole handshake
  (HELLO and INITIATE, or WELCOME and READY), so the input is traffic;
* ``0x08``: server role: a ZAP handler is bound; a pending request is answered 200
  after the input;
* ``0x10``: a small ``maxmsgsize``.

The prefixes are recorded at import from a real handshake between our own mechanisms
with fixed randomness, and the mechanism under test gets the same randomness, so they
stay valid for it. Traffic frames are opened with :meth:`CurveMechanism.open`, as the
engine will do.

Invariant: ``receive_data`` never raises; events obey :func:`check_events`; ``open``
returns or raises a ``ProtocolError``; a closed connection stays closed and silent; any
split gives the same events, opened frames and output, also through the engine's
zero-copy path; buffers never hold more than was fed; ``wipe`` zeroes the secrets.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import nacl.bindings as nb

from securemq.error import ProtocolError
from securemq.security.base import HandshakeConfig
from securemq.security.curve import CurveMechanism
from securemq.zmtp.connection import Connection, State
from securemq.zmtp.events import Event, HandshakeComplete, MessagesReceived
from securemq.zmtp.frames import encode_command, frame_header

from ._common import buffered, check_events, flat, run_main

_SERVER_SEC = random.Random(1).randbytes(32)
_SERVER_PUB = nb.crypto_scalarmult_base(_SERVER_SEC)
_CLIENT_SEC = random.Random(2).randbytes(32)
_CLIENT_PUB = nb.crypto_scalarmult_base(_CLIENT_SEC)
_SERVER_SEED, _CLIENT_SEED = 101, 202
_ZAP_OK = [b"", b"1.0", b"1", b"200", b"OK", b"user", b""]


def _random(seed: int) -> Callable[[int], bytes]:
    return random.Random(seed).randbytes


def _mechanism(client: bool, zap: bool = False) -> CurveMechanism:
    if client:
        cfg = HandshakeConfig(5, routing_id=b"fuzz", curve_publickey=_CLIENT_PUB,
                              curve_secretkey=_CLIENT_SEC, curve_serverkey=_SERVER_PUB)
        return CurveMechanism(cfg, random=_random(_CLIENT_SEED))
    cfg = HandshakeConfig(6, as_server=True, curve_secretkey=_SERVER_SEC, zap_handler=zap)
    return CurveMechanism(cfg, "192.0.2.1", random=_random(_SERVER_SEED))


def _take(conn: Connection) -> bytes:
    return b"".join(bytes(b) for b in conn.data_to_send())


def _record() -> dict[str, Any]:
    """A real handshake and some traffic, command by command, in both directions."""
    client, server = Connection(_mechanism(True)), Connection(_mechanism(False))
    c_greeting, s_greeting = _take(client), _take(server)
    client.receive_data(s_greeting)
    hello = _take(client)
    server.receive_data(c_greeting + hello)
    welcome = _take(server)
    client.receive_data(welcome)
    initiate = _take(client)
    server.receive_data(initiate)
    ready = _take(server)
    client.receive_data(ready)
    cm, sm = client.mechanism, server.mechanism
    assert cm.done and sm.done
    to_server = [cm.seal(1, b"part"), cm.seal(0, b"end"), cm.seal(2, b"\x04PING\x00\x00ctx")]
    to_client = [sm.seal(0, b"hello"), sm.seal(2, b"\x09SUBSCRIBEtopic")]
    return {
        "client": [c_greeting, hello, initiate], "server": [s_greeting, welcome, ready],
        "to_server": [frame_header(len(b)) + b for b in to_server],
        "to_client": [frame_header(len(b)) + b for b in to_client],
        "key": bytes(cm._key or b""),
    }


_RECORDED = _record()


def _prefix(client: bool, stage: int) -> bytes:
    """What the peer sent before the fuzzed input (its greeting, then commands)."""
    peer = _RECORDED["server" if client else "client"]
    return b"".join(peer[:stage])


def _run(stream: bytes, plan: int, client: bool, zap: bool, maxmsgsize: int,
         zero_copy: bool = False) -> tuple[list[tuple[object, ...]], bytes]:
    from ._common import feed_all  # noqa: PLC0415 - keeps the import list short

    mech = _mechanism(client, zap)
    conn = Connection(mech, maxmsgsize, 5.0)
    sent = _take(conn) if client else b""
    fed = 0
    opened: list[tuple[object, ...]] = []

    def bounded() -> None:
        assert buffered(conn._decoder) <= fed and len(conn._greeting_buf) < 64

    events: list[Event] = []
    for piece in (stream[i:i + 4096] for i in range(0, len(stream), 4096)):
        fed += len(piece)
        events += feed_all(conn, piece, plan, bounded, zero_copy)
    check_events(events, conn)
    for ev in events:
        if isinstance(ev, HandshakeComplete):
            assert mech.done and conn.peer_metadata.get("socket-type") is not None
        if isinstance(ev, MessagesReceived):
            for body in (b for m in ev.messages for b in m):
                if opened and opened[-1][0] == "refused":
                    break  # the engine closes the connection at the first bad box
                try:
                    flags, payload = mech.open(body)
                except ProtocolError as exc:
                    opened.append(("refused", type(exc), exc.code))
                else:
                    assert 0 <= flags <= 3
                    opened.append(("opened", flags, payload))
    if zap and conn.state is not State.CLOSED and mech.zap_request is not None:
        bodies = mech.receive_zap_reply(_ZAP_OK)
        assert len(bodies) == 1 and bodies[0][:6] == b"\x05READY" and mech.done
        sent += b"".join(bodies)
    sent += _take(conn)
    if conn.state is State.CLOSED:
        assert conn.receive_data(stream[:64] + b"\x00\x01x") == []
        assert conn.handle_timer(1e9) == []
        assert conn.data_to_send() == []
    secret = mech._secret
    mech.wipe()
    assert not any(secret)
    return [*flat(events), *opened], sent


def TestOneInput(data: bytes) -> None:
    if len(data) < 2:
        return
    ctrl, plan, rest = data[0], data[1], data[2:]
    client = bool(ctrl & 0x01)
    stage = (ctrl >> 1) & 0x03
    zap = bool(ctrl & 0x08) and not client
    maxmsgsize = 300 if ctrl & 0x10 else -1
    stream = _prefix(client, stage) + rest
    reference = _run(stream, 0, client, zap, maxmsgsize)
    assert _run(stream, plan, client, zap, maxmsgsize) == reference, "split changed"
    zero_copy = _run(stream, plan, client, zap, maxmsgsize, zero_copy=True)
    assert zero_copy == reference, "receive_buffer/received_into changed the result"


def _flip(data: bytes, index: int) -> bytes:
    b = bytearray(data)
    b[index] ^= 0x01
    return bytes(b)


def seeds() -> dict[str, bytes]:
    """The ``seed-*`` files of ``fuzz/corpus/fuzz_curve_handshake/``, by name."""
    rec = _RECORDED
    c_greeting, hello, initiate = rec["client"]
    s_greeting, welcome, ready = rec["server"]
    to_server, to_client = rec["to_server"], rec["to_client"]
    # A box with a reserved inner flag bit, under the real session key (RFC 26: MUST be 0).
    short = (1000).to_bytes(8, "big")
    reserved = b"\x07MESSAGE" + short + nb.crypto_box_easy_afternm(
        b"\x04x", b"CurveZMQMESSAGEC" + short, rec["key"])
    server, client = 0x00, 0x01
    return {
        "server-hello-raw-short": bytes((server | 1 << 1, 0)) + b"\x04\x06\x05HELLO",
        "server-whole-session-bytewise": bytes((server, 1)) + c_greeting + hello + initiate
        + b"".join(to_server),
        "server-initiate-cookie-flipped": bytes((server | 2 << 1, 0)) + _flip(initiate, 9 + 30),
        "server-initiate-zap": bytes((server | 2 << 1 | 0x08, 3)) + initiate,
        "server-traffic-replay": bytes((server | 3 << 1, 5)) + to_server[0] + to_server[0],
        "server-traffic-reserved-flag": bytes((server | 3 << 1, 0)) + to_server[0]
        + frame_header(len(reserved)) + reserved,
        "server-traffic-small-maxmsgsize": bytes((server | 3 << 1 | 0x10, 2))
        + b"".join(to_server) + frame_header(400) + bytes(400),
        "client-whole-session-random": bytes((client, 9)) + s_greeting + welcome + ready
        + b"".join(to_client),
        "client-welcome-flipped": bytes((client | 1 << 1, 0)) + _flip(welcome, 40),
        "client-error-400": bytes((client | 2 << 1, 0)) + encode_command(b"ERROR", b"\x03400"),
        "client-traffic-ping-outer": bytes((client | 3 << 1, 0)) + b"".join(to_client)
        + encode_command(b"PING", b"\x00\x00ab") + _flip(to_client[0], 30),
    }


def main() -> None:
    run_main(TestOneInput)


if __name__ == "__main__":
    main()
