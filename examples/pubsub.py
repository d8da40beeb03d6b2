"""PUB/SUB with topics, and how to avoid losing the first messages ("slow joiners").

A subscriber says which topics it wants with ``subscribe(prefix)``; the publisher then
sends it only the messages whose first frame starts with one of its prefixes. Filtering
happens at the publisher, so unwanted messages never cross the network.

The catch: a subscription takes a round trip to reach the publisher. Whatever is
published before it arrives is not delivered to that subscriber (nothing is wrong, the
publisher did not know about it yet). A publisher that must not lose the beginning has
to wait until its subscribers are there. Here the publisher is an XPUB, a PUB that also
*receives* every subscription as a message (``b"\\x01" + topic``), so it waits until it
has heard all the subscriptions it expects, and only then starts publishing.

Two subscriber threads take part: one follows the weather, the other sports. The
publisher also sends traffic news, which nobody asked for, so nobody gets it.

Run it with ``python examples/pubsub.py``.
"""

from __future__ import annotations

import threading

import securemq as zmq

TOPICS = [b"weather", b"sports"]
NEWS = [
    (b"weather", b"sunny in Lisbon"),
    (b"traffic", b"jam on the ring road"),
    (b"sports", b"3-1 at half time"),
    (b"weather", b"snow in Oslo"),
    (b"sports", b"final score 4-2"),
    (b"traffic", b"roads clear again"),
]


def subscriber(ctx: zmq.Context, endpoint: str, topic: bytes, got: list[bytes]) -> None:
    """Receive the messages of one topic until its "end" message."""
    with ctx.socket(zmq.SUB) as sub:
        sub.linger = 0
        sub.rcvtimeo = 5000
        sub.connect(endpoint)
        sub.subscribe(topic)  # a byte prefix of the first frame; b"" would mean all
        while True:
            received_topic, body = sub.recv_multipart()
            if body == b"end":
                break
            got.append(body)
            print(f"  {topic.decode()} subscriber got: {received_topic.decode()}: "
                  f"{body.decode()}")


def main() -> None:
    # Leaving the block closes the socket, then terminates the context.
    with zmq.Context() as ctx, ctx.socket(zmq.XPUB) as pub:
        pub.linger = 0
        pub.rcvtimeo = 5000
        pub.xpub_verbose = 1  # report every subscription, not only a topic's first
        port = pub.bind_to_random_port("tcp://127.0.0.1")
        endpoint = f"tcp://127.0.0.1:{port}"
        print(f"publisher on {endpoint}")

        received: dict[bytes, list[bytes]] = {topic: [] for topic in TOPICS}
        threads = [threading.Thread(target=subscriber,
                                    args=(ctx, endpoint, topic, received[topic]))
                   for topic in TOPICS]
        for t in threads:
            t.start()

        # The slow-joiner fix: publish nothing until every subscription has arrived.
        waiting = set(TOPICS)
        while waiting:
            message = pub.recv()  # b"\x01topic" to subscribe, b"\x00topic" to cancel
            if message[:1] == b"\x01":
                print(f"publisher: subscription to {message[1:].decode()!r} arrived")
                waiting.discard(message[1:])
        print("publisher: every subscriber is listening, publishing now")

        for topic, body in NEWS:
            pub.send_multipart([topic, body])
        for topic in TOPICS:
            pub.send_multipart([topic, b"end"])

        for t in threads:
            t.join()

    for topic in TOPICS:
        expected = [body for t, body in NEWS if t == topic]
        assert received[topic] == expected, (topic, received[topic])
    print("pubsub: each subscriber got every message of its topic and nothing else")


if __name__ == "__main__":
    main()
