"""libzmq's numbers: socket types, options, flags, monitor events, errno values.

Every value here is the one libzmq 4.3.5 (and so pyzmq) uses, because they cross the API
boundary unchanged: applications pass them to ``setsockopt`` and ``send``, and monitor
sockets and ZAP handlers read them from the wire. ``tests/test_constants.py`` checks each
one against pyzmq's ``zmq`` module.

The enums carry the grouping; every member is also a module-level name spelled as pyzmq
spells it (``PUSH``, ``SNDHWM``, ``EVENT_CONNECTED``, ``RECONNECT_STOP_CONN_REFUSED``,
``PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND``...), so ``securemq.<NAME>`` works like
``zmq.<NAME>``.

``Flag``, ``PollEvent`` and ``Event`` are ``IntFlag`` as in pyzmq, so ``POLLIN | POLLOUT``
stays a ``PollEvent``. Bitwise operators on ``IntFlag`` members run through the enum
machinery (about a microsecond each): code on the per-message path should test flags
against plain ints, e.g. ``_DONTWAIT = int(Flag.DONTWAIT)`` at import time.
"""

from __future__ import annotations

import errno as _errno
import socket as _socket
import sys as _sys
from enum import IntEnum, IntFlag
from importlib.util import find_spec as _find_spec

HAUSNUMERO = 156384712
"""Base of libzmq's private errno range: errors the OS does not define are offsets from it."""

VERSION_MAJOR = 4
"""Major version of the libzmq whose behaviour securemq reproduces."""
VERSION_MINOR = 3
"""Minor version of the emulated libzmq."""
VERSION_PATCH = 5
"""Patch level of the emulated libzmq."""
VERSION = VERSION_MAJOR * 10000 + VERSION_MINOR * 100 + VERSION_PATCH
"""The emulated libzmq version as one number, like libzmq's ``ZMQ_VERSION`` macro."""

DRAFT_API = False
"""Whether libzmq's draft API is enabled; draft socket types exist but are not promised."""

IPC_PATH_MAX_LEN = 103 if _sys.platform == "darwin" or "bsd" in _sys.platform else 107
"""Longest ``ipc://`` path the OS accepts: ``sizeof(sun_path) - 1``."""


def _os_errno(name: str, offset: int) -> int:
    """Return the OS errno called ``name``, or libzmq's stand-in when the OS lacks it."""
    value = getattr(_errno, name, None)
    return value if isinstance(value, int) else HAUSNUMERO + offset


class SocketType(IntEnum):
    """Socket types, the first argument of ``Context.socket``."""

    PAIR = 0
    PUB = 1
    SUB = 2
    REQ = 3
    REP = 4
    DEALER = 5
    ROUTER = 6
    PULL = 7
    PUSH = 8
    XPUB = 9
    XSUB = 10
    STREAM = 11
    XREQ = 5  # old name of DEALER
    XREP = 6  # old name of ROUTER
    # Draft socket types (libzmq's ZMQ_BUILD_DRAFT_API).
    SERVER = 12
    CLIENT = 13
    RADIO = 14
    DISH = 15
    GATHER = 16
    SCATTER = 17
    DGRAM = 18
    PEER = 19
    CHANNEL = 20


class ContextOption(IntEnum):
    """Options of ``Context.set`` / ``Context.get``."""

    IO_THREADS = 1
    MAX_SOCKETS = 2
    SOCKET_LIMIT = 3
    THREAD_PRIORITY = 3  # libzmq reuses the number: read-only SOCKET_LIMIT, write-only here
    THREAD_SCHED_POLICY = 4
    MAX_MSGSZ = 5
    MSG_T_SIZE = 6
    THREAD_AFFINITY_CPU_ADD = 7
    THREAD_AFFINITY_CPU_REMOVE = 8
    THREAD_NAME_PREFIX = 9
    ZERO_COPY_RECV = 10  # draft
    IPV6 = 42  # context-wide default for new sockets; same number as the socket option
    BLOCKY = 70


class SocketOption(IntEnum):
    """Socket options of ``setsockopt`` / ``getsockopt``, including draft ones.

    ``securemq.options`` says, for each, its type, default, valid range and whether
    securemq acts on it.
    """

    HWM = 1
    AFFINITY = 4
    ROUTING_ID = 5
    SUBSCRIBE = 6
    UNSUBSCRIBE = 7
    RATE = 8
    RECOVERY_IVL = 9
    SNDBUF = 11
    RCVBUF = 12
    RCVMORE = 13
    FD = 14
    EVENTS = 15
    TYPE = 16
    LINGER = 17
    RECONNECT_IVL = 18
    BACKLOG = 19
    RECONNECT_IVL_MAX = 21
    MAXMSGSIZE = 22
    SNDHWM = 23
    RCVHWM = 24
    MULTICAST_HOPS = 25
    RCVTIMEO = 27
    SNDTIMEO = 28
    IPV4ONLY = 31
    LAST_ENDPOINT = 32
    ROUTER_MANDATORY = 33
    TCP_KEEPALIVE = 34
    TCP_KEEPALIVE_CNT = 35
    TCP_KEEPALIVE_IDLE = 36
    TCP_KEEPALIVE_INTVL = 37
    TCP_ACCEPT_FILTER = 38
    IMMEDIATE = 39
    XPUB_VERBOSE = 40
    ROUTER_RAW = 41
    IPV6 = 42
    MECHANISM = 43
    PLAIN_SERVER = 44
    PLAIN_USERNAME = 45
    PLAIN_PASSWORD = 46
    CURVE_SERVER = 47
    CURVE_PUBLICKEY = 48
    CURVE_SECRETKEY = 49
    CURVE_SERVERKEY = 50
    PROBE_ROUTER = 51
    REQ_CORRELATE = 52
    REQ_RELAXED = 53
    CONFLATE = 54
    ZAP_DOMAIN = 55
    ROUTER_HANDOVER = 56
    TOS = 57
    IPC_FILTER_PID = 58
    IPC_FILTER_UID = 59
    IPC_FILTER_GID = 60
    CONNECT_ROUTING_ID = 61
    GSSAPI_SERVER = 62
    GSSAPI_PRINCIPAL = 63
    GSSAPI_SERVICE_PRINCIPAL = 64
    GSSAPI_PLAINTEXT = 65
    HANDSHAKE_IVL = 66
    SOCKS_PROXY = 68
    XPUB_NODROP = 69
    BLOCKY = 70
    XPUB_MANUAL = 71
    XPUB_WELCOME_MSG = 72
    STREAM_NOTIFY = 73
    INVERT_MATCHING = 74
    HEARTBEAT_IVL = 75
    HEARTBEAT_TTL = 76
    HEARTBEAT_TIMEOUT = 77
    XPUB_VERBOSER = 78
    CONNECT_TIMEOUT = 79
    TCP_MAXRT = 80
    THREAD_SAFE = 81
    MULTICAST_MAXTPDU = 84
    VMCI_BUFFER_SIZE = 85
    VMCI_BUFFER_MIN_SIZE = 86
    VMCI_BUFFER_MAX_SIZE = 87
    VMCI_CONNECT_TIMEOUT = 88
    USE_FD = 89
    GSSAPI_PRINCIPAL_NAMETYPE = 90
    GSSAPI_SERVICE_PRINCIPAL_NAMETYPE = 91
    BINDTODEVICE = 92
    ZAP_ENFORCE_DOMAIN = 93
    LOOPBACK_FASTPATH = 94
    METADATA = 95
    MULTICAST_LOOP = 96
    ROUTER_NOTIFY = 97
    XPUB_MANUAL_LAST_VALUE = 98
    SOCKS_USERNAME = 99
    SOCKS_PASSWORD = 100
    IN_BATCH_SIZE = 101
    OUT_BATCH_SIZE = 102
    WSS_KEY_PEM = 103
    WSS_CERT_PEM = 104
    WSS_TRUST_PEM = 105
    WSS_HOSTNAME = 106
    WSS_TRUST_SYSTEM = 107
    ONLY_FIRST_SUBSCRIBE = 108
    RECONNECT_STOP = 109
    HELLO_MSG = 110
    DISCONNECT_MSG = 111
    PRIORITY = 112
    BUSY_POLL = 113
    HICCUP_MSG = 114
    XSUB_VERBOSE_UNSUBSCRIBE = 115
    TOPICS_COUNT = 116
    NORM_MODE = 117
    NORM_UNICAST_NACK = 118
    NORM_BUFFER_SIZE = 119
    NORM_SEGMENT_SIZE = 120
    NORM_BLOCK_SIZE = 121
    NORM_NUM_PARITY = 122
    NORM_NUM_AUTOPARITY = 123
    NORM_PUSH = 124
    # securemq's own: TLS under ZMTP (tls+tcp://). Far above libzmq's numbers.
    SSL_CONTEXT = 1000
    TLS_CERT = 1001
    TLS_KEY = 1002
    TLS_CA = 1003
    TLS_HOSTNAME = 1004
    TLS_VERIFY = 1005
    TLS_REQUIRE_CLIENT_CERT = 1006
    TLS_MIN_VERSION = 1007
    TLS_PINS = 1008
    TLS_EXPIRY_WARNING = 1009
    # Older names kept by libzmq and pyzmq.
    IDENTITY = 5
    CONNECT_RID = 61
    DELAY_ATTACH_ON_CONNECT = 39
    FAIL_UNROUTABLE = 33
    ROUTER_BEHAVIOR = 33


class MessageOption(IntEnum):
    """Properties of a received message (``Frame.get``)."""

    MORE = 1
    SRCFD = 2
    SHARED = 3


class Flag(IntFlag):
    """Flags of ``send`` and ``recv``."""

    DONTWAIT = 1
    SNDMORE = 2
    NOBLOCK = 1  # old name of DONTWAIT


class PollEvent(IntFlag):
    """Readiness bits of ``poll`` and of the ``EVENTS`` option."""

    POLLIN = 1
    POLLOUT = 2
    POLLERR = 4
    POLLPRI = 8


class Event(IntFlag):
    """Socket monitor events: the first frame of each monitor message.

    The value that travels with an event is an errno (``*_FAILED``, ``CONNECT_DELAYED``,
    ``HANDSHAKE_FAILED_NO_DETAIL``), a file descriptor (``CONNECTED``, ``ACCEPTED``,
    ``LISTENING``, ``CLOSED``, ``DISCONNECTED``), a reconnect interval
    (``CONNECT_RETRIED``), a ``ProtocolErrorCode`` (``HANDSHAKE_FAILED_PROTOCOL``) or a
    ZAP status code (``HANDSHAKE_FAILED_AUTH``). On ``tls+tcp`` endpoints the two
    handshake failures may carry a ``securemq.transport.tls.TlsReason`` (600 and up)
    instead, and ``TLS_CERT_EXPIRING`` the seconds left before the local certificate
    expires.
    """

    CONNECTED = 0x0001
    CONNECT_DELAYED = 0x0002
    CONNECT_RETRIED = 0x0004
    LISTENING = 0x0008
    BIND_FAILED = 0x0010
    ACCEPTED = 0x0020
    ACCEPT_FAILED = 0x0040
    CLOSED = 0x0080
    CLOSE_FAILED = 0x0100
    DISCONNECTED = 0x0200
    MONITOR_STOPPED = 0x0400
    HANDSHAKE_FAILED_NO_DETAIL = 0x0800
    HANDSHAKE_SUCCEEDED = 0x1000
    HANDSHAKE_FAILED_PROTOCOL = 0x2000
    HANDSHAKE_FAILED_AUTH = 0x4000
    # securemq's own, in the one bit of the 16 that libzmq leaves unused.
    TLS_CERT_EXPIRING = 0x8000
    ALL_V1 = 0xFFFF
    ALL = 0xFFFF  # every version-1 event
    PIPES_STATS = 0x10000
    ALL_V2 = 0x1FFFF


class ProtocolErrorCode(IntEnum):
    """Why a handshake failed: the value of a ``HANDSHAKE_FAILED_PROTOCOL`` event.

    libzmq's ``ZMQ_PROTOCOL_ERROR_*``; pyzmq files them under ``Event`` with a
    ``PROTOCOL_ERROR_`` prefix, which is how the module-level names are spelled.
    """

    ZMTP_UNSPECIFIED = 0x10000000
    ZMTP_UNEXPECTED_COMMAND = 0x10000001
    ZMTP_INVALID_SEQUENCE = 0x10000002
    ZMTP_KEY_EXCHANGE = 0x10000003
    ZMTP_MALFORMED_COMMAND_UNSPECIFIED = 0x10000011
    ZMTP_MALFORMED_COMMAND_MESSAGE = 0x10000012
    ZMTP_MALFORMED_COMMAND_HELLO = 0x10000013
    ZMTP_MALFORMED_COMMAND_INITIATE = 0x10000014
    ZMTP_MALFORMED_COMMAND_ERROR = 0x10000015
    ZMTP_MALFORMED_COMMAND_READY = 0x10000016
    ZMTP_MALFORMED_COMMAND_WELCOME = 0x10000017
    ZMTP_INVALID_METADATA = 0x10000018
    ZMTP_CRYPTOGRAPHIC = 0x11000001
    ZMTP_MECHANISM_MISMATCH = 0x11000002
    ZAP_UNSPECIFIED = 0x20000000
    ZAP_MALFORMED_REPLY = 0x20000001
    ZAP_BAD_REQUEST_ID = 0x20000002
    ZAP_BAD_VERSION = 0x20000003
    ZAP_INVALID_STATUS_CODE = 0x20000004
    ZAP_INVALID_METADATA = 0x20000005
    WS_UNSPECIFIED = 0x30000000


class SecurityMechanism(IntEnum):
    """Security mechanisms: the value of the ``MECHANISM`` option."""

    NULL = 0
    PLAIN = 1
    CURVE = 2
    GSSAPI = 3


class ReconnectStop(IntEnum):
    """Bits of the ``RECONNECT_STOP`` option: when a connecter gives up reconnecting."""

    CONN_REFUSED = 1
    HANDSHAKE_FAILED = 2
    AFTER_DISCONNECT = 4


class RouterNotify(IntEnum):
    """Bits of the ``ROUTER_NOTIFY`` option: peer arrivals and departures a ROUTER reports."""

    CONNECT = 1
    DISCONNECT = 2


class NormMode(IntEnum):
    """Values of the ``NORM_MODE`` option (NORM transport, which securemq does not have)."""

    FIXED = 0
    CC = 1
    CCL = 2
    CCE = 3
    CCE_ECNONLY = 4


class DeviceType(IntEnum):
    """Kinds of the legacy ``device`` call."""

    STREAMER = 1
    FORWARDER = 2
    QUEUE = 3


class Errno(IntEnum):
    """Error numbers carried by ``ZMQError.errno``.

    System errors have the OS's own numbers (libzmq reports what the OS said); where an
    OS lacks one, libzmq substitutes ``HAUSNUMERO`` plus a fixed offset, and so do we.
    ``EFSM`` and the three after it are libzmq's own.
    """

    EAGAIN = _errno.EAGAIN
    EFAULT = _errno.EFAULT
    EINVAL = _errno.EINVAL
    ENOTSUP = _os_errno("ENOTSUP", 1)
    EPROTONOSUPPORT = _os_errno("EPROTONOSUPPORT", 2)
    ENOBUFS = _os_errno("ENOBUFS", 3)
    ENETDOWN = _os_errno("ENETDOWN", 4)
    EADDRINUSE = _os_errno("EADDRINUSE", 5)
    EADDRNOTAVAIL = _os_errno("EADDRNOTAVAIL", 6)
    ECONNREFUSED = _os_errno("ECONNREFUSED", 7)
    EINPROGRESS = _os_errno("EINPROGRESS", 8)
    ENOTSOCK = _os_errno("ENOTSOCK", 9)
    EMSGSIZE = _os_errno("EMSGSIZE", 10)
    EAFNOSUPPORT = _os_errno("EAFNOSUPPORT", 11)
    ENETUNREACH = _os_errno("ENETUNREACH", 12)
    ECONNABORTED = _os_errno("ECONNABORTED", 13)
    ECONNRESET = _os_errno("ECONNRESET", 14)
    ENOTCONN = _os_errno("ENOTCONN", 15)
    ETIMEDOUT = _os_errno("ETIMEDOUT", 16)
    EHOSTUNREACH = _os_errno("EHOSTUNREACH", 17)
    ENETRESET = _os_errno("ENETRESET", 18)
    EFSM = HAUSNUMERO + 51
    ENOCOMPATPROTO = HAUSNUMERO + 52
    ETERM = HAUSNUMERO + 53
    EMTHREAD = HAUSNUMERO + 54
    # Plain OS errors that securemq raises too (pyzmq has no names for them).
    EINTR = _errno.EINTR
    ENOENT = _errno.ENOENT
    ENOMEM = _errno.ENOMEM
    EACCES = _errno.EACCES
    EBUSY = _errno.EBUSY
    EMFILE = _errno.EMFILE
    EPIPE = _errno.EPIPE
    ENODEV = _errno.ENODEV
    ENAMETOOLONG = _errno.ENAMETOOLONG
    EPROTO = _errno.EPROTO


def zmq_version() -> str:
    """Return the emulated libzmq version as ``"major.minor.patch"``."""
    return f"{VERSION_MAJOR}.{VERSION_MINOR}.{VERSION_PATCH}"


def zmq_version_info() -> tuple[int, int, int]:
    """Return the emulated libzmq version as ``(major, minor, patch)``."""
    return (VERSION_MAJOR, VERSION_MINOR, VERSION_PATCH)


_CAPABILITIES: dict[str, bool] = {
    "ipc": hasattr(_socket, "AF_UNIX"),
    # CURVE needs PyNaCl, a dependency; a build without it must not claim CURVE.
    "curve": _find_spec("nacl") is not None,
    "pgm": False,
    "tipc": False,
    "norm": False,
    "vmci": False,
    "gssapi": False,
    "ws": False,
    "wss": False,
    "draft": DRAFT_API,
}


def has(capability: str) -> bool:
    """Say whether this build offers a capability, as libzmq's ``zmq_has``.

    Names are libzmq's: transports (``"ipc"``, ``"pgm"``, ``"tipc"``, ``"norm"``,
    ``"vmci"``, ``"ws"``), mechanisms (``"curve"``, ``"gssapi"``) and ``"draft"``.
    Unknown names are simply not offered.
    """
    return _CAPABILITIES.get(capability, False)


# Module-level names, spelled as pyzmq spells them at ``zmq.<NAME>``. Written out (not
# generated at import) so that type checkers and readers see them;
# tests/test_constants.py checks that none is missing.

# SocketType
PAIR = SocketType.PAIR
PUB = SocketType.PUB
SUB = SocketType.SUB
REQ = SocketType.REQ
REP = SocketType.REP
DEALER = SocketType.DEALER
ROUTER = SocketType.ROUTER
PULL = SocketType.PULL
PUSH = SocketType.PUSH
XPUB = SocketType.XPUB
XSUB = SocketType.XSUB
STREAM = SocketType.STREAM
XREQ = SocketType.XREQ
XREP = SocketType.XREP
SERVER = SocketType.SERVER
CLIENT = SocketType.CLIENT
RADIO = SocketType.RADIO
DISH = SocketType.DISH
GATHER = SocketType.GATHER
SCATTER = SocketType.SCATTER
DGRAM = SocketType.DGRAM
PEER = SocketType.PEER
CHANNEL = SocketType.CHANNEL

# SocketOption
HWM = SocketOption.HWM
AFFINITY = SocketOption.AFFINITY
ROUTING_ID = SocketOption.ROUTING_ID
SUBSCRIBE = SocketOption.SUBSCRIBE
UNSUBSCRIBE = SocketOption.UNSUBSCRIBE
RATE = SocketOption.RATE
RECOVERY_IVL = SocketOption.RECOVERY_IVL
SNDBUF = SocketOption.SNDBUF
RCVBUF = SocketOption.RCVBUF
RCVMORE = SocketOption.RCVMORE
FD = SocketOption.FD
EVENTS = SocketOption.EVENTS
TYPE = SocketOption.TYPE
LINGER = SocketOption.LINGER
RECONNECT_IVL = SocketOption.RECONNECT_IVL
BACKLOG = SocketOption.BACKLOG
RECONNECT_IVL_MAX = SocketOption.RECONNECT_IVL_MAX
MAXMSGSIZE = SocketOption.MAXMSGSIZE
SNDHWM = SocketOption.SNDHWM
RCVHWM = SocketOption.RCVHWM
MULTICAST_HOPS = SocketOption.MULTICAST_HOPS
RCVTIMEO = SocketOption.RCVTIMEO
SNDTIMEO = SocketOption.SNDTIMEO
IPV4ONLY = SocketOption.IPV4ONLY
LAST_ENDPOINT = SocketOption.LAST_ENDPOINT
ROUTER_MANDATORY = SocketOption.ROUTER_MANDATORY
TCP_KEEPALIVE = SocketOption.TCP_KEEPALIVE
TCP_KEEPALIVE_CNT = SocketOption.TCP_KEEPALIVE_CNT
TCP_KEEPALIVE_IDLE = SocketOption.TCP_KEEPALIVE_IDLE
TCP_KEEPALIVE_INTVL = SocketOption.TCP_KEEPALIVE_INTVL
TCP_ACCEPT_FILTER = SocketOption.TCP_ACCEPT_FILTER
IMMEDIATE = SocketOption.IMMEDIATE
XPUB_VERBOSE = SocketOption.XPUB_VERBOSE
ROUTER_RAW = SocketOption.ROUTER_RAW
IPV6 = SocketOption.IPV6
MECHANISM = SocketOption.MECHANISM
PLAIN_SERVER = SocketOption.PLAIN_SERVER
PLAIN_USERNAME = SocketOption.PLAIN_USERNAME
PLAIN_PASSWORD = SocketOption.PLAIN_PASSWORD
CURVE_SERVER = SocketOption.CURVE_SERVER
CURVE_PUBLICKEY = SocketOption.CURVE_PUBLICKEY
CURVE_SECRETKEY = SocketOption.CURVE_SECRETKEY
CURVE_SERVERKEY = SocketOption.CURVE_SERVERKEY
PROBE_ROUTER = SocketOption.PROBE_ROUTER
REQ_CORRELATE = SocketOption.REQ_CORRELATE
REQ_RELAXED = SocketOption.REQ_RELAXED
CONFLATE = SocketOption.CONFLATE
ZAP_DOMAIN = SocketOption.ZAP_DOMAIN
ROUTER_HANDOVER = SocketOption.ROUTER_HANDOVER
TOS = SocketOption.TOS
IPC_FILTER_PID = SocketOption.IPC_FILTER_PID
IPC_FILTER_UID = SocketOption.IPC_FILTER_UID
IPC_FILTER_GID = SocketOption.IPC_FILTER_GID
CONNECT_ROUTING_ID = SocketOption.CONNECT_ROUTING_ID
GSSAPI_SERVER = SocketOption.GSSAPI_SERVER
GSSAPI_PRINCIPAL = SocketOption.GSSAPI_PRINCIPAL
GSSAPI_SERVICE_PRINCIPAL = SocketOption.GSSAPI_SERVICE_PRINCIPAL
GSSAPI_PLAINTEXT = SocketOption.GSSAPI_PLAINTEXT
HANDSHAKE_IVL = SocketOption.HANDSHAKE_IVL
SOCKS_PROXY = SocketOption.SOCKS_PROXY
XPUB_NODROP = SocketOption.XPUB_NODROP
BLOCKY = SocketOption.BLOCKY
XPUB_MANUAL = SocketOption.XPUB_MANUAL
XPUB_WELCOME_MSG = SocketOption.XPUB_WELCOME_MSG
STREAM_NOTIFY = SocketOption.STREAM_NOTIFY
INVERT_MATCHING = SocketOption.INVERT_MATCHING
HEARTBEAT_IVL = SocketOption.HEARTBEAT_IVL
HEARTBEAT_TTL = SocketOption.HEARTBEAT_TTL
HEARTBEAT_TIMEOUT = SocketOption.HEARTBEAT_TIMEOUT
XPUB_VERBOSER = SocketOption.XPUB_VERBOSER
CONNECT_TIMEOUT = SocketOption.CONNECT_TIMEOUT
TCP_MAXRT = SocketOption.TCP_MAXRT
THREAD_SAFE = SocketOption.THREAD_SAFE
MULTICAST_MAXTPDU = SocketOption.MULTICAST_MAXTPDU
VMCI_BUFFER_SIZE = SocketOption.VMCI_BUFFER_SIZE
VMCI_BUFFER_MIN_SIZE = SocketOption.VMCI_BUFFER_MIN_SIZE
VMCI_BUFFER_MAX_SIZE = SocketOption.VMCI_BUFFER_MAX_SIZE
VMCI_CONNECT_TIMEOUT = SocketOption.VMCI_CONNECT_TIMEOUT
USE_FD = SocketOption.USE_FD
GSSAPI_PRINCIPAL_NAMETYPE = SocketOption.GSSAPI_PRINCIPAL_NAMETYPE
GSSAPI_SERVICE_PRINCIPAL_NAMETYPE = SocketOption.GSSAPI_SERVICE_PRINCIPAL_NAMETYPE
BINDTODEVICE = SocketOption.BINDTODEVICE
ZAP_ENFORCE_DOMAIN = SocketOption.ZAP_ENFORCE_DOMAIN
LOOPBACK_FASTPATH = SocketOption.LOOPBACK_FASTPATH
METADATA = SocketOption.METADATA
MULTICAST_LOOP = SocketOption.MULTICAST_LOOP
ROUTER_NOTIFY = SocketOption.ROUTER_NOTIFY
XPUB_MANUAL_LAST_VALUE = SocketOption.XPUB_MANUAL_LAST_VALUE
SOCKS_USERNAME = SocketOption.SOCKS_USERNAME
SOCKS_PASSWORD = SocketOption.SOCKS_PASSWORD
IN_BATCH_SIZE = SocketOption.IN_BATCH_SIZE
OUT_BATCH_SIZE = SocketOption.OUT_BATCH_SIZE
WSS_KEY_PEM = SocketOption.WSS_KEY_PEM
WSS_CERT_PEM = SocketOption.WSS_CERT_PEM
WSS_TRUST_PEM = SocketOption.WSS_TRUST_PEM
WSS_HOSTNAME = SocketOption.WSS_HOSTNAME
WSS_TRUST_SYSTEM = SocketOption.WSS_TRUST_SYSTEM
ONLY_FIRST_SUBSCRIBE = SocketOption.ONLY_FIRST_SUBSCRIBE
RECONNECT_STOP = SocketOption.RECONNECT_STOP
HELLO_MSG = SocketOption.HELLO_MSG
DISCONNECT_MSG = SocketOption.DISCONNECT_MSG
PRIORITY = SocketOption.PRIORITY
BUSY_POLL = SocketOption.BUSY_POLL
HICCUP_MSG = SocketOption.HICCUP_MSG
XSUB_VERBOSE_UNSUBSCRIBE = SocketOption.XSUB_VERBOSE_UNSUBSCRIBE
TOPICS_COUNT = SocketOption.TOPICS_COUNT
NORM_MODE = SocketOption.NORM_MODE
NORM_UNICAST_NACK = SocketOption.NORM_UNICAST_NACK
NORM_BUFFER_SIZE = SocketOption.NORM_BUFFER_SIZE
NORM_SEGMENT_SIZE = SocketOption.NORM_SEGMENT_SIZE
NORM_BLOCK_SIZE = SocketOption.NORM_BLOCK_SIZE
NORM_NUM_PARITY = SocketOption.NORM_NUM_PARITY
NORM_NUM_AUTOPARITY = SocketOption.NORM_NUM_AUTOPARITY
NORM_PUSH = SocketOption.NORM_PUSH
SSL_CONTEXT = SocketOption.SSL_CONTEXT
TLS_CERT = SocketOption.TLS_CERT
TLS_KEY = SocketOption.TLS_KEY
TLS_CA = SocketOption.TLS_CA
TLS_HOSTNAME = SocketOption.TLS_HOSTNAME
TLS_VERIFY = SocketOption.TLS_VERIFY
TLS_REQUIRE_CLIENT_CERT = SocketOption.TLS_REQUIRE_CLIENT_CERT
TLS_MIN_VERSION = SocketOption.TLS_MIN_VERSION
TLS_PINS = SocketOption.TLS_PINS
TLS_EXPIRY_WARNING = SocketOption.TLS_EXPIRY_WARNING
IDENTITY = SocketOption.IDENTITY
CONNECT_RID = SocketOption.CONNECT_RID
DELAY_ATTACH_ON_CONNECT = SocketOption.DELAY_ATTACH_ON_CONNECT
FAIL_UNROUTABLE = SocketOption.FAIL_UNROUTABLE
ROUTER_BEHAVIOR = SocketOption.ROUTER_BEHAVIOR

# ContextOption
IO_THREADS = ContextOption.IO_THREADS
MAX_SOCKETS = ContextOption.MAX_SOCKETS
SOCKET_LIMIT = ContextOption.SOCKET_LIMIT
THREAD_PRIORITY = ContextOption.THREAD_PRIORITY
THREAD_SCHED_POLICY = ContextOption.THREAD_SCHED_POLICY
MAX_MSGSZ = ContextOption.MAX_MSGSZ
MSG_T_SIZE = ContextOption.MSG_T_SIZE
THREAD_AFFINITY_CPU_ADD = ContextOption.THREAD_AFFINITY_CPU_ADD
THREAD_AFFINITY_CPU_REMOVE = ContextOption.THREAD_AFFINITY_CPU_REMOVE
THREAD_NAME_PREFIX = ContextOption.THREAD_NAME_PREFIX
ZERO_COPY_RECV = ContextOption.ZERO_COPY_RECV

# MessageOption
MORE = MessageOption.MORE
SRCFD = MessageOption.SRCFD
SHARED = MessageOption.SHARED

# Flag
DONTWAIT = Flag.DONTWAIT
SNDMORE = Flag.SNDMORE
NOBLOCK = Flag.NOBLOCK

# PollEvent
POLLIN = PollEvent.POLLIN
POLLOUT = PollEvent.POLLOUT
POLLERR = PollEvent.POLLERR
POLLPRI = PollEvent.POLLPRI

# Event
EVENT_CONNECTED = Event.CONNECTED
EVENT_CONNECT_DELAYED = Event.CONNECT_DELAYED
EVENT_CONNECT_RETRIED = Event.CONNECT_RETRIED
EVENT_LISTENING = Event.LISTENING
EVENT_BIND_FAILED = Event.BIND_FAILED
EVENT_ACCEPTED = Event.ACCEPTED
EVENT_ACCEPT_FAILED = Event.ACCEPT_FAILED
EVENT_CLOSED = Event.CLOSED
EVENT_CLOSE_FAILED = Event.CLOSE_FAILED
EVENT_DISCONNECTED = Event.DISCONNECTED
EVENT_MONITOR_STOPPED = Event.MONITOR_STOPPED
EVENT_HANDSHAKE_FAILED_NO_DETAIL = Event.HANDSHAKE_FAILED_NO_DETAIL
EVENT_HANDSHAKE_SUCCEEDED = Event.HANDSHAKE_SUCCEEDED
EVENT_HANDSHAKE_FAILED_PROTOCOL = Event.HANDSHAKE_FAILED_PROTOCOL
EVENT_HANDSHAKE_FAILED_AUTH = Event.HANDSHAKE_FAILED_AUTH
EVENT_ALL_V1 = Event.ALL_V1
EVENT_ALL = Event.ALL
EVENT_PIPES_STATS = Event.PIPES_STATS
EVENT_ALL_V2 = Event.ALL_V2
EVENT_TLS_CERT_EXPIRING = Event.TLS_CERT_EXPIRING

# ProtocolErrorCode
PROTOCOL_ERROR_ZMTP_UNSPECIFIED = ProtocolErrorCode.ZMTP_UNSPECIFIED
PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND = ProtocolErrorCode.ZMTP_UNEXPECTED_COMMAND
PROTOCOL_ERROR_ZMTP_INVALID_SEQUENCE = ProtocolErrorCode.ZMTP_INVALID_SEQUENCE
PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE = ProtocolErrorCode.ZMTP_KEY_EXCHANGE
PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_UNSPECIFIED = (
    ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_UNSPECIFIED
)
PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_MESSAGE = ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_MESSAGE
PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_HELLO = ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_HELLO
PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_INITIATE = ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_INITIATE
PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_ERROR = ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_ERROR
PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_READY = ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_READY
PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_WELCOME = ProtocolErrorCode.ZMTP_MALFORMED_COMMAND_WELCOME
PROTOCOL_ERROR_ZMTP_INVALID_METADATA = ProtocolErrorCode.ZMTP_INVALID_METADATA
PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC = ProtocolErrorCode.ZMTP_CRYPTOGRAPHIC
PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH = ProtocolErrorCode.ZMTP_MECHANISM_MISMATCH
PROTOCOL_ERROR_ZAP_UNSPECIFIED = ProtocolErrorCode.ZAP_UNSPECIFIED
PROTOCOL_ERROR_ZAP_MALFORMED_REPLY = ProtocolErrorCode.ZAP_MALFORMED_REPLY
PROTOCOL_ERROR_ZAP_BAD_REQUEST_ID = ProtocolErrorCode.ZAP_BAD_REQUEST_ID
PROTOCOL_ERROR_ZAP_BAD_VERSION = ProtocolErrorCode.ZAP_BAD_VERSION
PROTOCOL_ERROR_ZAP_INVALID_STATUS_CODE = ProtocolErrorCode.ZAP_INVALID_STATUS_CODE
PROTOCOL_ERROR_ZAP_INVALID_METADATA = ProtocolErrorCode.ZAP_INVALID_METADATA
PROTOCOL_ERROR_WS_UNSPECIFIED = ProtocolErrorCode.WS_UNSPECIFIED

# SecurityMechanism
NULL = SecurityMechanism.NULL
PLAIN = SecurityMechanism.PLAIN
CURVE = SecurityMechanism.CURVE
GSSAPI = SecurityMechanism.GSSAPI

# ReconnectStop
RECONNECT_STOP_CONN_REFUSED = ReconnectStop.CONN_REFUSED
RECONNECT_STOP_HANDSHAKE_FAILED = ReconnectStop.HANDSHAKE_FAILED
RECONNECT_STOP_AFTER_DISCONNECT = ReconnectStop.AFTER_DISCONNECT

# RouterNotify
NOTIFY_CONNECT = RouterNotify.CONNECT
NOTIFY_DISCONNECT = RouterNotify.DISCONNECT

# NormMode
NORM_FIXED = NormMode.FIXED
NORM_CC = NormMode.CC
NORM_CCL = NormMode.CCL
NORM_CCE = NormMode.CCE
NORM_CCE_ECNONLY = NormMode.CCE_ECNONLY

# DeviceType
STREAMER = DeviceType.STREAMER
FORWARDER = DeviceType.FORWARDER
QUEUE = DeviceType.QUEUE

# Errno
EAGAIN = Errno.EAGAIN
EFAULT = Errno.EFAULT
EINVAL = Errno.EINVAL
ENOTSUP = Errno.ENOTSUP
EPROTONOSUPPORT = Errno.EPROTONOSUPPORT
ENOBUFS = Errno.ENOBUFS
ENETDOWN = Errno.ENETDOWN
EADDRINUSE = Errno.EADDRINUSE
EADDRNOTAVAIL = Errno.EADDRNOTAVAIL
ECONNREFUSED = Errno.ECONNREFUSED
EINPROGRESS = Errno.EINPROGRESS
ENOTSOCK = Errno.ENOTSOCK
EMSGSIZE = Errno.EMSGSIZE
EAFNOSUPPORT = Errno.EAFNOSUPPORT
ENETUNREACH = Errno.ENETUNREACH
ECONNABORTED = Errno.ECONNABORTED
ECONNRESET = Errno.ECONNRESET
ENOTCONN = Errno.ENOTCONN
ETIMEDOUT = Errno.ETIMEDOUT
EHOSTUNREACH = Errno.EHOSTUNREACH
ENETRESET = Errno.ENETRESET
EFSM = Errno.EFSM
ENOCOMPATPROTO = Errno.ENOCOMPATPROTO
ETERM = Errno.ETERM
EMTHREAD = Errno.EMTHREAD
EINTR = Errno.EINTR
ENOENT = Errno.ENOENT
ENOMEM = Errno.ENOMEM
EACCES = Errno.EACCES
EBUSY = Errno.EBUSY
EMFILE = Errno.EMFILE
EPIPE = Errno.EPIPE
ENODEV = Errno.ENODEV
ENAMETOOLONG = Errno.ENAMETOOLONG
EPROTO = Errno.EPROTO


__all__ = [
    "AFFINITY",
    "BACKLOG",
    "BINDTODEVICE",
    "BLOCKY",
    "BUSY_POLL",
    "CHANNEL",
    "CLIENT",
    "CONFLATE",
    "CONNECT_RID",
    "CONNECT_ROUTING_ID",
    "CONNECT_TIMEOUT",
    "CURVE",
    "CURVE_PUBLICKEY",
    "CURVE_SECRETKEY",
    "CURVE_SERVER",
    "CURVE_SERVERKEY",
    "DEALER",
    "DELAY_ATTACH_ON_CONNECT",
    "DGRAM",
    "DISCONNECT_MSG",
    "DISH",
    "DONTWAIT",
    "DRAFT_API",
    "EACCES",
    "EADDRINUSE",
    "EADDRNOTAVAIL",
    "EAFNOSUPPORT",
    "EAGAIN",
    "EBUSY",
    "ECONNABORTED",
    "ECONNREFUSED",
    "ECONNRESET",
    "EFAULT",
    "EFSM",
    "EHOSTUNREACH",
    "EINPROGRESS",
    "EINTR",
    "EINVAL",
    "EMFILE",
    "EMSGSIZE",
    "EMTHREAD",
    "ENAMETOOLONG",
    "ENETDOWN",
    "ENETRESET",
    "ENETUNREACH",
    "ENOBUFS",
    "ENOCOMPATPROTO",
    "ENODEV",
    "ENOENT",
    "ENOMEM",
    "ENOTCONN",
    "ENOTSOCK",
    "ENOTSUP",
    "EPIPE",
    "EPROTO",
    "EPROTONOSUPPORT",
    "ETERM",
    "ETIMEDOUT",
    "EVENTS",
    "EVENT_ACCEPTED",
    "EVENT_ACCEPT_FAILED",
    "EVENT_ALL",
    "EVENT_ALL_V1",
    "EVENT_ALL_V2",
    "EVENT_BIND_FAILED",
    "EVENT_CLOSED",
    "EVENT_CLOSE_FAILED",
    "EVENT_CONNECTED",
    "EVENT_CONNECT_DELAYED",
    "EVENT_CONNECT_RETRIED",
    "EVENT_DISCONNECTED",
    "EVENT_HANDSHAKE_FAILED_AUTH",
    "EVENT_HANDSHAKE_FAILED_NO_DETAIL",
    "EVENT_HANDSHAKE_FAILED_PROTOCOL",
    "EVENT_HANDSHAKE_SUCCEEDED",
    "EVENT_LISTENING",
    "EVENT_MONITOR_STOPPED",
    "EVENT_PIPES_STATS",
    "EVENT_TLS_CERT_EXPIRING",
    "FAIL_UNROUTABLE",
    "FD",
    "FORWARDER",
    "GATHER",
    "GSSAPI",
    "GSSAPI_PLAINTEXT",
    "GSSAPI_PRINCIPAL",
    "GSSAPI_PRINCIPAL_NAMETYPE",
    "GSSAPI_SERVER",
    "GSSAPI_SERVICE_PRINCIPAL",
    "GSSAPI_SERVICE_PRINCIPAL_NAMETYPE",
    "HANDSHAKE_IVL",
    "HAUSNUMERO",
    "HEARTBEAT_IVL",
    "HEARTBEAT_TIMEOUT",
    "HEARTBEAT_TTL",
    "HELLO_MSG",
    "HICCUP_MSG",
    "HWM",
    "IDENTITY",
    "IMMEDIATE",
    "INVERT_MATCHING",
    "IN_BATCH_SIZE",
    "IO_THREADS",
    "IPC_FILTER_GID",
    "IPC_FILTER_PID",
    "IPC_FILTER_UID",
    "IPC_PATH_MAX_LEN",
    "IPV4ONLY",
    "IPV6",
    "LAST_ENDPOINT",
    "LINGER",
    "LOOPBACK_FASTPATH",
    "MAXMSGSIZE",
    "MAX_MSGSZ",
    "MAX_SOCKETS",
    "MECHANISM",
    "METADATA",
    "MORE",
    "MSG_T_SIZE",
    "MULTICAST_HOPS",
    "MULTICAST_LOOP",
    "MULTICAST_MAXTPDU",
    "NOBLOCK",
    "NORM_BLOCK_SIZE",
    "NORM_BUFFER_SIZE",
    "NORM_CC",
    "NORM_CCE",
    "NORM_CCE_ECNONLY",
    "NORM_CCL",
    "NORM_FIXED",
    "NORM_MODE",
    "NORM_NUM_AUTOPARITY",
    "NORM_NUM_PARITY",
    "NORM_PUSH",
    "NORM_SEGMENT_SIZE",
    "NORM_UNICAST_NACK",
    "NOTIFY_CONNECT",
    "NOTIFY_DISCONNECT",
    "NULL",
    "ONLY_FIRST_SUBSCRIBE",
    "OUT_BATCH_SIZE",
    "PAIR",
    "PEER",
    "PLAIN",
    "PLAIN_PASSWORD",
    "PLAIN_SERVER",
    "PLAIN_USERNAME",
    "POLLERR",
    "POLLIN",
    "POLLOUT",
    "POLLPRI",
    "PRIORITY",
    "PROBE_ROUTER",
    "PROTOCOL_ERROR_WS_UNSPECIFIED",
    "PROTOCOL_ERROR_ZAP_BAD_REQUEST_ID",
    "PROTOCOL_ERROR_ZAP_BAD_VERSION",
    "PROTOCOL_ERROR_ZAP_INVALID_METADATA",
    "PROTOCOL_ERROR_ZAP_INVALID_STATUS_CODE",
    "PROTOCOL_ERROR_ZAP_MALFORMED_REPLY",
    "PROTOCOL_ERROR_ZAP_UNSPECIFIED",
    "PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC",
    "PROTOCOL_ERROR_ZMTP_INVALID_METADATA",
    "PROTOCOL_ERROR_ZMTP_INVALID_SEQUENCE",
    "PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE",
    "PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_ERROR",
    "PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_HELLO",
    "PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_INITIATE",
    "PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_MESSAGE",
    "PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_READY",
    "PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_UNSPECIFIED",
    "PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_WELCOME",
    "PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH",
    "PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND",
    "PROTOCOL_ERROR_ZMTP_UNSPECIFIED",
    "PUB",
    "PULL",
    "PUSH",
    "QUEUE",
    "RADIO",
    "RATE",
    "RCVBUF",
    "RCVHWM",
    "RCVMORE",
    "RCVTIMEO",
    "RECONNECT_IVL",
    "RECONNECT_IVL_MAX",
    "RECONNECT_STOP",
    "RECONNECT_STOP_AFTER_DISCONNECT",
    "RECONNECT_STOP_CONN_REFUSED",
    "RECONNECT_STOP_HANDSHAKE_FAILED",
    "RECOVERY_IVL",
    "REP",
    "REQ",
    "REQ_CORRELATE",
    "REQ_RELAXED",
    "ROUTER",
    "ROUTER_BEHAVIOR",
    "ROUTER_HANDOVER",
    "ROUTER_MANDATORY",
    "ROUTER_NOTIFY",
    "ROUTER_RAW",
    "ROUTING_ID",
    "SCATTER",
    "SERVER",
    "SHARED",
    "SNDBUF",
    "SNDHWM",
    "SNDMORE",
    "SNDTIMEO",
    "SOCKET_LIMIT",
    "SOCKS_PASSWORD",
    "SOCKS_PROXY",
    "SOCKS_USERNAME",
    "SRCFD",
    "SSL_CONTEXT",
    "STREAM",
    "STREAMER",
    "STREAM_NOTIFY",
    "SUB",
    "SUBSCRIBE",
    "TCP_ACCEPT_FILTER",
    "TCP_KEEPALIVE",
    "TCP_KEEPALIVE_CNT",
    "TCP_KEEPALIVE_IDLE",
    "TCP_KEEPALIVE_INTVL",
    "TCP_MAXRT",
    "THREAD_AFFINITY_CPU_ADD",
    "THREAD_AFFINITY_CPU_REMOVE",
    "THREAD_NAME_PREFIX",
    "THREAD_PRIORITY",
    "THREAD_SAFE",
    "THREAD_SCHED_POLICY",
    "TLS_CA",
    "TLS_CERT",
    "TLS_EXPIRY_WARNING",
    "TLS_HOSTNAME",
    "TLS_KEY",
    "TLS_MIN_VERSION",
    "TLS_PINS",
    "TLS_REQUIRE_CLIENT_CERT",
    "TLS_VERIFY",
    "TOPICS_COUNT",
    "TOS",
    "TYPE",
    "UNSUBSCRIBE",
    "USE_FD",
    "VERSION",
    "VERSION_MAJOR",
    "VERSION_MINOR",
    "VERSION_PATCH",
    "VMCI_BUFFER_MAX_SIZE",
    "VMCI_BUFFER_MIN_SIZE",
    "VMCI_BUFFER_SIZE",
    "VMCI_CONNECT_TIMEOUT",
    "WSS_CERT_PEM",
    "WSS_HOSTNAME",
    "WSS_KEY_PEM",
    "WSS_TRUST_PEM",
    "WSS_TRUST_SYSTEM",
    "XPUB",
    "XPUB_MANUAL",
    "XPUB_MANUAL_LAST_VALUE",
    "XPUB_NODROP",
    "XPUB_VERBOSE",
    "XPUB_VERBOSER",
    "XPUB_WELCOME_MSG",
    "XREP",
    "XREQ",
    "XSUB",
    "XSUB_VERBOSE_UNSUBSCRIBE",
    "ZAP_DOMAIN",
    "ZAP_ENFORCE_DOMAIN",
    "ZERO_COPY_RECV",
    "ContextOption",
    "DeviceType",
    "Errno",
    "Event",
    "Flag",
    "MessageOption",
    "NormMode",
    "PollEvent",
    "ProtocolErrorCode",
    "ReconnectStop",
    "RouterNotify",
    "SecurityMechanism",
    "SocketOption",
    "SocketType",
    "has",
    "zmq_version",
    "zmq_version_info",
]
