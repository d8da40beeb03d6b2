"""securemq.auth.asyncio: the authenticator on an event loop, with asyncio sockets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import securemq as zmq
import securemq.asyncio as zasync
from securemq.auth import create_certificates
from securemq.auth.asyncio import AsyncioAuthenticator
from securemq.utils.monitor import parse_monitor_message

pytestmark = pytest.mark.timeout(30)


async def _outcome(mon: zasync.Socket) -> str:
    while True:
        ev = parse_monitor_message(await asyncio.wait_for(mon.recv_multipart(), 5))
        name = zmq.Event(ev["event"]).name
        if name.startswith("HANDSHAKE"):
            return f"{name} {ev['value']}"


def test_admits_known_key_refuses_stranger(tmp_path: Path) -> None:
    _, secret_file = create_certificates(tmp_path, "alice")
    alice = zmq.auth.load_certificate(secret_file)
    stranger = zmq.curve_keypair()
    server_public, server_secret = zmq.curve_keypair()
    (tmp_path / "alice.key_secret").unlink()  # the directory holds public keys only

    async def main() -> list[str]:
        ctx = zasync.Context()
        auth = AsyncioAuthenticator(ctx)
        auth.start()
        auth.configure_curve(location=str(tmp_path))
        server = ctx.socket(zmq.REP)
        server.curve_server = True
        server.curve_secretkey = server_secret
        server.linger = 0
        mon = server.get_monitor_socket()
        server.bind("tcp://127.0.0.1:*")
        url = server.last_endpoint.decode()
        outcomes = []
        for public, secret in (alice, stranger):
            client = ctx.socket(zmq.REQ)
            client.linger = 0
            client.curve_serverkey = server_public
            client.curve_publickey, client.curve_secretkey = public, secret
            client.connect(url)
            outcomes.append(await _outcome(mon))
            if public == alice[0]:
                await client.send(b"hi")
                frame = await asyncio.wait_for(server.recv(copy=False), 5)
                outcomes.append(frame.get("User-Id"))
                await server.send(b"ok")
                assert await asyncio.wait_for(client.recv(), 5) == b"ok"
            client.close()
        assert auth.is_alive()
        auth.stop()
        assert not auth.is_alive()
        server.disable_monitor()
        mon.close()
        server.close()
        ctx.term()
        return outcomes

    outcomes = asyncio.run(main())
    assert outcomes == ["HANDSHAKE_SUCCEEDED 0", alice[0].decode(), "HANDSHAKE_FAILED_AUTH 400"]


def test_start_needs_a_running_loop() -> None:
    ctx = zmq.Context()
    try:
        with pytest.raises(RuntimeError):
            AsyncioAuthenticator(ctx).start()
    finally:
        ctx.term()


def test_thread_authenticator_serves_an_asyncio_context() -> None:
    """The thread flavour in an asyncio context: its ZAP socket stays synchronous."""
    from securemq.auth.thread import ThreadAuthenticator

    async def main() -> tuple[str, object]:
        ctx = zasync.Context()
        auth = ThreadAuthenticator(ctx)
        auth.start()
        auth.configure_plain(domain="*", passwords={"alice": "s3cret"})
        server = ctx.socket(zmq.REP)
        server.plain_server = True
        server.linger = 0
        mon = server.get_monitor_socket()
        server.bind("tcp://127.0.0.1:*")
        client = ctx.socket(zmq.REQ)
        client.linger = 0
        client.plain_username, client.plain_password = b"alice", b"s3cret"
        client.connect(server.last_endpoint.decode())
        outcome = await _outcome(mon)
        await client.send(b"hi")
        frame = await asyncio.wait_for(server.recv(copy=False), 5)
        auth.stop()
        server.disable_monitor()
        for s in (mon, server, client):
            s.close()
        ctx.term()
        return outcome, frame.get("User-Id")

    assert asyncio.run(main()) == ("HANDSHAKE_SUCCEEDED 0", "alice")
