"""The I/O thread: a selector loop with timers and a thread-safe call queue.

Everything that waits on the operating system for a connection (accepting, connecting,
reading, writing) runs here; application threads reach it only through
:meth:`Reactor.call_soon_threadsafe`, whose mailbox wakes the selector.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import select
import selectors
import threading
import time
from collections.abc import Callable
from typing import Any

from ..wakeup import Mailbox

log = logging.getLogger("securemq.iothread")

Callback = Callable[[], None]


def _noop() -> None:
    return None


def _ignore(mask: int) -> None:
    return None


class Timer:
    """A handle on a scheduled call; :meth:`cancel` makes it a no-op."""

    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callback) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        """Do not run the callback, and drop it now: a cancelled timer may sit in the
        heap until its time comes, and must not keep a closed connection alive."""
        self.cancelled = True
        self.callback = _noop


READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE


class _Epoll:
    """Readiness over ``epoll``: registration by descriptor, safe to change from any
    thread (``epoll_ctl`` is), interest masks of 0 allowed (a connection whose reads are
    suspended while the application thread reads it)."""

    _IN = select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR if hasattr(select, "EPOLLIN") \
        else 0
    _OUT = select.EPOLLOUT | select.EPOLLHUP | select.EPOLLERR if hasattr(select, "EPOLLIN") \
        else 0

    def __init__(self) -> None:
        self._ep = select.epoll()
        self.callbacks: dict[int, Callable[[int], None]] = {}

    def register(self, fd: int, mask: int, cb: Callable[[int], None]) -> None:
        self.callbacks[fd] = cb
        self._ep.register(fd, self._native(mask))

    def modify(self, fd: int, mask: int) -> None:
        self._ep.modify(fd, self._native(mask))

    def unregister(self, fd: int) -> None:
        self.callbacks.pop(fd, None)
        self._ep.unregister(fd)

    @staticmethod
    def _native(mask: int) -> int:
        return (select.EPOLLIN if mask & READ else 0) | (select.EPOLLOUT if mask & WRITE else 0)

    def poll(self, timeout: float | None) -> list[tuple[Callable[[int], None] | None, int]]:
        events = self._ep.poll(-1 if timeout is None else timeout)
        get = self.callbacks.get
        return [(get(fd), (READ if ev & self._IN else 0) | (WRITE if ev & self._OUT else 0))
                for fd, ev in events]

    def close(self) -> None:
        self._ep.close()


class _Selector:
    """Portable fallback over :mod:`selectors` (no interest mask of 0: unregister)."""

    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()
        self.callbacks: dict[int, Callable[[int], None]] = {}
        self._lock = threading.Lock()

    def register(self, fd: int, mask: int, cb: Callable[[int], None]) -> None:
        with self._lock:
            self.callbacks[fd] = cb
            if mask:
                self._sel.register(fd, mask)

    def modify(self, fd: int, mask: int) -> None:
        with self._lock:
            registered = fd in self._sel.get_map()
            if mask and registered:
                self._sel.modify(fd, mask)
            elif mask:
                self._sel.register(fd, mask)
            elif registered:
                self._sel.unregister(fd)

    def unregister(self, fd: int) -> None:
        with self._lock:
            self.callbacks.pop(fd, None)
            if fd in self._sel.get_map():
                self._sel.unregister(fd)

    def poll(self, timeout: float | None) -> list[tuple[Callable[[int], None] | None, int]]:
        get = self.callbacks.get
        return [(get(key.fd), mask) for key, mask in self._sel.select(timeout)]

    def close(self) -> None:
        self._sel.close()


class Reactor:
    """One I/O thread: owns a readiness poller, timers and a mailbox of calls from other
    threads. Descriptors are registered with a callback taking the ready mask
    (:data:`READ`, :data:`WRITE`)."""

    def __init__(self, name: str = "securemq-io") -> None:
        self._poller: _Epoll | _Selector = _Epoll() if hasattr(select, "epoll") else _Selector()
        #: Whether interest may be changed from another thread while the loop waits.
        self.can_borrow = isinstance(self._poller, _Epoll)
        self.mailbox = Mailbox(fd_wanted=True)
        self._poller.register(self.mailbox.fileno(), READ, _ignore)
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._stopping = False
        # Wake-ups of other threads requested by handlers, performed just before the
        # loop blocks: the woken thread then finds the GIL free instead of waking a
        # second time to get it (a thread hand-off costs two context switches if not).
        self._deferred: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        #: ``threading.get_ident()`` of the I/O thread.
        self.ident = self._thread.ident

    _scratch: memoryview | None = None

    def scratch(self, size: int) -> memoryview:
        """A read buffer of ``size`` octets shared by this thread's handlers.

        For input consumed before the handler returns (ciphertext on its way into
        TLS or a CURVE box): one buffer per I/O thread, not one per connection.
        Only the I/O thread may use it.
        """
        buf = self._scratch
        if buf is None or len(buf) < size:
            buf = self._scratch = memoryview(bytearray(size))
        return buf

    def register(self, fd: int, mask: int, cb: Callable[[int], None]) -> None:
        """Watch ``fd`` for ``mask`` and call ``cb(ready_mask)`` from the loop."""
        self._poller.register(fd, mask, cb)

    def modify(self, fd: int, mask: int) -> None:
        """Change the interest mask of a registered descriptor (0: none for now)."""
        self._poller.modify(fd, mask)

    def unregister(self, fd: int) -> None:
        """Stop watching ``fd``; missing descriptors are ignored."""
        try:
            self._poller.unregister(fd)
        except (KeyError, ValueError, OSError):
            pass

    @property
    def in_thread(self) -> bool:
        """True when called from this reactor's own thread."""
        return threading.current_thread() is self._thread

    def call_soon_threadsafe(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` in the I/O thread, soon."""
        self.mailbox.post((fn, args))

    def defer(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` at the end of this loop iteration (I/O thread only)."""
        self._deferred.append((fn, args))

    def call_later(self, delay: float, fn: Callback) -> Timer:
        """Run ``fn`` in the I/O thread after ``delay`` seconds (I/O thread only)."""
        return self.call_at(time.monotonic() + delay, fn)

    def call_at(self, when: float, fn: Callback) -> Timer:
        """Run ``fn`` in the I/O thread at ``time.monotonic()`` ``when`` (I/O thread only)."""
        t = Timer(when, fn)
        heapq.heappush(self._timers, (when, next(self._seq), t))
        return t

    def stop(self, wait: bool = True) -> None:
        """Stop the loop and release the selector; pending calls are run first."""
        def _stop() -> None:
            self._stopping = True
        self.call_soon_threadsafe(_stop)
        if wait and not self.in_thread:
            self._thread.join()

    def _run(self) -> None:
        poll = self._poller.poll
        timers = self._timers
        deferred = self._deferred
        while not self._stopping:
            if deferred:
                self._deferred = []
                for fn, args in deferred:
                    try:
                        fn(*args)
                    except Exception:
                        log.exception("I/O wake-up failed")
                deferred = self._deferred
            timeout: float | None = None
            if timers:
                timeout = max(0.0, timers[0][0] - time.monotonic())
            try:
                ready = poll(timeout)
            except InterruptedError:  # pragma: no cover
                continue
            for cb, mask in ready:
                if cb is None or not mask:
                    continue
                try:
                    cb(mask)
                except Exception:  # a bug in one handler must not kill the I/O thread
                    log.exception("I/O handler failed")
            if self.mailbox.q:
                for fn, args in self.mailbox.drain():
                    try:
                        fn(*args)
                    except Exception:
                        log.exception("I/O call failed")
            if timers:
                now = time.monotonic()
                while timers and timers[0][0] <= now:
                    _, _, t = heapq.heappop(timers)
                    if not t.cancelled:
                        try:
                            t.callback()
                        except Exception:
                            log.exception("I/O timer failed")
        for fn, args in self.mailbox.drain():
            try:
                fn(*args)
            except Exception:
                log.exception("I/O call failed")
        self._poller.close()
        self.mailbox.close()
