"""The ``securemq`` command line: ``securemq demo`` (keys and certificates come later)."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Sequence


def demo() -> int:
    """Run a request-reply and a pipeline exchange over loopback and print what happens."""
    import securemq as zmq  # noqa: PLC0415 - keep `securemq --help` fast

    with zmq.Context() as ctx:
        server = ctx.socket(zmq.REP)
        client = ctx.socket(zmq.REQ)
        for s in (server, client):
            s.linger = 0
            s.rcvtimeo = 5000
        port = server.bind_to_random_port("tcp://127.0.0.1")
        client.connect(f"tcp://127.0.0.1:{port}")
        print(f"REP bound to tcp://127.0.0.1:{port}; REQ connected")
        start = time.perf_counter()
        for i in range(3):
            client.send_string(f"request {i}")
            req = server.recv_string()
            server.send_string(f"reply to {req!r}")
            print(f"  {client.recv_string()}")
        print(f"3 round trips in {(time.perf_counter() - start) * 1000:.1f} ms")

        push, pull = ctx.socket(zmq.PUSH), ctx.socket(zmq.PULL)
        for s in (push, pull):
            s.linger = 0
            s.rcvtimeo = 5000
        pull.bind("ipc://*")
        push.connect(pull.last_endpoint.decode())
        n = 10000
        received: list[bytes] = []
        reader = threading.Thread(target=lambda: received.extend(pull.recv() for _ in range(n)))
        start = time.perf_counter()
        reader.start()
        for _ in range(n):
            push.send(b"x" * 64)
        reader.join()
        dt = time.perf_counter() - start
        print(f"PUSH/PULL over ipc: {n} messages of 64 B in {dt * 1000:.0f} ms "
              f"({n / dt:,.0f} msg/s)")
        for s in (server, client, push, pull):
            s.close()
    print("demo finished: no security yet (PLAIN and CURVE arrive with the next issues)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``securemq`` console script."""
    parser = argparse.ArgumentParser(prog="securemq", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run an exchange between sockets on loopback")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo()
    parser.error(f"unknown command {args.command}")  # pragma: no cover
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
