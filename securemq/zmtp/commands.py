"""ZMTP command bodies and the metadata property list (RFC 37 "Connection Metadata").

A command body is ``len(name) name data``. Metadata is a sequence of properties, each a
1-octet name length, a name of 1-255 characters and a 4-octet big-endian value length.
Every length read from the peer is checked against what actually remains before use
(CVE-2019-13132 was an unchecked metadata length).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping

from ..constants import ProtocolErrorCode
from ..error import InvalidMetadata, MalformedCommand

_U32 = struct.Struct(">I")
_NAME_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.+")

#: Socket type names on the wire, by libzmq socket type number.
SOCKET_TYPE_NAMES: dict[int, bytes] = {
    0: b"PAIR", 1: b"PUB", 2: b"SUB", 3: b"REQ", 4: b"REP", 5: b"DEALER", 6: b"ROUTER",
    7: b"PULL", 8: b"PUSH", 9: b"XPUB", 10: b"XSUB", 11: b"STREAM", 12: b"SERVER",
    13: b"CLIENT", 14: b"RADIO", 15: b"DISH", 16: b"GATHER", 17: b"SCATTER", 18: b"DGRAM",
    19: b"PEER", 20: b"CHANNEL",
}

# RFC 37 "The Socket-Type Property": the legal peer types of each socket type.
_COMPATIBLE: dict[bytes, frozenset[bytes]] = {
    b"REQ": frozenset((b"REP", b"ROUTER")),
    b"REP": frozenset((b"REQ", b"DEALER")),
    b"DEALER": frozenset((b"REP", b"DEALER", b"ROUTER")),
    b"ROUTER": frozenset((b"REQ", b"DEALER", b"ROUTER")),
    b"PUB": frozenset((b"SUB", b"XSUB")),
    b"XPUB": frozenset((b"SUB", b"XSUB")),
    b"SUB": frozenset((b"PUB", b"XPUB")),
    b"XSUB": frozenset((b"PUB", b"XPUB")),
    b"PUSH": frozenset((b"PULL",)),
    b"PULL": frozenset((b"PUSH",)),
    b"PAIR": frozenset((b"PAIR",)),
    b"CLIENT": frozenset((b"SERVER",)),
    b"SERVER": frozenset((b"CLIENT",)),
    b"RADIO": frozenset((b"DISH",)),
    b"DISH": frozenset((b"RADIO",)),
    b"SCATTER": frozenset((b"GATHER",)),
    b"GATHER": frozenset((b"SCATTER",)),
    b"PEER": frozenset((b"PEER",)),
    b"CHANNEL": frozenset((b"CHANNEL",)),
}


def compatible(ours: bytes, theirs: bytes) -> bool:
    """Whether a socket of type ``ours`` may talk to a peer announcing ``theirs``."""
    return theirs in _COMPATIBLE.get(ours, frozenset())


def command_body(name: bytes, data: bytes = b"") -> bytes:
    """Return a command body: name length, name, data."""
    return bytes((len(name),)) + name + data


def split_command(body: bytes) -> tuple[bytes, bytes]:
    """Split a command body into its name and data.

    Raises:
        MalformedCommand: empty body, zero-length name or a name longer than the body.
    """
    if not body:
        raise MalformedCommand("empty command frame",
                               ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_UNSPECIFIED)
    n = body[0]
    if n == 0 or n + 1 > len(body):
        raise MalformedCommand("command name length out of range",
                               ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_UNSPECIFIED)
    return body[1:n + 1], body[n + 1:]


def encode_metadata(properties: Iterable[tuple[str, bytes]]) -> bytes:
    """Encode ``(name, value)`` pairs as a ZMTP metadata property list."""
    parts: list[bytes] = []
    for name, value in properties:
        raw = name.encode("ascii")
        if not 0 < len(raw) < 256 or not _NAME_CHARS.issuperset(raw):
            raise ValueError(f"invalid metadata property name {name!r}")
        parts += (bytes((len(raw),)), raw, _U32.pack(len(value)), value)
    return b"".join(parts)


def decode_metadata(data: bytes, limit: int = 1 << 31) -> dict[str, bytes]:
    """Decode a metadata property list into a dict keyed by lower-cased name.

    Names are case-insensitive (RFC 37); a repeated name keeps the last value.

    Raises:
        InvalidMetadata: a name or value length runs past the end, a name is empty or has
            characters outside the RFC's set, or a value exceeds ``limit`` octets.
    """
    props: dict[str, bytes] = {}
    off, end = 0, len(data)
    while off < end:
        n = data[off]
        off += 1
        if n == 0 or off + n + 4 > end:
            raise InvalidMetadata("metadata property name runs past the end or is empty")
        raw = data[off:off + n]
        if not _NAME_CHARS.issuperset(raw):
            raise InvalidMetadata("metadata property name has invalid characters")
        off += n
        (size,) = _U32.unpack_from(data, off)
        off += 4
        if size > limit or size >= 1 << 31 or off + size > end:
            raise InvalidMetadata("metadata property value length out of range")
        props[raw.decode("ascii").lower()] = data[off:off + size]
        off += size
    return props


def basic_properties(socket_type: int, routing_id: bytes,
                     extra: Mapping[str, bytes] | None = None) -> list[tuple[str, bytes]]:
    """The properties every mechanism announces: Socket-Type, Identity where it applies,
    and application metadata (``ZMQ_METADATA``, names beginning with ``X-``)."""
    props = [("Socket-Type", SOCKET_TYPE_NAMES[socket_type])]
    # Like libzmq, only the types a ROUTER may address announce an Identity.
    if socket_type in (3, 5, 6):  # REQ, DEALER, ROUTER
        props.append(("Identity", routing_id))
    if extra:
        props.extend(extra.items())
    return props


def parse_ping(data: bytes) -> tuple[int, bytes]:
    """Parse PING data into (TTL in tenths of a second, context).

    Raises:
        MalformedCommand: shorter than the 2-octet TTL, or a context over 16 octets.
    """
    if len(data) < 2 or len(data) > 18:
        raise MalformedCommand("PING must carry a 2-octet TTL and at most 16 context octets",
                               ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_UNSPECIFIED)
    return (data[0] << 8) | data[1], data[2:]
