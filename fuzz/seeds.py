"""Write the seed corpus: ``python -m fuzz.seeds`` (re)creates ``fuzz/corpus/<target>/``.

The seeds are valid and edge-case inputs for each target, including the octets libzmq
4.3.5 sends (captured through pyzmq from a DEALER, a PUSH and a DEALER with a 255-octet
routing id). Files found by fuzzing (crashers, once fixed) are added by hand next to
these under a ``crash-`` name and are not touched by this script.
"""

from __future__ import annotations

import struct
from pathlib import Path

from securemq.zmtp.commands import encode_metadata
from securemq.zmtp.frames import encode_command, frame_header
from securemq.zmtp.greeting import build_greeting

from . import fuzz_curve_handshake, fuzz_plain_handshake, fuzz_tls_filter

CORPUS = Path(__file__).resolve().parent / "corpus"

# libzmq 4.3.5 on the wire (signature padding = routing id size + 1).
LIBZMQ_GREETING = bytes.fromhex("ff00000000000000017f0301") + b"NULL" + bytes(16 + 1 + 31)
LIBZMQ_GREETING_ID255 = bytes.fromhex("ff00000000000001007f0301") + b"NULL" + bytes(48)
LIBZMQ_READY_DEALER = (
    b"\x04\x29\x05READY\x0bSocket-Type\x00\x00\x00\x06DEALER\x08Identity\x00\x00\x00\x00"
)
LIBZMQ_READY_PUSH = b"\x04\x1a\x05READY\x0bSocket-Type\x00\x00\x00\x04PUSH"
LIBZMQ_READY_DEALER_ID255 = (
    b"\x06" + struct.pack(">Q", 0x128)
    + b"\x05READY\x0bSocket-Type\x00\x00\x00\x06DEALER\x08Identity\x00\x00\x00\xff\x01"
    + b"A" * 254
)
LIBZMQ_PING = b"\x04\x07\x04PING\x00\x14"
LIBZMQ_HELLO = b"\x00\x05hello"

NULL = build_greeting(b"NULL", False)


def _frames() -> dict[str, bytes]:
    multipart = b"\x01\x01a\x01\x00\x02" + struct.pack(">Q", 300) + b"b" * 300
    return {
        "libzmq-hello": b"\x00\x00" + LIBZMQ_HELLO,
        "libzmq-ping-between": b"\x00\x02" + LIBZMQ_HELLO + LIBZMQ_PING + LIBZMQ_HELLO,
        "multipart-bytewise": b"\x00\x01" + multipart,
        "boundary-255-256": b"\x01\x07" + frame_header(255) + bytes(255) + frame_header(256)
        + bytes(256),
        # A frame over LARGE_FRAME (32 KiB) announced, its body still arriving.
        "large-frame-partial": b"\x00\x09" + frame_header(40000, more=True) + bytes(3000),
        "size-2pow64-1": b"\x00\x00\x02" + b"\xff" * 8,
        "size-2pow63": b"\x00\x00\x03\x80" + bytes(7),
        "over-maxmsgsize": b"\x03\x03\x00\xff" + bytes(255),
        "command-with-more": b"\x00\x00\x05\x04PONG",
        "reserved-flags": b"\x00\x00\x00\x01x\x08\x00",
        "commands-only-message": b"\x80\x00" + LIBZMQ_READY_DEALER + LIBZMQ_HELLO,
        "partial-multipart": b"\x00\x01\x01\x05hello\x01\x05wor",
    }


def _handshake() -> dict[str, bytes]:
    # Control octet: low nibble = socket pair, 0x10 client, 0x20 small maxmsgsize,
    # 0x40 valid greeting first, 0x80 valid greeting and READY first.
    router, pull = 0x01, 0x05
    return {
        "libzmq-dealer-session": bytes((router, 0)) + LIBZMQ_GREETING + LIBZMQ_READY_DEALER
        + LIBZMQ_HELLO + LIBZMQ_PING,
        "libzmq-dealer-bytewise": bytes((router | 0x10, 1)) + LIBZMQ_GREETING
        + LIBZMQ_READY_DEALER + LIBZMQ_HELLO,
        "libzmq-id255": bytes((router, 5)) + LIBZMQ_GREETING_ID255 + LIBZMQ_READY_DEALER_ID255,
        "libzmq-push": bytes((pull, 3)) + LIBZMQ_GREETING + LIBZMQ_READY_PUSH + LIBZMQ_HELLO,
        "our-greeting-ready": bytes((0x00, 0)) + NULL + encode_command(
            b"READY", encode_metadata([("Socket-Type", b"ROUTER"), ("Identity", b"")])),
        "zmtp-1.0": bytes((router, 0)) + b"\x01\x00\x00\x05hello",
        "zmtp-2.0": bytes((router, 1)) + b"\xff" + bytes(8) + b"\x7f\x01\x05DEALER",
        "zmtp-3.0": bytes((router, 0)) + NULL[:11] + b"\x00" + NULL[12:]
        + LIBZMQ_READY_DEALER,
        "plain-greeting": bytes((router, 0)) + build_greeting(b"PLAIN", True),
        "error-400": bytes((0x40 | router, 0)) + encode_command(b"ERROR", b"\x03400"),
        "message-before-ready": bytes((0x40 | router, 0)) + b"\x01\x01a" + LIBZMQ_READY_DEALER,
        "traffic-ping-big-context": bytes((0x80 | router, 0)) + encode_command(
            b"PING", b"\x00\x00" + bytes(17)),
        "traffic-ping": bytes((0x80 | router, 2)) + encode_command(b"PING", b"\x00\x0actx")
        + LIBZMQ_HELLO,
        "traffic-huge-frame": bytes((0xA0 | router, 0)) + b"\x02" + b"\xff" * 8,
        "traffic-partial-multipart": bytes((0x80 | router, 0)) + b"\x01\x05hello",
        "traffic-subscribe": bytes((0x80 | 0x07, 0)) + encode_command(b"SUBSCRIBE", b"t"),
        "bad-metadata": bytes((0x40 | router, 0)) + encode_command(
            b"READY", b"\x0bSocket-Type\x80\x00\x00\x00DEALER"),
    }


def _greeting() -> dict[str, bytes]:
    return {
        "null": NULL,
        "libzmq": LIBZMQ_GREETING + LIBZMQ_READY_DEALER,
        "libzmq-id255": LIBZMQ_GREETING_ID255,
        "plain-server": build_greeting(b"PLAIN", True),
        "curve-client": build_greeting(b"CURVE", False),
        "zmtp-3.0": NULL[:11] + b"\x00" + NULL[12:],
        "zmtp-4.7": NULL[:10] + b"\x04\x07" + NULL[12:],
        "zmtp-1.0": b"\x01\x00\x00\x05hello",
        "zmtp-1.0-long": b"\xff" + bytes(7) + b"\x06\x00hello",
        "zmtp-2.0": b"\xff" + bytes(8) + b"\x7f\x01\x05DEALER",
        "truncated": NULL[:40],
        "null-as-server": NULL[:32] + b"\x01" + NULL[33:],
        "http": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    }


def _metadata() -> dict[str, bytes]:
    return {
        "libzmq-dealer": LIBZMQ_READY_DEALER[8:],
        "libzmq-push": LIBZMQ_READY_PUSH[8:],
        "libzmq-id255": LIBZMQ_READY_DEALER_ID255[15:],
        "app-properties": encode_metadata([("Socket-Type", b"ROUTER"), ("X-App", b"v" * 300),
                                           ("x-app", b"again")]),
        "name-length-0": b"\x00\x00\x00\x00\x00",
        "value-past-end": b"\x0bSocket-Type\x00\x00\x00\x07DEALER",
        "value-2pow31": b"\x01A\x80\x00\x00\x00",
        "ping-body": b"\x04PING\x00\x14ctx",
        "error-body": b"\x03400",
    }


SEEDS = {
    "fuzz_frames": _frames,
    "fuzz_null_handshake": _handshake,
    "fuzz_greeting": _greeting,
    "fuzz_metadata": _metadata,
    "fuzz_plain_handshake": fuzz_plain_handshake.seeds,
    "fuzz_curve_handshake": fuzz_curve_handshake.seeds,
    "fuzz_tls_filter": fuzz_tls_filter.seeds,
}


def main() -> None:
    for target, make in SEEDS.items():
        directory = CORPUS / target
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in make().items():
            (directory / f"seed-{name}").write_bytes(data)


if __name__ == "__main__":
    main()
