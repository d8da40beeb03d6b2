"""CURVE traffic through the engine: batching, reads in the application's thread, duplex.

The sans-IO mechanism is tested in test_curve_mechanism.py; these tests drive real
sockets, where a CURVE connection is sealed by one thread while another opens it.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Iterator

import pytest

import securemq as zmq
from securemq.iothread.engine import BATCH, SEAL_CHUNK, _take_sealable
from securemq.pipe import Subscription

pytestmark = pytest.mark.timeout(60)


def test_sealed_batch_is_bounded_by_octets() -> None:
    """Ciphertext is made as the kernel takes it, not a whole pipe of it at once."""
    big = [b"x" * 65536]
    q: deque[object] = deque([big] * 100)
    batch = _take_sealable(q)
    assert len(batch) == SEAL_CHUNK // 65536
    assert len(q) == 100 - len(batch)


def test_sealed_batch_takes_at_least_one_message() -> None:
    q: deque[object] = deque([[b"x" * (4 * SEAL_CHUNK)], [b"y"]])
    assert _take_sealable(q) == [[b"x" * (4 * SEAL_CHUNK)]]
    assert len(q) == 1


def test_sealed_batch_of_small_messages_is_capped_in_count() -> None:
    q: deque[object] = deque([[b"a"]] * (BATCH + 10))
    assert len(_take_sealable(q)) == BATCH


def test_sealed_batch_counts_multipart_and_passes_subscriptions() -> None:
    sub = Subscription(True, b"topic")
    q: deque[object] = deque([sub, [b"a" * 100_000, b"b" * 100_000], [b"c" * 100_000], [b"d"]])
    assert _take_sealable(q) == [sub, [b"a" * 100_000, b"b" * 100_000], [b"c" * 100_000]]
    assert list(q) == [[b"d"]]


@pytest.fixture
def curve_pair(ctx: zmq.Context) -> Iterator[tuple[zmq.Socket, zmq.Socket]]:
    """Two DEALERs joined by CURVE over tcp."""
    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    server = ctx.socket(zmq.DEALER)
    client = ctx.socket(zmq.DEALER)
    for s in (server, client):
        s.linger = 0
        s.sndhwm = s.rcvhwm = 100
    server.curve_server = True
    server.curve_secretkey = server_secret
    client.curve_serverkey = server_public
    client.curve_publickey = client_public
    client.curve_secretkey = client_secret
    port = server.bind_to_random_port("tcp://127.0.0.1")
    client.connect(f"tcp://127.0.0.1:{port}")
    yield server, client
    server.close()
    client.close()


def _payloads(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    sizes = [0, 1, 64, 255, 256, 2047, 2048, 4096, 32 * 1024, 65536, 300_000]
    return [rng.randbytes(rng.choice(sizes)) for _ in range(count)]


def test_mixed_sizes_arrive_whole_and_in_order(
        curve_pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    """Small frames copied, large ones viewed and read in place: all come out intact."""
    server, client = curve_pair
    sent = _payloads(1, 400)
    sender = threading.Thread(target=lambda: [client.send(p) for p in sent])
    sender.start()
    server.rcvtimeo = 20_000
    got = [server.recv() for _ in sent]
    sender.join(20)
    assert got == sent


def test_duplex_traffic_while_both_sides_read_in_their_own_thread(
        curve_pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    """Each side seals (I/O thread) while its receiver opens (application thread)."""
    server, client = curve_pair
    a_out, b_out = _payloads(2, 300), _payloads(3, 300)
    results: dict[str, list[bytes]] = {}
    errors: list[BaseException] = []

    def side(name: str, sock: zmq.Socket, out: list[bytes], expect: int) -> None:
        try:
            sock.rcvtimeo = sock.sndtimeo = 20_000
            got: list[bytes] = []
            sent = 0
            while len(got) < expect or sent < len(out):
                if sent < len(out) and sock.poll(0, zmq.POLLOUT):
                    sock.send(out[sent])
                    sent += 1
                if len(got) < expect and sock.poll(1 if sent < len(out) else 20_000):
                    got.append(sock.recv())
            results[name] = got
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=side, args=("server", server, a_out, len(b_out))),
               threading.Thread(target=side, args=("client", client, b_out, len(a_out)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(40)
    assert not errors, errors
    assert results == {"server": b_out, "client": a_out}
