"""``MonitoredQueue`` devices: :func:`monitored_queue` run in the background."""

from __future__ import annotations

from .. import constants as C
from ..error import ZMQError
from .basedevice import ProcessDevice, ThreadDevice
from .monitoredqueue import monitored_queue
from .proxydevice import ProxyBase

__all__ = ["MonitoredQueue", "ProcessMonitoredQueue", "ThreadMonitoredQueue"]


class MonitoredQueueBase(ProxyBase):
    """A :class:`~securemq.devices.Proxy` whose monitor copies are tagged by direction.

    Args:
        in_type: The type of the in socket.
        out_type: The type of the out socket (ROUTER on both sides works too).
        mon_type: The type of the monitor socket; PUB by default.
        in_prefix: The first frame of the copies of messages from the in socket.
        out_prefix: The first frame of the copies of messages from the out socket.

    Raises:
        ZMQError: EINVAL if a type is not a socket type or a prefix is not bytes.
    """

    def __init__(self, in_type: int, out_type: int, mon_type: int = C.PUB,
                 in_prefix: bytes = b"in", out_prefix: bytes = b"out") -> None:
        super().__init__(in_type=in_type, out_type=out_type, mon_type=mon_type)
        for name, prefix in (("in_prefix", in_prefix), ("out_prefix", out_prefix)):
            if not isinstance(prefix, bytes):
                raise ZMQError(C.EINVAL,
                               f"{name} must be bytes, not {type(prefix).__name__}")
        self._in_prefix = in_prefix
        self._out_prefix = out_prefix

    def run_device(self) -> None:
        """Make the three sockets and run :func:`monitored_queue` between them."""
        ins, outs = self._setup_sockets()
        monitored_queue(ins, outs, self._setup_mon(), self._in_prefix, self._out_prefix)


class MonitoredQueue(MonitoredQueueBase):
    """A monitored queue, run by :meth:`start` in the calling thread.

    Every message is relayed, and a copy prefixed with the in or out prefix is sent on
    the monitor socket.
    """


class ThreadMonitoredQueue(MonitoredQueueBase, ThreadDevice):
    """:class:`MonitoredQueue` in a background thread."""


class ProcessMonitoredQueue(MonitoredQueueBase, ProcessDevice):
    """:class:`MonitoredQueue` in a background process."""
