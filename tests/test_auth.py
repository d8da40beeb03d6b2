"""The authenticator (securemq.auth): pyzmq's zmq.auth surface, on real sockets.

Rows of /work/shared/SECURITY-TESTS.md covered here: 36 (400/500 from the handler),
37/38 (no handler, with and without ``zap_enforce_domain``), 39 (a policy callback that
raises: 500, the handler thread survives), 40 (User-Id), 41 (PLAIN refusals: generic on
the wire, specific in the audit log, password never logged), 43 (salted hashes,
``hmac.compare_digest``), 62 (a CURVE key revoked by deleting its file while the server
runs), 64 (one structured audit record per handshake outcome, no secrets); plus the
issue's own cases: IPv4/IPv6 allow and deny, CURVE_ALLOW_ANY, credentials providers,
a libzmq client admitted and refused, rate limiting with an injected clock, the
password store file, and a hand-written RFC 27 handler with no authenticator.

Synchronisation is by monitor events (HANDSHAKE_SUCCEEDED / HANDSHAKE_FAILED_*) awaited
with polls and deadlines; every socket has linger 0 and send/receive timeouts.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import securemq
from securemq.auth import (
    AUDIT_FIELDS,
    AUDIT_LOGGER,
    CURVE_ALLOW_ANY,
    Authenticator,
    PasswordCheck,
    PasswordStore,
    PasswordStoreError,
    RateLimit,
    create_certificates,
    load_certificate,
)
from securemq.auth.thread import ThreadAuthenticator
from securemq.utils import z85
from securemq.utils.monitor import recv_monitor_message

pytestmark = pytest.mark.timeout(30)

WAIT_MS = 3000
E = securemq.Event
OUTCOMES = {E.HANDSHAKE_SUCCEEDED, E.HANDSHAKE_FAILED_AUTH, E.HANDSHAKE_FAILED_NO_DETAIL,
            E.HANDSHAKE_FAILED_PROTOCOL}
#: Cheap scrypt parameters for stores built by the tests (the default costs ~0.1 s).
FAST = {"n": 2**10, "r": 8, "p": 1}


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


# -- harness ----------------------------------------------------------------------------


@dataclass
class Rig:
    """Sockets and authenticators of one test, all closed at the end."""

    ctx: securemq.Context
    socks: list[Any] = field(default_factory=list)
    auths: list[Authenticator] = field(default_factory=list)

    def auth(self, start: bool = True, **kwargs: Any) -> ThreadAuthenticator:
        """A thread authenticator on the test's context; rate limit off unless given."""
        kwargs.setdefault("rate_limit", None)
        a = ThreadAuthenticator(self.ctx, **kwargs)
        self.auths.append(a)
        if start:
            a.start()
        return a

    def sock(self, kind: int, ctx: Any = None, **opts: Any) -> Any:
        s = (ctx or self.ctx).socket(kind)
        self.socks.append(s)
        s.linger = 0
        s.rcvtimeo = s.sndtimeo = WAIT_MS
        for name, value in opts.items():
            setattr(s, name, value)
        return s

    def server(self, host: str = "127.0.0.1", **opts: Any) -> tuple[Any, Any, str]:
        """A REP server bound on ``host``: (socket, its monitor socket, endpoint)."""
        srv = self.sock(securemq.REP, **opts)
        mon = srv.get_monitor_socket()
        self.socks.append(mon)
        srv.bind(f"tcp://{host}:*")
        return srv, mon, srv.last_endpoint.decode()

    def client(self, url: str, ctx: Any = None, kind: int = securemq.REQ,
               **opts: Any) -> Any:
        cli = self.sock(kind, ctx, **opts)
        cli.connect(url)
        return cli

    def close(self) -> None:
        for a in self.auths:
            a.stop()
        for s in reversed(self.socks):
            s.close(linger=0)


@pytest.fixture
def rig(ctx: securemq.Context) -> Iterator[Rig]:
    r = Rig(ctx)
    yield r
    r.close()


def outcome(mon: Any, recv: Callable[[Any], Any] = recv_monitor_message) -> tuple[E, int]:
    """The next handshake outcome on a monitor socket: (event, value)."""
    while True:
        assert mon.poll(WAIT_MS), "no handshake outcome within the deadline"
        ev = recv(mon)
        event = E(int(ev["event"]))
        if event in OUTCOMES:
            return event, int(ev["value"])


def round_trip(srv: Any, cli: Any) -> Any:
    """Send one request from ``cli``; return the frame ``srv`` got (for its properties)."""
    cli.send(b"ping")
    frame = srv.recv(copy=False)
    srv.send(b"pong")
    assert cli.recv() == b"pong"
    return frame


def admitted(mon: Any) -> None:
    assert outcome(mon) == (E.HANDSHAKE_SUCCEEDED, 0)


def refused(mon: Any, status: int = 400) -> None:
    assert outcome(mon) == (E.HANDSHAKE_FAILED_AUTH, status)


def cut_off(mon: Any) -> None:
    """A live session was closed (DISCONNECTED) and its reconnection refused by ZAP."""
    seen = []
    while True:
        assert mon.poll(WAIT_MS), f"alice was not cut off; saw {seen}"
        event = E(int(recv_monitor_message(mon)["event"]))
        seen.append(event)
        if event == E.HANDSHAKE_FAILED_AUTH:
            break
    assert E.DISCONNECTED in seen


def curve_server_opts(server_secret: bytes, **more: Any) -> dict[str, Any]:
    return {"curve_server": True, "curve_secretkey": server_secret, **more}


def curve_client_opts(server_public: bytes, keys: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"curve_serverkey": server_public, "curve_publickey": keys[0],
            "curve_secretkey": keys[1]}


def request(mechanism: bytes, *credentials: bytes, address: bytes = b"127.0.0.1",
            domain: bytes = b"", request_id: bytes = b"7") -> list[bytes]:
    """A ZAP request as a REP handler receives it (no envelope)."""
    return [b"1.0", request_id, domain, address, b"", mechanism, *credentials]


def decide(auth: Authenticator, frames: list[bytes]) -> list[bytes]:
    """Run the authenticator's decision on ``frames`` without sockets."""
    return asyncio.run(auth.process_request(frames))


def audit_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == AUDIT_LOGGER]


def assert_no_secret(caplog: pytest.LogCaptureFixture, *secrets: bytes | str) -> None:
    """No log record mentions any of ``secrets``, in its text or in any attribute."""
    for rec in caplog.records:
        texts = [rec.getMessage(), *(str(v) for v in vars(rec).values())]
        if rec.exc_info:
            texts.append(logging.Formatter().formatException(rec.exc_info))
        for secret in secrets:
            needle = secret.decode("utf-8", "replace") if isinstance(secret, bytes) else secret
            for text in texts:
                assert needle not in text, f"{rec.name}: {rec.getMessage()!r} leaks a secret"


@pytest.fixture
def keydir(tmp_path: Path) -> Path:
    d = tmp_path / "public_keys"
    d.mkdir()
    return d


def new_cert(directory: Path, name: str) -> tuple[bytes, bytes]:
    """Create ``name``.key and ``name``.key_secret; return the Z85 (public, secret)."""
    _public_file, secret_file = create_certificates(str(directory), name)
    public, secret = load_certificate(secret_file)
    assert secret is not None
    os.unlink(secret_file)  # the allow-list directory holds public halves only
    return public, secret


# -- address lists: the policy, for addresses a loopback test cannot reach ---------------


def test_allow_list_decides_alone(ctx: securemq.Context) -> None:
    auth = Authenticator(ctx)
    auth.allow("127.0.0.1", "10.1.0.0/16", "2001:db8::1")
    assert auth.check_address("127.0.0.1").passed
    assert auth.check_address("10.1.2.3").passed
    assert not auth.check_address("10.2.0.1").passed
    assert not auth.check_address("192.168.1.1").passed
    assert auth.check_address("2001:db8:0:0::1").passed  # any IPv6 notation
    assert not auth.check_address("2001:db8::2").passed
    assert auth.check_address("::ffff:127.0.0.1").passed  # a dual-stack listener's view
    assert not auth.check_address("").passed  # ipc peers are not on the list
    with pytest.raises(ValueError):
        auth.deny("10.0.0.1")  # pyzmq forbids mixing the two


def test_deny_list_refuses_only_its_addresses(ctx: securemq.Context) -> None:
    auth = Authenticator(ctx)
    auth.deny("192.168.0.7", "fe80::/10")
    assert not auth.check_address("192.168.0.7").passed
    assert auth.check_address("192.168.0.8").passed
    assert not auth.check_address("fe80::1").passed
    assert not auth.check_address("fe80::1%2").passed
    assert not auth.check_address("::ffff:192.168.0.7").passed
    assert auth.check_address("::1").passed
    with pytest.raises(ValueError):
        auth.allow("127.0.0.1")


def test_no_address_rules_admit_null_and_not_plain(ctx: securemq.Context) -> None:
    auth = Authenticator(ctx, rate_limit=None)
    assert auth.check_address("203.0.113.9") == (True, "no address rules")
    assert decide(auth, request(b"NULL", address=b"203.0.113.9"))[2:5] == \
        [b"200", b"OK", b"anonymous"]
    # PLAIN and CURVE need a policy even from an unlisted address.
    assert decide(auth, request(b"PLAIN", b"u", b"p"))[2] == b"400"
    assert decide(auth, request(b"CURVE", os.urandom(32)))[2] == b"400"


def test_denied_address_refused_before_credentials(ctx: securemq.Context) -> None:
    auth = Authenticator(ctx, rate_limit=None)
    auth.deny("198.51.100.1")
    auth.configure_curve(location=CURVE_ALLOW_ANY)
    assert decide(auth, request(b"CURVE", os.urandom(32), address=b"198.51.100.1"))[2] == b"400"
    assert decide(auth, request(b"CURVE", os.urandom(32), address=b"198.51.100.2"))[2] == b"200"


# -- address lists at the socket level ---------------------------------------------------


@pytest.mark.parametrize(("rule", "addresses", "ok"), [
    ("allow", ["127.0.0.1"], True),
    ("allow", ["10.0.0.1"], False),
    ("deny", ["127.0.0.1"], False),
    ("deny", ["10.0.0.1"], True),
])
def test_null_address_rules_ipv4(rig: Rig, rule: str, addresses: list[str], ok: bool) -> None:
    auth = rig.auth()
    getattr(auth, rule)(*addresses)
    # NULL servers ask ZAP only when they have a domain.
    srv, mon, url = rig.server(zap_domain=b"test")
    cli = rig.client(url)
    if ok:
        admitted(mon)
        assert round_trip(srv, cli).get("User-Id") == "anonymous"
    else:
        refused(mon)


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")
@pytest.mark.parametrize(("rule", "ok"), [("allow", True), ("deny", False)])
def test_null_address_rules_ipv6(rig: Rig, rule: str, ok: bool) -> None:
    auth = rig.auth()
    getattr(auth, rule)("::1")
    srv, mon, url = rig.server("[::1]", ipv6=True, zap_domain=b"test")
    cli = rig.client(url, ipv6=True)
    if ok:
        admitted(mon)
        frame = round_trip(srv, cli)
        assert frame.get("Peer-Address") == "::1"
    else:
        refused(mon)


# -- PLAIN -------------------------------------------------------------------------------


def test_plain_admits_with_user_id(rig: Rig) -> None:
    auth = rig.auth()
    auth.configure_plain(passwords={"admin": "s3cret-Pw"})
    srv, mon, url = rig.server(plain_server=True)
    cli = rig.client(url, plain_username=b"admin", plain_password=b"s3cret-Pw")
    admitted(mon)
    assert round_trip(srv, cli).get("User-Id") == "admin"


@pytest.mark.parametrize(("user", "password"), [
    ("x" * 255, "long-name"),
    ("Zoë-用户", "pässwörd-ñ"),
    ("colon:and%percent", "p"),
])
def test_plain_unusual_user_names(rig: Rig, user: str, password: str) -> None:
    auth = rig.auth()
    auth.configure_plain(passwords={user: password})
    srv, mon, url = rig.server(plain_server=True)
    cli = rig.client(url, plain_username=user.encode(), plain_password=password.encode())
    admitted(mon)
    assert round_trip(srv, cli).get("User-Id") == user


@pytest.mark.parametrize(("user", "password", "reason"), [
    (b"admin", b"wrong-guess-1", "wrong password"),
    (b"mallory", b"wrong-guess-2", "unknown user"),
    (b"admin", "pässwörd-wrong".encode(), "wrong password"),
    (b"admin", b"p" * 255, "wrong password"),
])
def test_plain_refusal_generic_on_wire_specific_in_audit(
        rig: Rig, caplog: pytest.LogCaptureFixture, user: bytes, password: bytes,
        reason: str) -> None:
    """Row 41: 400; the client learns nothing; the audit says why; no password logged."""
    caplog.set_level(logging.DEBUG)
    auth = rig.auth()
    auth.configure_plain(passwords={"admin": "s3cret-Pw"})
    _srv, mon, url = rig.server(plain_server=True)
    cli = rig.client(url, plain_username=user, plain_password=password)
    cmon = cli.get_monitor_socket()
    rig.socks.append(cmon)
    refused(mon)
    refused(cmon)  # the client got ERROR 400 and gives up
    [rec] = audit_records(caplog)
    assert rec.zap_status == 400 and rec.zap_reason == reason  # type: ignore[attr-defined]
    assert rec.zap_identity == user.decode()  # type: ignore[attr-defined]
    assert rec.levelno == logging.WARNING
    # The reply itself is the same whatever went wrong.
    assert decide(auth, request(b"PLAIN", user, password))[2:] == \
        [b"400", b"Authentication failed", b"", b""]
    assert_no_secret(caplog, password, b"s3cret-Pw")


def test_plain_empty_credentials_refused(ctx: securemq.Context) -> None:
    """Sockets cannot send these (an empty option turns PLAIN off), but a handler must
    still refuse them."""
    auth = Authenticator(ctx, rate_limit=None)
    auth.configure_plain(passwords={"admin": "pw"})
    assert decide(auth, request(b"PLAIN", b"", b"pw"))[2] == b"400"
    assert decide(auth, request(b"PLAIN", b"admin", b""))[2] == b"400"
    assert decide(auth, request(b"PLAIN", b"", b""))[2] == b"400"


def test_plain_passwords_not_kept_in_clear(ctx: securemq.Context) -> None:
    """Row 43: a dict of passwords is hashed on entry; nothing holds the clear text."""
    auth = Authenticator(ctx)
    auth.configure_plain(passwords={"admin": "Clear-Text-Pw-123"})
    store = auth.passwords["*"]
    assert isinstance(store, PasswordStore)
    dumped = repr(vars(auth)) + repr(vars(store)) + store.dumps()
    assert "Clear-Text-Pw-123" not in dumped
    assert b"Clear-Text-Pw-123" not in repr(store._hashes).encode()


def test_plain_domains_do_not_fall_back(rig: Rig) -> None:
    """A server's zap_domain selects the policy; "*" covers servers without one only."""
    auth = rig.auth()
    auth.configure_plain("*", {"anyone": "pw-star"})
    auth.configure_plain("billing", {"clerk": "pw-billing"})
    srv, mon, url = rig.server(plain_server=True, zap_domain=b"billing")
    rig.client(url, plain_username=b"anyone", plain_password=b"pw-star")
    refused(mon)
    cli = rig.client(url, plain_username=b"clerk", plain_password=b"pw-billing")
    admitted(mon)
    round_trip(srv, cli)
    _srv2, mon2, url2 = rig.server(plain_server=True, zap_domain=b"other")
    rig.client(url2, plain_username=b"anyone", plain_password=b"pw-star")
    refused(mon2)


# -- CURVE -------------------------------------------------------------------------------


def test_curve_directory_admits_known_and_refuses_unknown(rig: Rig, keydir: Path) -> None:
    server_public, server_secret = securemq.curve_keypair()
    known = new_cert(keydir, "alice")
    auth = rig.auth()
    auth.configure_curve(domain="*", location=str(keydir))
    srv, mon, url = rig.server(**curve_server_opts(server_secret))
    cli = rig.client(url, **curve_client_opts(server_public, known))
    admitted(mon)
    assert round_trip(srv, cli).get("User-Id") == known[0].decode()
    rig.client(url, **curve_client_opts(server_public, securemq.curve_keypair()))
    refused(mon)


def test_curve_allow_any(rig: Rig) -> None:
    server_public, server_secret = securemq.curve_keypair()
    auth = rig.auth()
    auth.configure_curve(domain="*", location=CURVE_ALLOW_ANY)
    srv, mon, url = rig.server(**curve_server_opts(server_secret))
    keys = securemq.curve_keypair()
    cli = rig.client(url, **curve_client_opts(server_public, keys))
    admitted(mon)
    assert round_trip(srv, cli).get("User-Id") == keys[0].decode()


def test_curve_key_revoked_by_deleting_its_file(rig: Rig, keydir: Path) -> None:
    """Row 62: delete a .key file while the server runs: new connections are refused;
    add one: it is admitted. No restart, no new configure_curve call."""
    server_public, server_secret = securemq.curve_keypair()
    alice = new_cert(keydir, "alice")
    clock = FakeClock()
    auth = rig.auth(clock=clock)
    auth.configure_curve(location=str(keydir))
    srv, mon, url = rig.server(**curve_server_opts(server_secret))
    first = rig.client(url, **curve_client_opts(server_public, alice))
    admitted(mon)
    round_trip(srv, first)

    os.unlink(keydir / "alice.key")
    bob = new_cert(keydir, "bob")
    clock.advance(1.0)  # past the rescan interval, whatever the mtime granularity
    rig.client(url, **curve_client_opts(server_public, alice))
    refused(mon)
    cli = rig.client(url, **curve_client_opts(server_public, bob))
    admitted(mon)
    round_trip(srv, cli)


@pytest.mark.parametrize("how", ["remove", "new-password", "file"])
def test_removed_plain_user_is_cut_off(rig: Rig, tmp_path: Path, how: str) -> None:
    """Row 62 for PLAIN: removing a user (or changing their password, in the store or
    in its file) closes the sessions that user opened; others keep theirs."""
    from securemq.auth.passwords import PasswordStore

    store = PasswordStore({"alice": "pw-alice", "bob": "pw-bob"}, n=2**4)
    if how == "file":
        store.save(tmp_path / "passwords")
        store = PasswordStore.load(tmp_path / "passwords")
    auth = rig.auth()
    auth.configure_plain(passwords=store)
    srv = rig.sock(securemq.ROUTER, plain_server=True)
    mon = srv.get_monitor_socket()
    rig.socks.append(mon)
    srv.bind("tcp://127.0.0.1:*")
    url = srv.last_endpoint.decode()
    a = rig.client(url, kind=securemq.DEALER, reconnect_ivl=50,
                   plain_username=b"alice", plain_password=b"pw-alice")
    admitted(mon)
    b = rig.client(url, kind=securemq.DEALER, plain_username=b"bob", plain_password=b"pw-bob")
    admitted(mon)
    for cli in (a, b):
        cli.send(b"hello")
        assert srv.recv_multipart()[1] == b"hello"

    if how == "remove":
        store.remove("alice")
    elif how == "new-password":
        store.set("alice", "pw-rotated")
    else:
        edited = PasswordStore({"bob": "pw-bob"}, n=2**4)
        edited.save(tmp_path / "passwords.new")
        os.replace(tmp_path / "passwords.new", tmp_path / "passwords")  # seen when idle
    cut_off(mon)
    b.send(b"still here")
    assert srv.recv_multipart()[1] == b"still here"


def test_revoked_key_cuts_its_live_session(rig: Rig, keydir: Path) -> None:
    """Row 62, live sessions too: deleting a key file closes the connections that key
    opened (the handler notices while idle), and the client's reconnection is refused;
    other clients keep their sessions."""
    server_public, server_secret = securemq.curve_keypair()
    alice, bob = new_cert(keydir, "alice"), new_cert(keydir, "bob")
    auth = rig.auth()
    auth.configure_curve(location=str(keydir))
    srv = rig.sock(securemq.ROUTER, **curve_server_opts(server_secret))
    mon = srv.get_monitor_socket()
    rig.socks.append(mon)
    srv.bind("tcp://127.0.0.1:*")
    url = srv.last_endpoint.decode()
    a = rig.client(url, kind=securemq.DEALER, reconnect_ivl=50,
                   **curve_client_opts(server_public, alice))
    admitted(mon)
    b = rig.client(url, kind=securemq.DEALER, **curve_client_opts(server_public, bob))
    admitted(mon)
    for cli in (a, b):
        cli.send(b"hello")
        assert srv.recv_multipart()[1] == b"hello"

    os.unlink(keydir / "alice.key")
    # Alice's session is cut (DISCONNECTED), and her reconnection refused by ZAP.
    cut_off(mon)
    # Bob is untouched.
    b.send(b"still here")
    assert srv.recv_multipart()[1] == b"still here"


def test_key_directory_change_noticed_without_waiting(ctx: securemq.Context,
                                                      keydir: Path) -> None:
    """Deleting a file changes the directory's mtime: the next request sees it even
    though the clock has not moved (the interval only bounds full rescans)."""
    alice = new_cert(keydir, "alice")
    auth = Authenticator(ctx, clock=FakeClock(), rate_limit=None)
    auth.configure_curve(location=str(keydir))
    raw = z85.decode(alice[0])
    assert decide(auth, request(b"CURVE", raw))[2] == b"200"
    st = os.stat(keydir)
    os.unlink(keydir / "alice.key")
    # What the kernel does on unlink, made certain for filesystems with coarse mtimes.
    os.utime(keydir, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert decide(auth, request(b"CURVE", raw))[2] == b"400"


def test_key_directory_skips_bad_files_and_fails_closed(ctx: securemq.Context,
                                                        keydir: Path) -> None:
    alice = new_cert(keydir, "alice")
    hidden = new_cert(keydir, "hidden")
    os.rename(keydir / "hidden.key", keydir / ".hidden.key")  # hidden: skipped
    (keydir / "broken.key").write_text("not a certificate\n")
    (keydir / "notes.txt").write_text("ignored\n")
    clock = FakeClock()
    auth = Authenticator(ctx, clock=clock, rate_limit=None)
    auth.configure_curve(location=str(keydir))
    raw = z85.decode(alice[0])
    assert decide(auth, request(b"CURVE", raw))[2] == b"200"  # one bad file spoils nothing
    assert decide(auth, request(b"CURVE", z85.decode(hidden[0])))[2] == b"400"
    for f in keydir.iterdir():
        f.unlink()
    keydir.rmdir()
    clock.advance(1.0)
    assert decide(auth, request(b"CURVE", raw))[2] == b"400"  # no directory: no key


def test_curve_user_id_hook(rig: Rig) -> None:
    server_public, server_secret = securemq.curve_keypair()

    class Named(ThreadAuthenticator):
        def curve_user_id(self, client_public_key: bytes) -> str:
            return "user-" + z85.encode(client_public_key)[:5].decode()

    auth = Named(rig.ctx, rate_limit=None)
    rig.auths.append(auth)
    auth.start()
    auth.configure_curve(location=CURVE_ALLOW_ANY)
    srv, mon, url = rig.server(**curve_server_opts(server_secret))
    keys = securemq.curve_keypair()
    cli = rig.client(url, **curve_client_opts(server_public, keys))
    admitted(mon)
    assert round_trip(srv, cli).get("User-Id") == "user-" + keys[0][:5].decode()


class Provider:
    """pyzmq's credentials provider shape: ``callback(domain, z85_key)``."""

    def __init__(self, allowed: set[bytes]) -> None:
        self.allowed = allowed
        self.calls: list[tuple[str, bytes]] = []

    def callback(self, domain: str, key: bytes) -> bool:
        self.calls.append((domain, key))
        return key in self.allowed


@pytest.mark.parametrize("flavour", ["object", "callable", "coroutine"])
def test_curve_callback_provider(rig: Rig, flavour: str) -> None:
    server_public, server_secret = securemq.curve_keypair()
    good = securemq.curve_keypair()
    provider = Provider({good[0]})
    target: Any = provider
    if flavour == "callable":
        target = provider.callback
    elif flavour == "coroutine":
        async def check(domain: str, key: bytes) -> bool:
            await asyncio.sleep(0)
            return provider.callback(domain, key)
        target = check
    auth = rig.auth()
    auth.configure_curve_callback(domain="*", credentials_provider=target)
    srv, mon, url = rig.server(**curve_server_opts(server_secret))
    cli = rig.client(url, **curve_client_opts(server_public, good))
    admitted(mon)
    round_trip(srv, cli)
    bad = securemq.curve_keypair()
    rig.client(url, **curve_client_opts(server_public, bad))
    refused(mon)
    assert provider.calls == [("*", good[0]), ("*", bad[0])]


def test_callback_exception_answers_500_and_thread_survives(
        rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    """Row 39: the policy raises: 500, logged, refused; the next request is served."""
    caplog.set_level(logging.INFO)
    server_public, server_secret = securemq.curve_keypair()
    failing = [True]

    def flaky(domain: str, key: bytes) -> bool:
        if failing[0]:
            raise RuntimeError("database down")
        return True

    auth = rig.auth()
    auth.configure_curve_callback(credentials_provider=flaky)
    srv, mon, url = rig.server(**curve_server_opts(server_secret))
    cli = rig.client(url, **curve_client_opts(server_public, securemq.curve_keypair()))
    cmon = cli.get_monitor_socket()
    rig.socks.append(cmon)
    refused(mon, 500)
    refused(cmon, 500)
    assert auth.is_alive()
    [rec] = audit_records(caplog)
    assert rec.zap_status == 500  # type: ignore[attr-defined]
    assert rec.zap_reason == "policy raised RuntimeError"  # type: ignore[attr-defined]
    assert any(r.name == "securemq.auth" and r.exc_info for r in caplog.records)
    failing[0] = False
    cli2 = rig.client(url, **curve_client_opts(server_public, securemq.curve_keypair()))
    admitted(mon)
    round_trip(srv, cli2)


def test_configure_errors_are_clear(ctx: securemq.Context) -> None:
    auth = Authenticator(ctx)
    with pytest.raises(NotImplementedError, match="GSSAPI"):
        auth.configure_gssapi()
    with pytest.raises(ValueError, match="location"):
        auth.configure_curve()
    with pytest.raises(ValueError, match="credentials_provider"):
        auth.configure_curve_callback()


# -- the ZAP exchange itself (RFC 27) ----------------------------------------------------


@pytest.mark.parametrize(("frames", "reason"), [
    ([b"2.0", b"id-9", b"", b"127.0.0.1", b"", b"NULL"], "unsupported ZAP version"),
    ([b"1.0", b"id-9", b""], "3 frames"),
    ([b"1.0", b"id-9", b"", b"127.0.0.1", b"", b"PLAIN", b"only-user"],
     "malformed PLAIN credentials"),
    ([b"1.0", b"id-9", b"", b"127.0.0.1", b"", b"CURVE", b"short"],
     "malformed CURVE credentials"),
    ([b"1.0", b"id-9", b"", b"127.0.0.1", b"", b"GSSAPI", b"principal"], "not supported"),
])
def test_malformed_requests_refused_with_id_echoed(
        ctx: securemq.Context, caplog: pytest.LogCaptureFixture, frames: list[bytes],
        reason: str) -> None:
    caplog.set_level(logging.INFO)
    auth = Authenticator(ctx, rate_limit=None)
    auth.configure_curve(location=CURVE_ALLOW_ANY)
    auth.configure_plain(passwords={"u": "p"})
    assert decide(auth, frames) == [b"1.0", b"id-9", b"400", b"Authentication failed",
                                    b"", b""]
    [rec] = audit_records(caplog)
    assert reason in rec.zap_reason  # type: ignore[attr-defined]


def test_reply_shape_on_success(ctx: securemq.Context) -> None:
    auth = Authenticator(ctx, rate_limit=None)
    auth.configure_plain("dom", {"u": "p"})
    assert decide(auth, request(b"PLAIN", b"u", b"p", domain=b"dom", request_id=b"\x00\xff")) \
        == [b"1.0", b"\x00\xff", b"200", b"OK", b"u", b""]


class HandWritten:
    """A minimal RFC 27 handler, no authenticator: a REP socket in a thread admitting
    the CURVE keys in ``good`` (Z85) with User-Id "hand-made"."""

    def __init__(self, ctx: securemq.Context, good: set[bytes]) -> None:
        self.ctx = ctx
        self.good = good
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(5) and not self.errors, self.errors

    def _run(self) -> None:
        rep = self.ctx.socket(securemq.REP)
        try:
            rep.linger = 0
            rep.bind("inproc://zeromq.zap.01")
            self._ready.set()
            while not self._stop.is_set():
                if not rep.poll(20):
                    continue
                version, rid, _domain, _addr, _ident, mech, *creds = rep.recv_multipart()
                ok = mech == b"CURVE" and z85.encode(creds[0]) in self.good
                rep.send_multipart([version, rid, b"200" if ok else b"400",
                                    b"OK" if ok else b"no", b"hand-made" if ok else b"", b""])
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            self._ready.set()
            rep.close(linger=0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        assert not self._thread.is_alive() and not self.errors, self.errors


def test_hand_written_rfc27_handler_still_works(rig: Rig) -> None:
    """No authenticator: a plain REP handler bound at inproc://zeromq.zap.01 serves."""
    server_public, server_secret = securemq.curve_keypair()
    good = securemq.curve_keypair()
    handler = HandWritten(rig.ctx, {good[0]})
    try:
        srv, mon, url = rig.server(**curve_server_opts(server_secret))
        cli = rig.client(url, **curve_client_opts(server_public, good))
        admitted(mon)
        assert round_trip(srv, cli).get("User-Id") == "hand-made"
        rig.client(url, **curve_client_opts(server_public, securemq.curve_keypair()))
        refused(mon)
    finally:
        handler.close()


def test_handler_replaced_after_a_handshake(rig: Rig) -> None:
    """Stop the handler after it served one handshake, bind another: it must serve."""
    server_public, server_secret = securemq.curve_keypair()
    good = securemq.curve_keypair()
    srv, mon, url = rig.server(handshake_ivl=2000, **curve_server_opts(server_secret))
    first = HandWritten(rig.ctx, {good[0]})
    try:
        rig.client(url, **curve_client_opts(server_public, good))
        admitted(mon)
    finally:
        first.close()
    second = HandWritten(rig.ctx, {good[0]})
    try:
        cli = rig.client(url, **curve_client_opts(server_public, good))
        admitted(mon)  # fails today: no outcome within the deadline
        round_trip(srv, cli)
    finally:
        second.close()


# -- no handler, and the handler's lifetime ----------------------------------------------


@pytest.mark.parametrize("enforce", [False, True])
def test_curve_without_handler(rig: Rig, enforce: bool) -> None:
    """Rows 37/38 in compatible mode: no handler admits any key (libzmq's default)
    unless zap_enforce_domain, which refuses with NO_DETAIL(EFAULT). Stopping the
    authenticator makes the handler absent again."""
    auth = rig.auth()
    auth.configure_curve(location=CURVE_ALLOW_ANY)
    auth.stop()
    server_public, server_secret = securemq.curve_keypair()
    srv, mon, url = rig.server(**curve_server_opts(server_secret, zap_enforce_domain=enforce))
    cli = rig.client(url, **curve_client_opts(server_public, securemq.curve_keypair()))
    if enforce:
        assert outcome(mon) == (E.HANDSHAKE_FAILED_NO_DETAIL, errno.EFAULT)
    else:
        admitted(mon)
        frame = round_trip(srv, cli)
        with pytest.raises(securemq.ZMQError):  # EINVAL, as libzmq: nobody set one
            frame.get("User-Id")


def test_restart_and_second_handler(rig: Rig) -> None:
    auth = rig.auth()
    other = rig.auth(start=False)
    with pytest.raises(securemq.ZMQError) as info:
        other.start()  # one handler per context (RFC 27)
    assert info.value.errno == errno.EADDRINUSE
    assert not other.is_alive()
    auth.stop()
    assert not auth.is_alive()
    auth.stop()  # idempotent
    auth.configure_curve(location=CURVE_ALLOW_ANY)
    auth.start()
    assert auth.is_alive()
    server_public, server_secret = securemq.curve_keypair()
    srv, mon, url = rig.server(**curve_server_opts(server_secret, zap_enforce_domain=True))
    cli = rig.client(url, **curve_client_opts(server_public, securemq.curve_keypair()))
    admitted(mon)
    round_trip(srv, cli)


@pytest.mark.parametrize("end", ["destroy", "term"])
def test_context_end_stops_the_thread(end: str) -> None:
    ctx = securemq.Context()
    auth = ThreadAuthenticator(ctx)
    auth.start()
    thread = auth.thread
    assert thread is not None
    if end == "destroy":
        ctx.destroy(linger=0)
    else:
        ctx.term()  # returns: the thread closes its socket when the context ends
    thread.join(5)
    assert not auth.is_alive()
    auth.stop()


# -- libzmq peers ------------------------------------------------------------------------


@pytest.mark.interop
def test_libzmq_client_admitted_and_refused(rig: Rig, zctx: Any, keydir: Path) -> None:
    zmq = pytest.importorskip("zmq")
    zmonitor = pytest.importorskip("zmq.utils.monitor")
    server_public, server_secret = securemq.curve_keypair()
    good = new_cert(keydir, "libzmq-client")
    auth = rig.auth()
    auth.configure_curve(location=str(keydir))
    srv, mon, url = rig.server(**curve_server_opts(server_secret))

    cli = rig.client(url, ctx=zctx, kind=zmq.REQ, **curve_client_opts(server_public, good))
    admitted(mon)
    cli.send(b"ping")
    assert srv.recv(copy=False).get("User-Id") == good[0].decode()
    srv.send(b"pong")
    assert cli.recv() == b"pong"

    bad = rig.sock(zmq.REQ, zctx, **curve_client_opts(server_public, zmq.curve_keypair()))
    cmon = bad.get_monitor_socket()
    rig.socks.append(cmon)
    bad.connect(url)
    refused(mon)
    assert outcome(cmon, zmonitor.recv_monitor_message) == (E.HANDSHAKE_FAILED_AUTH, 400)


# -- audit log ---------------------------------------------------------------------------


def test_audit_one_record_per_outcome(rig: Rig, caplog: pytest.LogCaptureFixture,
                                      keydir: Path) -> None:
    """Row 64: each handshake outcome gives exactly one audit record with every field."""
    caplog.set_level(logging.DEBUG)
    server_public, server_secret = securemq.curve_keypair()
    known = new_cert(keydir, "known")
    auth = rig.auth()
    auth.configure_curve(domain="vault", location=str(keydir))
    _srv, mon, url = rig.server(**curve_server_opts(server_secret, zap_domain=b"vault"))
    unknown = securemq.curve_keypair()
    outcomes = []
    for keys in (known, unknown, known):
        rig.client(url, **curve_client_opts(server_public, keys))
        outcomes.append(outcome(mon))
    assert [o[0] for o in outcomes] == [E.HANDSHAKE_SUCCEEDED, E.HANDSHAKE_FAILED_AUTH,
                                        E.HANDSHAKE_SUCCEEDED]
    records = audit_records(caplog)
    assert len(records) == 3
    for rec, keys, status in zip(records, (known, unknown, known), (200, 400, 200)):
        fields = {f: getattr(rec, f) for f in AUDIT_FIELDS}
        assert fields["zap_domain"] == "vault"
        assert fields["zap_address"] == "127.0.0.1"
        assert fields["zap_mechanism"] == "CURVE"
        assert fields["zap_identity"] == keys[0].decode()
        assert fields["zap_status"] == status
        assert fields["zap_reason"] == ("admitted" if status == 200 else "unknown key")
        assert fields["zap_time"].endswith("+00:00")
        assert keys[0].decode() in rec.getMessage()
    assert_no_secret(caplog, known[1], unknown[1], server_secret)


def test_audit_escapes_control_characters(ctx: securemq.Context,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    auth = Authenticator(ctx, rate_limit=None)
    auth.configure_plain(passwords={"u": "p"})
    decide(auth, request(b"PLAIN", b"evil\nINFO forged line", b"x"))
    [rec] = audit_records(caplog)
    assert "\n" not in rec.getMessage()
    assert rec.zap_identity == "evil\\nINFO forged line"  # type: ignore[attr-defined]


# -- rate limiting -----------------------------------------------------------------------


def test_rate_limit_locks_out_then_forgives(ctx: securemq.Context) -> None:
    clock = FakeClock()
    auth = Authenticator(ctx, clock=clock,
                         rate_limit=RateLimit(max_failures=3, window=60, lockout=30))
    auth.configure_plain(passwords={"admin": "right"})
    good = request(b"PLAIN", b"admin", b"right", address=b"192.0.2.1")
    bad = request(b"PLAIN", b"admin", b"wrong", address=b"192.0.2.1")
    elsewhere = request(b"PLAIN", b"admin", b"right", address=b"192.0.2.2")
    for _ in range(2):
        assert decide(auth, bad)[2] == b"400"
        clock.advance(10)
    assert decide(auth, good)[2] == b"200"  # two failures: not yet
    assert decide(auth, bad)[2] == b"400"  # the third locks the address
    assert decide(auth, good)[2] == b"400"  # right password, not even checked
    assert decide(auth, elsewhere)[2] == b"200"  # other addresses unaffected
    clock.advance(29)
    assert decide(auth, good)[2] == b"400"
    clock.advance(2)
    assert decide(auth, good)[2] == b"200"


def test_rate_limit_window_slides(ctx: securemq.Context) -> None:
    clock = FakeClock()
    auth = Authenticator(ctx, clock=clock,
                         rate_limit=RateLimit(max_failures=3, window=60, lockout=60))
    auth.configure_plain(passwords={"admin": "right"})
    bad = request(b"PLAIN", b"admin", b"wrong")
    good = request(b"PLAIN", b"admin", b"right")
    for _ in range(5):  # one failure every 40 s: never three within 60 s
        assert decide(auth, bad)[2] == b"400"
        clock.advance(40)
    assert decide(auth, good)[2] == b"200"


def test_rate_limited_client_refused_at_socket_level(
        rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    clock = FakeClock()
    auth = rig.auth(clock=clock, rate_limit=RateLimit(max_failures=2, window=60, lockout=60))
    auth.configure_plain(passwords={"admin": "right"})
    srv, mon, url = rig.server(plain_server=True)
    for _ in range(2):
        rig.client(url, plain_username=b"admin", plain_password=b"wrong")
        refused(mon)
    rig.client(url, plain_username=b"admin", plain_password=b"right")
    refused(mon)  # 400, not 300: a libzmq client would retry a 300 forever
    assert audit_records(caplog)[-1].zap_reason == "too many failures from this address"  # type: ignore[attr-defined]
    clock.advance(61)
    cli = rig.client(url, plain_username=b"admin", plain_password=b"right")
    admitted(mon)
    round_trip(srv, cli)


def test_rate_limit_memory_is_bounded(ctx: securemq.Context) -> None:
    clock = FakeClock()
    auth = Authenticator(ctx, clock=clock,
                         rate_limit=RateLimit(max_failures=2, max_addresses=50))
    for i in range(500):
        decide(auth, request(b"CURVE", os.urandom(32), address=f"10.0.{i // 256}.{i % 256}"
                             .encode()))
    tracker = auth._tracker
    assert tracker is not None
    assert len(tracker._failures) + len(tracker._locked_until) <= 50


# -- password store ----------------------------------------------------------------------


def test_password_store_hashes_and_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Row 43: salted hashes, compared with hmac.compare_digest."""
    import hmac

    import securemq.auth.passwords as passwords_module

    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(passwords_module.hmac, "compare_digest", spy)
    store = PasswordStore({"alice": "wonder", b"bob": b"builder"}, **FAST)
    assert store.check("alice", "wonder") is PasswordCheck.OK
    assert len(compared) == 1 and b"wonder" not in compared[0]
    assert store.check("nobody", "wonder") is PasswordCheck.UNKNOWN_USER
    assert len(compared) == 2  # the same work for an unknown user
    assert store.check(b"alice", b"wonderx") is PasswordCheck.WRONG_PASSWORD
    assert store.check("carol", "x") is PasswordCheck.UNKNOWN_USER
    assert store.verify("bob", "builder") and not store.verify("bob", "Builder")
    assert len(store) == 2 and "alice" in store and b"bob" in store
    # Two users with one password get different salts, hence different hashes.
    twin = PasswordStore({"x": "same", "y": "same"}, **FAST)
    hx, hy = twin._hashes[b"x"], twin._hashes[b"y"]
    assert hx.salt != hy.salt and hx.digest != hy.digest
    store.remove("alice")
    assert "alice" not in store
    with pytest.raises(KeyError):
        store.remove("alice")
    with pytest.raises(ValueError):
        store.set("", "x")
    with pytest.raises(ValueError):
        store.set("x" * 256, "x")


def test_password_store_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "passwords"
    old_umask = os.umask(0)  # even a permissive umask yields 0600
    try:
        store = PasswordStore({"alice": "wonder-pw", "Zoë:ops": "pässwörd"}, **FAST)
        store.save(path)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = path.read_text()
    assert "wonder-pw" not in text and "pässwörd" not in text
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    assert len(lines) == 2
    assert all("$scrypt$n=1024,r=8,p=1$" in ln for ln in lines)
    loaded = PasswordStore.load(path)
    assert loaded.verify("alice", "wonder-pw")
    assert loaded.verify("Zoë:ops", "pässwörd")
    assert not loaded.verify("alice", "pässwörd")
    assert loaded.dumps() == store.dumps()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".pwstore-")]


@pytest.mark.parametrize(("text", "where"), [
    ("alice\n", ":1:"),
    ("# c\n\nalice:$scrypt$n=1000,r=8,p=1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==\n", ":3:"),
    ("alice:$md5$x\n", ":1:"),
    ("a:$scrypt$n=1024,r=8,p=1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==\n"
     "a:$scrypt$n=1024,r=8,p=1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==\n", ":2:"),
    ("alice:$scrypt$n=1048576,r=32,p=16$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==\n", ":1:"),
])
def test_password_store_rejects_malformed_files(text: str, where: str) -> None:
    with pytest.raises(PasswordStoreError, match=where):
        PasswordStore.loads(text)


def test_password_store_file_reloaded_by_authenticator(
        rig: Rig, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "passwords"
    PasswordStore({"alice": "a-pw"}, **FAST).save(path)
    auth = rig.auth()
    auth.configure_plain(passwords=PasswordStore.load(path))
    srv, mon, url = rig.server(plain_server=True)
    rig.client(url, plain_username=b"bob", plain_password=b"b-pw")
    refused(mon)
    # An administrator adds bob with another process's copy of the store.
    editor = PasswordStore.load(path, **FAST)
    editor.set("bob", "b-pw")
    editor.save()
    cli = rig.client(url, plain_username=b"bob", plain_password=b"b-pw")
    admitted(mon)
    round_trip(srv, cli)
    # A broken edit keeps the last good store and says so.
    caplog.set_level(logging.ERROR, logger="securemq.auth")
    path.write_text("garbage\n")
    cli2 = rig.client(url, plain_username=b"alice", plain_password=b"a-pw")
    admitted(mon)
    round_trip(srv, cli2)
    assert any("not reloaded" in r.getMessage() for r in caplog.records)


def test_password_store_warns_on_loose_mode(tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "passwords"
    PasswordStore({"a": "b"}, **FAST).save(path)
    os.chmod(path, 0o644)
    caplog.set_level(logging.WARNING, logger="securemq.auth")
    PasswordStore.load(path)
    assert any("accessible by group or others" in r.getMessage() for r in caplog.records)


def test_pyzmq_names_are_exported() -> None:
    """``import securemq as zmq`` finds what pyzmq code uses from zmq.auth."""
    import securemq.auth
    import securemq.auth.thread

    for name in ("Authenticator", "CURVE_ALLOW_ANY", "create_certificates",
                 "load_certificate", "load_certificates"):
        assert hasattr(securemq.auth, name)
    assert securemq.auth.CURVE_ALLOW_ANY == "*"
    assert issubclass(securemq.auth.thread.ThreadAuthenticator, securemq.auth.Authenticator)
