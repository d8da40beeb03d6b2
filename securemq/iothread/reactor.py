"""The I/O thread: a selector loop with timers and a thread-safe call queue.

Everything that waits on the operating system for a connection (accepting, connecting,
reading, writing) runs here; application threads reach it only through
:meth:`Reactor.call_soon_threadsafe`, whose mailbox wakes the selector.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import selectors
import threading
import time
from collections.abc import Callable
from typing import Any

from ..wakeup import Mailbox

log = logging.getLogger("securemq.iothread")

Callback = Callable[[], None]


class Timer:
    """A handle on a scheduled call; :meth:`cancel` makes it a no-op."""

    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callback) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        """Do not run the callback."""
        self.cancelled = True


class Reactor:
    """One I/O thread: owns a selector, timers and a mailbox of calls from other threads."""

    def __init__(self, name: str = "securemq-io") -> None:
        self.selector = selectors.DefaultSelector()
        self.mailbox = Mailbox()
        self.selector.register(self.mailbox.fileno(), selectors.EVENT_READ, None)
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.load = 0  # connections owned, to spread new ones over I/O threads
        self._thread.start()

    @property
    def in_thread(self) -> bool:
        """True when called from this reactor's own thread."""
        return threading.current_thread() is self._thread

    def call_soon_threadsafe(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` in the I/O thread, soon."""
        self.mailbox.post((fn, args))

    def call_later(self, delay: float, fn: Callback) -> Timer:
        """Run ``fn`` in the I/O thread after ``delay`` seconds (I/O thread only)."""
        t = Timer(time.monotonic() + delay, fn)
        heapq.heappush(self._timers, (t.when, next(self._seq), t))
        return t

    def stop(self, wait: bool = True) -> None:
        """Stop the loop and release the selector; pending calls are run first."""
        def _stop() -> None:
            self._stopping = True
        self.call_soon_threadsafe(_stop)
        if wait and not self.in_thread:
            self._thread.join()

    def _run(self) -> None:
        select = self.selector.select
        mailbox_fd = self.mailbox.fileno()
        timers = self._timers
        while not self._stopping:
            timeout: float | None = None
            if timers:
                timeout = max(0.0, timers[0][0] - time.monotonic())
            try:
                ready = select(timeout)
            except InterruptedError:  # pragma: no cover
                continue
            woken = False
            for key, mask in ready:
                if key.fd == mailbox_fd:
                    woken = True
                    continue
                try:
                    key.data(mask)
                except Exception:  # a bug in one handler must not kill the I/O thread
                    log.exception("I/O handler failed")
            if woken or self.mailbox.q:
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
        self.selector.close()
        self.mailbox.close()
