"""Wake-up file descriptors: how one thread tells another that work is waiting.

A :class:`Signaler` is an eventfd on Linux (a socket pair elsewhere). A :class:`Mailbox`
is a queue of commands plus a signaler that is written only when the mailbox may have
gone from empty to non-empty, so a busy receiver is not woken once per command
(ARCHITECTURE rule 3). A socket's ``FD`` option is its mailbox's descriptor.
"""

from __future__ import annotations

import os
import select
import socket
import threading
from collections import deque
from typing import Any


class Signaler:
    """A file descriptor that can be made readable from any thread, and cleared."""

    __slots__ = ("_r", "_sock_r", "_sock_w", "_w")

    def __init__(self) -> None:
        self._sock_r: socket.socket | None = None
        self._sock_w: socket.socket | None = None
        if hasattr(os, "eventfd"):
            fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            self._r = self._w = fd
        else:  # pragma: no cover - non-Linux
            self._sock_r, self._sock_w = socket.socketpair()
            self._sock_r.setblocking(False)
            self._sock_w.setblocking(False)
            self._r, self._w = self._sock_r.fileno(), self._sock_w.fileno()

    def fileno(self) -> int:
        """The descriptor to poll for readability."""
        return self._r

    def send(self) -> None:
        """Make the descriptor readable."""
        try:
            os.write(self._w, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except (BlockingIOError, OSError):
            pass  # already readable (counter or buffer full), or closed during shutdown

    def clear(self) -> None:
        """Consume pending signals so the descriptor polls as not readable."""
        try:
            os.read(self._r, 4096)
        except (BlockingIOError, OSError):
            pass

    def wait(self, timeout: float | None) -> bool:
        """Block until signalled or ``timeout`` seconds pass; True if signalled."""
        p = select.poll()
        p.register(self._r, select.POLLIN)
        ms = -1 if timeout is None else max(0, int(timeout * 1000 + 0.999))
        return bool(p.poll(ms))

    def close(self) -> None:
        """Release the descriptor(s)."""
        if self._sock_r is not None:
            assert self._sock_w is not None
            self._sock_r.close()
            self._sock_w.close()
        elif self._r >= 0:
            os.close(self._r)
        self._r = self._w = -1


class Mailbox:
    """A multi-producer, single-consumer command queue with two ways to wait on it.

    A consumer thread that blocks in a call (``recv``, ``send``) waits on a lock that
    producers release: a futex hand-off, several times cheaper than polling a
    descriptor. The descriptor (the socket's ``FD``) is written only once somebody has
    asked for it (a poller, asyncio), and then only when the consumer has not been
    signalled since its last :meth:`drain`; the consumer clears that flag before reading
    the queue, so a command appended concurrently is either drained now or signalled
    anew.
    """

    __slots__ = ("_fd_wanted", "_lock", "_signaled", "q", "signaler", "waiter")

    def __init__(self, fd_wanted: bool = False) -> None:
        self.q: deque[Any] = deque()
        self.signaler = Signaler()
        self._signaled = False
        self._fd_wanted = fd_wanted
        self._lock = threading.Lock()
        #: The lock a blocked consumer sleeps on, or None when nobody is blocked.
        self.waiter: threading.Lock | None = None

    def post(self, item: Any) -> None:
        """Queue ``item`` and wake the consumer if it may be waiting."""
        self.q.append(item)
        if self._fd_wanted and not self._signaled:
            self._signaled = True
            self.signaler.send()
        self._release_waiter()

    def _release_waiter(self) -> None:
        w = self.waiter
        if w is not None:
            self.waiter = None
            try:
                w.release()
            except RuntimeError:
                pass  # the consumer stopped waiting and took the lock back meanwhile

    def wait(self, timeout: float | None) -> None:
        """Block until something is posted or ``timeout`` seconds pass (consumer only).

        Returns early, possibly spuriously; the caller re-checks its condition.
        """
        lock = self._lock
        lock.acquire(blocking=False)  # make sure it is held, whatever happened before
        self.waiter = lock
        if self.q:
            self.waiter = None
            return
        lock.acquire(timeout=-1 if timeout is None else max(timeout, 0.0))
        self.waiter = None

    def drain(self) -> list[Any]:
        """Take every queued item (consumer thread only)."""
        if self._fd_wanted:
            # Clear the descriptor first, then the flag. The other order loses a
            # wake-up for good: a producer that posts in between sets the flag and
            # writes, the clear eats its write, and the flag, left set, stops every
            # later producer from writing again.
            self.signaler.clear()
            self._signaled = False
        q = self.q
        items = []
        while q:
            items.append(q.popleft())
        return items

    def fileno(self) -> int:
        """The descriptor that becomes readable when items may be waiting.

        Asking for it switches descriptor signalling on for good.
        """
        if not self._fd_wanted:
            self._fd_wanted = True
            if self.q:
                self._signaled = True
                self.signaler.send()
        return self.signaler.fileno()

    def close(self) -> None:
        """Release the wake-up descriptor and any blocked consumer."""
        self.signaler.close()
        self._release_waiter()
