"""The ``securemq`` command line, run as a user runs it: in a subprocess."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from securemq import cli
from securemq.security.keys import curve_public
from securemq.utils import z85

pytestmark = pytest.mark.timeout(60)

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "securemq", *args], capture_output=True,
                          text=True, timeout=50, check=False, cwd=cwd)


def test_demo_runs_a_secure_exchange_and_refuses_the_stranger() -> None:
    done = _run("demo")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.count("alice got: reply to") == 3
    assert "from User-Id 'alice'" in out
    assert "-> 200 alice" in out and "-> 400 unknown key" in out
    assert "mallory refused: HANDSHAKE_FAILED_AUTH (ZAP status 400)" in out
    assert out.rstrip().endswith("demo finished")


def test_no_command_is_a_usage_error() -> None:
    done = _run()
    assert done.returncode == 2
    assert "usage" in done.stderr


# -- keys and certificates (SECURITY-TESTS row 63) -----------------------------------------


@pytest.fixture
def umask022() -> Iterator[None]:
    """The usual umask, inherited by the CLI subprocess; restored afterwards."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _fields(stdout: str) -> dict[str, str]:
    """The ``label: value`` lines of a command's output."""
    return dict(line.split(": ", 1) for line in stdout.splitlines() if ": " in line)


def _key_line(path: Path, label: str) -> str:
    """The Z85 key on the ``label = "..."`` line of a certificate file."""
    (line,) = [ln for ln in path.read_text().splitlines() if ln.strip().startswith(label)]
    return line.split("=", 1)[1].strip().strip('"')


def _assert_one_error_line(done: subprocess.CompletedProcess[str], status: int) -> str:
    assert done.returncode == status, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("securemq: error: "), done.stderr
    assert done.stdout == ""
    return lines[0]


def _keygen(tmp_path: Path, name: str = "alice", *extra: str) -> tuple[Path, Path, str]:
    done = _run("keygen", name, "--dir", str(tmp_path / "keys"), *extra)
    assert done.returncode == 0, done.stderr
    keys = tmp_path / "keys"
    return keys / f"{name}.key", keys / f"{name}.key_secret", done.stdout


@posix_only
def test_keygen_name_writes_a_private_certificate_pair(tmp_path: Path, umask022: None) -> None:
    public_file, secret_file, out = _keygen(tmp_path)
    assert _mode(tmp_path / "keys") == 0o700  # created for secrets: private
    assert _mode(secret_file) == 0o600 and _mode(public_file) == 0o644
    shown = _fields(out)
    assert shown["public certificate"] == str(public_file)
    assert shown["secret certificate"] == str(secret_file)
    public, secret = _key_line(secret_file, "public-key"), _key_line(secret_file, "secret-key")
    assert shown["public key"] == public == _key_line(public_file, "public-key")
    for key in (public, secret):
        assert len(key) == 40 and len(z85.decode(key)) == 32
    assert curve_public(secret).decode() == public
    assert secret not in out
    assert "secret-key" not in public_file.read_text()


def test_keygen_output_is_czmq_format_read_by_pyzmq(tmp_path: Path) -> None:
    zauth = pytest.importorskip("zmq.auth")
    public_file, secret_file, out = _keygen(tmp_path, "alice", "--meta", "name=Alice")
    public, _ = zauth.load_certificate(str(secret_file))
    assert zauth.load_certificate(str(public_file)) == (public, None)
    assert public.decode() == _fields(out)["public key"]
    text = secret_file.read_text()
    assert "\nmetadata\n    name = \"Alice\"\ncurve\n    public-key = \"" in text


def test_keygen_without_name_prints_a_pair_and_writes_nothing(tmp_path: Path) -> None:
    done = _run("keygen", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    shown = _fields(done.stdout)
    assert sorted(shown) == ["public key", "secret key"]
    assert len(shown["public key"]) == len(shown["secret key"]) == 40
    assert curve_public(shown["secret key"]).decode() == shown["public key"]
    assert list(tmp_path.iterdir()) == []


@posix_only
def test_keygen_refuses_to_overwrite_without_force(tmp_path: Path, umask022: None) -> None:
    public_file, secret_file, _ = _keygen(tmp_path)
    before = public_file.read_bytes(), secret_file.read_bytes()
    old_public = _key_line(public_file, "public-key")
    line = _assert_one_error_line(
        _run("keygen", "alice", "--dir", str(tmp_path / "keys")), 1)
    assert "already exists" in line and "--force" in line
    assert (public_file.read_bytes(), secret_file.read_bytes()) == before
    _, _, out = _keygen(tmp_path, "alice", "--force")
    assert _fields(out)["public key"] == _key_line(public_file, "public-key") != old_public
    assert (public_file.read_bytes(), secret_file.read_bytes()) != before
    assert _mode(secret_file) == 0o600 and _mode(public_file) == 0o644
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == [
        "alice.key", "alice.key_secret"]


def test_keygen_meta_goes_into_both_files(tmp_path: Path) -> None:
    public_file, secret_file, _ = _keygen(tmp_path, "alice", "--meta", "name=Alice Liddell",
                                          "--meta", "email=alice@example.org",
                                          "--meta", "note=a=b")
    for path in (public_file, secret_file):
        done = _run("inspect", str(path))
        assert done.returncode == 0, done.stderr
        assert "    name = Alice Liddell" in done.stdout
        assert "    email = alice@example.org" in done.stdout
        assert "    note = a=b" in done.stdout  # split at the first "="


def test_pubkey_recomputes_the_public_key(tmp_path: Path) -> None:
    _, secret_file, out = _keygen(tmp_path)
    done = _run("pubkey", str(secret_file))
    assert done.returncode == 0, done.stderr
    assert done.stdout == _fields(out)["public key"] + "\n"


def test_pubkey_refuses_a_mismatched_pair(tmp_path: Path) -> None:
    _, secret_file, out = _keygen(tmp_path)
    other = _fields(_run("keygen").stdout)["public key"]
    secret_file.write_text(secret_file.read_text().replace(_fields(out)["public key"], other))
    for command in ("pubkey", "inspect"):
        line = _assert_one_error_line(_run(command, str(secret_file)), 1)
        assert "does not match" in line
        assert _key_line(secret_file, "secret-key") not in line


def test_pubkey_refuses_a_public_certificate(tmp_path: Path) -> None:
    public_file, _, _ = _keygen(tmp_path)
    line = _assert_one_error_line(_run("pubkey", str(public_file)), 1)
    assert "public certificate" in line


def test_inspect_hides_the_secret_unless_asked(tmp_path: Path) -> None:
    public_file, secret_file, out = _keygen(tmp_path, "alice", "--meta", "name=Alice")
    secret = _key_line(secret_file, "secret-key")
    done = _run("inspect", str(secret_file))
    assert done.returncode == 0, done.stderr
    shown = _fields(done.stdout)
    assert shown["kind"] == "secret" and shown["public key"] == _fields(out)["public key"]
    assert secret not in done.stdout + done.stderr
    assert "--show-secret" in shown["secret key"]
    done = _run("inspect", "--show-secret", str(secret_file))
    assert _fields(done.stdout)["secret key"] == secret
    done = _run("inspect", str(public_file))
    assert _fields(done.stdout)["kind"] == "public" and "secret key" not in done.stdout


@posix_only
def test_inspect_warns_about_a_secret_file_others_can_read(tmp_path: Path) -> None:
    _, secret_file, _ = _keygen(tmp_path)
    os.chmod(secret_file, 0o644)
    done = _run("inspect", str(secret_file))
    assert done.returncode == 0
    assert _fields(done.stdout)["mode"].startswith("0644 (WARNING")


def test_inspect_escapes_control_characters_in_metadata(tmp_path: Path) -> None:
    public_file, _, _ = _keygen(tmp_path)
    text = public_file.read_text().replace("metadata\n", "metadata\n    x = \"\x1b[2J\"\n")
    public_file.write_text(text)
    done = _run("inspect", str(public_file))
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "    x = \\x1b[2J" in done.stdout


_MALFORMED = 'curve\n    public-key = "tooshort"\n'
_TRUNCATED = 'curve\n    public-key = "rq:rM>}U?@Lns47E1%kR.o@n'


@pytest.mark.parametrize("args, status, message", [
    (("inspect", "{tmp}/missing.key"), 1, "No such file"),
    (("inspect", "{tmp}"), 1, "directory"),
    (("inspect", "{tmp}/bad.key"), 1, "must be 40 Z85 characters"),
    (("inspect", "{tmp}/cut.key"), 1, "no closing"),
    (("inspect", "{tmp}/binary.key"), 1, "not UTF-8"),
    (("pubkey", "{tmp}/missing.key_secret"), 1, "No such file"),
    (("pubkey", "{tmp}/cut.key"), 1, "no closing"),
    (("keygen", "x", "--dir", "{tmp}/bad.key"), 1, "not a directory"),
    (("keygen", "x", "--dir", "{tmp}", "--meta", "novalue"), 2, "expected KEY=VALUE"),
    (("keygen", "x", "--dir", "{tmp}", "--meta", "=v"), 2, "expected KEY=VALUE"),
    (("keygen", "x", "--dir", "{tmp}", "--meta", "a=1", "--meta", "a=2"), 2, "twice"),
    (("keygen", "x", "--dir", "{tmp}", "--meta", "bad name=1"), 2, "letters, digits"),
    (("keygen", "x", "--dir", "{tmp}", "--meta", "secret-key=1"), 2, "reserved"),
    (("keygen", "../x", "--dir", "{tmp}"), 2, "plain file name"),
    (("keygen", "--dir", "{tmp}"), 2, "need a NAME"),
    (("keygen", "--force"), 2, "need a NAME"),
])
def test_error_paths_give_one_line_and_a_status(
        tmp_path: Path, args: tuple[str, ...], status: int, message: str) -> None:
    (tmp_path / "bad.key").write_text(_MALFORMED)
    (tmp_path / "cut.key").write_text(_TRUNCATED)
    (tmp_path / "binary.key").write_bytes(b"\xff\xfe\x00")
    before = sorted(p.name for p in tmp_path.iterdir())
    done = _run(*(a.format(tmp=tmp_path) for a in args))
    assert message in _assert_one_error_line(done, status)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


@pytest.mark.parametrize("args", [("pubkey",), ("inspect",), ("keygen", "--bogus"),
                                  ("keygen", "x", "--meta"), ("nonsense",)])
def test_command_line_syntax_errors_are_usage_errors(args: tuple[str, ...]) -> None:
    done = _run(*args)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("usage: ")
    assert ": error: " in done.stderr.splitlines()[-1]


def test_no_option_takes_a_secret_key() -> None:
    """Secrets on the command line end up in shell history and ``ps``: none is accepted."""
    for command in ("keygen", "pubkey", "inspect"):
        done = _run(command, "--help")
        assert done.returncode == 0
        options = [w for w in done.stdout.split() if w.startswith("--")]
        assert not any("key" in o or "secret" in o for o in options if o != "--show-secret")


@pytest.mark.parametrize("error", [PermissionError(13, "Permission denied"),
                                   OSError(5, "Input/output error")])
def test_an_unreadable_file_is_one_error_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        error: OSError) -> None:
    """Permissions cannot be tested through a subprocess as root, so fake the failure."""
    path = tmp_path / "alice.key_secret"
    path.write_text("")
    real_open = os.open

    def failing_open(name: str, flags: int, *args: int) -> int:
        if os.fsdecode(name) == str(path):
            raise type(error)(error.errno, error.strerror, name)
        return real_open(name, flags, *args)

    monkeypatch.setattr(os, "open", failing_open)
    for command in ("pubkey", "inspect"):
        assert cli.main([command, str(path)]) == 1
        out, err = capsys.readouterr()
        assert out == ""
        assert err == (f"securemq: error: cannot read certificate file: {error.strerror}: "
                       f"{path}\n")
