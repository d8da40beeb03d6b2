"""``ProxySteerable`` devices: a proxy with capture and control sockets, in the background."""

from __future__ import annotations

from typing import Any

from .. import constants as C
from ..proxy import proxy_steerable
from ..socket import Socket
from .basedevice import ProcessDevice, SocketSetup, ThreadDevice, check_socket_type
from .proxydevice import ProxyBase

__all__ = ["ProcessProxySteerable", "ProxySteerable", "ThreadProxySteerable"]


class ProxySteerableBase(ProxyBase):
    """A proxy device steered by commands on a control socket.

    The commands are :func:`securemq.proxy.proxy_steerable`'s: PAUSE, RESUME,
    TERMINATE (the device then closes its sockets and ends) and STATISTICS.

    Args:
        in_type: The type of the in (frontend) socket.
        out_type: The type of the out (backend) socket.
        mon_type: The type of the monitor (capture) socket; PUB by default.
        ctrl_type: The type of the control socket: PAIR, or REP to get a reply to
            every command. None: no control socket (the device is a :class:`Proxy`).

    Raises:
        ZMQError: EINVAL if a type is not a socket type.
    """

    def __init__(self, in_type: int, out_type: int, mon_type: int = C.PUB,
                 ctrl_type: int | None = None) -> None:
        super().__init__(in_type=in_type, out_type=out_type, mon_type=mon_type)
        self.ctrl_type = None if ctrl_type is None else check_socket_type("ctrl_type", ctrl_type)
        self._ctrl = SocketSetup()

    def bind_ctrl(self, addr: str) -> None:
        """Queue ``addr`` for the control socket to bind."""
        self._ctrl.binds.append(addr)

    def bind_ctrl_to_random_port(self, addr: str, *args: Any, **kwargs: Any) -> int:
        """Pick a free port on ``addr`` for the control socket to bind; return it.

        Raises:
            ZMQBindError: no free port was found.
        """
        port = self._reserve_random_port(addr, *args, **kwargs)
        self.bind_ctrl(f"{addr}:{port}")
        return port

    def connect_ctrl(self, addr: str) -> None:
        """Queue ``addr`` for the control socket to connect to."""
        self._ctrl.connects.append(addr)

    def setsockopt_ctrl(self, opt: int, value: Any) -> None:
        """Queue ``setsockopt(opt, value)`` for the control socket."""
        self._ctrl.sockopts.append((opt, value))

    def _setup_ctrl(self) -> Socket | None:
        """Make and configure the control socket, if the device has one."""
        if self.ctrl_type is None:
            return None
        return self._socket(self.ctrl_type, self._ctrl)

    def run_device(self) -> None:
        """Make the sockets and run :func:`securemq.proxy.proxy_steerable`."""
        ins, outs = self._setup_sockets()
        mons = self._setup_mon()
        proxy_steerable(ins, outs, mons, self._setup_ctrl())


class ProxySteerable(ProxySteerableBase):
    """A steerable proxy, run by :meth:`start` in the calling thread.

    Each ``<method>_in``/``_out`` has ``<method>_mon`` and ``<method>_ctrl`` twins.
    """


class ThreadProxySteerable(ProxySteerableBase, ThreadDevice):
    """:class:`ProxySteerable` in a background thread."""


class ProcessProxySteerable(ProxySteerableBase, ProcessDevice):
    """:class:`ProxySteerable` in a background process."""
