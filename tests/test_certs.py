"""Certificate files (securemq.auth.certs): format, interop with pyzmq and CZMQ, safety."""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securemq.auth import certs
from securemq.auth.certs import (
    Certificate,
    create_certificates,
    load_certificate,
    load_certificates,
    read_certificate,
)
from securemq.security.keys import curve_public
from securemq.utils import z85

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")

# The key pairs of libzmq's zmq_curve(7) page and test suite.
SERVER_PUBLIC = b"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
SERVER_SECRET = b"JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
CLIENT_PUBLIC = b"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"

# A secret certificate as CZMQ's zcert_save_secret writes it (zconfig layout: root
# comments, a blank line, 4-space levels, every value in double quotes).
CZMQ_SECRET = f"""\
#   ****  Generated on 2015-02-16 01:31:20 by CZMQ  ****
#   ZeroMQ CURVE **Secret** Certificate
#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.

metadata
    email = "ph@imatix.com"
    name = "Pieter Hintjens"
curve
    public-key = "{SERVER_PUBLIC.decode()}"
    secret-key = "{SERVER_SECRET.decode()}"
"""


@pytest.fixture
def umask022() -> Iterator[None]:
    """The usual umask, so that modes are predictable; restored afterwards."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: str | Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- round trips and interop ---------------------------------------------------------------


def test_create_then_load_round_trip(tmp_path: Path) -> None:
    public_file, secret_file = create_certificates(tmp_path, "alice")
    assert (public_file, secret_file) == (str(tmp_path / "alice.key"),
                                          str(tmp_path / "alice.key_secret"))
    public, none = load_certificate(public_file)
    public2, secret = load_certificate(secret_file)
    assert none is None and secret is not None
    assert public == public2
    assert len(public) == len(secret) == 40
    z85.decode(public), z85.decode(secret)
    assert curve_public(secret) == public
    assert load_certificates(tmp_path) == {public: True}


def test_metadata_round_trip_in_both_files(tmp_path: Path) -> None:
    metadata = {"name": "Alice Liddell", "email": "alice@example.org", "quote": 'say "hi"',
                "apostrophe": "it's", "empty": "", "unicode": "Zoë ☂", "hash": "a # b"}
    public_file, secret_file = create_certificates(tmp_path, "alice", metadata)
    for path in (public_file, secret_file):
        assert read_certificate(path).metadata == metadata
    # bytes are accepted, as pyzmq accepts them
    _, secret_file = create_certificates(tmp_path, "bob", {b"name": b"Bob"})
    assert read_certificate(secret_file).metadata == {"name": "Bob"}


def test_files_written_by_pyzmq_are_read(tmp_path: Path) -> None:
    zauth = pytest.importorskip("zmq.auth")
    public_file, secret_file = zauth.create_certificates(str(tmp_path), "peer",
                                                         {"name": "Bob B", "n": "1"})
    assert load_certificate(public_file) == zauth.load_certificate(public_file)
    assert load_certificate(secret_file) == zauth.load_certificate(secret_file)
    # pyzmq writes metadata unquoted and only into the secret file.
    assert read_certificate(secret_file).metadata == {"name": "Bob B", "n": "1"}
    assert read_certificate(public_file).metadata == {}
    assert load_certificates(tmp_path) == zauth.load_certificates(str(tmp_path))


def test_our_files_are_read_by_pyzmq(tmp_path: Path) -> None:
    zmq = pytest.importorskip("zmq")
    zauth = pytest.importorskip("zmq.auth")
    public_file, secret_file = create_certificates(tmp_path, "alice", {"name": "Alice"})
    create_certificates(tmp_path, "bob")
    public, none = zauth.load_certificate(public_file)
    public2, secret = zauth.load_certificate(secret_file)
    assert none is None and public == public2
    assert (public, secret) == load_certificate(secret_file)
    assert zmq.curve_public(secret) == public  # libzmq derives the same public key
    assert zauth.load_certificates(str(tmp_path)) == load_certificates(tmp_path)


def test_a_czmq_certificate_is_read(tmp_path: Path) -> None:
    cert = read_certificate(_write(tmp_path / "server.key_secret", CZMQ_SECRET))
    assert cert.public_key == SERVER_PUBLIC and cert.secret_key == SERVER_SECRET
    assert curve_public(SERVER_SECRET) == SERVER_PUBLIC
    assert cert.metadata == {"email": "ph@imatix.com", "name": "Pieter Hintjens"}


def test_layout_is_the_czmq_zpl_layout(tmp_path: Path) -> None:
    public_file, secret_file = create_certificates(tmp_path, "alice", {"name": "Alice"})
    for path, secret in ((public_file, False), (secret_file, True)):
        lines = Path(path).read_text(encoding="utf-8").split("\n")
        comments = [line for line in lines if line.startswith("#")]
        assert comments and lines[:len(comments)] == comments
        body = lines[len(comments):]
        key = r'"[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}"'
        expected = ["", "metadata", '    name = "Alice"', "curve",
                    rf"    public-key = {key}"]
        if secret:
            expected.append(rf"    secret-key = {key}")
        expected.append("")  # the file ends with a newline
        assert len(body) == len(expected)
        for line, pattern in zip(body, expected, strict=True):
            assert re.fullmatch(pattern, line), (line, pattern)


@pytest.mark.parametrize("text, expected", [
    # comments after values, single quotes, unquoted values, blank and comment lines
    (f"metadata\n    a = x y  # note\n    b = 'q\"'\n\n  # aside\ncurve\n"
     f"    public-key = \"{SERVER_PUBLIC.decode()}\"   # the key\n",
     {"a": "x y", "b": 'q"'}),
    # CRLF line endings and a UTF-8 byte order mark, as editors on Windows leave them
    (f"\ufeffmetadata\r\n    a = \"1\"\r\ncurve\r\n    public-key = '{SERVER_PUBLIC.decode()}'\r\n",
     {"a": "1"}),
    # no metadata section at all, and a section value
    (f"curve = yes\n    public-key = {SERVER_PUBLIC.decode()}\n", {}),
])
def test_zpl_variants_are_accepted(tmp_path: Path, text: str, expected: dict[str, str]) -> None:
    cert = read_certificate(_write(tmp_path / "x.key", text))
    assert cert.public_key == SERVER_PUBLIC and cert.secret_key is None
    assert cert.metadata == expected


# -- file modes and overwriting ------------------------------------------------------------


@posix_only
@pytest.mark.parametrize("umask, public_mode", [(0o022, 0o644), (0o000, 0o644),
                                                (0o077, 0o600)])
def test_modes_secret_0600_public_0644(tmp_path: Path, umask: int, public_mode: int) -> None:
    old = os.umask(umask)
    try:
        public_file, secret_file = create_certificates(tmp_path, "alice")
        assert _mode(secret_file) == 0o600
        assert _mode(public_file) == public_mode  # a umask narrows it, never widens
        create_certificates(tmp_path, "alice", force=True)
        assert _mode(secret_file) == 0o600
        assert _mode(public_file) == public_mode
    finally:
        os.umask(old)


@posix_only
def test_secret_mode_is_set_by_the_creating_open(tmp_path: Path, umask022: None,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The secret is created 0600 with O_CREAT|O_EXCL; no chmod ever widens or fixes it."""
    calls: list[tuple[str, int, int]] = []
    real_open = os.open

    def spy_open(path: str, flags: int, mode: int = 0o777, **kw: object) -> int:
        calls.append((os.fsdecode(path), flags, mode))
        return real_open(path, flags, mode, **kw)  # type: ignore[arg-type]

    def no_chmod(*args: object, **kwargs: object) -> None:
        raise AssertionError("chmod after creation")

    monkeypatch.setattr(os, "open", spy_open)
    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(os, "fchmod", no_chmod)
    _, secret_file = create_certificates(tmp_path, "alice")
    (_, flags, mode), = [c for c in calls if c[0] == secret_file]
    assert flags & os.O_CREAT and flags & os.O_EXCL and mode == 0o600
    monkeypatch.undo()
    assert _mode(secret_file) == 0o600


def test_existing_files_are_not_overwritten(tmp_path: Path) -> None:
    public_file, secret_file = create_certificates(tmp_path, "alice")
    before = Path(public_file).read_bytes(), Path(secret_file).read_bytes()
    with pytest.raises(FileExistsError, match="force=True") as info:
        create_certificates(tmp_path, "alice")
    assert info.value.filename == secret_file
    assert (Path(public_file).read_bytes(), Path(secret_file).read_bytes()) == before


def test_an_existing_public_file_is_not_overwritten_either(tmp_path: Path) -> None:
    """Say a trusted peer's certificate already has that name: it must survive."""
    theirs = _write(tmp_path / "bob.key", CZMQ_SECRET.replace("secret-key", "#"))
    with pytest.raises(FileExistsError):
        create_certificates(tmp_path, "bob")
    assert theirs.read_text(encoding="utf-8") == CZMQ_SECRET.replace("secret-key", "#")
    assert sorted(os.listdir(tmp_path)) == ["bob.key"]


def test_o_excl_holds_when_a_file_appears_after_the_check(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The early existence check is a courtesy; O_EXCL is the guarantee (a race)."""
    monkeypatch.setattr(os.path, "lexists", lambda path: False)
    _, secret_file = create_certificates(tmp_path, "alice")
    before = Path(secret_file).read_bytes()
    with pytest.raises(FileExistsError):
        create_certificates(tmp_path, "alice")
    assert Path(secret_file).read_bytes() == before
    # Only the public half in the way: the new secret is rolled back, not left alone.
    os.unlink(secret_file)
    with pytest.raises(FileExistsError):
        create_certificates(tmp_path, "alice")
    assert sorted(os.listdir(tmp_path)) == ["alice.key"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_a_planted_symlink_is_neither_followed_nor_replaced(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    os.symlink(target, tmp_path / "alice.key_secret")
    with pytest.raises(FileExistsError):
        create_certificates(tmp_path, "alice")
    assert not target.exists()
    # With force the link itself is replaced by a private file; its target is untouched.
    _, secret_file = create_certificates(tmp_path, "alice", force=True)
    assert not os.path.islink(secret_file) and not target.exists()


def test_force_replaces_the_pair(tmp_path: Path) -> None:
    public_file, secret_file = create_certificates(tmp_path, "alice", {"v": "1"})
    old = load_certificate(secret_file)
    create_certificates(tmp_path, "alice", {"v": "2"}, force=True)
    new = load_certificate(secret_file)
    assert new != old and load_certificate(public_file)[0] == new[0]
    assert read_certificate(public_file).metadata == {"v": "2"}
    assert sorted(os.listdir(tmp_path)) == ["alice.key", "alice.key_secret"]  # no temps


def test_a_failed_force_leaves_the_old_pair(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    public_file, secret_file = create_certificates(tmp_path, "alice")
    before = Path(public_file).read_bytes(), Path(secret_file).read_bytes()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device", src)

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        create_certificates(tmp_path, "alice", force=True)
    assert (Path(public_file).read_bytes(), Path(secret_file).read_bytes()) == before
    assert sorted(os.listdir(tmp_path)) == ["alice.key", "alice.key_secret"]


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../x", "a\x00b"])
def test_names_that_leave_the_directory_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="plain file name"):
        create_certificates(tmp_path / "keys", name)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("metadata, message", [
    ({"public-key": "x"}, "reserved"),
    ({"secret-key-owner": "x"}, "reserved"),
    ({"a b": "x"}, "letters, digits"),
    ({"a/b": "x"}, "letters, digits"),
    ({"": "x"}, "letters, digits"),
    ({"a": "line\nbreak"}, "printable"),
    ({"a": "tab\there"}, "printable"),
    ({"a": "both ' and \""}, "both"),
    ({"a": "x" * 1100}, "too long"),
    ({b"\xff": "x"}, "not UTF-8"),
])
def test_metadata_that_cannot_be_read_back_is_refused(
        tmp_path: Path, metadata: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_certificates(tmp_path, "alice", metadata)
    assert os.listdir(tmp_path) == []


def test_metadata_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="str or bytes"):
        create_certificates(tmp_path, "alice", {"version": 1})  # type: ignore[dict-item]


def test_missing_directory_is_an_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        create_certificates(tmp_path / "missing", "alice")


# -- reading malformed and unreadable files ------------------------------------------------

_KEY = SERVER_PUBLIC.decode()


@pytest.mark.parametrize("text, message", [
    ("", "no public key found"),
    ("metadata\n    name = \"x\"\n", "no public key found"),
    # a truncated file: cut before the curve section, or inside the key's quotes
    (CZMQ_SECRET[:CZMQ_SECRET.index("curve")], "no public key found"),
    (CZMQ_SECRET[:CZMQ_SECRET.index("secret-key") + 20], "no closing"),
    (f"public-key = \"{_KEY}\"\n", "no public key found"),  # not in the curve section
    (f"curve\n    public-key = \"{_KEY[:-1]}\"\n", "must be 40 Z85 characters, not 39"),
    (f"curve\n    public-key = \"{_KEY[:-1]}~\"\n", "not valid Z85"),
    (f"curve\n    public-key = \"{'#' * 40}\"\n", "not valid Z85"),
    ("curve\n    public-key = \"\"\n", "not 0"),
    (f"curve\n    public-key = \"{_KEY}\"\n    public-key = \"{_KEY}\"\n", "appears twice"),
    (f"curve\n  public-key = \"{_KEY}\"\n", "4 spaces"),
    (f"curve\n\tpublic-key = \"{_KEY}\"\n", "expected a name"),
    (f"curve\n        public-key = \"{_KEY}\"\n", "deeper"),
    (f"curve\n    public-key \"{_KEY}\"\n", "expected '='"),
    (f"curve\n    public-key = \"{_KEY}\" junk\n", "after the quoted value"),
    (f"curve/\n    public-key = \"{_KEY}\"\n", "'/'"),
])
def test_malformed_files_raise_valueerror(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path / "bad.key", text)
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        load_certificate(path)
    assert repr(str(path)) in str(info.value)  # the message names the file


def test_errors_never_quote_a_secret_key(tmp_path: Path) -> None:
    bad_secret = SERVER_SECRET.decode()[:-1] + "~"
    path = _write(tmp_path / "s.key_secret", CZMQ_SECRET.replace(SERVER_SECRET.decode(),
                                                                 bad_secret))
    with pytest.raises(ValueError, match=r"secret-key .* not valid Z85") as info:
        load_certificate(path)
    assert SERVER_SECRET.decode()[:8] not in str(info.value)
    cert = read_certificate(_write(tmp_path / "ok.key_secret", CZMQ_SECRET))
    assert SERVER_SECRET.decode() not in repr(cert)


def test_non_utf8_and_oversized_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bin.key"
    path.write_bytes(b"curve\n    public-key = \"\xff\xfe\"\n")
    with pytest.raises(ValueError, match="not UTF-8"):
        load_certificate(path)
    path.write_bytes(b"#" * (certs.MAX_FILE_SIZE + 1))
    with pytest.raises(ValueError, match="larger than 64 KiB"):
        load_certificate(path)


def test_unreadable_paths_raise_a_clear_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="cannot read certificate file"):
        load_certificate(tmp_path / "missing.key")
    with pytest.raises(IsADirectoryError, match="cannot read certificate file"):
        load_certificate(tmp_path)


@posix_only
@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0,
                    reason="root reads any file")
def test_a_file_without_read_permission_is_a_permissionerror(tmp_path: Path) -> None:
    _, secret_file = create_certificates(tmp_path, "alice")
    os.chmod(secret_file, 0)
    with pytest.raises(PermissionError, match="cannot read certificate file"):
        load_certificate(secret_file)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.key"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        load_certificate(fifo)


# -- load_certificates ---------------------------------------------------------------------


def test_load_certificates_reads_only_public_key_files(tmp_path: Path) -> None:
    alice, alice_secret = create_certificates(tmp_path, "alice")
    bob, _ = create_certificates(tmp_path, "bob")
    (tmp_path / "notes.txt").write_text("not a certificate")
    (tmp_path / "broken.key.bak").write_text("junk")
    (tmp_path / ".hidden.key").write_text("junk")
    (tmp_path / "dir.key").mkdir()
    os.unlink(alice)  # only alice's secret file is left: it is not a *.key file
    assert load_certificates(tmp_path) == {load_certificate(bob)[0]: True}
    assert load_certificate(alice_secret)[0] not in load_certificates(tmp_path)


def test_load_certificates_reports_a_malformed_key_file(tmp_path: Path) -> None:
    create_certificates(tmp_path, "alice")
    _write(tmp_path / "mallory.key", "curve\n    public-key = \"short\"\n")
    with pytest.raises(ValueError, match=r"mallory\.key"):
        load_certificates(tmp_path)


def test_load_certificates_needs_a_directory(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="cannot list certificate directory"):
        load_certificates(tmp_path / "missing")


def test_certificate_repr_hides_the_secret() -> None:
    cert = Certificate(SERVER_PUBLIC, SERVER_SECRET, {"name": "server"})
    assert SERVER_SECRET.decode() not in repr(cert) and SERVER_PUBLIC.decode() in repr(cert)
    assert cert.is_secret and not Certificate(CLIENT_PUBLIC).is_secret


# -- properties ----------------------------------------------------------------------------

_names = st.from_regex(r"[A-Za-z0-9$\-_@.&+]{1,20}", fullmatch=True).filter(
    lambda n: not n.startswith(("public-key", "secret-key")))
_values = st.text(max_size=40).filter(
    lambda v: v.isprintable() and not ('"' in v and "'" in v))


@settings(max_examples=200, deadline=None)
@given(metadata=st.dictionaries(_names, _values, max_size=6),
       secret=st.booleans())
def test_any_accepted_metadata_reads_back(metadata: dict[str, str], secret: bool) -> None:
    checked = certs.check_metadata(metadata)
    text = certs._render((), "now", checked, SERVER_PUBLIC,
                         SERVER_SECRET if secret else None).decode("utf-8")
    cert = certs._parse(text, "'x'")
    assert cert == Certificate(SERVER_PUBLIC, SERVER_SECRET if secret else None, metadata)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(
    st.text(max_size=200),
    # mutations of a valid file reach deeper into the parser than random text
    st.builds(lambda cut, junk: CZMQ_SECRET[:cut] + junk + CZMQ_SECRET[cut:],
              st.integers(0, len(CZMQ_SECRET)), st.text(max_size=8)),
))
def test_any_text_parses_or_raises_valueerror(text: str) -> None:
    try:
        cert = certs._parse(text, "'fuzz'")
    except ValueError:
        return
    assert len(cert.public_key) == 40
    assert cert.secret_key is None or len(cert.secret_key) == 40
