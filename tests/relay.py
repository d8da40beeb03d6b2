"""A fault-injecting TCP relay for tests.

``Relay`` listens on ``127.0.0.1:<free port>`` and forwards every accepted connection to
a target, byte for byte, in both directions. All sockets are non-blocking and served by
one background thread with a selector, so that every fault is applied at a well-defined
moment, from the relay's own thread, without racing a blocked ``recv``:

* ``delay(seconds)``: hold every chunk read for ``seconds`` before forwarding it.
* ``freeze()`` / ``thaw()``: stop reading and forwarding in both directions, without
  closing anything; the kernel buffers fill and the senders see TCP back-pressure.
* ``reset()`` (alias ``drop_connections()``): abort every live connection on both sides
  with an RST (``SO_LINGER`` 0), as a crashed middlebox or peer would.
* ``cut()``: close both sides of every live connection normally (FIN).
* ``corrupt(nth_byte, direction="up", count=1)``: flip (XOR 0xFF) the byte at offset
  ``nth_byte``, counted from the start of the stream, of the next ``count`` connections.
* counters: ``bytes_up`` (client → target), ``bytes_down`` (target → client), bytes
  actually forwarded; ``accepted``; ``live`` (connections open now); ``corrupted``.
  ``stats()`` reads them all at once from the relay thread, so that bytes the far end
  has already received are sure to be counted.

The relay is a context manager; leaving it stops the thread and closes every socket. The
control methods are synchronous: when they return, the fault is in place.

Half-closes are propagated (EOF on one side becomes ``shutdown(SHUT_WR)`` on the other,
after the data before it is forwarded) and so are resets (an error on one side aborts the
other side with an RST).
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

UP = "up"
"""Client to target."""
DOWN = "down"
"""Target to client."""

#: Stop reading a side while this much is queued for the other side (back-pressure).
MAX_QUEUED = 256 * 1024
RECV_SIZE = 64 * 1024
_LINGER_0 = struct.pack("ii", 1, 0)


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
    """Poll ``predicate`` until it returns something true; return that value.

    Raises:
        AssertionError: the deadline passed first.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout} s: {predicate!r}")
        time.sleep(interval)


def _abort(sock: socket.socket) -> None:
    """Close with an RST rather than a FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_0)
    sock.close()


class _Flow:
    """One direction of a link: bytes read from ``src`` and queued for ``dst``."""

    __slots__ = (
        "corrupt_at",
        "direction",
        "dst",
        "eof",
        "offset",
        "queue",
        "queued",
        "shut",
        "src",
    )

    def __init__(
        self, direction: str, src: socket.socket, dst: socket.socket, corrupt_at: set[int]
    ) -> None:
        self.direction = direction
        self.src = src
        self.dst = dst
        self.queue: deque[list[Any]] = deque()  # [release time, memoryview]
        self.queued = 0
        self.offset = 0  # octets read from src so far
        self.eof = False  # src sent FIN
        self.shut = False  # FIN passed on to dst
        self.corrupt_at = corrupt_at


class _Link:
    """One relayed connection: the accepted client socket and the socket to the target."""

    __slots__ = ("client", "down", "events", "server", "up")

    def __init__(
        self, client: socket.socket, server: socket.socket, corrupt: dict[str, set[int]]
    ) -> None:
        self.client = client
        self.server = server
        self.up = _Flow(UP, client, server, corrupt.get(UP, set()))
        self.down = _Flow(DOWN, server, client, corrupt.get(DOWN, set()))
        self.events: dict[socket.socket, int] = {client: 0, server: 0}

    def flows(self) -> tuple[_Flow, _Flow]:
        return self.up, self.down


class Relay:
    """A threaded TCP relay to ``target`` with fault controls (see the module docstring).

    Args:
        target: ``(host, port)`` or a ``tcp://host:port`` endpoint to forward to.
        host: the address to listen on; the port is chosen by the kernel.
    """

    def __init__(self, target: tuple[str, int] | str, host: str = "127.0.0.1") -> None:
        if isinstance(target, str):
            rest = target.removeprefix("tcp://")
            thost, _, tport = rest.rpartition(":")
            target = (thost, int(tport))
        self.target = target
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((host, 0))
        self._listener.listen(64)
        self._listener.setblocking(False)
        self.host = host
        self.port: int = self._listener.getsockname()[1]
        self.bytes_up = 0
        self.bytes_down = 0
        self.accepted = 0
        self.refused = 0
        self.corrupted = 0
        self._delay = 0.0
        self._frozen = False
        self._corrupt: list[tuple[str, int]] = []  # (direction, offset) per future link
        self._links: list[_Link] = []
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._calls: deque[tuple[Callable[[], Any], threading.Event, list[Any]]] = deque()
        self._calls_lock = threading.Lock()
        self._stopping = False
        self._closed = False
        self._sel.register(self._listener, selectors.EVENT_READ, None)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread = threading.Thread(target=self._run, name=f"relay-{self.port}", daemon=True)
        self._thread.start()

    # -- public API ----------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """Where clients connect."""
        return (self.host, self.port)

    @property
    def endpoint(self) -> str:
        """``tcp://host:port`` for clients to connect to."""
        return f"tcp://{self.host}:{self.port}"

    @property
    def live(self) -> int:
        """Number of relayed connections currently open."""
        return len(self._links)

    @property
    def bytes_forwarded(self) -> int:
        """Octets forwarded in both directions together."""
        return self.bytes_up + self.bytes_down

    @property
    def frozen(self) -> bool:
        return self._frozen

    def stats(self) -> dict[str, int]:
        """The counters, read in the relay thread: a forward that the other end has
        already received is always counted (the attributes may lag by one write)."""

        def do() -> dict[str, int]:
            return {
                "bytes_up": self.bytes_up,
                "bytes_down": self.bytes_down,
                "accepted": self.accepted,
                "refused": self.refused,
                "corrupted": self.corrupted,
                "live": len(self._links),
            }

        return dict(self._call(do))

    def delay(self, seconds: float) -> None:
        """Forward each chunk ``seconds`` after it was read (0 to stop delaying)."""

        def do() -> None:
            self._delay = max(0.0, float(seconds))

        self._call(do)

    def freeze(self) -> None:
        """Stop reading and forwarding in both directions; keep every connection open."""

        def do() -> None:
            self._frozen = True

        self._call(do)

    def thaw(self) -> None:
        """Undo :meth:`freeze`: forward what was held, then carry on."""

        def do() -> None:
            self._frozen = False

        self._call(do)

    def reset(self) -> int:
        """Abort every live connection with an RST on both sides; return how many."""

        def do() -> int:
            links = list(self._links)
            for link in links:
                self._drop(link, abort=True)
            return len(links)

        return int(self._call(do))

    drop_connections = reset

    def cut(self) -> int:
        """Close both sides of every live connection normally (FIN); return how many."""

        def do() -> int:
            links = list(self._links)
            for link in links:
                for s in (link.client, link.server):
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)
                self._drop(link, abort=False)
            return len(links)

        return int(self._call(do))

    def corrupt(self, nth_byte: int, direction: str = UP, count: int = 1) -> None:
        """Flip the byte at offset ``nth_byte`` of the next ``count`` connections.

        Args:
            nth_byte: offset from the start of the stream in ``direction`` (0-based).
            direction: :data:`UP` (client → target) or :data:`DOWN`.
            count: how many of the connections accepted from now on are corrupted.
        """
        if direction not in (UP, DOWN):
            raise ValueError(f"direction must be {UP!r} or {DOWN!r}")
        if nth_byte < 0 or count < 1:
            raise ValueError("nth_byte must be >= 0 and count >= 1")

        def do() -> None:
            self._corrupt.extend([(direction, nth_byte)] * count)

        self._call(do)

    def close(self) -> None:
        """Stop the thread and close every socket (live connections get an RST)."""
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():

            def do() -> None:
                self._stopping = True

            self._call(do)
            self._thread.join(5)
        self._cleanup()

    def __enter__(self) -> Relay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<Relay {self.endpoint} -> {self.target} live={self.live} "
            f"up={self.bytes_up} down={self.bytes_down}>"
        )

    # -- thread hand-off -----------------------------------------------------------------

    def _call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` in the relay thread and return its result."""
        if threading.current_thread() is self._thread:
            return fn()
        if not self._thread.is_alive():
            raise RuntimeError("relay is closed")
        done = threading.Event()
        box: list[Any] = []
        with self._calls_lock:
            self._calls.append((fn, done, box))
        with contextlib.suppress(BlockingIOError):
            self._wake_w.send(b"x")
        if not done.wait(5):
            raise RuntimeError("relay thread did not answer")
        if box and isinstance(box[0], BaseException):
            raise box[0]
        return box[0] if box else None

    def _run_calls(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_r.recv(4096):
                pass
        while True:
            with self._calls_lock:
                if not self._calls:
                    return
                fn, done, box = self._calls.popleft()
            try:
                box.append(fn())
            except BaseException as exc:  # handed back to the caller
                box.append(exc)
            done.set()

    # -- the loop ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stopping:
                now = time.monotonic()
                timeout = self._update_interest(now)
                for key, mask in self._sel.select(timeout):
                    sock = key.fileobj
                    if sock is self._listener:
                        self._accept()
                    elif sock is self._wake_r:
                        continue
                    else:
                        self._on_ready(key.data, sock, mask)  # type: ignore[arg-type]
                self._run_calls()
        finally:
            for link in list(self._links):
                self._drop(link, abort=True)
            # Answer anyone still waiting so that no caller hangs.
            with self._calls_lock:
                calls = list(self._calls)
                self._calls.clear()
            for _fn, done, box in calls:
                box.append(RuntimeError("relay is closed"))
                done.set()

    def _cleanup(self) -> None:
        for link in list(self._links):
            self._drop(link, abort=True)
        for s in (self._listener, self._wake_r, self._wake_w):
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._sel.unregister(s)
            s.close()
        self._sel.close()

    def _update_interest(self, now: float) -> float | None:
        """Set each socket's selector events; return the time to the next delayed chunk."""
        timeout: float | None = None
        for link in self._links:
            want: dict[socket.socket, int] = {link.client: 0, link.server: 0}
            for flow in link.flows():
                if self._frozen:
                    continue
                if not flow.eof and flow.queued < MAX_QUEUED:
                    want[flow.src] |= selectors.EVENT_READ
                if flow.queue:
                    wait = flow.queue[0][0] - now
                    if wait <= 0:
                        want[flow.dst] |= selectors.EVENT_WRITE
                    elif timeout is None or wait < timeout:
                        timeout = wait
            for s, ev in want.items():
                old = link.events[s]
                if ev == old:
                    continue
                if old == 0:
                    self._sel.register(s, ev, link)
                elif ev == 0:
                    self._sel.unregister(s)
                else:
                    self._sel.modify(s, ev, link)
                link.events[s] = ev
        return timeout

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self.accepted += 1
            server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            server.settimeout(2.0)
            try:
                server.connect(self.target)
            except OSError:
                server.close()
                self.refused += 1
                _abort(client)
                continue
            corrupt: dict[str, set[int]] = {}
            if self._corrupt:
                direction, offset = self._corrupt.pop(0)
                corrupt.setdefault(direction, set()).add(offset)
            for s in (client, server):
                s.setblocking(False)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._links.append(_Link(client, server, corrupt))

    def _on_ready(self, link: _Link, sock: socket.socket, mask: int) -> None:
        if link not in self._links:
            return
        if mask & selectors.EVENT_READ:
            flow = link.up if sock is link.client else link.down
            if not self._read(link, flow):
                return
        if mask & selectors.EVENT_WRITE:
            flow = link.down if sock is link.client else link.up
            self._write(link, flow)

    def _read(self, link: _Link, flow: _Flow) -> bool:
        try:
            data = flow.src.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            self._drop(link, abort=True)
            return False
        if not data:
            flow.eof = True
            self._maybe_shut(link, flow)
            return link in self._links
        if flow.corrupt_at:
            start, end = flow.offset, flow.offset + len(data)
            hits = [o for o in flow.corrupt_at if start <= o < end]
            if hits:
                buf = bytearray(data)
                for o in hits:
                    buf[o - start] ^= 0xFF
                    flow.corrupt_at.discard(o)
                    self.corrupted += 1
                data = bytes(buf)
        flow.offset += len(data)
        flow.queue.append([time.monotonic() + self._delay, memoryview(data)])
        flow.queued += len(data)
        return True

    def _write(self, link: _Link, flow: _Flow) -> None:
        now = time.monotonic()
        while flow.queue and flow.queue[0][0] <= now:
            item = flow.queue[0]
            buf = item[1]
            try:
                n = flow.dst.send(buf)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._drop(link, abort=True)
                return
            if flow.direction == UP:
                self.bytes_up += n
            else:
                self.bytes_down += n
            flow.queued -= n
            if n < len(buf):
                item[1] = buf[n:]
                return
            flow.queue.popleft()
        self._maybe_shut(link, flow)

    def _maybe_shut(self, link: _Link, flow: _Flow) -> None:
        """Pass a FIN on once everything before it is forwarded; end a link closed both ways."""
        if flow.eof and not flow.queue and not flow.shut:
            flow.shut = True
            try:
                flow.dst.shutdown(socket.SHUT_WR)
            except OSError:
                self._drop(link, abort=True)
                return
        if link.up.shut and link.down.shut:
            self._drop(link, abort=False)

    def _drop(self, link: _Link, abort: bool) -> None:
        if link not in self._links:
            return
        self._links.remove(link)
        for s in (link.client, link.server):
            if link.events[s]:
                with contextlib.suppress(KeyError, ValueError):
                    self._sel.unregister(s)
                link.events[s] = 0
            if abort:
                _abort(s)
            else:
                s.close()


__all__ = ["DOWN", "UP", "Relay", "wait_until"]
