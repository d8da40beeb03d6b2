"""Generate docs/compatibility.md from the option table (``python docs/gen_compat.py``).

tests/test_docs.py fails when the checked-in page is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

from securemq.options import OPTIONS

HEADER = """# libzmq compatibility

securemq follows libzmq 4.3.5 on the wire (ZMTP 3.1, serving 3.0 peers) and pyzmq 27 in
its API. This page lists what differs and every socket option with its status.

## Protocol

- ZMTP 3.0 and 3.1 peers are served; ZMTP 1.0 and 2.0 peers are refused as soon as their
  first octets show it (they cannot negotiate security; CVE-2014-9721).
- The whole 64-octet greeting is sent at once (RFC 37's second case).
- A READY without Socket-Type, or with a type our socket may not talk to, ends the
  connection (libzmq accepts a READY without Socket-Type).
- A PING context over 16 octets is a protocol error (libzmq truncates it).
- A frame header claiming more than `maxmsgsize` or 2^63-1 octets closes the connection
  before anything is allocated; libzmq allocates the claimed size up front.
- Security (PLAIN, CURVE, ZAP) follows libzmq's codes and monitor events; where RFC 26
  asks for more than libzmq checks, we check it: HELLO padding must be zero, the vouch
  must name our own server key, INITIATE's nonce must follow HELLO's, reserved MESSAGE
  flag bits must be zero. Only two peers that both claim the server role are refused at
  the greeting (libzmq 4.3.5 always sends as-server 0).
- libzmq 4.3.5 writes its PLAIN ERROR command with a broken name (`^RROR`, a C++ escape
  slip, fixed upstream later); we read it as ERROR. A libzmq 4.3.5 PLAIN client refused
  by our server therefore reports `HANDSHAKE_FAILED_PROTOCOL` (it cannot read a correct
  ERROR) where it would report `HANDSHAKE_FAILED_AUTH` against libzmq.
- A CURVE server with no ZAP handler admits any client key, as libzmq does, and logs a
  WARNING once per socket; `Context(strict=True)` (or `SECUREMQ_STRICT=1`) refuses
  instead. A PLAIN server with no handler refuses (libzmq too).

## Socket types

PAIR, PUSH, PULL, REQ, REP, DEALER, ROUTER, STREAM, PUB, SUB, XPUB and XSUB are available,
with XPUB's verbose, manual (and manual last-value), welcome-message and no-drop modes
and `invert_matching`. The draft thread-safe
types raise `ZMQError(EINVAL)` as in a libzmq built without drafts. A STREAM socket
closes a connection when sent an empty frame for it, as zmq_socket(3) documents
(libzmq 4.3.5 was seen to leave it open).

## Options

"yes": securemq acts on it. "stored": accepted, read back, no effect (yet). "no": the
feature is absent and both set and get raise `EINVAL`. PLAIN and CURVE options are
checked when `bind`/`connect` is called: a CURVE client without the server's key, or a
CURVE server without its secret key, gets `EINVAL` there rather than failed handshakes.

| option | type | default | status | what it does |
|---|---|---|---|---|
"""


def render() -> str:
    """The page's full text."""
    rows = []
    for spec in sorted(OPTIONS, key=lambda s: s.name):
        if not spec.available:
            status = "no"
        elif spec.supported:
            status = "yes"
        else:
            status = "stored"
        access = " (read-only)" if spec.readonly else " (write-only)" if spec.writeonly else ""
        default = "" if spec.default is None else f"`{spec.default!r}`"
        rows.append(f"| `{spec.name.upper()}` | {spec.kind}{access} | {default} | {status} "
                    f"| {spec.doc.replace('|', '/')} |")
    return HEADER + "\n".join(rows) + "\n"


def main() -> int:
    """Write the page next to this script."""
    Path(__file__).with_name("compatibility.md").write_text(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
