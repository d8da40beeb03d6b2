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

import ctypes
import struct
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, TypeAlias, cast

from ..constants import ProtocolErrorCode
from ..error import (
    MalformedCommand,
    MessageTooLarge,
    ProtocolError,
    UnexpectedCommand,
    UnspecifiedProtocolError,
)
from .commands import command_body

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
#: Small frames are joined into runs of about this many octets by encode_messages.
JOIN_RUN = 256 * 1024

#: A large frame's buffer is allocated at its full size (and read into directly) once no
#: more than this many octets are missing; before that it grows with what arrives, so
#: a lying size field costs us at most this much memory per connection.
_PREALLOC = 1024 * 1024

#: A transient decoder returns views of its input when the chunk starts with a frame
#: at least this large (see FrameDecoder.transient).
_VIEW_MIN = 2048

#: A transient decoder gathers large frames up to this size in one buffer it keeps and
#: reuses (see FrameDecoder.transient); larger ones get a buffer each.
SPARE_MAX = 256 * 1024


def frame_header(size: int, more: bool = False, command: bool = False) -> bytes:
    """Return the flags and size octets that precede a frame body of ``size`` octets."""
    flags = (FLAG_MORE if more else 0) | (FLAG_COMMAND if command else 0)
    if size < 256:
        return bytes((flags, size))
    return _LONG.pack(flags | FLAG_LONG, size)


def encode_command(name: bytes, data: Buffer = b"") -> bytes:
    """Encode a command frame: the name (1-255 letters) prefixed by its length, then data."""
    body = command_body(name, bytes(data))
    return frame_header(len(body), command=True) + body


def encode_messages(messages: Sequence[Sequence[Buffer]], out: list[Buffer]) -> int:
    """Append the frames of ``messages`` to ``out``; return the number of octets.

    Runs of small frames are joined into one buffer each (up to about ``JOIN_RUN``
    octets), so that a batch is written with a few calls; a body of ``LARGE_FRAME``
    octets or more is appended as it is, never copied (ARCHITECTURE rule 4). Joining
    here, where each frame's size is known anyway, spares the writer a second pass.
    """
    total = 0
    mark = 0  # ``total`` when the current run began
    run: list[Buffer] = []
    add = run.append
    for msg in messages:
        if total - mark >= JOIN_RUN:
            out.append(b"".join(run))
            run.clear()
            mark = total
        last = len(msg) - 1
        if last == 0:
            body = msg[0]
            size = len(body)
            if size < 256:
                # The common short single-frame message: no loop, no flag math.
                add(_SHORT_LAST[size])
                add(body)
                total += 2 + size
                continue
        for i, body in enumerate(msg):
            size = len(body)
            if size < 256:
                add((_SHORT_MORE if i < last else _SHORT_LAST)[size])
                total += 2 + size
            else:
                add(_LONG.pack(FLAG_LONG | FLAG_MORE if i < last else FLAG_LONG, size))
                total += 9 + size
                if size >= LARGE_FRAME:
                    out.append(b"".join(run))
                    out.append(body)
                    run.clear()
                    mark = total
                    continue
            add(body)
    if run:
        out.append(b"".join(run))
    return total


def _refuse_flags(flags: int, bad_xor: int) -> NoReturn:
    """Raise the error for a flags octet refused by :class:`FrameDecoder`."""
    if flags & _RESERVED:
        # RFC 37: bits 7-3 are reserved and MUST be zero; the flags octet alone shows it.
        raise UnspecifiedProtocolError(f"reserved frame flag bits set: {flags:#04x}")
    if bad_xor and not flags & FLAG_COMMAND:
        raise UnexpectedCommand("message frame before the handshake completed")
    raise MalformedCommand("MORE on a sealed frame: MORE travels inside the box",
                           ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_MESSAGE)


def _make_fresh_bytes() -> Callable[[int], tuple[bytes, memoryview] | None]:
    """Build :func:`_fresh_bytes` for this interpreter, or a stub returning None."""
    if sys.implementation.name != "cpython":
        return lambda size: None
    offset = bytes.__basicsize__ - 1  # where a bytes object's octets start
    # PyBytes_FromStringAndSize(NULL, n): a bytes object whose octets are not set. The
    # kernel (or the TLS layer) fills every one of them before the decoder hands the
    # object over, so the zeroing bytes(n) would do is pure cost (30 us per MiB).
    new_bytes = ctypes.pythonapi.PyBytes_FromStringAndSize
    new_bytes.restype = ctypes.py_object
    new_bytes.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t]

    def fresh(size: int) -> tuple[bytes, memoryview] | None:
        body: bytes = new_bytes(None, size)
        raw = (ctypes.c_char * size).from_address(id(body) + offset)
        # The array only knows an address: make every view of it keep the object alive,
        # so no stale view can ever write into freed memory.
        raw._owner = body  # type: ignore[attr-defined]
        return body, memoryview(raw).cast("B")

    try:  # prove the layout on this build before trusting it
        made = fresh(64)
        assert made is not None
        probe, view = made
        view[:5] = b"probe"
        view.release()
        if probe[:5] != b"probe":
            return lambda size: None
    except Exception:
        return lambda size: None
    return fresh


#: A new ``bytes`` object of the given size and a writable view of its octets, or None.
#: Performance trick (CPython only, proven at import): the kernel writes a large frame
#: straight into the ``bytes`` the application will receive, instead of into a buffer
#: that is then copied. Sound because the object is new, unshared and unhashed until the
#: decoder hands it over, after the view is released, and only once every octet has
#: been written (a frame cut short is dropped with its connection, never delivered).
_fresh_bytes = _make_fresh_bytes()


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

    __slots__ = ("_bad_mask", "_bad_xor", "_buf", "_buf_off", "_cur", "_large", "_large_body",
                 "_large_flags", "_large_have", "_large_need", "_need", "_spare",
                 "_spare_lent", "_spare_used", "command", "error", "maxmsgsize", "transient")

    def __init__(self, maxmsgsize: int = -1) -> None:
        self.maxmsgsize = maxmsgsize
        self._buf: bytes | bytearray = b""
        # Where the undecoded octets of ``_buf`` start: after a command, decoding resumes
        # in place. Copying the rest of the chunk at every command made a chunk of small
        # commands (10,000 SUBSCRIBEs, or a hostile peer's PINGs) cost quadratic time.
        self._buf_off = 0
        # Octets needed to complete the partial frame in ``_buf``, once its header is in.
        self._need = 0
        self._cur: list[bytes] = []
        # A frame body too big to wait for in ``_buf`` is gathered in a buffer of its
        # exact size, which the engine can also read into directly (large_buffer): no
        # re-concatenation, no intermediate chunks.
        self._large: bytearray | memoryview | None = None
        # The bytes object being filled in place through ``_large`` (see _fresh_bytes).
        self._large_body: bytes | None = None
        self._large_have = 0
        self._large_need = 0
        self._large_flags = 0
        # Transient mode: the reusable buffer for large frames, whether the frame being
        # gathered is in it, and whether a body handed out by this call is a view of it.
        self._spare: bytearray | None = None
        self._spare_used = False
        self._spare_lent = False
        #: The command frame (name + data) that stopped the last :meth:`feed`, if any.
        #: Decoding pauses after each command so that the caller sees commands and
        #: messages in stream order; call ``feed(b"")`` to go on.
        self.command: bytes | None = None
        #: The violation that stopped decoding, once there was one. When complete messages
        #: precede the bad frame in the same input, :meth:`feed` returns them and leaves
        #: the error here (so that no split of the stream loses them); every later call
        #: raises it.
        self.error: ProtocolError | None = None
        # A flags octet is refused when ``(flags ^ _bad_xor) & _bad_mask``: reserved bits
        # always, and with ``commands_only`` a clear COMMAND bit too. One test per frame
        # covers both, so the traffic hot path pays nothing for the handshake rule.
        self._bad_xor = 0
        self._bad_mask = _RESERVED
        #: Whether :meth:`feed` and :meth:`large_filled` may return bodies that are views
        #: of a memoryview input or of a buffer the decoder reuses, valid only until the
        #: caller reuses its buffer or calls the decoder again: for sealed traffic,
        #: whose frames are opened (copied out) at once. Large frames are then never
        #: copied twice, and are gathered in warm memory rather than a fresh allocation
        #: each (whose first touch, page by page, cost more than the copy).
        self.transient = False

    @property
    def commands_only(self) -> bool:
        """Whether message frames are refused (before the handshake is complete).

        A message frame is then refused on its flags octet, before its body is buffered,
        so that no part of a message from an unauthenticated peer is ever held or
        completed later (RFC 37: traffic follows the handshake).
        """
        return bool(self._bad_xor)

    @commands_only.setter
    def commands_only(self, value: bool) -> None:
        self._bad_xor = FLAG_COMMAND if value else 0
        self._bad_mask = _RESERVED | FLAG_COMMAND if value else _RESERVED

    @property
    def single_frames(self) -> bool:
        """Whether a frame with MORE is refused (sealed traffic: each frame stands alone).

        Under CURVE the outer flags are not authenticated and libzmq never sets MORE
        there; refusing it keeps a forged MORE from holding a frame back while later
        frames overtake it.
        """
        return bool(self._bad_mask & FLAG_MORE)

    @single_frames.setter
    def single_frames(self, value: bool) -> None:
        self._bad_mask = self._bad_mask | FLAG_MORE if value else self._bad_mask & ~FLAG_MORE

    @property
    def pending(self) -> bool:
        """True while part of a frame or of a multipart message is buffered."""
        return bool(self._buf or self._cur or self._large is not None)

    def feed(self, data: Buffer) -> list[list[bytes]]:
        """Decode ``data`` appended to what was buffered; return every complete message.

        Raises:
            ProtocolError: a reserved flag bit is set, a command frame has MORE set or a
                size is out of range, and no complete message came before it in this
                input (otherwise those messages are returned and the error is left in
                :attr:`error`). The decoder is unusable afterwards: every call raises.
        """
        if self.error is not None:
            raise self.error
        self._spare_lent = False  # the caller is done with what the last call returned
        messages: list[list[bytes]] = []
        try:
            self._decode(data, messages)
        except ProtocolError as exc:
            # Drop everything buffered: a partial multipart is never delivered (RFC 37:
            # messages are atomic) and nothing more is accepted on this stream.
            self.error = exc
            self._buf = b""
            self._buf_off = 0
            self._cur = []
            self._large = None
            self._large_body = None
            self._spare_used = False
            if messages:
                return messages
            raise
        return messages

    def _decode(self, data: Buffer, messages: list[list[bytes]]) -> None:
        """Decode into ``messages``; the body of :meth:`feed`."""
        viewed = False
        off = 0
        if self._buf_off:
            if not data and self._large is None:
                # Resuming after a command: go on from where it stopped, no copy.
                data, off = self._buf, self._buf_off
                self._buf, self._buf_off = b"", 0
            else:
                self._buf, self._buf_off = self._buf[self._buf_off:], 0
        if self._large is not None:
            data = self._feed_large(bytes(data), messages)
            if not data or self.command is not None:
                self._buf = data + self._buf if data else self._buf
                return
        if self._buf:
            buf = self._buf
            if len(buf) + len(data) < self._need:
                # Still short of the frame whose size we know: append (amortised O(1))
                # instead of re-joining, so a frame dribbled in byte by byte costs O(n).
                if type(buf) is not bytearray:
                    buf = self._buf = bytearray(buf)
                buf += data
                return
            data = b"".join((buf, data))
            self._buf = b""
            self._need = 0
        elif not isinstance(data, bytes):
            # Views pay off for large frames only (a small one is cheaper to copy than to
            # view): judge the chunk by its first frame. A chunk that is only the start
            # of a large frame is viewed in any mode: the loop copies it straight into
            # the frame's own buffer, so no view outlives this call.
            first = _unpack_size(data, 1)[0] if type(data) is memoryview and \
                len(data) >= 9 and data[0] & FLAG_LONG else 0
            viewed = first >= _VIEW_MIN and (
                self.transient or (first > LARGE_FRAME and first + 9 > len(data)))
            if not viewed:
                data = bytes(data)
        # bytes, or a transient memoryview standing in for it: the loop below only indexes
        # and slices, which both do alike (the bodies are then views too).
        data = cast(bytes, data)
        n = len(data)
        cur = self._cur
        limit = self.maxmsgsize
        bad_xor = self._bad_xor
        bad_mask = self._bad_mask
        # Flags 0 is a short, final message frame, valid whenever messages are: with no
        # size limit below 255 such a frame needs no other check. Most small traffic
        # is made of them, so they take the short way round the loop.
        short_ok = not bad_xor and (limit < 0 or limit >= 255)
        append = messages.append
        while n - off >= 2:
            flags = data[off]
            if not flags and short_ok and not cur:
                end = off + 2 + data[off + 1]
                if end <= n:
                    append([data[off + 2:end]])
                    off = end
                    continue
            if (flags ^ bad_xor) & bad_mask:
                _refuse_flags(flags, bad_xor)
            if flags & FLAG_LONG:
                if n - off < 9:
                    break
                size = _unpack_size(data, off + 1)[0]
                start = off + 9
            else:
                size = data[off + 1]
                start = off + 2
            if size > MAX_FRAME_SIZE:
                raise MessageTooLarge(f"frame size {size} exceeds 2^63-1")
            if 0 <= limit < size:
                raise MessageTooLarge(f"frame of {size} octets exceeds maxmsgsize {limit}")
            end = start + size
            if end > n:
                if size > LARGE_FRAME:
                    # A size field alone makes us set aside at most _PREALLOC octets
                    # that have not arrived; beyond that the buffer grows with the data.
                    ba: bytearray | memoryview
                    if self.transient and size <= SPARE_MAX and not self._spare_lent:
                        spare = self._spare
                        if spare is None or len(spare) < size:
                            spare = self._spare = bytearray(size)
                        ba = memoryview(spare)[:size]
                        ba[:n - start] = memoryview(data)[start:]
                        self._spare_used = True
                    elif size - (n - start) <= _PREALLOC:
                        fresh = _fresh_bytes(size)
                        if fresh is not None:
                            self._large_body, ba = fresh
                        else:
                            ba = bytearray(size)
                        ba[:n - start] = memoryview(data)[start:]
                    else:
                        ba = bytearray(data[start:])
                    self._large = ba
                    self._large_have = n - start
                    self._large_need = size
                    self._large_flags = flags
                    off = n
                    break
                self._need = end - off
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
                append(cur)
                cur = []
            else:
                append([body])
        self._cur = cur
        if viewed:
            # Transient input: what outlives this call must not be a view of it.
            if cur:
                self._cur = [bytes(b) for b in cur]
            if self.command is not None:
                self.command = bytes(self.command)
            if off < n:
                self._buf = bytes(data[off:])
        elif off < n:
            if self.command is not None and type(data) is bytes:
                self._buf, self._buf_off = data, off  # stopped at a command: see _buf_off
            else:
                self._buf = data[off:]

    def large_buffer(self) -> memoryview | None:
        """Where the rest of a large frame can be read to directly, or None.

        Lets the engine ``recv_into`` the frame's own buffer: the body is copied once
        from the kernel, then once into the ``bytes`` delivered.
        """
        ba = self._large
        if ba is None or self.error is not None or len(ba) != self._large_need:
            return None
        return memoryview(ba)[self._large_have:]

    def large_filled(self, n: int) -> list[list[bytes]]:
        """Account for ``n`` octets read into :meth:`large_buffer`; return messages."""
        self._large_have += n
        self._spare_lent = False  # as in feed
        messages: list[list[bytes]] = []
        if self._large_have >= self._large_need:
            try:
                self._finish_large(messages)
            except ProtocolError as exc:
                self.error = exc
                self._cur = []
                raise
        return messages

    def _feed_large(self, data: bytes, messages: list[list[bytes]]) -> bytes:
        """Add ``data`` to the large frame being gathered; return what lies beyond it."""
        ba = self._large
        assert ba is not None
        missing = self._large_need - self._large_have
        take = min(len(data), missing)
        if len(ba) == self._large_need:
            ba[self._large_have:self._large_have + take] = memoryview(data)[:take]
        else:
            assert isinstance(ba, bytearray)  # growing: only until fully allocated
            ba += memoryview(data)[:take]
        self._large_have += take
        if take < missing:
            return b""
        self._finish_large(messages)
        return data[take:]

    def _finish_large(self, messages: list[list[bytes]]) -> None:
        ba = self._large
        assert ba is not None
        self._large = None
        flags = self._large_flags
        body: bytes
        if self._spare_used:
            self._spare_used = False
            if flags & (FLAG_COMMAND | FLAG_MORE):
                # Outlives the call that decoded it: a command, or a part held for
                # the rest of its message.
                body = bytes(ba)
            else:
                # Until the next call: a second large frame in this one gets its own.
                self._spare_lent = True
                body = cast(bytes, ba)
        elif self._large_body is not None:
            body = self._large_body
            self._large_body = None
            ba.release()  # type: ignore[union-attr]
        else:
            body = bytes(ba)
        if flags & FLAG_COMMAND:
            if flags & FLAG_MORE:
                raise MalformedCommand("command frame with MORE flag",
                                       ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_UNSPECIFIED)
            self.command = body
            return
        self._cur.append(body)
        if not flags & FLAG_MORE:
            messages.append(self._cur)
            self._cur = []
