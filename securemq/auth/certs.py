"""CURVE certificate files, with pyzmq's ``zmq.auth.certs`` API and care for the secret.

A certificate is a short text file in ZPL, the ZeroMQ property language (ZeroMQ RFC 4),
laid out as CZMQ's ``zcert`` writes it, so that CZMQ, pyzmq and securemq read each
other's files::

    #   (comment lines)

    metadata
        email = "alice@example.org"
    curve
        public-key = "<40 Z85 characters>"
        secret-key = "<40 Z85 characters>"

``NAME.key`` holds the public key and can be shared; ``NAME.key_secret`` also holds the
secret key and must not leave its owner. Both carry the metadata, as CZMQ writes them
(pyzmq writes metadata only into the secret file).

What this module does beyond pyzmq:

* The secret file is created with mode 0600 in the ``open`` call itself (``O_CREAT |
  O_EXCL``), so it is never readable by others, not even for an instant, and a file or
  symbolic link already at that path is never followed or overwritten. Replacing an
  existing certificate takes ``force=True``, and then goes through a temporary file
  renamed over the old one, so readers see the old pair or the new one, never half a
  file.
* Reading is strict: the file is parsed as ZPL (as CZMQ's ``zconfig`` does), keys must be
  40 valid Z85 characters, and every problem raises ``ValueError`` naming the file and
  line. Messages never quote a secret key.
"""

from __future__ import annotations

import datetime
import errno
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, TypeAlias

from ..security.keys import curve_keypair
from ..utils import z85
from ..utils.files import create_exclusive, fsync_dir, replace_files, unlink_quietly

__all__ = [
    "Certificate",
    "create_certificates",
    "load_certificate",
    "load_certificates",
    "read_certificate",
]

#: File name suffixes of the two halves of a certificate (CZMQ's convention).
PUBLIC_SUFFIX: Final = ".key"
SECRET_SUFFIX: Final = ".key_secret"  # noqa: S105 - a file suffix, not a password

#: Modes the two files are created with; a stricter umask narrows them, never widens.
SECRET_MODE: Final = 0o600
PUBLIC_MODE: Final = 0o644

#: A certificate is a few hundred bytes; refusing anything far larger keeps a wrong path
#: (a log file, a device) from being read into memory.
MAX_FILE_SIZE: Final = 64 * 1024

_Z85_KEY_SIZE: Final = 40
# CZMQ's zconfig reads at most 1024 characters of a line; longer lines are cut there.
_MAX_LINE: Final = 1024
# ZPL (RFC 4): names are letters, digits and $ - _ @ . & + / ; zconfig uses "/" as a path
# separator, so it may not start or end a name.
_ZPL_NAME: Final = re.compile(r"[A-Za-z0-9$\-_@.&+/]+")
# Metadata names we write: the ZPL characters without "/", which no reader needs.
_META_NAME: Final = re.compile(r"[A-Za-z0-9$\-_@.&+]+")
# pyzmq's reader takes any line that starts with these (after stripping) as a key line,
# whatever section it is in, so a metadata name like this would corrupt its result.
_RESERVED_PREFIXES: Final = ("public-key", "secret-key")
_BLANKS: Final = " \t\r\n\f\v"  # C isspace(), which zconfig uses

#: Metadata as callers give it: names and values as ``str`` or UTF-8 ``bytes``.
MetadataArg: TypeAlias = "Mapping[str, str | bytes] | Mapping[bytes, str | bytes]"

_SECRET_BANNER: Final = (
    "ZeroMQ CURVE secret certificate. It holds a secret key: keep it private, with",
    "mode 0600, and never copy it to a peer. Peers get the public certificate.",
)
_PUBLIC_BANNER: Final = (
    "ZeroMQ CURVE public certificate. It is safe to share. Before you trust it, check",
    "over a channel you already trust that its public-key reached you unaltered.",
)


@dataclass(frozen=True, slots=True)
class Certificate:
    """The contents of a certificate file, as :func:`read_certificate` returns them."""

    public_key: bytes
    """The public key, 40 Z85 characters."""
    secret_key: bytes | None = field(default=None, repr=False)
    """The secret key, 40 Z85 characters, or ``None`` in a public certificate.

    Left out of ``repr`` so that a logged certificate does not leak it."""
    metadata: dict[str, str] = field(default_factory=dict)
    """The ``metadata`` section, name to value, in file order."""

    @property
    def is_secret(self) -> bool:
        """Whether this certificate holds a secret key."""
        return self.secret_key is not None


# -- reading ----------------------------------------------------------------------------


def read_certificate(filename: str | os.PathLike[str]) -> Certificate:
    """Read a certificate file: its keys and its metadata.

    The richer form of :func:`load_certificate`, for tools that show a certificate.

    Raises:
        OSError: the file cannot be opened or read, or is not a regular file; the
            message says which file and why.
        ValueError: the file is not a certificate: not UTF-8, not ZPL, larger than
            64 KiB, without a ``curve/public-key``, or with a key that is not 40 Z85
            characters.
    """
    where = repr(os.fsdecode(filename))
    data = _read_file(filename)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{where} is not UTF-8 text (byte {exc.start})") from None
    return _parse(text.removeprefix("\ufeff"), where)


def load_certificate(filename: str | os.PathLike[str]) -> tuple[bytes, bytes | None]:
    """Load the keys of a certificate file, as pyzmq's ``zmq.auth.load_certificate``.

    Returns:
        (public_key, secret_key) as Z85 bytes; ``secret_key`` is ``None`` for a public
        certificate.

    Raises:
        OSError: the file cannot be opened or read (``FileNotFoundError`` when it does
            not exist, where pyzmq raises a plain ``OSError``).
        ValueError: the file has no public key or is malformed (see
            :func:`read_certificate`).
    """
    cert = read_certificate(filename)
    return cert.public_key, cert.secret_key


def load_certificates(directory: str | os.PathLike[str] = ".") -> dict[bytes, bool]:
    """Load the public keys of every ``*.key`` file in a directory, as pyzmq does.

    The result is the shape the authenticator's ``configure_curve`` takes: each public
    key maps to ``True``. Secret files (``*.key_secret``), hidden files, directories and
    any other name are skipped; only the public key of each ``*.key`` file is used.

    Raises:
        OSError: the directory cannot be listed, or a ``*.key`` file cannot be read.
        ValueError: a ``*.key`` file is malformed (the message names it).
    """
    keys: dict[bytes, bool] = {}
    try:
        with os.scandir(directory) as entries:
            # Sorted so that a malformed file is reported the same way on every run.
            paths = sorted(
                entry.path for entry in entries
                if entry.name.endswith(PUBLIC_SUFFIX) and not entry.name.startswith(".")
                and entry.is_file()
            )
    except OSError as exc:
        raise _in_context(exc, "cannot list certificate directory") from None
    for path in paths:
        keys[read_certificate(path).public_key] = True
    return keys


def _read_file(filename: str | os.PathLike[str]) -> bytes:
    """Return the bytes of a regular file of at most :data:`MAX_FILE_SIZE` bytes.

    ``O_NONBLOCK`` keeps a FIFO from blocking the open; it is then refused as not a
    regular file.
    """
    flags = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
             | getattr(os, "O_BINARY", 0))
    try:
        fd = os.open(filename, flags)
    except OSError as exc:
        raise _in_context(exc, "cannot read certificate file") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "cannot read certificate file: "
                                    "it is a directory", os.fsdecode(filename))
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, "cannot read certificate file: "
                          "not a regular file", os.fsdecode(filename))
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                chunk = os.read(fd, MAX_FILE_SIZE)
            except OSError as exc:
                raise _in_context(exc, "cannot read certificate file") from None
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_FILE_SIZE:
                raise ValueError(f"{os.fsdecode(filename)!r} is larger than "
                                 f"{MAX_FILE_SIZE // 1024} KiB: not a certificate")
    finally:
        os.close(fd)


def _in_context(exc: OSError, what: str) -> OSError:
    """Return ``exc`` with ``what`` in front of its reason, keeping its class and errno."""
    if exc.errno is None:
        return exc
    # OSError(errno, ...) builds the matching subclass (FileNotFoundError, ...).
    return OSError(exc.errno, f"{what}: {exc.strerror}", exc.filename)


def _parse(text: str, where: str) -> Certificate:
    """Parse certificate text as ZPL (RFC 4) and check its keys.

    Follows CZMQ's ``zconfig``: comments start with ``#``; each level of nesting is four
    spaces; a line is ``name``, ``name = value``, ``name = "value"`` or
    ``name = 'value'``; an unquoted value ends at ``#``. Unlike ``zconfig``, which skips
    what it does not understand on some lines, every unexpected line is an error, and a
    repeated name is one too: a second ``public-key`` must not be silently ignored.
    """
    entries: dict[tuple[str, ...], str] = {}
    path: list[str] = []
    for lineno, raw_line in enumerate(text.split("\n"), 1):
        line = raw_line.rstrip(_BLANKS)
        body = line.lstrip(" ")
        if not body or body.startswith("#"):
            continue
        at = f"{where}, line {lineno}"
        indent = len(line) - len(body)
        if indent % 4:
            raise ValueError(f"{at}: indent by 4 spaces per level (ZPL)")
        level = indent // 4
        if level > len(path):
            raise ValueError(f"{at}: indented deeper than the line above allows")
        match = _ZPL_NAME.match(body)
        if match is None:
            raise ValueError(f"{at}: expected a name (letters, digits, $-_@.&+/)")
        name = match.group()
        if name.startswith("/") or name.endswith("/"):
            raise ValueError(f"{at}: a name may not start or end with '/'")
        value = _parse_value(body[match.end():], at)
        del path[level:]
        path.append(name)
        key = tuple(path)
        if key in entries:
            raise ValueError(f"{at}: {'/'.join(key)} appears twice")
        entries[key] = value

    public = entries.get(("curve", "public-key"))
    if public is None:
        raise ValueError(f"no public key found in {where}: "
                         "expected 'public-key' in the 'curve' section")
    secret = entries.get(("curve", "secret-key"))
    metadata = {key[1]: value for key, value in entries.items()
                if len(key) == 2 and key[0] == "metadata"}
    return Certificate(
        public_key=_check_key(public, "public-key", where),
        secret_key=None if secret is None else _check_key(secret, "secret-key", where),
        metadata=metadata,
    )


def _parse_value(rest: str, at: str) -> str:
    """Return the value after a name: ``""`` when there is none.

    Raises:
        ValueError: text other than ``= value`` or a comment follows the name, or a
            quoted value has no closing quote.
    """
    rest = rest.lstrip(_BLANKS)
    if not rest or rest.startswith("#"):
        return ""
    if not rest.startswith("="):
        raise ValueError(f"{at}: expected '=' or the end of the line after the name")
    rest = rest[1:].lstrip(_BLANKS)
    if rest[:1] in ('"', "'"):
        quote = rest[0]
        end = rest.find(quote, 1)
        if end < 0:
            raise ValueError(f"{at}: the value has no closing {quote} (truncated file?)")
        tail = rest[end + 1:].lstrip(_BLANKS)
        if tail and not tail.startswith("#"):
            raise ValueError(f"{at}: unexpected text after the quoted value")
        return rest[1:end]
    # An unquoted value runs to a comment or the end of the line (zconfig).
    return rest.split("#", 1)[0].rstrip(_BLANKS)


def _check_key(value: str, label: str, where: str) -> bytes:
    """Return a Z85 key from a certificate as bytes, after checking it.

    Raises:
        ValueError: not 40 characters, or not Z85. The message gives the length or the
            offset of the fault, never the key: it may be a secret.
    """
    if len(value) != _Z85_KEY_SIZE:
        raise ValueError(f"{label} in {where} must be {_Z85_KEY_SIZE} Z85 characters, "
                         f"not {len(value)}")
    try:
        z85.decode(value)
    except ValueError as exc:
        raise ValueError(f"{label} in {where} is not valid Z85: {exc}") from None
    return value.encode("ascii")  # Z85 is ASCII: decode() just checked it


# -- writing ----------------------------------------------------------------------------


def create_certificates(
    key_dir: str | os.PathLike[str],
    name: str,
    metadata: MetadataArg | None = None,
    *,
    force: bool = False,
) -> tuple[str, str]:
    """Generate a CURVE key pair and write it as ``key_dir/name.key`` and ``.key_secret``.

    pyzmq's ``zmq.auth.create_certificates``, with the secret file created private
    (0600) and nothing overwritten unless asked. ``key_dir`` must exist.

    Args:
        key_dir: the directory to write into.
        name: the base name of both files: a plain file name, no directory part.
        metadata: name/value pairs for the ``metadata`` section of both files. They are
            public: never put a secret here.
        force: replace existing files (atomically, by renaming a new file over each);
            without it an existing file is an error and nothing is written.

    Returns:
        (public_file, secret_file) paths.

    Raises:
        FileExistsError: a file (or link) is already at one of the paths and ``force``
            is false.
        ValueError: ``name`` is not a plain file name, or a metadata name or value
            cannot be written as ZPL (see :func:`check_metadata`).
        OSError: the files cannot be written; nothing is left behind.
        ZMQError: ENOTSUP when PyNaCl is not installed.
    """
    base = os.path.join(os.fsdecode(key_dir), check_name(name))
    meta = check_metadata(metadata)
    public_file, secret_file = base + PUBLIC_SUFFIX, base + SECRET_SUFFIX
    if not force:
        # A friendly early answer; O_EXCL below is what actually guarantees it.
        for path in (secret_file, public_file):
            if os.path.lexists(path):
                raise FileExistsError(errno.EEXIST, "certificate file exists "
                                      "(pass force=True to replace it)", path)
    public_key, secret_key = curve_keypair()
    stamp = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    secret_text = _render(_SECRET_BANNER, stamp, meta, public_key, secret_key)
    public_text = _render(_PUBLIC_BANNER, stamp, meta, public_key, None)
    if force:
        replace_files(((secret_file, secret_text, SECRET_MODE),
                       (public_file, public_text, PUBLIC_MODE)))
    else:
        create_exclusive(secret_file, secret_text, SECRET_MODE)
        try:
            create_exclusive(public_file, public_text, PUBLIC_MODE)
        except BaseException:
            # Never leave a secret without its public half; we created it, so it is ours.
            unlink_quietly(secret_file)
            raise
        fsync_dir(os.path.dirname(base))
    return public_file, secret_file


def check_name(name: str) -> str:
    """Return ``name`` if it can be the base name of certificate files.

    Raises:
        ValueError: it is empty, ``.`` or ``..``, or holds a path separator or NUL, any
            of which would write outside the chosen directory or fail late.
    """
    seps = {"/", "\x00", os.sep, os.altsep or "/"}
    if not isinstance(name, str) or name in ("", ".", "..") or any(s in name for s in seps):
        raise ValueError(f"certificate name must be a plain file name, not {name!r}")
    return name


def check_metadata(metadata: MetadataArg | None) -> dict[str, str]:
    """Return metadata as a ``str`` dict after checking that CZMQ and pyzmq can read it back.

    Raises:
        TypeError: a name or value is not ``str`` or UTF-8 ``bytes``.
        ValueError: a name is not ZPL letters, digits and ``$-_@.&+``, or starts with
            ``public-key``/``secret-key`` (pyzmq's reader would take it for a key); a
            value is not printable text on one line, holds both kinds of quote (ZPL has
            no escapes), or makes a line longer than CZMQ reads (1024 characters).
    """
    checked: dict[str, str] = {}
    for raw_name, raw_value in (metadata or {}).items():
        name, value = _text(raw_name, "metadata name"), _text(raw_value, "metadata value")
        if not _META_NAME.fullmatch(name):
            raise ValueError(f"metadata name {name!r} must be letters, digits or $-_@.&+")
        if name.startswith(_RESERVED_PREFIXES):
            raise ValueError(f"metadata name {name!r} is reserved: pyzmq would read it as "
                             "a key")
        if not value.isprintable():
            raise ValueError(f"metadata value of {name!r} must be printable text on one "
                             "line")
        if '"' in value and "'" in value:
            raise ValueError(f"metadata value of {name!r} cannot hold both ' and \" "
                             "(ZPL has no escapes)")
        if len(_meta_line(name, value)) > _MAX_LINE:
            raise ValueError(f"metadata {name!r} is too long: a ZPL line holds at most "
                             f"{_MAX_LINE} characters")
        checked[name] = value
    return checked


def _text(item: str | bytes, what: str) -> str:
    """Return ``item`` as ``str``, decoding UTF-8 ``bytes`` as pyzmq does."""
    if isinstance(item, bytes):
        try:
            return item.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{what} {item!r} is not UTF-8") from None
    if not isinstance(item, str):
        raise TypeError(f"{what} must be str or bytes, not {type(item).__name__}")
    return item


def _meta_line(name: str, value: str) -> str:
    """One metadata line; double quotes unless the value holds one (zconfig's quoting)."""
    quote = "'" if '"' in value else '"'
    return f"    {name} = {quote}{value}{quote}"


def _render(banner: tuple[str, ...], stamp: str, metadata: Mapping[str, str],
            public_key: bytes, secret_key: bytes | None) -> bytes:
    """Return the bytes of a certificate file, laid out as CZMQ's ``zcert`` saves one."""
    lines = [f"#   Generated by securemq on {stamp}", *(f"#   {c}" for c in banner), "",
             "metadata"]
    lines += [_meta_line(name, value) for name, value in metadata.items()]
    lines += ["curve", f'    public-key = "{public_key.decode("ascii")}"']
    if secret_key is not None:
        lines.append(f'    secret-key = "{secret_key.decode("ascii")}"')
    return ("\n".join(lines) + "\n").encode("utf-8")

