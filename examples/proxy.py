"""An XSUB/XPUB proxy: a forwarder between publishers and subscribers.

With many publishers and many subscribers, nobody wants to know everybody's address.
A forwarder in the middle has two well-known endpoints: publishers connect to its XSUB
side, subscribers to its XPUB side, and ``securemq.proxy(xsub, xpub)`` passes data
downstream and subscriptions upstream::

    publisher A --\\                                   /--> subscriber
                   >-- XSUB  [ proxy thread ]  XPUB --<
    publisher B --/                                   \\--> ...

Because subscriptions travel all the way up, publishers still filter at the source.
Each publisher here is itself an XPUB, so it can *see* a subscription arrive through
the proxy and start publishing only then (no slow-joiner losses).

The proxy runs until the context is terminated: ``proxy`` then raises
``ContextTerminated``, the normal way for it to end. (``securemq.devices.ThreadProxy``
does the same with sockets it makes itself, see docs/proxies.md.)

Run it with ``python examples/proxy.py``.
"""

from __future__ import annotations

import threading

import securemq as zmq

READINGS = 3


def run_proxy(xsub: zmq.Socket, xpub: zmq.Socket) -> None:
    """Forward between the two sockets until the context is terminated."""
    try:
        zmq.proxy(xsub, xpub)
    except zmq.ContextTerminated:
        print("proxy: context terminated, stopping")
    finally:
        xsub.close(linger=0)
        xpub.close(linger=0)


def publisher(ctx: zmq.Context, endpoint: str, topic: bytes) -> None:
    """Wait for a subscriber (via the proxy), then publish a few readings on ``topic``."""
    with ctx.socket(zmq.XPUB) as pub:
        pub.linger = 0
        pub.rcvtimeo = 5000
        pub.connect(endpoint)  # publishers connect to the proxy; it is the stable end
        # b"\x01sensor." reaches us when a subscriber asks for b"sensor.": it matches us.
        while True:
            request = pub.recv()
            if request[:1] == b"\x01" and topic.startswith(request[1:]):
                break
        print(f"publisher {topic.decode()}: a subscriber wants us")
        for i in range(READINGS):
            pub.send_multipart([topic, f"reading {i}".encode()])


def main() -> None:
    with zmq.Context() as ctx:
        xsub = ctx.socket(zmq.XSUB)
        xpub = ctx.socket(zmq.XPUB)
        pub_port = xsub.bind_to_random_port("tcp://127.0.0.1")
        sub_port = xpub.bind_to_random_port("tcp://127.0.0.1")
        print(f"proxy: publishers connect to port {pub_port}, subscribers to {sub_port}")
        # From here on the proxy thread owns xsub and xpub.
        proxy_thread = threading.Thread(target=run_proxy, args=(xsub, xpub))
        proxy_thread.start()

        with ctx.socket(zmq.SUB) as sub:
            sub.linger = 0
            sub.rcvtimeo = 5000
            sub.connect(f"tcp://127.0.0.1:{sub_port}")
            sub.subscribe(b"sensor.")  # one prefix that covers both publishers

            topics = [b"sensor.temperature", b"sensor.humidity"]
            publishers = [threading.Thread(target=publisher,
                                           args=(ctx, f"tcp://127.0.0.1:{pub_port}", topic))
                          for topic in topics]
            for t in publishers:
                t.start()

            counts = dict.fromkeys(topics, 0)
            for _ in range(READINGS * len(topics)):
                topic, body = sub.recv_multipart()
                counts[topic] += 1
                print(f"subscriber: {topic.decode()}: {body.decode()}")
            for t in publishers:
                t.join()
        # Leaving the block terminates the context, which stops the proxy.
    proxy_thread.join()

    assert all(n == READINGS for n in counts.values()), counts
    print(f"proxy: the subscriber got all {READINGS} readings of each publisher")


if __name__ == "__main__":
    main()
