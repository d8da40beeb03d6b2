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
    """A multi-producer, single-consumer command queue with a wake-up descriptor.

    Producers append then signal only if the consumer has not been signalled since its
    last :meth:`drain`; the consumer clears the flag before reading the queue, so a
    command appended concurrently is either drained now or signalled anew.
    """

    __slots__ = ("_signaled", "q", "signaler")

    def __init__(self) -> None:
        self.q: deque[Any] = deque()
        self.signaler = Signaler()
        self._signaled = False

    def post(self, item: Any) -> None:
        """Queue ``item`` and wake the consumer if it may be waiting."""
        self.q.append(item)
        if not self._signaled:
            self._signaled = True
            self.signaler.send()

    def drain(self) -> list[Any]:
        """Take every queued item (consumer thread only)."""
        self._signaled = False
        self.signaler.clear()
        q = self.q
        items = []
        while q:
            items.append(q.popleft())
        return items

    def fileno(self) -> int:
        """The descriptor that becomes readable when items may be waiting."""
        return self.signaler.fileno()

    def close(self) -> None:
        """Release the wake-up descriptor."""
        self.signaler.close()
