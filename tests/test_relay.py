"""The fault-injecting relay itself, against a plain TCP echo server."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from relay import DOWN, UP, Relay, wait_until


class EchoServer:
    """A threaded TCP echo server that closes its side when the client does."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.resets = 0
        self.eofs = 0
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._accept_thread = threading.Thread(target=self._accept, daemon=True)
        self._accept_thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(0.05)
            self._conns.append(conn)
            t = threading.Thread(target=self._echo, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _echo(self, conn: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                self.resets += 1
                return
            except OSError:
                return
            if not data:
                self.eofs += 1
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_WR)
                return
            try:
                conn.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self._accept_thread.join(2)
        for t in self._threads:
            t.join(2)
        for c in self._conns:
            c.close()
        self.sock.close()


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


@pytest.fixture
def relay(echo: EchoServer) -> Iterator[Relay]:
    with Relay(("127.0.0.1", echo.port)) as r:
        yield r


@contextlib.contextmanager
def client(relay: Relay, timeout: float = 2.0) -> Iterator[socket.socket]:
    s = socket.create_connection(relay.address, timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        yield s
    finally:
        s.close()


def recv_exactly(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"EOF after {len(buf)} of {n} octets")
        buf += chunk
    return buf


def test_forwards_both_ways_and_counts(relay: Relay) -> None:
    payload = bytes(range(256)) * 1000  # 256000 octets: several reads and writes
    with client(relay) as c:
        sender = threading.Thread(target=c.sendall, args=(payload,))
        sender.start()
        assert recv_exactly(c, len(payload)) == payload
        sender.join()
        stats = relay.stats()
        assert stats["bytes_up"] == len(payload) == stats["bytes_down"]
        assert stats["live"] == 1 and stats["accepted"] == 1
    assert relay.accepted == 1
    wait_until(lambda: relay.live == 0)


def test_half_close_is_propagated(relay: Relay, echo: EchoServer) -> None:
    with client(relay) as c:
        c.sendall(b"last words")
        c.shutdown(socket.SHUT_WR)
        assert recv_exactly(c, 10) == b"last words"
        assert c.recv(10) == b""  # the echo server's FIN came back through the relay
    wait_until(lambda: echo.eofs == 1)
    wait_until(lambda: relay.live == 0)


def test_delay(relay: Relay) -> None:
    relay.delay(0.2)
    with client(relay) as c:
        t0 = time.monotonic()
        c.sendall(b"ping")
        assert recv_exactly(c, 4) == b"ping"
        # Held once on the way up and once on the way down.
        assert time.monotonic() - t0 >= 0.4
        relay.delay(0)
        c.sendall(b"pong")
        assert recv_exactly(c, 4) == b"pong"


def test_freeze_holds_bytes_without_closing(relay: Relay) -> None:
    with client(relay) as c:
        c.sendall(b"a")
        assert recv_exactly(c, 1) == b"a"
        relay.freeze()
        assert relay.frozen
        up_before = relay.stats()["bytes_up"]
        c.sendall(b"held")
        c.settimeout(0.2)
        with pytest.raises(TimeoutError):
            c.recv(10)
        assert relay.stats()["bytes_up"] == up_before
        assert relay.live == 1
        relay.thaw()
        c.settimeout(2)
        assert recv_exactly(c, 4) == b"held"


def test_freeze_applies_back_pressure(relay: Relay) -> None:
    """A sender facing a frozen relay fills the kernel buffers and then blocks."""
    with client(relay) as c:
        relay.freeze()
        c.setblocking(False)
        sent = 0
        chunk = bytes(64 * 1024)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                sent += c.send(chunk)
            except BlockingIOError:
                break
        else:
            pytest.fail("the frozen relay never pushed back")
        assert relay.bytes_up == 0
        relay.thaw()
        c.setblocking(True)
        c.settimeout(5)
        received = 0
        # Read the echo while the rest of what we sent drains through.
        while received < sent:
            data = c.recv(1 << 20)
            assert data
            received += len(data)
        assert received == sent


def test_reset_sends_rst_to_both_sides(relay: Relay, echo: EchoServer) -> None:
    with client(relay) as c:
        c.sendall(b"x")
        assert recv_exactly(c, 1) == b"x"
        assert relay.reset() == 1
        with pytest.raises(ConnectionResetError):
            c.recv(10)
    wait_until(lambda: echo.resets == 1)
    assert relay.live == 0
    # The relay keeps accepting after a reset.
    with client(relay) as c2:
        c2.sendall(b"again")
        assert recv_exactly(c2, 5) == b"again"


def test_drop_connections_is_reset(relay: Relay) -> None:
    assert Relay.drop_connections is Relay.reset
    with client(relay) as c:
        c.sendall(b"x")
        assert recv_exactly(c, 1) == b"x"
        assert relay.drop_connections() == 1
        with pytest.raises(ConnectionResetError):
            c.recv(10)


def test_cut_closes_both_sides(relay: Relay, echo: EchoServer) -> None:
    with client(relay) as c:
        c.sendall(b"x")
        assert recv_exactly(c, 1) == b"x"
        assert relay.cut() == 1
        assert c.recv(10) == b""
    wait_until(lambda: echo.eofs == 1)
    assert relay.live == 0


@pytest.mark.parametrize("direction", [UP, DOWN])
def test_corrupt_flips_one_byte_of_the_next_connection(relay: Relay, direction: str) -> None:
    relay.corrupt(5, direction=direction)
    payload = bytes(range(10))
    expected = bytearray(payload)
    expected[5] ^= 0xFF
    with client(relay) as c:
        c.sendall(payload[:3])  # the offset counts from the start, across chunks
        assert recv_exactly(c, 3) == payload[:3]
        c.sendall(payload[3:])
        assert recv_exactly(c, 7) == bytes(expected[3:])
        c.sendall(payload)  # the offset is not hit again on the same connection
        assert recv_exactly(c, 10) == payload
    assert relay.corrupted == 1
    with client(relay) as c:  # count=1: the next connection is clean
        c.sendall(payload)
        assert recv_exactly(c, 10) == payload


def test_unreachable_target_closes_the_client() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    with Relay(("127.0.0.1", port)) as r:
        try:
            with client(r) as c:
                data = c.recv(10)
        except ConnectionResetError:  # in recv, or in connect when the RST is that fast
            data = b""
        assert data == b""
        wait_until(lambda: r.refused == 1)
        assert r.live == 0


def test_context_manager_cleans_up(echo: EchoServer) -> None:
    with Relay(f"tcp://127.0.0.1:{echo.port}") as r:
        thread = r._thread
        with client(r) as c:
            c.sendall(b"x")
            assert recv_exactly(c, 1) == b"x"
            addr = r.address
            r.close()  # with a live connection
            assert not thread.is_alive()
            with pytest.raises(ConnectionResetError):
                c.recv(1)
    r.close()  # idempotent
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(addr, timeout=1).close()
    with pytest.raises(RuntimeError):
        r.freeze()


def test_wait_until_reports_timeout() -> None:
    assert wait_until(lambda: 42, timeout=0.1) == 42
    with pytest.raises(AssertionError):
        wait_until(lambda: False, timeout=0.05)
