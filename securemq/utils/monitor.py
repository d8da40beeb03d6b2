"""Reading socket monitor events, with pyzmq's ``zmq.utils.monitor`` functions."""

from __future__ import annotations

import inspect
import struct
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypedDict, overload

from ..constants import Event

if TYPE_CHECKING:
    from ..asyncio import Socket as AsyncSocket

_HEADER = struct.Struct("=Hi")


class MonitorMessage(TypedDict):
    """One monitor event, as pyzmq's ``recv_monitor_message`` returns it."""

    event: int
    """The event (an :class:`~securemq.constants.Event`)."""
    value: int
    """Its value: a descriptor, errno, ZAP status, protocol error code or interval."""
    endpoint: bytes
    """The endpoint it concerns (empty for MONITOR_STOPPED)."""


def parse_monitor_message(msg: list[bytes]) -> MonitorMessage:
    """Decode a two-frame monitor message.

    Raises:
        RuntimeError: the message is not a monitor event (pyzmq raises the same).
    """
    if len(msg) != 2 or len(msg[0]) != 6:
        raise RuntimeError(f"Invalid event message format: {msg!r}")
    event, value = _HEADER.unpack(msg[0])
    return {"event": Event(event), "value": value, "endpoint": bytes(msg[1])}


@overload
def recv_monitor_message(  # type: ignore[overload-overlap]
        socket: AsyncSocket, flags: int = 0) -> Awaitable[MonitorMessage]:
    ...


@overload
def recv_monitor_message(socket: object, flags: int = 0) -> MonitorMessage:
    ...


def recv_monitor_message(socket: Any, flags: int = 0) -> Any:
    """Receive one event from a monitor socket (see ``Socket.get_monitor_socket``).

    From an asyncio socket (:mod:`securemq.asyncio`) it returns an awaitable, as
    pyzmq's does.
    """
    msg = socket.recv_multipart(flags)
    if inspect.isawaitable(msg):
        return _parse_when_received(msg)
    return parse_monitor_message(msg)


async def _parse_when_received(msg: Awaitable[list[bytes]]) -> MonitorMessage:
    return parse_monitor_message(await msg)


__all__ = ["MonitorMessage", "parse_monitor_message", "recv_monitor_message"]
