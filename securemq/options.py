"""The socket option table, and the per-socket store it drives.

``OPTIONS`` declares every socket option libzmq and pyzmq know: its type, libzmq's
default and valid range, who may read or write it, and whether securemq acts on it.
``setsockopt``, ``getsockopt``, attribute access (``sock.sndhwm``) and the reference docs
all read this one table (STYLE.md, habit 7).

``Options`` holds one socket's values as plain attributes named after the options
(``opts.sndhwm``, ``opts.routing_id``), so hot paths read them without a lookup. The
socket routes ``setsockopt``/``getsockopt`` here after handling what only it can:

- ``action`` options (SUBSCRIBE, UNSUBSCRIBE, CONNECT_ROUTING_ID) do something rather
  than store a value; the socket checks the value with ``validate`` and acts.
- ``readonly`` options that describe live state (RCVMORE, FD, EVENTS, THREAD_SAFE,
  TOPICS_COUNT) are computed by the socket. TYPE, MECHANISM and LAST_ENDPOINT are stored
  here; the socket writes ``opts.last_endpoint`` itself.

Both ``set`` and ``get`` raise ``ZMQError(EINVAL)`` for anything they cannot handle,
as libzmq does. ``HWM`` is pyzmq's pseudo-option: setting it sets SNDHWM and RCVHWM,
reading it reads SNDHWM.

An option with ``supported=False`` is accepted and stored but changes nothing, the way
libzmq ignores options that do not apply to a transport; options of features securemq
does not have at all (GSSAPI, VMCI, NORM, WebSocket, and the draft-only options marked
``available=False``) are refused with EINVAL, as by a libzmq built without them.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from typing import Literal

from .constants import (
    EINVAL,
    SecurityMechanism,
    SocketOption,
    SocketType,
)
from .error import ZMQError
from .utils import z85

__all__ = [
    "OPTIONS",
    "OPTIONS_BY_ID",
    "OPTIONS_BY_NAME",
    "Metadata",
    "OptionKind",
    "OptionSpec",
    "OptionValue",
    "Options",
    "validate",
]

OptionKind = Literal["int", "int64", "bool", "bytes", "text", "context"]
"""How an option's value is typed.

``int`` and ``int64`` are C ints of 32 and 64 bits. ``bool`` takes any int in range and
stores 1 for non-zero (libzmq's relaxed booleans); strict 0/1 booleans are ``int`` with
the range 0..1. ``bytes`` takes ``bytes`` only: ``setsockopt_string`` encodes first.
securemq's TLS options add two: ``text`` (file paths, host names, pins) takes ``str``,
UTF-8 ``bytes`` or a path-like object and stores ``str``; ``context`` takes an
:class:`ssl.SSLContext` or None.
"""

Metadata = tuple[tuple[str, bytes], ...]
"""Application metadata set with METADATA: ``(name, value)`` pairs in the order set."""

OptionValue = int | bytes | str | Metadata | ssl.SSLContext

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)

_PUB_XPUB = frozenset({SocketType.PUB, SocketType.XPUB})
_ROUTER = frozenset({SocketType.ROUTER, SocketType.REP})  # libzmq's REP is a ROUTER


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One socket option: type, default, valid range, access and whether it has effect."""

    name: str
    """Lower-case name: the ``Options`` attribute and pyzmq's socket attribute."""
    option: int
    """The ``SocketOption`` number."""
    kind: OptionKind
    """Value type; see ``OptionKind``."""
    default: OptionValue | None
    """libzmq's initial value; None for values the socket computes or that are not kept."""
    doc: str
    """One line for the reference docs."""
    _: KW_ONLY
    minimum: int | None = None
    """Smallest valid value (for ``bytes``: shortest length); None for the type's limit."""
    maximum: int | None = None
    """Largest valid value (for ``bytes``: longest length); None for the type's limit."""
    readonly: bool = False
    """Only ``getsockopt`` may use it."""
    writeonly: bool = False
    """Only ``setsockopt`` may use it (libzmq cannot read it back)."""
    action: bool = False
    """Setting it acts instead of storing; the socket handles it, never ``Options.set``."""
    stored: bool = True
    """``Options`` has an attribute for it."""
    supported: bool = False
    """securemq acts on it; False means accepted and stored, without effect."""
    available: bool = True
    """False: the feature is missing, and both set and get raise EINVAL."""
    socket_types: frozenset[int] = frozenset()
    """Socket types that accept it; empty for all."""


def _missing(name: str, option: int, kind: OptionKind, doc: str) -> OptionSpec:
    """Build the row of an option whose feature securemq does not have."""
    return OptionSpec(name, option, kind, None, doc, stored=False, available=False)


OPTIONS: tuple[OptionSpec, ...] = (
    # Queues and message limits.
    OptionSpec("hwm", SocketOption.HWM, "int", None,
               "Sets both SNDHWM and RCVHWM; reads SNDHWM (pyzmq's pseudo-option).",
               minimum=0, stored=False, supported=True),
    OptionSpec("sndhwm", SocketOption.SNDHWM, "int", 1000,
               "Most outgoing messages queued per peer; 0 for no limit.",
               minimum=0, supported=True),
    OptionSpec("rcvhwm", SocketOption.RCVHWM, "int", 1000,
               "Most incoming messages queued per peer; 0 for no limit.",
               minimum=0, supported=True),
    OptionSpec("maxmsgsize", SocketOption.MAXMSGSIZE, "int64", -1,
               "Largest message a peer may send, in bytes; a peer that sends more is dropped. "
               "Negative for no limit.",
               supported=True),
    OptionSpec("conflate", SocketOption.CONFLATE, "int", 0,
               "Keep only the newest message in each queue.",
               minimum=0, maximum=1, supported=True),
    OptionSpec("affinity", SocketOption.AFFINITY, "int64", 0,
               "Bitmask of I/O threads that may serve new connections."),
    # Identity and routing.
    OptionSpec("routing_id", SocketOption.ROUTING_ID, "bytes", b"",
               "Identity announced to peers, which ROUTERs route by.",
               minimum=1, maximum=255, supported=True),
    OptionSpec("connect_routing_id", SocketOption.CONNECT_ROUTING_ID, "bytes", None,
               "Routing id to give the peer of the next connect() (ROUTER, STREAM).",
               minimum=1, writeonly=True, action=True, stored=False, supported=True,
               socket_types=_ROUTER | {SocketType.STREAM}),
    OptionSpec("router_mandatory", SocketOption.ROUTER_MANDATORY, "bool", 0,
               "Fail with EHOSTUNREACH on unroutable messages.",
               minimum=0, writeonly=True, supported=True, socket_types=_ROUTER),
    OptionSpec("router_handover", SocketOption.ROUTER_HANDOVER, "bool", 0,
               "A new peer with a known routing id takes it over.",
               minimum=0, writeonly=True, supported=True, socket_types=_ROUTER),
    OptionSpec("router_raw", SocketOption.ROUTER_RAW, "bool", 0,
               "Old raw TCP mode of ROUTER; use STREAM sockets instead.",
               minimum=0, writeonly=True, socket_types=_ROUTER),
    OptionSpec("router_notify", SocketOption.ROUTER_NOTIFY, "int", 0,
               "Deliver an empty message when peers connect (1) and/or disconnect (2).",
               minimum=0, maximum=3, supported=False),
    OptionSpec("probe_router", SocketOption.PROBE_ROUTER, "bool", 0,
               "Send an empty message to each new ROUTER peer.",
               minimum=0, writeonly=True, supported=True,
               socket_types=_ROUTER | {SocketType.REQ, SocketType.DEALER}),
    OptionSpec("req_correlate", SocketOption.REQ_CORRELATE, "bool", 0,
               "Tag requests with an id and drop replies to others.",
               minimum=0, writeonly=True, supported=True,
               socket_types=frozenset({SocketType.REQ})),
    OptionSpec("req_relaxed", SocketOption.REQ_RELAXED, "bool", 0,
               "Allow a new request before the reply to the last one.",
               minimum=0, writeonly=True, supported=True,
               socket_types=frozenset({SocketType.REQ})),
    OptionSpec("stream_notify", SocketOption.STREAM_NOTIFY, "int", 1,
               "Deliver empty messages on STREAM connect and disconnect.",
               minimum=0, maximum=1, writeonly=True, supported=False,
               socket_types=frozenset({SocketType.STREAM})),
    # Publish-subscribe.
    OptionSpec("subscribe", SocketOption.SUBSCRIBE, "bytes", None,
               "Receive messages starting with this prefix (SUB).",
               writeonly=True, action=True, stored=False, supported=True,
               socket_types=frozenset({SocketType.SUB})),
    OptionSpec("unsubscribe", SocketOption.UNSUBSCRIBE, "bytes", None,
               "Drop one earlier subscription to this prefix (SUB).",
               writeonly=True, action=True, stored=False, supported=True,
               socket_types=frozenset({SocketType.SUB})),
    OptionSpec("xpub_verbose", SocketOption.XPUB_VERBOSE, "bool", 0,
               "Pass every subscription upstream, not just new ones.",
               minimum=0, writeonly=True, supported=True, socket_types=_PUB_XPUB),
    OptionSpec("xpub_verboser", SocketOption.XPUB_VERBOSER, "bool", 0,
               "Pass every subscription and unsubscription upstream.",
               minimum=0, writeonly=True, supported=True, socket_types=_PUB_XPUB),
    OptionSpec("xpub_manual", SocketOption.XPUB_MANUAL, "bool", 0,
               "The application subscribes peers itself.",
               minimum=0, writeonly=True, supported=True, socket_types=_PUB_XPUB),
    OptionSpec("xpub_manual_last_value", SocketOption.XPUB_MANUAL_LAST_VALUE, "bool", 0,
               "Manual mode whose next message goes only to the subscriber that asked "
               "(last-value caching).",
               minimum=0, writeonly=True, supported=True, socket_types=_PUB_XPUB),
    OptionSpec("xpub_nodrop", SocketOption.XPUB_NODROP, "bool", 0,
               "Fail with EAGAIN instead of dropping at the HWM.",
               minimum=0, writeonly=True, supported=True,
               socket_types=_PUB_XPUB | {SocketType.RADIO}),
    OptionSpec("xpub_welcome_msg", SocketOption.XPUB_WELCOME_MSG, "bytes", b"",
               "Message sent to each new subscriber.",
               writeonly=True, supported=True, socket_types=_PUB_XPUB),
    OptionSpec("only_first_subscribe", SocketOption.ONLY_FIRST_SUBSCRIBE, "bool", 0,
               "Treat only the first frame of a multipart message as a subscription.",
               minimum=0, writeonly=True, socket_types=_PUB_XPUB | {SocketType.XSUB}),
    OptionSpec("invert_matching", SocketOption.INVERT_MATCHING, "bool", 0,
               "Deliver messages that match no subscription instead.",
               supported=True),
    OptionSpec("topics_count", SocketOption.TOPICS_COUNT, "int", None,
               "Number of subscriptions the socket holds.",
               readonly=True, stored=False, supported=True,
               socket_types=_PUB_XPUB | {SocketType.SUB, SocketType.XSUB}),
    # Connection management.
    OptionSpec("linger", SocketOption.LINGER, "int", -1,
               "How long close() waits to send queued messages, in ms; -1 for ever.",
               minimum=-1, supported=True),
    OptionSpec("reconnect_ivl", SocketOption.RECONNECT_IVL, "int", 100,
               "Wait before reconnecting, in ms; -1 never reconnects.",
               minimum=-1, supported=True),
    OptionSpec("reconnect_ivl_max", SocketOption.RECONNECT_IVL_MAX, "int", 0,
               "Cap of the doubling reconnect wait, in ms; 0 keeps it fixed.",
               minimum=0, supported=True),
    OptionSpec("reconnect_stop", SocketOption.RECONNECT_STOP, "int", 0,
               "ReconnectStop bits: stop reconnecting after ECONNREFUSED or a failed "
               "handshake (AFTER_DISCONNECT always holds).",
               supported=True),
    OptionSpec("connect_timeout", SocketOption.CONNECT_TIMEOUT, "int", 0,
               "Give up a TCP connect after this many ms; 0 for never.",
               minimum=0, supported=False),
    OptionSpec("handshake_ivl", SocketOption.HANDSHAKE_IVL, "int", 30000,
               "Drop a connection whose ZMTP handshake takes longer, in ms; 0 for never.",
               minimum=0, supported=True),
    OptionSpec("heartbeat_ivl", SocketOption.HEARTBEAT_IVL, "int", 0,
               "Send a PING after this many ms of silence; 0 for never.",
               minimum=0, supported=True),
    OptionSpec("heartbeat_ttl", SocketOption.HEARTBEAT_TTL, "int", 0,
               "How long the peer should wait for traffic before dropping us, in ms (whole tenths "
               "of a second).",
               minimum=-99, maximum=6553599, supported=True),
    OptionSpec("heartbeat_timeout", SocketOption.HEARTBEAT_TIMEOUT, "int", -1,
               "Drop the connection if no traffic follows a PING within this many ms; -1 uses "
               "HEARTBEAT_IVL.",
               minimum=0, supported=True),
    OptionSpec("immediate", SocketOption.IMMEDIATE, "int", 0,
               "Queue messages only for completed connections.",
               minimum=0, maximum=1, supported=True),
    OptionSpec("backlog", SocketOption.BACKLOG, "int", 100,
               "Length of the listen queue of bound TCP and IPC sockets.",
               minimum=0, supported=True),
    OptionSpec("rcvtimeo", SocketOption.RCVTIMEO, "int", -1,
               "recv() raises Again after this many ms; -1 waits for ever.",
               minimum=-1, supported=True),
    OptionSpec("sndtimeo", SocketOption.SNDTIMEO, "int", -1,
               "send() raises Again after this many ms; -1 waits for ever.",
               minimum=-1, supported=True),
    # Transport.
    OptionSpec("ipv6", SocketOption.IPV6, "int", 0,
               "Use IPv6 as well as IPv4 on TCP endpoints.",
               minimum=0, maximum=1, supported=True),
    OptionSpec("ipv4only", SocketOption.IPV4ONLY, "int", 1,
               "The inverse of IPV6 (older name).",
               minimum=0, maximum=1, stored=False, supported=True),
    OptionSpec("sndbuf", SocketOption.SNDBUF, "int", -1,
               "Kernel send buffer size (SO_SNDBUF); -1 keeps the OS default.",
               minimum=-1, supported=True),
    OptionSpec("rcvbuf", SocketOption.RCVBUF, "int", -1,
               "Kernel receive buffer size (SO_RCVBUF); -1 keeps the OS default.",
               minimum=-1, supported=True),
    OptionSpec("tcp_keepalive", SocketOption.TCP_KEEPALIVE, "int", -1,
               "SO_KEEPALIVE: 1 on, 0 off, -1 the OS default.",
               minimum=-1, maximum=1, supported=True),
    OptionSpec("tcp_keepalive_cnt", SocketOption.TCP_KEEPALIVE_CNT, "int", -1,
               "TCP_KEEPCNT; -1 keeps the OS default.",
               minimum=-1, supported=False),
    OptionSpec("tcp_keepalive_idle", SocketOption.TCP_KEEPALIVE_IDLE, "int", -1,
               "TCP_KEEPIDLE, in s; -1 keeps the OS default.",
               minimum=-1, supported=False),
    OptionSpec("tcp_keepalive_intvl", SocketOption.TCP_KEEPALIVE_INTVL, "int", -1,
               "TCP_KEEPINTVL, in s; -1 keeps the OS default.",
               minimum=-1, supported=False),
    OptionSpec("tcp_maxrt", SocketOption.TCP_MAXRT, "int", 0,
               "TCP_USER_TIMEOUT, in ms; 0 keeps the OS default.",
               minimum=0, supported=False),
    OptionSpec("tos", SocketOption.TOS, "int", 0,
               "IP type-of-service byte of outgoing packets.",
               minimum=0),
    OptionSpec("bindtodevice", SocketOption.BINDTODEVICE, "bytes", b"",
               "Bind TCP sockets to this network interface.",
               minimum=1, maximum=16, supported=False),
    OptionSpec("loopback_fastpath", SocketOption.LOOPBACK_FASTPATH, "bool", 0,
               "Windows loopback fast path (no effect elsewhere)."),
    OptionSpec("use_fd", SocketOption.USE_FD, "int", -1,
               "Bind to this already-open listening socket instead.",
               minimum=-1),
    OptionSpec("tcp_accept_filter", SocketOption.TCP_ACCEPT_FILTER, "bytes", b"",
               "Accept TCP peers from this address only (deprecated by libzmq).",
               minimum=1, writeonly=True),
    OptionSpec("ipc_filter_pid", SocketOption.IPC_FILTER_PID, "int", 0,
               "Accept IPC peers with this pid (deprecated by libzmq).",
               writeonly=True),
    OptionSpec("ipc_filter_uid", SocketOption.IPC_FILTER_UID, "int", 0,
               "Accept IPC peers with this uid (deprecated by libzmq).",
               writeonly=True),
    OptionSpec("ipc_filter_gid", SocketOption.IPC_FILTER_GID, "int", 0,
               "Accept IPC peers with this gid (deprecated by libzmq).",
               writeonly=True),
    OptionSpec("socks_proxy", SocketOption.SOCKS_PROXY, "bytes", b"",
               "Connect TCP endpoints through this SOCKS5 proxy.",
               minimum=1),
    OptionSpec("socks_username", SocketOption.SOCKS_USERNAME, "bytes", b"",
               "User name for the SOCKS5 proxy.",
               maximum=255),
    OptionSpec("socks_password", SocketOption.SOCKS_PASSWORD, "bytes", b"",
               "Password for the SOCKS5 proxy.",
               maximum=255),
    # Multicast (PGM, NORM): securemq has no multicast transport; kept for compatibility.
    OptionSpec("rate", SocketOption.RATE, "int", 100,
               "Multicast rate, in kbit/s.",
               minimum=1),
    OptionSpec("recovery_ivl", SocketOption.RECOVERY_IVL, "int", 10000,
               "Multicast recovery interval, in ms.",
               minimum=0),
    OptionSpec("multicast_hops", SocketOption.MULTICAST_HOPS, "int", 1,
               "Multicast TTL.",
               minimum=1),
    OptionSpec("multicast_maxtpdu", SocketOption.MULTICAST_MAXTPDU, "int", 1500,
               "Largest multicast packet, in bytes.",
               minimum=1),
    OptionSpec("multicast_loop", SocketOption.MULTICAST_LOOP, "bool", 1,
               "Loop multicast back to the sending host."),
    # Security.
    OptionSpec("mechanism", SocketOption.MECHANISM, "int", SecurityMechanism.NULL,
               "The SecurityMechanism chosen by the PLAIN_* and CURVE_* options.",
               readonly=True, supported=True),
    OptionSpec("plain_server", SocketOption.PLAIN_SERVER, "int", 0,
               "Be the PLAIN server: check credentials through ZAP.",
               minimum=0, maximum=1, stored=False, supported=True),
    OptionSpec("plain_username", SocketOption.PLAIN_USERNAME, "bytes", b"",
               "PLAIN user name; makes this socket a PLAIN client.",
               minimum=1, maximum=255, supported=True),
    OptionSpec("plain_password", SocketOption.PLAIN_PASSWORD, "bytes", b"",
               "PLAIN password; makes this socket a PLAIN client.",
               minimum=1, maximum=255, supported=True),
    OptionSpec("curve_server", SocketOption.CURVE_SERVER, "int", 0,
               "Be the CURVE server (needs CURVE_SECRETKEY).",
               minimum=0, maximum=1, stored=False, supported=True),
    OptionSpec("curve_publickey", SocketOption.CURVE_PUBLICKEY, "bytes", b"",
               "Our long-term CURVE public key: 32 bytes or 40 Z85 characters.",
               minimum=32, maximum=41, supported=True),
    OptionSpec("curve_secretkey", SocketOption.CURVE_SECRETKEY, "bytes", b"",
               "Our long-term CURVE secret key: 32 bytes or 40 Z85 characters.",
               minimum=32, maximum=41, supported=True),
    OptionSpec("curve_serverkey", SocketOption.CURVE_SERVERKEY, "bytes", b"",
               "The server's CURVE public key; makes this socket a CURVE client.",
               minimum=32, maximum=41, supported=True),
    OptionSpec("zap_domain", SocketOption.ZAP_DOMAIN, "bytes", b"",
               "Domain sent in ZAP requests; also turns ZAP on for NULL.",
               minimum=1, maximum=255, supported=True),
    OptionSpec("zap_enforce_domain", SocketOption.ZAP_ENFORCE_DOMAIN, "bool", 0,
               "Refuse NULL and CURVE peers when no ZAP handler is bound (RFC 27).",
               supported=True),
    OptionSpec("metadata", SocketOption.METADATA, "bytes", (),
               "Add an application property 'X-name:value' to our READY/INITIATE metadata.",
               minimum=4, writeonly=True, supported=True),
    # TLS under ZMTP (tls+tcp://), securemq's own. Read at bind/connect and by reload_tls().
    OptionSpec("ssl_context", SocketOption.SSL_CONTEXT, "context", None,
               "A ready ssl.SSLContext for tls+tcp; when set, the tls_* files are ignored.",
               supported=True),
    OptionSpec("tls_cert", SocketOption.TLS_CERT, "text", "",
               "PEM certificate chain file presented to TLS peers (a server needs one).",
               supported=True),
    OptionSpec("tls_key", SocketOption.TLS_KEY, "text", "",
               "PEM private key file of tls_cert (default: the key is in tls_cert).",
               supported=True),
    OptionSpec("tls_ca", SocketOption.TLS_CA, "text", "",
               "PEM CA bundle that peers' certificates must chain to (client default: "
               "the system store).",
               supported=True),
    OptionSpec("tls_hostname", SocketOption.TLS_HOSTNAME, "text", "",
               "Name the server's certificate must carry (default: the endpoint's host).",
               supported=True),
    OptionSpec("tls_verify", SocketOption.TLS_VERIFY, "bool", 1,
               "Verify the server's certificate and name (clients); 0 only with tls_pins.",
               supported=True),
    OptionSpec("tls_require_client_cert", SocketOption.TLS_REQUIRE_CLIENT_CERT, "bool", 0,
               "Servers: refuse clients without a certificate that chains to tls_ca.",
               supported=True),
    OptionSpec("tls_min_version", SocketOption.TLS_MIN_VERSION, "int",
               int(ssl.TLSVersion.TLSv1_2),
               "Oldest TLS version accepted: ssl.TLSVersion.TLSv1_2 or TLSv1_3.",
               minimum=int(ssl.TLSVersion.TLSv1_2), maximum=int(ssl.TLSVersion.TLSv1_3),
               supported=True),
    OptionSpec("tls_pins", SocketOption.TLS_PINS, "text", "",
               "SPKI SHA-256 pins (sha256//BASE64 or hex), comma-separated or a list: "
               "the peer's key must be one of them (servers: needs tls_ca).",
               supported=True),
    OptionSpec("tls_expiry_warning", SocketOption.TLS_EXPIRY_WARNING, "int", 30 * 86400,
               "Warn (log and EVENT_TLS_CERT_EXPIRING) this many seconds before tls_cert "
               "expires; 0 never.",
               minimum=0, supported=True),
    # State the socket reports.
    OptionSpec("type", SocketOption.TYPE, "int", -1,
               "The socket type.",
               readonly=True, supported=True),
    OptionSpec("last_endpoint", SocketOption.LAST_ENDPOINT, "bytes", b"",
               "The endpoint last bound or connected, resolved.",
               readonly=True, supported=True),
    OptionSpec("rcvmore", SocketOption.RCVMORE, "int", None,
               "1 while more frames of the current message are to come.",
               readonly=True, stored=False, supported=True),
    OptionSpec("fd", SocketOption.FD, "int", None,
               "File descriptor that is readable when EVENTS may have changed.",
               readonly=True, stored=False, supported=True),
    OptionSpec("events", SocketOption.EVENTS, "int", None,
               "PollEvent bits: can receive (POLLIN), can send (POLLOUT).",
               readonly=True, stored=False, supported=True),
    OptionSpec("thread_safe", SocketOption.THREAD_SAFE, "int", None,
               "1 for socket types that several threads may share.",
               readonly=True, stored=False, supported=True),
    # Features securemq does not have: refused with EINVAL, like a libzmq built without them.
    _missing("gssapi_server", SocketOption.GSSAPI_SERVER, "int",
             "GSSAPI mechanism (not available)."),
    _missing("gssapi_principal", SocketOption.GSSAPI_PRINCIPAL, "bytes",
             "GSSAPI mechanism (not available)."),
    _missing("gssapi_service_principal", SocketOption.GSSAPI_SERVICE_PRINCIPAL, "bytes",
             "GSSAPI mechanism (not available)."),
    _missing("gssapi_plaintext", SocketOption.GSSAPI_PLAINTEXT, "int",
             "GSSAPI mechanism (not available)."),
    _missing("gssapi_principal_nametype", SocketOption.GSSAPI_PRINCIPAL_NAMETYPE, "int",
             "GSSAPI mechanism (not available)."),
    _missing("gssapi_service_principal_nametype",
             SocketOption.GSSAPI_SERVICE_PRINCIPAL_NAMETYPE, "int",
             "GSSAPI mechanism (not available)."),
    _missing("vmci_buffer_size", SocketOption.VMCI_BUFFER_SIZE, "int64",
             "VMCI transport (not available)."),
    _missing("vmci_buffer_min_size", SocketOption.VMCI_BUFFER_MIN_SIZE, "int64",
             "VMCI transport (not available)."),
    _missing("vmci_buffer_max_size", SocketOption.VMCI_BUFFER_MAX_SIZE, "int64",
             "VMCI transport (not available)."),
    _missing("vmci_connect_timeout", SocketOption.VMCI_CONNECT_TIMEOUT, "int",
             "VMCI transport (not available)."),
    _missing("wss_key_pem", SocketOption.WSS_KEY_PEM, "bytes",
             "WebSocket transport (not available)."),
    _missing("wss_cert_pem", SocketOption.WSS_CERT_PEM, "bytes",
             "WebSocket transport (not available)."),
    _missing("wss_trust_pem", SocketOption.WSS_TRUST_PEM, "bytes",
             "WebSocket transport (not available)."),
    _missing("wss_hostname", SocketOption.WSS_HOSTNAME, "bytes",
             "WebSocket transport (not available)."),
    _missing("wss_trust_system", SocketOption.WSS_TRUST_SYSTEM, "int",
             "WebSocket transport (not available)."),
    _missing("norm_mode", SocketOption.NORM_MODE, "int", "NORM transport (not available)."),
    _missing("norm_unicast_nack", SocketOption.NORM_UNICAST_NACK, "int",
             "NORM transport (not available)."),
    _missing("norm_buffer_size", SocketOption.NORM_BUFFER_SIZE, "int",
             "NORM transport (not available)."),
    _missing("norm_segment_size", SocketOption.NORM_SEGMENT_SIZE, "int",
             "NORM transport (not available)."),
    _missing("norm_block_size", SocketOption.NORM_BLOCK_SIZE, "int",
             "NORM transport (not available)."),
    _missing("norm_num_parity", SocketOption.NORM_NUM_PARITY, "int",
             "NORM transport (not available)."),
    _missing("norm_num_autoparity", SocketOption.NORM_NUM_AUTOPARITY, "int",
             "NORM transport (not available)."),
    _missing("norm_push", SocketOption.NORM_PUSH, "int", "NORM transport (not available)."),
    _missing("blocky", SocketOption.BLOCKY, "int", "A context option: set it on the Context."),
    _missing("in_batch_size", SocketOption.IN_BATCH_SIZE, "int",
             "Draft: receive batch size (not available)."),
    _missing("out_batch_size", SocketOption.OUT_BATCH_SIZE, "int",
             "Draft: send batch size (not available)."),
    _missing("hello_msg", SocketOption.HELLO_MSG, "bytes",
             "Draft: message sent to each new peer (not available)."),
    _missing("disconnect_msg", SocketOption.DISCONNECT_MSG, "bytes",
             "Draft: message on peer disconnect (not available)."),
    _missing("hiccup_msg", SocketOption.HICCUP_MSG, "bytes",
             "Draft: message on reconnect (not available)."),
    _missing("priority", SocketOption.PRIORITY, "int", "Draft: SO_PRIORITY (not available)."),
    _missing("busy_poll", SocketOption.BUSY_POLL, "int", "Draft: SO_BUSY_POLL (not available)."),
    _missing("xsub_verbose_unsubscribe", SocketOption.XSUB_VERBOSE_UNSUBSCRIBE, "int",
             "Draft: forward every unsubscribe (not available)."),
)

OPTIONS_BY_ID: dict[int, OptionSpec] = {int(spec.option): spec for spec in OPTIONS}
"""Each option by number (aliases such as IDENTITY share their option's number)."""

OPTIONS_BY_NAME: dict[str, OptionSpec] = {spec.name: spec for spec in OPTIONS}
"""Each option by lower-case name, including pyzmq's older names (``identity``...)."""
for _name, _member in SocketOption.__members__.items():
    OPTIONS_BY_NAME.setdefault(_name.lower(), OPTIONS_BY_ID[_member])
del _name, _member


def _text(spec: OptionSpec, value: object) -> str:
    """A ``text`` option's value as ``str`` (a list of pins is joined with commas)."""
    if spec.option == SocketOption.TLS_PINS and isinstance(value, (list, tuple, set,
                                                                   frozenset)):
        value = ",".join(v.decode() if isinstance(v, bytes) else str(v) for v in value)
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeDecodeError:
            raise ZMQError(EINVAL) from None
    if not isinstance(value, str):
        raise TypeError(f"{spec.name.upper()} takes str, not {type(value).__name__}")
    if "\x00" in value or len(value) > 4096:
        raise ZMQError(EINVAL)
    if spec.option == SocketOption.TLS_PINS:
        from .transport.tls import parse_pins  # noqa: PLC0415 - avoids an import cycle

        try:
            parse_pins(value)
        except ValueError:
            raise ZMQError(EINVAL) from None
    return value


def validate(spec: OptionSpec, value: object) -> OptionValue | None:
    """Check ``value`` against ``spec``'s type and range and return it normalised.

    Ints come back as plain ``int`` (``bool`` kinds as 0 or 1); bytes unchanged; text as
    ``str``; a context as itself. The
    socket uses this for ``action`` options; ``Options.set`` for the rest.

    Raises:
        TypeError: wrong type, e.g. ``str`` for a bytes option, as pyzmq does.
        ZMQError: EINVAL when the value (or its length) is out of range.
    """
    if spec.kind == "text":
        return _text(spec, value)
    if spec.kind == "context":
        if value is not None and not isinstance(value, ssl.SSLContext):
            raise TypeError(f"{spec.name.upper()} takes an ssl.SSLContext, "
                            f"not {type(value).__name__}")
        return value
    if spec.kind == "bytes":
        if not isinstance(value, bytes):
            raise TypeError(f"{spec.name.upper()} takes bytes, not {type(value).__name__}")
        size = len(value)
        if (spec.minimum is not None and size < spec.minimum) or (
            spec.maximum is not None and size > spec.maximum
        ):
            raise ZMQError(EINVAL)
        return value
    if not isinstance(value, int):
        raise TypeError(f"{spec.name.upper()} takes an int, not {type(value).__name__}")
    low, high = _INT64 if spec.kind == "int64" else _INT32
    if spec.minimum is not None:
        low = spec.minimum
    if spec.maximum is not None:
        high = spec.maximum
    if not low <= value <= high:
        raise ZMQError(EINVAL)
    if spec.kind == "bool":
        return 1 if value else 0
    return int(value)


def _curve_key(value: bytes) -> bytes:
    """Return a CURVE key as 32 raw bytes, given raw, as 40 Z85 characters, or NUL-ended.

    Raises:
        ZMQError: EINVAL for any other length, or text that is not Z85 (RFC 32).
    """
    if len(value) == 32:
        return value
    if len(value) == 41 and value[40] == 0:
        value = value[:40]
    if len(value) != 40:
        raise ZMQError(EINVAL)
    try:
        return z85.decode(value)
    except ValueError:
        raise ZMQError(EINVAL) from None


# RFC 37 "Metadata": property names are 1-255 of these characters.
_NAME_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.+")


def _metadata_property(value: bytes) -> tuple[str, bytes]:
    """Split METADATA's ``b"X-name:value"`` into its parts.

    Raises:
        ZMQError: EINVAL unless the name starts with ``X-`` and is a valid ZMTP property
            name, and the value is not empty (libzmq's rules, plus RFC 37's alphabet).
    """
    name, colon, data = value.partition(b":")
    if (
        not colon
        or not data
        or not name.startswith(b"X-")
        or len(name) > 255
        or not _NAME_CHARS.issuperset(name)
    ):
        raise ZMQError(EINVAL)
    return name.decode("ascii"), data


class Options:
    """One socket's option values, one attribute per stored option of ``OPTIONS``.

    Engines and patterns read attributes directly (``opts.sndhwm``); ``set`` and ``get``
    are the validated path behind ``setsockopt`` and ``getsockopt``. The I/O side gets a
    ``copy()`` taken when a connection starts, never the live object.

    Args:
        socket_type: The owning socket's type, stored as ``type`` and used to refuse
            options of other socket types; None (type -1) accepts all of them.
    """

    __slots__ = (
        *(spec.name for spec in OPTIONS if spec.stored),
        "as_server",
    )

    # Annotations for readers and type checkers; tests/test_options.py checks that they
    # match the table.
    sndhwm: int
    rcvhwm: int
    maxmsgsize: int
    conflate: int
    affinity: int
    routing_id: bytes
    router_mandatory: int
    router_handover: int
    router_raw: int
    router_notify: int
    probe_router: int
    req_correlate: int
    req_relaxed: int
    stream_notify: int
    xpub_verbose: int
    xpub_verboser: int
    xpub_manual: int
    xpub_manual_last_value: int
    xpub_nodrop: int
    xpub_welcome_msg: bytes
    only_first_subscribe: int
    invert_matching: int
    linger: int
    reconnect_ivl: int
    reconnect_ivl_max: int
    reconnect_stop: int
    connect_timeout: int
    handshake_ivl: int
    heartbeat_ivl: int
    heartbeat_ttl: int
    heartbeat_timeout: int
    immediate: int
    backlog: int
    rcvtimeo: int
    sndtimeo: int
    ipv6: int
    sndbuf: int
    rcvbuf: int
    tcp_keepalive: int
    tcp_keepalive_cnt: int
    tcp_keepalive_idle: int
    tcp_keepalive_intvl: int
    tcp_maxrt: int
    tos: int
    bindtodevice: bytes
    loopback_fastpath: int
    use_fd: int
    tcp_accept_filter: bytes
    ipc_filter_pid: int
    ipc_filter_uid: int
    ipc_filter_gid: int
    socks_proxy: bytes
    socks_username: bytes
    socks_password: bytes
    rate: int
    recovery_ivl: int
    multicast_hops: int
    multicast_maxtpdu: int
    multicast_loop: int
    mechanism: int
    plain_username: bytes
    plain_password: bytes
    curve_publickey: bytes
    """32 raw bytes once set (Z85 input is decoded); empty until then."""
    curve_secretkey: bytes
    """32 raw bytes once set; empty until then."""
    curve_serverkey: bytes
    """32 raw bytes once set; empty until then."""
    zap_domain: bytes
    zap_enforce_domain: int
    ssl_context: ssl.SSLContext | None
    tls_cert: str
    tls_key: str
    tls_ca: str
    tls_hostname: str
    tls_verify: int
    tls_require_client_cert: int
    tls_min_version: int
    tls_pins: str
    tls_expiry_warning: int
    metadata: Metadata
    type: int
    last_endpoint: bytes
    as_server: int
    """1 if this socket takes the server role of PLAIN or CURVE (not an option itself)."""

    def __init__(self, socket_type: int | None = None) -> None:
        for name, value in _DEFAULTS:
            setattr(self, name, value)
        if socket_type is not None:
            self.type = int(socket_type)

    def set(self, option: int, value: object) -> None:
        """Validate and store one option, as ``setsockopt`` does.

        Raises:
            TypeError: ``value`` has the wrong type (see ``validate``).
            ZMQError: EINVAL for an unknown, read-only, unavailable or action option, an
                option this socket type does not take, or a value out of range.
        """
        spec = OPTIONS_BY_ID.get(option)
        if spec is None or spec.readonly or spec.action or not spec.available:
            raise ZMQError(EINVAL)
        if spec.socket_types and self.type >= 0 and self.type not in spec.socket_types:
            raise ZMQError(EINVAL)
        checked = validate(spec, value)
        setter = _SETTERS.get(spec.option)
        if setter is None:
            setattr(self, spec.name, checked)
        else:
            assert isinstance(checked, (int, bytes))  # no setter takes text or a context
            setter(self, checked)

    def get(self, option: int) -> OptionValue | None:
        """Return one option's value, as ``getsockopt`` does.

        Raises:
            ZMQError: EINVAL for an unknown, write-only, unavailable or action option, an
                option this socket type does not take, or one the socket computes itself.
        """
        spec = OPTIONS_BY_ID.get(option)
        if spec is None or spec.writeonly or spec.action or not spec.available:
            raise ZMQError(EINVAL)
        if spec.socket_types and self.type >= 0 and self.type not in spec.socket_types:
            raise ZMQError(EINVAL)
        getter = _GETTERS.get(spec.option)
        if getter is not None:
            return getter(self)
        if not spec.stored:
            raise ZMQError(EINVAL)
        value: OptionValue | None = getattr(self, spec.name)
        return value

    def copy(self) -> Options:
        """Return an independent copy, e.g. the snapshot handed to a new connection."""
        new = Options.__new__(Options)
        for name in Options.__slots__:
            setattr(new, name, getattr(self, name))
        return new

    def __repr__(self) -> str:
        changed = [
            f"{name}={getattr(self, name)!r}"
            for name, default in _DEFAULTS
            if getattr(self, name) != default and name not in _SECRET
        ]
        return f"Options({', '.join(changed)})"


_DEFAULTS: tuple[tuple[str, OptionValue | None], ...] = (
    *((spec.name, spec.default) for spec in OPTIONS if spec.stored and spec.default is not None),
    ("ssl_context", None),
    ("as_server", 0),
)

# Never shown by repr: secrets must not reach logs (ARCHITECTURE.md, rule 6).
_SECRET = frozenset({"plain_password", "curve_secretkey", "socks_password"})


# ---------------------------------------------------------------------------
# Options whose setting or reading is more than one attribute.


def _set_hwm(opts: Options, value: int | bytes) -> None:
    assert isinstance(value, int)
    opts.sndhwm = opts.rcvhwm = value


def _set_ipv4only(opts: Options, value: int | bytes) -> None:
    opts.ipv6 = 0 if value else 1


def _set_heartbeat_ttl(opts: Options, value: int | bytes) -> None:
    # The PING command carries the TTL in tenths of a second (RFC 37), so libzmq
    # truncates towards zero: -99..99 become 0.
    assert isinstance(value, int)
    opts.heartbeat_ttl = value // 100 * 100 if value > 0 else 0


def _set_plain_server(opts: Options, value: int | bytes) -> None:
    assert isinstance(value, int)
    opts.as_server = value
    opts.mechanism = SecurityMechanism.PLAIN if value else SecurityMechanism.NULL


def _set_curve_server(opts: Options, value: int | bytes) -> None:
    assert isinstance(value, int)
    opts.as_server = value
    opts.mechanism = SecurityMechanism.CURVE if value else SecurityMechanism.NULL


def _set_plain_username(opts: Options, value: int | bytes) -> None:
    assert isinstance(value, bytes)
    opts.plain_username = value
    opts.as_server = 0
    opts.mechanism = SecurityMechanism.PLAIN


def _set_plain_password(opts: Options, value: int | bytes) -> None:
    assert isinstance(value, bytes)
    opts.plain_password = value
    opts.as_server = 0
    opts.mechanism = SecurityMechanism.PLAIN


def _set_curve_publickey(opts: Options, value: int | bytes) -> None:
    assert isinstance(value, bytes)
    opts.curve_publickey = _curve_key(value)
    opts.mechanism = SecurityMechanism.CURVE


def _set_curve_secretkey(opts: Options, value: int | bytes) -> None:
    assert isinstance(value, bytes)
    opts.curve_secretkey = _curve_key(value)
    opts.mechanism = SecurityMechanism.CURVE


def _set_curve_serverkey(opts: Options, value: int | bytes) -> None:
    assert isinstance(value, bytes)
    opts.curve_serverkey = _curve_key(value)
    opts.as_server = 0
    opts.mechanism = SecurityMechanism.CURVE


def _set_xpub_manual_last_value(opts: Options, value: int | bytes) -> None:
    # libzmq: the option switches manual mode on (or off) as well.
    assert isinstance(value, int)
    opts.xpub_manual_last_value = opts.xpub_manual = value


def _set_metadata(opts: Options, value: int | bytes) -> None:
    assert isinstance(value, bytes)
    name, data = _metadata_property(value)
    if all(existing != name for existing, _ in opts.metadata):  # first setting wins
        opts.metadata = (*opts.metadata, (name, data))


_SETTERS: dict[int, Callable[[Options, int | bytes], None]] = {
    SocketOption.HWM: _set_hwm,
    SocketOption.IPV4ONLY: _set_ipv4only,
    SocketOption.HEARTBEAT_TTL: _set_heartbeat_ttl,
    SocketOption.PLAIN_SERVER: _set_plain_server,
    SocketOption.CURVE_SERVER: _set_curve_server,
    SocketOption.PLAIN_USERNAME: _set_plain_username,
    SocketOption.PLAIN_PASSWORD: _set_plain_password,
    SocketOption.CURVE_PUBLICKEY: _set_curve_publickey,
    SocketOption.CURVE_SECRETKEY: _set_curve_secretkey,
    SocketOption.CURVE_SERVERKEY: _set_curve_serverkey,
    SocketOption.METADATA: _set_metadata,
    SocketOption.XPUB_MANUAL_LAST_VALUE: _set_xpub_manual_last_value,
}

_GETTERS: dict[int, Callable[[Options], int]] = {
    SocketOption.HWM: lambda opts: opts.sndhwm,
    SocketOption.IPV4ONLY: lambda opts: 0 if opts.ipv6 else 1,
    SocketOption.PLAIN_SERVER: lambda opts: int(
        bool(opts.as_server) and opts.mechanism == SecurityMechanism.PLAIN
    ),
    SocketOption.CURVE_SERVER: lambda opts: int(
        bool(opts.as_server) and opts.mechanism == SecurityMechanism.CURVE
    ),
}
