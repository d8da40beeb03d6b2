"""Fuzz the TLS filter: a control octet, a split-plan octet, then what the peer sends.

The control octet picks our role and settings. Bit 0x01: a client (the filter has
written its ClientHello, the input plays the server), else a server (the input plays the
client). Bit 0x02: a server requires a client certificate; a client checks the pin only
(no CA, no name: ``tls_verify=0`` with ``tls_pins``, where OpenSSL checks nothing and
every certificate reaches the filter). Bit 0x04: TLS 1.3 only. The split-plan octet cuts
the stream as :func:`fuzz._common.chunks` does.

Invariant: ``receive`` returns bytes or raises :class:`TlsAuthFailure` or
:class:`TlsProtocolFailure` with a :class:`TlsReason` (never another exception); the
handshake never completes and no plaintext comes out (completing it takes our ephemeral
key, which the input cannot know); once failed the filter stays failed and quiet (every
``receive`` returns nothing, ``send`` returns only what was pending, then nothing); and
the outcome, failure class and reason, does not depend on how the stream is split.

The SSL contexts are built once, at import, so that an iteration costs one filter.
"""

from __future__ import annotations

import random
import ssl

import trustme

from securemq.transport.tls import (
    TlsAuthFailure,
    TlsFailure,
    TlsFilter,
    TlsProtocolFailure,
    TlsReason,
    TlsSettings,
)
from securemq.zmtp.greeting import build_greeting

from ._common import chunks, run_main

CLIENT, STRICT, TLS13 = 0x01, 0x02, 0x04


def _contexts() -> list[TlsSettings]:
    """The eight settings, indexed by the control octet's low three bits."""
    ca = trustme.CA()
    server_leaf = ca.issue_cert("localhost")
    client_leaf = ca.issue_cert("client.example")
    result = []
    for ctrl in range(8):
        if ctrl & CLIENT:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            client_leaf.configure_cert(ctx)
            if ctrl & STRICT:  # pin only: OpenSSL accepts any certificate
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                pins = frozenset({bytes(32)})
            else:
                ca.configure_trust(ctx)
                pins = frozenset()
        else:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server_leaf.configure_cert(ctx)
            ca.configure_trust(ctx)
            ctx.verify_mode = ssl.CERT_REQUIRED if ctrl & STRICT else ssl.CERT_OPTIONAL
            pins = frozenset()
        if ctrl & TLS13:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        result.append(TlsSettings(ctx, pins, "localhost" if ctrl & CLIENT else None))
    return result


_SETTINGS = _contexts()
#: A record that would carry plaintext, fed after a failure.
_LATE = b"\x17\x03\x03\x00\x05hello"


def _run(stream: bytes, plan: int, ctrl: int) -> tuple[object, ...]:
    """Feed ``stream`` split by ``plan``; check the invariant; return the outcome."""
    tls = TlsFilter(_SETTINGS[ctrl & 7], server_side=not ctrl & CLIENT)
    tls.data_to_send()  # a client's ClientHello
    # Held until the peer is verified: nothing leaves now.
    assert tls.send([b"held until the peer is verified"]) == b""
    outcome: tuple[object, ...] = ()
    for piece in chunks(stream, plan):
        if outcome:
            assert tls.receive(piece) == b"", "a failed filter read more"
            continue
        try:
            plain = tls.receive(piece)
        except TlsFailure as exc:
            assert type(exc) in (TlsAuthFailure, TlsProtocolFailure), type(exc)
            assert isinstance(exc.tls_reason, TlsReason), exc.tls_reason
            assert exc.event_value == int(exc.tls_reason)
            assert exc.reason
            assert tls.failed, "failure raised but not recorded"
            outcome = (type(exc).__name__, exc.tls_reason)
            continue
        assert type(plain) is bytes, type(plain)
        assert plain == b"", "plaintext from an unverified peer"
        assert not tls.failed
    assert not tls.established, "a handshake completed without our key"
    assert tls.peer_certificate is None and tls.peer_pin == b""
    if outcome:
        assert tls.failed
        tls.send([b"after the failure"])  # only what was pending (an alert)
        assert tls.data_to_send() == b"" and not tls.wants_write
        assert tls.send([b"again"]) == b""
        assert tls.receive(_LATE) == b""
        assert tls.data_to_send() == b""
    else:
        assert not tls.failed
    tls.close()  # never raises, before the handshake: only what is pending
    assert not tls.wants_write
    return outcome


def TestOneInput(data: bytes) -> None:
    if len(data) < 2:
        return
    ctrl, plan, stream = data[0], data[1], data[2:]
    reference = _run(stream, 0, ctrl)
    assert _run(stream, plan, ctrl) == reference, "split changed the outcome"


# -- seeds -------------------------------------------------------------------------------------

# A ClientHello from TlsFilter (client, hostname "localhost", CPython 3.11, OpenSSL 3.0):
# TLS 1.3 and 1.2 suites, SNI, x25519 key share, then 228 octets of padding extension.
CLIENT_HELLO = bytes.fromhex(
    "1603010200010001fc0303cc3aab709294eb7d3aa920d33c0eacad914937ddcd58bf60cd78c73fa0e5f6a7"
    "2048325d529d802775dd067489fbd4aa3107c8b18fcc4e6a055f8afa84be40c95a0024130213031301c02c"
    "c030c02bc02fcca9cca8c024c028c023c027009f009e006b006700ff0100018f0000000e000c0000096c6f"
    "63616c686f7374000b000403000102000a00160014001d0017001e00190018010001010102010301040023"
    "00000016000000170000000d002a0028040305030603080708080809080a080b0804080508060401050106"
    "01030303010302040205020602002b00050403040303002d00020101003300260024001d0020999642a897"
    "6396a8062a9da61a9c03728774ac5e36299b540cd746a8fbb8b77a001500e4"
) + bytes(228)
# The ServerHello record a TlsFilter server answered it with (TLS 1.3, x25519): to any
# other client its session id does not match.
SERVER_HELLO = bytes.fromhex(
    "160303007a020000760303deeb7991ff7c3269bb4d8666ad554b1ed7aacc87a13cac2e2f39bc974ce4c0"
    "9a2048325d529d802775dd067489fbd4aa3107c8b18fcc4e6a055f8afa84be40c95a130200002e002b00"
    "02030400330024001d0020495760bab08751c3c05ba8dfb4eb068695912482853e51b7d56cc9ee7bd46955"
)
CHANGE_CIPHER_SPEC = b"\x14\x03\x03\x00\x01\x01"
ALERT_HANDSHAKE_FAILURE = b"\x15\x03\x03\x00\x02\x02\x28"


def seeds() -> dict[str, bytes]:
    """The seed corpus: ``fuzz/corpus/fuzz_tls_filter/seed-<name>``.

    Header octets: control (0x01 client, 0x02 client certificate required / pin only,
    0x04 TLS 1.3 only), split plan.
    """
    server, client = 0x00, CLIENT
    noise = random.Random(0x715).randbytes(600)
    greeting = build_greeting(b"NULL", False)
    return {
        "client-hello": bytes((server, 0)) + CLIENT_HELLO,
        "client-hello-bytewise": bytes((server, 1)) + CLIENT_HELLO,
        "client-hello-random-split": bytes((server, 7)) + CLIENT_HELLO,
        "client-hello-cert-required": bytes((server | STRICT, 0)) + CLIENT_HELLO,
        "client-hello-tls13-only": bytes((server | TLS13, 3)) + CLIENT_HELLO,
        "client-hello-truncated": bytes((server, 0)) + CLIENT_HELLO[:100],
        "client-hello-header-only": bytes((server, 1)) + CLIENT_HELLO[:5],
        "client-hello-twice": bytes((server, 0)) + CLIENT_HELLO + CLIENT_HELLO,
        "client-hello-then-noise": bytes((server, 9)) + CLIENT_HELLO + CHANGE_CIPHER_SPEC
        + noise[:200],
        "client-hello-then-alert": bytes((server, 0)) + CLIENT_HELLO + ALERT_HANDSHAKE_FAILURE,
        "random": bytes((server, 5)) + noise,
        "random-record": bytes((server, 2)) + b"\x16\x03\x01\x02\x58" + noise,
        "record-too-long": bytes((server, 0)) + b"\x16\x03\x01\xff\xff" + bytes(100),
        "zmtp-greeting": bytes((server, 0)) + greeting,
        "zmtp-greeting-bytewise": bytes((server, 1)) + greeting,
        "http": bytes((server, 0)) + b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "server-hello": bytes((client, 0)) + SERVER_HELLO + CHANGE_CIPHER_SPEC,
        "server-hello-pin-only": bytes((client | STRICT, 1)) + SERVER_HELLO,
        "server-hello-truncated": bytes((client, 0)) + SERVER_HELLO[:60],
        "server-alert": bytes((client, 0)) + ALERT_HANDSHAKE_FAILURE,
        "server-sends-client-hello": bytes((client | TLS13, 0)) + CLIENT_HELLO,
        "server-zmtp-greeting": bytes((client, 0)) + build_greeting(b"NULL", True),
        "server-random": bytes((client, 4)) + noise,
    }


def main() -> None:
    run_main(TestOneInput)


if __name__ == "__main__":
    main()
