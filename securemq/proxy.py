"""``proxy``, ``proxy_steerable`` and the legacy ``device``: relays between two sockets.

A proxy moves whole messages from a frontend socket to a backend socket and back, as
libzmq's ``zmq_proxy`` does, using nothing but the public socket API. It is written for
throughput: a readable socket is drained in bursts of up to :data:`BURST` messages with
``DONTWAIT`` before the proxy looks at anything else, and a message travels as the list
of frames it arrived as, never joined.

Theory of operation
-------------------

Each way a message can travel (frontend to backend, backend to frontend) is a
:class:`_Direction`. A direction exists only if its source can receive and its
destination can send (a PULL frontend with a PUSH backend has one). A direction waits for
one of two things, never both, so that a full destination never makes the proxy spin:

- ``POLLIN`` on its source, normally;
- ``POLLOUT`` on its destination, once the source had input but the destination had no
  room (``blocked``), or a message is held because a ``DONTWAIT`` send refused it
  (``pending``).

libzmq's proxy switches between pollers for the same reason (``poller_send_blocked`` and
friends in ``src/proxy.cpp``); it checks ``POLLOUT`` before a burst and then sends
blocking, which can stall the other direction behind one slow peer. We check before the
burst too and send with ``DONTWAIT`` inside it; a refused message is held (counted as
received, not yet sent) until the destination has room again.

Waiting is done on the sockets' ``FD`` descriptors plus ``EVENTS``, the way event loops
integrate pyzmq sockets. :class:`~securemq.poll.Poller` would do, except that today it
keeps waiting after ``Context.term()`` and skips closed sockets. Here every wait ends
with ``Socket.poll(0)`` on each socket, which raises ``ContextTerminated`` once
``Context.term()`` has been called, and a socket closed by another thread is noticed
within ``_CLOSE_CHECK_MS`` (closing a descriptor does not wake ``poll(2)``); the proxy
then raises ``ContextTerminated`` too, the usual end of a proxy thread.

Statistics follow libzmq 4.3.5 and its manual, zmq_proxy_steerable(3): every frame
counts as one message.
"""

from __future__ import annotations

import select
import struct
from collections.abc import Sequence
from enum import Enum
from typing import Any, NoReturn

from . import constants as C
from .error import Again, ContextTerminated, ZMQError
from .socket import Socket

__all__ = ["BURST", "Relay", "device", "proxy", "proxy_steerable"]

#: Messages moved from one readable socket before the proxy polls again: libzmq's
#: ``proxy_burst_size`` (``src/config.hpp``). Bounds how long control commands and the
#: other direction wait behind a busy one.
BURST = 1000

#: How often (ms) a blocked proxy re-checks for a socket closed by another thread.
_CLOSE_CHECK_MS = 100

_DONTWAIT = int(C.DONTWAIT)
_POLLIN = int(C.POLLIN)
_POLLOUT = int(C.POLLOUT)
_EVENTS = int(C.EVENTS)
_FD = int(C.FD)

# Which socket types can ever receive or send. A proxy direction needs both ends.
_NEVER_RECV = frozenset({int(C.PUB), int(C.PUSH)})
_NEVER_SEND = frozenset({int(C.SUB), int(C.PULL)})

#: A STATISTICS value: a native-endian uint64, as libzmq memcpy's it into each frame.
_U64 = struct.Struct("=Q")

# Indices into the STATISTICS counters, in the order of the reply (libzmq's
# handle_control: frontend recv count, bytes, send count, bytes; then the backend).
_FRONT_RECV, _FRONT_SEND, _BACK_RECV, _BACK_SEND = 0, 2, 4, 6


class _State(Enum):
    """What a steerable proxy does next (the control commands move between these)."""

    ACTIVE = "forwarding"
    PAUSED = "holding messages in the sockets' queues"
    TERMINATED = "returning to the caller"


_COMMANDS = {b"PAUSE": _State.PAUSED, b"RESUME": _State.ACTIVE,
             b"TERMINATE": _State.TERMINATED}


class _Direction:
    """One way messages travel: from ``src`` to ``dst``, with its counters and holds."""

    __slots__ = ("blocked", "dst", "pending", "prefix", "recv_at", "send_at", "src", "swap")

    def __init__(self, src: Socket, dst: Socket, recv_at: int, send_at: int,
                 prefix: bytes | None = None, swap: bool = False) -> None:
        self.src, self.dst = src, dst
        #: Where this direction's received and sent (count, bytes) live in the stats.
        self.recv_at, self.send_at = recv_at, send_at
        #: ``monitored_queue``: the frame put before each copy sent to the capture socket.
        self.prefix = prefix
        #: ``monitored_queue`` between two ROUTERs: exchange the two routing ids.
        self.swap = swap
        #: The source had input but the destination had no room: wait for POLLOUT.
        self.blocked = False
        #: A message the destination refused mid-burst, sent first once it has room.
        self.pending: list[Any] | None = None


class _Waiter:
    """Waits until sockets are ready, reporting a terminated context or closed socket."""

    __slots__ = ("_poll", "_sockets")

    def __init__(self, sockets: Sequence[Socket]) -> None:
        """Watch ``sockets`` (distinct ones) for the rest of the proxy's life."""
        self._sockets = sockets
        self._poll = select.poll()
        for s in self._sockets:
            # Asking for FD makes the socket signal it whenever its state may change.
            self._poll.register(s.getsockopt(_FD), select.POLLIN)

    def wait(self, interest: dict[Socket, int]) -> dict[Socket, int]:
        """Block until a socket has an event it is watched for; return those events.

        Raises:
            ContextTerminated: the context was terminated.
            ZMQError: ENOTSOCK, a socket was closed.
        """
        while True:
            ready: dict[Socket, int] = {}
            for s, flags in interest.items():
                if flags:
                    ev = s.getsockopt(_EVENTS) & flags
                    if ev:
                        ready[s] = ev
            if ready:
                return ready
            # About to sleep. poll(0) processes each socket's wake-ups, which clears its
            # descriptor (without that, poll(2) would return at once forever) and raises
            # ContextTerminated once Context.term() has posted its notice. A wake-up
            # that comes after this check leaves the descriptor readable: none is lost.
            for s in self._sockets:
                ev = s.poll(0, interest.get(s, 0))
                if ev:
                    ready[s] = ev
            if ready:
                return ready
            # A timeout changes nothing but a close by another thread: look only for
            # that, so an idle proxy does no work.
            while not self._poll.poll(_CLOSE_CHECK_MS):
                if any(s.closed for s in self._sockets):
                    raise ZMQError(C.ENOTSOCK, "a socket was closed under the proxy")


class Relay:
    """The proxy loop behind :func:`proxy_steerable` and ``devices.monitored_queue``.

    Not exported at the top level: applications call those functions.

    Args:
        frontend: Messages it receives go to ``backend``.
        backend: Messages it receives go to ``frontend``.
        capture: Gets a copy of every message, or None.
        control: Receives the steering commands, or None.
        prefixes: ``monitored_queue``: the frames that start the copies sent to
            ``capture`` of messages from ``frontend`` and from ``backend``.
        swap_ids: ``monitored_queue`` between two ROUTERs: exchange each message's
            first two frames (the routing ids) on the way through.

    Raises:
        ZMQError: ENOTSOCK if a socket is not an open securemq socket; ENOTSUP if
            ``capture`` cannot send or ``control`` cannot receive.
    """

    def __init__(self, frontend: Socket, backend: Socket, capture: Socket | None,
                 control: Socket | None, prefixes: tuple[bytes, bytes] | None = None,
                 swap_ids: bool = False) -> None:
        frontend, backend, capture, control = _check_args(frontend, backend, capture,
                                                          control)
        self.frontend, self.backend = frontend, backend
        self.capture, self.control = capture, control
        #: (frontend recv count, bytes, send count, bytes, then the same for backend).
        self.stats = [0] * 8
        in_prefix, out_prefix = prefixes if prefixes is not None else (None, None)
        self.directions: list[_Direction] = []
        f_type, b_type = int(frontend.socket_type), int(backend.socket_type)
        if f_type not in _NEVER_RECV and b_type not in _NEVER_SEND:
            self.directions.append(_Direction(frontend, backend, _FRONT_RECV, _BACK_SEND,
                                              in_prefix, swap_ids))
        if frontend is not backend and b_type not in _NEVER_RECV and \
                f_type not in _NEVER_SEND:
            self.directions.append(_Direction(backend, frontend, _BACK_RECV, _FRONT_SEND,
                                              out_prefix, swap_ids))
        # The sockets waited on (frontend may be the backend): the capture socket is
        # only ever sent to, blocking as in libzmq.
        watched = [frontend, backend, *([control] if control is not None else [])]
        self._watched = list(dict.fromkeys(watched))
        self._sockets = [*self._watched, *([capture] if capture is not None else [])]
        self._waiter = _Waiter(self._watched)
        self._control_replies = control is not None and control.socket_type == C.REP

    # -- the loop ----------------------------------------------------------------------

    def run(self) -> None:
        """Relay until TERMINATE arrives on the control socket.

        Raises:
            ContextTerminated: the context was terminated or a socket closed meanwhile.
            ZMQError: a socket failed otherwise (say EHOSTUNREACH from a ROUTER with
                ``router_mandatory``); libzmq's proxy stops on the same errors.
        """
        try:
            self._loop()
        except ZMQError as exc:
            if exc.errno == C.ENOTSOCK and any(s.closed for s in self._sockets):
                raise ContextTerminated() from None
            raise

    def _loop(self) -> None:
        state = _State.ACTIVE
        control = self.control
        while True:
            ready = self._waiter.wait(self._interest(state))
            if control is not None and control in ready:
                state = self._handle_control(state)
                if state is _State.TERMINATED:
                    return
            if state is _State.ACTIVE:
                for d in self.directions:
                    self._step(d, ready)

    def _interest(self, state: _State) -> dict[Socket, int]:
        """What to wait for: control input always, traffic only while active."""
        interest = dict.fromkeys(self._watched, 0)
        if self.control is not None:
            interest[self.control] |= _POLLIN
        if state is _State.ACTIVE:
            for d in self.directions:
                if d.pending is not None or d.blocked:
                    interest[d.dst] |= _POLLOUT
                else:
                    interest[d.src] |= _POLLIN
        return interest

    def _step(self, d: _Direction, ready: dict[Socket, int]) -> None:
        """Move what direction ``d`` can move now."""
        if d.pending is not None or d.blocked:
            if not ready.get(d.dst, 0) & _POLLOUT:
                return
            if d.pending is not None:
                self._flush(d)
                return  # the source's readiness was not asked for: look again next time
            d.blocked = False
        elif not ready.get(d.src, 0) & _POLLIN:
            return
        elif d.src is not d.dst and not d.dst.getsockopt(_EVENTS) & _POLLOUT:
            # As libzmq: leave the input queued (back-pressure) until there is room.
            d.blocked = True
            return
        self._forward(d)

    def _flush(self, d: _Direction) -> None:
        """Send the message ``d`` holds, if the destination takes it now."""
        msg = d.pending
        assert msg is not None
        try:
            d.dst.send_multipart(msg, _DONTWAIT)
        except Again as exc:
            exc.__traceback__ = None
            return
        d.pending = None
        self.stats[d.send_at] += len(msg)
        self.stats[d.send_at + 1] += sum(map(len, msg))

    def _forward(self, d: _Direction) -> None:
        """Move a burst of messages along ``d``, each with its copy to ``capture``.

        Statistics count frames and their bytes, as libzmq 4.3.5's ``forward()`` does:
        a message of three frames adds 3 to a count.
        """
        recv = d.src.recv_multipart
        send = d.dst.send_multipart
        capture = self.capture.send_multipart if self.capture is not None else None
        prefix = [d.prefix] if d.prefix is not None else None
        swap = d.swap
        r_frames = r_bytes = s_frames = s_bytes = 0
        try:
            for _ in range(BURST):
                try:
                    msg = recv(_DONTWAIT)
                except Again as exc:
                    # The socket layer raises one shared Again instance; drop the
                    # traceback it collects so a long-running proxy keeps no frames.
                    exc.__traceback__ = None
                    break
                n = len(msg)
                size = len(msg[0]) if n == 1 else sum(map(len, msg))
                r_frames += n
                r_bytes += size
                if swap and n > 1:
                    msg[0], msg[1] = msg[1], msg[0]
                if capture is not None:
                    # libzmq copies each frame to capture before forwarding it, and a
                    # capture send may block (its HWM) as libzmq's does.
                    capture(prefix + msg if prefix is not None else msg)
                try:
                    send(msg, _DONTWAIT)
                except Again as exc:
                    exc.__traceback__ = None
                    d.pending = msg
                    break
                s_frames += n
                s_bytes += size
        finally:
            stats = self.stats
            stats[d.recv_at] += r_frames
            stats[d.recv_at + 1] += r_bytes
            stats[d.send_at] += s_frames
            stats[d.send_at + 1] += s_bytes

    def _handle_control(self, state: _State) -> _State:
        """Apply the commands waiting on the control socket; return the new state.

        As libzmq: each frame is one command; PAUSE, RESUME and TERMINATE change the
        state, anything else is ignored; a REP control socket gets an empty reply to
        every command but STATISTICS, which is answered with eight uint64 frames.
        """
        control = self.control
        assert control is not None
        while True:
            try:
                command = control.recv(_DONTWAIT)
            except Again as exc:
                exc.__traceback__ = None
                return state
            if command == b"STATISTICS":
                control.send_multipart([_U64.pack(v) for v in self.stats])
                continue
            state = _COMMANDS.get(command, state)
            if self._control_replies:
                control.send(b"")
            if state is _State.TERMINATED:
                return state


# -- argument checks ---------------------------------------------------------------------


def _check_socket(role: str, sock: Any) -> Socket:
    """Refuse what is not an open securemq socket, as libzmq does with ENOTSOCK."""
    if not isinstance(sock, Socket):
        raise ZMQError(C.ENOTSOCK,
                       f"{role} must be a securemq Socket, not {type(sock).__name__}")
    if sock.closed:
        raise ZMQError(C.ENOTSOCK, f"{role} socket is closed")
    return sock


def _check_args(frontend: Any, backend: Any, capture: Any,
                control: Any) -> tuple[Socket, Socket, Socket | None, Socket | None]:
    f = _check_socket("frontend", frontend)
    b = _check_socket("backend", backend)
    cap = None if capture is None else _check_socket("capture", capture)
    ctl = None if control is None else _check_socket("control", control)
    if cap is not None and int(cap.socket_type) in _NEVER_SEND:
        # libzmq fails the same way, but only when the first message arrives.
        kind = C.SocketType(cap.socket_type).name
        raise ZMQError(C.ENOTSUP, f"capture socket of type {kind} cannot send")
    if ctl is not None and int(ctl.socket_type) in _NEVER_RECV:
        # libzmq would run on, deaf to every command.
        kind = C.SocketType(ctl.socket_type).name
        raise ZMQError(C.ENOTSUP, f"control socket of type {kind} cannot receive")
    return f, b, cap, ctl


# -- the public functions ----------------------------------------------------------------


def proxy(frontend: Socket, backend: Socket, capture: Socket | None = None) -> NoReturn:
    """Relay messages between ``frontend`` and ``backend`` until the context ends.

    Whole multipart messages move in every direction the socket types allow (a
    ROUTER/DEALER pair both ways, XSUB/XPUB data down and subscriptions up, PULL/PUSH
    one way). If ``capture`` is given, each message is also sent to it, frame for frame.
    Call it from a thread of its own: it blocks for good, like libzmq's ``zmq_proxy``.

    Args:
        frontend: The socket facing clients (messages it receives go to ``backend``).
        backend: The socket facing services (its messages go back to ``frontend``).
        capture: Optional socket that gets a copy of every message (PUB, PUSH, PAIR...).

    Raises:
        ContextTerminated: the context was terminated, or one of the sockets closed by
            another thread; this is how a proxy normally ends.
        ZMQError: ENOTSOCK if an argument is not an open securemq socket; ENOTSUP if
            ``capture`` cannot send; whatever a send fails with otherwise.
    """
    Relay(frontend, backend, capture, None).run()
    raise AssertionError("a proxy without a control socket only ends by an exception")


def proxy_steerable(frontend: Socket, backend: Socket, capture: Socket | None = None,
                    control: Socket | None = None) -> int:
    """:func:`proxy`, steered by commands received on ``control``.

    Each frame received on ``control`` (a PAIR, or a REP that gets an empty reply to each
    command) is a command, as libzmq 4.3.5's manual, zmq_proxy_steerable(3), describes
    them (the 4.3.5 release itself swaps PAUSE and RESUME and answers every command even
    on a PAIR, bugs fixed right after it in libzmq#4600):

    - ``PAUSE``: stop forwarding; messages wait in the sockets' queues.
    - ``RESUME``: forward again.
    - ``TERMINATE``: return.
    - ``STATISTICS``: reply with eight frames, each a native-endian uint64: frames and
      bytes received by the frontend, frames and bytes sent by it, then the same four
      for the backend. libzmq counts frames, not messages: ``[b"a", b"bc"]`` is 2
      frames and 3 bytes.

    Unknown commands are ignored. Without ``control`` this is :func:`proxy`.

    Returns:
        0 after TERMINATE, as pyzmq's ``proxy_steerable`` does.

    Raises:
        ContextTerminated: the context was terminated, or a socket closed meanwhile.
        ZMQError: ENOTSOCK if an argument is not an open securemq socket; ENOTSUP if
            ``capture`` cannot send or ``control`` cannot receive.
    """
    Relay(frontend, backend, capture, control).run()
    return 0


def device(device_type: int, frontend: Socket, backend: Socket) -> NoReturn:
    """Legacy name of :func:`proxy`; ``device_type`` (QUEUE, FORWARDER, STREAMER) is
    ignored, as libzmq's ``zmq_device`` ignores it.

    Raises:
        ContextTerminated: as :func:`proxy`.
    """
    proxy(frontend, backend)
