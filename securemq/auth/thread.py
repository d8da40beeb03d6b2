"""The authenticator in a background thread (pyzmq's ``zmq.auth.thread``).

:class:`ThreadAuthenticator` binds the ZAP socket in the caller's thread (so a bind
error is raised by :meth:`~ThreadAuthenticator.start`, and servers created afterwards
find the handler, as RFC 27 requires), then hands the socket to a daemon thread that
answers requests until :meth:`~ThreadAuthenticator.stop`.

The thread survives whatever a policy does: callbacks that raise are answered 500
by :meth:`~securemq.auth.base.Authenticator.process_request`, and any other failure
while answering one request is logged and the loop goes on. It ends on ``stop()``, or
when the context is terminated (at once, closing its socket so that ``Context.term()``
does not wait for it forever) or destroyed underneath it (within half a second).

Stopping uses a plain socket pair rather than an inproc PAIR as pyzmq does: a wake-up
descriptor is not a securemq socket, so it never holds up ``Context.term()``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from typing import Any

from ..constants import DONTWAIT, POLLIN
from ..context import Context
from ..error import Again, ContextTerminated, ZMQError
from ..poll import Poller
from ..socket import Socket
from .base import Authenticator

__all__ = ["AuthenticationThread", "ThreadAuthenticator"]

#: How long start() waits for the thread, and stop() for it to finish.
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0
#: How often (ms) the idle thread checks that its socket is still open. Context.destroy()
#: closes the socket from another thread, which does not wake a poll already waiting on
#: it (libzmq sockets are not thread-safe either); this bounds how long that goes unseen.
_IDLE_CHECK_MS = 500


class AuthenticationThread(threading.Thread):
    """The thread that answers ZAP requests for a :class:`ThreadAuthenticator`.

    It owns the ZAP socket from the moment it starts: it alone reads, answers and
    finally closes it. Awaitable results of credentials providers are run on an event
    loop private to the thread.
    """

    def __init__(self, authenticator: ThreadAuthenticator, wakeup: socket.socket) -> None:
        super().__init__(name="securemq-zap-handler", daemon=True)
        self.authenticator = authenticator
        self.log = authenticator.log
        self.wakeup = wakeup
        self.started = threading.Event()
        self.stopping = threading.Event()

    def run(self) -> None:
        """Answer requests until told to stop or the context goes away."""
        auth = self.authenticator
        sock = auth.zap_socket
        assert sock is not None
        loop = asyncio.new_event_loop()
        poller = Poller()
        poller.register(sock, POLLIN)
        poller.register(self.wakeup, POLLIN)
        self.started.set()
        try:
            while not self.stopping.is_set():
                try:
                    if not poller.poll(_IDLE_CHECK_MS):
                        # Idle: revoked keys take effect on live sessions too. The next
                        # poll raises ENOTSOCK if the socket was closed meanwhile.
                        try:
                            auth.refresh()
                        except Exception:
                            self.log.exception("refreshing the CURVE key directories")
                        continue
                    msg = sock.recv_multipart(DONTWAIT)
                except Again:
                    continue
                except (ContextTerminated, ZMQError) as exc:
                    if not self.stopping.is_set():
                        self.log.warning("ZAP handler stops: %s", exc)
                    break
                reply = loop.run_until_complete(auth.process_request(msg))
                try:
                    sock.send_multipart(reply)
                except ZMQError as exc:
                    self.log.warning("ZAP handler stops: cannot reply: %s", exc)
                    break
        except Exception:  # a bug of ours: log it, and stop without leaving a socket open
            self.log.exception("ZAP handler thread failed")
        finally:
            if not sock.closed:
                sock.close(linger=0)
            loop.close()
            self.wakeup.close()


class ThreadAuthenticator(Authenticator):
    """An :class:`~securemq.auth.base.Authenticator` answering from a daemon thread.

    Typical use, as with pyzmq::

        auth = ThreadAuthenticator(ctx)
        auth.start()
        auth.allow("127.0.0.1")
        auth.configure_curve(domain="*", location="public_keys")
        ...
        auth.stop()

    It is also a context manager (``with ThreadAuthenticator(ctx) as auth:``).
    Configuration calls may come from any thread while it runs.

    Args:
        context: the context whose servers to serve (default: ``Context.instance()``).
        encoding: how domains, addresses and user names are decoded.
        log: the logger for operational messages (default ``securemq.auth``).
        **kwargs: keyword options of :class:`~securemq.auth.base.Authenticator`
            (``clock``, ``rate_limit``, ``audit_log``, ``curve_reload_interval``).
    """

    thread: AuthenticationThread | None

    def __init__(self, context: Context | None = None, encoding: str = "utf-8",
                 log: logging.Logger | None = None, **kwargs: Any) -> None:
        super().__init__(context, encoding, log, **kwargs)
        self.thread = None
        self._wake: socket.socket | None = None

    def start(self) -> None:
        """Bind the ZAP socket and start answering in the background.

        Raises:
            RuntimeError: already running, or the thread did not start.
            ZMQError: EADDRINUSE if another handler is bound in this context.
        """
        if self.is_alive():
            raise RuntimeError("the authenticator is already running")
        # The thread blocks on its own socket, so it is a synchronous one even in an
        # asyncio context (whose sockets' recv would return coroutines).
        self._bind_zap_socket(Socket)
        wake, thread_end = socket.socketpair()
        wake.setblocking(False)
        self._wake = wake
        self.thread = AuthenticationThread(self, thread_end)
        self.thread.start()
        if not self.thread.started.wait(_START_TIMEOUT):
            raise RuntimeError("the authentication thread did not start")

    def stop(self) -> None:
        """Stop the thread and wait for it; servers then see no handler (idempotent)."""
        thread, self.thread = self.thread, None
        wake, self._wake = self._wake, None
        if thread is not None:
            thread.stopping.set()
            if wake is not None:
                try:
                    wake.send(b"x")
                except OSError:
                    pass  # the thread is gone already: nothing to wake
            thread.join(_STOP_TIMEOUT)
            if thread.is_alive():
                # A policy callback that never returns: the socket stays with the thread.
                self.log.error("the ZAP handler thread did not stop within %.0f s",
                               _STOP_TIMEOUT)
                self.zap_socket = None
        if wake is not None:
            wake.close()
        super().stop()

    def is_alive(self) -> bool:
        """Whether the handler thread is running."""
        return self.thread is not None and self.thread.is_alive()
