"""The CURVE mechanism (RFC 25), which runs the CurveZMQ handshake of RFC 26, sans I/O.

Theory of operation. Four key pairs take part: the long-term keys of the client (C, c)
and the server (S, s), and a transient pair per connection on each side (C', c' and
S', s'). The client knows S beforehand. Commands, each checked as libzmq 4.3.5 checks it
and, where RFC 26 asks for more, more strictly:

``HELLO`` (client → server, exactly 200 octets)
    Version 1.0, 72 zero octets of anti-amplification padding, C', a short nonce and
    Box[64 zero octets](C'→S). It proves that the client knows S.
``WELCOME`` (server → client, 168 octets)
    Box[S' + cookie](S→C') under a random long nonce. The cookie is
    SecretBox[C' + s'](cookie key): the server keeps nothing secret about the client
    until INITIATE brings the cookie back (RFC 26: "SHOULD keep minimal state").
``INITIATE`` (client → server, 257 octets or more)
    The cookie, then Box[C + vouch + metadata](C'→S'), where the vouch is
    Box[C' + S](C→S'): the client's long-term key vouches for this connection's
    transient key and names the server it means to talk to.
``READY`` (server → client, 30 octets or more)
    Box[metadata](S'→C').
``MESSAGE`` (both ways, 33 octets or more)
    Box[flags + payload](C'→S' or S'→C'), one per ZMTP frame.

The INITIATE, READY and MESSAGE boxes use the key that ``crypto_box_beforenm``
precomputes once from (C', s') or (S', c'), so the per-message cost is one
XSalsa20-Poly1305 pass and no Curve25519.

States are named after what comes next (:class:`_State`); the legal (state, command)
pairs are in ``_HANDLERS`` and anything else is refused with the code libzmq reports.

How libzmq 4.3.5 frames traffic (read from ``src/curve_mechanism_base.cpp`` and checked
against libzmq through pyzmq in ``tests/test_curve_mechanism.py``):

* each ZMTP frame travels as one ``MESSAGE`` body in a frame whose outer flags octet has
  neither MORE nor COMMAND set (only LONG when the body needs it), in both directions;
* the inner flags octet carries 0x01 MORE and 0x02 COMMAND; libzmq puts heartbeats
  (``\\x04PING``/``\\x04PONG`` bodies) and, towards ZMTP 3.1 peers, subscriptions
  (``\\x09SUBSCRIBE``/``\\x06CANCEL`` + topic) in boxes with COMMAND set;
* on receipt libzmq wants a body of at least 33 octets starting with ``\\x07MESSAGE`` and
  a short nonce above the last one, and ignores inner flag bits 7-2. We refuse those bits
  (RFC 26: "reserved ... MUST be zero").

Randomness and time are injected (STYLE habit 1). ``random`` (default
:data:`default_random`, libsodium's CSPRNG, never ``os.urandom`` imported here) supplies
transient keys, long nonces and cookie keys. Time matters only for the cookie key's
lifetime; :meth:`Mechanism.receive_command` carries no ``now``, so the clock goes to a
:class:`CookieKeeper`, the one object a socket may share among its connections. By default
a connection keeps its own cookie key, as libzmq does, and needs no clock: the handshake
deadline bounds that key's life, and INITIATE ends it.
"""

from __future__ import annotations

import enum
import hmac
import struct
import threading
from collections.abc import Callable, Sequence
from typing import ClassVar, NoReturn

import nacl.bindings as _nacl
from nacl._sodium import ffi as _ffi  # type: ignore[import-not-found] # libsodium via cffi
from nacl._sodium import lib as _sodium
from nacl.exceptions import CryptoError

from ..constants import ProtocolErrorCode
from ..error import (
    CryptographicError,
    InvalidSequence,
    KeyExchangeError,
    MalformedCommand,
    ProtocolError,
    UnexpectedCommand,
    UnspecifiedProtocolError,
)
from ..zmtp.commands import basic_properties, encode_metadata
from ..zmtp.frames import Buffer
from .base import HandshakeConfig, Mechanism, error_from_peer

#: Where transient keys, long nonces and cookie keys come from unless a mechanism is given
#: its own ``random``: libsodium's CSPRNG. Tests may replace it to make runs repeatable.
default_random: Callable[[int], bytes] = _nacl.randombytes

#: Inner flags of a MESSAGE box (RFC 26 "The MESSAGE Command"; COMMAND is libzmq's).
FLAG_MORE = 0x01
FLAG_COMMAND = 0x02
_RESERVED = 0xFC

KEY_SIZE = 32
#: Full command bodies, name included (RFC 26 grammar).
HELLO_SIZE = 200
WELCOME_SIZE = 168
INITIATE_MIN_SIZE = 257
READY_MIN_SIZE = 30
MESSAGE_MIN_SIZE = 33

_MAX_NONCE = (1 << 64) - 1
_U64 = struct.Struct(">Q")
_BODY_HEAD = struct.Struct(">8sQ")  # MESSAGE name, short nonce
_SHORT_HEAD = struct.Struct(">BB8sQ")  # frame flags and size, then as above
_LONG_HEAD = struct.Struct(">BQ8sQ")
_MESSAGE = b"\x07MESSAGE"
_HELLO = b"\x05HELLO"
_WELCOME = b"\x07WELCOME"
_INITIATE = b"\x08INITIATE"
_READY = b"\x05READY"
_FLAG_OCTETS = tuple(bytes((i,)) for i in range(4))

# Nonce prefixes (RFC 26): 16 octets before a short nonce, 8 before a long one.
_HELLO_PREFIX = b"CurveZMQHELLO---"
_INITIATE_PREFIX = b"CurveZMQINITIATE"
_READY_PREFIX = b"CurveZMQREADY---"
_CLIENT_MESSAGE_PREFIX = b"CurveZMQMESSAGEC"
_SERVER_MESSAGE_PREFIX = b"CurveZMQMESSAGES"
_WELCOME_PREFIX = b"WELCOME-"
_COOKIE_PREFIX = b"COOKIE--"
_VOUCH_PREFIX = b"VOUCH---"


def _zero(buf: bytearray | None) -> None:
    """Overwrite ``buf`` with zeros in place."""
    if buf is not None:
        buf[:] = bytes(len(buf))


def _keypair(random: Callable[[int], bytes]) -> tuple[bytes, bytearray]:
    """A Curve25519 key pair from ``random``: what ``crypto_box_keypair`` computes."""
    secret = bytearray(random(KEY_SIZE))
    return _nacl.crypto_scalarmult_base(bytes(secret)), secret


def _check_key(value: bytes, what: str) -> bytes:
    if len(value) != KEY_SIZE:
        raise ValueError(f"{what} must be {KEY_SIZE} raw octets, got {len(value)}")
    return value


class CookieKeeper:
    """The keys that seal a server's cookies, rotated every ``lifetime`` seconds.

    RFC 26 "The WELCOME Command": the server MUST discard a cookie key after a short
    interval. A key seals cookies for ``lifetime`` seconds after it is made and opens them
    for ``lifetime`` more, then is zeroed and dropped, so a cookie stays valid for
    between one and two lifetimes (60 to 120 s by default, as in CurveCP).

    One keeper may be shared by the connections of a socket, which keeps each half-open
    connection free of secrets; it is not thread-safe, so share it only within one I/O
    thread. Without a ``clock`` the key never rotates: that is the private keeper a
    :class:`CurveMechanism` makes when given none (libzmq's behaviour: a fresh key per
    connection, discarded with the INITIATE).

    Args:
        clock: returns the current time in seconds (e.g. ``time.monotonic``), or None.
        lifetime: seconds a key seals cookies.
        random: source of key octets, :data:`default_random` when None.
    """

    def __init__(self, clock: Callable[[], float] | None = None, *, lifetime: float = 60.0,
                 random: Callable[[int], bytes] | None = None) -> None:
        self._clock = clock
        self._lifetime = lifetime
        self._random = random
        # (birth time, key), newest first; at most two are alive at any time.
        self._keys: list[tuple[float, bytearray]] = []

    def sealing_key(self) -> bytes:
        """The key to seal a new cookie with, made afresh once the current one is too old."""
        now = self._expire()
        if not self._keys or (self._clock is not None and now - self._keys[0][0] >= self._lifetime):
            random = self._random if self._random is not None else default_random
            self._keys.insert(0, (now, bytearray(random(_nacl.crypto_secretbox_KEYBYTES))))
        return bytes(self._keys[0][1])

    def opening_keys(self) -> list[bytes]:
        """The keys that may have sealed a cookie still valid now, newest first."""
        self._expire()
        return [bytes(key) for _, key in self._keys]

    def wipe(self) -> None:
        """Zero and drop every key."""
        for _, key in self._keys:
            _zero(key)
        self._keys = []

    def _expire(self) -> float:
        """Zero and drop the keys past both lifetimes; return the time now."""
        if self._clock is None:
            return 0.0
        now = self._clock()
        while self._keys and now - self._keys[-1][0] >= 2 * self._lifetime:
            _zero(self._keys.pop()[1])
        return now


class _State(enum.Enum):
    """What the mechanism expects next."""

    START = "start"                        # client, before start() sends HELLO
    EXPECT_HELLO = "expect-hello"          # server
    EXPECT_WELCOME = "expect-welcome"      # client, HELLO sent
    EXPECT_INITIATE = "expect-initiate"    # server, WELCOME sent
    EXPECT_ZAP_REPLY = "expect-zap-reply"  # server, INITIATE valid, ZAP request out
    EXPECT_READY = "expect-ready"          # client, INITIATE sent
    TRAFFIC = "traffic"                    # handshake done: seal and open
    CLOSED = "closed"                      # failed or wiped: nothing more


class CurveMechanism(Mechanism):
    """CURVE security: authenticated, encrypted connections (RFC 25 and RFC 26).

    The role comes from ``config.as_server``. A server needs ``curve_secretkey``; a client
    needs ``curve_publickey``, ``curve_secretkey`` and ``curve_serverkey`` (32 raw octets
    each). A server admits a client by its long-term public key, which it hands to a ZAP
    handler (RFC 27) when :meth:`Mechanism.zap_required` says so.

    Secrets (long-term and transient secret keys, the precomputed session key, a
    private cookie key) live in ``bytearray`` objects that :meth:`wipe` zeroes, and each
    is zeroed as soon as the handshake no longer needs it. That is as far as Python
    allows: the caller's ``HandshakeConfig`` keeps the long-term secret in an immutable
    ``bytes``; PyNaCl takes and returns immutable ``bytes``, so every cryptographic call
    makes short-lived copies (of the session key on each seal and open, of s' when a
    cookie is opened) that the allocator frees without zeroing; and plaintexts are never
    ours to wipe.

    Args:
        config: the handshake's socket options.
        peer_address: the peer's address, for ZAP requests.
        random: source of random octets (:data:`default_random` when None).
        cookie_keeper: server only: a :class:`CookieKeeper` shared by the connections of a
            socket; by default each connection has its own key, zeroed after INITIATE.

    Raises:
        ValueError: a key this role needs is not 32 octets.
    """

    name = b"CURVE"
    encrypts: ClassVar[bool] = True

    def __init__(self, config: HandshakeConfig, peer_address: str = "", *,
                 random: Callable[[int], bytes] | None = None,
                 cookie_keeper: CookieKeeper | None = None) -> None:
        super().__init__(config, peer_address)
        self.as_server = config.as_server
        self._random = random if random is not None else default_random
        self._secret = bytearray(_check_key(config.curve_secretkey, "curve_secretkey"))
        # The session key (C', s') or (S', c'), once known, and the traffic path's
        # reused buffers (plaintext staging; nonces with their fixed prefixes).
        self._key: bytearray | None = None
        self._key_c: object = None
        self._stage = bytearray(256)
        self._stage_c = _ffi.from_buffer(self._stage)
        self._stage_view = memoryview(self._stage)
        # Traffic may be sealed in one thread while it is opened in another (each under
        # its connection's write or read lock). A failed open wipes the session key:
        # this lock makes the wipe wait for a seal in progress, so that nothing is ever
        # sealed with a half-zeroed key.
        self._seal_lock = threading.Lock()
        # Our transient secret key (the client's c'; a server's s' lives only in cookies).
        self._cn_secret: bytearray | None = None
        self._send_nonce = 1          # libzmq starts at 1 too
        self._recv_nonce = -1         # the peer's last short nonce; none seen yet
        self._own_transient = b""     # the client's C'
        self._peer_transient = b""    # C' (server) or S' (client)
        self._cookie = b""            # client: the WELCOME's cookie; server: its nonce
        self._cookies: CookieKeeper | None = None
        if self.as_server:
            self._public = _nacl.crypto_scalarmult_base(bytes(self._secret))
            self._server_key = self._public
            self._own_keeper = cookie_keeper is None
            self._cookies = cookie_keeper if cookie_keeper is not None else CookieKeeper(
                random=self._random)
            self._send_prefix = _SERVER_MESSAGE_PREFIX
            self._recv_prefix = _CLIENT_MESSAGE_PREFIX
            self._state = _State.EXPECT_HELLO
        else:
            self._public = _check_key(config.curve_publickey, "curve_publickey")
            self._server_key = _check_key(config.curve_serverkey, "curve_serverkey")
            self._own_keeper = False
            self._send_prefix = _CLIENT_MESSAGE_PREFIX
            self._recv_prefix = _SERVER_MESSAGE_PREFIX
            self._state = _State.START

    # -- handshake -------------------------------------------------------------------------

    def start(self) -> list[bytes]:
        """The client sends HELLO at once; the server waits for it.

        Raises:
            CryptographicError: the server key is unusable (all zeros, say): libzmq
                reports a HELLO it cannot box the same way.
        """
        if self._state is not _State.START:
            return []
        self._state = _State.EXPECT_WELCOME
        self._own_transient, self._cn_secret = _keypair(self._random)
        short = self._next_nonce()
        try:
            signature = _nacl.crypto_box_easy(bytes(64), _HELLO_PREFIX + short,
                                              self._server_key, bytes(self._cn_secret))
        except CryptoError:
            self._fail()
            raise CryptographicError("cannot box HELLO for this server key") from None
        # RFC 26 "The HELLO Command": version 1.0, then 72 zero octets of padding so that
        # HELLO is larger than WELCOME (anti-amplification).
        return [b"".join((_HELLO, b"\x01\x00", bytes(72), self._own_transient, short,
                          signature))]

    def receive_command(self, name: bytes, data: bytes) -> list[bytes]:
        """Consume one handshake command; return the command bodies to send.

        Raises:
            UnexpectedCommand: not a command this state accepts.
            UnspecifiedProtocolError: a command while the server waits for ZAP (libzmq's
                code for it).
            MalformedCommand: wrong size or a bad fixed field (HELLO version, padding).
            CryptographicError: a box does not open, or the cookie is not this
                connection's.
            KeyExchangeError: the vouch names another transient key or another server.
            InvalidSequence: a short nonce did not increase.
            InvalidMetadata: the peer's metadata is malformed or its socket type is wrong.
            AuthenticationFailed: the server refused us with ERROR and a ZAP status code.
        """
        handler = _HANDLERS.get((self._state, name))
        if handler is None:
            state = self._state
            self._fail()
            text = name.decode("ascii", "replace")
            if state is _State.EXPECT_ZAP_REPLY:
                # libzmq's curve_server calls this an "invalid handshake command".
                raise UnspecifiedProtocolError(f"{text} while the server waits for ZAP")
            raise UnexpectedCommand(f"unexpected {text} in CURVE state {state.value}")
        try:
            return handler(self, data)
        except ProtocolError:
            self._fail()
            raise

    def receive_zap_reply(self, frames: list[bytes]) -> list[bytes]:
        """Consume the ZAP handler's reply; return READY if it admits the client.

        Raises:
            ZapError: the reply is malformed.
            AuthenticationFailed: the handler refused; ``error_reply`` holds the ERROR to
                send, except for status 300.
            RuntimeError: no ZAP request is pending (a driver mistake).
        """
        if self._state is not _State.EXPECT_ZAP_REPLY:
            raise RuntimeError("no ZAP request is pending")
        try:
            return super().receive_zap_reply(frames)
        except ProtocolError:
            self._fail()
            raise

    def zap_admitted(self) -> list[bytes]:
        """Return READY, Box[metadata](S'→C'): the client passed ZAP or none is asked."""
        if self._state is not _State.EXPECT_ZAP_REPLY or self._key is None:
            raise RuntimeError(f"cannot admit a client in CURVE state {self._state.value}")
        props = basic_properties(self.config.socket_type, self.config.routing_id,
                                 self.config.metadata)
        short = self._next_nonce()
        box = _nacl.crypto_box_easy_afternm(encode_metadata(props), _READY_PREFIX + short,
                                            bytes(self._key))
        self._state = _State.TRAFFIC
        self.done = True
        return [b"".join((_READY, short, box))]

    # The handlers get the command data, after the name; offsets below are into it.

    def _on_hello(self, data: bytes) -> list[bytes]:
        """Server: check HELLO (RFC 26 "The HELLO Command"); answer WELCOME."""
        code = ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_HELLO
        if len(_HELLO) + len(data) != HELLO_SIZE:
            raise MalformedCommand(f"HELLO must be {HELLO_SIZE} octets", code)
        if data[0:2] != b"\x01\x00":
            raise MalformedCommand(f"HELLO version {data[0]}.{data[1]} is not 1.0", code)
        # RFC 26: "The server SHALL validate all fields"; libzmq skips the padding.
        if any(data[2:74]):
            raise MalformedCommand("HELLO padding is not all zero", code)
        client_transient, short = data[74:106], data[106:114]
        try:
            signature = _nacl.crypto_box_open_easy(data[114:194], _HELLO_PREFIX + short,
                                                   client_transient, bytes(self._secret))
        except CryptoError:
            raise CryptographicError("cannot open HELLO: wrong server key?") from None
        if any(signature):
            raise MalformedCommand("HELLO signature box does not hold 64 zero octets", code)
        self._recv_nonce = _U64.unpack(short)[0]
        self._peer_transient = client_transient
        return [self._welcome()]

    def _welcome(self) -> bytes:
        """Build WELCOME, Box[S' + cookie](S→C'); the cookie carries C' and s'."""
        assert self._cookies is not None
        public, secret = _keypair(self._random)
        cookie_nonce = self._random(16)
        try:
            cookie_box = _nacl.crypto_secretbox_easy(
                self._peer_transient + bytes(secret), _COOKIE_PREFIX + cookie_nonce,
                self._cookies.sealing_key())
        finally:
            # RFC 26: the server "SHALL not keep this transient key pair": from now on s'
            # exists only inside the cookie.
            _zero(secret)
        welcome_nonce = self._random(16)
        box = _nacl.crypto_box_easy(public + cookie_nonce + cookie_box,
                                    _WELCOME_PREFIX + welcome_nonce,
                                    self._peer_transient, bytes(self._secret))
        # The one thing kept besides C' and the HELLO nonce, all public: which cookie this
        # connection issued, so that an old cookie replayed on a new connection is refused
        # even while a shared cookie key still opens it (SECURITY-TESTS row 16).
        self._cookie = cookie_nonce
        self._state = _State.EXPECT_INITIATE
        return b"".join((_WELCOME, welcome_nonce, box))

    def _on_welcome(self, data: bytes) -> list[bytes]:
        """Client: open WELCOME (RFC 26 "The WELCOME Command"); answer INITIATE."""
        if len(_WELCOME) + len(data) != WELCOME_SIZE:
            # libzmq reports a WELCOME of the wrong size as CRYPTOGRAPHIC; the code named
            # after the command says more (SECURITY-TESTS row 22).
            raise MalformedCommand(f"WELCOME must be {WELCOME_SIZE} octets",
                                   ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_WELCOME)
        assert self._cn_secret is not None
        cn_secret = bytes(self._cn_secret)
        try:
            plain = _nacl.crypto_box_open_easy(data[16:], _WELCOME_PREFIX + data[:16],
                                               self._server_key, cn_secret)
            self._traffic_keys(_nacl.crypto_box_beforenm(plain[:32], cn_secret))
        except CryptoError:
            raise CryptographicError("cannot open WELCOME") from None
        # c' has done its work: the session key serves from here on.
        _zero(self._cn_secret)
        self._cn_secret = None
        self._peer_transient = plain[:32]
        self._cookie = plain[32:128]
        return [self._initiate()]

    def _initiate(self) -> bytes:
        """Build INITIATE: the cookie, then Box[C + vouch + metadata](C'→S')."""
        assert self._key is not None
        # The vouch, Box[C' + S](C→S'): our long-term key vouches for this connection's
        # transient key and names the server we mean (RFC 26 "Differences from CurveCP").
        vouch_nonce = self._random(16)
        try:
            vouch = _nacl.crypto_box_easy(self._own_transient + self._server_key,
                                          _VOUCH_PREFIX + vouch_nonce,
                                          self._peer_transient, bytes(self._secret))
        except CryptoError:
            raise CryptographicError("cannot box the vouch for this server") from None
        # The long-term secret key has no further use on this connection.
        _zero(self._secret)
        props = basic_properties(self.config.socket_type, self.config.routing_id,
                                 self.config.metadata)
        short = self._next_nonce()
        box = _nacl.crypto_box_easy_afternm(
            b"".join((self._public, vouch_nonce, vouch, encode_metadata(props))),
            _INITIATE_PREFIX + short, bytes(self._key))
        self._state = _State.EXPECT_READY
        return b"".join((_INITIATE, self._cookie, short, box))

    def _on_initiate(self, data: bytes) -> list[bytes]:
        """Server: check INITIATE (RFC 26 "The INITIATE Command"); answer READY or ask ZAP."""
        if len(_INITIATE) + len(data) < INITIATE_MIN_SIZE:
            raise MalformedCommand(f"INITIATE must be at least {INITIATE_MIN_SIZE} octets",
                                   ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_INITIATE)
        cookie = self._open_cookie(data[:16], data[16:96])
        try:
            # libzmq reports a cookie for another client key as CRYPTOGRAPHIC too.
            if not hmac.compare_digest(bytes(cookie[:32]), self._peer_transient):
                raise CryptographicError("INITIATE cookie holds another client key")
            short = data[96:104]
            nonce = _U64.unpack(short)[0]
            # RFC 26: the client's short nonces SHALL increase; libzmq does not compare
            # INITIATE's with HELLO's.
            if nonce <= self._recv_nonce:
                raise InvalidSequence("INITIATE short nonce does not follow HELLO's")
            server_transient_secret = bytes(cookie[32:])
            try:
                key = _nacl.crypto_box_beforenm(self._peer_transient, server_transient_secret)
                plain = _nacl.crypto_box_open_easy_afternm(
                    data[104:], _INITIATE_PREFIX + short, key)
            except CryptoError:
                raise CryptographicError("cannot open INITIATE box") from None
            client_key = plain[:32]
            try:
                vouch = _nacl.crypto_box_open_easy(
                    plain[48:128], _VOUCH_PREFIX + plain[32:48], client_key,
                    server_transient_secret)
            except CryptoError:
                raise CryptographicError("cannot open the vouch with the client's key") from None
        finally:
            _zero(cookie)
        # The vouch must name this connection's C' (as libzmq checks) and our own S
        # (RFC 26; libzmq does not check it): a vouch lifted from a connection to another
        # server, or for another transient key, does not authenticate this one.
        if not hmac.compare_digest(vouch[:32], self._peer_transient):
            raise KeyExchangeError("the vouch is for another transient client key")
        if not hmac.compare_digest(vouch[32:64], self._public):
            raise KeyExchangeError("the vouch names another server")
        self.peer_metadata = self.check_peer_metadata(plain[128:])
        self._traffic_keys(key)
        self._recv_nonce = nonce
        self._state = _State.EXPECT_ZAP_REPLY
        if self.zap_required():
            # RFC 27: the credential of CURVE is the client's long-term public key.
            self.build_zap_request([client_key])
            return []
        return self.zap_admitted()

    def _open_cookie(self, nonce: bytes, box: bytes) -> bytearray:
        """Open the INITIATE's cookie; return C' + s'.

        Raises:
            CryptographicError: this connection did not issue the cookie, or its key
                has expired, as libzmq reports a cookie it cannot open.
        """
        assert self._cookies is not None
        keys = self._cookies.opening_keys()
        if self._own_keeper:
            # RFC 26: discard the cookie key "as soon as the client sends a valid
            # INITIATE"; a private key serves nothing else, valid INITIATE or not.
            self._cookies.wipe()
        if hmac.compare_digest(nonce, self._cookie):
            for key in keys:
                try:
                    return bytearray(_nacl.crypto_secretbox_open_easy(
                        box, _COOKIE_PREFIX + nonce, key))
                except CryptoError:
                    continue
        raise CryptographicError("cannot open the INITIATE cookie (not ours, or expired)")

    def _on_ready(self, data: bytes) -> list[bytes]:
        """Client: open READY (RFC 26 "The READY Command"); the handshake is done."""
        if len(_READY) + len(data) < READY_MIN_SIZE:
            raise MalformedCommand(f"READY must be at least {READY_MIN_SIZE} octets",
                                   ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_READY)
        assert self._key is not None
        short = data[:8]
        try:
            plain = _nacl.crypto_box_open_easy_afternm(data[8:], _READY_PREFIX + short,
                                                       bytes(self._key))
        except CryptoError:
            raise CryptographicError("cannot open READY") from None
        self.peer_metadata = self.check_peer_metadata(plain)
        # The server's first short nonce: any value starts its sequence (as in libzmq).
        self._recv_nonce = _U64.unpack(short)[0]
        self._state = _State.TRAFFIC
        self.done = True
        return []

    def _on_error(self, data: bytes) -> list[bytes]:
        """Client: the server refused us (RFC 26 "The ERROR Command")."""
        if not data or data[0] + 1 > len(data):
            raise MalformedCommand("malformed ERROR command",
                                   ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_ERROR)
        raise error_from_peer(data)

    # -- traffic ---------------------------------------------------------------------------

    def seal(self, flags: int, payload: Buffer) -> bytes | bytearray:
        """Return the MESSAGE body carrying one frame: ``\\x07MESSAGE``, nonce, box.

        Send it in a frame with outer flags 0 (no MORE, no COMMAND), as libzmq does;
        MORE and COMMAND travel in ``flags``, inside the box.

        Raises:
            ValueError: ``flags`` has bits other than MORE (0x01) and COMMAND (0x02).
            RuntimeError: the handshake is not done, or the mechanism was wiped.
            InvalidSequence: 2^64-1 messages were sent (RFC 26: no more are allowed).
        """
        if flags & ~(FLAG_MORE | FLAG_COMMAND):
            raise ValueError(f"inner flags may only be MORE and COMMAND, not {flags:#x}")
        return self._seal(flags, payload, False)

    def seal_frame(self, flags: int, payload: Buffer) -> bytes | bytearray:
        """:meth:`seal`, with the ZMTP frame header (outer flags 0) in front.

        The connection's traffic path: one buffer per frame, built in one piece.

        Raises:
            ValueError, RuntimeError, InvalidSequence: as :meth:`seal`.
        """
        if flags & ~(FLAG_MORE | FLAG_COMMAND):
            raise ValueError(f"inner flags may only be MORE and COMMAND, not {flags:#x}")
        return self._seal(flags, payload, True)

    def seal_messages(self, messages: Sequence[Sequence[Buffer]],
                      append: Callable[[Buffer], None]) -> int:
        """Seal every frame of ``messages`` into framed MESSAGEs passed to ``append``.

        The connection's batch path: :meth:`seal_frame` for many frames in one loop,
        with what every frame needs looked up once (at 64 B the lookups and checks of a
        call per frame cost as much as the cipher). Returns the octets appended.

        Raises:
            RuntimeError: the handshake is not done, or the mechanism was wiped.
            InvalidSequence: the short nonces would run out (RFC 26: 2^64-1 commands).
        """
        with self._seal_lock:
            return self._seal_messages(messages, append)

    def _seal_messages(self, messages: Sequence[Sequence[Buffer]],
                       append: Callable[[Buffer], None]) -> int:
        if self._state is not _State.TRAFFIC:
            raise RuntimeError("CURVE traffic before the handshake is done or after wipe()")
        n = self._send_nonce
        if n + sum(len(m) for m in messages) > _MAX_NONCE + 1:
            raise InvalidSequence("short nonces exhausted: RFC 26 allows 2^64-1 commands")
        nonce_buf = self._send_nonce_buf
        nonce_c = self._send_nonce_c
        key_c = self._key_c
        encrypt = _sodium.crypto_box_easy_afternm
        from_buffer = _ffi.from_buffer
        pack_nonce = _U64.pack_into
        pack_short = _SHORT_HEAD.pack_into
        total = 0
        try:
            for msg in messages:
                last = len(msg) - 1
                for i, payload in enumerate(msg):
                    # As _seal: header, MESSAGE, nonce, room for the MAC, inner flags,
                    # then the payload, encrypted in place (MORE travels inside).
                    size = len(payload) + 1
                    body_size = 32 + size
                    if body_size < 256:
                        frame = bytearray(35)
                        pack_short(frame, 0, 0, body_size, _MESSAGE, n)
                        box = 18
                    else:
                        frame = bytearray(42)
                        _LONG_HEAD.pack_into(frame, 0, 0x02, body_size, _MESSAGE, n)
                        box = 25
                    if i < last:
                        frame[box + 16] = FLAG_MORE
                    frame += payload
                    pack_nonce(nonce_buf, 16, n)
                    c = from_buffer(frame) + box
                    encrypt(c, c + 16, size, nonce_c, key_c)
                    n += 1
                    append(frame)
                    total += len(frame)
        finally:
            self._send_nonce = n
        return total

    def _seal(self, flags: int, payload: Buffer, framed: bool) -> bytes | bytearray:
        with self._seal_lock:
            return self._seal_locked(flags, payload, framed)

    def _seal_locked(self, flags: int, payload: Buffer, framed: bool) -> bytes | bytearray:
        if self._state is not _State.TRAFFIC:
            raise RuntimeError("CURVE traffic before the handshake is done or after wipe()")
        n = self._send_nonce
        if n > _MAX_NONCE:
            raise InvalidSequence("short nonces exhausted: RFC 26 allows 2^64-1 commands")
        self._send_nonce = n + 1
        # Built in one buffer: [frame header] MESSAGE, short nonce, MAC, flags, payload.
        # The plaintext is copied in once, at its final place, and libsodium encrypts
        # it there (in-place encryption: the box starts 16 octets before the plaintext,
        # where the MAC goes). libsodium is called directly, not through PyNaCl's
        # wrappers, which cost as much again as the cipher at 64 B.
        size = len(payload) + 1
        body_size = 32 + size
        # The head is made at its size and the payload appended: one allocation and
        # one copy (writing into a pre-sized buffer touches its fresh pages twice).
        if not framed:
            head = 0
            frame = bytearray(33)
            _BODY_HEAD.pack_into(frame, 0, _MESSAGE, n)
        elif body_size < 256:
            head = 2
            frame = bytearray(35)
            _SHORT_HEAD.pack_into(frame, 0, 0, body_size, _MESSAGE, n)
        else:
            head = 9
            frame = bytearray(42)
            _LONG_HEAD.pack_into(frame, 0, 0x02, body_size, _MESSAGE, n)  # LONG flag
        box = head + 16
        frame[box + 16] = flags
        frame += payload
        _U64.pack_into(self._send_nonce_buf, 16, n)
        c = _ffi.from_buffer(frame) + box
        _sodium.crypto_box_easy_afternm(c, c + 16, size, self._send_nonce_c, self._key_c)
        return frame

    def _staging(self, size: int) -> bytearray:
        """The reused plaintext buffer, grown to hold ``size`` octets."""
        if len(self._stage) < size:
            self._stage_view.release()
            self._stage = bytearray(max(size, 2 * len(self._stage)))
            self._stage_c = _ffi.from_buffer(self._stage)
            self._stage_view = memoryview(self._stage)
        return self._stage

    def open(self, body: Buffer) -> tuple[int, bytes]:
        """Open a MESSAGE body; return its inner flags (MORE, COMMAND) and payload.

        The checks and their codes follow libzmq's ``curve_encoding_t::decode``, plus the
        reserved flag bits, which RFC 26 says MUST be zero and libzmq ignores.

        Raises:
            MalformedCommand: shorter than a command name says (UNSPECIFIED), shorter
                than 33 octets or with reserved inner flags set (MESSAGE).
            UnexpectedCommand: not a MESSAGE.
            InvalidSequence: the short nonce does not increase: a replay (RFC 26).
            CryptographicError: the box does not open: altered, truncated or forged.
            RuntimeError: the handshake is not done, or the mechanism was wiped.
        """
        opened: list[tuple[int, bytes]] = []
        self.open_frames(((body,),), opened)
        return opened[0]

    def open_frames(self, messages: Sequence[Sequence[Buffer]],
                    out: list[tuple[int, bytes]]) -> None:
        """:meth:`open` every body of ``messages``, appending (flags, payload) to ``out``.

        The connection's batch path (and :meth:`open`'s), with what every box needs
        looked up once. On a failure ``out`` holds what was opened before it, which is
        still delivered. The checks follow libzmq's ``curve_encoding_t::decode``, as
        :meth:`open` says.

        Raises:
            As :meth:`open`.
        """
        if self._state is not _State.TRAFFIC:
            raise RuntimeError("CURVE traffic before the handshake is done or after wipe()")
        recv = self._recv_nonce
        nonce_buf = self._recv_nonce_buf
        nonce_c = self._recv_nonce_c
        key_c = self._key_c
        decrypt = _sodium.crypto_box_open_easy_afternm
        from_buffer = _ffi.from_buffer
        unpack_nonce = _U64.unpack_from
        pack_nonce = _U64.pack_into
        append = out.append
        try:
            for msg in messages:
                for body in msg:
                    size = len(body)
                    if size < MESSAGE_MIN_SIZE or body[:8] != _MESSAGE:
                        self._refuse_short(body)
                    (nonce,) = unpack_nonce(body, 8)
                    if nonce <= recv:
                        # RFC 26: "SHALL disconnect ... peers that reuse a short nonce"
                        # (CVE-2014-7203).
                        self._fail()
                        raise InvalidSequence(f"MESSAGE nonce {nonce} does not follow {recv}")
                    pack_nonce(nonce_buf, 16, nonce)
                    plain = size - 32
                    if len(self._stage) < plain:
                        self._staging(plain)
                    # A short body is passed as a bytes slice: cffi hands its octets
                    # over as they are, which costs a third of wrapping it with
                    # from_buffer; a long one would cost its copy.
                    boxed = body[16:] if size <= 2048 and type(body) is bytes \
                        else from_buffer(body) + 16
                    if decrypt(self._stage_c, boxed, size - 16, nonce_c, key_c):
                        self._fail()
                        raise CryptographicError("cannot open MESSAGE box")
                    stage = self._stage_view
                    flags = stage[0]
                    if flags & _RESERVED:
                        self._fail()
                        raise MalformedCommand(
                            f"reserved MESSAGE flag bits set: {flags:#04x}",
                            ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_MESSAGE)
                    recv = nonce
                    append((flags, stage[1:plain].tobytes()))
        finally:
            self._recv_nonce = recv

    def _refuse_short(self, body: Buffer) -> NoReturn:
        """Raise what libzmq reports for a frame too short or not a MESSAGE."""
        self._fail()
        size = len(body)
        if size <= 1 or size <= body[0]:
            raise MalformedCommand("command name runs past the end of the frame",
                                   ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_UNSPECIFIED)
        if body[:8] != _MESSAGE:
            raise UnexpectedCommand("traffic frame is not a CURVE MESSAGE")
        raise MalformedCommand(f"MESSAGE must be at least {MESSAGE_MIN_SIZE} octets",
                               ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_MESSAGE)

    def _traffic_keys(self, key: bytes) -> None:
        """Keep the session key and the buffers the traffic path reuses."""
        self._key = bytearray(key)
        self._key_c = _ffi.from_buffer(self._key)
        self._send_nonce_buf = bytearray(self._send_prefix + bytes(8))
        self._send_nonce_c = _ffi.from_buffer(self._send_nonce_buf)
        self._recv_nonce_buf = bytearray(self._recv_prefix + bytes(8))
        self._recv_nonce_c = _ffi.from_buffer(self._recv_nonce_buf)

    # -- housekeeping ----------------------------------------------------------------------

    def wipe(self) -> None:
        """Zero every secret this mechanism holds; it accepts nothing afterwards.

        Called by the connection when it ends, whatever the reason, and by a failed
        open, possibly while another thread seals (it waits for that seal to finish).
        Never called while another thread opens: the connection's read lock sees to it.
        See the class docstring for the copies Python keeps out of reach.
        """
        with self._seal_lock:
            self._state = _State.CLOSED
            _zero(self._secret)
            _zero(self._cn_secret)
            _zero(self._key)
            self._stage_view[:] = bytes(len(self._stage))  # the last plaintext staged
            self._cn_secret = None
            self._key = None
            self._key_c = None
            if self._own_keeper and self._cookies is not None:
                self._cookies.wipe()

    def _next_nonce(self) -> bytes:
        """Take our next short nonce (RFC 26: an incrementing integer, from 1 as libzmq)."""
        n = self._send_nonce
        if n > _MAX_NONCE:
            raise InvalidSequence("short nonces exhausted: RFC 26 allows 2^64-1 commands")
        self._send_nonce = n + 1
        return _U64.pack(n)

    def _fail(self) -> None:
        """The peer broke the protocol: no more input, and no secrets left behind."""
        self.wipe()


_HANDLERS: dict[tuple[_State, bytes], Callable[[CurveMechanism, bytes], list[bytes]]] = {
    (_State.EXPECT_HELLO, b"HELLO"): CurveMechanism._on_hello,
    (_State.EXPECT_INITIATE, b"INITIATE"): CurveMechanism._on_initiate,
    (_State.EXPECT_WELCOME, b"WELCOME"): CurveMechanism._on_welcome,
    (_State.EXPECT_WELCOME, b"ERROR"): CurveMechanism._on_error,
    (_State.EXPECT_READY, b"READY"): CurveMechanism._on_ready,
    (_State.EXPECT_READY, b"ERROR"): CurveMechanism._on_error,
}

__all__ = ["FLAG_COMMAND", "FLAG_MORE", "CookieKeeper", "CurveMechanism", "default_random"]
