"""Pipes: the bounded message queues where two threads meet (ARCHITECTURE rule 2).

A :class:`Pipe` carries whole messages one way, from exactly one writer thread to exactly
one reader thread. Its hand-off is a ``deque`` (append and popleft are atomic under the
GIL) plus two flags that make wake-ups rare:

* the reader sets ``reader_asleep`` when it finds the queue empty and then looks again;
  the writer calls ``on_readable`` only if it sees the flag after appending;
* the writer sets ``writer_waiting`` when the queue is full; the reader calls
  ``on_writable`` when the queue falls to the low-water mark.

Both flags are cleared under a small lock by whoever acts on them, so each sleep is
answered by at most one wake-up. A wake-up that crosses a reader which already found more
work is spurious but harmless: activation handlers are idempotent.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

Message = list[Any]
#: What a pipe carries: a message, or (rarely) a :class:`Subscription`. Typed loosely so
#: that the hot paths need no narrowing; readers that can meet a Subscription check.
PipeItem = Any


def _noop() -> None:
    return None


class Pipe:
    """A one-way message queue with a high-water mark.

    ``conflate`` pipes (see :func:`make_pipe`) keep only the newest message.

    Args:
        hwm: the most messages the queue holds before the writer must wait; 0 for no
            limit.
    """

    __slots__ = ("_lock", "closed", "has_commands", "hwm", "lwm", "on_readable",
                 "on_writable", "q", "reader_asleep", "writer_waiting")

    #: Whether the pipe keeps only its newest message (a ConflatePipe).
    conflate = False

    def __init__(self, hwm: int = 1000) -> None:
        self.q: deque[PipeItem] = deque()
        self.hwm = hwm
        # libzmq resumes a blocked writer half-way down, not at the first free slot.
        self.lwm = (hwm + 1) // 2 if hwm > 0 else 0
        self.reader_asleep = False
        self.writer_waiting = False
        self.closed = False
        #: Set once a :class:`Subscription` has been written: readers that must tell
        #: them from messages check this flag per batch, not every item.
        self.has_commands = False
        self._lock = threading.Lock()
        self.on_readable: Callable[[], None] = _noop
        self.on_writable: Callable[[], None] = _noop

    # -- writer side ------------------------------------------------------------------

    def full(self) -> bool:
        """True when a write must wait (writer side)."""
        return 0 < self.hwm <= len(self.q)

    def write(self, msg: PipeItem) -> None:
        """Append one message; the caller has checked :meth:`full` when it matters."""
        self.q.append(msg)
        if self.reader_asleep:
            self.wake_reader()

    def write_many(self, msgs: list[PipeItem]) -> None:
        """Append a batch of messages with at most one wake-up."""
        self.q.extend(msgs)
        if self.reader_asleep:
            self.wake_reader()

    def wake_reader(self) -> None:
        """Tell a sleeping reader that messages arrived (or that the pipe closed)."""
        with self._lock:
            if not self.reader_asleep:
                return
            self.reader_asleep = False
        self.on_readable()

    def wait_writable(self) -> bool:
        """Declare the writer blocked; return False if room appeared meanwhile."""
        self.writer_waiting = True
        if not self.full():
            with self._lock:
                self.writer_waiting = False
            return False
        return True

    def close(self) -> None:
        """Writer side: no more messages will come; the reader drains then terminates."""
        self.closed = True
        self.reader_asleep = True  # force a wake-up so the reader notices
        self.wake_reader()

    # -- reader side ------------------------------------------------------------------

    def sleep(self) -> bool:
        """Declare the reader idle; return False if messages arrived meanwhile.

        After True the reader will be woken through ``on_readable`` when the next
        message (or close) arrives.
        """
        self.reader_asleep = True
        if self.q or self.closed:
            with self._lock:
                self.reader_asleep = False
            return False
        return True

    def read_done(self) -> None:
        """Reader side, after taking messages: wake a blocked writer at the low-water mark."""
        if self.writer_waiting and len(self.q) <= self.lwm:
            with self._lock:
                if not self.writer_waiting:
                    return
                self.writer_waiting = False
            self.on_writable()

    def __len__(self) -> int:
        return len(self.q)


class Peer:
    """The socket's view of one connection: a pipe each way plus what the peer told us.

    Created by the I/O thread (or by ``connect`` for sessions that queue before the
    connection exists) and owned by the socket's pattern once attached. ``inp`` is
    written by the engine (or the inproc peer) and read by the socket; ``out`` the
    reverse.
    """

    __slots__ = ("attached", "dead", "endpoint", "generation", "in_active", "inp",
                 "metadata", "out", "out_active", "probe_sent", "routing_id", "session")

    def __init__(self, out: Pipe, inp: Pipe, endpoint: str = "") -> None:
        self.out = out
        self.inp = inp
        self.endpoint = endpoint
        self.metadata: dict[str, bytes] = {}
        self.routing_id = b""
        #: Set by the I/O side when the connection is gone for good.
        self.dead = False
        # Owned by the socket thread: attached to the pattern, and membership of its
        # active lists (a refused peer's pipes may still wake us: ignore them).
        self.attached = False
        self.in_active = False
        self.out_active = False
        #: How many connections have carried this peer (more than 1: reconnected).
        self.generation = 0
        #: Whether the ROUTER probe (``probe_router``) has been queued to this peer.
        self.probe_sent = False
        #: The I/O-side object that owns the connection, if any.
        self.session: Any = None

    def __repr__(self) -> str:
        return f"<Peer {self.endpoint} id={self.routing_id!r}{' dead' if self.dead else ''}>"


class ConflatePipe(Pipe):
    """A pipe that keeps only its newest message (``ZMQ_CONFLATE``)."""

    __slots__ = ()

    conflate = True

    def __init__(self, hwm: int = 0) -> None:
        super().__init__(hwm)
        # One append replaces the old message atomically: a reader that saw the
        # queue non-empty never finds it empty when it pops (clear-then-append could).
        self.q = deque(maxlen=1)

    def full(self) -> bool:
        """Never full: a new message replaces the old one."""
        return False

    def write(self, msg: PipeItem) -> None:
        """Replace whatever is queued with ``msg``."""
        self.q.append(msg)
        if self.reader_asleep:
            self.wake_reader()

    def write_many(self, msgs: list[PipeItem]) -> None:
        """Keep only the last of ``msgs``."""
        if msgs:
            self.write(msgs[-1])


def make_pipe(hwm: int, conflate: bool = False) -> Pipe:
    """A pipe with high-water mark ``hwm``, or a conflating one."""
    return ConflatePipe(0) if conflate else Pipe(hwm)


class Subscription:
    """A subscription change travelling through a pipe instead of a message.

    A SUB or XSUB socket writes these to its peers (the engine turns them into ZMTP 3.1
    SUBSCRIBE/CANCEL commands, or the ``\\x01``/``\\x00`` message form for ZMTP 3.0
    peers); an engine writes them to a PUB or XPUB socket when the peer subscribes.
    """

    __slots__ = ("subscribe", "topic")

    def __init__(self, subscribe: bool, topic: bytes) -> None:
        self.subscribe = subscribe
        self.topic = topic

    def __repr__(self) -> str:
        return f"<Subscription {'+' if self.subscribe else '-'}{self.topic!r}>"
