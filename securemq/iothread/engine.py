"""Engines and sessions: the I/O-thread side of every tcp and ipc connection.

An :class:`Engine` drives one ZMTP :class:`~securemq.zmtp.connection.Connection` over
one non-blocking stream socket: read → ``receive_data`` → act on the events → write
``data_to_send()``. A :class:`Session` outlives its engines: for a connecting socket it
keeps the peer's pipes across reconnects (so messages queue while the link is down,
as in libzmq with ``immediate`` off) and schedules reconnects with backoff; for an
accepted connection it lives exactly as long as its one engine.

Hot-path notes: reads take up to ``RECV_SIZE`` octets and decode every complete frame
in them; writes take up to ``BATCH`` messages from the pipe, encode them into one list
of buffers, join the small ones and send. Wake-ups cross threads only when a pipe goes
from empty to non-empty (see :mod:`securemq.pipe`).
"""

from __future__ import annotations

import errno
import logging
import random
import selectors
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..constants import Event
from ..error import ProtocolError
from ..pipe import Peer, Pipe
from ..security.base import HandshakeConfig
from ..security.null import NullMechanism
from ..zmtp.connection import Connection
from ..zmtp.events import CommandReceived, ConnectionClosed, HandshakeComplete, MessagesReceived
from ..zmtp.frames import LARGE_FRAME, Buffer

if TYPE_CHECKING:
    from .reactor import Reactor, Timer

log = logging.getLogger("securemq.engine")

RECV_SIZE = 256 * 1024
BATCH = 4096
JOIN_LIMIT = 256 * 1024
_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE


@dataclass(frozen=True, slots=True)
class IOConfig:
    """The socket options the I/O side needs, frozen when bind/connect is called."""

    socket_type: int
    sndhwm: int = 1000
    rcvhwm: int = 1000
    routing_id: bytes = b""
    metadata: Mapping[str, bytes] = field(default_factory=dict)
    maxmsgsize: int = -1
    handshake_ivl: int = 30000
    reconnect_ivl: int = 100
    reconnect_ivl_max: int = 0
    immediate: bool = False
    conflate: bool = False
    linger: int = -1
    sndbuf: int = -1
    rcvbuf: int = -1
    tcp_keepalive: int = -1
    ipv6: bool = False
    backlog: int = 100


class Owner:
    """How the I/O side talks to the socket that owns a session (thread-safe).

    Args:
        post: queue a command for the socket's thread.
        emit: report a monitor event.
        count: add +1/-1 to the context's count of live sessions, which ``term`` waits
            to reach zero (linger).
    """

    def __init__(self, post: Callable[[Any], None], emit: Callable[[int, int, str], None],
                 count: Callable[[int], None]) -> None:
        self.post = post
        self.emit = emit
        self.count = count


class Engine:
    """Drives one ZMTP connection over one stream socket (I/O thread only)."""

    def __init__(self, session: Session, sock: socket.socket, endpoint: str) -> None:
        self.session = session
        self.reactor = session.reactor
        self.sock = sock
        self.endpoint = endpoint
        cfg = session.config
        mechanism = NullMechanism(HandshakeConfig(cfg.socket_type, cfg.routing_id,
                                                  cfg.metadata))
        deadline = None
        if cfg.handshake_ivl > 0:
            deadline = time.monotonic() + cfg.handshake_ivl / 1000
        self.conn = Connection(mechanism, cfg.maxmsgsize, deadline)
        self.out: Pipe | None = None
        self.inp: Pipe | None = None
        self.closed = False
        self.handshaked = False
        self._wbuf: deque[Buffer] = deque()
        self._events = _READ
        self._read_paused = False
        self._timer: Timer | None = None
        self._pulling = False
        self._closing_gracefully = False

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Register with the selector and send our greeting."""
        self.sock.setblocking(False)
        self.reactor.selector.register(self.sock, _READ, self._on_io)
        self._queue(self.conn.data_to_send())
        self._send()
        deadline = self.conn.get_timer()
        if deadline is not None:
            self._timer = self.reactor.call_later(deadline - time.monotonic(),
                                                  self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        for ev in self.conn.handle_timer(time.monotonic()):
            if isinstance(ev, ConnectionClosed):
                self.close(ev.error, timeout=True)

    def close(self, error: ProtocolError | None = None, reason: str = "",
              timeout: bool = False) -> None:
        """Drop the connection and tell the session why."""
        if self.closed:
            return
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
        try:
            self.reactor.selector.unregister(self.sock)
        except (KeyError, ValueError):
            pass
        self.sock.close()
        if error is not None:
            log.info("closing %s: %s", self.endpoint, error)
        if self.out is not None:
            self.out.on_readable = _noop
        if self.inp is not None:
            self.inp.on_writable = _noop
        self.session.engine_closed(self, error, timeout)

    # -- readiness ---------------------------------------------------------------------

    def _on_io(self, mask: int) -> None:
        if mask & _READ:
            self._on_readable()
        if mask & _WRITE and not self.closed and self._send() and self.out is not None:
            self._pull()

    def _set_events(self, events: int) -> None:
        if events != self._events and not self.closed:
            self._events = events
            if events:
                self.reactor.selector.modify(self.sock, events, self._on_io)
            else:
                self.reactor.selector.modify(self.sock, _READ, self._on_io)
                self._events = _READ

    def _on_readable(self) -> None:
        try:
            data = self.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.close(reason=str(exc))
            return
        if not data:
            self.close(reason="peer closed the connection")
            return
        events = self.conn.receive_data(data)
        for ev in events:
            if type(ev) is MessagesReceived:
                inp = self.inp
                assert inp is not None
                if self.session.config.conflate:
                    inp.q.clear()
                    inp.write(ev.messages[-1])
                else:
                    inp.write_many(ev.messages)
                    if inp.hwm and len(inp.q) >= inp.hwm and inp.wait_writable():
                        self._pause_reading()
            elif type(ev) is HandshakeComplete:
                self._handshake_complete(ev)
            elif type(ev) is CommandReceived:
                self.session.command_received(ev.name, ev.data)
            elif type(ev) is ConnectionClosed:
                self._flush_conn()
                self.close(ev.error)
                return
        if self.conn._out:
            self._flush_conn()

    def _pause_reading(self) -> None:
        self._read_paused = True
        ev = self._events & ~_READ
        self._events = ev
        if ev:
            self.reactor.selector.modify(self.sock, ev, self._on_io)
        else:
            self.reactor.selector.unregister(self.sock)

    def _on_inp_writable(self) -> None:
        """The socket drained our inbound pipe to its low-water mark: read again."""
        if self.closed or not self._read_paused:
            return
        self._read_paused = False
        if self._events:
            self._events |= _READ
            self.reactor.selector.modify(self.sock, self._events, self._on_io)
        else:
            self._events = _READ
            self.reactor.selector.register(self.sock, _READ, self._on_io)
        self._on_readable()

    def _handshake_complete(self, ev: HandshakeComplete) -> None:
        self.handshaked = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        peer = self.session.engine_ready(self, ev.metadata)
        if peer is None:
            self.close(reason="refused by the socket")
            return
        self.out, self.inp = peer.out, peer.inp
        reactor = self.reactor
        pull = self._on_out_readable
        resume = self._on_inp_writable
        peer.out.on_readable = lambda: reactor.call_soon_threadsafe(pull)
        peer.inp.on_writable = lambda: reactor.call_soon_threadsafe(resume)
        self._pull()

    # -- writing -----------------------------------------------------------------------

    def _on_out_readable(self) -> None:
        if not self.closed:
            self._pull()

    def _pull(self) -> None:
        """Move messages from the outbound pipe to the socket until either runs dry."""
        out = self.out
        if out is None or self._pulling:
            return
        self._pulling = True
        try:
            q = out.q
            popleft = q.popleft
            while not self.closed:
                if self._wbuf and not self._send():
                    return  # kernel buffer full: wait for EVENT_WRITE
                if not q:
                    if out.closed:
                        self._finish()
                        return
                    if out.sleep():
                        return
                    continue
                n = min(len(q), BATCH)
                batch = [popleft() for _ in range(n)]
                if out.writer_waiting:
                    out.read_done()
                self.conn.send_messages(batch)
                self._queue(self.conn.data_to_send())
        finally:
            self._pulling = False

    def _finish(self) -> None:
        """The socket closed its side and everything was written: end the connection."""
        self.close(reason="socket closed")

    def _flush_conn(self) -> None:
        self._queue(self.conn.data_to_send())
        self._send()

    def _queue(self, bufs: list[Buffer]) -> None:
        """Join small buffers into large writes; keep large frames as they are."""
        wbuf = self._wbuf
        parts: list[Buffer] = []
        size = 0
        for b in bufs:
            n = len(b)
            if n >= LARGE_FRAME:
                if parts:
                    wbuf.append(b"".join(parts))
                    parts = []
                    size = 0
                wbuf.append(b)
            else:
                parts.append(b)
                size += n
                if size >= JOIN_LIMIT:
                    wbuf.append(b"".join(parts))
                    parts = []
                    size = 0
        if parts:
            wbuf.append(b"".join(parts) if len(parts) > 1 else parts[0])

    def _send(self) -> bool:
        """Write queued buffers; True when all are written, False if the kernel is full."""
        wbuf = self._wbuf
        send = self.sock.send
        while wbuf:
            buf = wbuf[0]
            try:
                n = send(buf)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError as exc:
                self.close(reason=str(exc))
                return False
            if n == len(buf):
                wbuf.popleft()
                continue
            wbuf[0] = memoryview(buf)[n:]
            if not self._events & _WRITE:
                self._set_events(self._events | _WRITE)
            return False
        if self._events & _WRITE:
            self._set_events(self._events & ~_WRITE)
        return True


def _noop() -> None:
    return None


class Session:
    """The I/O-side owner of one peer: its pipes, its engine(s) and reconnects.

    Args:
        reactor: the I/O thread it runs on.
        owner: how to reach the socket.
        config: frozen socket options.
        endpoint: the endpoint string, for monitor events and ``Peer.endpoint``.
        connect: for connecting sessions, a callable that starts a non-blocking connect
            and returns the socket; None for accepted connections.
    """

    def __init__(self, reactor: Reactor, owner: Owner, config: IOConfig, endpoint: str,
                 connect: Callable[[], socket.socket] | None = None) -> None:
        self.reactor = reactor
        self.owner = owner
        self.config = config
        self.endpoint = endpoint
        self._connect = connect
        self.engine: Engine | None = None
        self.peer: Peer | None = None
        self.closing = False
        self.finished = False
        self._reconnect_delay = config.reconnect_ivl
        self._timer: Timer | None = None
        self._pending: socket.socket | None = None
        self.on_finished: Callable[[Session], None] = lambda s: None
        #: Routing id given with ``connect_routing_id`` for the peer of this session.
        self.preset_id = b""
        owner.count(1)

    @property
    def active(self) -> bool:
        """True for a session that connects (and reconnects)."""
        return self._connect is not None

    def make_peer(self) -> Peer:
        """Create the peer's pipes, sized by the socket's HWMs."""
        peer = Peer(Pipe(self.config.sndhwm), Pipe(self.config.rcvhwm), self.endpoint)
        peer.session = self
        peer.routing_id = self.preset_id
        return peer

    # -- connecting --------------------------------------------------------------------

    def start_connecting(self) -> None:
        """Begin a non-blocking connect (I/O thread)."""
        assert self._connect is not None
        if self.closing:
            return
        try:
            sock = self._connect()
        except OSError as exc:
            self.owner.emit(Event.CONNECT_DELAYED, exc.errno or 0, self.endpoint)
            self._schedule_reconnect()
            return
        self._pending = sock
        self.reactor.selector.register(sock, _WRITE, self._on_connect_ready)

    def _on_connect_ready(self, mask: int) -> None:
        sock = self._pending
        assert sock is not None
        self._pending = None
        self.reactor.selector.unregister(sock)
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            sock.close()
            self.owner.emit(Event.CONNECT_DELAYED, err, self.endpoint)
            self._schedule_reconnect()
            return
        self._reconnect_delay = self.config.reconnect_ivl
        self.owner.emit(Event.CONNECTED, sock.fileno(), self.endpoint)
        self.attach_engine(sock)

    def _schedule_reconnect(self) -> None:
        ivl = self._reconnect_delay
        if ivl < 0 or self.closing:
            self._finish()
            return
        cap = self.config.reconnect_ivl_max
        # Randomise a little so that many clients of one restarted server spread out.
        delay = ivl + random.uniform(0, ivl * 0.1)  # noqa: S311 - not security relevant
        if cap > ivl:
            self._reconnect_delay = min(ivl * 2, cap)
        self._timer = self.reactor.call_later(delay / 1000, self._retry)
        self.owner.emit(Event.CONNECT_RETRIED, int(delay), self.endpoint)

    def _retry(self) -> None:
        self._timer = None
        self.start_connecting()

    # -- engines -----------------------------------------------------------------------

    def attach_engine(self, sock: socket.socket) -> None:
        """Start an engine on a connected or accepted stream socket."""
        _tune(sock, self.config)
        self.engine = Engine(self, sock, self.endpoint)
        self.engine.start()

    def engine_ready(self, engine: Engine, metadata: dict[str, bytes]) -> Peer | None:
        """The handshake is done: hand the peer to the socket (first time) and go."""
        self.owner.emit(Event.HANDSHAKE_SUCCEEDED, 0, self.endpoint)
        if self.closing:
            return None
        peer = self.peer
        if peer is None:
            peer = self.peer = self.make_peer()
            peer.metadata = metadata
            self.owner.post(("attach", peer))
        else:
            peer.metadata = metadata
            self.owner.post(("ready", peer))
        return peer

    def command_received(self, name: bytes, data: bytes) -> None:
        """A traffic command other than PING arrived (SUBSCRIBE etc. come later)."""
        log.debug("ignoring %s command from %s", name.decode("ascii", "replace"),
                  self.endpoint)

    def engine_closed(self, engine: Engine, error: ProtocolError | None,
                      timeout: bool) -> None:
        """An engine ended: reconnect, or end the session."""
        self.engine = None
        if error is not None and not engine.handshaked:
            self.owner.emit(error.event, error.code, self.endpoint)
        elif engine.handshaked:
            self.owner.emit(Event.DISCONNECTED, 0, self.endpoint)
        if self.closing or not self.active:
            self._finish()
            return
        if error is not None and not timeout:
            # libzmq: a protocol error ends a connecting session for good.
            self._finish()
            return
        self._schedule_reconnect()

    # -- shutdown ----------------------------------------------------------------------

    def close(self, linger: int) -> None:
        """The socket closed: flush for up to ``linger`` ms (-1 forever), then end."""
        if self.closing:
            return
        self.closing = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending is not None:
            try:
                self.reactor.selector.unregister(self._pending)
            except (KeyError, ValueError):
                pass
            self._pending.close()
            self._pending = None
        engine = self.engine
        if engine is None or engine.closed or linger == 0 or not engine.handshaked:
            if engine is not None:
                engine.close(reason="socket closed")
            else:
                self._finish()
            return
        # The socket has closed the out pipe; the engine ends once it has written it all.
        if linger > 0:
            self._timer = self.reactor.call_later(linger / 1000, self._linger_expired)
        engine._pull()

    def _linger_expired(self) -> None:
        self._timer = None
        if self.engine is not None:
            self.engine.close(reason="linger expired")

    def _finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        peer = self.peer
        if peer is not None:
            peer.dead = True
            peer.inp.close()
            self.owner.post(("term", peer))
        self.on_finished(self)
        self.owner.count(-1)


def _tune(sock: socket.socket, cfg: IOConfig) -> None:
    """Apply socket-level options (buffer sizes, Nagle, keep-alive) to a stream socket."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if cfg.tcp_keepalive >= 0:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, cfg.tcp_keepalive)
    if cfg.sndbuf > 0:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, cfg.sndbuf)
    if cfg.rcvbuf > 0:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, cfg.rcvbuf)


class Listener:
    """Accepts connections on a bound stream socket and gives each a session."""

    def __init__(self, reactor: Reactor, owner: Owner, config: IOConfig,
                 sock: socket.socket, endpoint: str) -> None:
        self.reactor = reactor
        self.owner = owner
        self.config = config
        self.sock = sock
        self.endpoint = endpoint
        self.sessions: set[Session] = set()
        self.closed = False

    def start(self) -> None:
        """Start accepting (I/O thread)."""
        self.sock.setblocking(False)
        self.reactor.selector.register(self.sock, _READ, self._on_accept)

    def _on_accept(self, mask: int) -> None:
        for _ in range(64):
            try:
                conn, _addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.owner.emit(Event.ACCEPT_FAILED, exc.errno or 0, self.endpoint)
                if exc.errno in (errno.EMFILE, errno.ENFILE):
                    return
                continue
            self.owner.emit(Event.ACCEPTED, conn.fileno(), self.endpoint)
            session = Session(self.reactor, self.owner, self.config, self.endpoint)
            session.on_finished = self.sessions.discard
            self.sessions.add(session)
            session.attach_engine(conn)

    def close(self, linger: int, close_sessions: bool = True) -> None:
        """Stop accepting; with ``close_sessions``, end the accepted connections too."""
        if not self.closed:
            self.closed = True
            try:
                self.reactor.selector.unregister(self.sock)
            except (KeyError, ValueError):
                pass
            self.sock.close()
            self.owner.emit(Event.CLOSED, 0, self.endpoint)
        if close_sessions:
            for s in list(self.sessions):
                s.close(linger)
