"""Devices: proxies that make their own sockets and run in a thread or a process.

The names and import paths are pyzmq's ``zmq.devices``: :class:`Device`,
:class:`ThreadDevice`, :class:`ProcessDevice`, :class:`Proxy` (with a monitor socket),
:class:`ProxySteerable` (with a control socket too), :class:`MonitoredQueue` and
:func:`monitored_queue`, each device with ``Thread`` and ``Process`` variants.
"""

from __future__ import annotations

from .basedevice import Device, ProcessDevice, ThreadDevice
from .monitoredqueue import monitored_queue
from .monitoredqueuedevice import MonitoredQueue, ProcessMonitoredQueue, ThreadMonitoredQueue
from .proxydevice import ProcessProxy, Proxy, ThreadProxy
from .proxysteerabledevice import ProcessProxySteerable, ProxySteerable, ThreadProxySteerable

__all__ = [
    "Device",
    "MonitoredQueue",
    "ProcessDevice",
    "ProcessMonitoredQueue",
    "ProcessProxy",
    "ProcessProxySteerable",
    "Proxy",
    "ProxySteerable",
    "ThreadDevice",
    "ThreadMonitoredQueue",
    "ThreadProxy",
    "ThreadProxySteerable",
    "monitored_queue",
]
