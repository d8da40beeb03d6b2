"""securemq: ZeroMQ in pure Python, wire-compatible with libzmq.

``import securemq as zmq`` runs ordinary pyzmq code: the constants, errors, ``Context``,
``Socket``, ``Frame``, ``Poller`` and ``select`` live at the top level as in pyzmq.
"""

from __future__ import annotations

from enum import Enum, IntEnum, IntFlag
from typing import Any

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
from .socket import MessageTracker, Socket

#: pyzmq's spelling of the plain (non-asyncio) classes.
SyncContext = Context
SyncSocket = Socket
#: We copy every frame on send, so no message is ever tracked; pyzmq's constant.
COPY_THRESHOLD = 65536
#: Draft socket types are not built (as a libzmq without drafts).
PYZMQ_DRAFT_API = False


class DraftFDWarning(RuntimeWarning):
    """pyzmq's warning about ``FD`` on draft thread-safe sockets (which we lack)."""


def zmq_poll(sockets: list[tuple[Any, int]], timeout: int = -1) -> list[tuple[Any, int]]:
    """Poll ``(socket, flags)`` pairs for ``timeout`` ms (negative: forever), as pyzmq."""
    poller = Poller()
    for sock, flags in sockets:
        poller.register(sock, flags)
    return poller.poll(timeout)


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
    "COPY_THRESHOLD", "PYZMQ_DRAFT_API", "Again", "Context", "ContextTerminated",
    "DraftFDWarning", "Enum", "Frame", "IntEnum", "IntFlag", "InterruptedSystemCall",
    "Message", "MessageTracker", "SyncContext", "SyncSocket", "zmq_poll",
    "NotDone", "Poller", "Socket", "ZMQBaseError", "ZMQBindError", "ZMQError",
    "ZMQVersionError", "constants", "curve_keypair", "curve_public", "device", "has",
    "proxy", "proxy_steerable", "pyzmq_version", "pyzmq_version_info", "select",
    "strerror", "zmq_version", "zmq_version_info", *constants.__all__,
]
