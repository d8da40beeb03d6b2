"""The ``securemq`` command line: ``securemq demo`` (keys and certificates come later)."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Sequence


def demo() -> int:
    """Run a CURVE-secured exchange on loopback, with a ZAP handler that refuses a stranger.

    Shows what a deployment looks like: the server admits clients by public key through a
    ZAP handler (RFC 27) that prints an audit line per decision; one client is known,
    one is not and is refused before any of its messages can reach the server.
    """
    import securemq as zmq  # noqa: PLC0415 - keep `securemq --help` fast
    from securemq.utils import z85  # noqa: PLC0415
    from securemq.utils.monitor import recv_monitor_message  # noqa: PLC0415

    server_public, server_secret = zmq.curve_keypair()
    alice_public, alice_secret = zmq.curve_keypair()
    mallory_public, mallory_secret = zmq.curve_keypair()
    allowed = {z85.decode(alice_public): b"alice"}

    with zmq.Context() as ctx:
        zap = ctx.socket(zmq.REP)
        zap.linger = 0
        zap.bind("inproc://zeromq.zap.01")

        def authenticate() -> None:
            while True:
                try:
                    version, request_id, domain, address, _identity, mechanism, *creds = \
                        zap.recv_multipart()
                except zmq.ZMQError:
                    return  # closed at the end of the demo
                user = allowed.get(creds[0]) if mechanism == b"CURVE" and creds else None
                key = z85.encode(creds[0]).decode() if creds else "-"
                print(f"  audit: domain={domain.decode()} address={address.decode()} "
                      f"mechanism={mechanism.decode()} key={key[:12]}... "
                      f"-> {'200 ' + user.decode() if user else '400 unknown key'}")
                zap.send_multipart([version, request_id, b"200" if user else b"400",
                                    b"OK" if user else b"unknown key", user or b"", b""])

        handler = threading.Thread(target=authenticate, daemon=True)
        handler.start()

        server = ctx.socket(zmq.REP)
        server.curve_server = True
        server.curve_secretkey = server_secret
        server.zap_domain = b"demo"
        port = server.bind_to_random_port("tcp://127.0.0.1")
        print(f"CURVE server on tcp://127.0.0.1:{port}, public key {server_public.decode()}")

        def client(public: bytes, secret: bytes) -> zmq.Socket:
            s = ctx.socket(zmq.REQ)
            s.curve_serverkey = server_public
            s.curve_publickey, s.curve_secretkey = public, secret
            return s

        alice = client(alice_public, alice_secret)
        alice.connect(f"tcp://127.0.0.1:{port}")
        for s in (server, alice):
            s.linger = 0
            s.rcvtimeo = 5000
        start = time.perf_counter()
        for i in range(3):
            alice.send_string(f"request {i}")
            frame = server.recv(copy=False)
            server.send_string(f"reply to {frame.bytes.decode()!r} "
                               f"from User-Id {frame.get('User-Id')!r}")
            print(f"  alice got: {alice.recv_string()}")
        print(f"3 encrypted round trips in {(time.perf_counter() - start) * 1000:.1f} ms")

        mallory = client(mallory_public, mallory_secret)
        mallory.linger = 0
        events = mallory.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH)
        mallory.connect(f"tcp://127.0.0.1:{port}")
        mallory.send_string("let me in")
        if events.poll(5000):
            event = recv_monitor_message(events)
            print(f"  mallory refused: {zmq.Event(event['event']).name} "
                  f"(ZAP status {event['value']}); her request never reached the server")
        refused = not server.poll(250)
        mallory.disable_monitor()
        events.close()
        for s in (server, alice, mallory, zap):
            s.close()
    print("demo finished" if refused else "demo FAILED: a refused client got through")
    return 0 if refused else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``securemq`` console script."""
    parser = argparse.ArgumentParser(prog="securemq", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run a CURVE-secured exchange on loopback")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo()
    parser.error(f"unknown command {args.command}")  # pragma: no cover
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
