"""A pipeline: a ventilator PUSHes tasks, workers PULL them and PUSH results to a sink.

PUSH spreads messages over its connected peers in turn (round robin), and PULL takes
messages from all of its peers fairly. Chained together they make a pipeline whose
middle stage can have as many workers as you like, each pulling its share::

    ventilator (PUSH, bind) --> worker 1..3 (PULL / PUSH, connect) --> sink (PULL, bind)

Two details matter:

* PUSH only spreads over the workers connected *at the time of sending*. If tasks went
  out while the second and third workers were still connecting, the first would get
  them all. So the ventilator watches its socket monitor and starts only once every
  worker has completed its handshake.
* The workers run until the context is terminated: ``Context.term()`` wakes every
  blocked ``recv`` with ``ContextTerminated``, the workers close their sockets, and
  ``term()`` returns once they have. This is the standard way to stop threads that own
  sockets.

The tasks are numbers; a worker says whether each is prime, and the sink counts.

Run it with ``python examples/pipeline.py``.
"""

from __future__ import annotations

import threading
from collections import Counter

import securemq as zmq
from securemq.utils.monitor import recv_monitor_message

WORKERS = 3
TASKS = list(range(1000, 1060))


def is_prime(n: int) -> bool:
    """Trial division: slow enough to count as work, fine for small numbers."""
    return n >= 2 and all(n % d for d in range(2, int(n**0.5) + 1))


def worker(ctx: zmq.Context, name: str, tasks_at: str, results_at: str) -> None:
    """Pull numbers, push ``[name, number, b"1" if prime else b"0"]``, until terminated."""
    tasks = ctx.socket(zmq.PULL)
    results = ctx.socket(zmq.PUSH)
    try:
        tasks.connect(tasks_at)
        results.connect(results_at)
        while True:
            n = int(tasks.recv())
            results.send_multipart([name.encode(), str(n).encode(),
                                    b"1" if is_prime(n) else b"0"])
    except zmq.ContextTerminated:
        pass  # main() called term(): time to go
    finally:
        # linger=0: anything still unsent is dropped, so term() need not wait for it.
        tasks.close(linger=0)
        results.close(linger=0)


def sink(results: zmq.Socket, count: int, primes: list[int]) -> None:
    """Collect ``count`` results and report how the work was shared."""
    per_worker: Counter[str] = Counter()
    with results:  # closed when done, or if term() interrupts us
        for _ in range(count):
            name, number, prime = results.recv_multipart()
            per_worker[name.decode()] += 1
            if prime == b"1":
                primes.append(int(number))
    for name, done in sorted(per_worker.items()):
        print(f"sink: {name} handled {done} tasks")


def main() -> None:
    # Leaving the block closes the ventilator, then terminates the context, which
    # stops the workers.
    with zmq.Context() as ctx, ctx.socket(zmq.PUSH) as ventilator:
        ventilator.linger = 0
        tasks_port = ventilator.bind_to_random_port("tcp://127.0.0.1")

        results = ctx.socket(zmq.PULL)
        results.rcvtimeo = 5000
        results_port = results.bind_to_random_port("tcp://127.0.0.1")
        print(f"ventilator on port {tasks_port}, sink on port {results_port}")

        # Watch the ventilator's connections before any worker connects.
        monitor = ventilator.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        monitor.rcvtimeo = 5000

        primes: list[int] = []
        # The sink thread takes over the PULL socket (handing a socket to a new thread
        # is safe; sharing it between running threads is not): we do not touch it again.
        sink_thread = threading.Thread(target=sink, args=(results, len(TASKS), primes))
        sink_thread.start()
        workers = [
            threading.Thread(target=worker, args=(ctx, f"worker-{i}",
                                                  f"tcp://127.0.0.1:{tasks_port}",
                                                  f"tcp://127.0.0.1:{results_port}"))
            for i in range(1, WORKERS + 1)
        ]
        for t in workers:
            t.start()

        try:
            for connected in range(1, WORKERS + 1):
                recv_monitor_message(monitor)
                print(f"ventilator: {connected} of {WORKERS} workers connected")
        finally:
            ventilator.disable_monitor()
            monitor.close()

        for n in TASKS:
            ventilator.send_string(str(n))
        print(f"ventilator: sent {len(TASKS)} tasks")

        sink_thread.join()
    for t in workers:
        t.join()

    expected = [n for n in TASKS if is_prime(n)]
    assert sorted(primes) == expected
    print(f"pipeline: {len(primes)} primes between {TASKS[0]} and {TASKS[-1]}: "
          f"{sorted(primes)}")


if __name__ == "__main__":
    main()
