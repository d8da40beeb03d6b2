"""Certificates trustme does not make, for the TLS tests: chosen validity and EKU.

Built with ``cryptography`` and signed by a trustme CA, so they chain to it like the
certificates trustme issues itself.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def custom_leaf(ca: trustme.CA, name: str, *, days: tuple[int, int] = (-1, 30),
                eku: list[x509.ObjectIdentifier] | None = None,
                ips: Sequence[str] = ()) -> bytes:
    """A P-256 leaf for ``name`` (CN and DNS SAN, plus ``ips``) valid from ``days[0]`` to
    ``days[1]`` days from now, with extended key usage ``eku`` if given: the PEM of the
    certificate followed by its unencrypted key."""
    ca_key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), None)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    sans: list[x509.GeneralName] = [x509.DNSName(name)]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + dt.timedelta(days=days[0]))
        .not_valid_after(now + dt.timedelta(days=days[1]))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    return cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
