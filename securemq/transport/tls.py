"""TLS under ZMTP (``tls+tcp://``): pins, failure reasons and the sans-IO filter.

TLS runs between the byte stream and the ZMTP connection: ciphertext from the socket
goes into :class:`TlsFilter`, which hands ZMTP the plaintext, and ZMTP's output goes
through the filter before it reaches the socket. Any mechanism (NULL, PLAIN, CURVE) runs
above it unchanged. The filter is built on :class:`ssl.SSLObject` with two
:class:`ssl.MemoryBIO`\\ s, so it never touches a socket; the engine drives it.

Pins name a certificate's public key (its DER ``SubjectPublicKeyInfo``) by SHA-256, as
HPKP and curl do. The canonical text form is ``sha256//`` followed by the base64 digest;
64 hexadecimal digits (colons allowed) are accepted too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from enum import IntEnum

__all__ = [
    "TlsReason",
    "format_pin",
    "parse_pin",
    "parse_pins",
    "spki_sha256",
]


class TlsReason(IntEnum):
    """Why a TLS handshake failed: the value of its ``HANDSHAKE_FAILED_*`` monitor event.

    The numbers are securemq's own (libzmq has no TLS); they sit above the ZAP status
    codes (3xx-5xx) so that a monitor can tell the two apart.
    """

    OTHER = 600
    """A TLS failure with no more specific reason (see the log)."""
    NOT_TLS = 601
    """The peer does not speak TLS (for example a plain ``tcp://`` ZMTP peer)."""
    UNKNOWN_CA = 602
    """The peer's certificate does not chain to a trusted CA (or is self-signed)."""
    EXPIRED = 603
    """The peer's certificate has expired."""
    NOT_YET_VALID = 604
    """The peer's certificate is not valid yet."""
    HOSTNAME_MISMATCH = 605
    """The server's certificate does not name the host (or IP) we connected to."""
    PIN_MISMATCH = 606
    """The peer's public key matches none of ``tls_pins``."""
    VERSION = 607
    """No TLS version both sides accept (``tls_min_version``)."""
    NO_CLIENT_CERT = 608
    """The server requires a client certificate and the client sent none."""
    BAD_USAGE = 609
    """The certificate may not be used for this purpose (key usage or EKU)."""
    PEER_REFUSED = 610
    """The peer refused our certificate (it sent a TLS alert)."""
    BAD_CERTIFICATE = 611
    """The peer's certificate is malformed, revoked or otherwise unacceptable."""


_PIN_PREFIX = "sha256//"


def spki_sha256(der_certificate: bytes) -> bytes:
    """Return the SHA-256 digest of a DER certificate's SubjectPublicKeyInfo.

    Raises:
        ValueError: the bytes are not a DER X.509 certificate.
    """
    from cryptography import x509  # noqa: PLC0415 - only TLS users need cryptography
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    cert = x509.load_der_x509_certificate(der_certificate)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).digest()


def format_pin(digest: bytes) -> str:
    """The canonical text of a pin: ``sha256//`` and the base64 of the 32-byte digest."""
    if len(digest) != 32:
        raise ValueError("a SHA-256 pin is 32 bytes")
    return _PIN_PREFIX + base64.b64encode(digest).decode("ascii")


def parse_pin(text: str | bytes) -> bytes:
    """Parse one pin (``sha256//BASE64`` or 64 hex digits, colons allowed) to 32 bytes.

    Raises:
        ValueError: not a SHA-256 pin.
    """
    s = text.decode("ascii", "replace") if isinstance(text, bytes) else text
    s = s.strip()
    try:
        if s.startswith(_PIN_PREFIX):
            digest = base64.b64decode(s[len(_PIN_PREFIX):], validate=True)
        else:
            digest = bytes.fromhex(s.replace(":", ""))
    except (binascii.Error, ValueError):
        raise ValueError(f"not a SHA-256 pin: {s[:80]!r}") from None
    if len(digest) != 32:
        raise ValueError(f"not a SHA-256 pin: {s[:80]!r}")
    return digest


def parse_pins(text: str | bytes) -> frozenset[bytes]:
    """Parse pins separated by commas or white space (the ``tls_pins`` option).

    Raises:
        ValueError: one of them is not a SHA-256 pin.
    """
    s = text.decode("ascii", "replace") if isinstance(text, bytes) else text
    return frozenset(parse_pin(p) for p in s.replace(",", " ").split())
