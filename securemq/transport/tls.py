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
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, cast

from ..constants import Event
from ..error import ProtocolError
from ..zmtp.frames import Buffer

__all__ = [
    "TlsAuthFailure",
    "TlsFailure",
    "TlsFilter",
    "TlsProtocolFailure",
    "TlsReason",
    "TlsSettings",
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

    The octets hashed are the certificate's own, not a re-encoding of the parsed key,
    so the pin is the one ``openssl x509 -pubkey | openssl pkey -pubin -outform der |
    sha256`` and curl compute, for every key type (RSA-PSS included).

    Raises:
        ValueError: the bytes are not a DER X.509 certificate.
    """
    return hashlib.sha256(_spki_der(der_certificate)).digest()


def _der_element(data: bytes, pos: int) -> tuple[int, int, int]:
    """The DER element at ``pos``: (tag, start of its contents, end of it).

    Raises:
        ValueError: truncated, or a length form DER does not allow.
    """
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if not 1 <= count <= 4 or pos + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise ValueError("truncated DER")
    return tag, pos, end


def _spki_der(der: bytes) -> bytes:
    """The SubjectPublicKeyInfo element of a DER certificate (RFC 5280 4.1), as is.

    Raises:
        ValueError: not shaped like a certificate.
    """
    tag, start, _ = _der_element(der, 0)  # Certificate
    if tag != 0x30:
        raise ValueError("not a DER certificate")
    tag, pos, _ = _der_element(der, start)  # tbsCertificate
    if tag != 0x30:
        raise ValueError("not a DER certificate")
    tag, _, end = _der_element(der, pos)
    if tag == 0xA0:  # [0] EXPLICIT version
        pos = end
    # serialNumber, signature, issuer, validity, subject, then subjectPublicKeyInfo.
    for _ in range(5):
        _, _, pos = _der_element(der, pos)
    tag, _, end = _der_element(der, pos)
    if tag != 0x30:
        raise ValueError("no SubjectPublicKeyInfo where a certificate has it")
    return der[pos:end]


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


# -- the filter ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """What a connection's TLS needs: a ready context, the pins and the server name.

    Built from the socket's options at bind/connect (see
    :mod:`securemq.transport.tlsconfig`) and swapped whole by ``reload_tls``.
    """

    context: ssl.SSLContext
    """Server or client context, with certificates, CAs and versions loaded."""
    pins: frozenset[bytes] = frozenset()
    """SPKI SHA-256 digests the peer's key must be among; empty for no pinning."""
    hostname: str | None = None
    """Clients: the name for SNI and the certificate check; None for servers."""


class TlsFailure(ProtocolError):
    """The TLS layer refused the peer; ``tls_reason`` says why (a :class:`TlsReason`)."""

    def __init__(self, tls_reason: TlsReason, reason: str) -> None:
        super().__init__(reason)
        self.tls_reason = tls_reason

    @property
    def event_value(self) -> int:
        """The :class:`TlsReason`, which travels with the monitor event."""
        return int(self.tls_reason)


class TlsAuthFailure(TlsFailure):
    """A certificate, pin or version refused: ``HANDSHAKE_FAILED_AUTH``."""

    event: ClassVar[int] = Event.HANDSHAKE_FAILED_AUTH


class TlsProtocolFailure(TlsFailure):
    """The bytes were not TLS, or TLS broke: ``HANDSHAKE_FAILED_PROTOCOL``."""


# OpenSSL's X509_V_ERR_* codes of certificate verification.
_VERIFY_REASONS = {
    2: TlsReason.UNKNOWN_CA,     # unable to get issuer certificate
    9: TlsReason.NOT_YET_VALID,
    10: TlsReason.EXPIRED,
    18: TlsReason.UNKNOWN_CA,    # self-signed leaf
    19: TlsReason.UNKNOWN_CA,    # self-signed certificate in chain
    20: TlsReason.UNKNOWN_CA,    # unable to get local issuer certificate
    21: TlsReason.UNKNOWN_CA,    # unable to verify the first certificate
    23: TlsReason.BAD_CERTIFICATE,  # revoked
    24: TlsReason.BAD_USAGE,     # invalid CA
    26: TlsReason.BAD_USAGE,     # unsuitable purpose (EKU)
    28: TlsReason.BAD_USAGE,     # certificate rejected for this purpose
    62: TlsReason.HOSTNAME_MISMATCH,
    64: TlsReason.HOSTNAME_MISMATCH,  # IP address mismatch
}

# OpenSSL reason strings: our own failures, then the alerts a peer sends us.
_NOT_TLS = frozenset({"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "UNKNOWN_PROTOCOL",
                      "PACKET_LENGTH_TOO_LONG", "RECORD_LENGTH_MISMATCH",
                      "UNEXPECTED_RECORD", "HTTPS_PROXY_REQUEST"})
_VERSION = frozenset({"UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE",
                      "TLSV1_ALERT_PROTOCOL_VERSION", "WRONG_SSL_VERSION",
                      "VERSION_TOO_LOW", "NO_SUITABLE_SIGNATURE_ALGORITHM"})
_NO_CLIENT_CERT = frozenset({"PEER_DID_NOT_RETURN_A_CERTIFICATE",
                             "TLSV13_ALERT_CERTIFICATE_REQUIRED"})
_ALERT_PREFIXES = ("SSLV3_ALERT_", "TLSV1_ALERT_", "TLSV13_ALERT_")


def classify(exc: ssl.SSLError) -> TlsFailure:
    """Turn an :mod:`ssl` error raised by the handshake or a read into a TlsFailure."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = exc.verify_code
        why = _VERIFY_REASONS.get(code, TlsReason.BAD_CERTIFICATE)
        return TlsAuthFailure(why, f"peer certificate refused: {exc.verify_message}")
    name = exc.reason or ""
    text = f"TLS: {name or exc}"
    if name in _NOT_TLS:
        return TlsProtocolFailure(TlsReason.NOT_TLS, f"peer does not speak TLS ({name})")
    if name in _VERSION:
        return TlsAuthFailure(TlsReason.VERSION, f"no TLS version in common ({name})")
    if name in _NO_CLIENT_CERT:
        return TlsAuthFailure(TlsReason.NO_CLIENT_CERT, f"no client certificate ({name})")
    if name.startswith(_ALERT_PREFIXES):
        return TlsAuthFailure(TlsReason.PEER_REFUSED, f"peer refused the handshake ({name})")
    return TlsProtocolFailure(TlsReason.OTHER, text)


class TlsFilter:
    """TLS between a byte stream and ZMTP, on :class:`ssl.SSLObject`; does no I/O.

    The driver feeds what it reads from the network to :meth:`receive` and passes ZMTP's
    output through :meth:`send`; both return ciphertext the driver owes the network
    (also pending after :meth:`receive`: check :attr:`wants_write`). Plaintext sent
    before the handshake is done waits here, so ZMTP's greeting leaves only once the
    peer is verified, and no ZMTP byte is ever read from an unverified peer.

    Args:
        settings: context, pins and server name.
        server_side: the TLS server role (the socket that bound).

    Raises:
        TlsFailure: from :meth:`receive`, when the handshake or the stream fails; the
            driver should still write :meth:`data_to_send` (an alert) before closing.
    """

    def __init__(self, settings: TlsSettings, server_side: bool) -> None:
        self.settings = settings
        self.server_side = server_side
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._ssl = settings.context.wrap_bio(
            self._in, self._out, server_side=server_side,
            server_hostname=None if server_side else settings.hostname)
        #: True once the handshake is done and the peer passed every check.
        self.established = False
        #: True once the peer closed TLS (close_notify): treat like end of stream.
        self.eof = False
        #: The peer's certificate (DER) once established; None if it sent none.
        self.peer_certificate: bytes | None = None
        #: SHA-256 of the peer's public key (SPKI); empty without a certificate.
        self.peer_pin = b""
        #: The negotiated version, e.g. "TLSv1.3", once established.
        self.version = ""
        #: Set once a failure was raised: the session is dead, only an alert may leave.
        self.failed = False
        self._early: list[Buffer] = []
        if not server_side:
            self._handshake()  # only writes the ClientHello: nothing to fail on yet

    @property
    def wants_write(self) -> bool:
        """Whether ciphertext is waiting for :meth:`data_to_send`."""
        return self._out.pending > 0

    def data_to_send(self) -> bytes:
        """Ciphertext for the network (handshake records, alerts, sealed data)."""
        return self._out.read()

    def receive(self, data: bytes) -> bytes:
        """Take ciphertext from the network; return all the plaintext it completes.

        Raises:
            TlsFailure: handshake refused, pins unmatched, or the stream is corrupt.
        """
        if not self.feed(data):
            return b""
        chunks: list[bytes] = []
        while chunk := self.read():
            chunks.append(chunk)
        if len(chunks) == 1:
            return chunks[0]
        return b"".join(chunks)

    def feed(self, data: Buffer) -> bool:
        """Take ciphertext from the network; True once plaintext may be read.

        Drives the handshake; then :meth:`read` or :meth:`read_into` take the plaintext
        record by record (the engine reads a large frame's body straight into its
        final buffer that way).

        Raises:
            TlsFailure: the handshake was refused or pins unmatched.
        """
        if self.failed:
            return False
        self._in.write(data)
        if self.established:
            return True
        try:
            return self._handshake()
        except TlsFailure:
            self.failed = True
            raise

    def read(self) -> bytes:
        """The plaintext of the next record(s) fed, or empty when there is none yet.

        Raises:
            TlsFailure: the stream is corrupt (or the peer sent an alert).
        """
        if self.failed or self.eof:
            return b""
        try:
            data = self._ssl.read(_READ_SIZE)
        except ssl.SSLWantReadError:
            return b""
        except ssl.SSLZeroReturnError:
            self.eof = True
            return b""
        except ssl.SSLError as exc:
            self.failed = True
            raise classify(exc) from None
        if not data:
            self.eof = True  # close_notify: SSLObject reports it as an empty read
        return data

    def read_into(self, buffer: memoryview) -> int:
        """Like :meth:`read`, into ``buffer``; return the count (0: none yet).

        Raises:
            TlsFailure: the stream is corrupt (or the peer sent an alert).
        """
        if self.failed or self.eof:
            return 0
        try:
            n = cast(int, self._ssl.read(len(buffer), buffer))
        except ssl.SSLWantReadError:
            return 0
        except ssl.SSLZeroReturnError:
            self.eof = True
            return 0
        except ssl.SSLError as exc:
            self.failed = True
            raise classify(exc) from None
        if not n and len(buffer):
            self.eof = True  # close_notify, as in read()
        return n

    def send(self, buffers: Iterable[Buffer]) -> bytes:
        """Seal plaintext; return the ciphertext to write (empty before the handshake).

        Callers join small buffers first: each call to the TLS layer is one record.
        """
        if not self.established or self.failed:
            if not self.failed:
                self._early.extend(buffers)
            return self._out.read()
        write = self._ssl.write
        try:
            for buf in buffers:
                write(buf)
        except ssl.SSLError:
            # Only after our own close(): nothing more may be sent.
            self.failed = True
        return self._out.read()

    def close(self) -> bytes:
        """Say goodbye (close_notify) if the handshake was done; return its bytes."""
        if self.established:
            try:
                self._ssl.unwrap()
            except ssl.SSLError:
                pass
        return self._out.read()

    def _handshake(self) -> bool:
        try:
            self._ssl.do_handshake()
        except ssl.SSLWantReadError:
            return False
        except ssl.SSLError as exc:
            raise classify(exc) from None
        der = self._ssl.getpeercert(binary_form=True)
        self.peer_certificate = der
        try:
            self.peer_pin = spki_sha256(der) if der else b""
        except ValueError:
            # Only reachable unverified (tls_verify=0 with pins): OpenSSL parsed it.
            raise TlsAuthFailure(TlsReason.BAD_CERTIFICATE,
                                 "peer certificate is malformed") from None
        pins = self.settings.pins
        if pins and self.peer_pin not in pins:
            raise TlsAuthFailure(TlsReason.PIN_MISMATCH,
                                 "peer's public key matches none of tls_pins")
        self.version = self._ssl.version() or ""
        self.established = True
        early, self._early = self._early, []
        write = self._ssl.write
        for buf in early:
            write(buf)
        return True


_READ_SIZE = 256 * 1024
