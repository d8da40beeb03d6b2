"""A small X.509 PKI for ``tls+tcp://``: make a CA, issue certificates, inspect them.

The model is the one a ZeroMQ deployment needs and no more: one private CA per
deployment, which signs a leaf certificate for each peer. A leaf is a TLS *server*
(``serverAuth``), a *client* (``clientAuth``), or *both*; server certificates name their
hosts in the subjectAltName, which is the only place TLS clients look (the common name
is ignored by Python's :mod:`ssl`, as by every modern verifier).

Certificates are built so that OpenSSL accepts them under ``VERIFY_X509_STRICT`` (the
default of :func:`ssl.create_default_context` from Python 3.13): critical
basicConstraints and keyUsage, subject and authority key identifiers on every
certificate, and a CA limited to signing leaves (path length 0).

Files are PEM: the certificate, and the private key as unencrypted PKCS#8. A key file is
created with mode 0600 by the ``open`` call itself, with ``O_EXCL``, so it is never
readable by others even for an instant, and no existing file (or symbolic link) is
overwritten unless ``force=True``, which then renames a complete new file over it.

Pins are those of :mod:`securemq.transport.tls`: ``sha256//`` and the base64 SHA-256 of
the certificate's SubjectPublicKeyInfo.
"""

from __future__ import annotations

import datetime
import errno
import ipaddress
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias, get_args

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .transport.tls import format_pin, spki_sha256
from .utils.files import create_exclusive, fsync_dir, replace_files, unlink_quietly

__all__ = [
    "CertificateFile",
    "CertificateInfo",
    "CertifiedKey",
    "KeyType",
    "PrivateKey",
    "Role",
    "check_common_name",
    "create_ca",
    "describe",
    "expiring",
    "find_certificates",
    "generate_private_key",
    "issue_certificate",
    "load_certificate",
    "load_certificates",
    "load_certified_key",
    "load_private_key",
    "parse_san",
    "write_certificate",
    "write_certified_key",
    "write_private_key",
]

KeyType: TypeAlias = Literal["ed25519", "ecdsa", "rsa"]
"""The key types securemq generates: Ed25519, ECDSA on P-256, or RSA."""

Role: TypeAlias = Literal["server", "client", "both"]
"""What a leaf certificate may be used for: its extended key usage."""

PrivateKey: TypeAlias = (
    ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
)
"""A private key of one of the :data:`KeyType` kinds."""

SanName: TypeAlias = x509.DNSName | x509.IPAddress
"""A subjectAltName entry as :func:`parse_san` returns it."""

KEY_TYPES: Final[tuple[KeyType, ...]] = get_args(KeyType)
ROLES: Final[tuple[Role, ...]] = get_args(Role)

#: The RSA modulus size when none is given: NIST's choice for keys used beyond 2030.
DEFAULT_RSA_BITS: Final = 3072
DEFAULT_CA_DAYS: Final = 3650
DEFAULT_LEAF_DAYS: Final = 365
#: A century: far beyond any sensible validity, and well inside what ``datetime`` holds,
#: so a mistyped ``days`` is an error and not an ``OverflowError``.
MAX_DAYS: Final = 36525
#: Without an explicit ``not_before``, a certificate is valid from this long ago, so
#: that a peer whose clock runs a little behind ours accepts it at once.
CLOCK_SKEW: Final = datetime.timedelta(minutes=5)

CERTIFICATE_MODE: Final = 0o644
PRIVATE_KEY_MODE: Final = 0o600

#: Suffixes of the files :func:`find_certificates` looks at in a directory.
CERTIFICATE_SUFFIXES: Final = (".crt", ".pem", ".cer")

# A CA bundle of a few hundred certificates is about 200 KiB; anything far larger is a
# wrong path (a log, a device) that should not be read into memory.
_MAX_FILE_SIZE: Final = 4 * 1024 * 1024
# X.520 upper bound of a common name (ub-common-name).
_MAX_COMMON_NAME: Final = 64
_PEM_CERTIFICATE: Final = b"-----BEGIN CERTIFICATE-----"
_PEM_PRIVATE_KEY: Final = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----")
# RFC 1123 host name label: letters, digits and inner hyphens, at most 63 characters.
_DNS_LABEL: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_MAX_DNS_NAME: Final = 253

_EKU_NAMES: Final = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
}
_ROLE_USAGES: Final[dict[Role, tuple[x509.ObjectIdentifier, ...]]] = {
    "server": (ExtendedKeyUsageOID.SERVER_AUTH,),
    "client": (ExtendedKeyUsageOID.CLIENT_AUTH,),
    "both": (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
}
_CURVE_NAMES: Final = {"secp256r1": "p256", "secp384r1": "p384", "secp521r1": "p521"}


# -- results ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CertifiedKey:
    """A certificate and the private key that belongs to it."""

    certificate: x509.Certificate
    """The X.509 certificate."""
    private_key: PrivateKey
    """Its private key; never printed, not even by ``repr``."""

    def __repr__(self) -> str:
        return f"CertifiedKey({self.certificate.subject.rfc4514_string()!r})"

    def certificate_pem(self) -> bytes:
        """The certificate as PEM."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def private_key_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM: keep it out of logs and repositories."""
        return _private_key_pem(self.private_key)


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """What a certificate says, for people and for monitoring: see :func:`describe`."""

    subject: str
    """The subject as an RFC 4514 string, e.g. ``CN=server``."""
    common_name: str | None
    """The subject's common name, if it has one."""
    issuer: str
    """The issuer as an RFC 4514 string; equal to ``subject`` for a self-signed CA."""
    sans: tuple[str, ...]
    """The subjectAltName entries, typed as OpenSSL prints them: ``DNS:host``,
    ``IP:127.0.0.1``, ``email:...``, ``URI:...``."""
    not_before: datetime.datetime
    """Start of validity, an aware UTC datetime."""
    not_after: datetime.datetime
    """End of validity, an aware UTC datetime."""
    serial: int
    """The serial number."""
    is_ca: bool
    """Whether basicConstraints says this is a CA certificate."""
    key_type: str
    """The public key: ``ed25519``, ``ecdsa-p256``, ``rsa-3072``, ... (``ed448``,
    ``dsa-BITS``, ``ecdsa-CURVE`` for curves other than the NIST ones, ``unknown``)."""
    extended_key_usage: tuple[str, ...]
    """The extended key usages (``serverAuth``, ``clientAuth``, others as dotted OIDs);
    empty when the certificate has no such extension, which means any use."""
    pin: str
    """The public-key pin, ``sha256//BASE64``, as the ``tls_pins`` option takes it."""

    def days_left(self, now: datetime.datetime) -> int:
        """Whole days from ``now`` until the certificate expires; negative once it has.

        Rounded down, so 0 means it expires within a day.
        """
        return (self.not_after - _utc(now)) // datetime.timedelta(days=1)

    def expires_within(self, days: float, now: datetime.datetime) -> bool:
        """Whether the certificate has expired or will within ``days`` days of ``now``."""
        return self.not_after <= _utc(now) + datetime.timedelta(days=days)

    def is_valid_at(self, now: datetime.datetime) -> bool:
        """Whether ``now`` lies in the validity period."""
        return self.not_before <= _utc(now) <= self.not_after


@dataclass(frozen=True, slots=True)
class CertificateFile:
    """A certificate found in a file: see :func:`find_certificates`."""

    path: str
    """The file it was read from."""
    index: int
    """Its position in the file: 0 for the first (or only) certificate of a bundle."""
    info: CertificateInfo
    """What it says."""


# -- making keys and certificates ------------------------------------------------------


def generate_private_key(key_type: KeyType = "ecdsa", *,
                         rsa_bits: int = DEFAULT_RSA_BITS) -> PrivateKey:
    """Generate a private key: Ed25519, ECDSA on P-256, or RSA of ``rsa_bits`` bits.

    Raises:
        ValueError: an unknown key type, or an RSA size outside 2048..8192 bits.
    """
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if key_type == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        # Below 2048 bits OpenSSL's default security level refuses the key; above 8192
        # generation takes minutes.
        if not 2048 <= rsa_bits <= 8192:
            raise ValueError(f"RSA keys must have 2048 to 8192 bits, not {rsa_bits}")
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    raise ValueError(f"key type must be one of {', '.join(KEY_TYPES)}, not {key_type!r}")


def create_ca(
    common_name: str = "securemq CA",
    *,
    key_type: KeyType = "ecdsa",
    days: int = DEFAULT_CA_DAYS,
    not_before: datetime.datetime | None = None,
    rsa_bits: int = DEFAULT_RSA_BITS,
) -> CertifiedKey:
    """Make a self-signed CA that can sign leaf certificates (and revocation lists).

    Args:
        common_name: the CA's subject CN.
        key_type: the kind of key to generate.
        days: validity in days.
        not_before: start of validity (an aware datetime), for tests of expired or
            future certificates; by default a few minutes ago, to tolerate clock skew.
        rsa_bits: the RSA modulus size, when ``key_type`` is ``"rsa"``.

    Raises:
        ValueError: a bad common name, key type, RSA size, ``days`` or ``not_before``.
    """
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, check_common_name(common_name))])
    start, end = _validity(days, not_before)
    key = generate_private_key(key_type, rsa_bits=rsa_bits)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        # Path length 0: this CA signs leaves only, never another CA.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                       critical=False)
    )
    return CertifiedKey(_sign(builder, key), key)


def issue_certificate(
    ca: CertifiedKey,
    common_name: str,
    *,
    sans: Iterable[str | SanName] = (),
    role: Role = "server",
    key_type: KeyType = "ecdsa",
    days: int = DEFAULT_LEAF_DAYS,
    not_before: datetime.datetime | None = None,
    rsa_bits: int = DEFAULT_RSA_BITS,
) -> CertifiedKey:
    """Issue a leaf certificate, with a fresh key, signed by ``ca``.

    Args:
        ca: the issuing CA and its key (from :func:`create_ca` or
            :func:`load_certified_key`).
        common_name: the subject CN; informational, as verifiers match host names
            against the SANs only.
        sans: DNS names and IP addresses the certificate is for, as text (see
            :func:`parse_san`) or ``x509`` general names. A server needs at least one.
        role: ``"server"``, ``"client"`` or ``"both"``: which of the serverAuth and
            clientAuth extended key usages the certificate gets.
        key_type: the kind of key to generate.
        days: validity in days.
        not_before: start of validity (an aware datetime), for tests; by default a few
            minutes ago, to tolerate clock skew.
        rsa_bits: the RSA modulus size, when ``key_type`` is ``"rsa"``.

    Raises:
        ValueError: ``ca`` is not a CA or its key does not match its certificate; a
            server certificate without SANs; a bad SAN, common name, role, key type,
            ``days`` or ``not_before``; or a certificate that would outlive its CA
            (verification fails once the CA expires, so it is refused now).
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    names = _unique(parse_san(s) if isinstance(s, str) else s for s in sans)
    if role != "client" and not names:
        raise ValueError("a server certificate needs at least one SAN (DNS name or IP "
                         "address): clients check the host they connect to against them")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                            check_common_name(common_name))])
    start, end = _validity(days, not_before)
    _check_issuer(ca)
    if end > ca.certificate.not_valid_after_utc:
        raise ValueError(
            f"the certificate would outlive its CA, which expires "
            f"{_date(ca.certificate.not_valid_after_utc)}: issue it for fewer days "
            "or renew the CA")
    key = generate_private_key(key_type, rsa_bits=rsa_bits)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # RSA keys may also encrypt the TLS 1.2 premaster secret (RSA key exchange);
        # Ed25519 and ECDSA keys only sign.
        .add_extension(_key_usage(digital_signature=True,
                                  key_encipherment=isinstance(key, rsa.RSAPrivateKey)),
                       critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(_ROLE_USAGES[role])), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(_authority_key_id(ca.certificate), critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return CertifiedKey(_sign(builder, ca.private_key), key)


def parse_san(text: str) -> SanName:
    """Parse one subjectAltName: an IP address or a DNS name.

    ``DNS:`` and ``IP:`` prefixes (as OpenSSL writes them) force one reading. A DNS name
    is ASCII (give internationalised names as their ``xn--`` A-label), made of RFC 1123
    labels, optionally with ``*`` as the whole leftmost label; it is stored in lower
    case, without a final dot.

    Raises:
        ValueError: the text is neither; the message says why.
    """
    kind, sep, value = text.partition(":")
    forced = kind.upper() if sep and kind.upper() in ("DNS", "IP") else None
    body = value if forced else text
    if forced != "DNS":
        try:
            address = ipaddress.ip_address(body)
        except ValueError:
            if forced == "IP":
                raise ValueError(f"SAN {text!r} is not an IP address") from None
        else:
            if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
                raise ValueError(f"SAN {text!r}: an IP address in a certificate cannot "
                                 "have a zone (%...)")
            return x509.IPAddress(address)
    return x509.DNSName(_check_dns_name(body, text))


def check_common_name(name: str) -> str:
    """Return ``name`` if it can be a certificate's common name.

    Raises:
        ValueError: it is empty, longer than 64 characters (X.520's bound) or holds
            characters that are not printable.
    """
    if not name or len(name) > _MAX_COMMON_NAME:
        raise ValueError(f"a common name has 1 to {_MAX_COMMON_NAME} characters, "
                         f"not {len(name)}")
    if not name.isprintable():
        raise ValueError(f"common name {name!r} holds characters that are not printable")
    return name


# -- inspecting -------------------------------------------------------------------------


def describe(cert: x509.Certificate) -> CertificateInfo:
    """Summarise a certificate: names, validity, key and pin.

    Raises:
        ValueError: an extension the certificate carries is malformed.
    """
    try:
        san_ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        sans = tuple(_san_text(n) for n in san_ext.value)
    except x509.ExtensionNotFound:
        sans = ()
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        usages = tuple(_EKU_NAMES.get(oid, oid.dotted_string) for oid in eku)
    except x509.ExtensionNotFound:
        usages = ()
    common_names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = common_names[0].value if common_names else None
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        common_name=common_name if isinstance(common_name, str) else None,
        issuer=cert.issuer.rfc4514_string(),
        sans=sans,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        serial=cert.serial_number,
        is_ca=is_ca,
        key_type=_key_type(cert),
        extended_key_usage=usages,
        pin=format_pin(spki_sha256(cert.public_bytes(serialization.Encoding.DER))),
    )


def find_certificates(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> list[CertificateFile]:
    """Read every certificate in some files and directories.

    A file is read whole: every certificate of a PEM bundle is returned. A directory is
    searched recursively for ``*.crt``, ``*.pem`` and ``*.cer`` files, skipping hidden
    files and directories; there, a ``.pem`` file without a certificate (a key saved as
    ``.pem``) is skipped, but a ``.crt`` or ``.cer`` file without one, or any file with
    a broken certificate, is an error. Symbolic links to directories are not followed.

    Raises:
        OSError: a path does not exist, or a file or directory cannot be read.
        ValueError: a file named explicitly holds no certificate, or a certificate is
            malformed.
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    found: list[CertificateFile] = []
    for path in map(os.fsdecode, paths):
        if os.path.isdir(path):
            for file in _walk(path):
                data = _read_file(file, "certificate file")
                # A *.crt or *.cer file claims to be a certificate; a *.pem may be a key.
                certs = _parse_certificates(data, file,
                                            required=not file.endswith(".pem"))
                found += [CertificateFile(file, i, describe(c)) for i, c in enumerate(certs)]
        else:
            certs = load_certificates(path)
            found += [CertificateFile(path, i, describe(c)) for i, c in enumerate(certs)]
    return found


def expiring(
    paths_or_dir: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    within_days: float,
    *,
    now: datetime.datetime | None = None,
) -> list[CertificateFile]:
    """The certificates that have expired, or will within ``within_days`` days.

    Args:
        paths_or_dir: files and directories, searched as :func:`find_certificates` does.
        within_days: the window, from ``now``; 0 lists only expired certificates.
        now: the time to judge from; the current time by default.

    Returns:
        The certificates found, soonest to expire first.

    Raises:
        OSError: as :func:`find_certificates`.
        ValueError: ``within_days`` is negative, or as :func:`find_certificates`.
    """
    if within_days < 0:
        raise ValueError(f"the window must be 0 days or more, not {within_days}")
    when = _utc(now) if now is not None else _now()
    soon = [f for f in find_certificates(paths_or_dir)
            if f.info.expires_within(within_days, when)]
    return sorted(soon, key=lambda f: (f.info.not_after, f.path, f.index))


# -- files ------------------------------------------------------------------------------


def write_certificate(path: str | os.PathLike[str],
                      cert: x509.Certificate | Sequence[x509.Certificate], *,
                      force: bool = False) -> None:
    """Write a certificate, or a chain, as PEM to a new file with mode 0644.

    Raises:
        FileExistsError: something is at ``path`` and ``force`` is false.
        OSError: the file cannot be written; nothing is left behind.
    """
    chain = [cert] if isinstance(cert, x509.Certificate) else list(cert)
    data = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
    _write_file(os.fsdecode(path), data, CERTIFICATE_MODE, force=force)


def write_private_key(path: str | os.PathLike[str], key: PrivateKey, *,
                      force: bool = False) -> None:
    """Write a private key as unencrypted PKCS#8 PEM to a new file with mode 0600.

    Raises:
        FileExistsError: something is at ``path`` and ``force`` is false.
        OSError: the file cannot be written; nothing is left behind.
    """
    _write_file(os.fsdecode(path), _private_key_pem(key), PRIVATE_KEY_MODE, force=force)


def write_certified_key(certified: CertifiedKey, cert_path: str | os.PathLike[str],
                        key_path: str | os.PathLike[str], *, force: bool = False) -> None:
    """Write a certificate and its key; without ``force``, both files must be new.

    Both paths are checked before anything is written, and the key file is removed
    again if the certificate cannot be written, so a failure leaves no half pair.

    Raises:
        FileExistsError: something is at either path and ``force`` is false.
        OSError: a file cannot be written.
    """
    cert_file, key_file = os.fsdecode(cert_path), os.fsdecode(key_path)
    if not force:
        # A friendly early answer; O_EXCL is what actually guarantees it.
        for path in (key_file, cert_file):
            if os.path.lexists(path):
                raise FileExistsError(errno.EEXIST, "file exists", path)
    write_private_key(key_file, certified.private_key, force=force)
    try:
        write_certificate(cert_file, certified.certificate, force=force)
    except BaseException:
        if not force:
            unlink_quietly(key_file)  # we created it just now, so it is ours
        raise


def load_certificates(path: str | os.PathLike[str]) -> list[x509.Certificate]:
    """Read every certificate of a PEM file (a bundle or chain), or one DER certificate.

    Raises:
        OSError: the file cannot be read or is not a regular file.
        ValueError: it holds no certificate (the message says if it holds a private
            key instead), or a malformed one.
    """
    name = os.fsdecode(path)
    return _parse_certificates(_read_file(name, "certificate file"), name, required=True)


def load_certificate(path: str | os.PathLike[str]) -> x509.Certificate:
    """Read the first certificate of a PEM or DER file.

    Raises:
        OSError: the file cannot be read or is not a regular file.
        ValueError: it holds no certificate, or a malformed one.
    """
    return load_certificates(path)[0]


def load_private_key(path: str | os.PathLike[str]) -> PrivateKey:
    """Read an unencrypted PEM private key (PKCS#8, or the traditional RSA/EC forms).

    Raises:
        OSError: the file cannot be read or is not a regular file.
        ValueError: it holds no private key, an encrypted one, or a kind securemq does
            not use (Ed25519, ECDSA and RSA only). Messages never quote the file.
    """
    name = os.fsdecode(path)
    data = _read_file(name, "private key file")
    if not _PEM_PRIVATE_KEY.search(data):
        hint = " (it holds a certificate)" if _PEM_CERTIFICATE in data else ""
        raise ValueError(f"{name!r} holds no PEM private key{hint}")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        # cryptography's way of saying that the key needs a password.
        raise ValueError(f"{name!r} holds an encrypted private key: securemq reads "
                         "unencrypted keys only (keep them in files with mode 0600)") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError(f"{name!r} holds a malformed or unsupported private key") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
                      | rsa.RSAPrivateKey):
        raise ValueError(f"{name!r} holds a {type(key).__name__.removeprefix('_')}: "
                         "securemq uses Ed25519, ECDSA and RSA keys only")
    return key


def load_certified_key(cert_path: str | os.PathLike[str],
                       key_path: str | os.PathLike[str]) -> CertifiedKey:
    """Read a certificate and its private key, checking that they belong together.

    Raises:
        OSError: a file cannot be read.
        ValueError: a file is malformed, or the key is not the certificate's.
    """
    cert = load_certificate(cert_path)
    key = load_private_key(key_path)
    if _spki(key.public_key()) != _spki(cert.public_key()):
        raise ValueError(f"the private key in {os.fsdecode(key_path)!r} does not belong "
                         f"to the certificate in {os.fsdecode(cert_path)!r}")
    return CertifiedKey(cert, key)


# -- helpers ----------------------------------------------------------------------------


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _utc(when: datetime.datetime) -> datetime.datetime:
    """``when`` in UTC; a naive datetime is refused, as its zone is anyone's guess."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("give an aware datetime (with a time zone), not a naive one")
    return when.astimezone(datetime.timezone.utc)


def _date(when: datetime.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def _validity(days: int, not_before: datetime.datetime | None,
              ) -> tuple[datetime.datetime, datetime.datetime]:
    """The (not_before, not_after) of a new certificate valid for ``days`` days.

    Without ``not_before``, validity runs from a few minutes ago (clock skew) to
    ``days`` days from now; with it, for ``days`` days from ``not_before``. Times are
    truncated to whole seconds, the precision of X.509 times.
    """
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ValueError(f"validity must be 1 to {MAX_DAYS} days, not {days!r}")
    if not_before is None:
        now = _now().replace(microsecond=0)
        return now - CLOCK_SKEW, now + datetime.timedelta(days=days)
    start = _utc(not_before).replace(microsecond=0)
    return start, start + datetime.timedelta(days=days)


def _key_usage(*, digital_signature: bool = False, key_encipherment: bool = False,
               key_cert_sign: bool = False, crl_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature, content_commitment=False,
        key_encipherment=key_encipherment, data_encipherment=False, key_agreement=False,
        key_cert_sign=key_cert_sign, crl_sign=crl_sign, encipher_only=False,
        decipher_only=False)


def _sign(builder: x509.CertificateBuilder, key: PrivateKey) -> x509.Certificate:
    # Ed25519 signs the message itself: no separate digest may be named.
    digest = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, digest)


def _authority_key_id(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    """The issuer's key identifier, copied from its certificate when it has one (RFC 5280
    4.2.1.1: the AKI of a certificate matches the SKI of its issuer)."""
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        public = issuer.public_key()
        if not isinstance(public, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
                          | rsa.RSAPublicKey):
            raise ValueError("the CA's key is not an Ed25519, ECDSA or RSA key") from None
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(public)
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _check_issuer(ca: CertifiedKey) -> None:
    """Check that ``ca`` can sign certificates that verify.

    Raises:
        ValueError: not a CA certificate, one whose key usage forbids signing
            certificates, or a key that is not the certificate's.
    """
    info = describe(ca.certificate)
    if not info.is_ca:
        raise ValueError(f"{info.subject} is not a CA certificate (no basicConstraints "
                         "CA:TRUE): it cannot issue certificates")
    try:
        usage = ca.certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None  # no keyUsage extension: any use is allowed
    if usage is not None and not usage.key_cert_sign:
        raise ValueError(f"the key usage of {info.subject} does not allow signing "
                         "certificates (keyCertSign)")
    if _spki(ca.private_key.public_key()) != _spki(ca.certificate.public_key()):
        raise ValueError(f"the CA key does not belong to the CA certificate {info.subject}")


def _spki(public_key: CertificatePublicKeyTypes) -> bytes:
    """The DER SubjectPublicKeyInfo of a public key, to compare two keys."""
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def _key_type(cert: x509.Certificate) -> str:
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return "unknown"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "ed448"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ecdsa-{_CURVE_NAMES.get(key.curve.name, key.curve.name)}"
    if isinstance(key, rsa.RSAPublicKey):
        return f"rsa-{key.key_size}"
    if isinstance(key, dsa.DSAPublicKey):
        return f"dsa-{key.key_size}"
    return "unknown"


def _san_text(name: x509.GeneralName) -> str:
    if isinstance(name, x509.DNSName):
        return f"DNS:{name.value}"
    if isinstance(name, x509.IPAddress):
        return f"IP:{name.value}"
    if isinstance(name, x509.RFC822Name):
        return f"email:{name.value}"
    if isinstance(name, x509.UniformResourceIdentifier):
        return f"URI:{name.value}"
    if isinstance(name, x509.RegisteredID):
        return f"RID:{name.value.dotted_string}"
    if isinstance(name, x509.DirectoryName):
        return f"DirName:{name.value.rfc4514_string()}"
    if isinstance(name, x509.OtherName):
        return f"othername:{name.type_id.dotted_string}"
    return f"unknown:{type(name).__name__}"


def _unique(names: Iterable[SanName]) -> list[x509.GeneralName]:
    """The names in order, each once: a repeated SAN is harmless but looks like a typo."""
    seen: list[x509.GeneralName] = []
    for name in names:
        if name not in seen:
            seen.append(name)
    return seen


def _check_dns_name(name: str, text: str) -> str:
    """Return a DNS name for a SAN, lower case and without a final dot.

    Raises:
        ValueError: not ASCII, not RFC 1123 labels, a misplaced wildcard, or a name
            ending in a numeric label (which resolvers read as an IPv4 address).
    """
    if not name.isascii():
        raise ValueError(f"SAN {text!r} is not ASCII: give an internationalised name as "
                         "its A-label (xn--...)")
    host = name[:-1] if name.endswith(".") else name
    labels = host.lower().split(".")
    if not host or len(host) > _MAX_DNS_NAME:
        raise ValueError(f"SAN {text!r} is not a DNS name or an IP address")
    if labels[0] == "*" and len(labels) >= 3:
        # A wildcard stands for one whole label, the leftmost, over at least a domain
        # and its parent (RFC 6125 6.4.3); "*.com" would be far too broad.
        labels = labels[1:]
    for label in labels:
        if not _DNS_LABEL.fullmatch(label):
            reason = ("a wildcard must be the whole leftmost label, over two more labels"
                      if "*" in label else
                      "each dot-separated label must be 1 to 63 letters, digits or "
                      "inner hyphens")
            raise ValueError(f"SAN {text!r} is not a DNS name or an IP address: {reason}")
    if labels[-1].isdigit():
        raise ValueError(f"SAN {text!r} is not a DNS name or an IP address: "
                         "the last label is a number")
    return host.lower()


def _parse_certificates(data: bytes, where: str, *, required: bool) -> list[x509.Certificate]:
    """The certificates in a file's bytes: every PEM certificate, or one DER certificate.

    Raises:
        ValueError: a malformed certificate; or none at all when ``required`` (the
            message says if the file holds a private key instead).
    """
    if _PEM_CERTIFICATE in data:
        try:
            return x509.load_pem_x509_certificates(data)
        except ValueError:
            raise ValueError(f"{where!r} holds a malformed PEM certificate") from None
    # DER has no marker: try it on a file that must hold a certificate and starts as
    # DER does (a SEQUENCE).
    if required and data[:1] == b"\x30":
        try:
            return [x509.load_der_x509_certificate(data)]
        except ValueError:
            raise ValueError(f"{where!r} holds a malformed DER certificate") from None
    if not required:
        return []
    hint = " (it holds a private key)" if _PEM_PRIVATE_KEY.search(data) else ""
    raise ValueError(f"{where!r} holds no certificate{hint}")


def _walk(directory: str) -> list[str]:
    """Certificate-like files under ``directory``, sorted, hidden names skipped."""
    files: list[str] = []

    def fail(exc: OSError) -> None:
        raise exc

    for root, dirs, names in os.walk(directory, onerror=fail):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files += [os.path.join(root, n) for n in sorted(names)
                  if not n.startswith(".") and n.endswith(CERTIFICATE_SUFFIXES)]
    return files


def _read_file(path: str, what: str) -> bytes:
    """The bytes of a regular file of at most a few MiB.

    ``O_NONBLOCK`` keeps a FIFO from blocking the open; it is then refused as not a
    regular file.

    Raises:
        OSError: the file cannot be opened or read, or is not a regular file; the
            message names ``what`` could not be read.
        ValueError: the file is too large to be a certificate or key.
    """
    flags = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
             | getattr(os, "O_BINARY", 0))
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _in_context(exc, f"cannot read {what}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, f"cannot read {what}: it is a directory",
                                    path)
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"cannot read {what}: not a regular file", path)
        chunks: list[bytes] = []
        size = 0
        while chunk := _read_chunk(fd, what, path):
            chunks.append(chunk)
            size += len(chunk)
            if size > _MAX_FILE_SIZE:
                raise ValueError(f"{path!r} is larger than {_MAX_FILE_SIZE >> 20} MiB: "
                                 f"not a {what.removesuffix(' file')}")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _read_chunk(fd: int, what: str, path: str) -> bytes:
    try:
        return os.read(fd, 1 << 16)
    except OSError as exc:
        raise _in_context(exc, f"cannot read {what}") from None


def _in_context(exc: OSError, what: str) -> OSError:
    """``exc`` with ``what`` in front of its reason, keeping its class and errno."""
    if exc.errno is None:
        return exc
    return OSError(exc.errno, f"{what}: {exc.strerror}", exc.filename)


def _private_key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write_file(path: str, data: bytes, mode: int, *, force: bool) -> None:
    """Create ``path`` with ``mode`` and ``data``; with ``force``, replace what is there.

    A new file is created by ``open`` with ``O_CREAT | O_EXCL`` (and ``O_NOFOLLOW``), so
    the mode holds from the first instant and nothing already at the path, not even a
    symbolic link, is followed or overwritten. To replace, the data goes to a new hidden
    file in the same directory, which is then renamed over ``path`` atomically.

    Raises:
        FileExistsError: something is at ``path`` and ``force`` is false.
        OSError: the file cannot be written; nothing is left behind.
    """
    if force:
        replace_files(((path, data, mode),))
    else:
        create_exclusive(path, data, mode)
        fsync_dir(os.path.dirname(path))
