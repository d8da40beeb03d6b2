"""The application-facing socket, compatible with pyzmq's ``zmq.Socket``.

A socket runs its pattern in the calling thread. Non-blocking operations go straight to
the pattern; blocking ones are the same operation retried after waiting on the socket's
mailbox descriptor (STYLE habit 3), which the I/O thread and inproc peers signal only
when a pipe becomes readable or writable. That descriptor is also the ``FD`` option.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import pickle
import random
import select
import socket as _socket
import stat
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from . import constants as C
from .constants import EFSM
from .error import Again, ContextTerminated, ZMQBindError, ZMQError
from .frame import Frame
from .iothread.engine import Engine, IOConfig, Listener, Owner, Session
from .monitor import SocketMonitor
from .options import OPTIONS_BY_NAME, Options
from .patterns.base import Pattern
from .patterns.pair import Pair
from .patterns.pipeline import Pull, Push
from .patterns.pubsub import Pub, Sub, XPub, XSub, not_subscribable
from .patterns.reqrep import Dealer, Rep, Req, Router
from .patterns.stream import Stream
from .pipe import Message, Peer
from .security.base import HandshakeConfig
from .transport import endpoint as ep
from .transport.tlsconfig import TlsSource, build_settings
from .wakeup import Mailbox

if TYPE_CHECKING:
    from .context import Context

_PATTERNS: dict[int, Callable[[Options], Pattern]] = {
    C.PAIR: Pair, C.PUSH: Push, C.PULL: Pull, C.REQ: Req, C.REP: Rep,
    C.DEALER: Dealer, C.ROUTER: Router, C.STREAM: Stream, C.PUB: Pub, C.SUB: Sub, C.XPUB: XPub,
    C.XSUB: XSub,
}
_NOT_YET: set[int] = set()

# Plain ints: an IntFlag operation costs a microsecond, too much for every send.
_DONTWAIT = int(C.DONTWAIT)
_SNDMORE = int(C.SNDMORE)
_POLLIN = int(C.POLLIN)
_POLLOUT = int(C.POLLOUT)
_AGAIN = Again()
#: A receiver reads its connections itself while waiting only if it has this few.
_MAX_BORROW = 8


def _as_frame(data: Any) -> bytes | memoryview:
    """Check a frame given to ``send``: bytes-like or :class:`Frame`, never ``str``."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, Frame):
        return data.bytes
    if isinstance(data, str):
        raise TypeError("str is not allowed for send; use send_string or encode it")
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    try:
        return bytes(memoryview(data))
    except TypeError:
        raise TypeError(f"expected a bytes-like object, not {type(data).__name__}") from None


class _OptionAttribute:
    """A socket option read and written as an attribute (``sock.linger = 0``).

    Options are descriptors on the class rather than a ``__getattr__`` hook: CPython
    looks up every attribute of a class with such a hook the slow way, the socket's
    own ones included, and that cost 0.4 µs on each ``send`` and ``recv``.
    """

    __slots__ = ("option",)

    def __init__(self, option: int) -> None:
        self.option = option

    def __get__(self, sock: Socket | None, owner: type | None = None) -> Any:
        if sock is None:
            return self
        return sock.getsockopt(self.option)

    def __set__(self, sock: Socket, value: Any) -> None:
        sock.setsockopt(self.option, value)


class _MethodOption(_OptionAttribute):
    """``subscribe`` and ``unsubscribe``: a method when read, the option when assigned.

    pyzmq takes both ``sock.subscribe(b"t")`` and ``sock.subscribe = b"t"``.
    """

    __slots__ = ("method",)

    def __init__(self, option: int, method: Callable[..., Any]) -> None:
        super().__init__(option)
        self.method = method

    def __get__(self, sock: Socket | None, owner: type | None = None) -> Any:
        return self.method if sock is None else self.method.__get__(sock, owner)


class Socket:
    """A ZeroMQ socket of one type, created by :meth:`Context.socket`.

    Options can be read and written with :meth:`setsockopt`/:meth:`getsockopt`,
    :meth:`set`/:meth:`get`, or as attributes in lower or upper case
    (``sock.linger = 0``, ``sock.LINGER``). A misspelt option name is an
    ``AttributeError``, not a new attribute: the socket has slots, no ``__dict__``.
    """

    __slots__ = ("__weakref__", "_ahead", "_closed", "_ctx_term", "_inproc_binds",
                 "_inproc_peers", "_last_endpoint", "_lent", "_listeners", "_mailbox",
                 "_monitor", "_monitor_socket", "_next_connect_id", "_opts", "_owner",
                 "_pattern", "_rx", "_rx_i", "_rx_peer", "_sessions", "_tls_sources", "_tx",
                 "context", "socket_type")
    context: Context
    socket_type: int

    if TYPE_CHECKING:
        # Option attributes are installed on the class at import (_OptionAttribute):
        # tell type checkers that any name may be one.
        def __getattr__(self, name: str) -> Any: ...
        def __setattr__(self, name: str, value: Any) -> None: ...

    def __init__(self, context: Context, socket_type: int) -> None:
        if socket_type in _NOT_YET:
            raise ZMQError(errno.ENOTSUP, f"socket type {socket_type} is not available yet")
        factory = _PATTERNS.get(socket_type)
        if factory is None:
            raise ZMQError(errno.EINVAL, f"invalid socket type: {socket_type!r}")
        self.context = context
        self.socket_type = C.SocketType(socket_type)
        self._opts = Options(socket_type)
        self._mailbox = Mailbox()
        self._pattern = factory(self._opts)
        self._ahead = self._pattern.ahead
        self._closed = False
        self._ctx_term = False
        self._tx: list[Any] = []
        # Engines whose borrow outlived our last wait for input (see _wait_reading).
        self._lent: list[Engine] = []
        self._rx: Message | None = None
        self._rx_i = 0
        self._rx_peer: Peer | None = None
        self._listeners: dict[str, Listener] = {}
        self._sessions: dict[str, list[Session]] = {}
        self._inproc_binds: list[str] = []
        self._inproc_peers: dict[str, list[Peer]] = {}
        #: The TLS settings of each tls+tcp bind and connect, for reload_tls().
        self._tls_sources: list[TlsSource] = []
        self._last_endpoint = b""
        self._next_connect_id = b""
        self._owner = Owner(self._mailbox.post, self._emit, context._count_session,
                            context._zap_client, context._zap_handler_bound,
                            context._admit)
        self._monitor: SocketMonitor | None = None
        self._monitor_socket: Socket | None = None
        for opt, value in context._sockopts.items():
            try:
                self.setsockopt(opt, value)
            except ZMQError:
                pass

    # -- options ----------------------------------------------------------------------

    def setsockopt(self, option: int, value: Any) -> None:
        """Set a socket option (libzmq ``zmq_setsockopt``).

        Raises:
            ZMQError: EINVAL for an unknown option or a bad value.
            TypeError: a value of the wrong type (``str`` for a bytes option).
        """
        self._check_open()
        if option in (C.SUBSCRIBE, C.UNSUBSCRIBE):
            pattern = self._pattern
            manual = type(pattern) is XPub and self._opts.xpub_manual
            if type(pattern) is not Sub and not manual:
                raise not_subscribable()
            if isinstance(value, str):
                raise TypeError("unicode not allowed, use setsockopt_string")
            if not isinstance(value, (bytes, bytearray, memoryview)):
                raise TypeError(f"expected bytes, not {type(value).__name__}")
            if self._mailbox.q:
                self._process()
            if isinstance(pattern, XPub):
                pattern.manual(option == C.SUBSCRIBE, bytes(value))
            elif isinstance(pattern, Sub):
                if option == C.SUBSCRIBE:
                    pattern.subscribe(bytes(value))
                else:
                    pattern.unsubscribe(bytes(value))
            return
        if option == C.CONNECT_ROUTING_ID:
            if not isinstance(value, bytes):
                raise TypeError("connect_routing_id must be bytes")
            if not 0 < len(value) <= 255:
                raise ZMQError(errno.EINVAL)
            self._next_connect_id = value
            return
        if option == getattr(C, "HWM", -1):
            self.set_hwm(value)
            return
        self._opts.set(option, value)
        if option == C.INVERT_MATCHING:
            self._pattern.matching_changed()

    def getsockopt(self, option: int) -> Any:
        """Read a socket option (libzmq ``zmq_getsockopt``).

        Raises:
            ZMQError: EINVAL for an unknown or write-only option.
        """
        self._check_open()
        if option == C.TYPE:
            return int(self.socket_type)
        if option == C.RCVMORE:
            return int(self._rx is not None)
        if option == C.FD:
            return self._mailbox.fileno()
        if option == C.EVENTS:
            return self._events()
        if option == C.LAST_ENDPOINT:
            return self._last_endpoint
        if option == getattr(C, "THREAD_SAFE", -1):
            return 0
        if option == C.TOPICS_COUNT and self.socket_type in _PUBSUB_TYPES:
            # libzmq's draft option: distinct topics a publisher's peers hold, or the
            # subscriptions a subscriber holds.
            return len(self._pattern.index)  # type: ignore[attr-defined]
        return self._opts.get(option)

    set = setsockopt
    get = getsockopt

    def setsockopt_string(self, option: int, value: str, encoding: str = "utf-8") -> None:
        """Set a bytes option from ``str``."""
        self.setsockopt(option, value.encode(encoding))

    def getsockopt_string(self, option: int, encoding: str = "utf-8") -> str:
        """Read a bytes option as ``str``."""
        value = self.getsockopt(option)
        if isinstance(value, str):
            return value
        if not isinstance(value, bytes):
            raise TypeError("option is not a bytes option")
        return value.decode(encoding)

    set_string = setsockopt_string
    get_string = getsockopt_string

    def subscribe(self, topic: str | bytes) -> None:
        """Subscribe to messages starting with ``topic`` (a SUB socket)."""
        if isinstance(topic, str):
            topic = topic.encode("utf-8")
        self.setsockopt(C.SUBSCRIBE, topic)

    def unsubscribe(self, topic: str | bytes) -> None:
        """Remove one subscription to ``topic`` (a SUB socket)."""
        if isinstance(topic, str):
            topic = topic.encode("utf-8")
        self.setsockopt(C.UNSUBSCRIBE, topic)

    def set_hwm(self, value: int) -> None:
        """Set both the send and receive high-water marks."""
        self.setsockopt(C.SNDHWM, value)
        self.setsockopt(C.RCVHWM, value)

    def get_hwm(self) -> int:
        """The send high-water mark (pyzmq's ``hwm`` reads it)."""
        return int(self.getsockopt(C.SNDHWM))

    hwm = property(get_hwm, set_hwm)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._closed

    @property
    def type(self) -> int:
        """The socket type."""
        return self.socket_type

    def fileno(self) -> int:
        """The ``FD`` option, so that sockets can be given to ``select`` and selectors."""
        return self._mailbox.fileno()

    # -- state ------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ZMQError(errno.ENOTSOCK)

    def _check_usable(self) -> None:
        if self._closed:
            raise ZMQError(errno.ENOTSOCK)
        if self._ctx_term:
            raise ContextTerminated()

    def _process(self) -> None:
        """Apply what the I/O thread and inproc peers told us."""
        pattern = self._pattern
        for cmd in self._mailbox.drain():
            kind = cmd[0]
            if kind == "read":
                if cmd[1].attached:
                    pattern.read_activated(cmd[1])
            elif kind == "write":
                if cmd[1].attached:
                    pattern.write_activated(cmd[1])
            elif kind == "attach":
                self._attach(cmd[1])
            elif kind == "ready":
                pattern.ready(cmd[1])
            elif kind == "term":
                peer = cmd[1]
                pattern.terminated(peer)
            elif kind == "ctx_term":
                self._ctx_term = True

    def _attach(self, peer: Peer) -> None:
        session = peer.session
        if isinstance(session, Session):
            # Wire the wake-ups before the pattern sees the peer: a pattern may put the
            # inbound pipe to sleep at once, and the next message must then reach us.
            self._wire(peer, session)
        if self._pattern.attach(peer):
            peer.attached = True
            if self._opts.probe_router and not peer.probe_sent:
                # ZMQ_PROBE_ROUTER: an empty message goes first to every new peer.
                peer.probe_sent = True
                peer.out.write([b""])
        else:
            peer.dead = True
            peer.out.close()
            if isinstance(session, Session):
                session.reactor.call_soon_threadsafe(session.close, 0)
            elif session is not None:
                self.context._inproc_close_peer(peer)
            return
        # Messages that arrived before we attached: look at them now.
        if peer.inp.q:
            self._pattern.read_activated(peer)

    def _wire(self, peer: Peer, session: Session) -> None:
        """Route a tcp/ipc peer's pipe wake-ups to our mailbox."""
        mailbox = self._mailbox
        post = mailbox.post
        # The inbound pipe's writer is usually the I/O thread: let it wake us when it is
        # about to sleep rather than in the middle of its work (see Reactor.defer). A
        # borrowed read (see _wait_reading) runs in our own thread and posts at once.
        reactor = session.reactor
        defer = reactor.defer
        io_ident = reactor.ident
        q_append = mailbox.q.append

        def on_readable() -> None:
            if threading.get_ident() == io_ident:
                defer(post, ("read", peer))
            else:
                q_append(("read", peer))  # our own thread: nobody to wake

        peer.inp.on_readable = on_readable
        peer.out.on_writable = lambda: post(("write", peer))

    def _wait_reading(self, deadline: float | None) -> None:
        """Wait for input, reading our tcp/ipc connections in this thread meanwhile.

        Rather than sleep until the I/O thread has read a message and woken us (a
        thread hand-off that costs CPython tens of microseconds), a receiver with few
        connections borrows them (see ``Engine.borrow``) and polls them together with
        its mailbox. Falls back to :meth:`_wait` when that is not possible.
        """
        engines: list[Engine] = []
        for peer in self._pattern.peers:
            session = peer.session
            if isinstance(session, Session):
                engine = session.engine
                if engine is not None and engine.reactor.can_borrow:
                    engines.append(engine)
        if not engines or len(engines) > _MAX_BORROW or self._mailbox.q or self._ctx_term:
            self._wait(deadline)
            return
        mailbox = self._mailbox
        poller = select.poll()
        poller.register(mailbox.fileno(), select.POLLIN)
        by_fd: dict[int, Engine] = {}
        try:
            for engine in engines:
                if engine.borrow():
                    by_fd[engine.fd] = engine
                    poller.register(engine.fd, select.POLLIN)
            if not by_fd:
                self._wait(deadline)
                return
            self._owner.direct = True
            if not mailbox.q:
                if deadline is None:
                    ms = -1
                else:
                    ms = int((deadline - time.monotonic()) * 1000 + 0.999)
                    if ms <= 0:
                        raise _AGAIN.with_traceback(None)
                for fd, _ in poller.poll(ms):
                    engine = by_fd.get(fd)
                    if engine is not None:
                        engine.read_borrowed()
        finally:
            for engine in by_fd.values():
                engine.give_back()
            # The borrows linger for the next receive; any other kind of wait gives
            # them back first (see _return_lent).
            self._lent = list(by_fd.values())
        self._process()
        if self._ctx_term:
            raise ContextTerminated()

    def _return_lent(self) -> None:
        """Hand lingering borrows back to the I/O thread before waiting without them:
        a poller or a blocked send relies on the I/O thread to read our input."""
        for engine in self._lent:
            engine.reclaim()
        self._lent = []

    def _wait(self, deadline: float | None) -> None:
        """Block until the mailbox is signalled or ``deadline`` passes, then process it.

        Raises:
            Again: the deadline passed.
            ContextTerminated: the context was terminated meanwhile.
        """
        if self._mailbox.q:
            self._process()
            if self._ctx_term:
                raise ContextTerminated()
            return
        if self._ctx_term:
            raise ContextTerminated()
        timeout = None if deadline is None else deadline - time.monotonic()
        if timeout is not None and timeout <= 0:
            raise _AGAIN.with_traceback(None)
        if self._lent:
            # Only now that we sleep: a mailbox that merely had something in it must
            # not end the borrows of a receive loop.
            self._return_lent()
        self._owner.direct = True  # we waited: the next send is latency-bound
        self._mailbox.wait(timeout)
        self._process()
        if self._ctx_term:
            raise ContextTerminated()

    @staticmethod
    def _deadline(timeout_ms: int) -> float | None:
        return None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000

    def _events(self, mask: int = _POLLIN | _POLLOUT) -> int:
        """The ``EVENTS`` bits among ``mask`` (only those asked for are computed)."""
        if self._lent:
            self._return_lent()  # whoever asks is about to wait on our descriptor
        if self._mailbox.q:
            self._process()
        ev = 0
        if mask & _POLLIN and (self._rx is not None or self._pattern.can_recv()):
            ev |= _POLLIN
        if mask & _POLLOUT and self._pattern.can_send():
            ev |= _POLLOUT
        return ev

    def poll(self, timeout: int | None = None, flags: int = _POLLIN) -> int:
        """Wait up to ``timeout`` ms (None: forever) for ``flags`` events; return them."""
        self._check_usable()
        deadline = None if timeout is None or timeout < 0 else time.monotonic() + timeout / 1000
        flags = int(flags)
        while True:
            ev = self._events(flags)
            if ev:
                return ev
            try:
                self._wait(deadline)
            except Again:
                return 0

    # -- sending ----------------------------------------------------------------------

    def send(self, data: Any, flags: int = 0, copy: bool = True, track: bool = False,
             routing_id: int | None = None, group: str | None = None) -> Any:
        """Send one frame; with ``SNDMORE`` it is held until the message's last frame.

        Raises:
            Again: ``DONTWAIT`` (or ``sndtimeo``) and the message cannot be queued.
            ZMQError: EFSM (REQ/REP order), ENOTSUP (socket cannot send), EHOSTUNREACH
                (ROUTER_MANDATORY), ENOTSOCK (closed), ETERM.
        """
        if self._closed or self._ctx_term:
            self._check_usable()
        frame = data if type(data) is bytes else _as_frame(data)
        if flags:
            flags = int(flags)
        if flags & _SNDMORE:
            if not self._tx:
                if self._mailbox.q:
                    self._process()
                self._check_first(frame, flags)
            self._tx.append(frame)
            return _TRACKER if track else None
        if self._tx:
            msg = self._tx
            msg.append(frame)
            self._tx = []
            try:
                self._send_msg(msg, flags)
            except Again:
                msg.pop()
                self._tx = msg
                raise
        else:
            # _send_msg, inlined: the hot path of every sender.
            msg = [frame]
            if self._mailbox.q:
                self._process()
            try:
                self._pattern.send(msg)
            except Again:
                self._send_waiting(msg, flags)
        return _TRACKER if track else None

    def _check_first(self, frame: Any, flags: int) -> None:
        """Errors libzmq reports on a message's first frame rather than its last."""
        pattern = self._pattern
        if isinstance(pattern, Router):
            pattern.check_route(frame)
        elif isinstance(pattern, Req):
            if pattern.receiving and not self._opts.req_relaxed:
                raise ZMQError(EFSM)
        elif isinstance(pattern, Rep) and not pattern.sending:
            raise ZMQError(EFSM)

    def _send_msg(self, msg: Message, flags: int) -> None:
        if self._mailbox.q:
            self._process()
        try:
            self._pattern.send(msg)
        except Again:
            self._send_waiting(msg, flags)

    def _send_waiting(self, msg: Message, flags: int) -> None:
        """No room for ``msg`` at once: wait as ``flags`` and ``sndtimeo`` allow."""
        timeo = self._opts.sndtimeo
        if flags & _DONTWAIT or timeo == 0:
            raise _AGAIN.with_traceback(None)
        deadline = self._deadline(timeo)
        pattern = self._pattern
        while True:
            self._wait(deadline)
            try:
                pattern.send(msg)
                return
            except Again:
                continue

    def send_multipart(self, msg_parts: Sequence[Any], flags: int = 0, copy: bool = True,
                       track: bool = False, **kwargs: Any) -> Any:
        """Send a whole message at once: every frame but the last gets ``SNDMORE``."""
        self._check_usable()
        if not msg_parts:
            raise ZMQError(errno.EINVAL, "a message needs at least one frame")
        frames = [p if type(p) is bytes else _as_frame(p) for p in msg_parts]
        if self._tx:
            frames = self._tx + frames
            self._tx = []
        elif len(frames) > 1:
            if self._mailbox.q:
                self._process()
            self._check_first(frames[0], flags)
        self._send_msg(frames, flags & ~_SNDMORE)
        return _TRACKER if track else None

    def send_string(self, u: str, flags: int = 0, copy: bool = True,
                    encoding: str = "utf-8", **kwargs: Any) -> Any:
        """Send ``u`` encoded (UTF-8 by default)."""
        if not isinstance(u, str):
            raise TypeError("send_string requires str")
        return self.send(u.encode(encoding), flags=flags, copy=copy, **kwargs)

    send_unicode = send_string

    def send_json(self, obj: Any, flags: int = 0, **kwargs: Any) -> Any:
        """Send ``obj`` serialised as JSON."""
        send_kwargs = {k: kwargs.pop(k) for k in ("routing_id", "group") if k in kwargs}
        return self.send(json.dumps(obj, **kwargs).encode("utf-8"), flags=flags,
                         **send_kwargs)

    def send_pyobj(self, obj: Any, flags: int = 0, protocol: int = pickle.DEFAULT_PROTOCOL,
                   **kwargs: Any) -> Any:
        """Send ``obj`` pickled. Only unpickle what trusted peers send."""
        return self.send(pickle.dumps(obj, protocol), flags=flags, **kwargs)

    def send_serialized(self, msg: Any, serialize: Callable[[Any], list[bytes]],
                        flags: int = 0, copy: bool = True, **kwargs: Any) -> Any:
        """Send ``serialize(msg)`` as a multipart message."""
        return self.send_multipart(serialize(msg), flags=flags, copy=copy, **kwargs)

    # -- receiving --------------------------------------------------------------------

    def _recv_msg(self, flags: int) -> Message:
        if self._mailbox.q:
            self._process()
        pattern = self._pattern
        try:
            msg = pattern.recv()
        except Again:
            msg = self._recv_waiting(pattern, flags)
        if pattern.replies:
            self._expect_reply(pattern)
        return msg

    def _expect_reply(self, pattern: Pattern) -> None:
        """Having received the last message waiting from that peer, the next send is
        likely a reply someone waits for: let it be written from this thread (see
        Engine._kick). With more input queued we are in a burst: let the I/O thread
        batch the replies instead."""
        peer = pattern.last_peer
        self._owner.direct = peer is None or not peer.inp.q

    def _recv_waiting(self, pattern: Pattern, flags: int) -> Message:
        """Nothing to receive at once: wait as ``flags`` and ``rcvtimeo`` allow."""
        timeo = self._opts.rcvtimeo
        if flags & _DONTWAIT or timeo == 0:
            raise _AGAIN.with_traceback(None)
        deadline = self._deadline(timeo)
        while True:
            self._wait_reading(deadline)
            try:
                return pattern.recv()
            except Again:
                continue

    def recv(self, flags: int = 0, copy: bool = True, track: bool = False) -> Any:
        """Receive one frame: ``bytes``, or a :class:`Frame` with ``copy=False``.

        Raises:
            Again: ``DONTWAIT`` (or ``rcvtimeo``) and nothing arrived.
            ZMQError: EFSM (REQ/REP order), ENOTSUP (socket cannot receive), ETERM.
        """
        if self._closed or self._ctx_term:
            self._check_usable()
        rx = self._rx
        if rx is None:
            ahead = self._ahead
            if ahead:
                # Taken from a pipe by the last pattern.recv (FairQueue.read_ahead).
                msg = ahead.popleft()
            else:
                # _recv_msg, inlined: the hot path of every receiver.
                if self._mailbox.q:
                    self._process()
                pattern = self._pattern
                try:
                    msg = pattern.recv()
                except Again:
                    msg = self._recv_waiting(pattern, flags)
                if pattern.replies:
                    self._expect_reply(pattern)
            if len(msg) == 1:
                frame = msg[0]
                if copy:
                    return frame if type(frame) is bytes else bytes(frame)
                return Frame(frame, more=False, peer=self._pattern.last_peer)
            self._rx = rx = msg
            self._rx_i = 0
            self._rx_peer = self._pattern.last_peer
        i = self._rx_i
        frame = rx[i]
        more = i + 1 < len(rx)
        if more:
            self._rx_i = i + 1
        else:
            self._rx = None
        if copy:
            return frame if type(frame) is bytes else bytes(frame)
        return Frame(frame, more=more, peer=self._rx_peer)

    def recv_multipart(self, flags: int = 0, copy: bool = True,
                       track: bool = False) -> list[Any]:
        """Receive every frame of the next message (or the rest of the current one)."""
        if self._closed or self._ctx_term:
            self._check_usable()
        if self._rx is not None:
            msg = self._rx[self._rx_i:]
            self._rx = None
            peer = self._rx_peer
        else:
            msg = self._recv_msg(flags)
            peer = self._pattern.last_peer
        if copy:
            return [f if type(f) is bytes else bytes(f) for f in msg]
        last = len(msg) - 1
        return [Frame(f, more=i < last, peer=peer) for i, f in enumerate(msg)]

    def recv_string(self, flags: int = 0, encoding: str = "utf-8") -> str:
        """Receive a frame and decode it (UTF-8 by default)."""
        return bytes(self.recv(flags=flags)).decode(encoding)

    recv_unicode = recv_string

    def recv_json(self, flags: int = 0, **kwargs: Any) -> Any:
        """Receive a frame and parse it as JSON."""
        return json.loads(self.recv(flags=flags), **kwargs)

    def recv_pyobj(self, flags: int = 0) -> Any:
        """Receive a frame and unpickle it. Never use this with untrusted peers."""
        return pickle.loads(self.recv(flags=flags))  # noqa: S301 - pyzmq API, documented

    def recv_serialized(self, deserialize: Callable[[list[Any]], Any], flags: int = 0,
                        copy: bool = True) -> Any:
        """Receive a multipart message and return ``deserialize(frames)``."""
        return deserialize(self.recv_multipart(flags=flags, copy=copy))

    # -- endpoints --------------------------------------------------------------------

    def _io_config(self) -> IOConfig:
        """Freeze the options the I/O side needs.

        Raises:
            ZMQError: EINVAL for PLAIN or CURVE options that cannot make a handshake
                (a CURVE client without the server's key, say), which libzmq would only
                discover as failed handshakes.
        """
        o = self._opts
        strict = self.context.strict
        handshake_ivl = o.handshake_ivl
        if strict:
            # Strict mode: an unauthenticated peer gets at most 5 s to prove itself.
            handshake_ivl = min(handshake_ivl, 5000) if handshake_ivl > 0 else 5000
        return IOConfig(
            socket_type=self.socket_type, sndhwm=o.sndhwm, rcvhwm=o.rcvhwm,
            routing_id=o.routing_id, maxmsgsize=o.maxmsgsize,
            handshake_ivl=handshake_ivl, reconnect_ivl=o.reconnect_ivl,
            reconnect_ivl_max=o.reconnect_ivl_max, reconnect_stop=o.reconnect_stop,
            immediate=bool(o.immediate),
            conflate=bool(o.conflate), linger=o.linger, sndbuf=o.sndbuf, rcvbuf=o.rcvbuf,
            tcp_keepalive=o.tcp_keepalive, ipv6=bool(o.ipv6), backlog=o.backlog,
            probe_router=bool(o.probe_router), metadata=dict(o.metadata),
            heartbeat_ivl=o.heartbeat_ivl, heartbeat_ttl=o.heartbeat_ttl,
            heartbeat_timeout=o.heartbeat_timeout, mechanism=int(o.mechanism),
            handshake=self._handshake_config(strict),
            max_handshakes=64 if strict else 0, stream_notify=bool(o.stream_notify),
        )

    def _check_cleartext(self, e: ep.Endpoint) -> None:
        """Strict mode: PLAIN sends passwords in clear, so only over loopback or ipc.

        Raises:
            ZMQError: EACCES for a PLAIN socket on a TCP endpoint that is not loopback.
        """
        if not self.context.strict or self._opts.mechanism != C.SecurityMechanism.PLAIN:
            return
        if e.transport == "tcp" and not _is_loopback(e.address):
            raise ZMQError(errno.EACCES, "strict mode: PLAIN over TCP only on loopback "
                           "(passwords travel in clear); use ipc, or CURVE")

    def _handshake_config(self, strict: bool) -> HandshakeConfig:
        o = self._opts
        mechanism = o.mechanism
        as_server = bool(o.as_server)
        if mechanism == C.SecurityMechanism.CURVE:
            if not C.has("curve"):
                raise ZMQError(errno.ENOTSUP, "CURVE needs PyNaCl: pip install pynacl")
            needed = ["curve_secretkey"] if as_server else \
                ["curve_publickey", "curve_secretkey", "curve_serverkey"]
            missing = [name for name in needed if len(getattr(o, name)) != 32]
            if missing:
                role = "server" if as_server else "client"
                raise ZMQError(errno.EINVAL,
                               f"a CURVE {role} needs {', '.join(missing)} (32 bytes or Z85)")
        return HandshakeConfig(
            self.socket_type, o.routing_id, dict(o.metadata), as_server=as_server,
            zap_domain=o.zap_domain, zap_enforce_domain=bool(o.zap_enforce_domain),
            strict=strict, plain_username=o.plain_username,
            plain_password=o.plain_password, curve_publickey=o.curve_publickey,
            curve_secretkey=o.curve_secretkey, curve_serverkey=o.curve_serverkey,
        )

    def bind(self, addr: str) -> _EndpointContext:
        """Accept connections on ``addr`` (``tcp://``, ``ipc://`` or ``inproc://``).

        The result may be used as a context manager that unbinds on exit.

        Raises:
            ZMQError: EINVAL (malformed), EPROTONOSUPPORT (unknown transport),
                EADDRINUSE, EADDRNOTAVAIL, ENODEV (unknown interface), ETERM, ENOTSOCK.
        """
        self._check_usable()
        e = ep.parse(addr, bind=True)
        if e.transport == "inproc":
            self.context._inproc_bind(e.address, self)
            self._inproc_binds.append(e.address)
            self._last_endpoint = addr.encode()
            return _EndpointContext(self, addr, bind=True)
        self._check_cleartext(e)
        cfg = self._io_config()
        if e.transport == "tls+tcp":
            cfg = self._tls_config(cfg, e, server_side=True)
        try:
            if e.transport == "ipc":
                sock, resolved = _bind_ipc(e.address, cfg.backlog)
            else:
                sock, resolved = _bind_tcp(e, cfg)
        except OSError as exc:
            raise ZMQError(exc.errno or errno.EINVAL, f"{addr}: {exc.strerror}") from None
        reactor = self.context._reactor()
        if cfg.tls is not None:
            self._tls_start(cfg.tls, reactor, resolved)
        listener = Listener(reactor, self._owner, cfg, sock, resolved)
        self._listeners[resolved] = listener
        if addr != resolved:
            self._listeners.setdefault(addr, listener)
        self._last_endpoint = resolved.encode()
        reactor.call_soon_threadsafe(listener.start)
        self._emit(C.EVENT_LISTENING, sock.fileno(), resolved)
        return _EndpointContext(self, resolved, bind=True)

    def bind_to_random_port(self, addr: str, min_port: int = 49152, max_port: int = 65536,
                            max_tries: int = 100) -> int:
        """Bind to a random port of ``addr`` and return it.

        Raises:
            ZMQBindError: no free port in ``max_tries`` attempts.
        """
        if min_port == 49152 and max_port == 65536:
            self.bind(f"{addr}:*")
            return int(self._last_endpoint.rsplit(b":", 1)[1])
        for _ in range(max_tries):
            port = random.randrange(min_port, max_port)  # noqa: S311
            try:
                self.bind(f"{addr}:{port}")
            except ZMQError as exc:
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    continue
                raise
            return port
        raise ZMQBindError("Could not bind socket to random port.")

    def connect(self, addr: str) -> _EndpointContext:
        """Connect to ``addr`` in the background, reconnecting as needed.

        The result may be used as a context manager that disconnects on exit.

        Raises:
            ZMQError: EINVAL (malformed), EPROTONOSUPPORT (unknown transport), ETERM,
                ENOTSOCK.
        """
        self._check_usable()
        e = ep.parse(addr, bind=False)
        connect_id, self._next_connect_id = self._next_connect_id, b""
        if e.transport == "inproc":
            self.context._inproc_connect(e.address, self, connect_id)
            self._last_endpoint = addr.encode()
            return _EndpointContext(self, addr, bind=False)
        self._check_cleartext(e)
        cfg = self._io_config()
        if e.transport == "tls+tcp":
            cfg = self._tls_config(cfg, e, server_side=False)
        if e.transport != "ipc":
            # Fail now on what can be known now: a literal IPv6 address without ipv6.
            if ":" in e.address and not cfg.ipv6:
                raise ZMQError(errno.EINVAL, "IPv6 address needs the ipv6 option")
            connector = _tcp_connector(e, cfg)
        else:
            connector = _ipc_connector(e.address)
        reactor = self.context._reactor()
        if cfg.tls is not None:
            self._tls_start(cfg.tls, reactor, addr)
        session = Session(reactor, self._owner, cfg, addr, connect=connector)
        session.preset_id = connect_id
        # Without IMMEDIATE, messages may be queued to a peer that is not connected yet
        # (libzmq behaviour); a ROUTER cannot address it before it says who it is.
        if not cfg.immediate and self.socket_type not in (C.ROUTER, C.STREAM):
            peer = session.peer = session.make_peer()
            self._attach(peer)
        self._sessions.setdefault(addr, []).append(session)
        self._last_endpoint = addr.encode()
        reactor.call_soon_threadsafe(session.start_connecting)
        return _EndpointContext(self, addr, bind=False)

    # -- TLS ------------------------------------------------------------------------------

    def _tls_config(self, cfg: IOConfig, e: ep.Endpoint, server_side: bool) -> IOConfig:
        """Add TLS settings built from the options now (errors surface at bind/connect)."""
        settings = build_settings(self._opts, server_side=server_side, host=e.address)
        source = TlsSource(settings, server_side, e.address)
        return replace(cfg, tls=source)

    def _tls_start(self, source: TlsSource, reactor: Any, endpoint: str) -> None:
        source.reactor = reactor
        source.endpoint = endpoint
        self._tls_sources.append(source)
        source.watch_expiry(self._opts.tls_cert, self._opts.tls_expiry_warning, self._emit)

    def _tls_forget(self, source: TlsSource | None) -> None:
        if source is not None and source in self._tls_sources:
            source.closed = True
            self._tls_sources.remove(source)

    def reload_tls(self) -> None:
        """Re-read the TLS options and files of every ``tls+tcp`` bind and connect.

        For certificate rotation: new connections use the new certificate, key, CAs
        and pins; live connections keep their session, except those whose peer key
        the new ``tls_pins`` no longer names, which are closed. Either every endpoint
        takes the new settings or, on error, none does.

        Raises:
            ZMQError: as :meth:`bind` and :meth:`connect` for a bad TLS setup.
        """
        self._check_usable()
        fresh = [build_settings(self._opts, server_side=src.server_side, host=src.host)
                 for src in self._tls_sources]
        for source, settings in zip(self._tls_sources, fresh, strict=True):
            source.reload(settings)
            source.watch_expiry(self._opts.tls_cert, self._opts.tls_expiry_warning,
                                self._emit)

    def unbind(self, addr: str) -> None:
        """Stop accepting on an endpoint given to :meth:`bind` (or its resolved form).

        Raises:
            ZMQError: ENOENT if the socket is not bound there.
        """
        self._check_usable()
        listener = self._listeners.pop(addr, None)
        if listener is None:
            name = addr.partition("://")[2]
            if addr.startswith("inproc://") and name in self._inproc_binds:
                self._inproc_binds.remove(name)
                self.context._inproc_unbind(name, self)
                return
            raise ZMQError(errno.ENOENT)
        for key in [k for k, v in self._listeners.items() if v is listener]:
            del self._listeners[key]
        self._tls_forget(listener.config.tls)
        listener.reactor.call_soon_threadsafe(listener.close, 0)

    def disconnect(self, addr: str) -> None:
        """Drop the connection(s) made by :meth:`connect` to ``addr``.

        Raises:
            ZMQError: ENOENT if the socket is not connected there.
        """
        self._check_usable()
        sessions = self._sessions.pop(addr, None)
        if sessions is None:
            name = addr.partition("://")[2]
            peers = self._inproc_peers.pop(name, None) if addr.startswith("inproc://") else None
            if not peers:
                raise ZMQError(errno.ENOENT)
            for peer in peers:
                self.context._inproc_close_peer(peer)
                self._forget(peer)
            return
        for s in sessions:
            self._tls_forget(s.config.tls)
            speer = s.peer
            if speer is not None:
                speer.dead = True
                self._forget(speer)
            s.reactor.call_soon_threadsafe(s.close, 0)

    def _forget(self, peer: Peer) -> None:
        """Detach a peer we disconnect from: as libzmq, its queued input is dropped, and
        later wake-ups of its pipes (closing) must not make it readable again."""
        self._pattern.terminated(peer)
        self._pattern.drained(peer)
        peer.attached = False

    # -- closing ----------------------------------------------------------------------

    def close(self, linger: int | None = None) -> None:
        """Close the socket; queued messages are flushed for up to ``linger`` ms.

        Closing twice is harmless. The context's :meth:`~Context.term` waits for the
        flush.
        """
        if self._closed:
            return
        if linger is not None:
            self._opts.linger = int(linger)
        linger_ms = self._opts.linger
        self._closed = True
        for peer in self._pattern.peers:
            peer.out.close()
        for name in self._inproc_binds:
            self.context._inproc_unbind(name, self)
        for peers in self._inproc_peers.values():
            for peer in peers:
                self.context._inproc_close_peer(peer, linger_ms)
        seen: set[int] = set()
        for listener in self._listeners.values():
            if id(listener) not in seen:
                seen.add(id(listener))
                # CLOSED is reported here so that it precedes MONITOR_STOPPED, as in
                # libzmq; the listener itself closes in the I/O thread.
                listener.closed_reported = True
                self._emit(C.EVENT_CLOSED, listener.fd, listener.endpoint)
                listener.reactor.call_soon_threadsafe(listener.close, linger_ms)
        for sessions in self._sessions.values():
            for s in sessions:
                s.reactor.call_soon_threadsafe(s.close, linger_ms)
        self._listeners.clear()
        self._sessions.clear()
        for source in self._tls_sources:
            source.closed = True
        self._tls_sources.clear()
        self.context._socket_closed(self)
        if self._monitor is not None:
            self._monitor.stop()
            self._monitor = None
        self._mailbox.close()

    def __enter__(self) -> Socket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            try:
                self.close()
            except Exception:  # noqa: S110 - best effort at interpreter shutdown
                pass

    def __repr__(self) -> str:
        name = C.SocketType(self.socket_type).name
        state = " closed" if self._closed else ""
        return f"<securemq.Socket({name}){state} at {id(self):#x}>"

    # -- socket monitor ----------------------------------------------------------------

    def monitor(self, addr: str | bytes | None, events: int = C.EVENT_ALL) -> None:
        """Publish this socket's events on a PAIR socket bound at ``addr`` (inproc).

        ``addr`` None stops the monitor (the reader gets MONITOR_STOPPED). A new
        monitor replaces the previous one.

        Raises:
            ZMQError: EPROTONOSUPPORT for an address that is not ``inproc://`` (as
                libzmq), EADDRINUSE if it is taken, ENOTSOCK if closed.
        """
        self._check_usable()
        if isinstance(addr, bytes):
            addr = addr.decode()
        if addr is not None and not addr.startswith("inproc://"):
            raise ZMQError(errno.EPROTONOSUPPORT, "monitor endpoints must be inproc://")
        if self._monitor is not None:
            self._monitor.stop()
            self._monitor = None
        if addr is None:
            return
        # The sending end is internal and used synchronously from any thread, even
        # when the context makes asyncio sockets.
        pair = self.context.socket(C.PAIR, socket_class=Socket)
        try:
            pair.bind(addr)
        except ZMQError:
            pair.close(linger=0)
            raise
        self._monitor = SocketMonitor(pair, int(events))

    def get_monitor_socket(self, events: int | None = None,
                           addr: str | None = None) -> Socket:
        """Start monitoring and return a PAIR socket connected to receive the events.

        Read them with :func:`securemq.utils.monitor.recv_monitor_message`. Calling
        it again returns the same socket while it is open.
        """
        if self._monitor_socket is not None and not self._monitor_socket.closed:
            return self._monitor_socket
        if addr is None:
            addr = f"inproc://monitor.s-{id(self):x}"
        self.monitor(addr, C.EVENT_ALL if events is None else events)
        reader = self.context.socket(C.PAIR)
        reader.connect(addr)
        self._monitor_socket = reader
        return reader

    def disable_monitor(self) -> None:
        """Stop the monitor started by :meth:`get_monitor_socket` or :meth:`monitor`."""
        self._monitor_socket = None
        self.monitor(None, 0)

    def _emit(self, event: int, value: int, endpoint: str) -> None:
        """Report a monitor event (any thread)."""
        monitor = self._monitor
        if monitor is not None:
            monitor.emit(event, value, endpoint)


def _install_option_attributes(cls: type[Socket]) -> None:
    """Give ``cls`` an attribute for each option name, in lower and in upper case."""
    for name, spec in OPTIONS_BY_NAME.items():
        own = cls.__dict__.get(name)
        if own is None:
            attr: Any = _OptionAttribute(spec.option)
        elif callable(own):
            attr = _MethodOption(spec.option, own)
        else:
            attr = own  # a property of ours: hwm, type
        setattr(cls, name, attr)
        setattr(cls, name.upper(), attr)


_install_option_attributes(Socket)


class _EndpointContext:
    """What ``bind``/``connect`` return: ``with sock.bind(url):`` unbinds on exit."""

    __slots__ = ("addr", "bind", "socket")

    def __init__(self, socket: Socket, addr: str, bind: bool) -> None:
        self.socket, self.addr, self.bind = socket, addr, bind

    def __enter__(self) -> Socket:
        return self.socket

    def __exit__(self, *exc: object) -> None:
        if self.socket.closed:
            return
        try:
            if self.bind:
                self.socket.unbind(self.addr)
            else:
                self.socket.disconnect(self.addr)
        except ZMQError:
            pass  # already gone


class MessageTracker:
    """pyzmq's ``MessageTracker``: we copy on send, so a tracked message is always done."""

    done = True

    def wait(self, timeout: float | None = None) -> None:
        """Return at once: the message no longer references the caller's buffer."""


_TRACKER = MessageTracker()


_PUBSUB_TYPES = frozenset({C.PUB, C.XPUB, C.SUB, C.XSUB})


def _bind_tcp(e: ep.Endpoint, cfg: IOConfig) -> tuple[_socket.socket, str]:
    family, sockaddr = ep.resolve_tcp(e, bind=True, ipv6=cfg.ipv6)
    sock = _socket.socket(family, _socket.SOCK_STREAM)
    try:
        sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
        if family == _socket.AF_INET6:
            sock.setsockopt(_socket.IPPROTO_IPV6, _socket.IPV6_V6ONLY, 0)
        sock.bind(sockaddr)
        sock.listen(cfg.backlog)
    except OSError:
        sock.close()
        raise
    return sock, ep.format_tcp(e.transport, sock.getsockname())


def _ipc_address(path: str) -> str:
    # "@name" is a Linux abstract socket: a leading NUL instead of a file.
    return "\0" + path[1:] if path.startswith("@") else path


def _bind_ipc(path: str, backlog: int) -> tuple[_socket.socket, str]:
    if not path.startswith("@") and os.path.lexists(path):
        # Take over a stale socket file left by a dead process, but never clobber a
        # regular file or a socket someone is still listening on.
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise OSError(errno.EADDRINUSE, "path exists and is not a socket")
        probe = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)
        else:
            raise OSError(errno.EADDRINUSE, "another socket is listening on this path")
        finally:
            probe.close()
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.bind(_ipc_address(path))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock, f"ipc://{path}"


def _is_loopback(host: str) -> bool:
    """Whether ``host`` (an endpoint's address part) names only the loopback interface."""
    if host in ("localhost", "lo"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _tcp_connector(e: ep.Endpoint, cfg: IOConfig) -> Callable[[], tuple[_socket.socket, int]]:
    def connect() -> tuple[_socket.socket, int]:
        try:
            family, sockaddr = ep.resolve_tcp(e, bind=False, ipv6=cfg.ipv6)
        except ZMQError as exc:
            raise OSError(exc.errno, str(exc)) from None
        sock = _socket.socket(family, _socket.SOCK_STREAM)
        sock.setblocking(False)
        return sock, sock.connect_ex(sockaddr)
    return connect


def _ipc_connector(path: str) -> Callable[[], tuple[_socket.socket, int]]:
    def connect() -> tuple[_socket.socket, int]:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        sock.setblocking(False)
        return sock, sock.connect_ex(_ipc_address(path))
    return connect
