"""The asyncio flavour, as pyzmq's ``zmq.asyncio``: the same sockets, awaitable I/O.

``send``/``recv`` (and their multipart, string, JSON and pickle forms) and ``poll``
return awaitables; everything else is the synchronous socket's. A socket waits on its
wake-up descriptor with ``loop.add_reader``, so any number of sockets share one event
loop and no thread is made per socket.

Cancellation never loses or duplicates a message: a message is taken off the socket
only in the same step that finishes the call (there is no ``await`` between taking it
and returning it), so a cancelled ``recv`` leaves it queued; a ``send`` queues the whole
message at once or not at all.
"""

from __future__ import annotations

import asyncio
import json
import pickle
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from . import constants as C
from .context import Context as _SyncContext
from .error import Again, ZMQError
from .poll import Poller as _SyncPoller
from .socket import Socket as _SyncSocket

__all__ = ["Context", "Poller", "Socket", "ZMQEventLoop", "install"]

_T = TypeVar("_T")
_DONTWAIT = int(C.DONTWAIT)
_POLLIN = int(C.POLLIN)
_POLLOUT = int(C.POLLOUT)


class Socket(_SyncSocket):
    """A socket whose I/O methods are coroutines (create it with :class:`Context`)."""

    def __init__(self, context: _SyncContext, socket_type: int) -> None:
        super().__init__(context, socket_type)
        self.fileno()  # switch descriptor wake-ups on from the start

    async def _await_events(self, flags: int, timeout_ms: int) -> int:
        """Wait until the socket has ``flags`` events; return them (0 on timeout)."""
        ev = self._events(flags)
        if ev:
            return ev
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        fd = self.fileno()

        def ready() -> None:
            # Drain the mailbox whatever the events: it clears the descriptor, which is
            # level-triggered and would otherwise keep calling us with nothing to do.
            self._process()
            got = self._events(flags)
            if got and not fut.done():
                fut.set_result(got)

        loop.add_reader(fd, ready)
        try:
            if timeout_ms < 0:
                return await fut
            try:
                return await asyncio.wait_for(fut, timeout_ms / 1000)
            except asyncio.TimeoutError:
                return 0
        finally:
            loop.remove_reader(fd)

    async def _io(self, op: Callable[[int], _T], flags: int, event: int, timeout: int) -> _T:
        """Run ``op`` without blocking, waiting for ``event`` between attempts."""
        while True:
            try:
                return op(flags | _DONTWAIT)
            except Again:
                if flags & _DONTWAIT:
                    raise
            if self.closed:
                raise ZMQError(C.ENOTSOCK)
            if not await self._await_events(event, timeout):
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
        return await self._await_events(int(flags), -1 if timeout is None else int(timeout))


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
        """Wait up to ``timeout`` ms (None or -1: forever) for events of the sockets."""
        ready = self._ready()
        if ready or timeout == 0:
            return ready
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        fds = []
        for sock, _ in self.sockets:
            fd = sock.fileno() if isinstance(sock, _SyncSocket) else sock
            if not isinstance(fd, int):
                fd = fd.fileno()
            fds.append(fd)
            loop.add_reader(fd, wake.set)
        try:
            deadline = None if timeout is None or timeout < 0 else \
                loop.time() + timeout / 1000
            while True:
                left = None if deadline is None else deadline - loop.time()
                if left is not None and left <= 0:
                    return []
                wake.clear()
                try:
                    await asyncio.wait_for(wake.wait(), left)
                except asyncio.TimeoutError:
                    return []
                for sock, _ in self.sockets:
                    if isinstance(sock, _SyncSocket):
                        sock._process()  # clear level-triggered wake-ups
                ready = self._ready()
                if ready:
                    return ready
        finally:
            for fd in fds:
                loop.remove_reader(fd)
