"""Generate docs/options.md, the socket option reference (``python docs/gen_options.py``).

Every row of ``securemq.options.OPTIONS`` becomes one line of the page, in a group
chosen from its name; a row that fits no group lands in "Other options", so a new
option is never left out. Kinds and default values the page does not know how to
describe are shown with ``repr``. tests/test_docs.py fails when the checked-in page is
not what this script writes.
"""

from __future__ import annotations

import enum
import sys
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from securemq.constants import SocketOption, SocketType
from securemq.options import OPTIONS

PAGE = Path(__file__).with_name("options.md")

HEADER = """\
# Socket options

<!-- Generated from securemq.options.OPTIONS by docs/gen_options.py: do not edit.
     Regenerate with: python docs/gen_options.py -->

This page is generated from the option table in `securemq/options.py`, the same table
that `setsockopt`, `getsockopt` and attribute access read. To regenerate it after
changing the table, run `python docs/gen_options.py`; `tests/test_docs.py` fails while
it is out of date.

An option can be used in three spellings, all equivalent:

```python
import securemq as zmq

ctx = zmq.Context()
sock = ctx.socket(zmq.DEALER)
sock.setsockopt(zmq.SNDHWM, 5000)    # libzmq's spelling
sock.sndhwm = 5000                   # pyzmq's attribute
sock.set(zmq.SNDHWM, 5000)           # pyzmq's short form
print(sock.getsockopt(zmq.SNDHWM), sock.sndhwm)
sock.close()
ctx.term()
```

```output
5000 5000
```

Setting an option on the `Context` (`ctx.sndhwm = 5000`, `ctx.setsockopt(...)`) makes
it the default for sockets created afterwards, as in pyzmq. Options about connections
(queues, timeouts, security, TLS) take effect at the next `bind` or `connect`: each
connection works with a snapshot of the options taken when it starts.

Columns:

- **number**: the value of `zmq.<NAME>` (`securemq.SocketOption`). Numbers of 1000
  and above are securemq's own and mean nothing to libzmq.
- **type**: `int` (32 bits), `int64`, `bool` (any int in range; non-zero is stored as
  1), `bytes` (`setsockopt_string` encodes text first), `str` (also accepts UTF-8
  bytes or a path), `ssl.SSLContext`.
- **default**: the value a new socket reads back; "—" when the socket computes the
  value or keeps none.
- **range**: what `setsockopt` accepts; for `bytes` and `str`, a length. Anything
  else raises `ZMQError(EINVAL)`; a value of the wrong type raises `TypeError`.
- **access**: "read/write", "read-only" (`getsockopt` only), "write-only"
  (`setsockopt` only; libzmq cannot read it back either), or "action" (setting it
  does something, like subscribing, and nothing is stored).
- **securemq**: "yes" if securemq acts on it; "stored" if it is accepted and read
  back but changes nothing (yet); "not yet" for a read-only value securemq does not
  compute yet (reading it raises `EINVAL`); "no" if the feature is absent and both set
  and get raise `EINVAL`, as in a libzmq built without it.
- **sockets**: the socket types that accept it; the others raise `EINVAL`.

[compatibility.md](compatibility.md) says how each option compares with libzmq, and
[security.md](security.md) how the security options fit together.
"""


# How each kind is shown; any other kind is shown with repr.
KIND_NAMES: dict[str, str] = {
    "int": "int",
    "int64": "int64",
    "bool": "bool",
    "bytes": "bytes",
    "text": "str",
    "context": "ssl.SSLContext",
}

# Kinds whose range is a value, and kinds whose range is a length.
NUMBER_KINDS = frozenset({"int", "int64", "bool"})
LENGTH_KINDS = frozenset({"bytes", "text"})

Rule = Callable[[Any], bool]


def _named(*names: str) -> Rule:
    chosen = frozenset(names)
    return lambda spec: spec.name in chosen


def _prefixed(*prefixes: str) -> Rule:
    return lambda spec: spec.name.startswith(prefixes)


def _either(*rules: Rule) -> Rule:
    return lambda spec: any(rule(spec) for rule in rules)


#: (title, introduction, rule) in page order; the first rule that matches wins. Rows
#: of unavailable features go to the last group whatever their name.
GROUPS: tuple[tuple[str, str, Rule], ...] = (
    (
        "Queues and message size",
        "How much a socket holds for each peer, and how large a message a peer may send. "
        "Set `maxmsgsize` on any socket that listens on a network: without it a peer "
        "that passed the handshake may send messages as large as memory allows.",
        _named("hwm", "sndhwm", "rcvhwm", "maxmsgsize", "conflate", "affinity"),
    ),
    (
        "Identity and routing",
        "Routing ids, and the switches of ROUTER, REQ and STREAM sockets.",
        _either(_named("routing_id", "connect_routing_id", "probe_router", "stream_notify"),
                _prefixed("router_", "req_")),
    ),
    (
        "Publish-subscribe",
        "Subscriptions and the XPUB modes; see [pubsub.md](pubsub.md).",
        _either(_named("subscribe", "unsubscribe", "only_first_subscribe",
                       "invert_matching", "topics_count"),
                _prefixed("xpub_", "xsub_")),
    ),
    (
        "Connections, timeouts and heartbeats",
        "How connections are made, kept and given up, and how long calls wait. In strict "
        "mode (`Context(strict=True)`) `handshake_ivl` is capped at 5000 ms and 0 means "
        "5000 ms, so unauthenticated peers cannot hold connections open. Heartbeats are "
        "described in [monitoring.md](monitoring.md).",
        _either(_named("linger", "connect_timeout", "immediate", "backlog", "rcvtimeo",
                       "sndtimeo", "handshake_ivl"),
                _prefixed("reconnect_", "heartbeat_")),
    ),
    (
        "Network and transports",
        "TCP, IPC and proxy settings. `tcp_accept_filter` and the `ipc_filter_*` "
        "options are accepted but do nothing: use a ZAP handler to admit peers by "
        "address ([authentication.md](authentication.md)).",
        _either(_named("ipv6", "ipv4only", "sndbuf", "rcvbuf", "tos", "bindtodevice",
                       "loopback_fastpath", "use_fd"),
                _prefixed("tcp_", "ipc_", "socks_")),
    ),
    (
        "Security",
        "The mechanism (NULL, PLAIN or CURVE) follows from the options set: a PLAIN or "
        "CURVE key or credential makes a client, `plain_server`/`curve_server` a server. "
        "Keys are 32 bytes or 40 Z85 characters and are checked when set; a CURVE socket "
        "missing a key it needs fails at `bind`/`connect`. Secret values "
        "(`plain_password`, `curve_secretkey`) never appear in `repr` or logs. See "
        "[security.md](security.md) and [security-model.md](security-model.md).",
        _either(_named("mechanism", "metadata"), _prefixed("plain_", "curve_", "zap_")),
    ),
    (
        "TLS",
        "securemq's own options for `tls+tcp://` endpoints, where TLS runs under ZMTP. "
        "They are read when the socket binds or connects; [tls.md](tls.md) explains "
        "them.",
        _prefixed("tls_", "ssl_"),
    ),
    (
        "Multicast",
        "securemq has no multicast transport (PGM, EPGM, NORM); these options are kept so "
        "that code setting them still runs.",
        _either(_named("rate", "recovery_ivl"), _prefixed("multicast_")),
    ),
    (
        "State the socket reports",
        "Read-only values the socket computes.",
        _named("type", "last_endpoint", "rcvmore", "fd", "events", "thread_safe"),
    ),
    (
        "Other options",
        "Options not yet placed in a group above.",
        lambda spec: True,
    ),
)

UNAVAILABLE = (
    "Not available",
    "Options of features securemq does not have (GSSAPI, VMCI, WebSocket, NORM and "
    "libzmq's draft API), and context options that libzmq also lists among socket "
    "options. Setting or reading them raises `ZMQError(EINVAL)`, as a libzmq built "
    "without the feature does.",
)


def _cell(text: str) -> str:
    """Make ``text`` safe inside a table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{_cell(text)}`"


def kind_name(kind: object) -> str:
    """The type column: a known kind by name, anything else by ``repr``."""
    if isinstance(kind, str) and kind in KIND_NAMES:
        return KIND_NAMES[kind]
    return repr(kind)


def default_text(value: object) -> str:
    """The default column; enum members show their name too."""
    if value is None:
        return "—"
    if isinstance(value, enum.Enum) and isinstance(value, int):
        return _code(f"{int(value)}") + f" ({value.name})"
    if isinstance(value, int) and not isinstance(value, bool):
        return _code(str(value))
    return _code(repr(value))


def range_text(spec: Any) -> str:
    """The range column, from ``minimum``/``maximum``."""
    low, high = spec.minimum, spec.maximum
    if spec.kind in LENGTH_KINDS:
        if low is None and high is None:
            return "any length"
        if high is None:
            return f"length ≥ {low}"
        if low is None:
            return f"length ≤ {high}"
        return f"length {low}..{high}"
    if low is None and high is None:
        return "any" if spec.kind in NUMBER_KINDS else "—"
    if high is None:
        return f"≥ {low}"
    if low is None:
        return f"≤ {high}"
    return f"{low}..{high}"


def access_text(spec: Any) -> str:
    """The access column."""
    if spec.action:
        return "action"
    if spec.readonly:
        return "read-only"
    if spec.writeonly:
        return "write-only"
    return "read/write"


def status_text(spec: Any) -> str:
    """The securemq column: yes, stored, not yet or no."""
    if not spec.available:
        return "no"
    if spec.supported:
        return "yes"
    # A value the socket would compute (nothing stored) that it does not compute yet.
    return "not yet" if spec.readonly and not spec.stored else "stored"


def sockets_text(spec: Any) -> str:
    """The sockets column: the types that accept the option, or "all"."""
    if not spec.socket_types:
        return "all"
    names = []
    for value in sorted(spec.socket_types):
        try:
            names.append(SocketType(value).name)
        except ValueError:
            names.append(str(value))
    return ", ".join(names)


def aliases(spec: Any) -> list[str]:
    """Older names of the same option number (``IDENTITY`` for ``ROUTING_ID``...)."""
    return sorted(name for name, member in SocketOption.__members__.items()
                  if int(member) == int(spec.option) and name.lower() != spec.name)


def row(spec: Any) -> str:
    """One table row."""
    name = f"`{spec.name.upper()}`"
    older = aliases(spec)
    if older:
        name += " (also " + ", ".join(f"`{n}`" for n in older) + ")"
    cells = [name, str(int(spec.option)), _cell(kind_name(spec.kind)),
             default_text(spec.default), range_text(spec), access_text(spec),
             status_text(spec), sockets_text(spec), _cell(spec.doc)]
    return "| " + " | ".join(cells) + " |"


TABLE_HEAD = ("| option | number | type | default | range | access | securemq | sockets "
              "| what it does |\n|---|---|---|---|---|---|---|---|---|")
SHORT_HEAD = "| option | number | type | what it is for |\n|---|---|---|---|"


def short_row(spec: Any) -> str:
    """A row of the "Not available" table: nothing can be set, so no range or default."""
    cells = [f"`{spec.name.upper()}`", str(int(spec.option)), _cell(kind_name(spec.kind)),
             _cell(spec.doc)]
    return "| " + " | ".join(cells) + " |"


def group(specs: Iterable[Any]) -> list[tuple[str, str, list[Any]]]:
    """Sort the rows into the groups of the page, dropping empty groups."""
    buckets: dict[str, list[Any]] = {title: [] for title, _, _ in GROUPS}
    buckets[UNAVAILABLE[0]] = []
    for spec in specs:
        if not spec.available:
            buckets[UNAVAILABLE[0]].append(spec)
            continue
        for title, _, rule in GROUPS:
            if rule(spec):
                buckets[title].append(spec)
                break
    order = [(title, intro) for title, intro, _ in GROUPS[:-1]]
    order += [UNAVAILABLE, (GROUPS[-1][0], GROUPS[-1][1])]
    return [(title, intro, buckets[title]) for title, intro in order if buckets[title]]


def render(specs: Iterable[Any] = OPTIONS) -> str:
    """The page's full text, for ``specs`` (the real table unless given)."""
    specs = list(specs)
    groups = group(specs)
    parts = [HEADER, "## Contents\n"]
    parts.append("\n".join(f"- [{title}](#{_anchor(title)}) ({len(rows)})"
                           for title, _, rows in groups) + "\n")
    for title, intro, rows in groups:
        text = textwrap.fill(intro, width=88, break_on_hyphens=False)
        if title == UNAVAILABLE[0]:
            parts.append(f"## {title}\n\n{text}\n\n{SHORT_HEAD}")
            parts.append("\n".join(short_row(spec) for spec in rows) + "\n")
        else:
            parts.append(f"## {title}\n\n{text}\n\n{TABLE_HEAD}")
            parts.append("\n".join(row(spec) for spec in rows) + "\n")
    return "\n".join(parts)


def _anchor(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    kept = "".join(c for c in title.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def main() -> int:
    """Write the page next to this script."""
    PAGE.write_text(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
