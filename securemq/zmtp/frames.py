"""ZMTP framing: encoding messages into frames and decoding a byte stream back.

This is the hot path of every non-encrypting connection, so it is written as plain loops
over a buffer with an offset (STYLE habit 8): one call decodes every complete frame that
has arrived, and one call encodes a whole batch of messages into a list of buffers that
the engine writes with a single system call.

Wire format (RFC 23/37, "Framing"): one flags octet (bit 0 MORE, bit 1 LONG, bit 2
COMMAND, bits 7-3 reserved and zero), then a 1-octet or 8-octet big-endian size, then the
body.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import TypeAlias

from ..constants import ProtocolErrorCode
from ..error import MalformedCommand, MessageTooLarge, UnspecifiedProtocolError

Buffer: TypeAlias = "bytes | bytearray | memoryview"

FLAG_MORE = 0x01
FLAG_LONG = 0x02
FLAG_COMMAND = 0x04
_RESERVED = 0xF8

#: A long size field is 64 bits but RFC 23 caps the body at 2^63-1 octets.
MAX_FRAME_SIZE = (1 << 63) - 1

_LONG = struct.Struct(">BQ")
_unpack_size = struct.Struct(">Q").unpack_from

# Precomputed short headers: a table lookup is cheaper than building two bytes per frame.
_SHORT_LAST = [bytes((0, n)) for n in range(256)]
_SHORT_MORE = [bytes((FLAG_MORE, n)) for n in range(256)]

#: Frames larger than this are handed to the engine as separate buffers rather than
#: copied into the joined batch (ARCHITECTURE rule 4: bytes are copied once at most).
LARGE_FRAME = 32 * 1024


def frame_header(size: int, more: bool = False, command: bool = False) -> bytes:
    """Return the flags and size octets that precede a frame body of ``size`` octets."""
    flags = (FLAG_MORE if more else 0) | (FLAG_COMMAND if command else 0)
    if size < 256:
        return bytes((flags, size))
    return _LONG.pack(flags | FLAG_LONG, size)


def encode_command(name: bytes, data: Buffer = b"") -> bytes:
    """Encode a command frame: the name (1-255 letters) prefixed by its length, then data."""
    body = bytes((len(name),)) + name + bytes(data)
    return frame_header(len(body), command=True) + body


def encode_messages(messages: Sequence[Sequence[Buffer]], out: list[Buffer]) -> int:
    """Append the frames of ``messages`` to ``out`` as header and body buffers.

    Returns the number of octets appended. Small frames are meant to be joined by the
    caller; frames of ``LARGE_FRAME`` octets or more should be written as they are.
    """
    total = 0
    append = out.append
    for msg in messages:
        last = len(msg) - 1
        if last == 0:
            # The common single-frame message gets its own branch: no loop, no flag math.
            body = msg[0]
            size = len(body)
            if size < 256:
                append(_SHORT_LAST[size])
                total += 2 + size
            else:
                append(_LONG.pack(FLAG_LONG, size))
                total += 9 + size
            append(body)
            continue
        for i, body in enumerate(msg):
            size = len(body)
            if i < last:
                if size < 256:
                    append(_SHORT_MORE[size])
                    total += 2 + size
                else:
                    append(_LONG.pack(FLAG_LONG | FLAG_MORE, size))
                    total += 9 + size
            elif size < 256:
                append(_SHORT_LAST[size])
                total += 2 + size
            else:
                append(_LONG.pack(FLAG_LONG, size))
                total += 9 + size
            append(body)
    return total


class FrameDecoder:
    """Incremental decoder of ZMTP frames after the greeting.

    Feed it arbitrary chunks with :meth:`feed`; it returns the complete messages (lists of
    frame bodies) and stops after a command frame, left in :attr:`command`. Any split of
    the byte stream yields the same result. A partial multipart message is held until its last
    frame arrives and is dropped with the decoder if the connection ends first.

    Args:
        maxmsgsize: the largest frame body accepted, or -1 for no limit. It is checked
            against the size field, before any memory is set aside for the body.
    """

    __slots__ = ("_buf", "_cur", "_large", "_large_flags", "_large_have", "_large_need",
                 "command", "maxmsgsize")

    def __init__(self, maxmsgsize: int = -1) -> None:
        self.maxmsgsize = maxmsgsize
        self._buf: bytes = b""
        self._cur: list[bytes] = []
        # A frame body too big to wait for in ``_buf`` is gathered as a list of chunks
        # and joined once: O(n) copying instead of O(n^2) re-concatenation.
        self._large: list[bytes] | None = None
        self._large_have = 0
        self._large_need = 0
        self._large_flags = 0
        #: The command frame (name + data) that stopped the last :meth:`feed`, if any.
        #: Decoding pauses after each command so that the caller sees commands and
        #: messages in stream order; call ``feed(b"")`` to go on.
        self.command: bytes | None = None

    @property
    def pending(self) -> bool:
        """True while part of a frame or of a multipart message is buffered."""
        return bool(self._buf or self._cur or self._large is not None)

    def feed(self, data: Buffer) -> list[list[bytes]]:
        """Decode ``data`` appended to what was buffered; return every complete message.

        Raises:
            ProtocolError: a reserved flag bit is set, a command frame has MORE set or a
                size is out of range. The decoder is unusable afterwards.
        """
        messages: list[list[bytes]] = []
        if self._large is not None:
            data = self._feed_large(bytes(data), messages)
            if not data or self.command is not None:
                self._buf = data + self._buf if data else self._buf
                return messages
        if self._buf:
            data = self._buf + bytes(data)
            self._buf = b""
        elif not isinstance(data, bytes):
            data = bytes(data)
        n = len(data)
        off = 0
        cur = self._cur
        limit = self.maxmsgsize
        while n - off >= 2:
            flags = data[off]
            if flags & FLAG_LONG:
                if n - off < 9:
                    break
                size = _unpack_size(data, off + 1)[0]
                start = off + 9
            else:
                size = data[off + 1]
                start = off + 2
            if flags & _RESERVED:
                raise UnspecifiedProtocolError(f"reserved frame flag bits set: {flags:#04x}")
            if size > MAX_FRAME_SIZE:
                raise MessageTooLarge(f"frame size {size} exceeds 2^63-1")
            if 0 <= limit < size:
                raise MessageTooLarge(f"frame of {size} octets exceeds maxmsgsize {limit}")
            end = start + size
            if end > n:
                if size > LARGE_FRAME:
                    self._large = [data[start:]]
                    self._large_have = n - start
                    self._large_need = size
                    self._large_flags = flags
                    self._cur = cur
                    return messages
                break
            body = data[start:end]
            off = end
            if flags & FLAG_COMMAND:
                if flags & FLAG_MORE:
                    raise MalformedCommand("command frame with MORE flag",
                                           ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_UNSPECIFIED)
                self.command = body
                break
            elif flags & FLAG_MORE:
                cur.append(body)
            elif cur:
                cur.append(body)
                messages.append(cur)
                cur = []
            else:
                messages.append([body])
        self._cur = cur
        if off < n:
            self._buf = data[off:]
        return messages

    def _feed_large(self, data: bytes, messages: list[list[bytes]]) -> bytes:
        """Add ``data`` to the large frame being gathered; return what lies beyond it."""
        assert self._large is not None
        missing = self._large_need - self._large_have
        if len(data) < missing:
            self._large.append(data)
            self._large_have += len(data)
            return b""
        self._large.append(data[:missing])
        body = b"".join(self._large)
        self._large = None
        flags = self._large_flags
        if flags & FLAG_COMMAND:
            if flags & FLAG_MORE:
                raise MalformedCommand("command frame with MORE flag",
                                       ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_UNSPECIFIED)
            self.command = body
            return data[missing:]
        if flags & FLAG_MORE:
            self._cur.append(body)
        else:
            self._cur.append(body)
            messages.append(self._cur)
            self._cur = []
        return data[missing:]
