"""``securemq tls`` and the certs-tools scripts, run as an operator runs them: in a
subprocess."""

from __future__ import annotations

import json
import os
import shlex
import ssl
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from securemq import pki
from securemq.auth import certs

pytestmark = pytest.mark.timeout(60)

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")

TOOLS = Path(__file__).resolve().parent.parent / "certs-tools"


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "securemq", *args], capture_output=True,
                          text=True, timeout=50, check=False, cwd=cwd)


def _ok(*args: str) -> str:
    done = _run(*args)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def _fields(stdout: str) -> dict[str, str]:
    """The ``label: value`` lines of a command's output."""
    return dict(line.split(": ", 1) for line in stdout.splitlines() if ": " in line)


def _show(*files: Path) -> list[dict[str, Any]]:
    shown = json.loads(_ok("tls", "show", "--json", *map(str, files)))
    assert isinstance(shown, list)
    return shown


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _assert_one_error_line(done: subprocess.CompletedProcess[str], status: int) -> str:
    assert done.returncode == status, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("securemq: error: "), done.stderr
    assert done.stdout == ""
    return lines[0]


@pytest.fixture
def umask022() -> Iterator[None]:
    """The usual umask, inherited by the subprocesses; restored afterwards."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture(scope="module")
def ca_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA made by ``securemq tls ca``, shared by the tests that only read it."""
    out = tmp_path_factory.mktemp("pki") / "ca"
    _ok("tls", "ca", "--out", str(out), "--name", "CLI Test CA")
    return out


def _issue(ca_dir: Path, out: Path, name: str, *extra: str) -> str:
    return _ok("tls", "issue", "--ca-cert", str(ca_dir / "ca.crt"),
               "--ca-key", str(ca_dir / "ca.key"), "--out", str(out), "--name", name, *extra)


# -- tls ca / tls issue -----------------------------------------------------------------


@posix_only
def test_ca_writes_a_certificate_and_a_private_key(tmp_path: Path, umask022: None) -> None:
    out = tmp_path / "ca"
    shown = _fields(_ok("tls", "ca", "--out", str(out), "--name", "Mesh CA", "--days", "30",
                        "--key-type", "ed25519"))
    assert shown["certificate"] == str(out / "ca.crt")
    assert shown["private key"] == str(out / "ca.key")
    assert shown["subject"] == "CN=Mesh CA"
    assert sorted(p.name for p in out.iterdir()) == ["ca.crt", "ca.key"]
    assert _mode(out) == 0o700 and _mode(out / "ca.key") == 0o600
    assert _mode(out / "ca.crt") == 0o644
    (info,) = _show(out / "ca.crt")
    assert info["is_ca"] and info["subject"] == info["issuer"] == "CN=Mesh CA"
    assert info["key_type"] == "ed25519" and info["days_left"] in (29, 30)
    assert info["pin"] == shown["pin"]
    certified = pki.load_certified_key(out / "ca.crt", out / "ca.key")
    assert pki.describe(certified.certificate).pin == shown["pin"]


def test_issue_writes_server_and_client_certificates_that_work_with_ssl(
        tmp_path: Path, ca_dir: Path) -> None:
    out = tmp_path / "out"
    server = _fields(_issue(ca_dir, out, "node1", "--san", "node1.example.com,10.1.2.3",
                            "--san", "::1", "--days", "90"))
    assert server["certificate"] == str(out / "node1.crt")
    assert server["SANs"] == "DNS:node1.example.com, IP:10.1.2.3, IP:::1"
    assert server["usage"] == "serverAuth"
    client = _fields(_issue(ca_dir, out, "alice", "--role", "client", "--key-type", "rsa"))
    assert client["SANs"] == "none" and client["usage"] == "clientAuth"
    both = _fields(_issue(ca_dir, out, "peer", "--role", "both", "--san", "peer"))
    assert both["usage"] == "serverAuth, clientAuth"

    node1, alice = _show(out / "node1.crt", out / "alice.crt")
    assert node1["sans"] == ["DNS:node1.example.com", "IP:10.1.2.3", "IP:::1"]
    assert node1["issuer"] == "CN=CLI Test CA" and node1["common_name"] == "node1"
    assert node1["days_left"] in (89, 90) and not node1["expired"]
    assert node1["key_type"] == "ecdsa-p256" and node1["extended_key_usage"] == ["serverAuth"]
    assert alice["key_type"] == "rsa-3072" and alice["extended_key_usage"] == ["clientAuth"]
    assert node1["pin"] == server["pin"] and alice["pin"] == client["pin"]

    # The files are what ssl loads, and the chain verifies.
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(out / "node1.crt", out / "node1.key")
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_cert_chain(out / "alice.crt", out / "alice.key")
    client_ctx.load_verify_locations(ca_dir / "ca.crt")
    ca = pki.load_certificate(ca_dir / "ca.crt")
    for name in ("node1", "alice", "peer"):
        pki.load_certificate(out / f"{name}.crt").verify_directly_issued_by(ca)


def test_show_prints_every_field_and_every_certificate_of_a_bundle(
        tmp_path: Path, ca_dir: Path) -> None:
    _issue(ca_dir, tmp_path, "srv", "--san", "localhost")
    bundle = tmp_path / "chain.pem"
    bundle.write_bytes((tmp_path / "srv.crt").read_bytes() + (ca_dir / "ca.crt").read_bytes())
    out = _ok("tls", "show", str(bundle))
    leaf_text, ca_text = out.split("\n\n")
    leaf, ca = _fields(leaf_text), _fields(ca_text)
    assert leaf["file"] == str(bundle) and ca["file"] == f"{bundle} (certificate 2)"
    assert leaf["subject"] == "CN=srv" and leaf["issuer"] == "CN=CLI Test CA"
    assert leaf["SANs"] == "DNS:localhost" and leaf["CA"] == "no"
    assert leaf["usage"] == "serverAuth" and leaf["key type"] == "ecdsa-p256"
    assert leaf["days left"] in ("364", "365")
    assert leaf["not after"].endswith(" UTC") and leaf["pin"].startswith("sha256//")
    assert ca["CA"] == "yes" and ca["SANs"] == "none" and ca["usage"] == "any"
    assert [c["index"] for c in _show(bundle)] == [0, 1]


@posix_only
def test_existing_files_are_kept_unless_forced(tmp_path: Path, ca_dir: Path,
                                               umask022: None) -> None:
    first = _fields(_issue(ca_dir, tmp_path, "srv", "--san", "localhost"))
    before = (tmp_path / "srv.crt").read_bytes(), (tmp_path / "srv.key").read_bytes()
    line = _assert_one_error_line(
        _run("tls", "issue", "--ca-cert", str(ca_dir / "ca.crt"), "--ca-key",
             str(ca_dir / "ca.key"), "--out", str(tmp_path), "--name", "srv",
             "--san", "localhost"), 1)
    assert "already exists" in line and "--force" in line
    assert ((tmp_path / "srv.crt").read_bytes(), (tmp_path / "srv.key").read_bytes()) == before
    second = _fields(_issue(ca_dir, tmp_path, "srv", "--san", "localhost", "--force"))
    assert second["pin"] != first["pin"]
    assert _mode(tmp_path / "srv.key") == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["srv.crt", "srv.key"]
    line = _assert_one_error_line(_run("tls", "ca", "--out", str(ca_dir)), 1)
    assert "ca.crt already exists" in line


# -- tls expiring -----------------------------------------------------------------------


def test_expiring_exit_status_says_whether_something_expires(
        tmp_path: Path, ca_dir: Path) -> None:
    certs_dir = tmp_path / "certs"
    _issue(ca_dir, certs_dir / "a", "short", "--role", "client", "--days", "10")
    _issue(ca_dir, certs_dir / "b", "long", "--role", "client", "--days", "200")
    done = _run("tls", "expiring", str(certs_dir), "--days", "5")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "no certificate expires within 5 days (2 checked)\n"

    done = _run("tls", "expiring", str(certs_dir), "--days", "30")
    assert done.returncode == 1 and done.stderr == ""
    (line,) = done.stdout.splitlines()
    assert line.startswith(f"{certs_dir / 'a' / 'short.crt'}: CN=short: expires in ")

    done = _run("tls", "expiring", str(certs_dir), str(ca_dir), "--days", "400", "--json")
    assert done.returncode == 1
    listed = json.loads(done.stdout)
    assert [c["common_name"] for c in listed] == ["short", "long"]  # soonest first
    assert listed[0]["days_left"] in (9, 10) and not listed[0]["expired"]

    done = _run("tls", "expiring", str(certs_dir), "--days", "0", "--json")
    assert done.returncode == 0 and json.loads(done.stdout) == []


# -- errors -----------------------------------------------------------------------------


def _issue_args(*extra: str) -> tuple[str, ...]:
    return ("tls", "issue", "--ca-cert", "{ca}/ca.crt", "--ca-key", "{ca}/ca.key",
            "--out", "{tmp}/out", *extra)


@pytest.mark.parametrize("args, status, message", [
    (("tls", "show", "{tmp}/missing.crt"), 1, "No such file"),
    (("tls", "show", "{tmp}"), 1, "is a directory"),
    (("tls", "show", "{tmp}/junk.crt"), 1, "holds no certificate"),
    (("tls", "show", "{ca}/ca.key"), 1, "it holds a private key"),
    (("tls", "expiring", "{tmp}/missing"), 1, "No such file"),
    (("tls", "expiring", "{tmp}/empty"), 1, "no certificates found"),
    (("tls", "expiring", "{tmp}"), 1, "holds no certificate"),
    (("tls", "ca", "--out", "{tmp}/junk.crt"), 1, "not a directory"),
    (("tls", "ca", "--out", "{tmp}/out", "--name", "x" * 65), 2, "1 to 64 characters"),
    (_issue_args("--name", "s", "--san", "bad_name"), 2, "--san: SAN 'bad_name'"),
    (_issue_args("--name", "s", "--san", "1.2.3.4.5"), 2, "last label is a number"),
    (_issue_args("--name", "s"), 2, "needs at least one --san"),
    (_issue_args("--name", "s", "--role", "both"), 2, "needs at least one --san"),
    (_issue_args("--name", "../s", "--role", "client"), 2, "plain file name"),
    (_issue_args("--name", "s", "--role", "client", "--days", "4000"), 1,
     "outlive its CA"),
    (("tls", "issue", "--ca-cert", "{tmp}/missing.crt", "--ca-key", "{ca}/ca.key",
      "--out", "{tmp}/out", "--name", "s", "--role", "client"), 1, "No such file"),
    (("tls", "issue", "--ca-cert", "{ca}/ca.crt", "--ca-key", "{ca}/ca.crt",
      "--out", "{tmp}/out", "--name", "s", "--role", "client"), 1, "no PEM private key"),
    (("tls", "issue", "--ca-cert", "{tmp}/leaf.crt", "--ca-key", "{tmp}/leaf.key",
      "--out", "{tmp}/out", "--name", "s", "--role", "client"), 1, "not a CA"),
    (("tls", "issue", "--ca-cert", "{ca}/ca.crt", "--ca-key", "{tmp}/leaf.key",
      "--out", "{tmp}/out", "--name", "s", "--role", "client"), 1, "does not belong"),
])
def test_error_paths_give_one_line_and_a_status(
        tmp_path: Path, ca_dir: Path, args: tuple[str, ...], status: int,
        message: str) -> None:
    (tmp_path / "junk.crt").write_text("not a certificate\n")
    (tmp_path / "empty").mkdir()
    ca = pki.load_certified_key(ca_dir / "ca.crt", ca_dir / "ca.key")
    leaf = pki.issue_certificate(ca, "leaf", role="client")
    pki.write_certified_key(leaf, tmp_path / "leaf.crt", tmp_path / "leaf.key")
    before = sorted(p.name for p in tmp_path.iterdir())
    done = _run(*(a.format(tmp=tmp_path, ca=ca_dir) for a in args))
    assert message in _assert_one_error_line(done, status)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


@pytest.mark.parametrize("args", [
    ("tls",), ("tls", "bogus"), ("tls", "ca"), ("tls", "ca", "--out", "x", "--days", "0"),
    ("tls", "ca", "--out", "x", "--key-type", "dsa"), ("tls", "issue", "--name", "x"),
    ("tls", "issue", "--ca-cert", "a", "--ca-key", "b", "--out", "c", "--name", "x",
     "--role", "peer"),
    ("tls", "show"), ("tls", "expiring", "d", "--days", "-1"),
    ("tls", "expiring", "d", "--days", "soon"),
])
def test_command_line_syntax_errors_are_usage_errors(args: tuple[str, ...]) -> None:
    done = _run(*args)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("usage: ")
    assert ": error: " in done.stderr.splitlines()[-1]


def test_help_lists_the_tls_commands() -> None:
    out = _ok("tls", "--help")
    for command in ("ca", "issue", "show", "expiring"):
        assert f"    {command} " in out


# -- certs-tools ------------------------------------------------------------------------


def _tool(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SECUREMQ=f"{shlex.quote(sys.executable)} -m securemq")
    return subprocess.run([sys.executable, str(TOOLS / name), *args], capture_output=True,
                          text=True, timeout=50, check=False, cwd=cwd, env=env)


@pytest.mark.parametrize("name", ["bootstrap-mesh", "rotate", "report-expiring"])
def test_tools_are_executable_and_explain_themselves(tmp_path: Path, name: str) -> None:
    if os.name == "posix":
        assert os.access(TOOLS / name, os.X_OK)
    done = _tool(name, "--help", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith(f"usage: {name} ")
    done = _tool(name, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.startswith(f"usage: {name} ")


def _curve_public(path: Path) -> bytes:
    return certs.read_certificate(path).public_key


@posix_only
def test_bootstrap_then_report_then_rotate(tmp_path: Path, umask022: None) -> None:
    mesh = tmp_path / "mesh"
    done = _tool("bootstrap-mesh", str(mesh), "-n", "2", "--san", "node.example.com",
                 "--san", "127.0.0.1", "--days", "20", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"mesh ready in {mesh}")

    # The documented tree, with private parts private.
    names = ("server", "client1", "client2")
    for name in names:
        assert _mode(mesh / name) == 0o700
        assert _mode(mesh / name / "tls" / f"{name}.key") == 0o600
        assert _mode(mesh / name / "curve" / f"{name}.key_secret") == 0o600
        assert _mode(mesh / name / "tls" / f"{name}.crt") == 0o644
    assert _mode(mesh / "ca" / "ca.key") == 0o600
    assert sorted(p.name for p in mesh.iterdir()) == ["authorized-clients", "ca", *sorted(names)]
    allowed = certs.load_certificates(mesh / "authorized-clients")
    assert set(allowed) == {_curve_public(mesh / n / "curve" / f"{n}.key")
                            for n in ("client1", "client2")}

    server, client1 = _show(mesh / "server/tls/server.crt", mesh / "client1/tls/client1.crt")
    assert server["sans"] == ["DNS:node.example.com", "IP:127.0.0.1"]
    assert server["extended_key_usage"] == ["serverAuth"]
    assert client1["extended_key_usage"] == ["clientAuth"]
    ca = pki.load_certificate(mesh / "ca" / "ca.crt")
    for name in names:
        pki.load_certificate(mesh / name / "tls" / f"{name}.crt").verify_directly_issued_by(ca)

    # A second bootstrap into the same place is refused and changes nothing.
    before = (mesh / "ca" / "ca.key").read_bytes()
    done = _tool("bootstrap-mesh", str(mesh), cwd=tmp_path)
    assert done.returncode == 2 and "not an empty directory" in done.stderr
    assert (mesh / "ca" / "ca.key").read_bytes() == before

    done = _tool("report-expiring", str(mesh), "--days", "10", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "no certificate expires within 10 days" in done.stdout
    assert _tool("report-expiring", "-q", "--days", "10", str(mesh), cwd=tmp_path).stdout == ""
    done = _tool("report-expiring", str(mesh), "--days", "30", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout.startswith("3 certificate(s) expire within 30 days:")
    assert f"--tls {mesh} server" in done.stdout and "CN=client2" in done.stdout
    done = _tool("report-expiring", str(tmp_path / "missing"), cwd=tmp_path)
    assert done.returncode == 2 and "securemq: error:" in done.stderr

    # Rotate the server's TLS certificate: same names and role, the old one kept.
    old_cert = (mesh / "server/tls/server.crt").read_bytes()
    old_curve = _curve_public(mesh / "server/curve/server.key")
    done = _tool("rotate", str(mesh), "server", "--tls", "--days", "60", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (mesh / "server/tls/server.crt.old").read_bytes() == old_cert
    assert _mode(mesh / "server/tls/server.key.old") == 0o600
    (renewed,) = _show(mesh / "server/tls/server.crt")
    assert renewed["sans"] == server["sans"] and renewed["pin"] != server["pin"]
    assert renewed["extended_key_usage"] == ["serverAuth"] and renewed["days_left"] >= 59
    pki.load_certified_key(mesh / "server/tls/server.crt", mesh / "server/tls/server.key")
    assert _curve_public(mesh / "server/curve/server.key") == old_curve  # --tls only
    assert not list((mesh / "server" / "tls").glob(".rotate-*"))  # staging cleaned up

    # Rotate a client's CURVE keys: the allow list follows, the old key is set aside.
    old_key = _curve_public(mesh / "client1/curve/client1.key")
    done = _tool("rotate", str(mesh), "client1", "--curve", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    new_key = _curve_public(mesh / "client1/curve/client1.key")
    assert new_key != old_key
    assert _curve_public(mesh / "client1/curve/client1.key.old") == old_key
    assert _mode(mesh / "client1/curve/client1.key_secret.old") == 0o600
    assert certs.read_certificate(mesh / "client1/curve/client1.key_secret").metadata == {
        "role": "client"}
    allowed = certs.load_certificates(mesh / "authorized-clients")
    assert new_key in allowed and old_key not in allowed

    # Both, by default, for the same validity period as before.
    done = _tool("rotate", str(mesh), "client2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (mesh / "client2/tls/client2.crt.old").exists()
    assert (mesh / "client2/curve/client2.key_secret.old").exists()
    (client2,) = _show(mesh / "client2/tls/client2.crt")
    assert client2["days_left"] in (19, 20)
    done = _tool("report-expiring", str(mesh), "--days", "30", cwd=tmp_path)
    assert done.returncode == 1 and done.stdout.startswith("2 certificate(s)")
    assert f"--tls {mesh} client1" in done.stdout and f"--tls {mesh} client2" in done.stdout
    assert f"--tls {mesh} server" not in done.stdout  # renewed for 60 days

    done = _tool("rotate", str(mesh), "nobody", cwd=tmp_path)
    assert done.returncode == 2 and "no identity 'nobody'" in done.stderr
    done = _tool("rotate", str(mesh), "ca", cwd=tmp_path)
    assert done.returncode == 2 and "not an identity" in done.stderr
