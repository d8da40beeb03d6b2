"""``Poller`` and ``select`` over securemq sockets and ordinary file descriptors.

A securemq socket is ready when its pattern says so (``EVENTS``); its ``FD`` is the
mailbox descriptor, which becomes readable whenever that may have changed. Polling is
therefore: check every socket's events; if none is ready, wait on all descriptors with
``select.poll`` and check again.
"""

from __future__ import annotations

import errno
import select as _select
import time
from typing import Any

from . import constants as C
from .error import ContextTerminated, ZMQError
from .socket import Socket

POLLIN, POLLOUT, POLLERR = int(C.POLLIN), int(C.POLLOUT), int(C.POLLERR)


def _fileno(obj: Any) -> int:
    if isinstance(obj, int):
        return obj
    return int(obj.fileno())


class Poller:
    """Wait for events on several sockets and file descriptors, as ``zmq.Poller``."""

    def __init__(self) -> None:
        self.sockets: list[tuple[Any, int]] = []
        self._map: dict[Any, int] = {}

    def __contains__(self, socket: Any) -> bool:
        return socket in self._map

    def register(self, socket: Any, flags: int = POLLIN | POLLOUT) -> None:
        """Watch ``socket`` (a securemq socket, an fd or an object with ``fileno()``)
        for ``flags``; zero flags unregisters it."""
        flags = int(flags)
        if flags:
            if socket in self._map:
                self.sockets[self._map[socket]] = (socket, flags)
            else:
                self._map[socket] = len(self.sockets)
                self.sockets.append((socket, flags))
        elif socket in self._map:
            self.unregister(socket)

    modify = register

    def unregister(self, socket: Any) -> None:
        """Stop watching ``socket``.

        Raises:
            KeyError: it was not registered.
        """
        idx = self._map.pop(socket)
        self.sockets.pop(idx)
        for s, i in list(self._map.items()):
            if i > idx:
                self._map[s] = i - 1

    def poll(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        """Wait up to ``timeout`` milliseconds (None or -1: forever) for events.

        Returns a list of ``(socket, events)`` pairs for the ready ones.
        """
        deadline = None if timeout is None or timeout < 0 else \
            time.monotonic() + timeout / 1000
        entries = self.sockets
        while True:
            ready = self._ready(entries)
            if ready:
                return ready
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                ms = max(1, int(left * 1000 + 0.999))
            else:
                ms = -1
            p = _select.poll()
            by_fd: dict[int, tuple[Any, int]] = {}
            for entry in self.sockets:
                sock, flags = entry
                if isinstance(sock, Socket):
                    fd = sock.fileno()
                    p.register(fd, _select.POLLIN)
                else:
                    fd = _fileno(sock)
                    p.register(fd, (_select.POLLIN if flags & POLLIN else 0) |
                               (_select.POLLOUT if flags & POLLOUT else 0))
                by_fd[fd] = entry
            # Only what a descriptor reported can have changed while we slept: our
            # sockets change state through their mailbox (whose descriptor is what we
            # polled) or through this thread, which was here. Check just those.
            entries = [by_fd[fd] for fd, _ in p.poll(ms) if fd in by_fd]

    def _ready(self, entries: list[tuple[Any, int]] | None = None) -> list[tuple[Any, int]]:
        ready: list[tuple[Any, int]] = []
        fds: list[tuple[Any, int]] = []
        for sock, flags in self.sockets if entries is None else entries:
            if isinstance(sock, Socket):
                # As zmq_poll: a closed socket is ENOTSOCK, a terminated context ETERM.
                if sock.closed:
                    raise ZMQError(errno.ENOTSOCK)
                ev = sock._events(flags)
                if sock._ctx_term:
                    raise ContextTerminated()
                if ev:
                    ready.append((sock, ev))
            else:
                fds.append((sock, flags))
        if fds:
            p = _select.poll()
            for sock, flags in fds:
                mask = (_select.POLLIN if flags & POLLIN else 0) | \
                       (_select.POLLOUT if flags & POLLOUT else 0)
                p.register(_fileno(sock), mask)
            for fd, ev in p.poll(0):
                out = (POLLIN if ev & (_select.POLLIN | _select.POLLHUP) else 0) | \
                      (POLLOUT if ev & _select.POLLOUT else 0) | \
                      (POLLERR if ev & _select.POLLERR else 0)
                if out:
                    # As pyzmq: non-zmq sockets are reported by descriptor number.
                    ready.append((fd, out))
        return ready


def select(rlist: list[Any], wlist: list[Any], xlist: list[Any],
           timeout: float | None = None) -> tuple[list[Any], list[Any], list[Any]]:
    """``select.select`` for securemq sockets: ``timeout`` in seconds, None forever."""
    poller = Poller()
    for s in rlist:
        poller.register(s, POLLIN)
    for s in wlist:
        poller.register(s, (poller._map.get(s) is not None and POLLIN | POLLOUT) or POLLOUT)
    for s in xlist:
        poller.register(s, POLLERR)
    ms = None if timeout is None else timeout * 1000
    events = dict(poller.poll(ms))

    def ready(s: Any, flag: int) -> bool:
        key = s if isinstance(s, Socket) else _fileno(s)
        return bool(events.get(key, 0) & flag)

    return ([s for s in rlist if ready(s, POLLIN)],
            [s for s in wlist if ready(s, POLLOUT)],
            [s for s in xlist if ready(s, POLLERR)])
