"""Authentication: ZAP handlers, password stores and CURVE certificates.

The names of pyzmq's ``zmq.auth`` are here, so that ``import securemq as zmq`` runs
code written for it: :class:`Authenticator` (answer requests from your own loop),
:class:`~securemq.auth.thread.ThreadAuthenticator` (in :mod:`securemq.auth.thread`, as
in pyzmq), :data:`CURVE_ALLOW_ANY`, and the certificate helpers
:func:`create_certificates`, :func:`load_certificate` and :func:`load_certificates`.

Additions: :class:`PasswordStore` (salted, hashed PLAIN passwords in a file),
:class:`RateLimit` (lock out addresses that fail too often), TLS certificate policies
(:meth:`Authenticator.configure_tls`, :class:`PeerCertificate`), and the audit log of
every decision on the ``securemq.auth.audit`` logger. See docs/authentication.md.
"""

from .base import (
    AUDIT_FIELDS,
    AUDIT_LOGGER,
    CURVE_ALLOW_ANY,
    DEFAULT_RATE_LIMIT,
    VERSION,
    ZAP_ENDPOINT,
    AddressCheck,
    Authenticator,
    Decision,
    PeerCertificate,
    RateLimit,
    TlsCredentialMatch,
    TlsUserIdMapper,
)
from .certs import create_certificates, load_certificate, load_certificates
from .passwords import PasswordCheck, PasswordStore, PasswordStoreError

__all__ = [
    "AUDIT_FIELDS",
    "AUDIT_LOGGER",
    "CURVE_ALLOW_ANY",
    "DEFAULT_RATE_LIMIT",
    "VERSION",
    "ZAP_ENDPOINT",
    "AddressCheck",
    "Authenticator",
    "Decision",
    "PasswordCheck",
    "PasswordStore",
    "PasswordStoreError",
    "PeerCertificate",
    "RateLimit",
    "TlsCredentialMatch",
    "TlsUserIdMapper",
    "create_certificates",
    "load_certificate",
    "load_certificates",
]
