"""The 64-octet ZMTP greeting: ours byte for byte, libzmq's, and what is refused.

``LIBZMQ_GREETING`` was captured from libzmq 4.3.5 (pyzmq DEALER, no routing id)
connecting to a plain TCP socket; ``test_libzmq_greeting_live`` captures it again.
"""

from __future__ import annotations

import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securemq.constants import ProtocolErrorCode
from securemq.error import GreetingError, MechanismMismatch, ProtocolError
from securemq.zmtp.greeting import (
    GREETING_SIZE,
    SIGNATURE_SIZE,
    PeerGreeting,
    build_greeting,
    check_signature_prefix,
    parse_greeting,
)

# libzmq writes the signature first, with routing_id_size + 1 in the padding (for ZMTP
# 1.0 detection), waits for our signature, then writes the rest.
LIBZMQ_SIGNATURE = bytes.fromhex("ff00000000000000017f")
LIBZMQ_GREETING = LIBZMQ_SIGNATURE + bytes.fromhex(
    "0301" "4e554c4c" + "00" * 16 + "00" + "00" * 31
)
# The same, from a DEALER whose routing id is 255 octets long (padding = 256).
LIBZMQ_SIGNATURE_ID255 = bytes.fromhex("ff00000000000001007f")

OUR_NULL = (
    b"\xff\x00\x00\x00\x00\x00\x00\x00\x00\x7f"  # signature, zero padding
    b"\x03\x01"  # version 3.1
    b"NULL" + b"\x00" * 16  # mechanism
    + b"\x00"  # as-server
    + b"\x00" * 31  # filler
)


def with_fields(base: bytes = OUR_NULL, **fields: bytes) -> bytes:
    offsets = {"padding": 1, "major": 10, "minor": 11, "mechanism": 12, "as_server": 32,
               "filler": 33}
    b = bytearray(base)
    for name, value in fields.items():
        off = offsets[name]
        b[off:off + len(value)] = value
    assert len(b) == GREETING_SIZE
    return bytes(b)


# -- ours -----------------------------------------------------------------------------------


def test_our_null_greeting_bytes() -> None:
    assert build_greeting(b"NULL", False) == OUR_NULL
    assert len(OUR_NULL) == GREETING_SIZE


def test_our_greeting_equals_libzmq_except_padding() -> None:
    # RFC 37: the padding is not significant; libzmq puts an identity size there.
    ours = build_greeting(b"NULL", False)
    assert ours[0] == LIBZMQ_GREETING[0] and ours[9:] == LIBZMQ_GREETING[9:]


@pytest.mark.parametrize(
    ("mechanism", "as_server", "mech_field", "server_octet"),
    [
        (b"PLAIN", True, b"PLAIN" + bytes(15), 1),
        (b"CURVE", False, b"CURVE" + bytes(15), 0),
        (b"X" * 20, False, b"X" * 20, 0),
    ],
)
def test_other_mechanisms(mechanism: bytes, as_server: bool, mech_field: bytes,
                          server_octet: int) -> None:
    g = build_greeting(mechanism, as_server)
    assert g[:12] == OUR_NULL[:12]
    assert g[12:32] == mech_field and g[32] == server_octet and g[33:] == bytes(31)


def test_minor_version_argument() -> None:
    assert build_greeting(b"NULL", False, minor=0)[10:12] == b"\x03\x00"


@pytest.mark.parametrize("mechanism", [b"", b"X" * 21])
def test_bad_mechanism_name_is_a_caller_error(mechanism: bytes) -> None:
    with pytest.raises(ValueError):
        build_greeting(mechanism, False)


# -- theirs: accepted -----------------------------------------------------------------------


def test_parse_libzmq_greeting() -> None:
    assert parse_greeting(LIBZMQ_GREETING, b"NULL") == PeerGreeting(3, 1, b"NULL", False)


def test_parse_our_greeting() -> None:
    assert parse_greeting(OUR_NULL, b"NULL") == PeerGreeting(3, 1, b"NULL", False)
    plain = build_greeting(b"PLAIN", True)
    assert parse_greeting(plain, b"PLAIN") == PeerGreeting(3, 1, b"PLAIN", True)


def test_zmtp_3_0_peer_accepted() -> None:
    assert parse_greeting(with_fields(minor=b"\x00"), b"NULL").minor == 0


@pytest.mark.parametrize(("major", "minor"), [(3, 2), (3, 255), (4, 0), (255, 7)])
def test_higher_versions_accepted(major: int, minor: int) -> None:
    # RFC 37: a peer MUST accept higher protocol versions as valid.
    g = parse_greeting(with_fields(major=bytes((major,)), minor=bytes((minor,))), b"NULL")
    assert g.major == major
    assert g.minor == (minor if major == 3 else 1)


@settings(max_examples=200, deadline=None)
@given(padding=st.binary(min_size=8, max_size=8), filler=st.binary(min_size=31, max_size=31))
def test_padding_and_filler_are_not_validated(padding: bytes, filler: bytes) -> None:
    # RFC 37: a peer MUST NOT validate the padding field nor interpret it.
    g = with_fields(padding=padding, filler=filler)
    assert parse_greeting(g, b"NULL") == PeerGreeting(3, 1, b"NULL", False)


def test_every_prefix_of_a_valid_greeting_is_accepted() -> None:
    for g in (OUR_NULL, LIBZMQ_GREETING, build_greeting(b"CURVE", True)):
        for i in range(GREETING_SIZE + 1):
            check_signature_prefix(g[:i])


# -- theirs: refused as early as possible ---------------------------------------------------


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"\x01", "ZMTP 1.0 short identity frame, first octet"),
        (b"\x01\x00", "ZMTP 1.0 identity frame (CVE-2014-9721)"),
        (b"\x00", "ZMTP 1.0 empty identity"),
        (b"G", "HTTP"),
        (b"GET / HTTP/1.1\r\n", "HTTP"),
        (b"\x16\x03\x01", "TLS ClientHello"),
        (b"SSH-2.0-", "SSH"),
        (b"\xff\x00\x00\x00\x00\x00\x00\x00\x05\x00", "ZMTP 1.0 long identity, LSB clear"),
        (b"\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f\x01", "ZMTP 2.0 (revision 1)"),
        (b"\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f\x02", "ZMTP 2.x (revision 2)"),
        (b"\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f\x00", "major 0"),
    ],
)
def test_refused_on_first_octets(data: bytes, what: str) -> None:
    # Refused at the first octet that shows it, and not one octet earlier.
    shows_at = 1 if data[0] != 0xFF else len(data)
    check_signature_prefix(data[:shows_at - 1])
    with pytest.raises(GreetingError):
        check_signature_prefix(data[:shows_at])
    with pytest.raises(GreetingError):
        check_signature_prefix(data)


def test_v2_is_refused_exactly_at_octet_11() -> None:
    v2 = b"\xff" + bytes(8) + b"\x7f\x01" + b"\x05DEALER"
    for i in range(SIGNATURE_SIZE + 1):
        check_signature_prefix(v2[:i])
    with pytest.raises(GreetingError, match="major version 1"):
        check_signature_prefix(v2[:SIGNATURE_SIZE + 1])


def test_mechanism_mismatch() -> None:
    with pytest.raises(MechanismMismatch) as info:
        parse_greeting(build_greeting(b"PLAIN", False), b"NULL")
    assert info.value.code == ProtocolErrorCode.ZMTP_MECHANISM_MISMATCH
    with pytest.raises(MechanismMismatch):
        parse_greeting(OUR_NULL, b"CURVE")
    # Exact match: no prefix or case folding.
    with pytest.raises(MechanismMismatch):
        parse_greeting(with_fields(mechanism=b"NUL\x00"), b"NULL")
    with pytest.raises(MechanismMismatch):
        parse_greeting(with_fields(mechanism=b"null"), b"NULL")
    with pytest.raises(MechanismMismatch):
        parse_greeting(with_fields(mechanism=b"NULLX"), b"NULL")


def test_mechanism_with_embedded_null_refused() -> None:
    with pytest.raises(GreetingError):
        parse_greeting(with_fields(mechanism=b"NU\x00LL"), b"NULL")


@pytest.mark.parametrize("octet", [2, 0x80, 0xFF])
def test_as_server_must_be_0_or_1(octet: int) -> None:
    with pytest.raises(GreetingError):
        parse_greeting(with_fields(as_server=bytes((octet,))), b"NULL")


@pytest.mark.parametrize("size", [0, 11, 63, 65])
def test_wrong_size_refused(size: int) -> None:
    with pytest.raises(GreetingError):
        parse_greeting((OUR_NULL * 2)[:size], b"NULL")


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=80), mechanism=st.sampled_from([b"NULL", b"PLAIN", b"CURVE"]))
def test_random_bytes_raise_only_protocol_errors(data: bytes, mechanism: bytes) -> None:
    try:
        check_signature_prefix(data)
    except GreetingError:
        pass
    try:
        g = parse_greeting(data, mechanism)
    except ProtocolError:
        return
    assert g.major >= 3 and g.mechanism == mechanism


@settings(max_examples=200, deadline=None)
@given(head=st.binary(min_size=12, max_size=12), tail=st.binary(min_size=52, max_size=52))
def test_parse_is_prefix_check_plus_fields(head: bytes, tail: bytes) -> None:
    data = head + tail
    prefix_ok = True
    try:
        check_signature_prefix(data[:11])
    except GreetingError:
        prefix_ok = False
    if not prefix_ok:
        with pytest.raises(GreetingError):
            parse_greeting(data, b"NULL")


# -- live capture ---------------------------------------------------------------------------


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        assert chunk, f"peer closed after {buf!r}"
        buf += chunk
    return buf


@pytest.mark.interop
@pytest.mark.parametrize("routing_id", [None, b"\x01" + b"A" * 254])
def test_libzmq_greeting_live(zctx: object, routing_id: bytes | None) -> None:
    zmq = pytest.importorskip("zmq")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        z = zctx.socket(zmq.DEALER)  # type: ignore[attr-defined]
        try:
            if routing_id is not None:
                z.setsockopt(zmq.ROUTING_ID, routing_id)
            z.connect(f"tcp://127.0.0.1:{port}")
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(10)
                # libzmq holds back the rest of its greeting until it sees our signature.
                signature = _recv_exact(conn, SIGNATURE_SIZE)
                conn.sendall(build_greeting(b"NULL", False))
                greeting = signature + _recv_exact(conn, GREETING_SIZE - SIGNATURE_SIZE)
        finally:
            z.close(linger=0)
    expected_sig = LIBZMQ_SIGNATURE if routing_id is None else LIBZMQ_SIGNATURE_ID255
    assert greeting == expected_sig + LIBZMQ_GREETING[SIGNATURE_SIZE:]
    assert parse_greeting(greeting, b"NULL") == PeerGreeting(3, 1, b"NULL", False)
