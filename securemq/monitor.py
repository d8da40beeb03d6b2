"""The socket monitor: events sent as libzmq sends them, on an inproc PAIR socket.

Each event is a two-frame message, as ``zmq_socket_monitor`` (v1) defines it: six octets
holding the event number (16 bits) and its value (32 bits) in native byte order, then the
endpoint. The value is a descriptor, an errno, a ZAP status, a protocol error code or an
interval, depending on the event.

Events come from two threads: the application thread (``bind``, ``close``) and the I/O
thread (connections). libzmq sends from whichever thread saw the event, under a mutex,
and so do we: an event is on the monitor socket as soon as it happens, without waiting
for the application to call into the monitored socket.
"""

from __future__ import annotations

import logging
import struct
import threading
from typing import TYPE_CHECKING

from .constants import DONTWAIT, Event
from .error import ZMQError

if TYPE_CHECKING:
    from .socket import Socket

log = logging.getLogger("securemq.monitor")

_HEADER = struct.Struct("=HI")


class SocketMonitor:
    """Sends one socket's events to the PAIR socket bound at the monitor address.

    Args:
        pair: the PAIR socket, already bound; owned (and closed) by the monitor.
        events: the mask of events to send.
    """

    def __init__(self, pair: Socket, events: int) -> None:
        self._pair: Socket | None = pair
        self.events = events
        self._lock = threading.Lock()

    def emit(self, event: int, value: int, endpoint: str) -> None:
        """Send ``event`` if it is in the mask (any thread; never blocks).

        Like libzmq, an event the reader has no room for (or no reader yet) is dropped.
        """
        if not self.events & event:
            return
        header = _HEADER.pack(event, value & 0xFFFFFFFF)
        with self._lock:
            if self._pair is None:
                return
            try:
                self._pair.send_multipart([header, endpoint.encode()], DONTWAIT)
            except ZMQError as exc:
                log.debug("monitor event %s dropped: %s", Event(event).name, exc)

    def stop(self) -> None:
        """Send MONITOR_STOPPED (if wanted) and close the PAIR socket."""
        self.emit(Event.MONITOR_STOPPED, 0, "")
        with self._lock:
            pair, self._pair = self._pair, None
        if pair is not None:
            # A linger lets the reader still take the events already queued.
            pair.close(linger=-1)
