"""securemq: ZeroMQ in pure Python, wire-compatible with libzmq.

``import securemq as zmq`` runs ordinary pyzmq code: the constants, errors, ``Context``,
``Socket``, ``Frame``, ``Poller`` and ``select`` live at the top level as in pyzmq.
"""

from __future__ import annotations

from . import constants
from .constants import *  # noqa: F403 - the pyzmq namespace is flat by design
from .constants import has, zmq_version, zmq_version_info
from .context import Context
from .error import (
    Again,
    ContextTerminated,
    InterruptedSystemCall,
    NotDone,
    ZMQBaseError,
    ZMQBindError,
    ZMQError,
    ZMQVersionError,
    strerror,
)
from .frame import Frame, Message
from .poll import Poller, select
from .proxy import device, proxy, proxy_steerable
from .security.keys import curve_keypair, curve_public
from .socket import Socket

__version__ = "0.1.0"
#: The libzmq release whose behaviour we follow.
__libzmq_version__ = zmq_version()


def pyzmq_version() -> str:
    """Our version, where pyzmq code asks for pyzmq's."""
    return __version__


def pyzmq_version_info() -> tuple[int, ...]:
    """Our version as a tuple of ints."""
    return tuple(int(x) for x in __version__.split("."))


__all__ = [  # noqa: PLE0604
    "Again", "Context", "ContextTerminated", "Frame", "InterruptedSystemCall", "Message",
    "NotDone", "Poller", "Socket", "ZMQBaseError", "ZMQBindError", "ZMQError",
    "ZMQVersionError", "constants", "curve_keypair", "curve_public", "device", "has",
    "proxy", "proxy_steerable", "pyzmq_version", "pyzmq_version_info", "select",
    "strerror", "zmq_version", "zmq_version_info", *constants.__all__,
]
