"""``Frame`` (alias ``Message``): one received frame with its flags and peer metadata."""

from __future__ import annotations

import builtins
import errno
from typing import TYPE_CHECKING, Any

from . import constants as C
from .error import ZMQError

if TYPE_CHECKING:
    from .pipe import Peer


class Frame:
    """A message frame, as pyzmq's ``zmq.Frame``.

    ``recv(copy=False)`` returns these so that the application can read ``more`` and the
    connection's metadata (``frame.get("Socket-Type")``, ``"Peer-Address"``,
    ``"User-Id"`` once ZAP is on, and the peer's application properties).
    """

    __slots__ = ("_data", "_peer", "more", "tracker")

    def __init__(self, data: Any = b"", track: bool = False, copy: bool | None = None,
                 more: bool = False, peer: Peer | None = None) -> None:
        if isinstance(data, str):
            raise TypeError("str is not allowed for a Frame; encode it first")
        self._data: builtins.bytes = data if type(data) is builtins.bytes else builtins.bytes(data)
        self.more = more
        self._peer = peer
        self.tracker = None

    @property
    def bytes(self) -> builtins.bytes:
        """The frame's content."""
        return self._data

    @property
    def buffer(self) -> memoryview:
        """A read-only view of the content."""
        return memoryview(self._data)

    def get(self, option: int | str) -> Any:
        """Read a frame property: ``zmq.MORE`` by number, or metadata by name.

        Raises:
            ZMQError: EINVAL for an unknown property.
        """
        if isinstance(option, int):
            if option == C.MessageOption.MORE:
                return int(self.more)
            raise ZMQError(errno.EINVAL)
        name = option.lower()
        peer = self._peer
        if peer is not None:
            if name == "peer-address":
                return peer.metadata.get("peer-address", b"").decode("utf-8", "replace")
            value = peer.metadata.get(name)
            if value is not None:
                return value.decode("utf-8", "replace")
        raise ZMQError(errno.EINVAL, f"no such property: {option}")

    def __len__(self) -> int:
        return len(self._data)

    def __bytes__(self) -> builtins.bytes:
        return self._data

    def __buffer__(self, flags: int) -> memoryview:
        return memoryview(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Frame):
            return self._data == other._data
        if isinstance(other, (bytes, bytearray, memoryview)):
            return self._data == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __copy__(self) -> Frame:
        return Frame(self._data, more=self.more, peer=self._peer)

    def __repr__(self) -> str:
        return f"<securemq.Frame({self._data[:32]!r}{'...' if len(self._data) > 32 else ''})>"


Message = Frame
