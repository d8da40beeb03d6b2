"""A pipeline with asyncio: ventilator, workers and sink as tasks on one event loop.

The same topology as ``examples/pipeline.py``::

    ventilator (PUSH) --> worker tasks (PULL / PUSH) --> sink (PULL)

but every stage is a coroutine instead of a thread. Two asyncio habits show here:

* waiting for the workers: the ventilator reads its socket monitor (awaiting
  ``recv_multipart`` on the monitor socket and decoding with ``parse_monitor_message``)
  until every worker has completed its handshake, so PUSH spreads the tasks over all of
  them rather than giving them all to the first one connected;
* stopping: the workers loop forever; once the sink has every result, their tasks are
  cancelled. A task cancelled while awaiting ``recv`` leaves any message in the socket,
  and the ``with`` blocks close the sockets on the way out.

The tasks are words; a worker counts their vowels, the sink adds them up.

Run it with ``python examples/asyncio/pipeline.py``.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import securemq as zmq
import securemq.asyncio as azmq
from securemq.utils.monitor import parse_monitor_message

WORKERS = 3
SENTENCE = ("asynchronous messaging with zero brokers between the producer and its "
            "consumers keeps every stage independent and every queue bounded")
WORDS = SENTENCE.split(" ")


async def worker(ctx: azmq.Context, name: str, tasks_at: str, results_at: str) -> None:
    """Count the vowels of each word; runs until cancelled."""
    with ctx.socket(zmq.PULL) as tasks, ctx.socket(zmq.PUSH) as results:
        tasks.linger = results.linger = 0
        tasks.connect(tasks_at)
        results.connect(results_at)
        while True:
            word = await tasks.recv_string()
            vowels = sum(ch in "aeiou" for ch in word)
            await results.send_multipart([name.encode(), word.encode(), b"%d" % vowels])


async def sink(results: azmq.Socket, count: int) -> int:
    """Collect ``count`` results; return the total number of vowels."""
    total = 0
    per_worker: Counter[str] = Counter()
    for _ in range(count):
        name, _word, vowels = await results.recv_multipart()
        per_worker[name.decode()] += 1
        total += int(vowels)
    for name, done in sorted(per_worker.items()):
        print(f"sink: {name} counted {done} words")
    return total


async def main_async() -> None:
    ctx = azmq.Context()
    with ctx.socket(zmq.PUSH) as ventilator, ctx.socket(zmq.PULL) as results:
        ventilator.linger = results.linger = 0
        results.rcvtimeo = 5000
        tasks_at = f"tcp://127.0.0.1:{ventilator.bind_to_random_port('tcp://127.0.0.1')}"
        results_at = f"tcp://127.0.0.1:{results.bind_to_random_port('tcp://127.0.0.1')}"
        print(f"ventilator on {tasks_at}, sink on {results_at}")

        monitor = ventilator.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        workers = [asyncio.create_task(worker(ctx, f"worker-{i}", tasks_at, results_at))
                   for i in range(1, WORKERS + 1)]

        for connected in range(1, WORKERS + 1):
            # An asyncio socket's recv_multipart is awaited; then decode the two frames.
            event = parse_monitor_message(
                await asyncio.wait_for(monitor.recv_multipart(), timeout=5))
            print(f"ventilator: {connected} of {WORKERS} workers connected "
                  f"({zmq.Event(event['event']).name})")
        ventilator.disable_monitor()
        monitor.close()

        collecting = asyncio.create_task(sink(results, len(WORDS)))
        for word in WORDS:
            await ventilator.send_string(word)
        print(f"ventilator: sent {len(WORDS)} words")
        total = await collecting

        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)  # let them close sockets
    ctx.term()

    assert total == sum(ch in "aeiou" for ch in "".join(WORDS))
    print(f"pipeline (asyncio): {total} vowels in {len(WORDS)} words")


def main() -> None:
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
