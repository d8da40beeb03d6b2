"""PUB/SUB with asyncio: a quote publisher and two subscriber tasks, nothing lost.

Subscribers filter by topic prefix (here, stock symbols); the publisher sends each
quote only to the subscribers that asked for its symbol. As in ``examples/pubsub.py``,
the publisher is an XPUB so that it can await the subscriptions (``b"\\x01" + topic``
messages) before the first quote goes out: otherwise the first quotes would be
published before the subscriptions arrived, and silently missed ("slow joiners").

Each subscriber socket subscribes to several topics, and awaits quotes with a timeout
(``rcvtimeo`` applies to awaited calls too), so a lost message would end the example
with an error instead of a hang.

Run it with ``python examples/asyncio/pubsub.py``.
"""

from __future__ import annotations

import asyncio

import securemq as zmq
import securemq.asyncio as azmq

ROUNDS = 4
PRICES = {b"ACME": 101.0, b"GLOBX": 57.5, b"INITECH": 12.25}
WANTS = {"alice": [b"ACME", b"GLOBX"], "bob": [b"INITECH"]}


async def subscriber(ctx: azmq.Context, endpoint: str, name: str,
                     topics: list[bytes]) -> int:
    """Receive ``ROUNDS`` quotes of each topic; return how many quotes arrived."""
    with ctx.socket(zmq.SUB) as sub:
        sub.linger = 0
        sub.rcvtimeo = 5000
        sub.connect(endpoint)
        for topic in topics:
            sub.subscribe(topic)
        for _ in range(ROUNDS * len(topics)):
            symbol, price = await sub.recv_multipart()
            assert symbol in topics  # the publisher filtered for us
            print(f"  {name}: {symbol.decode()} at {price.decode()}")
        return ROUNDS * len(topics)


async def main_async() -> None:
    ctx = azmq.Context()
    with ctx.socket(zmq.XPUB) as pub:
        pub.linger = 0
        pub.rcvtimeo = 5000
        pub.xpub_verbose = 1  # hear every subscription, even to a topic already taken
        endpoint = f"tcp://127.0.0.1:{pub.bind_to_random_port('tcp://127.0.0.1')}"
        print(f"publisher on {endpoint}")

        listeners = [asyncio.create_task(subscriber(ctx, endpoint, name, topics))
                     for name, topics in WANTS.items()]

        expected = sum(len(topics) for topics in WANTS.values())
        for _ in range(expected):
            request = await pub.recv()
            print(f"publisher: subscription to {request[1:].decode()}")
        print("publisher: all subscriptions in, publishing")

        for round_ in range(ROUNDS):
            for symbol, base in PRICES.items():
                price = base * (1 + 0.01 * round_)
                await pub.send_multipart([symbol, f"{price:.2f}".encode()])
            await asyncio.sleep(0)  # let the subscriber tasks run between rounds

        received = await asyncio.gather(*listeners)
    ctx.term()
    print(f"pubsub (asyncio): {sum(received)} quotes delivered, "
          f"each to the subscriber that asked")


def main() -> None:
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
