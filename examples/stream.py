"""STREAM: a ZeroMQ socket speaking raw TCP to a program that knows nothing of ZeroMQ.

A STREAM socket does no ZMTP handshake and no framing: it exchanges plain bytes with
ordinary TCP peers (a web browser, ``nc``, Python's ``socket`` module). Every message is
two frames, ``[routing id, data]``, like a ROUTER's:

* when a peer connects, the socket receives ``[id, b""]``; when it goes away, again
  ``[id, b""]``;
* each chunk of bytes the peer sends arrives as ``[id, chunk]``. TCP is a byte stream,
  so chunks are not messages: a line may arrive in pieces, or two lines in one chunk.
  The server below therefore buffers until it sees a newline;
* sending ``[id, data]`` writes ``data`` to that peer; sending ``[id, b""]`` closes the
  connection.

The server here answers each line with the line in capitals and hangs up after
"bye". The client is a plain ``socket.socket`` in a thread.

Run it with ``python examples/stream.py``.
"""

from __future__ import annotations

import socket
import threading

import securemq as zmq

LINES = [b"hello stream", b"zeromq meets plain tcp", b"bye"]


def plain_client(port: int, replies: list[bytes]) -> None:
    """A TCP client with no ZeroMQ in it: send lines, read answers until the server hangs up."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"".join(line + b"\n" for line in LINES))
        received = b""
        while chunk := conn.recv(4096):  # b"" once the server has closed the connection
            received += chunk
    replies.extend(received.splitlines())


def main() -> None:
    # Leaving the block closes the socket, then terminates the context.
    with zmq.Context() as ctx, ctx.socket(zmq.STREAM) as server:
        server.linger = 0
        server.rcvtimeo = 5000
        port = server.bind_to_random_port("tcp://127.0.0.1")
        print(f"STREAM server on tcp://127.0.0.1:{port}")

        replies: list[bytes] = []
        client = threading.Thread(target=plain_client, args=(port, replies))
        client.start()

        peer, empty = server.recv_multipart()
        assert empty == b""
        print(f"server: a TCP client connected, routing id {peer.hex()}")

        pending = b""
        finished = False
        while not finished:
            sender, chunk = server.recv_multipart()
            if chunk == b"":
                break  # the client left early
            pending += chunk
            # Answer every complete line; keep a partial one for the next chunk.
            *lines, pending = pending.split(b"\n")
            for line in lines:
                print(f"server: got line {line.decode()!r}")
                server.send_multipart([sender, line.upper() + b"\n"])
                if line == b"bye":
                    finished = True
        server.send_multipart([peer, b""])  # an empty frame: close this connection
        print("server: closed the connection")

        client.join()

    print(f"client: got {[r.decode() for r in replies]}")
    assert replies == [line.upper() for line in LINES]
    print("stream: the plain TCP client was answered")


if __name__ == "__main__":
    main()
