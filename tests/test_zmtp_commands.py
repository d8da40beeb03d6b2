"""Command bodies, the metadata property list, socket-type compatibility and PING.

READY vectors marked "libzmq" were captured from libzmq 4.3.5 (through pyzmq).
"""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securemq.constants import ProtocolErrorCode
from securemq.error import (
    AuthenticationFailed,
    InvalidMetadata,
    MalformedCommand,
    UnspecifiedProtocolError,
)
from securemq.security.base import error_from_peer
from securemq.zmtp.commands import (
    SOCKET_TYPE_NAMES,
    basic_properties,
    command_body,
    compatible,
    decode_metadata,
    encode_metadata,
    parse_ping,
    split_command,
)

# libzmq 4.3.5 READY command frames (flags, size, body).
LIBZMQ_READY_DEALER = (
    b"\x04\x29\x05READY\x0bSocket-Type\x00\x00\x00\x06DEALER\x08Identity\x00\x00\x00\x00"
)
LIBZMQ_READY_ROUTER = (
    b"\x04\x29\x05READY\x0bSocket-Type\x00\x00\x00\x06ROUTER\x08Identity\x00\x00\x00\x00"
)
LIBZMQ_READY_PUSH = b"\x04\x1a\x05READY\x0bSocket-Type\x00\x00\x00\x04PUSH"
ROUTING_ID_255 = b"\x01" + b"A" * 254
LIBZMQ_READY_DEALER_ID255 = (
    b"\x06" + struct.pack(">Q", 0x128)
    + b"\x05READY\x0bSocket-Type\x00\x00\x00\x06DEALER\x08Identity\x00\x00\x00\xff"
    + ROUTING_ID_255
)

# RFC 37 "Worked Example": the ROUTER's READY carries only Socket-Type (28 octets).
RFC_READY_ROUTER = b"\x04\x1c\x05READY\x0bSocket-Type\x00\x00\x00\x06ROUTER"


def ready_metadata(frame: bytes) -> bytes:
    body = frame[2:] if frame[0] == 0x04 else frame[9:]
    name, data = split_command(body)
    assert name == b"READY"
    return data


# -- command bodies -------------------------------------------------------------------------


def test_command_body_and_split() -> None:
    assert command_body(b"READY", b"x") == b"\x05READYx"
    assert split_command(b"\x05READYx") == (b"READY", b"x")
    assert split_command(b"\x04PING") == (b"PING", b"")
    assert split_command(b"\x01\x00") == (b"\x00", b"")


@pytest.mark.parametrize("body", [b"", b"\x00", b"\x00READY", b"\x06READY", b"\xff" + b"A" * 254])
def test_split_command_malformed(body: bytes) -> None:
    with pytest.raises(MalformedCommand) as info:
        split_command(body)
    assert info.value.code == ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_UNSPECIFIED


def test_split_command_255_octet_name() -> None:
    assert split_command(b"\xff" + b"A" * 255) == (b"A" * 255, b"")


# -- metadata: byte-exact ------------------------------------------------------------------


def test_encode_ready_matches_libzmq_dealer() -> None:
    md = encode_metadata(basic_properties(5, b""))
    assert md == ready_metadata(LIBZMQ_READY_DEALER)
    assert command_body(b"READY", md) == LIBZMQ_READY_DEALER[2:]
    assert len(command_body(b"READY", md)) == 41  # RFC 37 worked example


def test_encode_ready_matches_libzmq_push_and_router() -> None:
    assert encode_metadata(basic_properties(8, b"")) == ready_metadata(LIBZMQ_READY_PUSH)
    assert encode_metadata(basic_properties(6, b"")) == ready_metadata(LIBZMQ_READY_ROUTER)
    assert encode_metadata([("Socket-Type", b"ROUTER")]) == ready_metadata(RFC_READY_ROUTER)


def test_encode_ready_matches_libzmq_255_octet_identity() -> None:
    md = encode_metadata(basic_properties(5, ROUTING_ID_255))
    assert md == ready_metadata(LIBZMQ_READY_DEALER_ID255)


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (LIBZMQ_READY_DEALER, {"socket-type": b"DEALER", "identity": b""}),
        (LIBZMQ_READY_ROUTER, {"socket-type": b"ROUTER", "identity": b""}),
        (LIBZMQ_READY_PUSH, {"socket-type": b"PUSH"}),
        (LIBZMQ_READY_DEALER_ID255, {"socket-type": b"DEALER", "identity": ROUTING_ID_255}),
    ],
)
def test_decode_libzmq_ready(frame: bytes, expected: dict[str, bytes]) -> None:
    assert decode_metadata(ready_metadata(frame)) == expected


def test_decode_metadata_values() -> None:
    assert decode_metadata(b"") == {}
    # Names are case-insensitive: keys are lower-cased, a repeated name keeps the last.
    md = encode_metadata([("X-Foo", b"1"), ("x-FOO", b"2"), ("A", b"")])
    assert decode_metadata(md) == {"x-foo": b"2", "a": b""}
    # A 255-octet name with every allowed character class.
    name = ("Ab0-_.+" * 37)[:255]
    assert decode_metadata(encode_metadata([(name, b"v")])) == {name.lower(): b"v"}
    # Values are opaque binary.
    assert decode_metadata(encode_metadata([("X-Bin", bytes(range(256)))])) == {
        "x-bin": bytes(range(256))}


def test_basic_properties() -> None:
    assert basic_properties(5, b"id") == [("Socket-Type", b"DEALER"), ("Identity", b"id")]
    assert basic_properties(3, b"") == [("Socket-Type", b"REQ"), ("Identity", b"")]
    assert basic_properties(6, b"r") == [("Socket-Type", b"ROUTER"), ("Identity", b"r")]
    assert basic_properties(1, b"ignored") == [("Socket-Type", b"PUB")]
    assert basic_properties(7, b"", {"X-App": b"v"}) == [("Socket-Type", b"PULL"),
                                                         ("X-App", b"v")]


@pytest.mark.parametrize("name", ["", "X" * 256, "bad name", "caf\u00e9", "a/b", "a\x00"])
def test_encode_metadata_bad_name_is_a_caller_error(name: str) -> None:
    with pytest.raises(ValueError):
        encode_metadata([(name, b"")])


# -- metadata: malformed (SECURITY-TESTS row 23, CVE-2019-13132) -------------------------


def prop(name: bytes, size: int, value: bytes = b"") -> bytes:
    return bytes((len(name),)) + name + struct.pack(">I", size) + value


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"\x00", "name length 0, nothing else"),
        (b"\x00\x00\x00\x00\x00", "name length 0 with a value size"),
        (prop(b"A", 0) + b"\x00\x00\x00\x00\x00", "valid, then name length 0"),
        (b"\x05ABC", "name past the end"),
        (b"\xff" + b"A" * 254, "255-octet name past the end"),
        (b"\x01A", "no value size"),
        (b"\x01A\x00\x00\x00", "truncated value size"),
        (prop(b"A", 1), "value length 1, nothing follows"),
        (prop(b"A", 5, b"abcd"), "value length one past the end"),
        (prop(b"Identity", 256, b"x" * 255), "value length past the end"),
        (prop(b"A", 1 << 31), "value length 2^31"),
        (prop(b"A", (1 << 31) - 1), "value length 2^31-1 past the end"),
        (prop(b"A", (1 << 32) - 1), "value length 2^32-1"),
        (prop(b"A", 0) + prop(b"B", 1 << 31), "second property 2^31"),
        (prop(b"Socket Type", 0), "space in name"),
        (prop(b"A\x00", 0), "NUL in name"),
        (prop(b"\xc3\xa9", 0), "non-ASCII name"),
        (prop(b"a/b", 0), "slash in name"),
    ],
)
def test_malformed_metadata_refused(data: bytes, what: str) -> None:
    with pytest.raises(InvalidMetadata) as info:
        decode_metadata(data)
    assert info.value.code == ProtocolErrorCode.ZMTP_INVALID_METADATA


def test_metadata_value_limit() -> None:
    data = prop(b"X-Big", 1000, bytes(1000))
    assert decode_metadata(data, limit=1000) == {"x-big": bytes(1000)}
    with pytest.raises(InvalidMetadata):
        decode_metadata(data, limit=999)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_decode_random_bytes_raises_only_invalid_metadata(data: bytes) -> None:
    try:
        props = decode_metadata(data)
    except InvalidMetadata:
        return
    # What parses re-encodes to something that parses the same.
    assert decode_metadata(encode_metadata(props.items())) == props


names = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.+",
                min_size=1, max_size=255)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(names, st.binary(max_size=300)), max_size=8))
def test_metadata_roundtrip(props: list[tuple[str, bytes]]) -> None:
    expected: dict[str, bytes] = {}
    for name, value in props:
        expected[name.lower()] = value
    assert decode_metadata(encode_metadata(props)) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(names, st.binary(max_size=40)), min_size=1, max_size=4), st.data())
def test_truncated_metadata_refused(props: list[tuple[str, bytes]], data: st.DataObject) -> None:
    encoded = encode_metadata(props)
    cut = data.draw(st.integers(1, len(encoded) - 1))
    # Every proper prefix that does not end exactly on a property boundary is refused.
    boundaries = set(itertools.accumulate(
        len(encode_metadata([p])) for p in props))
    if cut in boundaries:
        decode_metadata(encoded[:cut])
    else:
        with pytest.raises(InvalidMetadata):
            decode_metadata(encoded[:cut])


# -- socket types ---------------------------------------------------------------------------

# RFC 37 "The Socket-Type Property", verbatim.
RFC_TABLE = {
    "REQ": "REP ROUTER",
    "REP": "REQ DEALER",
    "DEALER": "REP DEALER ROUTER",
    "ROUTER": "REQ DEALER ROUTER",
    "PUB": "SUB XSUB",
    "XPUB": "SUB XSUB",
    "SUB": "PUB XPUB",
    "XSUB": "PUB XPUB",
    "PUSH": "PULL",
    "PULL": "PUSH",
    "PAIR": "PAIR",
    "CLIENT": "SERVER",
    "SERVER": "CLIENT",
    "RADIO": "DISH",
    "DISH": "RADIO",
    "SCATTER": "GATHER",
    "GATHER": "SCATTER",
    "PEER": "PEER",
    "CHANNEL": "CHANNEL",
}
ALL_TYPES = sorted({*RFC_TABLE, "STREAM", "DGRAM", "", "dealer", "UNKNOWN"})


def test_compatibility_table() -> None:
    for ours, theirs in itertools.product(ALL_TYPES, repeat=2):
        expected = theirs in RFC_TABLE.get(ours, "").split()
        assert compatible(ours.encode(), theirs.encode()) is expected, (ours, theirs)
        # The relation is symmetric.
        assert compatible(theirs.encode(), ours.encode()) is expected, (theirs, ours)


def test_socket_type_names_match_libzmq_numbers() -> None:
    zmq = pytest.importorskip("zmq")
    for number, name in SOCKET_TYPE_NAMES.items():
        assert getattr(zmq, name.decode()) == number


# -- PING / ERROR ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "ttl", "context"),
    [
        (b"\x00\x00", 0, b""),
        (b"\x00\x14", 20, b""),  # libzmq HEARTBEAT_TTL=2000 ms
        (b"\xff\xff" + b"c" * 16, 65535, b"c" * 16),
        (b"\x01\x00ctx", 256, b"ctx"),
    ],
)
def test_parse_ping(data: bytes, ttl: int, context: bytes) -> None:
    assert parse_ping(data) == (ttl, context)


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x00" + b"c" * 17, bytes(300)])
def test_parse_ping_malformed(data: bytes) -> None:
    with pytest.raises(MalformedCommand):
        parse_ping(data)


@pytest.mark.parametrize(("reason", "status"), [(b"300", 300), (b"400", 400), (b"500", 500)])
def test_error_with_zap_status(reason: bytes, status: int) -> None:
    exc = error_from_peer(bytes((len(reason),)) + reason)
    assert isinstance(exc, AuthenticationFailed)
    assert exc.status_code == status and exc.event_value == status


@pytest.mark.parametrize("data", [b"", b"\x05abc", b"\x03200", b"\x03abc", b"\x02\xff\xfe",
                                  b"\x04400x", b"\x00"])
def test_error_without_status(data: bytes) -> None:
    assert isinstance(error_from_peer(data), UnspecifiedProtocolError)
