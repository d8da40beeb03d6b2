"""The 64-octet ZMTP greeting: build ours, parse the peer's.

RFC 37 "Version Negotiation": we always send the whole greeting at once and demand a
ZMTP 3.x greeting back. ZMTP 1.0 and 2.0 peers are refused rather than downgraded: they
cannot negotiate a security mechanism, and accepting them is what CVE-2014-9721 was about.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..error import GreetingError, MechanismMismatch

GREETING_SIZE = 64
SIGNATURE_SIZE = 10
VERSION_MAJOR = 3
VERSION_MINOR = 1


def build_greeting(mechanism: bytes, as_server: bool, minor: int = VERSION_MINOR) -> bytes:
    """Return our greeting: signature, version 3.``minor``, mechanism, as-server, filler."""
    if not 0 < len(mechanism) <= 20:
        raise ValueError("mechanism name must be 1 to 20 octets")
    return (
        b"\xff" + bytes(8) + b"\x7f"
        + bytes((VERSION_MAJOR, minor))
        + mechanism.ljust(20, b"\x00")
        + (b"\x01" if as_server else b"\x00")
        + bytes(31)
    )


@dataclass(frozen=True, slots=True)
class PeerGreeting:
    """What a peer's greeting told us."""

    major: int
    """Major protocol version (3 or higher)."""
    minor: int
    """Minor protocol version: 0 for a ZMTP 3.0 peer, 1 or more for 3.1."""
    mechanism: bytes
    """Security mechanism name without the null padding."""
    as_server: bool
    """Whether the peer takes the server role in the security handshake."""


def check_signature_prefix(data: bytes) -> None:
    """Reject a peer as soon as the octets seen so far rule out ZMTP 3.x.

    Called on partial greetings so that port scanners and old peers are dropped without
    waiting for 64 octets that may never come.

    Raises:
        GreetingError: not a ZMTP signature, or a ZMTP 1.0/2.0 peer.
    """
    if data and data[0] != 0xFF:
        raise GreetingError("not a ZMTP 3.x greeting (ZMTP 1.0 peer or garbage)")
    if len(data) >= SIGNATURE_SIZE and not data[9] & 0x01:
        raise GreetingError("not a ZMTP 3.x greeting (ZMTP 1.0 long identity)")
    if len(data) > SIGNATURE_SIZE and data[10] < VERSION_MAJOR:
        raise GreetingError(f"ZMTP major version {data[10]} is not supported (3.0 or later)")


def parse_greeting(data: bytes, mechanism: bytes) -> PeerGreeting:
    """Parse a complete 64-octet greeting and check it against our mechanism.

    Raises:
        GreetingError: bad signature or version.
        MechanismMismatch: the peer announced another mechanism (RFC 37: MUST close).
    """
    if len(data) != GREETING_SIZE:
        raise GreetingError("greeting must be 64 octets")
    check_signature_prefix(data)
    # RFC 37: the padding (octets 1-8) has no significance and MUST NOT be validated.
    major, minor = data[10], data[11]
    raw_mech = data[12:32]
    name = raw_mech.rstrip(b"\x00")
    if b"\x00" in name:
        raise GreetingError("mechanism name has embedded null octets")
    if name != mechanism:
        raise MechanismMismatch(
            f"peer mechanism {name.decode('ascii', 'replace')!r} "
            f"!= ours {mechanism.decode('ascii')!r}"
        )
    as_server = data[32]
    if as_server > 1:
        raise GreetingError(f"as-server octet must be 0 or 1, got {as_server}")
    return PeerGreeting(major, minor if major == VERSION_MAJOR else VERSION_MINOR, name,
                        bool(as_server))
