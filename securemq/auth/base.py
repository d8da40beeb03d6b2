"""A ZAP handler (RFC 27) with pyzmq's ``zmq.auth.Authenticator`` interface.

Servers in a context ask the handler bound at ``inproc://zeromq.zap.01`` whether a peer
may connect (see :mod:`securemq.iothread.zap`). :class:`Authenticator` is that handler:
a REP socket, address allow/deny lists, PLAIN and CURVE policies per ZAP domain, and a
reply for every request. It decides the way pyzmq's does, so that ``import securemq as
zmq`` runs pyzmq authentication code unchanged:

- an address allow list admits only the addresses on it (everything else is refused);
  otherwise a deny list refuses the addresses on it; ``allow`` and ``deny`` cannot be
  mixed (ValueError, as pyzmq);
- NULL peers pass unless their address is refused; PLAIN and CURVE peers must also
  present credentials that the policy of their domain accepts (the empty domain, sent
  by sockets without ``zap_domain``, is policy ``"*"``);
- the User-Id of an admitted peer is ``anonymous`` (NULL), the user name (PLAIN), or
  :meth:`Authenticator.curve_user_id` of the client key (CURVE: its Z85 text).

Over ``tls+tcp://`` the request carries one more credential frame, the peer's
certificate as TLS verified it (DER; empty if the client sent none), so one policy can
admit or refuse by address, PLAIN user, CURVE key or TLS certificate:
:meth:`Authenticator.configure_tls` allows certificates of a domain by issuing CA,
subject name or public-key pin, and maps an admitted certificate to a User-Id (see
"TLS" below for the rules).

Beyond pyzmq, for production use:

- PLAIN passwords are kept only as salted scrypt hashes and compared in constant time
  (:mod:`securemq.auth.passwords`);
- a CURVE allow-list directory is watched: adding or deleting a ``.key`` file takes
  effect for the next handshake, without a restart or a new ``configure_curve`` call;
- every decision is logged once on the ``securemq.auth.audit`` logger with structured
  fields (:data:`AUDIT_FIELDS`), never with a password or a secret key;
- an address with too many failures in a window is refused without checking for a
  while (:class:`RateLimit`);
- a policy callback that raises is answered 500 (internal error), logged, and never
  admits the peer nor stops the handler.

TLS
---

A request is over TLS when it has exactly one credential frame more than its mechanism
sends (NULL 1, PLAIN 3, CURVE 2 instead of 0, 2, 1): the last one is the certificate.
After the address lists, a malformed certificate is refused (without counting towards
the rate limit); then the domain's TLS policy, if it has one; then the mechanism's own
policy, as without TLS. When a domain has both, both must pass; the TLS policy goes
first because it is cheap (a refused certificate costs no PLAIN password hash). A
domain's TLS policy applies to TLS requests only: peers over ``tcp://`` or ``ipc://``
are decided as before.

User-Id over TLS: a NULL peer admitted by a TLS policy gets the policy's ``user_id``
mapping of its certificate, or :meth:`Authenticator.tls_user_id` (the first SAN DNS
name, URI or e-mail address, else the subject CN, else the pin); without a certificate
or without a TLS policy it stays ``anonymous``. PLAIN and CURVE peers keep their
mechanism's User-Id unless the domain's TLS policy has an explicit ``user_id`` mapping
and the peer sent a certificate.

The base class does no I/O scheduling: call :meth:`Authenticator.handle_zap_message`
for each request from your own loop, or use :class:`securemq.auth.thread.ThreadAuthenticator`.
"""

from __future__ import annotations

import inspect
import ipaddress
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from ..constants import REP
from ..context import Context
from ..socket import Socket
from ..transport.tls import format_pin, parse_pin, parse_pins, spki_sha256
from ..utils import z85
from .passwords import PasswordCheck, PasswordStore

if TYPE_CHECKING:
    from cryptography import x509

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
    "PeerCertificate",
    "RateLimit",
    "TlsCredentialMatch",
    "TlsUserIdMapper",
]

#: ``configure_curve(location=CURVE_ALLOW_ANY)`` admits every client key (pyzmq's name).
CURVE_ALLOW_ANY: Final = "*"
#: The ZAP protocol version, in requests and replies.
VERSION: Final = b"1.0"
#: Where the handler binds (RFC 27 "Architecture").
ZAP_ENDPOINT: Final = "inproc://zeromq.zap.01"
#: The logger that receives one record per decision.
AUDIT_LOGGER: Final = "securemq.auth.audit"
#: The structured fields of every audit record (attributes of the ``LogRecord``).
AUDIT_FIELDS: Final = ("zap_time", "zap_domain", "zap_address", "zap_mechanism",
                       "zap_identity", "zap_status", "zap_reason", "zap_tls_subject",
                       "zap_tls_pin")

# What the peer's server is told. The reason stays in the audit log: a refused client
# learns nothing about which part of its credentials was wrong.
_WIRE_TEXT: Final = {200: b"OK", 300: b"Try again later", 400: b"Authentication failed",
                     500: b"Internal error"}
_MAX_TEXT = 255  # RFC 27: string fields are at most 255 characters
# Credential frames of each mechanism over TLS: its own, plus the peer's certificate.
_TLS_CREDENTIALS: Final = {b"NULL": 1, b"PLAIN": 3, b"CURVE": 2}


class _Refused(Exception):
    """Raised inside a decision to answer 400 with a specific audit reason."""

    def __init__(self, reason: str, counts: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        #: Whether this refusal counts towards the address's rate limit.
        self.counts = counts


@dataclass(frozen=True)
class Decision:
    """The answer to one ZAP request, with what the audit log says about it.

    Attributes:
        status: the RFC 27 status code (200, 300, 400 or 500).
        reason: why, specifically (audit log only, never on the wire).
        user_id: the User-Id sent with a 200 (empty otherwise, as RFC 27 requires).
        identity: who the peer claimed to be, as text safe for a log line: the PLAIN
            user name or the CURVE key in Z85 (empty for NULL), followed over TLS by
            the certificate's subject and pin (``"admin; CN=alice,O=Example
            sha256//..."``).
    """

    status: int
    reason: str
    user_id: bytes = b""
    identity: str = ""

    @property
    def text(self) -> bytes:
        """The status text sent to the server: generic, one per status code."""
        return _WIRE_TEXT[self.status]


class AddressCheck(NamedTuple):
    """The verdict of the address lists on one address."""

    passed: bool
    """False if the address is refused whatever its credentials."""
    reason: str
    """Why, for the audit log."""


@dataclass(frozen=True)
class RateLimit:
    """Refuse an address for ``lockout`` seconds once it failed too often.

    After ``max_failures`` refusals of its credentials (or of its address) within
    ``window`` seconds, every further request from the same address is answered 400
    without looking at its credentials until ``lockout`` seconds have passed. 400 and
    not 300: libzmq clients retry after a 300 (a temporary failure) but give up after
    a 400, so a 300 would turn the lockout into a stream of retries.

    Peers with an empty address (ipc) are not limited: they would all share one entry,
    and one misconfigured local client would lock out the others.

    Attributes:
        max_failures: refusals that trigger the lockout.
        window: seconds over which refusals are counted.
        lockout: seconds an address stays refused.
        max_addresses: addresses tracked at most (the oldest are forgotten first), so
            a scan from many addresses cannot grow memory without bound.
    """

    max_failures: int = 5
    window: float = 60.0
    lockout: float = 60.0
    max_addresses: int = 10_000

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.window <= 0 or self.lockout < 0 \
                or self.max_addresses < 1:
            raise ValueError(f"invalid rate limit {self!r}")


#: The rate limit an :class:`Authenticator` applies unless told otherwise.
DEFAULT_RATE_LIMIT: Final = RateLimit()


class _FailureTracker:
    """Recent failures per address, and the lockouts they caused."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.clock = clock
        self._lock = threading.Lock()  # reset() may come from the application's thread
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}

    def locked(self, address: str) -> bool:
        """Whether ``address`` is locked out now."""
        with self._lock:
            until = self._locked_until.get(address)
            if until is None:
                return False
            if self.clock() < until:
                return True
            del self._locked_until[address]
            return False

    def failed(self, address: str) -> None:
        """Count one failure of ``address``; lock it out if that makes too many."""
        if not address:
            return
        with self._lock:
            self._failed(address)

    def _failed(self, address: str) -> None:
        now = self.clock()
        times = self._failures.pop(address, None) or deque()
        times.append(now)
        while times and times[0] <= now - self.limit.window:
            times.popleft()
        if len(times) >= self.limit.max_failures:
            self._locked_until[address] = now + self.limit.lockout
            times.clear()
        else:
            self._failures[address] = times  # re-inserted: dicts keep recency order
        self._trim(now)

    def reset(self, address: str | None) -> None:
        """Forget ``address`` (every address if None)."""
        with self._lock:
            if address is None:
                self._failures.clear()
                self._locked_until.clear()
            else:
                self._failures.pop(address, None)
                self._locked_until.pop(address, None)

    def _trim(self, now: float) -> None:
        """Forget expired entries, then the oldest ones, beyond ``max_addresses``."""
        cap = self.limit.max_addresses
        if len(self._failures) + len(self._locked_until) <= cap:
            return
        horizon = now - self.limit.window
        self._locked_until = {a: t for a, t in self._locked_until.items() if t > now}
        self._failures = {a: t for a, t in self._failures.items() if t and t[-1] > horizon}
        while self._failures and len(self._failures) + len(self._locked_until) > cap:
            del self._failures[next(iter(self._failures))]
        while len(self._locked_until) > cap:
            del self._locked_until[next(iter(self._locked_until))]


class _AddressSet:
    """Addresses and networks (``10.0.0.0/8``, ``fd00::/8``) to match peers against.

    A peer address matches an exact string on the set, or an address or network of the
    same family; an IPv4-mapped IPv6 address (``::ffff:127.0.0.1``, which dual-stack
    listeners report) also matches as its IPv4 address.
    """

    def __init__(self) -> None:
        self.strings: frozenset[str] = frozenset()
        self.networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    def plus(self, specs: Iterable[str]) -> _AddressSet:
        """A new set holding these entries and ``specs`` (readers keep the old one)."""
        new = _AddressSet()
        strings = set(self.strings)
        networks = list(self.networks)
        for spec in specs:
            if not isinstance(spec, str):
                raise TypeError(f"addresses are strings, not {type(spec).__name__}")
            if spec in strings:
                continue
            strings.add(spec)
            try:
                networks.append(ipaddress.ip_network(spec.strip(), strict=False))
            except ValueError:
                if spec:
                    logging.getLogger("securemq.auth").warning(
                        "%r is not an IP address or network: only a peer reporting "
                        "exactly that string matches it", spec)
        new.strings = frozenset(strings)
        new.networks = tuple(networks)
        return new

    def __bool__(self) -> bool:
        return bool(self.strings)

    def __contains__(self, address: str) -> bool:
        if address in self.strings:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
        if isinstance(ip, ipaddress.IPv6Address):
            if ip.scope_id:
                candidates.append(ipaddress.IPv6Address(address.split("%", 1)[0]))
            if ip.ipv4_mapped is not None:
                candidates.append(ip.ipv4_mapped)
        return any(c.version == net.version and c in net
                   for c in candidates for net in self.networks)


class _KeyDirectory:
    """The Z85 public keys of the ``*.key`` files in a directory, kept current.

    Each lookup stats the directory (adding, deleting or renaming a file changes its
    mtime, so those take effect for the very next handshake); every ``interval``
    seconds, or when the directory changed, the files are listed and those whose
    inode, mtime or size changed are read again. A file that cannot be parsed is left
    out (and logged) without affecting the others; a directory that disappears admits
    no key (fail closed).
    """

    def __init__(self, path: str, clock: Callable[[], float], interval: float,
                 log: logging.Logger) -> None:
        self.path = path
        self.clock = clock
        self.interval = interval
        self.log = log
        self._lock = threading.Lock()
        self._dir_sig: tuple[int, int] | None = None
        self._scanned_at = float("-inf")
        # file name -> ((inode, mtime_ns, size), Z85 public key or None if unreadable)
        self._files: dict[str, tuple[tuple[int, int, int], bytes | None]] = {}
        self._keys: frozenset[bytes] = frozenset()
        #: Called with the Z85 keys that disappeared, to cut their live sessions.
        self.on_removed: Callable[[frozenset[bytes]], None] | None = None
        self.refresh(force=True)

    def current(self) -> frozenset[bytes]:
        """The current set of Z85 public keys (bytes, 40 characters each)."""
        self.refresh()
        return self._keys

    def refresh(self, force: bool = False) -> None:
        """Reread what changed on disk, if the directory or the interval says to."""
        with self._lock:
            now = self.clock()
            try:
                st = os.stat(self.path)
                dir_sig = (st.st_ino, st.st_mtime_ns)
            except OSError as exc:
                if self._dir_sig is not None or force:
                    self.log.error("CURVE key directory %s unavailable (%s): no key admitted",
                                   self.path, exc.strerror)
                gone = self._keys
                self._dir_sig, self._files, self._keys = None, {}, frozenset()
                if gone and self.on_removed is not None:
                    self.on_removed(gone)
                return
            if not force and dir_sig == self._dir_sig \
                    and now - self._scanned_at < self.interval:
                return
            self._scan()
            self._dir_sig = dir_sig
            self._scanned_at = now

    def _scan(self) -> None:
        from .certs import load_certificate  # noqa: PLC0415 - certs imports nothing of ours

        files: dict[str, tuple[tuple[int, int, int], bytes | None]] = {}
        try:
            entries = list(os.scandir(self.path))
        except OSError as exc:
            self.log.error("cannot list CURVE key directory %s: %s", self.path, exc.strerror)
            entries = []
        for entry in entries:
            # As load_certificates: public halves only, no hidden files (which also
            # skips editors' and rsync's temporary files).
            if not entry.name.endswith(".key") or entry.name.startswith("."):
                continue
            try:
                if not entry.is_file():
                    continue
                st = entry.stat()
            except OSError:
                continue  # deleted while we looked
            sig = (st.st_ino, st.st_mtime_ns, st.st_size)
            known = self._files.get(entry.name)
            if known is not None and known[0] == sig:
                files[entry.name] = known
                continue
            files[entry.name] = (sig, self._read_key(entry.path, load_certificate))
        old = self._keys
        self._files = files
        self._keys = frozenset(k for _sig, k in files.values() if k is not None)
        if self._keys != old:
            self.log.info("CURVE key directory %s: %d keys (+%d -%d)", self.path,
                          len(self._keys), len(self._keys - old), len(old - self._keys))
        if old - self._keys and self.on_removed is not None:
            self.on_removed(old - self._keys)


    def _read_key(self, path: str,
                  load: Callable[[str], tuple[bytes, bytes | None]]) -> bytes | None:
        """The Z85 public key of one certificate file, or None (logged) if it has none."""
        try:
            public, _secret = load(path)
        except Exception as exc:  # one bad file must not spoil the others; certs
            # names the file in its messages and never quotes a secret key
            self.log.error("CURVE key file ignored: %s: %s", type(exc).__name__, exc)
            return None
        key = _valid_z85_key(public)
        if key is None:
            self.log.error("CURVE key file %s ignored: no valid public key", path)
        return key


def _valid_z85_key(public: object) -> bytes | None:
    if isinstance(public, str):
        public = public.encode("ascii", "replace")
    if not isinstance(public, (bytes, bytearray)) or len(public) != 40:
        return None
    try:
        z85.decode(bytes(public))
    except ValueError:
        return None
    return bytes(public)


class _CurvePolicy:
    """How one domain checks CURVE client keys: any key, a directory, or a callback."""

    def __init__(self, *, allow_any: bool = False, directory: _KeyDirectory | None = None,
                 provider: Any = None) -> None:
        self.allow_any = allow_any
        self.directory = directory
        self.provider = provider


@dataclass(frozen=True)
class PeerCertificate:
    """The certificate a TLS peer presented, as a ZAP policy sees it.

    Built from the DER frame that ends a request over TLS; handed to ``user_id``
    mappings (:meth:`Authenticator.configure_tls`) and :meth:`Authenticator.tls_user_id`.
    Text fields are as the certificate has them (use them in log lines only escaped).

    Attributes:
        der: the certificate, DER-encoded, as the request carried it.
        subject: the subject distinguished name in RFC 4514 text, most specific
            attribute first, as ``cryptography`` writes it (``"CN=alice,O=Example"``).
        issuer: the issuer distinguished name, in the same form.
        common_names: the subject's CN attributes, in the order of the certificate.
        dns_names: the subjectAltName DNS names.
        uris: the subjectAltName URIs (SPIFFE IDs, for instance).
        emails: the subjectAltName e-mail addresses (RFC 822 names).
        ip_addresses: the subjectAltName IP addresses, as text.
        spki_sha256: the SHA-256 digest of the SubjectPublicKeyInfo: what pins name.
        certificate: the parsed certificate, for mappings that need more.
    """

    der: bytes = field(repr=False)
    subject: str
    issuer: str
    common_names: tuple[str, ...]
    dns_names: tuple[str, ...]
    uris: tuple[str, ...]
    emails: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    spki_sha256: bytes = field(repr=False)
    certificate: x509.Certificate = field(repr=False)

    @classmethod
    def from_der(cls, der: bytes) -> PeerCertificate:
        """Parse a DER certificate, its names and its pin.

        Raises:
            ValueError: ``der`` is not a well-formed X.509 certificate (including
                malformed names or extensions, which ``cryptography`` parses lazily).
        """
        from cryptography import x509  # noqa: PLC0415 - as transport.tls: TLS users only
        from cryptography.x509.oid import NameOID  # noqa: PLC0415

        try:
            cert = x509.load_der_x509_certificate(der)
            common_names = tuple(_name_text(a.value) for a in
                                 cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME))
            try:
                san = cert.extensions.get_extension_for_class(
                    x509.SubjectAlternativeName).value
            except x509.ExtensionNotFound:
                dns: list[str] = []
                uris: list[str] = []
                emails: list[str] = []
                ips: list[str] = []
            else:
                dns = san.get_values_for_type(x509.DNSName)
                uris = san.get_values_for_type(x509.UniformResourceIdentifier)
                emails = san.get_values_for_type(x509.RFC822Name)
                ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
            return cls(der=der, subject=cert.subject.rfc4514_string(),
                       issuer=cert.issuer.rfc4514_string(), common_names=common_names,
                       dns_names=tuple(dns), uris=tuple(uris), emails=tuple(emails),
                       ip_addresses=tuple(ips), spki_sha256=spki_sha256(der),
                       certificate=cert)
        except ValueError:
            raise
        except Exception as exc:  # DuplicateExtension, UnsupportedGeneralNameType...:
            # whatever the parser refuses in a peer's bytes is a malformed certificate
            raise ValueError(f"malformed certificate: {type(exc).__name__}") from exc

    @property
    def pin(self) -> str:
        """The pin of the certificate's public key, ``sha256//`` and base64."""
        return format_pin(self.spki_sha256)

    @property
    def names(self) -> tuple[str, ...]:
        """Every name ``subjects`` may match: the subject DN, its CNs, then the SANs."""
        return (self.subject, *self.common_names, *self.dns_names, *self.uris,
                *self.emails, *self.ip_addresses)


#: A ``user_id`` mapping of :meth:`Authenticator.configure_tls`: certificate -> User-Id.
TlsUserIdMapper = Callable[[PeerCertificate], str | bytes]
#: A ``match`` of :meth:`Authenticator.configure_tls`: does this certificate belong to
#: the PLAIN user or CURVE key (given as the mechanism's User-Id, decoded)?
TlsCredentialMatch = Callable[[PeerCertificate, str], bool]


def _name_text(value: str | bytes) -> str:
    """An X.509 attribute value as text (a few string types come as bytes)."""
    return value if isinstance(value, str) else value.decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class _TlsPolicy:
    """What one domain requires of TLS certificates; None: that criterion is not used.

    Every criterion given must hold (they narrow, they do not widen).
    """

    cas: tuple[x509.Certificate, ...] | None
    subjects: frozenset[str] | None
    pins: frozenset[bytes] | None
    require_certificate: bool
    user_id: TlsUserIdMapper | None
    match: TlsCredentialMatch | None = None
    #: ``subjects`` in lower case, for DNS names (which ignore case).
    subjects_folded: frozenset[str] = frozenset()

    def check(self, peer: PeerCertificate | None) -> None:
        """Pass, or raise :class:`_Refused` saying which criterion failed."""
        if peer is None:
            if self.require_certificate:
                raise _Refused("no TLS certificate")
            return
        if self.cas is not None and not any(_issued_by(peer.certificate, ca)
                                            for ca in self.cas):
            raise _Refused("TLS certificate not issued by an allowed CA")
        if self.subjects is not None and not self._name_allowed(peer, self.subjects):
            raise _Refused("TLS certificate subject not allowed")
        if self.pins is not None and peer.spki_sha256 not in self.pins:
            raise _Refused("TLS certificate pin not allowed")

    def _name_allowed(self, peer: PeerCertificate, allowed: frozenset[str]) -> bool:
        """Whether one of the peer's names is allowed (DNS names ignore case)."""
        if any(name in allowed for name in peer.names):
            return True
        return any(dns.lower() in self.subjects_folded for dns in peer.dns_names)


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """Whether ``ca`` issued ``cert``: issuer name and signature (not validity: TLS
    checked that, and the chain, against the socket's own trust store)."""
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415

    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False  # another issuer name, a wrong signature, an unsupported key type
    return True


def _load_cas(cas: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]
              ) -> tuple[x509.Certificate, ...]:
    """Read the CA certificates of PEM bundles.

    Raises:
        OSError: a bundle cannot be read.
        ValueError: a bundle holds no certificate, or one that is not a CA.
    """
    from cryptography import x509  # noqa: PLC0415

    if isinstance(cas, (bytes, bytearray)):
        raise TypeError("cas takes paths to PEM files, not PEM data")
    paths = [cas] if isinstance(cas, (str, os.PathLike)) else list(cas)
    if not paths:
        raise ValueError("cas is empty: no certificate could be admitted")
    loaded: list[x509.Certificate] = []
    for path in paths:
        with open(os.fspath(path), "rb") as f:
            data = f.read()
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError:
            raise ValueError(f"{os.fspath(path)}: no PEM certificate") from None
        for cert in certs:
            try:
                basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
            except x509.ExtensionNotFound:
                continue  # an old v1 root: nothing says it is not a CA
            if not basic.ca:
                raise ValueError(f"{os.fspath(path)}: {cert.subject.rfc4514_string()!r} is "
                                 "not a CA certificate (to admit one certificate, pin it)")
        loaded.extend(certs)
    return tuple(loaded)


def _load_pins(pins: str | bytes | Iterable[str | bytes]) -> frozenset[bytes]:
    """Parse pins given as one string (comma or space separated) or as a collection.

    Raises:
        ValueError: a pin is malformed, or there are none.
    """
    if isinstance(pins, (str, bytes)):
        parsed = parse_pins(pins)
    else:
        parsed = frozenset(parse_pin(p) for p in pins)
    if not parsed:
        raise ValueError("pins is empty: no certificate could be admitted")
    return parsed


@dataclass(frozen=True)
class _Request:
    """A ZAP request split into its parts, with the TLS certificate frame taken off."""

    frames: list[bytes]
    mechanism: bytes
    credentials: list[bytes]
    """The mechanism's own credential frames."""
    tls: bool
    """Whether the request came over TLS (it carried a certificate frame)."""
    peer: PeerCertificate | None
    """The certificate, if the peer presented one and it parsed."""
    malformed_certificate: bool = False


def _printable(raw: bytes, encoding: str = "utf-8") -> str:
    """``raw`` as one line of log text: decoded, control characters escaped, capped."""
    return _escape(raw[:_MAX_TEXT].decode(encoding, "backslashreplace"))


def _printable_text(text: str) -> str:
    """``text`` as one line of log text: control characters escaped, capped."""
    return _escape(text[:_MAX_TEXT])


def _escape(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class Authenticator:
    """A ZAP handler: address lists and per-domain PLAIN and CURVE policies.

    :meth:`start` binds a REP socket at ``inproc://zeromq.zap.01`` in ``context``;
    from then on, every server socket of that context asks this handler about each
    peer. The base class does not read requests by itself: feed
    :meth:`handle_zap_message` from an event loop, or use
    :class:`~securemq.auth.thread.ThreadAuthenticator`.

    Configuration may change while the handler runs (from another thread): each
    setting is replaced whole, so a request sees either the old or the new one.

    Args:
        context: the context whose servers to serve (default: ``Context.instance()``).
        encoding: how domains, addresses and user names are decoded for policies and
            logs (pyzmq's parameter).
        log: the logger for operational messages (default ``securemq.auth``).
        clock: monotonic seconds, for the rate limit and the key-directory checks;
            tests inject a fake one.
        rate_limit: the failure limit per address, or None to disable it.
        audit_log: the logger of the decisions (default ``securemq.auth.audit``).
        curve_reload_interval: seconds between full rescans of CURVE key directories
            (adding or deleting a file is noticed at once regardless).
    """

    zap_socket: Socket | None

    def __init__(self, context: Context | None = None, encoding: str = "utf-8",
                 log: logging.Logger | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 rate_limit: RateLimit | None = DEFAULT_RATE_LIMIT,
                 audit_log: logging.Logger | None = None,
                 curve_reload_interval: float = 0.5) -> None:
        self.context = context if context is not None else Context.instance()
        self.encoding = encoding
        self.log = log if log is not None else logging.getLogger("securemq.auth")
        self.audit_log = audit_log if audit_log is not None else logging.getLogger(AUDIT_LOGGER)
        self.clock = clock
        self.curve_reload_interval = curve_reload_interval
        self.zap_socket = None
        self._allowed = _AddressSet()
        self._denied = _AddressSet()
        #: PLAIN policies: domain -> password store.
        self.passwords: dict[str, PasswordStore] = {}
        self._curve: dict[str, _CurvePolicy] = {}
        self._tls: dict[str, _TlsPolicy] = {}
        self._config_lock = threading.Lock()
        self._rate_limit = rate_limit
        self._tracker = _FailureTracker(rate_limit, clock) if rate_limit else None

    # -- lifetime --------------------------------------------------------------------------

    def start(self) -> None:
        """Bind the ZAP socket; from now on servers of the context ask this handler.

        Raises:
            ZMQError: EADDRINUSE if another handler is bound in this context.
        """
        self._bind_zap_socket()

    def _bind_zap_socket(self, socket_class: type[Socket] | None = None) -> Socket:
        """Bind a REP socket (of ``socket_class``) at the ZAP endpoint; keep and return it.

        Raises:
            ZMQError: EADDRINUSE if another handler is bound in this context.
        """
        sock = self.context.socket(REP, socket_class=socket_class)
        try:
            sock.linger = 0
            sock.bind(ZAP_ENDPOINT)
        except BaseException:
            sock.close(linger=0)
            raise
        self.zap_socket = sock
        self.log.debug("ZAP handler bound at %s", ZAP_ENDPOINT)
        return sock

    def stop(self) -> None:
        """Close the ZAP socket: servers then behave as if no handler were bound."""
        sock, self.zap_socket = self.zap_socket, None
        if sock is not None and not sock.closed:
            sock.close(linger=0)

    def __enter__(self) -> Authenticator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- address lists ---------------------------------------------------------------------

    def allow(self, *addresses: str) -> None:
        """Admit only these addresses (more may be added later); refuse all others.

        NULL peers from an allowed address pass; PLAIN and CURVE peers must still
        authenticate. Besides literal addresses (IPv4 dotted, IPv6 in any notation),
        networks such as ``"10.0.0.0/8"`` are accepted.

        Raises:
            ValueError: :meth:`deny` was used already (pyzmq forbids mixing the two).
        """
        with self._config_lock:
            if self._denied:
                raise ValueError("use allow or deny, not both")
            self._allowed = self._allowed.plus(addresses)
        self.log.debug("allowing %s", ", ".join(addresses))

    def deny(self, *addresses: str) -> None:
        """Refuse these addresses; others go on to authenticate.

        Raises:
            ValueError: :meth:`allow` was used already (pyzmq forbids mixing the two).
        """
        with self._config_lock:
            if self._allowed:
                raise ValueError("use allow or deny, not both")
            self._denied = self._denied.plus(addresses)
        self.log.debug("denying %s", ", ".join(addresses))

    def check_address(self, address: str) -> AddressCheck:
        """What the address lists say about ``address`` (pyzmq's precedence).

        An allow list, if any, decides alone: listed addresses pass, the rest are
        refused. Otherwise a deny list refuses the addresses on it. With neither, every
        address passes.
        """
        allowed, denied = self._allowed, self._denied
        if allowed:
            if address in allowed:
                return AddressCheck(True, "address allowed")
            return AddressCheck(False, "address not in the allow list")
        if denied:
            if address in denied:
                return AddressCheck(False, "address denied")
            return AddressCheck(True, "address not denied")
        return AddressCheck(True, "no address rules")

    # -- policies --------------------------------------------------------------------------

    def configure_plain(self, domain: str = "*",
                        passwords: Mapping[str, str] | PasswordStore | None = None) -> None:
        """Set the PLAIN user names and passwords of ``domain``.

        ``"*"`` is the policy for servers that set no ``zap_domain``; a server with
        ``zap_domain = "x"`` is checked against ``configure_plain("x", ...)`` only (as
        pyzmq does: there is no fallback from one domain to another).

        Args:
            domain: the ZAP domain.
            passwords: ``{user: password}`` (hashed now; the clear passwords are not
                kept), or a :class:`~securemq.auth.passwords.PasswordStore`, which is
                used as is: one loaded from a file is reloaded when the file changes.
                None leaves the domain as it was, as pyzmq does.
        """
        if passwords is None:
            self.log.debug("configure_plain(%r) without passwords: nothing changes", domain)
            return
        if isinstance(passwords, PasswordStore):
            store = passwords
        else:
            store = PasswordStore({_encode(u, self.encoding): _encode(p, self.encoding)
                                   for u, p in passwords.items()})
        if self._plain_users_removed not in store.revoked_listeners:
            store.revoked_listeners.append(self._plain_users_removed)
        with self._config_lock:
            self.passwords = {**self.passwords, domain: store}
        self.log.debug("PLAIN configured for domain %r: %d users", domain, len(store))

    def configure_curve(self, domain: str = "*",
                        location: str | os.PathLike[str] | None = None) -> None:
        """Set the CURVE client keys that ``domain`` admits.

        Args:
            domain: the ZAP domain (``"*"``: servers without ``zap_domain``).
            location: :data:`CURVE_ALLOW_ANY` to admit every client key (encryption
                without client authentication), or a directory of public ``.key``
                certificates (as written by :func:`securemq.auth.create_certificates`).
                The directory is watched: files added or deleted take effect for the
                next handshake.

        Raises:
            ValueError: no location given. (pyzmq silently loads the current directory
                or nothing; both are surprising for a security setting.)
        """
        if location is None:
            raise ValueError("configure_curve needs a location: a directory of .key "
                             "files, or CURVE_ALLOW_ANY")
        if location == CURVE_ALLOW_ANY:
            policy = _CurvePolicy(allow_any=True)
        else:
            path = os.fspath(location)
            if not os.path.isdir(path):
                self.log.error("CURVE key directory %s does not exist: no key admitted "
                               "until it does", path)
            directory = _KeyDirectory(path, self.clock, self.curve_reload_interval, self.log)
            directory.on_removed = self._curve_keys_removed
            policy = _CurvePolicy(directory=directory)
        with self._config_lock:
            self._curve = {**self._curve, domain: policy}
        self.log.debug("CURVE configured for domain %r: %s", domain, location)

    def configure_curve_callback(self, domain: str = "*",
                                 credentials_provider: Any = None) -> None:
        """Let ``credentials_provider`` decide which CURVE keys ``domain`` admits.

        The provider is an object with a ``callback(domain, key)`` method, as in pyzmq
        (a plain callable is accepted too): ``domain`` is the domain as text, ``key``
        the client's public key in Z85 (bytes). A true result admits the key. The
        result may be awaitable when requests are handled in an event loop (the thread
        authenticator runs one). An exception is answered 500 and logged: the peer is
        refused and the handler goes on.

        Raises:
            ValueError: no provider given.
        """
        if credentials_provider is None:
            raise ValueError("configure_curve_callback needs a credentials_provider")
        with self._config_lock:
            self._curve = {**self._curve, domain: _CurvePolicy(provider=credentials_provider)}
        self.log.debug("CURVE callback configured for domain %r", domain)

    def configure_gssapi(self, domain: str = "*", location: str | None = None) -> None:
        """GSSAPI is not available: securemq does not implement the mechanism.

        Raises:
            NotImplementedError: always, rather than appear to configure something.
        """
        raise NotImplementedError("securemq does not implement the GSSAPI mechanism; "
                                  "use CURVE (or PLAIN over TLS)")

    def configure_tls(self, domain: str = "*", *,
                      cas: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]
                      | None = None,
                      subjects: str | Iterable[str] | None = None,
                      pins: str | bytes | Iterable[str | bytes] | None = None,
                      require_certificate: bool = True,
                      user_id: TlsUserIdMapper | None = None,
                      match: TlsCredentialMatch | None = None) -> None:
        """Set which TLS certificates ``domain`` admits, and the User-Id they map to.

        This is the policy layer above TLS: the transport already verified the
        certificate (chain, validity, possession of the key) against the socket's own
        trust settings; this says which of those certificates may enter the domain.
        Each criterion given must hold (they narrow each other); one left at None is
        not checked, so ``configure_tls(domain)`` admits any certificate TLS accepted.
        The policy applies to requests over TLS only, in addition to the domain's PLAIN
        or CURVE policy (both must pass). It replaces the domain's previous TLS policy.

        Args:
            domain: the ZAP domain (``"*"``: servers without ``zap_domain``).
            cas: a path, or paths, to PEM bundles of CA certificates: the peer's
                certificate must be issued (signed) directly by one of them. ZAP sees
                only the peer's own certificate, so name the CA that issues the
                certificates (an intermediate, if your PKI has them), not the root
                above it. Read now, not watched.
            subjects: names, one of which the certificate must bear: a subject CN, a
                subjectAltName DNS name (any case), URI, e-mail address or IP address,
                or the whole subject in RFC 4514 text as :attr:`PeerCertificate.subject`
                writes it. Names match exactly: ``"*.example.org"`` matches only a
                certificate carrying that very wildcard, not ``a.example.org``.
            pins: SHA-256 pins of the public keys admitted: ``sha256//BASE64`` or 64
                hexadecimal digits (colons allowed), in a collection or in one string
                separated by commas or spaces (the ``tls_pins`` syntax).
            require_certificate: whether a TLS peer without a certificate is refused.
                When False it passes this policy (it is ``anonymous`` under NULL), but
                a certificate it does present must still meet the criteria.
            user_id: maps an admitted peer's certificate to its User-Id (``str`` is
                encoded with the authenticator's encoding). Without it, NULL peers get
                :meth:`tls_user_id` and PLAIN and CURVE peers keep the User-Id of their
                mechanism; with it, every peer of the domain that sent a certificate
                gets the mapping. An exception in it is answered 500.
            match: for PLAIN and CURVE over TLS, whether the certificate belongs to the
                mechanism's credential: called with the certificate and the User-Id the
                mechanism gave (the PLAIN user name, or :meth:`curve_user_id` of the
                key); False refuses. Without it the two are checked independently, so
                one admitted certificate could come with another admitted key. An
                exception in it is answered 500.

        Raises:
            OSError: a CA bundle cannot be read.
            ValueError: a CA bundle holds no certificate, or a certificate that is not
                a CA; a pin is malformed; ``cas``, ``subjects`` or ``pins`` is empty
                (which would admit nothing: call :meth:`remove_tls` or leave it None).
            TypeError: ``cas`` is PEM data rather than paths, a subject is not a
                string, or ``user_id`` or ``match`` is not callable.
        """
        ca_certs = None if cas is None else _load_cas(cas)
        allowed = None
        if subjects is not None:
            names = (subjects,) if isinstance(subjects, str) else tuple(subjects)
            for name in names:
                if not isinstance(name, str):
                    raise TypeError(f"subjects are strings, not {type(name).__name__}")
            if not names:
                raise ValueError("subjects is empty: no certificate could be admitted")
            allowed = frozenset(names)
        if user_id is not None and not callable(user_id):
            raise TypeError("user_id must be callable: certificate -> str or bytes")
        if match is not None and not callable(match):
            raise TypeError("match must be callable: (certificate, user id) -> bool")
        policy = _TlsPolicy(
            cas=ca_certs, subjects=allowed,
            pins=None if pins is None else _load_pins(pins),
            require_certificate=bool(require_certificate), user_id=user_id, match=match,
            subjects_folded=frozenset(n.lower() for n in allowed or ()))
        with self._config_lock:
            self._tls = {**self._tls, domain: policy}
        self.log.debug("TLS configured for domain %r: %d CAs, %s subjects, %s pins%s",
                       domain, len(ca_certs or ()),
                       "any" if allowed is None else len(allowed),
                       "any" if policy.pins is None else len(policy.pins),
                       "" if require_certificate else ", certificate optional")

    def remove_tls(self, domain: str = "*") -> None:
        """Drop the TLS policy of ``domain``: its TLS peers are decided as without one.

        NULL peers are then admitted as ``anonymous`` (unless their address is refused)
        whatever certificate they present; PLAIN and CURVE peers face their mechanism's
        policy alone. Removing a policy that does not exist does nothing.
        """
        with self._config_lock:
            self._tls = {d: p for d, p in self._tls.items() if d != domain}
        self.log.debug("TLS policy of domain %r removed", domain)

    def refresh(self) -> None:
        """Look at the CURVE key directories and password files now (the handler
        thread calls this when idle), so that a deleted key or user cuts its live
        sessions without waiting for a handshake to look."""
        for policy in list(self._curve.values()):
            if policy.directory is not None:
                policy.directory.refresh()
        for store in list(self.passwords.values()):
            store.refresh()

    def _plain_users_removed(self, users: frozenset[bytes]) -> None:
        """PLAIN users removed or given a new password: close the sessions they opened."""
        for user in users:
            closed = self.context.revoke(b"PLAIN", user)
            if closed:
                self.log.warning("PLAIN user %s revoked: %d live connection(s) closed",
                                 _printable(user, self.encoding), closed)

    def _curve_keys_removed(self, keys: frozenset[bytes]) -> None:
        """Revoked keys: close the connections they opened (SECURITY-TESTS row 62)."""
        for key in keys:
            closed = self.context.revoke(b"CURVE", z85.decode(key))
            if closed:
                self.log.warning("CURVE key %s... revoked: %d live connection(s) closed",
                                 key[:8].decode("ascii", "replace"), closed)

    def curve_user_id(self, client_public_key: bytes) -> str:
        """The User-Id of an admitted CURVE client: by default its key in Z85.

        Override to map keys to user names. Called only for admitted keys; an
        exception here is answered 500 like a failing callback.
        """
        return z85.encode(client_public_key).decode("ascii")

    def tls_user_id(self, peer: PeerCertificate) -> str:
        """The User-Id of a NULL peer admitted by a TLS policy without a ``user_id``.

        By default the first name the certificate holds, in this order: SAN DNS name,
        SAN URI, SAN e-mail address, subject CN; and its pin if it has none of these.
        Override to map certificates otherwise (a ``user_id`` given to
        :meth:`configure_tls` takes precedence); an exception here is answered 500.
        """
        for names in (peer.dns_names, peer.uris, peer.emails, peer.common_names):
            if names:
                return names[0]
        return peer.pin

    def reset_failures(self, address: str | None = None) -> None:
        """Forget the failures and lockout of ``address`` (of every address if None)."""
        if self._tracker is not None:
            self._tracker.reset(address)

    # -- requests --------------------------------------------------------------------------

    async def handle_zap_message(self, msg: list[bytes]) -> None:
        """Answer one request read from :attr:`zap_socket` (pyzmq's entry point).

        Raises:
            RuntimeError: the handler is not started.
        """
        reply = await self.process_request(msg)
        if self.zap_socket is None:
            raise RuntimeError("the authenticator is not started")
        self.zap_socket.send_multipart(reply)

    async def process_request(self, msg: list[bytes]) -> list[bytes]:
        """Decide on one request (REP frames, no envelope); return the reply frames.

        Never raises: whatever goes wrong while deciding is answered 500. Exactly one
        audit record is logged.
        """
        frames = [bytes(f) for f in msg]
        request_id = frames[1] if len(frames) > 1 else b""
        request = _split_request(frames)
        try:
            decision = await self._decide(request)
        except Exception as exc:
            self.log.exception("ZAP policy failed; answering 500")
            decision = Decision(500, f"policy raised {type(exc).__name__}",
                                identity=self._identity_of(request))
        if decision.status != 200 and decision.user_id:
            decision = Decision(decision.status, decision.reason, b"", decision.identity)
        self._audit(request, decision)
        return [VERSION, request_id, str(decision.status).encode(), decision.text,
                decision.user_id, b""]

    async def _decide(self, request: _Request) -> Decision:
        frames = request.frames
        if len(frames) < 6:
            return Decision(400, f"malformed request: {len(frames)} frames")
        identity = self._identity_of(request)
        if frames[0] != VERSION:
            return Decision(400, "malformed request: unsupported ZAP version", identity=identity)
        address = frames[3].decode(self.encoding, "replace")
        tracker = self._tracker
        if tracker is not None and address and tracker.locked(address):
            return Decision(400, "too many failures from this address", identity=identity)
        try:
            user_id = await self._authenticate(request, address)
        except _Refused as refusal:
            if tracker is not None and refusal.counts:
                tracker.failed(address)
            return Decision(400, refusal.reason, identity=identity)
        return Decision(200, "admitted", user_id, identity)

    async def _authenticate(self, request: _Request, address: str) -> bytes:
        """Return the User-Id of an admitted peer; raise :class:`_Refused` otherwise."""
        check = self.check_address(address)
        if not check.passed:
            raise _Refused(check.reason)
        if request.malformed_certificate:
            raise _Refused("malformed TLS certificate", counts=False)
        domain = request.frames[2].decode(self.encoding, "replace") or "*"
        mechanism, credentials, peer = request.mechanism, request.credentials, request.peer
        if mechanism not in _TLS_CREDENTIALS:
            raise _Refused(f"mechanism {_printable(mechanism)!r} not supported", counts=False)
        if mechanism == b"NULL" and credentials:
            raise _Refused("malformed NULL credentials", counts=False)
        if mechanism == b"PLAIN" and len(credentials) != 2:
            raise _Refused("malformed PLAIN credentials", counts=False)
        if mechanism == b"CURVE" and (len(credentials) != 1 or len(credentials[0]) != 32):
            raise _Refused("malformed CURVE credentials", counts=False)
        # The TLS policy first: it is cheap, and a certificate it refuses then costs no
        # password hash or credentials-provider call.
        tls = self._tls.get(domain) if request.tls else None
        if tls is not None:
            tls.check(peer)
        if mechanism == b"NULL":
            if tls is None or peer is None:
                return b"anonymous"
            mapped = tls.user_id(peer) if tls.user_id is not None else self.tls_user_id(peer)
            return self._user_id_bytes(mapped)
        if mechanism == b"PLAIN":
            user_id = self._authenticate_plain(domain, *credentials)
        else:
            user_id = await self._authenticate_curve(domain, credentials[0])
        if tls is not None and tls.match is not None and peer is not None and \
                not tls.match(peer, user_id.decode(self.encoding, "replace")):
            raise _Refused("TLS certificate does not belong to this "
                           f"{mechanism.decode()} credential")
        if tls is not None and tls.user_id is not None and peer is not None:
            return self._user_id_bytes(tls.user_id(peer))
        return user_id

    def _user_id_bytes(self, user_id: object) -> bytes:
        """A mapped User-Id as bytes (``str`` encoded).

        Raises:
            TypeError: the mapping returned something else (answered 500).
        """
        if isinstance(user_id, str):
            return user_id.encode(self.encoding)
        if isinstance(user_id, (bytes, bytearray)):
            return bytes(user_id)
        raise TypeError(f"a TLS user_id mapping returned {type(user_id).__name__}, "
                        "not str or bytes")

    def _authenticate_plain(self, domain: str, username: bytes, password: bytes) -> bytes:
        stores = self.passwords
        if not stores:
            raise _Refused("no PLAIN passwords configured")
        store = stores.get(domain)
        if store is None:
            raise _Refused(f"no PLAIN policy for domain {domain!r}")
        store.refresh()
        result = store.check(username, password)
        if result is not PasswordCheck.OK:
            raise _Refused(result.value)
        return username

    async def _authenticate_curve(self, domain: str, client_key: bytes) -> bytes:
        policy = self._curve.get(domain)
        if policy is None:
            raise _Refused(f"no CURVE policy for domain {domain!r}")
        if policy.allow_any:
            pass
        elif policy.provider is not None:
            provider = policy.provider
            check = getattr(provider, "callback", provider)
            result = check(domain, z85.encode(client_key))
            if inspect.isawaitable(result):
                result = await result
            if not result:
                raise _Refused("key refused by the credentials provider")
        else:
            assert policy.directory is not None
            if z85.encode(client_key) not in policy.directory.current():
                raise _Refused("unknown key")
        return self.curve_user_id(client_key).encode(self.encoding)

    # -- audit -----------------------------------------------------------------------------

    def _identity_of(self, request: _Request) -> str:
        """Who the request claims to be, for the log: user name or Z85 key, then over
        TLS the certificate's subject and pin; empty if nothing is claimed."""
        parts: list[str] = []
        if request.credentials:
            mechanism, first = request.mechanism, request.credentials[0]
            if mechanism == b"PLAIN":
                parts.append(_printable(first, self.encoding))
            elif mechanism == b"CURVE" and len(first) == 32:
                parts.append(z85.encode(first).decode("ascii"))
        if request.peer is not None:
            parts.append(" ".join(filter(None, (_printable_text(request.peer.subject),
                                                request.peer.pin))))
        return "; ".join(parts)

    def _audit(self, request: _Request, decision: Decision) -> None:
        """Log one record for ``decision``: readable text plus :data:`AUDIT_FIELDS`.

        Only the domain, address, mechanism, claimed identity, certificate subject and
        pin, and outcome are logged; PLAIN passwords (frame 7) are never read here.
        """
        frames = request.frames

        def frame_text(i: int) -> str:
            return _printable(frames[i], self.encoding) if len(frames) > i else ""

        peer = request.peer
        fields = {
            "zap_time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "zap_domain": frame_text(2),
            "zap_address": frame_text(3),
            "zap_mechanism": frame_text(5),
            "zap_identity": decision.identity,
            "zap_status": decision.status,
            "zap_reason": decision.reason,
            "zap_tls_subject": _printable_text(peer.subject) if peer is not None else "",
            "zap_tls_pin": peer.pin if peer is not None else "",
        }
        if decision.status == 200:
            level = logging.INFO
        elif decision.status == 500:
            level = logging.ERROR
        else:
            level = logging.WARNING
        who = f" {decision.identity!r}" if decision.identity else ""
        self.audit_log.log(level, "ZAP %d %s%s from %r (domain %r): %s",
                           decision.status, fields["zap_mechanism"] or "?", who,
                           fields["zap_address"], fields["zap_domain"], decision.reason,
                           extra=fields)


def _split_request(frames: list[bytes]) -> _Request:
    """Split ``frames`` into mechanism, its credentials and the TLS certificate.

    Over TLS a request carries exactly one credential frame more than its mechanism
    sends (:data:`_TLS_CREDENTIALS`), the last: the peer's DER certificate, or an empty
    frame if it presented none. Never raises: a certificate that does not parse is
    flagged, for the decision to refuse.
    """
    if len(frames) < 6:
        return _Request(frames, b"", [], tls=False, peer=None)
    mechanism, credentials = frames[5], frames[6:]
    if len(credentials) != _TLS_CREDENTIALS.get(mechanism):
        return _Request(frames, mechanism, credentials, tls=False, peer=None)
    der, credentials = credentials[-1], credentials[:-1]
    if not der:
        return _Request(frames, mechanism, credentials, tls=True, peer=None)
    try:
        peer = PeerCertificate.from_der(der)
    except ValueError:
        return _Request(frames, mechanism, credentials, tls=True, peer=None,
                        malformed_certificate=True)
    return _Request(frames, mechanism, credentials, tls=True, peer=peer)


def _encode(value: str | bytes, encoding: str) -> bytes:
    return value.encode(encoding) if isinstance(value, str) else bytes(value)
