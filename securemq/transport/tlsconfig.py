"""TLS settings from socket options: contexts, checks at bind/connect, and rotation.

This is the part of TLS that reads files and clocks, so it lives outside the sans-IO
filter (:mod:`securemq.transport.tls`). Misconfiguration is refused when the socket binds
or connects (or reloads) with a :class:`~securemq.error.ZMQError` that names the problem;
nothing is left to fail later, connection by connection.
"""

from __future__ import annotations

import errno
import logging
import os
import ssl
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..constants import Event
from ..error import ZMQError
from .tls import TlsFailure, TlsFilter, TlsSettings, format_pin, parse_pins, spki_sha256

if TYPE_CHECKING:
    from ..options import Options

__all__ = ["TlsSource", "audit_tls_failure", "build_settings", "certificate_expiry"]

log = logging.getLogger("securemq.tls")

#: How often a long-running socket re-reads its certificate's expiry (seconds).
EXPIRY_CHECK_INTERVAL = 6 * 3600.0


class TlsSource:
    """The current settings of one bind or connect, swapped whole by a reload.

    Engines read :attr:`settings` when a connection starts, so a reload changes new
    connections only; live ones keep their session (except those whose key a reload
    stops pinning: see :meth:`Socket.reload_tls <securemq.socket.Socket.reload_tls>`).
    """

    def __init__(self, settings: TlsSettings, server_side: bool, host: str) -> None:
        self.settings = settings
        self.server_side = server_side
        #: The endpoint's host, the default name a client checks.
        self.host = host
        #: The engines running TLS from this source (only the I/O thread touches it).
        self.engines: weakref.WeakSet[Any] = weakref.WeakSet()
        #: The I/O thread's reactor and the endpoint, set once the socket starts it.
        self.reactor: Any = None
        self.endpoint = ""
        #: Set when the bind or connect ends: the expiry watch stops.
        self.closed = False
        self._watch: tuple[str, int, Callable[[int, int, str], None]] | None = None
        self._timer: Any = None

    def reload(self, settings: TlsSettings) -> None:
        """Take new settings; in the I/O thread, drop peers whose key lost its pin."""
        self.settings = settings
        if self.reactor is not None:
            self.reactor.call_soon_threadsafe(self._recheck)

    def _recheck(self) -> None:
        for engine in list(self.engines):
            engine.recheck_pins()

    def watch_expiry(self, cert_path: str, warning: int,
                     emit: Callable[[int, int, str], None]) -> None:
        """Warn now and every few hours while ``cert_path`` is within ``warning`` seconds
        of expiry: a log WARNING and an ``EVENT_TLS_CERT_EXPIRING`` with the seconds left.
        """
        self._watch = (cert_path, warning, emit) if cert_path and warning > 0 else None
        self._check_expiry()
        if self._watch is not None and self.reactor is not None:
            self.reactor.call_soon_threadsafe(self._arm)

    def _arm(self) -> None:
        if self._timer is None and not self.closed:
            self._timer = self.reactor.call_later(EXPIRY_CHECK_INTERVAL, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if not self.closed and self._watch is not None:
            self._check_expiry()
            self._arm()

    def _check_expiry(self) -> None:
        if self._watch is None:
            return
        path, warning, emit = self._watch
        expiry = certificate_expiry(path)
        if expiry is None or expiry.seconds_left > warning:
            return
        left = max(0, expiry.seconds_left)
        log.warning("TLS certificate %s (%s) for %s expires %s: %d days left",
                    path, expiry.subject, self.endpoint or self.host,
                    expiry.not_after.isoformat(), left // 86400)
        emit(Event.TLS_CERT_EXPIRING, min(left, 2**31 - 1), self.endpoint)


def build_settings(opts: Options, *, server_side: bool, host: str) -> TlsSettings:
    """Build the TLS settings of a bind (``server_side``) or a connect to ``host``.

    Raises:
        ZMQError: EINVAL for contradictory options (a server without a certificate,
            a required client certificate with no CA, a key that does not match its
            certificate, bad pins); the file's errno (ENOENT, EACCES...) for a file
            that cannot be read.
    """
    pins = parse_pins(opts.tls_pins)
    hostname = None if server_side else (opts.tls_hostname or host)
    if opts.ssl_context is not None:
        # The socket that binds is the TLS server whatever the ZMTP roles: a context
        # made for the other role would fail every connection, so refuse it now.
        wrong = ssl.PROTOCOL_TLS_CLIENT if server_side else ssl.PROTOCOL_TLS_SERVER
        if opts.ssl_context.protocol == wrong:
            role = "server (PROTOCOL_TLS_SERVER)" if server_side \
                else "client (PROTOCOL_TLS_CLIENT)"
            raise ZMQError(errno.EINVAL, f"ssl_context: a socket that "
                           f"{'binds' if server_side else 'connects'} is the TLS {role}")
        return TlsSettings(opts.ssl_context, pins, hostname)
    if server_side:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if not opts.tls_cert:
            raise ZMQError(errno.EINVAL, "a tls+tcp server needs tls_cert (or ssl_context)")
        if opts.tls_require_client_cert and not opts.tls_ca:
            raise ZMQError(errno.EINVAL, "tls_require_client_cert needs tls_ca: without "
                           "a CA no client certificate can be verified")
        if pins and not opts.tls_ca:
            raise ZMQError(errno.EINVAL, "server tls_pins need tls_ca: client certificates "
                           "are only asked for when a CA can verify them")
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if not opts.tls_verify:
            if not pins:
                raise ZMQError(errno.EINVAL, "tls_verify=0 needs tls_pins: an unverified "
                               "server could be anyone")
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion(opts.tls_min_version)
    if opts.tls_cert:
        for name in ("tls_cert", "tls_key"):
            path = getattr(opts, name)
            if path and not os.path.exists(path):
                raise ZMQError(errno.ENOENT, f"{name}: no such file: {path}")
        _load(ctx.load_cert_chain, opts.tls_cert, opts.tls_key or None, _no_passphrase,
              what="tls_cert/tls_key")
    if opts.tls_ca:
        _load(ctx.load_verify_locations, opts.tls_ca, what="tls_ca")
    elif not server_side and opts.tls_verify:
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if server_side and opts.tls_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED if opts.tls_require_client_cert \
            else ssl.CERT_OPTIONAL
    return TlsSettings(ctx, pins, hostname)


class _EncryptedKey(Exception):
    pass


def _no_passphrase() -> str:
    # OpenSSL would otherwise prompt on the terminal, blocking bind in a service.
    raise _EncryptedKey


def _load(method: Any, *paths: Any, what: str) -> None:
    try:
        method(*paths)
    except _EncryptedKey:
        raise ZMQError(errno.EINVAL, "tls_key is encrypted: give an unencrypted key file "
                       "(mode 0600), or load it yourself into ssl_context") from None
    except FileNotFoundError as exc:
        raise ZMQError(errno.ENOENT, f"{what}: no such file: {exc.filename or paths[0]}") \
            from None
    except PermissionError as exc:
        raise ZMQError(errno.EACCES, f"{what}: cannot read {exc.filename or paths[0]}") \
            from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ZMQError(errno.EINVAL, "tls_key does not match tls_cert") from None
        if what.startswith("tls_cert") and exc.reason in ("PEM_LIB", None):
            raise ZMQError(errno.EINVAL, "tls_cert/tls_key: no certificate and private "
                           "key in PEM form (a key in tls_cert, or tls_key, is needed)") \
                from None
        raise ZMQError(errno.EINVAL, f"{what}: not usable PEM ({exc.reason or exc})") \
            from None
    except OSError as exc:
        raise ZMQError(exc.errno or errno.EINVAL, f"{what}: {exc.strerror or exc}") \
            from None


@dataclass(frozen=True, slots=True)
class Expiry:
    """When the local certificate stops being valid, and how long is left."""

    subject: str
    not_after: datetime
    seconds_left: int


def certificate_expiry(path: str, now: datetime | None = None) -> Expiry | None:
    """The expiry of the first certificate in PEM file ``path``; None if unreadable."""
    from cryptography import x509  # noqa: PLC0415

    try:
        with open(path, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
    except (OSError, ValueError):
        return None
    now = now or datetime.now(timezone.utc)
    not_after = cert.not_valid_after_utc
    return Expiry(cert.subject.rfc4514_string(), not_after,
                  int((not_after - now).total_seconds()))


#: The logger of authentication decisions (the authenticator logs ZAP decisions there).
AUDIT_LOGGER = "securemq.auth.audit"


def audit_tls_failure(address: str, endpoint: str, failure: TlsFailure,
                      tls: TlsFilter | None) -> None:
    """Log one audit record for a TLS handshake refused on either side.

    The fields are those of the authenticator's records (``zap_*``), with
    ``zap_mechanism`` "TLS", so one log query finds every refusal.
    """
    subject = pin = ""
    if tls is not None and tls.peer_certificate:
        subject, pin = _describe(tls.peer_certificate)
    fields = {
        "zap_time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "zap_domain": "",
        "zap_address": address,
        "zap_mechanism": "TLS",
        "zap_identity": subject,
        "zap_status": int(failure.tls_reason),
        "zap_reason": failure.reason,
        "zap_tls_subject": subject,
        "zap_tls_pin": pin,
        "tls_endpoint": endpoint,
    }
    logging.getLogger(AUDIT_LOGGER).warning(
        "TLS %d %s from %r on %s: %s", int(failure.tls_reason), failure.tls_reason.name,
        address, endpoint, failure.reason, extra=fields)


def _describe(der: bytes) -> tuple[str, str]:
    from cryptography import x509  # noqa: PLC0415

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return "", ""
    return cert.subject.rfc4514_string(), format_pin(spki_sha256(der))
