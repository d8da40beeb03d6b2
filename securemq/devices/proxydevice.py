"""``Proxy`` devices: a proxy with a capture ("mon") socket, run in the background."""

from __future__ import annotations

from typing import Any

from .. import constants as C
from ..proxy import proxy
from ..socket import Socket
from .basedevice import Device, ProcessDevice, SocketSetup, ThreadDevice, check_socket_type

__all__ = ["ProcessProxy", "Proxy", "ThreadProxy"]


class ProxyBase(Device):
    """A device that also sends a copy of every message to a monitor socket.

    Args:
        in_type: The type of the in (frontend) socket.
        out_type: The type of the out (backend) socket.
        mon_type: The type of the monitor (capture) socket; PUB by default, any type
            that can send will do.

    Raises:
        ZMQError: EINVAL if a type is not a socket type.
    """

    def __init__(self, in_type: int, out_type: int, mon_type: int = C.PUB) -> None:
        super().__init__(in_type=in_type, out_type=out_type)
        self.mon_type = check_socket_type("mon_type", mon_type)
        self._mon = SocketSetup()

    def bind_mon(self, addr: str) -> None:
        """Queue ``addr`` for the monitor socket to bind."""
        self._mon.binds.append(addr)

    def bind_mon_to_random_port(self, addr: str, *args: Any, **kwargs: Any) -> int:
        """Pick a free port on ``addr`` for the monitor socket to bind; return it.

        Raises:
            ZMQBindError: no free port was found.
        """
        port = self._reserve_random_port(addr, *args, **kwargs)
        self.bind_mon(f"{addr}:{port}")
        return port

    def connect_mon(self, addr: str) -> None:
        """Queue ``addr`` for the monitor socket to connect to."""
        self._mon.connects.append(addr)

    def setsockopt_mon(self, opt: int, value: Any) -> None:
        """Queue ``setsockopt(opt, value)`` for the monitor socket."""
        self._mon.sockopts.append((opt, value))

    def _setup_mon(self) -> Socket:
        """Make and configure the monitor socket (after the in and out sockets)."""
        return self._socket(self.mon_type, self._mon)

    def run_device(self) -> None:
        """Make the three sockets and run :func:`securemq.proxy.proxy` with capture."""
        ins, outs = self._setup_sockets()
        proxy(ins, outs, self._setup_mon())


class Proxy(ProxyBase):
    """A proxy with a monitor socket, run by :meth:`start` in the calling thread.

    Each ``<method>_in``/``_out`` has a ``<method>_mon`` twin for the monitor socket.
    """


class ThreadProxy(ProxyBase, ThreadDevice):
    """:class:`Proxy` in a background thread."""


class ProcessProxy(ProxyBase, ProcessDevice):
    """:class:`Proxy` in a background process."""
