"""REQ/REP: a strict request-reply conversation between a client and a server.

A REQ socket must alternate send, recv, send, recv...; a REP socket must alternate
recv, send, recv, send... The sockets enforce that order (a second ``send`` on a REQ
before its reply arrives raises ``ZMQError(EFSM)``), which makes the pattern simple
but lockstep: one request in flight per client.

Here the server runs in a thread and answers each request with the sum of the numbers
it was sent; the client asks three questions and stops the server with a last request.

Run it with ``python examples/reqrep.py``.
"""

from __future__ import annotations

import queue
import threading

import securemq as zmq


def serve(ctx: zmq.Context, ports: queue.Queue[int]) -> None:
    """Answer requests of the form ``"1 2 3"`` with their sum until asked to stop."""
    # A socket belongs to the thread that uses it: the server makes its own.
    with ctx.socket(zmq.REP) as server:
        server.linger = 0
        # Let the OS pick a free port on loopback, and tell the client which one.
        ports.put(server.bind_to_random_port("tcp://127.0.0.1"))
        while True:
            request = server.recv_string()
            if request == "stop":
                server.send_string("bye")
                return
            total = sum(int(word) for word in request.split())
            print(f"server: {request!r} -> {total}")
            server.send_string(str(total))


def main() -> None:
    with zmq.Context() as ctx:
        ports: queue.Queue[int] = queue.Queue()
        server = threading.Thread(target=serve, args=(ctx, ports))
        server.start()
        port = ports.get(timeout=5)
        print(f"server listening on tcp://127.0.0.1:{port}")

        with ctx.socket(zmq.REQ) as client:  # closed when the block ends, even on error
            client.linger = 0
            client.rcvtimeo = 5000  # never hang forever if something goes wrong
            client.connect(f"tcp://127.0.0.1:{port}")

            for numbers in ([1, 2, 3], [40, 2], [7]):
                client.send_string(" ".join(str(n) for n in numbers))
                # The REQ socket will not let us send again until this reply is read.
                reply = client.recv_string()
                print(f"client: sum of {numbers} is {reply}")

            client.send_string("stop")
            print(f"client: server said {client.recv_string()!r}")
        server.join()
    print("reqrep: done")


if __name__ == "__main__":
    main()
