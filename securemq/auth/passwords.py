"""A PLAIN password store that never holds a password in clear.

pyzmq's authenticator keeps PLAIN passwords in a dict of plaintext strings and compares
them with ``==``, which leaks timing and leaves every password in memory (and in any core
dump). :class:`PasswordStore` keeps, per user, only a salted scrypt hash (a fresh random
salt per user, the scrypt parameters recorded with each hash so they can be raised later
without invalidating old entries), and checks a password by hashing it again and
comparing with :func:`hmac.compare_digest`.

A store can be saved to and loaded from a text file, one user per line::

    # securemq password store v1
    alice:$scrypt$n=32768,r=8,p=1$<salt, base64>$<hash, base64>

User names are percent-encoded (any byte string up to 255 octets is a valid PLAIN user
name, colons and newlines included). The file is written atomically with mode 0600.
:meth:`PasswordStore.refresh` reloads it when it changed on disk, so an authenticator
using a file-backed store picks up edits without a restart.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import logging
import os
import secrets
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import quote_from_bytes, unquote_to_bytes

log = logging.getLogger("securemq.auth")

__all__ = ["PasswordCheck", "PasswordStore", "PasswordStoreError"]

#: scrypt cost used for new hashes: 2**15 x 8 x 128 octets = 32 MiB and ~0.1 s per check
#: on a 2020s core. Raise ``n`` for offline-attack resistance, lower it for throughput:
#: a check runs in the (single) ZAP handler thread, once per PLAIN handshake.
DEFAULT_N = 2**15
DEFAULT_R = 8
DEFAULT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32

# Bounds on parameters read from a file, so that a crafted store cannot make one check
# allocate gigabytes or run for minutes.
_MAX_N = 2**20
_MAX_R = 32
_MAX_P = 16
_MAX_MEM = 1 << 30

_HEADER = "# securemq password store v1"
_SCHEME = "scrypt"
# Characters left as they are in user names on disk; everything else is %XX.
_SAFE = "!$&'()*+,;=@-._~"


class PasswordStoreError(ValueError):
    """A password store file or entry is malformed (the message says where)."""


class PasswordCheck(enum.Enum):
    """The outcome of :meth:`PasswordStore.check`, specific enough for an audit log."""

    OK = "ok"
    UNKNOWN_USER = "unknown user"
    WRONG_PASSWORD = "wrong password"  # noqa: S105 - an outcome, not a password


def _as_bytes(value: str | bytes, what: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")


def _check_params(n: int, r: int, p: int) -> None:
    if n < 2 or n & (n - 1) or n > _MAX_N:
        raise PasswordStoreError(f"scrypt n must be a power of 2 in [2, {_MAX_N}], not {n}")
    if not 1 <= r <= _MAX_R:
        raise PasswordStoreError(f"scrypt r must be in [1, {_MAX_R}], not {r}")
    if not 1 <= p <= _MAX_P:
        raise PasswordStoreError(f"scrypt p must be in [1, {_MAX_P}], not {p}")
    if _maxmem(n, r, p) > _MAX_MEM:
        raise PasswordStoreError("scrypt parameters need more than 1 GiB of memory")


def _maxmem(n: int, r: int, p: int) -> int:
    # scrypt needs 128*r*n octets for V plus 128*r*p for B; leave OpenSSL some slack.
    return 128 * r * (n + p + 2) + (1 << 20)


@dataclass(frozen=True, slots=True)
class _Hash:
    """One user's salted scrypt hash and the parameters that produced it."""

    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes

    @classmethod
    def make(cls, password: bytes, n: int, r: int, p: int) -> _Hash:
        salt = secrets.token_bytes(SALT_BYTES)
        return cls(n, r, p, salt, _scrypt(password, salt, n, r, p, HASH_BYTES))

    def matches(self, password: bytes) -> bool:
        candidate = _scrypt(password, self.salt, self.n, self.r, self.p, len(self.digest))
        return hmac.compare_digest(candidate, self.digest)

    def encode(self) -> str:
        b64 = base64.b64encode
        return (f"${_SCHEME}$n={self.n},r={self.r},p={self.p}"
                f"${b64(self.salt).decode()}${b64(self.digest).decode()}")

    @classmethod
    def parse(cls, text: str) -> _Hash:
        parts = text.split("$")
        if len(parts) != 5 or parts[0] or parts[1] != _SCHEME:
            raise PasswordStoreError("not a $scrypt$ hash")
        try:
            params = dict(kv.split("=", 1) for kv in parts[2].split(","))
            n, r, p = int(params["n"]), int(params["r"]), int(params["p"])
            salt = base64.b64decode(parts[3], validate=True)
            digest = base64.b64decode(parts[4], validate=True)
        except (ValueError, KeyError, binascii.Error):
            raise PasswordStoreError("malformed scrypt parameters, salt or hash") from None
        _check_params(n, r, p)
        if len(salt) < 8 or len(digest) < 16:
            raise PasswordStoreError("scrypt salt or hash too short")
        return cls(n, r, p, salt, digest)


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=dklen,
                          maxmem=_maxmem(n, r, p))


class PasswordStore:
    """PLAIN user names mapped to salted scrypt hashes of their passwords.

    Passwords given to the constructor or to :meth:`set` are hashed at once and never
    stored. Checking an unknown user still computes one hash, so a failed check takes
    about as long whether or not the user exists.

    Thread safety: the ZAP handler thread checks passwords while the application may
    add users or reload the file; every mutation replaces the internal mapping whole,
    so a check always sees a consistent store.

    Args:
        users: initial ``{user: password}`` (str is encoded as UTF-8).
        n: scrypt CPU/memory cost for new hashes, a power of 2.
        r: scrypt block size for new hashes.
        p: scrypt parallelism for new hashes.

    Raises:
        PasswordStoreError: the scrypt parameters are out of bounds.
    """

    def __init__(self, users: Mapping[str, str] | Mapping[bytes, bytes] | None = None, *,
                 n: int = DEFAULT_N, r: int = DEFAULT_R, p: int = DEFAULT_P) -> None:
        _check_params(n, r, p)
        self.n, self.r, self.p = n, r, p
        self._hashes: dict[bytes, _Hash] = {}
        self._lock = threading.Lock()
        self._dummy: _Hash | None = None
        #: The file this store was loaded from or last saved to, if any.
        self.path: str | None = None
        self._file_sig: tuple[int, int, int] | None = None
        self._problem: str | None = None  # the last refresh error logged
        #: Called with the user names whose credential ended (removed, or given a new
        #: password), so that sessions they opened can be closed (``Context.revoke``).
        self.revoked_listeners: list[Callable[[frozenset[bytes]], None]] = []
        for user, password in (users or {}).items():
            self.set(user, password)

    # -- contents ------------------------------------------------------------------------

    def set(self, user: str | bytes, password: str | bytes) -> None:
        """Add ``user`` or change their password (hashed now with a fresh salt).

        Raises:
            ValueError: the user name is empty or longer than 255 octets (PLAIN's limit).
        """
        name = _as_bytes(user, "user")
        if not 0 < len(name) <= 255:
            raise ValueError("a PLAIN user name has 1 to 255 octets")
        digest = _Hash.make(_as_bytes(password, "password"), self.n, self.r, self.p)
        with self._lock:
            hashes = {**self._hashes, name: digest}
        self._install(hashes)

    def remove(self, user: str | bytes) -> None:
        """Delete ``user``.

        Raises:
            KeyError: no such user.
        """
        name = _as_bytes(user, "user")
        with self._lock:
            hashes = dict(self._hashes)
        del hashes[name]
        self._install(hashes)

    def _install(self, hashes: dict[bytes, _Hash]) -> None:
        """Replace the whole mapping; tell the listeners whose credential ended."""
        with self._lock:
            old, self._hashes = self._hashes, hashes
        ended = frozenset(user for user, entry in old.items() if hashes.get(user) != entry)
        if ended:
            for listener in list(self.revoked_listeners):
                listener(ended)

    def __contains__(self, user: object) -> bool:
        if not isinstance(user, (str, bytes)):
            return False
        return _as_bytes(user, "user") in self._hashes

    def __len__(self) -> int:
        return len(self._hashes)

    def __iter__(self) -> Iterator[bytes]:
        return iter(list(self._hashes))

    def __repr__(self) -> str:
        return f"<PasswordStore {len(self._hashes)} users path={self.path!r}>"

    def check(self, user: str | bytes, password: str | bytes) -> PasswordCheck:
        """Check a user name and password; say how it failed, for the audit log.

        The reason is for logs only: tell the peer nothing more than "refused".
        """
        name = _as_bytes(user, "user")
        secret = _as_bytes(password, "password")
        entry = self._hashes.get(name)
        if entry is None:
            # Spend the same work as for a known user, so that timing does not tell
            # which user names exist.
            self._dummy_hash().matches(secret)
            return PasswordCheck.UNKNOWN_USER
        if entry.matches(secret):
            return PasswordCheck.OK
        return PasswordCheck.WRONG_PASSWORD

    def verify(self, user: str | bytes, password: str | bytes) -> bool:
        """Whether ``password`` is ``user``'s password."""
        return self.check(user, password) is PasswordCheck.OK

    def _dummy_hash(self) -> _Hash:
        if self._dummy is None:
            self._dummy = _Hash.make(secrets.token_bytes(16), self.n, self.r, self.p)
        return self._dummy

    # -- files ---------------------------------------------------------------------------

    def dumps(self) -> str:
        """The file form of the store (hashes only, never a password)."""
        lines = [_HEADER]
        for name, digest in sorted(self._hashes.items()):
            lines.append(f"{quote_from_bytes(name, safe=_SAFE)}:{digest.encode()}")
        return "\n".join(lines) + "\n"

    @classmethod
    def loads(cls, text: str, *, n: int = DEFAULT_N, r: int = DEFAULT_R,
              p: int = DEFAULT_P) -> PasswordStore:
        """Parse the file form (blank lines and ``#`` comments are skipped).

        ``n``, ``r`` and ``p`` are the parameters for users added later; each loaded
        entry keeps its own.

        Raises:
            PasswordStoreError: a line is malformed (its number is in the message).
        """
        store = cls(n=n, r=r, p=p)
        store._hashes = _parse(text)
        return store

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, n: int = DEFAULT_N, r: int = DEFAULT_R,
             p: int = DEFAULT_P) -> PasswordStore:
        """Read a store from ``path`` and remember the path for :meth:`refresh`.

        A store readable by group or others is loaded but logged as a WARNING: the
        hashes are salted and slow, but still worth an offline attack.

        Raises:
            OSError: the file cannot be read.
            PasswordStoreError: a line is malformed.
        """
        store = cls(n=n, r=r, p=p)
        store.path = os.fspath(path)
        store._reload()
        return store

    def save(self, path: str | os.PathLike[str] | None = None) -> None:
        """Write the store to ``path`` (default: where it came from), mode 0600.

        The file is replaced atomically (a temporary file in the same directory,
        flushed to disk, then renamed), so a reader never sees half a store.

        Raises:
            ValueError: no path given and none remembered.
            OSError: the file cannot be written.
        """
        target = os.fspath(path) if path is not None else self.path
        if target is None:
            raise ValueError("no path to save the password store to")
        text = self.dumps().encode("utf-8")
        directory = os.path.dirname(os.path.abspath(target))
        # mkstemp creates the file with O_EXCL and mode 0600.
        fd, tmp = tempfile.mkstemp(prefix=".pwstore-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        self.path = target
        self._file_sig = _signature(target)

    def refresh(self) -> bool:
        """Reload from :attr:`path` if the file changed since it was read; say if it did.

        A file that became unreadable or malformed leaves the store as it was and is
        logged as an ERROR (the next call tries again): a half-written edit must not
        lock every user out, nor let a removed one in until it is fixed.
        """
        if self.path is None:
            return False
        try:
            sig = _signature(self.path)
        except OSError as exc:
            self._report(f"password store {self.path} is unreadable: {exc.strerror}")
            return False
        if sig == self._file_sig:
            return False
        try:
            self._reload()
        except (OSError, PasswordStoreError) as exc:
            self._report(f"password store {self.path} not reloaded: {exc}")
            return False
        self._problem = None
        log.info("password store %s reloaded: %d users", self.path, len(self._hashes))
        return True

    def _report(self, problem: str) -> None:
        """Log ``problem`` once, not at every PLAIN handshake while it lasts."""
        if problem != self._problem:
            self._problem = problem
            log.error("%s", problem)

    def _reload(self) -> None:
        assert self.path is not None
        with open(self.path, "rb") as f:
            st = os.fstat(f.fileno())
            raw = f.read()
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("password store %s is accessible by group or others (mode %o)",
                        self.path, stat.S_IMODE(st.st_mode))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise PasswordStoreError(f"{self.path}: not UTF-8") from None
        hashes = _parse(text, self.path)
        self._file_sig = (st.st_ino, st.st_mtime_ns, st.st_size)
        self._install(hashes)


def _signature(path: str) -> tuple[int, int, int]:
    st = os.stat(path)
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _parse(text: str, where: str = "<string>") -> dict[bytes, _Hash]:
    hashes: dict[bytes, _Hash] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, rest = line.partition(":")
        name = unquote_to_bytes(user)
        if not sep or not 0 < len(name) <= 255:
            raise PasswordStoreError(f"{where}:{number}: expected 'user:$scrypt$...'")
        if name in hashes:
            raise PasswordStoreError(f"{where}:{number}: user listed twice")
        try:
            hashes[name] = _Hash.parse(rest)
        except PasswordStoreError as exc:
            raise PasswordStoreError(f"{where}:{number}: {exc}") from None
    return hashes
