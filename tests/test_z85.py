"""securemq.utils.z85 (RFC 32) against the RFC's vector and pyzmq's ``zmq.utils.z85``.

SECURITY-TESTS row 44: a wrong length, a character outside the alphabet or a group above
2**32 - 1 (``#####``) is a ``ValueError`` from the codec and ``EINVAL`` from the CURVE key
options, never a partial result.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from zmq.utils import z85 as pyzmq_z85

import securemq
from securemq.constants import EINVAL, SocketOption
from securemq.error import ZMQError
from securemq.options import Options
from securemq.utils import z85

# RFC 32 "Test Case".
RFC_RAW = bytes((0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B))
RFC_TEXT = b"HelloWorld"
# RFC 26's example keys, as libzmq's tests use them.
KEY_PUBLIC = b"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
KEY_SECRET = b"JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"

ALPHABET = (b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
            b".-:+=^!/*?&<>()[]{}@%$#")
# Every octet that is not a Z85 character: space, quotes, backslash, comma, ...
OUTSIDE = [c for c in range(256) if c not in ALPHABET]

quads = st.binary(max_size=400).map(lambda b: b[: len(b) // 4 * 4])
# Text of whole groups whose values all fit in 32 bits: any encoding.
valid_text = quads.map(pyzmq_z85.encode)


# -- the vector and the alphabet ---------------------------------------------------------------


def test_rfc_vector() -> None:
    assert z85.encode(RFC_RAW) == RFC_TEXT
    assert z85.decode(RFC_TEXT) == RFC_RAW
    assert z85.decode(RFC_TEXT.decode()) == RFC_RAW


def test_alphabet_matches_rfc_and_pyzmq() -> None:
    assert z85.Z85CHARS == ALPHABET == pyzmq_z85.Z85CHARS
    assert len(set(z85.Z85CHARS)) == 85
    assert z85.Z85MAP == pyzmq_z85.Z85MAP


@pytest.mark.parametrize(("raw", "text"), [
    (b"", b""),
    (bytes(4), b"00000"),
    (b"\xff" * 4, b"%nSc0"),  # 2**32 - 1, the largest group
    (b"\x00\x00\x00\x54", b"0000#"),  # 84, the last character
    (b"\x00\x00\x00\x55", b"00010"),  # 85: the first carry
])
def test_edges(raw: bytes, text: bytes) -> None:
    assert z85.encode(raw) == text
    assert z85.decode(text) == raw


def test_key_round_trip() -> None:
    raw = z85.decode(KEY_PUBLIC)
    assert len(raw) == 32
    assert z85.encode(raw) == KEY_PUBLIC


def test_buffer_types() -> None:
    assert z85.encode(bytearray(RFC_RAW)) == RFC_TEXT
    assert z85.encode(memoryview(RFC_RAW)) == RFC_TEXT
    assert z85.decode(bytearray(RFC_TEXT)) == RFC_RAW
    assert z85.decode(memoryview(RFC_TEXT)) == RFC_RAW


# -- agreement with pyzmq ----------------------------------------------------------------------


@given(quads)
def test_encode_matches_pyzmq(raw: bytes) -> None:
    assert z85.encode(raw) == pyzmq_z85.encode(raw)


@given(valid_text)
def test_decode_matches_pyzmq(text: bytes) -> None:
    assert z85.decode(text) == pyzmq_z85.decode(text)
    assert z85.decode(text.decode("ascii")) == pyzmq_z85.decode(text.decode("ascii"))


@given(quads)
def test_round_trip(raw: bytes) -> None:
    assert z85.decode(z85.encode(raw)) == raw


@given(st.lists(st.sampled_from(ALPHABET), max_size=80).map(bytes))
def test_any_alphabet_text_decodes_or_overflows(text: bytes) -> None:
    """Text of the alphabet decodes exactly as pyzmq does, or is refused for a length
    that is not a multiple of 5 or a group above 2**32 - 1, never anything else."""
    groups = [text[i:i + 5] for i in range(0, len(text), 5)]
    fits = all(sum(z85.Z85MAP[c] * 85 ** (4 - i) for i, c in enumerate(g)) < 2**32
               for g in groups)
    if len(text) % 5 or not fits:
        with pytest.raises(ValueError, match=r"groups of 5|above 2\*\*32 - 1"):
            z85.decode(text)
    else:
        assert z85.decode(text) == pyzmq_z85.decode(text)


# -- refusals (SECURITY-TESTS row 44) ----------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 5, 31, 33])
def test_encode_wrong_length(n: int) -> None:
    with pytest.raises(ValueError, match="groups of 4"):
        z85.encode(bytes(n))


@pytest.mark.parametrize("n", [1, 4, 6, 39, 41])
def test_decode_wrong_length(n: int) -> None:
    with pytest.raises(ValueError, match="groups of 5"):
        z85.decode(b"0" * n)


@pytest.mark.parametrize("char", OUTSIDE, ids=lambda c: f"{c:#04x}")
def test_decode_character_outside_alphabet(char: int) -> None:
    text = bytearray(KEY_PUBLIC)
    text[17] = char
    with pytest.raises(ValueError, match="invalid Z85 character at offset 17"):
        z85.decode(bytes(text))


def test_decode_non_ascii_str() -> None:
    with pytest.raises(ValueError, match="ASCII"):
        z85.decode("é" * 5)


@pytest.mark.parametrize(("text", "offset"), [
    (b"#####", 0),
    (b"%nSc1", 0),  # 2**32: one above the largest group
    (b"00000" + b"#####", 5),
    (KEY_PUBLIC[:35] + b"#####", 35),
])
def test_decode_group_above_32_bits(text: bytes, offset: int) -> None:
    with pytest.raises(ValueError, match=f"group at offset {offset} is above"):
        z85.decode(text)


def test_error_messages_do_not_echo_the_text() -> None:
    """The text may be a secret key: refusals name an offset, never characters."""
    for bad in (KEY_SECRET[:-1] + b"~", KEY_SECRET[:-5] + b"#####", KEY_SECRET + b"x"):
        with pytest.raises(ValueError, match="Z85") as info:
            z85.decode(bad)
        message = str(info.value)
        assert all(KEY_SECRET[i:i + 4].decode() not in message for i in range(37))


def test_no_partial_result_on_late_error() -> None:
    """A bad last group refuses the whole text: nothing is returned for the good part."""
    with pytest.raises(ValueError, match="offset 35"):
        z85.decode(KEY_SECRET[:35] + b"~~~~~")


# -- CURVE key options use the codec ------------------------------------------------------------

# ``Options.set`` is where ``_curve_key`` checks the value. The socket refuses every
# security option with EINVAL until PLAIN and CURVE are wired in (securemq/socket.py),
# so at the socket only the refusals can be checked for now.


@pytest.fixture
def dealer() -> Iterator[securemq.Socket]:
    ctx = securemq.Context()
    sock = ctx.socket(securemq.DEALER)
    yield sock
    sock.close(linger=0)
    ctx.term()


CURVE_KEY_OPTIONS = [SocketOption.CURVE_PUBLICKEY, SocketOption.CURVE_SECRETKEY,
                     SocketOption.CURVE_SERVERKEY]
BAD_KEYS = [
    b"#####" * 8,  # every group above 2**32 - 1
    KEY_PUBLIC[:35] + b"#####",  # the last group only
    KEY_PUBLIC[:-1] + b"~",  # outside the alphabet
    KEY_PUBLIC[:-1] + b" ",
    KEY_PUBLIC[:-1] + b"\x00",
    KEY_PUBLIC[:39],  # 39 characters
    KEY_PUBLIC + b"0",  # 41 characters, not NUL-ended
    b"#####" * 8 + b"\x00",  # NUL-ended, overflowing
    bytes(31),
    bytes(33),
]


@pytest.mark.parametrize("option", CURVE_KEY_OPTIONS, ids=lambda o: o.name)
@pytest.mark.parametrize("value", BAD_KEYS, ids=repr)
def test_curve_key_option_refuses_bad_z85(dealer: securemq.Socket, option: SocketOption,
                                          value: bytes) -> None:
    opts = Options()
    with pytest.raises(ZMQError) as info:
        opts.set(option, value)
    assert info.value.errno == EINVAL
    assert opts.get(SocketOption.MECHANISM) == securemq.NULL  # nothing half-set
    with pytest.raises(ZMQError) as info:
        dealer.setsockopt(option, value)
    assert info.value.errno == EINVAL


@pytest.mark.parametrize("option", CURVE_KEY_OPTIONS, ids=lambda o: o.name)
@pytest.mark.parametrize("value", [KEY_PUBLIC, KEY_PUBLIC + b"\x00", z85.decode(KEY_PUBLIC)],
                         ids=["z85", "z85-nul", "raw"])
def test_curve_key_option_accepts_z85(option: SocketOption, value: bytes) -> None:
    opts = Options()
    opts.set(option, value)
    assert opts.get(SocketOption.MECHANISM) == securemq.CURVE
    assert getattr(opts, option.name.lower()) == z85.decode(KEY_PUBLIC)
