"""The asyncio flavour of the authenticator, as pyzmq's ``zmq.auth.asyncio``."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from ..asyncio import Socket as AsyncSocket
from ..constants import POLLIN
from ..error import ZMQError
from .base import Authenticator

__all__ = ["AsyncioAuthenticator"]

#: How often (ms) an idle handler looks at its CURVE key directories (revocation).
_IDLE_CHECK_MS = 500


class AsyncioAuthenticator(Authenticator):
    """An :class:`~securemq.auth.base.Authenticator` answering from an asyncio task.

    Same policies as the thread flavour; ``start()`` must be called with an event loop
    running (the task is created on it), and requests are answered on that loop.
    Policy callbacks may be coroutines.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Bind the ZAP socket and start answering on the running loop.

        Raises:
            RuntimeError: no running event loop, or already started.
            ZMQError: EADDRINUSE if another handler is bound in this context.
        """
        if self._task is not None and not self._task.done():
            raise RuntimeError("the authenticator is already running")
        loop = asyncio.get_running_loop()
        sock = self._bind_zap_socket(AsyncSocket)
        assert isinstance(sock, AsyncSocket)
        self._task = loop.create_task(self._serve(sock))

    async def _serve(self, sock: AsyncSocket) -> None:
        while True:
            try:
                if not await sock.poll(_IDLE_CHECK_MS, POLLIN):
                    self.refresh()
                    continue
                msg = await sock.recv_multipart()
                reply = await self.process_request(msg)
                await sock.send_multipart(reply)
            except ZMQError as exc:
                self.log.warning("ZAP handler stops: %s", exc)
                return
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug of ours: log it and go on serving
                self.log.exception("ZAP handler failed on a request")

    def stop(self) -> None:
        """Stop answering and close the ZAP socket (idempotent)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        with contextlib.suppress(ZMQError):
            super().stop()

    def is_alive(self) -> bool:
        """Whether the handler task is running."""
        return self._task is not None and not self._task.done()
