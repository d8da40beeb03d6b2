"""The asyncio flavour, as pyzmq's ``zmq.asyncio``: the same sockets, awaitable I/O.

``send``/``recv`` (and their multipart, string, JSON and pickle forms) and ``poll``
return awaitables; everything else is the synchronous socket's. A socket waits on its
wake-up descriptor with ``loop.add_reader``, so any number of sockets share one event
loop and no thread is made per socket.

Theory of operation: every task awaiting a socket (a ``recv``, a ``send``, a ``poll``, a
:class:`Poller`) registers a *waiter*, a future with the events it wants. The socket
keeps one reader on its descriptor while it has waiters; each wake-up drains the mailbox
and resolves the waiters whose events have come, and the tasks then retry without
blocking. Draining the mailbox also clears the descriptor, so whatever else drains it
(another task's ``send``, a :class:`Poller`, ``getsockopt(EVENTS)``) makes the waiters
look again on the next loop iteration: no wake-up is lost to a task that happened to
run first. Closing the socket cancels its waiters, as pyzmq does; terminating the
context (from another thread) fails them with ``ContextTerminated``, as blocked
synchronous calls fail.

Cancellation never loses or duplicates a message: a message is taken off the socket
only in the same step that finishes the call (there is no ``await`` between taking it
and returning it), so a cancelled ``recv`` leaves it queued; a ``send`` queues the whole
message at once or not at all.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from . import constants as C
from .context import Context as _SyncContext
from .error import Again, ContextTerminated, ZMQError
from .poll import Poller as _SyncPoller
from .socket import Socket as _SyncSocket

__all__ = ["Context", "Poller", "Socket", "ZMQEventLoop", "install"]

_T = TypeVar("_T")
_DONTWAIT = int(C.DONTWAIT)
_POLLIN = int(C.POLLIN)
_POLLOUT = int(C.POLLOUT)
#: What a waiter for "any change" (flags 0) is resolved with.
_CHANGED = -1


def _resolve(fut: asyncio.Future[int], value: int) -> None:
    if not fut.done():
        fut.set_result(value)


class Socket(_SyncSocket):
    """A socket whose I/O methods are coroutines (create it with :class:`Context`).

    Use it from the thread that runs its event loop, as with pyzmq.
    """

    __slots__ = ("_changes", "_recheck_due", "_waiters", "_watch_fd", "_watch_loop")

    def __init__(self, context: _SyncContext, socket_type: int) -> None:
        #: Futures of the tasks awaiting this socket, and the events each wants.
        self._waiters: dict[asyncio.Future[int], int] = {}
        self._watch_loop: asyncio.AbstractEventLoop | None = None
        #: The descriptor the loop watches: a duplicate of the socket's, made on first
        #: use, so that it stays open (and its number taken) until the loop has let go
        #: of it, even when the socket is closed from another thread. libuv (uvloop)
        #: aborts if a watched descriptor is closed and its number reused.
        self._watch_fd = -1
        self._recheck_due = False
        #: Counts mailbox drains, so that ``_io`` can tell a stale readiness from a new one.
        self._changes = 0
        super().__init__(context, socket_type)
        self.fileno()  # switch descriptor wake-ups on from the start

    # -- waiting -----------------------------------------------------------------------

    def _watch(self, loop: asyncio.AbstractEventLoop, flags: int) -> asyncio.Future[int]:
        """Register a waiter for ``flags`` (0: any change) and return its future."""
        if self._watch_loop is not loop:
            if self._watch_loop is not None and not self._watch_loop.is_closed():
                raise RuntimeError("this socket is being awaited in another event loop")
            # A closed loop's waiters can never be woken: forget them.
            self._waiters.clear()
            self._watch_loop = None
        fut: asyncio.Future[int] = loop.create_future()
        if not self._waiters:
            if self._watch_fd < 0:
                self._watch_fd = os.dup(self.fileno())
            loop.add_reader(self._watch_fd, self._on_readable)
            self._watch_loop = loop
        self._waiters[fut] = flags
        return fut

    def _unwatch(self, fut: asyncio.Future[int]) -> None:
        """Drop a waiter; the last one takes the reader off the descriptor."""
        if self._waiters.pop(fut, None) is not None and not self._waiters:
            self._stop_watching()

    def _stop_watching(self) -> None:
        loop, self._watch_loop = self._watch_loop, None
        if loop is not None and not loop.is_closed():
            loop.remove_reader(self._watch_fd)

    def _on_readable(self) -> None:
        # Drain the mailbox whatever the events: it clears the descriptor, which is
        # level-triggered and would otherwise keep calling us with nothing to do.
        self._recheck_due = True  # we check right now: no need to schedule it
        self._process()
        self._check_waiters()

    def _check_waiters(self) -> None:
        """Resolve the waiters whose events have come (all of them, on ETERM)."""
        self._recheck_due = False
        if self._ctx_term:
            for fut in self._waiters:
                if not fut.done():
                    fut.set_exception(ContextTerminated())
            return
        for fut, flags in list(self._waiters.items()):
            if not fut.done():
                got = self._events(flags) if flags else _CHANGED
                if got:
                    fut.set_result(got)

    def _recheck_soon(self) -> None:
        if self._waiters and not self._recheck_due and self._watch_loop is not None:
            self._recheck_due = True
            self._watch_loop.call_soon(self._check_waiters)

    def _process(self) -> None:
        super()._process()
        self._changes += 1
        # Whoever drained the mailbox also cleared the descriptor the waiters watch.
        self._recheck_soon()

    def _attach(self, peer: Any) -> None:
        super()._attach(peer)
        # An inproc connect attaches its peer at once, not through the mailbox.
        self._changes += 1
        self._recheck_soon()

    def setsockopt(self, option: int, value: Any) -> None:
        """Set a socket option (some change what a waiting task waits for)."""
        super().setsockopt(option, value)
        self._recheck_soon()

    async def _await_events(self, flags: int, deadline: float | None) -> int:
        """Wait until the socket has ``flags`` events; return them (0 past ``deadline``)."""
        ev = self._events(flags)
        if ev:
            return ev
        return await self._wait_for(flags, deadline)

    async def _wait_for(self, flags: int, deadline: float | None) -> int:
        """Sleep until a wake-up brings ``flags`` events (0: any change); return them.

        The caller has just checked that the events are not there. Returns 0 once
        ``deadline`` (in ``loop.time()``) passes.

        Raises:
            ContextTerminated: the context was terminated meanwhile.
            asyncio.CancelledError: the socket was closed meanwhile (as pyzmq).
        """
        if self._ctx_term:
            raise ContextTerminated()
        loop = asyncio.get_running_loop()
        fut = self._watch(loop, flags)
        timer = None if deadline is None else loop.call_at(deadline, _resolve, fut, 0)
        try:
            return await fut
        finally:
            if timer is not None:
                timer.cancel()
            self._unwatch(fut)

    async def _io(self, op: Callable[[int], _T], flags: int, event: int, timeout: int) -> _T:
        """Run ``op`` without blocking, waiting for ``event`` between attempts.

        ``timeout`` (ms, -1: none) bounds the whole call, as ``rcvtimeo``/``sndtimeo``.
        """
        deadline: float | None = None
        while True:
            changes = self._changes
            try:
                result = op(flags | _DONTWAIT)
            except Again:
                if flags & _DONTWAIT or timeout == 0:
                    raise
            else:
                # What we took or queued may be what another task waits for (the rest
                # of a multipart message, a REQ turn).
                self._recheck_soon()
                return result
            if self.closed:
                raise ZMQError(C.ENOTSOCK)
            if deadline is None and timeout > 0:
                deadline = asyncio.get_running_loop().time() + timeout / 1000
            wanted = event
            if self._events(event):
                if self._changes != changes:
                    continue  # the state moved since the attempt: try again
                # The pattern reports the event and still refused this message (a
                # ROUTER's one full pipe, with router_mandatory): wait for the next
                # change of state rather than spin without yielding to the loop.
                wanted = 0
            if not await self._wait_for(wanted, deadline):
                raise Again()

    # -- receiving ---------------------------------------------------------------------

    async def recv(self, flags: int = 0, copy: bool = True,
                   track: bool = False) -> Any:
        """Receive one frame (``rcvtimeo`` applies)."""
        return await self._io(lambda f: _SyncSocket.recv(self, f, copy, track), flags,
                              _POLLIN, self._opts.rcvtimeo)

    async def recv_multipart(self, flags: int = 0, copy: bool = True,  # type: ignore[override]
                             track: bool = False) -> list[Any]:
        """Receive a whole message; taken from the socket in one step."""
        return await self._io(lambda f: _SyncSocket.recv_multipart(self, f, copy, track),
                              flags, _POLLIN, self._opts.rcvtimeo)

    async def recv_string(self, flags: int = 0,  # type: ignore[override]
                          encoding: str = "utf-8") -> str:
        """Receive a frame and decode it."""
        frame = await self.recv(flags)
        return bytes(frame).decode(encoding)

    async def recv_json(self, flags: int = 0, **kwargs: Any) -> Any:
        """Receive a frame and parse it as JSON."""
        return json.loads(await self.recv(flags), **kwargs)

    async def recv_pyobj(self, flags: int = 0) -> Any:
        """Receive a frame and unpickle it (trusted peers only, as with pyzmq)."""
        return pickle.loads(await self.recv(flags))  # noqa: S301 - pyzmq's API

    # -- sending -----------------------------------------------------------------------

    async def send(self, data: Any, flags: int = 0, copy: bool = True,  # type: ignore[override]
                   track: bool = False, **kwargs: Any) -> Any:
        """Send one frame (``sndtimeo`` applies)."""
        return await self._io(lambda f: _SyncSocket.send(self, data, f, copy, track, **kwargs),
                              flags, _POLLOUT, self._opts.sndtimeo)

    async def send_multipart(self, msg_parts: Sequence[Any],
                             flags: int = 0, copy: bool = True, track: bool = False,
                             **kwargs: Any) -> Any:
        """Send a whole message: queued entirely, or not at all."""
        return await self._io(
            lambda f: _SyncSocket.send_multipart(self, msg_parts, f, copy, track, **kwargs),
            flags, _POLLOUT, self._opts.sndtimeo)

    async def send_string(self, u: str, flags: int = 0, copy: bool = True,
                          encoding: str = "utf-8", **kwargs: Any) -> Any:
        """Send ``u`` encoded."""
        if not isinstance(u, str):
            raise TypeError("send_string requires str")
        return await self.send(u.encode(encoding), flags, copy, **kwargs)

    async def send_json(self, obj: Any, flags: int = 0, **kwargs: Any) -> Any:
        """Send ``obj`` as JSON."""
        return await self.send(json.dumps(obj, **kwargs).encode("utf-8"), flags)

    async def send_pyobj(self, obj: Any, flags: int = 0,
                         protocol: int = pickle.DEFAULT_PROTOCOL, **kwargs: Any) -> Any:
        """Send ``obj`` pickled."""
        return await self.send(pickle.dumps(obj, protocol), flags, **kwargs)

    # -- readiness ---------------------------------------------------------------------

    async def poll(self, timeout: int | None = None,  # type: ignore[override]
                   flags: int = _POLLIN) -> int:
        """Wait up to ``timeout`` ms (None: forever) for ``flags``; return the events."""
        self._check_usable()
        deadline = None
        if timeout is not None and timeout >= 0:
            deadline = asyncio.get_running_loop().time() + timeout / 1000
        return await self._await_events(int(flags), deadline)

    # -- closing -----------------------------------------------------------------------

    def close(self, linger: int | None = None) -> None:
        """Close the socket; calls awaiting it are cancelled, as in pyzmq."""
        if not self.closed:
            self._release_watch()
        super().close(linger)

    def _release_watch(self) -> None:
        """Cancel the waiters and hand the watched descriptor back to the OS."""
        fd, self._watch_fd = self._watch_fd, -1
        loop, self._watch_loop = self._watch_loop, None
        waiters = list(self._waiters)
        self._waiters.clear()
        if loop is None or loop.is_closed():
            if fd >= 0:
                os.close(fd)  # no loop watches it
        elif _running_loop() is loop:
            _release_in_loop(loop, fd, waiters)
        else:
            # Closed from another thread: the loop's own thread lets go of it.
            try:
                loop.call_soon_threadsafe(_release_in_loop, loop, fd, waiters)
            except RuntimeError:  # the loop closed meanwhile
                os.close(fd)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _release_in_loop(loop: asyncio.AbstractEventLoop, fd: int,
                     waiters: list[asyncio.Future[int]]) -> None:
    """Take ``fd`` off ``loop`` and close it, then cancel ``waiters`` (loop thread)."""
    if fd >= 0:
        if not loop.is_closed():
            loop.remove_reader(fd)
        os.close(fd)
    for fut in waiters:
        fut.cancel()


#: pyzmq's deprecated alias of the default event loop class.
ZMQEventLoop = asyncio.SelectorEventLoop


def install() -> None:
    """A no-op, as in pyzmq since 17: any asyncio loop works."""


class Context(_SyncContext):
    """A context whose sockets are :class:`Socket` (awaitable I/O)."""

    def socket(self, socket_type: int, socket_class: type[_SyncSocket] | None = None,
               _internal: bool = False, **kwargs: Any) -> Any:
        """Create an asyncio socket of ``socket_type``."""
        return super().socket(socket_type, socket_class or Socket, _internal, **kwargs)


class Poller(_SyncPoller):
    """A poller whose :meth:`poll` is awaitable; register asyncio sockets in it."""

    async def poll(self, timeout: float | None = None) -> list[tuple[Any, int]]:  # type: ignore[override]
        """Wait up to ``timeout`` ms (None or -1: forever) for events of the sockets.

        Raises:
            ZMQError: ENOTSOCK if a socket is closed, ETERM if its context terminated.
        """
        loop: asyncio.AbstractEventLoop | None = None
        deadline: float | None = None
        while True:
            for sock, _ in self.sockets:
                if isinstance(sock, _SyncSocket) and not isinstance(sock, Socket) \
                        and not sock.closed:
                    # A synchronous socket's descriptor is level-triggered: clear it
                    # (and take in what it announced) before waiting on it.
                    sock._process()
            ready = self._ready()
            if ready or timeout == 0:
                return ready
            if loop is None:
                loop = asyncio.get_running_loop()
                if timeout is not None and timeout > 0:
                    deadline = loop.time() + timeout / 1000
            elif deadline is not None and loop.time() >= deadline:
                return []
            await self._wait_once(loop, deadline)

    async def _wait_once(self, loop: asyncio.AbstractEventLoop,
                         deadline: float | None) -> None:
        """Wait until any registered socket or descriptor may have changed."""
        wake: asyncio.Future[int] = loop.create_future()

        def woken(_: object = None) -> None:
            _resolve(wake, 1)

        watched: list[tuple[Socket, asyncio.Future[int]]] = []
        readers: list[int] = []
        writers: list[int] = []
        timer = None if deadline is None else loop.call_at(deadline, _resolve, wake, 0)
        try:
            for sock, flags in self.sockets:
                if isinstance(sock, Socket):
                    # Share the socket's waiters, so that a task awaiting the same
                    # socket meanwhile keeps its own wake-ups.
                    fut = sock._watch(loop, flags)
                    fut.add_done_callback(woken)
                    watched.append((sock, fut))
                elif isinstance(sock, _SyncSocket):
                    loop.add_reader(sock.fileno(), woken)
                    readers.append(sock.fileno())
                else:
                    fd = sock if isinstance(sock, int) else int(sock.fileno())
                    if flags & _POLLIN:
                        loop.add_reader(fd, woken)
                        readers.append(fd)
                    if flags & _POLLOUT:
                        loop.add_writer(fd, woken)
                        writers.append(fd)
            await wake
        finally:
            if timer is not None:
                timer.cancel()
            for sock, fut in watched:
                sock._unwatch(fut)
                if fut.done() and not fut.cancelled():
                    fut.exception()  # ETERM: _ready() reports it
            for fd in readers:
                loop.remove_reader(fd)
            for fd in writers:
                loop.remove_writer(fd)
