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
import os
import random
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, cast

from ..constants import Event, ReconnectStop, SecurityMechanism, SocketType
from ..error import ProtocolError, ZapHandlerMissing
from ..pipe import Peer, Pipe, Subscription, make_pipe
from ..security.base import HandshakeConfig, Mechanism
from ..security.null import NullMechanism
from ..transport.tls import TlsFailure, TlsFilter
from ..transport.tlsconfig import TlsSource, audit_tls_failure
from ..zmtp.connection import Connection
from ..zmtp.events import (
    CommandReceived,
    ConnectionClosed,
    HandshakeComplete,
    MessagesReceived,
    ZapRequested,
)
from ..zmtp.events import Event as ZmtpEvent
from ..zmtp.frames import LARGE_FRAME, Buffer
from ..zmtp.raw import RawConnection
from .reactor import READ, WRITE, Reactor
from .zap import ZapClient

if TYPE_CHECKING:
    from .reactor import Reactor, Timer

log = logging.getLogger("securemq.engine")

RECV_SIZE = 256 * 1024
SEAL_CHUNK = 256 * 1024
"""TLS: plaintext sealed per write, the most ciphertext held back from the kernel."""
BATCH = 4096
BORROW_LINGER = 0.005
"""Seconds a borrowed stream stays with the application thread after its last wait."""
BORROW_WATCH = 0.1
"""Seconds between looks at a borrow whose borrower is waiting: the longest a stream
stays unread by anyone after a long wait ends."""
JOIN_LIMIT = 256 * 1024
_READ = READ
_WRITE = WRITE
_PUBLISHERS = frozenset((1, 9))  # PUB, XPUB: the types that take subscriptions
_STOP_REFUSED = ReconnectStop.CONN_REFUSED
# AFTER_DISCONNECT needs nothing: a disconnected session never reconnects here.
_STOP_HANDSHAKE = ReconnectStop.HANDSHAKE_FAILED


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
    reconnect_stop: int = 0
    """``ReconnectStop`` bits: when a connecting session gives up instead of retrying."""
    immediate: bool = False
    conflate: bool = False
    linger: int = -1
    sndbuf: int = -1
    rcvbuf: int = -1
    tcp_keepalive: int = -1
    ipv6: bool = False
    backlog: int = 100
    probe_router: bool = False
    heartbeat_ivl: int = 0
    heartbeat_ttl: int = 0
    heartbeat_timeout: int = -1
    mechanism: int = 0
    """``SecurityMechanism``: NULL, PLAIN or CURVE."""
    handshake: HandshakeConfig | None = None
    """What the security handshake needs (keys, credentials, ZAP domain)."""
    max_handshakes: int = 0
    """Most connections of a listener still in their handshake; 0 for no limit."""
    stream_notify: bool = True
    """STREAM: deliver an empty message when a peer connects and when it leaves."""
    tls: TlsSource | None = None
    """For ``tls+tcp``: where each new connection takes its TLS settings from."""


class Owner:
    """How the I/O side talks to the socket that owns a session (thread-safe).

    Args:
        post: queue a command for the socket's thread.
        emit: report a monitor event.
        count: add +1/-1 to the context's count of live sessions, which ``term`` waits
            to reach zero (linger).
    """

    def __init__(self, post: Callable[[Any], None], emit: Callable[[int, int, str], None],
                 count: Callable[[int], None],
                 zap: Callable[[Reactor], ZapClient | None] | None = None,
                 zap_bound: Callable[[], bool] = lambda: False,
                 admitted: Callable[[Engine, bytes, bytes], None] | None = None) -> None:
        self.post = post
        self.emit = emit
        self.count = count
        #: The ZAP client of an I/O thread, None when no handler is bound.
        self.zap = zap if zap is not None else (lambda reactor: None)
        #: Whether a ZAP handler is bound now.
        self.zap_bound = zap_bound
        #: Called with an engine whose peer a ZAP handler admitted, its mechanism name
        #: and credential, so that a later revocation can find it.
        self.admitted = admitted if admitted is not None else (lambda e, m, c: None)
        #: Whether the "CURVE server admits any key" warning was logged for this socket.
        self.warned_open_curve = False
        #: Set by the socket when it has been waiting: its next send may be written
        #: directly from its thread (see :class:`Engine`).
        self.direct = True


class Engine:
    """Drives one ZMTP connection over one stream socket.

    Reading, handshaking and timers run in the I/O thread only. Writing is guarded by
    ``wlock`` and may also run in the application thread: when a socket that has just
    been waiting (a REQ after its reply, a server after a poll) sends to an idle engine,
    it writes to the stream itself instead of waking the I/O thread, which on CPython
    saves a thread hand-off (tens of microseconds) per message of a request-reply
    exchange. A socket sending in a tight loop never takes that path, so its messages
    are batched by the I/O thread. Whoever holds ``wlock`` is the out pipe's reader.
    """

    def __init__(self, session: Session, sock: socket.socket, endpoint: str) -> None:
        self.session = session
        self.reactor = session.reactor
        self.sock = sock
        self.endpoint = endpoint
        cfg = session.config
        self.raw: RawConnection | None = None
        #: TLS below ZMTP (tls+tcp): the bind side is the TLS server.
        self.tls: TlsFilter | None = None
        if cfg.tls is not None:
            self.tls = TlsFilter(cfg.tls.settings, server_side=not session.active)
            cfg.tls.engines.add(self)
        if cfg.socket_type == SocketType.STREAM:
            self.raw = RawConnection(_peer_ip(sock), cfg.stream_notify)
            self.conn = cast(Connection, self.raw)
            mechanism: Mechanism | None = None
        else:
            mechanism = _make_mechanism(cfg, session.owner, _peer_ip(sock))
            mechanism.tls = self.tls
            deadline = None
            if cfg.handshake_ivl > 0:
                deadline = time.monotonic() + cfg.handshake_ivl / 1000
            timeout = cfg.heartbeat_timeout if cfg.heartbeat_timeout >= 0 \
                else cfg.heartbeat_ivl
            self.conn = Connection(mechanism, cfg.maxmsgsize, deadline,
                                   heartbeat_ivl=cfg.heartbeat_ivl / 1000,
                                   heartbeat_timeout=timeout / 1000,
                                   heartbeat_ttl=cfg.heartbeat_ttl / 1000)
        self.out: Pipe | None = None
        self.inp: Pipe | None = None
        self.closed = False
        self.handshaked = False
        self.close_errno = 0
        self.local_close = False
        self.wlock = threading.Lock()
        # Re-entrant: the I/O thread may close the stream from inside its own read.
        self.rlock = threading.RLock()
        self._elock = threading.Lock()
        #: Reads are the application thread's (see borrow): the I/O thread does not
        #: watch for input. ``_borrowing`` while that thread waits on the stream.
        self.borrowed = False
        self._borrowing = False
        self._released_at = 0.0
        self._watching = False
        self.fd = -1
        self._hwm_hit = False
        self._wbuf: deque[Buffer] = deque()
        self._events = _READ
        self._read_paused = False
        self._timer: Timer | None = None
        self._zap: ZapClient | None = None
        # A TLS connection is read and written by the I/O thread alone: an SSLObject
        # must not be read and written at the same time. (CURVE may be: its mechanism
        # lets one thread seal while another opens.)
        self._io_only = self.tls is not None
        # CURVE seals every frame it sends into a fresh buffer: take from the pipe what
        # the kernel can absorb soon, not a whole batch (tens of MB at 64 KiB).
        self._seals = mechanism is not None and mechanism.encrypts
        # Set by a direct write that could not finish: the I/O thread must take over.
        self._need_io = False

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def peer_address(self) -> str:
        """The peer's IP address (``Peer-Address`` metadata); empty for ipc."""
        return self.conn.mechanism.peer_address

    def start(self) -> None:
        """Register with the reactor and send our greeting."""
        self.sock.setblocking(False)
        self.fd = self.sock.fileno()
        self.reactor.register(self.fd, _READ, self._on_io)
        if self.raw is not None:
            # No handshake: the peer is attached (and announced) at once.
            with self.rlock:
                rest, gone = self._dispatch(self.raw.start())
            self._after_read(rest, gone)
            return
        self._flush_conn()
        self._arm_timer()

    def _arm_timer(self) -> None:
        """Keep one reactor timer at the connection's next deadline (I/O thread)."""
        deadline = self.conn.get_timer()
        timer = self._timer
        if timer is not None:
            if timer.when == deadline:
                return
            timer.cancel()
            self._timer = None
        if deadline is not None and not self.closed:
            self._timer = self.reactor.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self.closed:
            return
        for ev in self.conn.handle_timer(time.monotonic()):
            if isinstance(ev, ConnectionClosed):
                # A deadline passed (handshake, heartbeat): libzmq counts that as a
                # connection error, after which it reconnects, not a protocol error.
                # libzmq reports the errno left by its last read: EAGAIN.
                self.close(reason=ev.error.reason, err=errno.EAGAIN)
                return
        if self.conn.has_output():
            self._flush_conn()
        self._arm_timer()

    def close(self, error: ProtocolError | None = None, reason: str = "", err: int = 0,
              local: bool = False) -> None:
        """Drop the connection and tell the session why (I/O thread).

        Args:
            error: the peer broke the protocol (the session then ends, as in libzmq).
            reason: otherwise, why the connection ends, for the log.
            err: the errno of a connection error (reported if the handshake was not done).
            local: closed by our own socket (close, linger): no monitor event.
        """
        if self.closed:
            return
        self.close_errno = err
        self.local_close = local
        # Never close the stream under a direct write or read in another thread: its
        # descriptor could be reused by a new connection in the middle of the call.
        with self.wlock, self.rlock, self._elock:
            self.closed = True
            self.reactor.unregister(self.fd)
            self.sock.close()
            self.conn.wipe()
        if self._timer is not None:
            self._timer.cancel()
        if self._zap is not None:
            self._zap.cancel(self)
        if error is not None:
            log.info("closing %s: %s", self.endpoint, error)
            if isinstance(error, TlsFailure):
                audit_tls_failure(self.peer_address, self.endpoint, error, self.tls)
        elif reason:
            log.debug("closing %s: %s", self.endpoint, reason)
        if self.out is not None:
            self.out.on_readable = _noop
        if self.inp is not None:
            self.inp.on_writable = _noop
        self.session.engine_closed(self, error)

    # -- readiness ---------------------------------------------------------------------

    def _on_io(self, mask: int) -> None:
        if mask & _READ:
            self._on_readable()
        if mask & _WRITE and not self.closed:
            self._on_out_readable()

    def _set_events(self, events: int) -> None:
        if events != self._events:
            self._events = events
            self._apply_events()

    def _apply_events(self) -> None:
        """Tell the reactor what we wait for, minus reads while a borrower reads."""
        with self._elock:
            if not self.closed:
                mask = self._events & ~_READ if self.borrowed else self._events
                self.reactor.modify(self.fd, mask)

    def _on_readable(self) -> None:
        """I/O thread: read once, deliver messages, act on everything else."""
        if not self.rlock.acquire(blocking=False):
            return  # the application thread is reading this stream right now
        try:
            if self.closed:
                return
            rest, gone = self._read_locked()
        finally:
            self.rlock.release()
        self._after_read(rest, gone)

    def _read_locked(self) -> tuple[list[ZmtpEvent], str | None]:
        """Read and decode once; deliver the messages (``rlock`` held, any thread).

        Messages are handed to the pipe under the lock so that two readers in turn can
        never reorder them. Returns the other events and, if the stream ended, why.
        """
        conn = self.conn
        tls = self.tls
        # TLS: the kernel's bytes are ciphertext, so large frames are not read in place.
        view = conn.receive_buffer() if tls is None else None
        try:
            if view is not None:
                # The body of a large frame: read straight into its buffer, and keep
                # going while the kernel has more (one wake-up per frame, not per chunk).
                recv_into = self.sock.recv_into
                events: list[ZmtpEvent] = []
                while view is not None and not events:
                    try:
                        n = recv_into(view)
                    except (BlockingIOError, InterruptedError):
                        break
                    if not n:
                        self.close_errno = errno.EPIPE
                        return [], "peer closed the connection"
                    events = conn.received_into(n)
                    view = conn.receive_buffer()
            elif tls is not None:
                # Ciphertext only passes through on its way into the TLS layer: read it
                # into the I/O thread's buffer rather than a fresh 256 KiB object.
                rbuf = self.reactor.scratch(RECV_SIZE)
                n = self.sock.recv_into(rbuf)
                if not n:
                    self.close_errno = errno.EPIPE
                    return [], "peer closed the connection"
                return self._read_tls(tls, rbuf[:n])
            else:
                # Into a buffer of the reading thread's, not sock.recv(RECV_SIZE): that
                # allocates RECV_SIZE octets per read and shrinks them to what came,
                # which glibc serves with mmap, page faults and munmap (a 2 KB read cost
                # 17 us that way, 3 us this way, copy included).
                rbuf = _scratch(self.reactor)
                n = self.sock.recv_into(rbuf)
                if not n:
                    self.close_errno = errno.EPIPE
                    return [], "peer closed the connection"
                # The decoder copies what it keeps or delivers out of the buffer (see
                # FrameDecoder.transient for the sealed case, where it need not).
                events = conn.receive_data(rbuf[:n])
        except (BlockingIOError, InterruptedError):
            return [], None
        except OSError as exc:
            self.close_errno = exc.errno or 0
            return [], str(exc) or "connection error"
        if len(events) == 1 and type(events[0]) is MessagesReceived:
            self._deliver(events[0].messages)
            return [], None
        return self._dispatch(events)

    def _read_tls(self, tls: TlsFilter, data: Buffer) -> tuple[list[ZmtpEvent], str | None]:
        """Decrypt what was read and decode it, record by record (``rlock`` held).

        The body of a large frame is decrypted straight into its final buffer, as plain
        tcp reads it from the kernel.
        """
        rest: list[ZmtpEvent] = []
        conn = self.conn
        try:
            if not tls.feed(data):
                return rest, None
            while True:
                view = conn.receive_buffer()
                if view is not None:
                    n = tls.read_into(view)
                    if not n:
                        break
                    events = conn.received_into(n)
                else:
                    plain = tls.read()
                    if not plain:
                        break
                    events = conn.receive_data(plain)
                if not events:
                    continue
                more, gone = self._dispatch(events)
                if more:
                    rest.extend(more)
                    if any(type(ev) is ConnectionClosed for ev in more):
                        return rest, None
                if gone is not None:
                    return rest, gone
        except TlsFailure as exc:
            rest.append(ConnectionClosed(exc))
            return rest, None
        if tls.eof:
            self.close_errno = errno.EPIPE
            return rest, "peer closed TLS"
        return rest, None

    def _dispatch(self, events: list[ZmtpEvent]) -> tuple[list[ZmtpEvent], str | None]:
        """Deliver messages and what must keep stream order (``rlock`` held)."""
        rest: list[ZmtpEvent] = []
        for ev in events:
            if type(ev) is MessagesReceived:
                self._deliver(ev.messages)
            elif type(ev) is HandshakeComplete:
                # Inline, because messages may follow in the same chunk and need the
                # pipes it attaches. Only the I/O thread reads before the handshake.
                if not self._handshake_complete(ev):
                    return rest, "refused by the socket"
            elif type(ev) is CommandReceived and ev.name in (b"SUBSCRIBE", b"CANCEL"):
                # Inline too: subscriptions must reach the socket in stream order, and
                # a later chunk may be read by the other thread first.
                inp = self.inp
                if inp is not None and self.session.config.socket_type in _PUBLISHERS:
                    inp.has_commands = True
                    inp.write(Subscription(ev.name == b"SUBSCRIBE", ev.data))
            else:
                rest.append(ev)
        return rest, None

    def _deliver(self, messages: list[list[bytes]]) -> None:
        inp = self.inp
        assert inp is not None
        inp.write_many(messages)
        if inp.hwm and len(inp.q) >= inp.hwm and inp.wait_writable():
            self._hwm_hit = True

    def _after_read(self, rest: list[ZmtpEvent], gone: str | None) -> None:
        """I/O thread: act on what a read produced besides messages."""
        if self._hwm_hit:
            self._hwm_hit = False
            self._pause_reading()
        for ev in rest:
            if type(ev) is CommandReceived:
                self.session.command_received(ev.name, ev.data)
            elif type(ev) is ZapRequested:
                self._ask_zap(ev.frames)
            elif type(ev) is ConnectionClosed:
                self._flush_conn()
                self.close(ev.error)
                return
        if gone is not None:
            if self.raw is not None and self.inp is not None:
                goodbye = self.raw.goodbye()
                if goodbye:
                    self._deliver(goodbye)  # stream_notify: the peer has gone
            self.close(reason=gone, err=self.close_errno)
            return
        if self.conn.timers_pending:
            self.conn.update_timers(time.monotonic())
            self._arm_timer()
        if self.conn.has_output() or (self.tls is not None and self.tls.wants_write):
            self._flush_conn()

    # -- ZAP ------------------------------------------------------------------------------

    def _ask_zap(self, frames: list[bytes]) -> None:
        """Send the mechanism's request to the ZAP handler (I/O thread)."""
        self._zap = self.session.owner.zap(self.reactor)
        if self._zap is None:
            # The handler went away since the handshake began: refuse as libzmq does
            # when it finds no handler (NO_DETAIL, EFAULT), not as a malformed reply.
            self.close(ZapHandlerMissing("the ZAP handler went away during the handshake"))
            return
        self._zap.request(self, frames)

    def zap_reply(self, frames: list[bytes]) -> None:
        """The ZAP handler answered: resume the handshake (I/O thread)."""
        if self.closed:
            return
        with self.rlock:
            rest, gone = self._dispatch(self.conn.zap_reply(frames))
        self._after_read(rest, gone)

    def recheck_pins(self) -> None:
        """TLS settings were reloaded: drop the peer if its key is no longer pinned."""
        tls = self.tls
        if self.closed or tls is None or not tls.established:
            return
        source = self.session.config.tls
        pins = source.settings.pins if source is not None else frozenset()
        if pins and tls.peer_pin not in pins:
            log.warning("closing %s: its TLS key is no longer pinned", self.endpoint)
            self.close(reason="TLS pin removed", err=errno.EACCES)

    def revoke(self) -> None:
        """The credential that admitted the peer was revoked: cut it off (I/O thread)."""
        if not self.closed:
            log.warning("closing %s: its credential was revoked", self.endpoint)
            self.close(reason="credential revoked", err=errno.EACCES)

    # -- reads by a waiting application thread ------------------------------------------

    def borrow(self) -> bool:
        """Application thread about to wait for input: stop the I/O thread's reads.

        While borrowed, the borrower polls the descriptor itself and calls
        :meth:`read_borrowed`; this saves the thread hand-off that otherwise sits
        between a message's arrival and a blocked ``recv`` (tens of microseconds).

        The borrow outlives the wait by BORROW_LINGER: a receiver in a loop borrows
        again without touching the poller, where each wait would otherwise cost two
        ``epoll_ctl`` calls and wake the I/O thread to read between them. The I/O
        thread takes the stream back once nobody has waited on it for that long
        (:meth:`_watch_borrow`), so heartbeats and disconnections are still seen while
        the application does other things.
        """
        with self._elock:
            if self.closed or not self.handshaked or self._read_paused or \
                    self._borrowing or self._io_only:
                return False
            self._borrowing = True
            if self.borrowed:
                return True
            self.borrowed = True
            self.reactor.modify(self.fd, self._events & ~_READ)
            if self._watching:
                return True
            self._watching = True
        self.reactor.call_soon_threadsafe(self._watch_borrow)
        return True

    def give_back(self) -> None:
        """End a wait on the stream; the borrow itself lingers (see :meth:`borrow`)."""
        self._released_at = time.monotonic()
        self._borrowing = False

    def reclaim(self) -> None:
        """Give the stream back to the I/O thread now, unless a wait is using it
        (its socket is about to wait some other way, e.g. in a poller)."""
        with self._elock:
            if self._borrowing or not self.borrowed:
                return
            self.borrowed = False
            if not self.closed:
                self.reactor.modify(self.fd, self._events)

    def _watch_borrow(self) -> None:
        """I/O thread: take the stream back once it has been idle for BORROW_LINGER.

        While the borrower is waiting on the stream (reading it itself) the next look
        is BORROW_WATCH away rather than BORROW_LINGER: a receiver blocked for a long
        time costs the I/O thread ten wake-ups a second, not two hundred.
        """
        if self.borrowed and not self.closed:
            if self._borrowing:
                self.reactor.call_later(BORROW_WATCH, self._watch_borrow)
                return
            if time.monotonic() - self._released_at < BORROW_LINGER:
                self.reactor.call_later(BORROW_LINGER, self._watch_borrow)
                return
        self.reclaim()
        with self._elock:
            self._watching = False
            rearm = self.borrowed and not self.closed  # borrowed again meanwhile
            if rearm:
                self._watching = True
        if rearm:
            self.reactor.call_later(BORROW_LINGER, self._watch_borrow)

    def read_borrowed(self) -> None:
        """Read once from the borrower's thread; hand anything but messages over."""
        with self.rlock:
            if self.closed:
                return
            rest, gone = self._read_locked()
        if rest or gone is not None or self._hwm_hit:
            self.reactor.call_soon_threadsafe(self._after_read, rest, gone)

    def _pause_reading(self) -> None:
        self._read_paused = True
        self._set_events(self._events & ~_READ)

    def _on_inp_writable(self) -> None:
        """The socket drained our inbound pipe to its low-water mark: read again."""
        if self.closed or not self._read_paused:
            return
        self._read_paused = False
        self._set_events(self._events | _READ)
        self._on_readable()

    def _handshake_complete(self, ev: HandshakeComplete) -> bool:
        """Attach to the peer's pipes; False if the socket refuses the peer."""
        self.handshaked = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        mechanism = self.conn.mechanism
        owner = self.session.owner
        if mechanism.zap_answered:
            owner.admitted(self, mechanism.name, mechanism.zap_identity)
        elif mechanism.encrypts and mechanism.as_server and not owner.warned_open_curve:
            # Said once per socket, when it happens: a CURVE client got in unchecked.
            owner.warned_open_curve = True
            log.warning("CURVE server without a ZAP handler admitted a client key "
                        "unchecked (as libzmq does); bind one, or use Context(strict=True)")
        peer = self.session.engine_ready(self, ev.metadata)
        if peer is None:
            return False
        self.out, self.inp = peer.out, peer.inp
        reactor = self.reactor
        resume = self._on_inp_writable
        peer.out.on_readable = self._kick
        peer.inp.on_writable = lambda: reactor.call_soon_threadsafe(resume)
        self._on_out_readable()
        return True

    # -- writing -----------------------------------------------------------------------

    def _kick(self) -> None:
        """The out pipe woke up (called in the writer's thread): write now or delegate."""
        owner = self.session.owner
        if owner.direct and not self._io_only and not self._wbuf and \
                self.wlock.acquire(blocking=False):
            owner.direct = False
            try:
                if not self.closed:
                    self._pull(io=False)
            finally:
                self.wlock.release()
            if not self._need_io:
                return
        self.reactor.call_soon_threadsafe(self._on_out_readable)

    def _on_out_readable(self) -> None:
        """I/O thread: write what is queued, then pull from the pipe until it runs dry."""
        if self.closed:
            return
        with self.wlock:
            self._need_io = False
            if self.out is None:
                self._send(io=True)
            else:
                self._pull(io=True)
        if self._finished:
            self.close(reason="socket closed", local=True)

    _finished = False

    def _pull(self, io: bool) -> None:
        """Move messages from the outbound pipe to the stream until either runs dry.

        Called with ``wlock`` held. With ``io`` False (the application's thread) it
        never touches the selector: a stream that cannot take everything is handed to
        the I/O thread through ``_need_io``.
        """
        out = self.out
        assert out is not None
        q = out.q
        popleft = q.popleft
        conn = self.conn
        while not self.closed:
            if (self._wbuf or self._cipher) and not self._send(io):
                return  # kernel buffer full: EVENT_WRITE (or the I/O thread) resumes
            if conn.close_requested:
                # STREAM: an empty frame closes the connection once what precedes it
                # is written.
                self._finished = True
                if not io:
                    self._need_io = True
                return
            if not q:
                if out.closed:
                    self._finished = True
                    if not io:
                        self._need_io = True
                    return
                if out.sleep():
                    return
                continue
            if self._seals:
                batch = _take_sealable(q)
            else:
                batch = [popleft() for _ in range(min(len(q), BATCH))]
            if out.writer_waiting:
                out.read_done()
            if out.has_commands:
                self._send_mixed(batch)
            else:
                conn.send_messages(batch)
            self._queue(conn.data_to_send())

    def _send_mixed(self, batch: list[Any]) -> None:
        """Encode a batch holding :class:`Subscription` items as well as messages.

        RFC 37: ZMTP 3.1 peers get SUBSCRIBE/CANCEL commands; 3.0 peers the message
        form, one frame starting with 1 (subscribe) or 0 (cancel).
        """
        conn = self.conn
        run: list[Any] = []
        modern = conn.peer_minor >= 1
        for item in batch:
            if type(item) is not Subscription:
                run.append(item)
                continue
            if run:
                conn.send_messages(run)
                run = []
            if modern:
                conn.send_command(b"SUBSCRIBE" if item.subscribe else b"CANCEL", item.topic)
            else:
                conn.send_messages([[(b"\x01" if item.subscribe else b"\x00") + item.topic]])
        if run:
            conn.send_messages(run)

    def _flush_conn(self) -> None:
        with self.wlock:
            self._queue(self.conn.data_to_send())
            self._send(io=True)

    def _queue(self, bufs: list[Buffer]) -> None:
        """Join small buffers into large writes; keep large frames as they are.

        Messages come already joined into runs (see encode_messages); what is left to
        join here is a run with the commands and greeting around it.
        """
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

    def _send(self, io: bool) -> bool:
        """Write queued buffers; True when all are written, False if the kernel is full."""
        if self.tls is not None:
            return self._send_tls(self.tls)
        wbuf = self._wbuf
        send = self.sock.send
        while wbuf:
            buf = wbuf[0]
            try:
                n = send(buf)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError:
                # Let the reader side notice the broken stream and close it in the I/O
                # thread; just stop writing.
                wbuf.clear()
                if not io:
                    self._need_io = True
                return False
            if n == len(buf):
                wbuf.popleft()
                continue
            wbuf[0] = memoryview(buf)[n:]
            if not io:
                self._need_io = True
            elif not self._events & _WRITE:
                self._set_events(self._events | _WRITE)
            return False
        if io and self._events & _WRITE:
            self._set_events(self._events & ~_WRITE)
        return True

    _cipher: Buffer = b""
    """TLS: sealed octets the kernel has not taken yet (I/O thread)."""

    def _send_tls(self, tls: TlsFilter) -> bool:
        """:meth:`_send` for TLS: seal queued plaintext a chunk at a time, as the kernel
        takes it, so that ciphertext never piles up beyond one chunk (I/O thread only).
        """
        wbuf = self._wbuf
        send = self.sock.send
        cipher = self._cipher
        while True:
            if not cipher:
                if wbuf:
                    # Many frames per SSL_write: one record carries many small messages,
                    # and a large body shares its record with its header.
                    take = [wbuf.popleft()]
                    size = len(take[0])
                    while wbuf and size < SEAL_CHUNK:
                        buf = wbuf.popleft()
                        take.append(buf)
                        size += len(buf)
                    cipher = tls.send([b"".join(take)] if len(take) > 1 else take)
                else:
                    cipher = tls.data_to_send()  # handshake records, alerts
                if not cipher:
                    break
            try:
                n = send(cipher)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError:
                wbuf.clear()
                self._cipher = b""
                return False  # the reader side notices and closes
            if n == len(cipher):
                cipher = b""
                continue
            self._cipher = memoryview(cipher)[n:]
            if not self._events & _WRITE:
                self._set_events(self._events | _WRITE)
            return False
        self._cipher = b""
        if self._events & _WRITE:
            self._set_events(self._events & ~_WRITE)
        return True


_borrower = threading.local()


def _scratch(reactor: Reactor) -> memoryview:
    """The calling thread's read buffer for input consumed at once (see Reactor.scratch)."""
    if threading.get_ident() == reactor.ident:
        return reactor.scratch(RECV_SIZE)
    buf: memoryview | None = getattr(_borrower, "buf", None)
    if buf is None:
        buf = _borrower.buf = memoryview(bytearray(RECV_SIZE))
    return buf


def _take_sealable(q: deque[Any]) -> list[Any]:
    """Pop messages for one sealed batch: up to ``SEAL_CHUNK`` octets, at least one.

    Ciphertext is made before it is written, so a batch bounds what a connection holds
    sealed, and keeps freed buffers small enough for malloc to reuse rather than
    return to the kernel and fault back in (a quarter of the send path's time at
    64 KiB when whole batches were sealed at once).
    """
    batch: list[Any] = []
    append = batch.append
    popleft = q.popleft
    size = 0
    for _ in range(min(len(q), BATCH)):
        msg = popleft()
        append(msg)
        if type(msg) is not Subscription:
            for frame in msg:
                size += len(frame)
            if size >= SEAL_CHUNK:
                break
    return batch


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
                 connect: Callable[[], tuple[socket.socket, int]] | None = None) -> None:
        self.reactor = reactor
        self.owner = owner
        self.config = config
        self.endpoint = endpoint
        self._connect = connect
        self.engine: Engine | None = None
        self.peer: Peer | None = None
        self.closing = False
        #: Closed by the socket but still connecting to deliver what is queued (linger).
        self.lingering = False
        self._linger_timer: Timer | None = None
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
        peer = Peer(make_pipe(self.config.sndhwm, self.config.conflate),
                    make_pipe(self.config.rcvhwm, self.config.conflate), self.endpoint)
        peer.session = self
        peer.routing_id = self.preset_id
        return peer

    # -- connecting --------------------------------------------------------------------

    def start_connecting(self) -> None:
        """Begin a non-blocking connect (I/O thread)."""
        assert self._connect is not None
        if self.closing and not self.lingering:
            return
        try:
            sock, err = self._connect()
        except OSError as exc:
            log.debug("cannot connect to %s: %s", self.endpoint, exc)
            self._schedule_reconnect()
            return
        # The monitor events follow libzmq's: DELAYED for a connect in progress,
        # CLOSED (with the descriptor) for a failed attempt, then RETRIED.
        if err == 0:
            self._connected(sock)
        elif err in (errno.EINPROGRESS, errno.EAGAIN):
            self.owner.emit(Event.CONNECT_DELAYED, err, self.endpoint)
            self._pending = sock
            self.reactor.register(sock.fileno(), _WRITE, self._on_connect_ready)
        else:
            self._connect_failed(sock, err)

    def _on_connect_ready(self, mask: int) -> None:
        sock = self._pending
        assert sock is not None
        self._pending = None
        self.reactor.unregister(sock.fileno())
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._connect_failed(sock, err)
        else:
            self._connected(sock)

    def _connect_failed(self, sock: socket.socket, err: int) -> None:
        log.debug("connect to %s failed: %s", self.endpoint, os.strerror(err))
        self.owner.emit(Event.CLOSED, sock.fileno(), self.endpoint)
        sock.close()
        if err == errno.ECONNREFUSED and self.config.reconnect_stop & _STOP_REFUSED:
            self._finish()
            return
        self._schedule_reconnect()

    def _connected(self, sock: socket.socket) -> None:
        self._reconnect_delay = self.config.reconnect_ivl
        self.owner.emit(Event.CONNECTED, sock.fileno(), self.endpoint)
        self.attach_engine(sock)

    def _schedule_reconnect(self) -> None:
        ivl = self._reconnect_delay
        if ivl < 0 or (self.closing and not self.lingering):
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
        metadata = dict(metadata)
        metadata["peer-address"] = engine.peer_address.encode()
        self.owner.emit(Event.HANDSHAKE_SUCCEEDED, 0, self.endpoint)
        if self.closing and not self.lingering:
            return None
        peer = self.peer
        if peer is None:
            peer = self.peer = self.make_peer()
            peer.metadata = metadata
            peer.generation = 1
            if self.config.probe_router:
                # Queue the probe here, so that it leaves at once rather than when the
                # application next calls into its socket.
                peer.probe_sent = True
                peer.out.q.append([b""])
            self.owner.post(("attach", peer))
        else:
            peer.metadata = metadata
            peer.generation += 1
            self.owner.post(("ready", peer))
        return peer

    def command_received(self, name: bytes, data: bytes) -> None:
        """A traffic command other than PING arrived (SUBSCRIBE etc. come later)."""
        log.debug("ignoring %s command from %s", name.decode("ascii", "replace"),
                  self.endpoint)

    def engine_closed(self, engine: Engine, error: ProtocolError | None) -> None:
        """An engine ended: report it, then reconnect or end the session."""
        self.engine = None
        if not engine.local_close:
            # libzmq's sequence: the handshake failure (its detail, or the errno when
            # there is none), then DISCONNECTED with the descriptor.
            if error is not None:
                if error.event:
                    self.owner.emit(error.event, error.event_value, self.endpoint)
            elif not engine.handshaked:
                self.owner.emit(Event.HANDSHAKE_FAILED_NO_DETAIL, engine.close_errno,
                                self.endpoint)
            self.owner.emit(Event.DISCONNECTED, engine.fd, self.endpoint)
        if not self.active or (self.closing and (not self.lingering or engine.handshaked)):
            self._finish()
            return
        if error is not None:
            # libzmq: a protocol error ends a connecting session for good.
            self._finish()
            return
        if not engine.handshaked and self.config.reconnect_stop & _STOP_HANDSHAKE:
            self._finish()
            return
        peer = self.peer
        if self.config.immediate and peer is not None and engine.handshaked:
            # As libzmq: with IMMEDIATE a peer's pipes live only while it is connected.
            # What was queued to the lost connection is dropped, and sends go to live
            # peers (or wait) instead of queueing here; a reconnect attaches anew.
            self.peer = None
            peer.dead = True
            peer.inp.close()
            self.owner.post(("term", peer))
        self._schedule_reconnect()

    # -- shutdown ----------------------------------------------------------------------

    def close(self, linger: int) -> None:
        """The socket closed: flush for up to ``linger`` ms (-1 forever), then end."""
        if self.closing:
            return
        self.closing = True
        engine = self.engine
        if self.active and linger != 0 and self.peer is not None and self.peer.out.q and \
                (engine is None or not engine.handshaked):
            # libzmq: messages queued to a peer not connected yet are still delivered
            # if it comes up within LINGER; keep (re)connecting until then.
            self.lingering = True
            if linger > 0:
                self._linger_timer = self.reactor.call_later(linger / 1000,
                                                             self._linger_expired)
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending is not None:
            self.reactor.unregister(self._pending.fileno())
            self._pending.close()
            self._pending = None
        engine = self.engine
        if engine is None or engine.closed or linger == 0 or not engine.handshaked:
            if engine is not None:
                engine.close(reason="socket closed", local=True)
            else:
                self._finish()
            return
        # The socket has closed the out pipe; the engine ends once it has written it all.
        if linger > 0:
            self._timer = self.reactor.call_later(linger / 1000, self._linger_expired)
        engine._on_out_readable()

    def _linger_expired(self) -> None:
        self._timer = None
        self._linger_timer = None
        self.lingering = False
        if self._pending is not None:
            self.reactor.unregister(self._pending.fileno())
            self._pending.close()
            self._pending = None
        if self.engine is not None:
            self.engine.close(reason="linger expired", local=True)
        else:
            self._finish()

    def _finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        for t in (self._timer, self._linger_timer):
            if t is not None:
                t.cancel()
        self._timer = self._linger_timer = None
        if self._pending is not None:
            self.reactor.unregister(self._pending.fileno())
            self._pending.close()
            self._pending = None
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
        self.fd = sock.fileno()
        #: Set when the socket has already reported CLOSED for us (on close).
        self.closed_reported = False

    def start(self) -> None:
        """Start accepting (I/O thread)."""
        self.sock.setblocking(False)
        self.reactor.register(self.sock.fileno(), _READ, self._on_accept)

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
            limit = self.config.max_handshakes
            if limit and sum(1 for s in self.sessions
                             if s.engine is None or not s.engine.handshaked) >= limit:
                # Strict mode: unauthenticated peers cannot pile up half-open
                # handshakes (each holds a descriptor and, for CURVE, crypto work).
                log.warning("%s: %d handshakes pending, refusing a connection",
                            self.endpoint, limit)
                conn.close()
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
            self.reactor.unregister(self.sock.fileno())
            self.sock.close()
            if not self.closed_reported:
                self.owner.emit(Event.CLOSED, self.fd, self.endpoint)
        if close_sessions:
            for s in list(self.sessions):
                s.close(linger)


_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


def _peer_ip(sock: socket.socket) -> str:
    """The peer's address for ZAP and ``Peer-Address``.

    TCP: its IP address. ipc: ``localhost:uid:gid:pid`` from the kernel's peer
    credentials, as libzmq gives them (so a ZAP handler can filter local peers by
    user); empty where the platform cannot tell.
    """
    try:
        addr = sock.getpeername()
    except OSError:
        return ""
    if isinstance(addr, tuple):
        return str(addr[0])
    peercred = getattr(socket, "SO_PEERCRED", None)
    if peercred is None:
        return ""
    try:
        pid, uid, gid = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, peercred,
                                                      _UCRED.size))
    except OSError:
        return ""
    return f"localhost:{uid}:{gid}:{pid}"


def _make_mechanism(cfg: IOConfig, owner: Owner, peer_address: str) -> Mechanism:
    """The security mechanism of a new connection, with the ZAP facts of this moment."""
    hs = cfg.handshake or HandshakeConfig(cfg.socket_type, cfg.routing_id, cfg.metadata)
    if owner.zap_bound():
        hs = replace(hs, zap_handler=True)
    if cfg.mechanism == SecurityMechanism.CURVE:
        from ..security.curve import CurveMechanism  # noqa: PLC0415 - needs PyNaCl
        return CurveMechanism(hs, peer_address)
    if cfg.mechanism == SecurityMechanism.PLAIN:
        from ..security.plain import PlainMechanism  # noqa: PLC0415
        return PlainMechanism(hs, peer_address)
    return NullMechanism(hs, peer_address)
