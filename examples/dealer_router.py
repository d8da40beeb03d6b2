"""DEALER/ROUTER: asynchronous request-reply with several workers.

REQ and REP wait for each reply before the next request. DEALER and ROUTER do not:

* a DEALER sends and receives whenever it likes, any number of messages in flight;
* a ROUTER prefixes every message it receives with the sender's *routing id*, and
  sends each message to the peer named by its first frame. That is how one ROUTER
  talks to many peers and sends each reply to the right one.

Here a dispatcher (ROUTER) hands out jobs to three workers (DEALER threads), all at
once and without waiting for answers, then collects the results as they come back, in
whatever order the workers finish them. Each worker names itself with ``routing_id`` so
that the dispatcher can address it, and announces itself with a "ready" message: a
ROUTER can only send to peers it has heard of.

Run it with ``python examples/dealer_router.py``.
"""

from __future__ import annotations

import threading
import time

import securemq as zmq

WORKERS = 3
JOBS = 9


def worker(ctx: zmq.Context, endpoint: str, name: bytes) -> None:
    """Square the numbers the dispatcher sends until it says "stop"."""
    with ctx.socket(zmq.DEALER) as sock:
        sock.linger = 0
        sock.routing_id = name  # the first frame the ROUTER will see from us
        sock.connect(endpoint)
        sock.send(b"ready")
        done = 0
        while True:
            # A DEALER talking to a ROUTER sees no routing id: the ROUTER strips it.
            job_id, payload = sock.recv_multipart()
            if payload == b"stop":
                break
            n = int(payload)
            time.sleep(0.01 * (n % 3))  # jobs take different times: replies overtake
            sock.send_multipart([job_id, str(n * n).encode()])
            done += 1
        print(f"{name.decode()}: did {done} jobs")


def main() -> None:
    # Leaving the block closes the socket, then terminates the context.
    with zmq.Context() as ctx, ctx.socket(zmq.ROUTER) as router:
        router.linger = 0
        router.rcvtimeo = 5000
        # Without this, a message for an unknown routing id is silently dropped; with
        # it, send raises ZMQError(EHOSTUNREACH), which is what a dispatcher wants.
        router.router_mandatory = 1
        port = router.bind_to_random_port("tcp://127.0.0.1")
        endpoint = f"tcp://127.0.0.1:{port}"
        print(f"dispatcher listening on {endpoint}")

        names = [f"worker-{i}".encode() for i in range(1, WORKERS + 1)]
        threads = [threading.Thread(target=worker, args=(ctx, endpoint, name))
                   for name in names]
        for t in threads:
            t.start()

        # Every message from a DEALER arrives as [its routing id, ...its frames].
        ready: set[bytes] = set()
        while len(ready) < WORKERS:
            sender, hello = router.recv_multipart()
            assert hello == b"ready"
            ready.add(sender)
        print(f"dispatcher: {len(ready)} workers ready")

        # Hand out every job at once, round robin: nothing waits for a reply.
        for job in range(JOBS):
            target = names[job % WORKERS]
            router.send_multipart([target, str(job).encode(), str(job).encode()])
        print(f"dispatcher: sent {JOBS} jobs")

        results: dict[int, int] = {}
        while len(results) < JOBS:
            sender, job_id, value = router.recv_multipart()
            results[int(job_id)] = int(value)
            print(f"dispatcher: job {int(job_id)} = {int(value)} (from {sender.decode()})")

        for name in names:
            router.send_multipart([name, b"", b"stop"])
        for t in threads:
            t.join()

    assert results == {n: n * n for n in range(JOBS)}
    print(f"dealer_router: all {JOBS} results in")


if __name__ == "__main__":
    main()
