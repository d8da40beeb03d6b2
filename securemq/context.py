"""``Context``: owns the I/O threads, the inproc namespace and the sockets' lifetime."""

from __future__ import annotations

import errno
import itertools
import os
import threading
import weakref
from typing import Any, ClassVar

from . import constants as C
from .error import ZMQError
from .iothread.reactor import Reactor
from .iothread.zap import ZapClient
from .options import OPTIONS_BY_NAME
from .pipe import ConflatePipe, Peer, Pipe, make_pipe
from .socket import Socket
from .zmtp.commands import SOCKET_TYPE_NAMES


def _sum_hwm(a: int, b: int) -> int:
    # libzmq: an inproc pipe holds the sender's SNDHWM plus the receiver's RCVHWM, and
    # is unbounded if either is 0.
    return 0 if a == 0 or b == 0 else a + b


class _InprocLink:
    """Both ends of one inproc connection, so either side can tear it down."""

    __slots__ = ("a", "a_sock", "b", "b_sock")

    def __init__(self, a: Peer, a_sock: Socket, b: Peer, b_sock: Socket | None) -> None:
        self.a, self.a_sock, self.b, self.b_sock = a, a_sock, b, b_sock


class Context:
    """A ZeroMQ context, as pyzmq's ``zmq.Context``.

    Args:
        io_threads: number of I/O threads for tcp and ipc connections. They start with
            the first socket that needs one.
    """

    _instance: ClassVar[Context | None] = None
    _instance_lock: ClassVar[threading.Lock] = threading.Lock()
    _instance_pid: ClassVar[int | None] = None

    def __init__(self, io_threads: int = 1, strict: bool | None = None,
                 **kwargs: Any) -> None:
        if isinstance(io_threads, Context):
            raise ZMQError(errno.ENOTSUP, "shadow contexts are not supported")
        if not isinstance(io_threads, int) or io_threads < 0:
            raise ZMQError(errno.EINVAL)
        self._io_threads = max(1, io_threads)
        self._reactors: list[Reactor] = []
        self._rr = itertools.count()
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._sockets: set[Socket] = set()
        self._live_sessions = 0
        self._inproc: dict[str, Socket] = {}
        self._inproc_pending: dict[str, list[_InprocLink]] = {}
        self._sockopts: dict[int, Any] = {}
        self._max_sockets = 1023
        self._terminated = False
        self._closed = False
        self._ipv6 = 0
        self._blocky = 1
        self._max_msgsz = (1 << 31) - 1
        #: Strict mode fails closed where libzmq admits (docs/security.md).
        self.strict = bool(strict) if strict is not None else \
            os.environ.get("SECUREMQ_STRICT", "") not in ("", "0")
        self._internal: set[Socket] = set()
        # Connections admitted by ZAP, by (mechanism, credential): revocation cuts them.
        self._admitted: dict[tuple[bytes, bytes], weakref.WeakSet[Any]] = {}
        self._zap_clients: dict[Reactor, ZapClient] = {}
        for name, value in kwargs.items():
            setattr(self, name, value)

    # -- lifetime --------------------------------------------------------------------

    @classmethod
    def instance(cls, io_threads: int = 1) -> Context:
        """The process-wide shared context, created on first use (and after a fork)."""
        with cls._instance_lock:
            inst = cls._instance
            if inst is None or inst._closed or cls._instance_pid != os.getpid():
                inst = cls._instance = cls(io_threads)
                cls._instance_pid = os.getpid()
            return inst

    @property
    def closed(self) -> bool:
        """True once :meth:`term` has finished."""
        return self._closed

    def socket(self, socket_type: int, socket_class: type[Socket] | None = None,
               _internal: bool = False, **kwargs: Any) -> Socket:
        """Create a socket of ``socket_type`` (``zmq.PUSH``, ...).

        Raises:
            ZMQError: EINVAL for an unknown type, ETERM after :meth:`term`, EMFILE past
                ``max_sockets``.
        """
        if self._terminated:
            raise ZMQError(C.ETERM)
        with self._lock:
            if len(self._sockets) >= self._max_sockets:
                raise ZMQError(errno.EMFILE)
            sock = (socket_class or Socket)(self, int(socket_type))
            self._sockets.add(sock)
            if _internal:
                self._internal.add(sock)
        for name, value in kwargs.items():
            setattr(sock, name, value)
        return sock

    def _socket_closed(self, sock: Socket) -> None:
        with self._cond:
            self._sockets.discard(sock)
            self._internal.discard(sock)
            self._cond.notify_all()

    # -- ZAP -----------------------------------------------------------------------------

    def _admit(self, engine: Any, mechanism: bytes, credential: bytes) -> None:
        """Remember a connection a ZAP handler admitted (I/O thread)."""
        with self._lock:
            self._admitted.setdefault((mechanism, credential), weakref.WeakSet()).add(engine)

    def revoke(self, mechanism: bytes, credential: bytes) -> int:
        """Close every live connection that ZAP admitted with ``credential``.

        ``mechanism`` is ``b"CURVE"`` (``credential``: the client's 32-byte public key),
        ``b"PLAIN"`` (the user name) or, for NULL over ``tls+tcp``, ``b"NULL"`` (the
        client's DER certificate, the first credential of its ZAP request). The
        authenticator calls it when a CURVE key file is deleted or a PLAIN user removed
        or given a new password, so revocation reaches sessions already open; call it
        yourself for the others. The peer's next
        handshake goes to ZAP again. Returns how many were closed.
        """
        with self._lock:
            engines = list(self._admitted.pop((mechanism, credential), ()))
        for engine in engines:
            engine.reactor.call_soon_threadsafe(engine.revoke)
        return len(engines)

    def _zap_handler_bound(self) -> bool:
        """Whether a ZAP handler is bound at ``inproc://zeromq.zap.01`` now."""
        return "zeromq.zap.01" in self._inproc

    def _zap_client(self, reactor: Reactor) -> ZapClient | None:
        """The ZAP client of ``reactor``'s I/O thread, made on first use (I/O thread)."""
        handler = self._inproc.get("zeromq.zap.01")
        client = self._zap_clients.get(reactor)
        if client is not None and (client.closed or client.handler is not handler):
            # The handler we were connected to has gone (an authenticator restarted):
            # inproc connections do not follow a new binder, so connect afresh.
            client.close()
            client = None
        if client is None:
            if self._terminated or handler is None:
                return None
            client = self._zap_clients[reactor] = ZapClient(self, reactor, handler)
        return client

    def _count_session(self, delta: int) -> None:
        with self._cond:
            self._live_sessions += delta
            if self._live_sessions <= 0:
                self._cond.notify_all()

    def term(self) -> None:
        """Terminate: wake blocked calls with ``ContextTerminated``, then wait until every
        socket is closed and its queued messages flushed (``linger``)."""
        if self._closed:
            return
        with self._lock:
            self._terminated = True
            sockets = list(self._sockets)
        for s in sockets:
            try:
                s._mailbox.post(("ctx_term",))
            except OSError:
                pass
        for client in list(self._zap_clients.values()):
            client.reactor.call_soon_threadsafe(client.close)
        with self._cond:
            while self._sockets:
                self._cond.wait()
            while self._live_sessions > 0:
                self._cond.wait()
        for r in self._reactors:
            r.stop()
        self._reactors.clear()
        self._closed = True

    def destroy(self, linger: int | None = None) -> None:
        """Close every socket (with ``linger`` if given), then :meth:`term`."""
        with self._lock:
            sockets = [s for s in self._sockets if s not in self._internal]
        for s in sockets:
            s.close(linger=linger)
        self.term()

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.term()

    def __del__(self) -> None:
        # Never block in a finaliser: just stop the I/O threads of an abandoned context.
        if not getattr(self, "_closed", True) and not getattr(self, "_sockets", True):
            for r in getattr(self, "_reactors", []):
                r.stop(wait=False)

    # -- options ---------------------------------------------------------------------

    def set(self, option: int, value: Any) -> None:
        """Set a context option, or a default for the sockets created afterwards."""
        if option == C.IO_THREADS:
            if not isinstance(value, int) or value < 0:
                raise ZMQError(errno.EINVAL)
            if not self._reactors:
                self._io_threads = max(1, value)
        elif option == C.MAX_SOCKETS:
            if not isinstance(value, int) or value < 1:
                raise ZMQError(errno.EINVAL)
            self._max_sockets = value
        elif option == C.IPV6:
            self._ipv6 = int(value)
            self._sockopts[C.IPV6] = int(value)
        elif option == C.BLOCKY:
            self._blocky = int(value)
        elif option == C.MAX_MSGSZ:
            self._max_msgsz = int(value)
        elif option in (C.THREAD_PRIORITY, C.THREAD_SCHED_POLICY,
                        C.THREAD_AFFINITY_CPU_ADD, C.THREAD_AFFINITY_CPU_REMOVE,
                        C.THREAD_NAME_PREFIX):
            pass  # accepted for compatibility; Python threads have no such knobs
        elif option in C.SocketOption._value2member_map_:
            self._sockopts[option] = value
        else:
            raise ZMQError(errno.EINVAL)

    def get(self, option: int) -> Any:
        """Read a context option (or a socket default set with :meth:`set`)."""
        values: dict[int, int] = {
            C.IO_THREADS: self._io_threads, C.MAX_SOCKETS: self._max_sockets,
            C.SOCKET_LIMIT: 65535, C.IPV6: self._ipv6, C.BLOCKY: self._blocky,
            C.MAX_MSGSZ: self._max_msgsz, C.MSG_T_SIZE: 64,
        }
        if option in values:
            return values[option]
        if option in self._sockopts:
            return self._sockopts[option]
        raise ZMQError(errno.EINVAL)

    setsockopt = set
    getsockopt = get

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        upper = name.upper()
        if upper in C.ContextOption.__members__:
            return self.get(C.ContextOption[upper])
        spec = OPTIONS_BY_NAME.get(name.lower())
        if spec is not None and spec.option in self._sockopts:
            return self._sockopts[spec.option]
        raise AttributeError(f"'Context' object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        upper = name.upper()
        if upper in C.ContextOption.__members__:
            self.set(C.ContextOption[upper], value)
            return
        spec = OPTIONS_BY_NAME.get(name.lower())
        if spec is not None:
            self._sockopts[spec.option] = value
            return
        object.__setattr__(self, name, value)

    # -- I/O threads -------------------------------------------------------------------

    def _reactor(self) -> Reactor:
        """An I/O thread for a new listener or connection (started lazily)."""
        with self._lock:
            if self._terminated:
                raise ZMQError(C.ETERM)
            if len(self._reactors) < self._io_threads:
                r = Reactor(f"securemq-io-{len(self._reactors)}")
                self._reactors.append(r)
                return r
            return self._reactors[next(self._rr) % len(self._reactors)]

    # -- inproc ------------------------------------------------------------------------

    def _inproc_bind(self, name: str, sock: Socket) -> None:
        with self._lock:
            if name in self._inproc:
                raise ZMQError(errno.EADDRINUSE)
            self._inproc[name] = sock
            pending = self._inproc_pending.pop(name, [])
        for link in pending:
            self._inproc_complete(link, sock, f"inproc://{name}")

    def _inproc_unbind(self, name: str, sock: Socket) -> None:
        with self._lock:
            if self._inproc.get(name) is sock:
                del self._inproc[name]

    def _inproc_connect(self, name: str, sock: Socket, connect_id: bytes) -> None:
        endpoint = f"inproc://{name}"
        o = sock._opts
        ab, ba = Pipe(o.sndhwm), make_pipe(o.rcvhwm, bool(o.conflate))
        a = Peer(ab, ba, endpoint)
        b = Peer(ba, ab, endpoint)
        a.routing_id = connect_id
        b.metadata = {"socket-type": SOCKET_TYPE_NAMES[sock.socket_type],
                      "identity": o.routing_id}
        link = _InprocLink(a, sock, b, None)
        a.session = b.session = link
        post_a = sock._mailbox.post
        ba.on_readable = lambda: post_a(("read", a))
        ab.on_writable = lambda: post_a(("write", a))
        with self._lock:
            binder = self._inproc.get(name)
            if binder is None:
                self._inproc_pending.setdefault(name, []).append(link)
        sock._inproc_peers.setdefault(name, []).append(a)
        if binder is not None:
            self._inproc_complete(link, binder, endpoint)
        sock._attach(a)

    def _inproc_complete(self, link: _InprocLink, binder: Socket, endpoint: str) -> None:
        """Join a connecting socket's pipes to the socket bound at ``endpoint``."""
        a, b = link.a, link.b
        bo, co = binder._opts, link.a_sock._opts
        if bo.conflate and not isinstance(a.out, ConflatePipe):
            # The binder conflates what it receives: swap in a conflating pipe before
            # anything else can see the old one (messages queued so far move over).
            old = a.out
            a.out = b.inp = ConflatePipe(0)
            if old.q:
                a.out.q.append(old.q[-1])
            a.out.on_writable = old.on_writable
        a.out.hwm = _sum_hwm(co.sndhwm, bo.rcvhwm)
        a.inp.hwm = _sum_hwm(bo.sndhwm, co.rcvhwm)
        for p in (a.out, a.inp):
            p.lwm = (p.hwm + 1) // 2 if p.hwm > 0 else 0
        a.metadata = {"socket-type": SOCKET_TYPE_NAMES[binder.socket_type],
                      "identity": bo.routing_id}
        if not a.routing_id:
            a.routing_id = bo.routing_id
        link.b_sock = binder
        post_b = binder._mailbox.post
        a.out.on_readable = lambda: post_b(("read", b))
        a.inp.on_writable = lambda: post_b(("write", b))
        post_b(("attach", b))
        # Messages queued before the bind: make sure the binder looks at them.
        if a.out.q:
            post_b(("read", b))

    def _inproc_close_peer(self, peer: Peer, linger: int = 0) -> None:
        """Tear down an inproc connection from ``peer``'s side.

        A connecter closed before anyone bound, with messages queued and a non-zero
        ``linger``, leaves its connection pending: the binder, when it comes, reads
        those messages and then sees the connection end (libzmq does the same).
        """
        link = peer.session
        if not isinstance(link, _InprocLink):
            return
        peer.dead = True
        peer.out.close()
        if peer is link.a:
            other, other_sock = link.b, link.b_sock
            if other_sock is None and linger != 0 and peer.out.q:
                link.b.dead = True  # nobody will read what the binder might send back
                return
            with self._lock:
                for links in self._inproc_pending.values():
                    if link in links:
                        links.remove(link)
                        break
        else:
            other, other_sock = link.a, link.a_sock
        if other_sock is not None and not other.dead:
            other.dead = True
            other.out.close()
            try:
                other_sock._mailbox.post(("term", other))
            except OSError:
                pass
