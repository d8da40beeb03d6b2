"""``Device``: a relay whose sockets are created and run in the background.

As in pyzmq, a device is given socket *types*, not sockets. Addresses and options are
queued with ``bind_in``, ``connect_out``, ``setsockopt_in`` and friends, and the sockets
are made and configured by the thread or process that runs the device, which is the only
one that ever touches them (securemq sockets, like libzmq's, are not thread-safe).
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from typing import Any

from .. import constants as C
from ..context import Context
from ..error import ZMQBindError, ZMQError
from ..proxy import proxy
from ..socket import Socket

__all__ = ["Device", "ProcessDevice", "ThreadDevice"]

_VALID_TYPES = frozenset(int(t) for t in C.SocketType)


def check_socket_type(role: str, value: Any, allow_none_socket: bool = False) -> int:
    """A socket type given to a device, checked now rather than in its thread."""
    if value is None:
        raise TypeError(f"{role} must be specified")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ZMQError(C.EINVAL, f"{role} must be a socket type, not {value!r}")
    if allow_none_socket and value < 0:
        return int(value)
    if int(value) not in _VALID_TYPES:
        raise ZMQError(C.EINVAL, f"{role} {value!r} is not a socket type")
    return int(value)


class SocketSetup:
    """What to do to one of a device's sockets once it exists: options, binds, connects.

    Options are applied first (``routing_id`` must be set before connecting), then the
    binds, then the connects, as pyzmq does.
    """

    __slots__ = ("binds", "connects", "sockopts")

    def __init__(self) -> None:
        self.sockopts: list[tuple[int, Any]] = []
        self.binds: list[str] = []
        self.connects: list[str] = []

    def apply(self, sock: Socket) -> Socket:
        """Configure ``sock`` as queued; return it."""
        for opt, value in self.sockopts:
            sock.setsockopt(opt, value)
        for addr in self.binds:
            sock.bind(addr)
        for addr in self.connects:
            sock.connect(addr)
        return sock


class Device:
    """A relay between two sockets it makes itself, run by :meth:`start`.

    ``Device(device_type, in_type, out_type)`` runs :func:`securemq.proxy.proxy` between
    a socket of ``in_type`` and one of ``out_type``; with ``out_type < 0`` the in socket
    serves both ends. A plain ``Device`` runs in the thread that calls :meth:`start`;
    :class:`ThreadDevice` and :class:`ProcessDevice` run in the background.

    The device ends when its context is terminated (or, for steerable ones, on
    TERMINATE); it then closes its sockets.

    Args:
        device_type: QUEUE, FORWARDER or STREAMER. Kept for pyzmq compatibility: every
            kind is the same proxy, as in libzmq.
        in_type: The type of the "in" (frontend) socket.
        out_type: The type of the "out" (backend) socket, or negative for none.

    Raises:
        TypeError: ``in_type`` or ``out_type`` is missing, as in pyzmq.
        ZMQError: EINVAL if one is not a socket type.

    Attributes:
        daemon: Whether the background thread or process is a daemon (default True:
            a device otherwise keeps the interpreter alive until its context ends).
        done: True once the device has stopped and closed its sockets.
        context_factory: Makes the device's context. ``Context.instance`` (the shared
            one) by default, so that inproc peers of the application can reach it;
            ``Context`` for a :class:`ProcessDevice`, which must never share its
            parent's. Set it on an instance to use a context of your own.
    """

    context_factory: Callable[[], Context] = Context.instance

    def __init__(self, device_type: int = C.QUEUE, in_type: int | None = None,
                 out_type: int | None = None) -> None:
        self.device_type = device_type
        self.in_type = check_socket_type("in_type", in_type)
        self.out_type = check_socket_type("out_type", out_type, allow_none_socket=True)
        self.daemon = True
        self.done = False
        self._in = SocketSetup()
        self._out = SocketSetup()
        self._random_addrs: list[str] = []
        self._sockets: list[Socket] = []
        self._context: Context | None = None
        self._finished = threading.Event()

    # -- configuration, applied in the device's own thread ---------------------------

    def bind_in(self, addr: str) -> None:
        """Queue ``addr`` for the in socket to bind (see :meth:`Socket.bind`)."""
        self._in.binds.append(addr)

    def bind_in_to_random_port(self, addr: str, *args: Any, **kwargs: Any) -> int:
        """Pick a free port on ``addr`` (``tcp://host``) for the in socket to bind.

        The port is found now, by binding and releasing it, so that it can be returned
        before the device starts (see :meth:`Socket.bind_to_random_port`).

        Raises:
            ZMQBindError: no free port was found.
        """
        port = self._reserve_random_port(addr, *args, **kwargs)
        self.bind_in(f"{addr}:{port}")
        return port

    def connect_in(self, addr: str) -> None:
        """Queue ``addr`` for the in socket to connect to (see :meth:`Socket.connect`)."""
        self._in.connects.append(addr)

    def setsockopt_in(self, opt: int, value: Any) -> None:
        """Queue ``setsockopt(opt, value)`` for the in socket, applied before binds."""
        self._in.sockopts.append((opt, value))

    def bind_out(self, addr: str) -> None:
        """Queue ``addr`` for the out socket to bind (see :meth:`Socket.bind`)."""
        self._out.binds.append(addr)

    def bind_out_to_random_port(self, addr: str, *args: Any, **kwargs: Any) -> int:
        """Pick a free port on ``addr`` for the out socket to bind; return it.

        Raises:
            ZMQBindError: no free port was found.
        """
        port = self._reserve_random_port(addr, *args, **kwargs)
        self.bind_out(f"{addr}:{port}")
        return port

    def connect_out(self, addr: str) -> None:
        """Queue ``addr`` for the out socket to connect to."""
        self._out.connects.append(addr)

    def setsockopt_out(self, opt: int, value: Any) -> None:
        """Queue ``setsockopt(opt, value)`` for the out socket, applied before binds."""
        self._out.sockopts.append((opt, value))

    def _reserve_random_port(self, addr: str, *args: Any, **kwargs: Any) -> int:
        """Find a port on ``addr`` that is free now and not promised to another socket.

        Like pyzmq's, this only makes a collision unlikely: another program may take
        the port before the device binds it.
        """
        with Context() as ctx, ctx.socket(C.PUSH) as binder:
            binder.linger = 0
            for _ in range(5):
                port = binder.bind_to_random_port(addr, *args, **kwargs)
                binder.unbind(binder.last_endpoint.decode())
                if f"{addr}:{port}" not in self._random_addrs:
                    break
            else:
                raise ZMQBindError("Could not reserve random port.")
        self._random_addrs.append(f"{addr}:{port}")
        return port

    # -- running --------------------------------------------------------------------

    def _socket(self, socket_type: int, setup: SocketSetup) -> Socket:
        """Make a socket of ``socket_type`` in the device's context and configure it."""
        assert self._context is not None
        sock = self._context.socket(socket_type)
        self._sockets.append(sock)
        return setup.apply(sock)

    def _setup_sockets(self) -> tuple[Socket, Socket]:
        """Make and configure the in and out sockets (in the device's thread)."""
        self._context = self.context_factory()
        if self.out_type < 0:
            # One socket serves both ends; what was queued for "out" applies to it too.
            both = SocketSetup()
            for part in (self._in, self._out):
                both.sockopts += part.sockopts
                both.binds += part.binds
                both.connects += part.connects
            ins = self._socket(self.in_type, both)
            return ins, ins
        return self._socket(self.in_type, self._in), self._socket(self.out_type, self._out)

    def run_device(self) -> None:
        """Make the sockets and relay between them; what :meth:`run` calls."""
        ins, outs = self._setup_sockets()
        proxy(ins, outs)

    def _close_sockets(self) -> None:
        """Close the sockets the device made (they belong to its thread)."""
        for s in self._sockets:
            if not s.closed:
                s.close()

    def run(self) -> None:
        """Run the device here and now, until its context is terminated.

        ``ContextTerminated`` and ENOTSOCK (a socket closed under it) are the normal end
        of a device and are not raised; any other error is, after the sockets are
        closed.
        """
        try:
            self.run_device()
        except ZMQError as exc:
            if exc.errno not in (C.ETERM, C.ENOTSOCK):
                raise
        finally:
            self.done = True
            self._close_sockets()
            self._finished.set()

    def start(self) -> None:
        """Start the device: here, blocking, for a plain ``Device``."""
        self.run()

    def join(self, timeout: float | None = None) -> None:
        """Wait up to ``timeout`` seconds (None: for ever) for the device to finish."""
        self._finished.wait(timeout)

    def __getstate__(self) -> dict[str, Any]:
        # A ProcessDevice may be pickled into a new interpreter (the spawn and
        # forkserver start methods): leave out what only makes sense in this one.
        state = self.__dict__.copy()
        for key in ("launcher", "_finished", "_context", "_sockets"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._finished = threading.Event()
        self._context = None
        self._sockets = []


class BackgroundDevice(Device):
    """A device run by a launcher (a thread or a process) of its own."""

    #: What runs the device: ``threading.Thread`` or ``multiprocessing.Process``.
    _launch_class: Any = None
    launcher: Any = None

    def start(self) -> None:
        """Start the device in the background and return at once."""
        self.launcher = self._launch_class(target=self.run)
        self.launcher.daemon = self.daemon
        self.launcher.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait up to ``timeout`` seconds for the thread or process to end."""
        self.launcher.join(timeout=timeout)


class ThreadDevice(BackgroundDevice):
    """A :class:`Device` run in a background thread."""

    _launch_class = threading.Thread


class ProcessDevice(BackgroundDevice):
    """A :class:`Device` run in a background process (``multiprocessing.Process``).

    The process makes its own context (``context_factory`` is ``Context``). With the
    fork start method (Linux before Python 3.14), fork before the parent starts any
    securemq I/O thread, or choose the spawn start method.
    """

    _launch_class = multiprocessing.Process
    context_factory: Callable[[], Context] = Context
