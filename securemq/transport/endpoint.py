"""Endpoint strings: parse and check them before any socket is touched.

``tcp://host:port`` (``*`` or an interface name for the host when binding, ``*`` or 0 for
an ephemeral port, IPv6 addresses in brackets), ``ipc://path`` (``@name`` for a Linux
abstract socket, ``*`` for a fresh temporary path), ``inproc://name``. Every failure is
a :class:`~securemq.error.ZMQError` with libzmq's errno: EINVAL for malformed strings,
EPROTONOSUPPORT for unknown transports.
"""

from __future__ import annotations

import errno as _errno
import fcntl
import os
import socket
import struct
import sys
import tempfile
from dataclasses import dataclass

from ..error import ZMQError

TRANSPORTS = ("tcp", "ipc", "inproc", "tls+tcp")
_MAX_ENDPOINT = 4096


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A parsed endpoint: transport and address, plus the port for TCP."""

    transport: str
    """``tcp``, ``ipc``, ``inproc`` or ``tls+tcp``."""
    address: str
    """Host (without brackets) for TCP, path or name otherwise."""
    port: int = 0
    """TCP port; 0 means "choose one" when binding."""



def parse(endpoint: object, *, bind: bool) -> Endpoint:
    """Parse ``endpoint`` for a bind (``bind=True``) or a connect.

    Raises:
        ZMQError: EINVAL for a malformed endpoint, EPROTONOSUPPORT for an unknown
            transport.
    """
    if not isinstance(endpoint, str):
        raise TypeError(f"endpoint must be str, not {type(endpoint).__name__}")
    if len(endpoint) > _MAX_ENDPOINT or "\x00" in endpoint:
        raise ZMQError(_errno.EINVAL, f"invalid endpoint: {endpoint[:80]!r}")
    transport, sep, rest = endpoint.partition("://")
    if not sep or not rest:
        raise ZMQError(_errno.EINVAL, f"invalid endpoint: {endpoint!r}")
    if transport not in TRANSPORTS:
        raise ZMQError(_errno.EPROTONOSUPPORT, f"transport not supported: {transport!r}")
    if transport == "inproc":
        return Endpoint("inproc", rest)
    if transport == "ipc":
        if rest == "*" and bind:
            rest = os.path.join(tempfile.mkdtemp(prefix="securemq-"), "socket")
        raw = rest[1:] if rest.startswith("@") else rest
        if len(raw.encode()) > 107:
            raise ZMQError(_errno.ENAMETOOLONG, f"ipc path too long: {rest!r}")
        return Endpoint("ipc", rest)
    return _parse_tcp(transport, rest, bind)


def _parse_tcp(transport: str, rest: str, bind: bool) -> Endpoint:
    # A connect endpoint may name a source address: "tcp://src:port;host:port".
    if ";" in rest:
        rest = rest.rsplit(";", 1)[1]
    if rest.startswith("["):
        host, sep, tail = rest[1:].partition("]")
        if not sep or not tail.startswith(":"):
            raise ZMQError(_errno.EINVAL, f"invalid tcp endpoint: {rest!r}")
        port_s = tail[1:]
    else:
        host, sep, port_s = rest.rpartition(":")
        if not sep or not host:
            raise ZMQError(_errno.EINVAL, f"invalid tcp endpoint: {rest!r}")
    if port_s in ("*", "0"):
        if not bind:
            raise ZMQError(_errno.EINVAL, "a wildcard port can only be bound")
        port = 0
    else:
        if not port_s.isdigit() or not 0 < int(port_s) <= 65535:
            raise ZMQError(_errno.EINVAL, f"invalid tcp port: {port_s!r}")
        port = int(port_s)
    if host == "*" and not bind:
        raise ZMQError(_errno.EINVAL, "a wildcard host can only be bound")
    return Endpoint(transport, host, port)


def interface_address(name: str) -> str | None:
    """The IPv4 address of network interface ``name`` (Linux), or None."""
    if not sys.platform.startswith("linux"):
        return None
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        # SIOCGIFADDR: struct ifreq is a 16-octet name and a sockaddr.
        req = struct.pack("256s", name.encode()[:15])
        res = fcntl.ioctl(s.fileno(), 0x8915, req)
        return socket.inet_ntoa(res[20:24])
    except OSError:
        return None
    finally:
        s.close()


def resolve_tcp(ep: Endpoint, *, bind: bool, ipv6: bool) -> tuple[int, tuple[object, ...]]:
    """Resolve a TCP endpoint to ``(family, sockaddr)``.

    Raises:
        ZMQError: ENODEV for an unknown interface when binding, EINVAL for a host that
            does not resolve.
    """
    host = ep.address
    if bind and host == "*":
        if ipv6:
            return socket.AF_INET6, ("::", ep.port, 0, 0)
        return socket.AF_INET, ("0.0.0.0", ep.port)  # noqa: S104 - an explicit wildcard
    if bind and host not in ("localhost",) and not _is_ip(host):
        addr = interface_address(host)
        if addr is not None:
            return socket.AF_INET, (addr, ep.port)
        if bind and "." not in host:
            raise ZMQError(_errno.ENODEV, f"no such interface: {host!r}")
    family = socket.AF_UNSPEC if ipv6 else socket.AF_INET
    # libzmq reports an address it cannot bind to as "no such device".
    code = _errno.ENODEV if bind else _errno.EINVAL
    try:
        infos = socket.getaddrinfo(host, ep.port, family, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        if ipv6 is False and _is_ip(host) and ":" in host:
            raise ZMQError(code, f"IPv6 address {host!r} needs the ipv6 option") from exc
        raise ZMQError(code, f"cannot resolve {host!r}: {exc}") from exc
    # Prefer IPv4 like libzmq does unless only IPv6 resolves.
    infos.sort(key=lambda i: i[0] != socket.AF_INET)
    fam, _, _, _, sockaddr = infos[0]
    return int(fam), tuple(sockaddr)


def _is_ip(host: str) -> bool:
    for fam in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(fam, host)
            return True
        except OSError:
            continue
    return False


def format_tcp(transport: str, sockaddr: tuple[object, ...]) -> str:
    """The endpoint string of a bound or connected TCP address (``last_endpoint``)."""
    host, port = str(sockaddr[0]), int(str(sockaddr[1]))
    if ":" in host:
        return f"{transport}://[{host}]:{port}"
    return f"{transport}://{host}:{port}"
