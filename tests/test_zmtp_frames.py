"""ZMTP framing: byte-exact headers, the incremental decoder, and its limits.

Wire vectors marked "libzmq" were captured from libzmq 4.3.5 (through pyzmq) by reading
what a DEALER/PUSH socket writes to a plain TCP socket.
"""

from __future__ import annotations

import itertools
import random
import struct
import tracemalloc
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securemq.constants import EMSGSIZE, ProtocolErrorCode
from securemq.error import (
    MalformedCommand,
    MessageTooLarge,
    ProtocolError,
    UnspecifiedProtocolError,
)
from securemq.zmtp.frames import (
    JOIN_RUN,
    LARGE_FRAME,
    MAX_FRAME_SIZE,
    SPARE_MAX,
    Buffer,
    FrameDecoder,
    encode_command,
    encode_messages,
    frame_header,
)

# libzmq 4.3.5: a DEALER's `send(b"hello")`.
LIBZMQ_HELLO = b"\x00\x05hello"
# libzmq 4.3.5: a DEALER with HEARTBEAT_IVL and HEARTBEAT_TTL=2000 ms sends this PING.
LIBZMQ_PING = b"\x04\x07\x04PING\x00\x14"

Item = tuple[str, list[bytes] | bytes]


def wire(messages: list[list[bytes]]) -> bytes:
    out: list[Buffer] = []
    n = encode_messages(messages, out)
    data = b"".join(bytes(b) for b in out)
    assert n == len(data)
    return data


def decode_chunks(chunks: list[bytes], maxmsgsize: int = -1) -> tuple[list[Item], FrameDecoder]:
    """Feed ``chunks`` in order; return messages and commands in stream order."""
    dec = FrameDecoder(maxmsgsize)
    items: list[Item] = []
    for chunk in chunks:
        data = chunk
        while True:
            items.extend(("msg", m) for m in dec.feed(data))
            if dec.command is None:
                break
            items.append(("cmd", dec.command))
            dec.command = None
            data = b""
    return items, dec


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(set(cuts)), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


# -- headers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "more", "command", "expected"),
    [
        (0, False, False, b"\x00\x00"),
        (1, False, False, b"\x00\x01"),
        (255, False, False, b"\x00\xff"),
        (256, False, False, b"\x02\x00\x00\x00\x00\x00\x00\x01\x00"),
        (0, True, False, b"\x01\x00"),
        (255, True, False, b"\x01\xff"),
        (256, True, False, b"\x03\x00\x00\x00\x00\x00\x00\x01\x00"),
        (41, False, True, b"\x04\x29"),
        (296, False, True, b"\x06\x00\x00\x00\x00\x00\x00\x01\x28"),
        (MAX_FRAME_SIZE, False, False, b"\x02\x7f\xff\xff\xff\xff\xff\xff\xff"),
    ],
)
def test_frame_header_vectors(size: int, more: bool, command: bool, expected: bytes) -> None:
    assert frame_header(size, more=more, command=command) == expected


def test_encode_command_vectors() -> None:
    assert encode_command(b"PING", b"\x00\x14") == LIBZMQ_PING
    assert encode_command(b"PONG") == b"\x04\x05\x04PONG"
    assert encode_command(b"SUBSCRIBE", b"topic") == b"\x04\x0f\x09SUBSCRIBEtopic"
    # 255/256 boundary on the command body (name length octet + name + data).
    body255 = encode_command(b"X", bytes(253))
    assert body255[:2] == b"\x04\xff" and len(body255) == 2 + 255
    body256 = encode_command(b"X", bytes(254))
    assert body256[:9] == b"\x06" + struct.pack(">Q", 256) and len(body256) == 9 + 256


# -- encoder ------------------------------------------------------------------------------


def test_encode_single_frame_matches_libzmq() -> None:
    assert wire([[b"hello"]]) == LIBZMQ_HELLO


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([[b""]], b"\x00\x00"),
        ([[b"", b""]], b"\x01\x00\x00\x00"),
        ([[b"a", b"bc", b"d"]], b"\x01\x01a\x01\x02bc\x00\x01d"),
        ([[b"x" * 255]], b"\x00\xff" + b"x" * 255),
        ([[b"x" * 256]], b"\x02" + struct.pack(">Q", 256) + b"x" * 256),
        ([[b"x" * 256, b"y" * 255]],
         b"\x03" + struct.pack(">Q", 256) + b"x" * 256 + b"\x00\xff" + b"y" * 255),
        ([[b"y" * 255, b"x" * 256]],
         b"\x01\xff" + b"y" * 255 + b"\x02" + struct.pack(">Q", 256) + b"x" * 256),
        ([[b"a"], [b"b", b"c"]], b"\x00\x01a\x01\x01b\x00\x01c"),
        ([], b""),
    ],
)
def test_encode_messages_vectors(messages: list[list[bytes]], expected: bytes) -> None:
    assert wire(messages) == expected


def test_encode_messages_passes_large_bodies_through_uncopied() -> None:
    # ARCHITECTURE rule 4: a large body is a separate buffer, never joined to its header;
    # small frames around it are joined into runs.
    big = b"z" * (LARGE_FRAME + 1)
    view = memoryview(b"abc")
    out: list[Buffer] = []
    encode_messages([[b"a"], [view, big, b"b"], [big]], out)
    assert [b is big for b in out] == [False, True, False, True]
    assert out[0] == b"\x00\x01a\x01\x03abc\x03" + struct.pack(">Q", len(big))
    assert out[2] == b"\x00\x01b\x02" + struct.pack(">Q", len(big))


def test_encode_messages_joins_runs_of_bounded_size() -> None:
    out: list[Buffer] = [b"already"]
    assert encode_messages([[b"a"]], out) == 3
    assert out == [b"already", b"\x00\x01a"]
    small = [[b"x" * 200]] * 5000  # 1 MB of small frames
    out = []
    total = encode_messages(small, out)
    assert b"".join(out) == b"".join(b"\x00\xc8" + m[0] for m in small)
    assert total == 1_010_000 and len(out) == 4  # three full runs and the rest
    assert all(JOIN_RUN <= len(b) < JOIN_RUN + 202 for b in out[:3])


# -- decoder: well-formed input -------------------------------------------------------------


def test_decode_libzmq_frames() -> None:
    items, dec = decode_chunks([LIBZMQ_HELLO + LIBZMQ_PING + LIBZMQ_HELLO])
    assert items == [("msg", [b"hello"]), ("cmd", b"\x04PING\x00\x14"), ("msg", [b"hello"])]
    assert not dec.pending


def test_decoder_pauses_after_each_command() -> None:
    dec = FrameDecoder()
    data = b"\x00\x01a" + encode_command(b"PING", b"\x00\x00") + b"\x00\x01b"
    assert dec.feed(data) == [[b"a"]]
    assert dec.command == b"\x04PING\x00\x00"
    dec.command = None
    assert dec.feed(b"") == [[b"b"]]
    assert dec.command is None
    assert not dec.pending


@pytest.mark.parametrize("size", [0, 1, 254, 255, 256, 257, 1000])
def test_decode_sizes_around_short_long_boundary(size: int) -> None:
    body = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    data = wire([[body, body], [body]])
    for chunks in ([data], [data[i:i + 1] for i in range(len(data))]):
        items, dec = decode_chunks(chunks)
        assert items == [("msg", [body, body]), ("msg", [body])]
        assert not dec.pending


def test_decode_long_encoding_of_small_frame() -> None:
    # RFC 37 says SHOULD use a short size for 0-255 octets; a long one is still valid.
    data = b"\x02" + struct.pack(">Q", 3) + b"abc" + b"\x06" + struct.pack(">Q", 5) + b"\x04PONG"
    items, _ = decode_chunks([data])
    assert items == [("msg", [b"abc"]), ("cmd", b"\x04PONG")]


def test_decode_empty_frames() -> None:
    items, _ = decode_chunks([b"\x00\x00\x01\x00\x01\x00\x00\x00"])
    assert items == [("msg", [b""]), ("msg", [b"", b"", b""])]


def test_decode_memoryview_and_bytearray_input() -> None:
    data = wire([[b"a" * 300, b"b"]])
    items, _ = decode_chunks([memoryview(data)[:5], bytearray(data[5:])])  # type: ignore[list-item]
    assert items == [("msg", [b"a" * 300, b"b"])]


@pytest.mark.parametrize("command", [False, True])
def test_decode_large_frame_across_chunks(command: bool) -> None:
    body = bytes(random.Random(7).randbytes(LARGE_FRAME * 2 + 5))
    if command:
        data = encode_command(b"X", body) + wire([[b"after"]])
        expected: list[Item] = [("cmd", b"\x01X" + body), ("msg", [b"after"])]
    else:
        data = wire([[b"head", body], [b"after"]])
        expected = [("msg", [b"head", body]), ("msg", [b"after"])]
    rng = random.Random(1)
    for _ in range(5):
        cuts = [rng.randrange(len(data)) for _ in range(rng.randrange(1, 40))]
        items, dec = decode_chunks(split_at(data, cuts))
        assert items == expected
        assert not dec.pending


def test_decode_large_frame_completed_with_trailing_frames_in_one_chunk() -> None:
    body = b"q" * (LARGE_FRAME + 10)
    data = wire([[body], [b"x"], [b"y", b"z"]])
    items, _ = decode_chunks([data[:20], data[20:]])
    assert items == [("msg", [body]), ("msg", [b"x"]), ("msg", [b"y", b"z"])]


# -- decoder: row 26, every split of two > 8 KiB messages ----------------------------------


def test_two_large_messages_split_at_every_byte_boundary() -> None:
    """SECURITY-TESTS row 26 (CVE-2021-20235): any split decodes exactly."""
    rng = random.Random(26)
    m1 = [rng.randbytes(9000)]
    m2 = [b"", rng.randbytes(8193), b"tail"]
    data = wire([m1, m2])
    expected = [("msg", m1), ("msg", m2)]
    for cut in range(len(data) + 1):
        items, dec = decode_chunks([data[:cut], data[cut:]])
        assert items == expected, cut
        assert not dec.pending


def test_three_way_splits_around_headers() -> None:
    m1 = [b"A" * 8200, b"B" * 300]
    m2 = [b"C" * 9000]
    data = wire([m1, m2])
    # Every pair of cuts within the header regions and a stride elsewhere.
    header_zone = [*range(12), *range(8205, 8225), *range(8510, 8530)]
    for a in header_zone:
        for b in range(a, len(data) + 1, 997):
            items, _ = decode_chunks([data[:a], data[a:b], data[b:]])
            assert items == [("msg", m1), ("msg", m2)]


def test_byte_by_byte() -> None:
    data = wire([[b"x" * 9000, b""], [b"y" * 256]]) + encode_command(b"PING", b"\x00\x01")
    items, dec = decode_chunks([data[i:i + 1] for i in range(len(data))])
    assert items == [("msg", [b"x" * 9000, b""]), ("msg", [b"y" * 256]),
                     ("cmd", b"\x04PING\x00\x01")]
    assert not dec.pending


# -- decoder: malformed input -----------------------------------------------------------------


@pytest.mark.parametrize("flags", [0x08, 0x10, 0x20, 0x40, 0x80, 0xFF, 0xF8 | 0x04])
def test_reserved_flag_bits_refused(flags: int) -> None:
    with pytest.raises(UnspecifiedProtocolError):
        FrameDecoder().feed(bytes((flags, 0)))


@pytest.mark.parametrize("data", [b"\x05\x04PONG", b"\x07" + struct.pack(">Q", 5) + b"\x04PONG"])
def test_command_with_more_flag_refused(data: bytes) -> None:
    with pytest.raises(MalformedCommand) as info:
        FrameDecoder().feed(data)
    assert info.value.code == ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_UNSPECIFIED


def test_large_command_with_more_flag_refused() -> None:
    dec = FrameDecoder()
    dec.feed(b"\x07" + struct.pack(">Q", LARGE_FRAME + 1) + b"\x01X")
    with pytest.raises(MalformedCommand):
        dec.feed(bytes(LARGE_FRAME))


@pytest.mark.parametrize("size", [(1 << 64) - 1, 1 << 63, (1 << 63) + 12345])
@pytest.mark.parametrize("flags", [0x02, 0x03, 0x06])
def test_frame_size_beyond_2_63_refused_from_header_alone(size: int, flags: int) -> None:
    """SECURITY-TESTS row 25 (CVE-2019-6250): refused on the 9 header octets."""
    dec = FrameDecoder()
    assert dec.feed(bytes((flags,)) + struct.pack(">Q", size)[:4]) == []
    with pytest.raises(MessageTooLarge) as info:
        dec.feed(struct.pack(">Q", size)[4:])
    assert info.value.errno == EMSGSIZE
    assert info.value.event == 0


@pytest.mark.parametrize(("limit", "size"), [(0, 1), (255, 256), (1000, 1001), (10, 1 << 40)])
def test_frame_above_maxmsgsize_refused_before_body(limit: int, size: int) -> None:
    dec = FrameDecoder(limit)
    with pytest.raises(MessageTooLarge):
        dec.feed(frame_header(size))


@pytest.mark.parametrize(("limit", "size"), [(0, 0), (255, 255), (256, 256), (1000, 1000)])
def test_frame_at_maxmsgsize_accepted(limit: int, size: int) -> None:
    items, _ = decode_chunks([wire([[b"m" * size]])], maxmsgsize=limit)
    assert items == [("msg", [b"m" * size])]


def test_huge_announced_frame_buffers_only_what_arrived() -> None:
    """Row 25: a 2^63-1 header with no limit costs only the octets actually sent."""
    tracemalloc.start()
    try:
        dec = FrameDecoder()
        dec.feed(b"\x02" + struct.pack(">Q", MAX_FRAME_SIZE))
        for _ in range(64):
            dec.feed(b"\x00" * 1024)
        assert dec.pending
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 512 * 1024


def test_refusal_allocates_nothing_big() -> None:
    tracemalloc.start()
    try:
        for size in ((1 << 64) - 1, 1 << 63, 1 << 62):
            dec = FrameDecoder(1 << 20)
            assert dec.feed(b"\x00\x01a\x02" + struct.pack(">Q", size) + bytes(100)) == [[b"a"]]
            assert isinstance(dec.error, MessageTooLarge)
            assert not dec.pending
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024


def test_partial_multipart_is_never_delivered() -> None:
    """SECURITY-TESTS row 30 (CVE-2021-20234): a message cut short is not a message."""
    dec = FrameDecoder()
    assert dec.feed(b"\x01\x05hello\x01\x05world") == []
    assert dec.pending
    # The peer goes away here: whatever the decoder holds dies with it. A new decoder
    # (the reconnect) starts clean.
    assert FrameDecoder().feed(b"\x00\x01x") == [[b"x"]]


def test_partial_multipart_then_garbage_is_not_delivered() -> None:
    dec = FrameDecoder()
    assert dec.feed(b"\x01\x05hello") == []
    with pytest.raises(ProtocolError):
        dec.feed(b"\xff\xff")


def test_messages_before_a_bad_frame_are_not_lost() -> None:
    """What arrived intact before the violation is returned, the same under any split."""
    data = b"\x00\x01a\x01\x01b\x00\x01c" + b"\x80\x00"
    whole = FrameDecoder()
    assert whole.feed(data) == [[b"a"], [b"b", b"c"]]
    with pytest.raises(UnspecifiedProtocolError):
        whole.feed(b"")
    assert isinstance(whole.error, UnspecifiedProtocolError)
    split = FrameDecoder()
    assert split.feed(data[:9]) == [[b"a"], [b"b", b"c"]]
    with pytest.raises(UnspecifiedProtocolError):
        split.feed(data[9:])


def test_decoder_stays_failed() -> None:
    dec = FrameDecoder()
    with pytest.raises(MessageTooLarge):
        dec.feed(b"\x02" + b"\xff" * 8)
    with pytest.raises(MessageTooLarge):
        dec.feed(b"\x00\x01a")


# -- properties -----------------------------------------------------------------------------

frames = st.one_of(
    st.binary(max_size=16),
    st.binary(min_size=250, max_size=300),
    st.builds(lambda n, b: bytes((b,)) * n, st.integers(LARGE_FRAME - 3, LARGE_FRAME + 70),
              st.integers(0, 255)),
)
messages_st = st.lists(st.lists(frames, min_size=1, max_size=5), max_size=6)


@settings(max_examples=200, deadline=None)
@given(messages=messages_st, data=st.data())
def test_roundtrip_any_chunking(messages: list[list[bytes]], data: st.DataObject) -> None:
    encoded = wire(messages)
    cuts = data.draw(st.lists(st.integers(0, len(encoded)), max_size=30))
    items, dec = decode_chunks(split_at(encoded, cuts))
    assert items == [("msg", m) for m in messages]
    assert not dec.pending


def decode_until_error(chunks: list[bytes], limit: int) -> tuple[list[Item], str | None]:
    """Like :func:`decode_chunks`, but keep what was decoded before a ProtocolError."""
    dec = FrameDecoder(limit)
    items: list[Item] = []
    try:
        for chunk in chunks:
            data = chunk
            while True:
                items.extend(("msg", m) for m in dec.feed(data))
                if dec.command is None:
                    break
                items.append(("cmd", dec.command))
                dec.command = None
                data = b""
        if dec.error is not None:
            dec.feed(b"")
    except ProtocolError as exc:
        assert dec.error is exc
        return items, type(exc).__name__
    return items, None


@settings(max_examples=200, deadline=None)
@given(blob=st.binary(max_size=400), data=st.data(),
       limit=st.sampled_from([-1, 0, 100, 300]))
def test_garbage_raises_only_protocol_errors_and_is_split_invariant(
        blob: bytes, data: st.DataObject, limit: int) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(blob)), max_size=10))
    assert decode_until_error([blob], limit) == decode_until_error(split_at(blob, cuts), limit)


@settings(max_examples=200, deadline=None)
@given(messages=messages_st, garbage=st.binary(min_size=1, max_size=50), data=st.data())
def test_valid_prefix_then_garbage_is_split_invariant(
        messages: list[list[bytes]], garbage: bytes, data: st.DataObject) -> None:
    stream = wire(messages) + garbage
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=10))
    whole = decode_until_error([stream], -1)
    assert whole == decode_until_error(split_at(stream, cuts), -1)
    assert whole[0][:len(messages)] == [("msg", m) for m in messages]


def test_large_frame_filled_in_place_is_an_ordinary_bytes_object() -> None:
    """The kernel-to-bytes shortcut (CPython) must hand over a normal, hashable bytes."""
    from securemq.zmtp.frames import FrameDecoder, frame_header

    body = bytes(range(256)) * 4096  # 1 MiB
    wire = frame_header(len(body)) + body
    dec = FrameDecoder()
    assert dec.feed(wire[:1000]) == []
    view = dec.large_buffer()
    assert view is not None
    rest = wire[1000:]
    view[:len(rest)] = rest
    (msg,) = dec.large_filled(len(rest))
    assert type(msg[0]) is bytes
    assert msg[0] == body
    assert hash(msg[0]) == hash(bytes(body))


def decode_transient(chunks: list[bytes],
                     transient: bool = True) -> tuple[list[Item], FrameDecoder]:
    """:func:`decode_chunks` through one reused buffer, as the engine reads.

    Message bodies are copied out as each feed returns; then the buffer is scribbled
    over: anything else the decoder kept as a view of it (a command, a partial frame)
    would come out wrong. Without ``transient`` (plain traffic) the bodies must not
    be views either, which ``bytes(b)`` would hide: that is checked as they come.
    """
    dec = FrameDecoder()
    dec.transient = transient
    buf = memoryview(bytearray(max((len(c) for c in chunks), default=0)))
    items: list[Item] = []
    for chunk in chunks:
        buf[:len(chunk)] = chunk
        data: Buffer = buf[:len(chunk)]
        while True:
            messages = dec.feed(data)
            assert transient or all(type(b) is bytes for m in messages for b in m)
            items.extend(("msg", [bytes(b) for b in m]) for m in messages)
            buf[:len(chunk)] = b"\xa5" * len(chunk)
            if dec.command is None:
                break
            items.append(("cmd", dec.command))
            dec.command = None
            data = b""
    return items, dec


transient_frames = st.one_of(
    st.binary(max_size=16),
    st.builds(lambda n, b: bytes((b,)) * n, st.integers(2040, 2060), st.integers(0, 255)),
    st.builds(lambda n, b: bytes((b,)) * n, st.integers(LARGE_FRAME - 3, LARGE_FRAME + 70),
              st.integers(0, 255)),
)


@settings(max_examples=200, deadline=None)
@given(messages=st.lists(st.lists(transient_frames, min_size=1, max_size=3), max_size=6),
       commands=st.lists(st.binary(max_size=3000), max_size=3), transient=st.booleans(),
       data=st.data())
def test_transient_views_never_outlive_their_chunk(
        messages: list[list[bytes]], commands: list[bytes], transient: bool,
        data: st.DataObject) -> None:
    """Views of a reused input are for the caller to consume at once: what the decoder
    keeps (partial frames, multipart parts, a command) is its own copy. A plain decoder
    reads the same reused buffer (the engine's) and delivers bytes of its own."""
    stream = wire(messages) + b"".join(encode_command(b"X", c) for c in commands)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=20))
    items, dec = decode_transient(split_at(stream, cuts), transient)
    expected, _ = decode_chunks([stream])
    assert items == expected
    assert not dec.pending


def test_transient_part_before_a_large_frame_is_kept_as_a_copy() -> None:
    """A viewed first part, then the header of a large frame: the part waits for the rest
    of its message, so it must not stay a view of the chunk (found by the property above).
    """
    first, big = b"\x00" * 2048, b"\x01" * (LARGE_FRAME + 1)
    stream = wire([[first, big]])
    cut = 9 + len(first) + 9
    assert decode_transient([stream[:cut], stream[cut:]])[0] == [("msg", [first, big])]


def test_commands_in_one_chunk_are_decoded_in_place() -> None:
    """Decoding resumes after each command where it stopped, without copying the rest of
    the chunk: that made 10,000 SUBSCRIBEs in one read (or a peer's flood of PINGs) cost
    time quadratic in the chunk."""
    commands = [encode_command(b"SUBSCRIBE", b"topic-%05d" % i) for i in range(1000)]
    stream = b"".join(commands) + wire([[b"last"]])
    dec = FrameDecoder()
    seen: list[bytes] = []
    messages = dec.feed(stream)
    while dec.command is not None:
        assert dec._buf is stream  # the rest of the chunk, where it was read
        seen.append(dec.command)
        dec.command = None
        messages = dec.feed(b"")
    assert seen == [c[2:] for c in commands]  # each without its two-octet frame header
    assert messages == [[b"last"]] and not dec.pending


def test_transient_large_part_held_for_its_message_is_a_copy() -> None:
    """A large first part waits in the decoder for the rest of its message while the
    next large frame is gathered in the reused buffer: it must not be a view of it
    (found by the property above)."""
    # c no larger than a, so that it is gathered in the very buffer a was.
    a, b, c = b"a" * (LARGE_FRAME + 20), b"b" * 5, b"c" * (LARGE_FRAME + 10)
    stream = wire([[a, b], [c]])
    end_a = 9 + len(a)
    cuts = [100, end_a, end_a + 2 + len(b) + 100]
    assert decode_transient(split_at(stream, cuts))[0] == [("msg", [a, b]), ("msg", [c])]


def test_transient_large_frames_share_one_buffer() -> None:
    """Sealed traffic gathers large frames in one reused buffer, warm in the cache, and
    hands out views of it that last until the next call; a command is copied out, and
    a frame beyond SPARE_MAX gets a buffer of its own."""
    dec = FrameDecoder()
    dec.transient = True

    def through_buffer(frame: bytes) -> list[list[bytes]]:
        assert dec.feed(memoryview(frame[:1000])) == []
        view = dec.large_buffer()
        assert view is not None
        view[:len(frame) - 1000] = frame[1000:]
        return dec.large_filled(len(frame) - 1000)

    a, b = b"a" * (LARGE_FRAME + 100), b"b" * (LARGE_FRAME + 50)
    ((body_a,),) = through_buffer(wire([[a]]))
    assert bytes(body_a) == a
    spare = cast(memoryview, body_a).obj
    ((body_b,),) = through_buffer(wire([[b]]))
    assert bytes(body_b) == b and cast(memoryview, body_b).obj is spare
    assert through_buffer(encode_command(b"BIG", a)) == []
    assert type(dec.command) is bytes and dec.command == b"\x03BIG" + a
    dec.command = None
    c = b"c" * (SPARE_MAX + 1)
    ((body_c,),) = through_buffer(wire([[c]]))
    assert type(body_c) is bytes and body_c == c


def test_transient_decoder_views_large_frames_only() -> None:
    """A chunk led by a large frame is decoded into views of it; small ones are copied."""
    big, small = b"b" * 4096, b"s" * 40
    dec = FrameDecoder()
    dec.transient = True
    (first, second) = dec.feed(memoryview(wire([[big], [small]])))
    assert type(first[0]) is memoryview and bytes(first[0]) == big
    assert type(second[0]) is memoryview
    assert [type(b) for m in dec.feed(memoryview(wire([[small], [big]]))) for b in m] == \
        [bytes, bytes]
    plain = FrameDecoder()
    assert type(plain.feed(memoryview(wire([[big]])))[0][0]) is bytes
