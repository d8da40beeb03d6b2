"""securemq.constants against pyzmq: every number an application can see must agree."""

from __future__ import annotations

import enum
import errno
import socket
import sys

import pytest
import zmq
import zmq.constants

from securemq import constants as C

# Enum classes both libraries have, by name.
SHARED_ENUMS = [
    "SocketType",
    "SocketOption",
    "ContextOption",
    "MessageOption",
    "Flag",
    "PollEvent",
    "Event",
    "SecurityMechanism",
    "ReconnectStop",
    "RouterNotify",
    "NormMode",
    "DeviceType",
    "Errno",
]

# Our enums, with the prefix pyzmq gives their members at module level.
PREFIXES = {
    "SocketType": "",
    "SocketOption": "",
    "ContextOption": "",
    "MessageOption": "",
    "Flag": "",
    "PollEvent": "",
    "Event": "EVENT_",
    "ProtocolErrorCode": "PROTOCOL_ERROR_",
    "SecurityMechanism": "",
    "ReconnectStop": "RECONNECT_STOP_",
    "RouterNotify": "NOTIFY_",
    "NormMode": "NORM_",
    "DeviceType": "",
    "Errno": "",
}

# Where module-level names collide, the first enum in PREFIXES wins, as in pyzmq
# (BLOCKY and IPV6 are socket options as well as context options).
MODULE_OWNER = {"BLOCKY": "SocketOption", "IPV6": "SocketOption"}


@pytest.mark.parametrize("enum_name", SHARED_ENUMS)
def test_enum_values_match_pyzmq(enum_name: str) -> None:
    ours: type[enum.Enum] = getattr(C, enum_name)
    theirs: type[enum.Enum] = getattr(zmq.constants, enum_name)
    common = set(ours.__members__) & set(theirs.__members__)
    assert common
    for name in common:
        assert int(ours.__members__[name].value) == int(theirs.__members__[name].value), name


@pytest.mark.parametrize("enum_name", SHARED_ENUMS)
def test_enum_has_every_pyzmq_member(enum_name: str) -> None:
    ours: type[enum.Enum] = getattr(C, enum_name)
    theirs: type[enum.Enum] = getattr(zmq.constants, enum_name)
    missing = set(theirs.__members__) - set(ours.__members__)
    if enum_name == "Event":
        # pyzmq files the protocol error codes under Event; ours are ProtocolErrorCode.
        missing = {name for name in missing if not name.startswith("PROTOCOL_ERROR_")}
    assert not missing


@pytest.mark.parametrize("enum_name", SHARED_ENUMS)
def test_enum_base_matches_pyzmq(enum_name: str) -> None:
    ours = getattr(C, enum_name)
    theirs = getattr(zmq.constants, enum_name)
    assert issubclass(ours, enum.IntFlag) == issubclass(theirs, enum.IntFlag)
    assert issubclass(ours, int)


def test_aliases_are_aliases() -> None:
    # mypy takes aliases for distinct members, so look them up by name.
    pairs: list[tuple[type[enum.Enum], str, str]] = [
        (C.SocketOption, "IDENTITY", "ROUTING_ID"),
        (C.SocketOption, "CONNECT_RID", "CONNECT_ROUTING_ID"),
        (C.SocketOption, "DELAY_ATTACH_ON_CONNECT", "IMMEDIATE"),
        (C.SocketOption, "FAIL_UNROUTABLE", "ROUTER_MANDATORY"),
        (C.SocketOption, "ROUTER_BEHAVIOR", "ROUTER_MANDATORY"),
        (C.SocketType, "XREQ", "DEALER"),
        (C.SocketType, "XREP", "ROUTER"),
        (C.Flag, "NOBLOCK", "DONTWAIT"),
        (C.Event, "ALL", "ALL_V1"),
        (C.ContextOption, "THREAD_PRIORITY", "SOCKET_LIMIT"),
    ]
    for cls, alias, name in pairs:
        assert cls[alias] is cls[name], alias


def test_every_pyzmq_module_constant_matches() -> None:
    for name in zmq.constants.__all__:
        value = getattr(zmq.constants, name)
        if isinstance(value, type):
            continue
        assert hasattr(C, name), name
        assert int(getattr(C, name)) == int(value), name


def test_extra_module_constants_match_pyzmq() -> None:
    assert C.DRAFT_API == zmq.DRAFT_API
    if sys.platform.startswith("linux"):
        assert zmq.IPC_PATH_MAX_LEN == C.IPC_PATH_MAX_LEN


def test_protocol_error_codes_match_pyzmq() -> None:
    for member in C.ProtocolErrorCode:
        assert getattr(zmq, "PROTOCOL_ERROR_" + member.name) == member


@pytest.mark.parametrize("enum_name", sorted(PREFIXES))
def test_every_member_is_exported(enum_name: str) -> None:
    cls: type[enum.Enum] = getattr(C, enum_name)
    for name, member in cls.__members__.items():
        module_name = PREFIXES[enum_name] + name
        assert module_name in C.__all__, module_name
        exported = getattr(C, module_name)
        owner = MODULE_OWNER.get(module_name, enum_name)
        if owner == enum_name:
            assert exported is member, module_name
        else:
            assert int(exported) == member.value, module_name


def test_all_is_complete_and_resolvable() -> None:
    assert len(C.__all__) == len(set(C.__all__))
    for name in C.__all__:
        assert hasattr(C, name), name
    public = {
        name
        for name, value in vars(C).items()
        if not name.startswith("_") and getattr(value, "__module__", C.__name__) == C.__name__
        and (name.isupper() or isinstance(value, type) or callable(value))
    }
    assert public <= set(C.__all__)


def test_errno_values_are_the_os_values() -> None:
    for member in C.Errno:
        if member.value >= C.HAUSNUMERO:
            continue
        assert getattr(errno, member.name) == member.value, member.name


def test_zmq_specific_errnos() -> None:
    assert C.HAUSNUMERO == 156384712
    assert C.EFSM == C.HAUSNUMERO + 51
    assert C.ENOCOMPATPROTO == C.HAUSNUMERO + 52
    assert C.ETERM == C.HAUSNUMERO + 53
    assert C.EMTHREAD == C.HAUSNUMERO + 54


def test_version() -> None:
    assert (C.VERSION_MAJOR, C.VERSION_MINOR, C.VERSION_PATCH) == (4, 3, 5)
    assert C.zmq_version() == "4.3.5"
    assert C.zmq_version_info() == (4, 3, 5)
    assert C.VERSION == 40305


def test_has() -> None:
    assert C.has("ipc") is hasattr(socket, "AF_UNIX")
    assert C.has("curve") is True  # PyNaCl is a dependency
    for name in ("pgm", "tipc", "norm", "gssapi", "vmci", "draft", "ws", "wss"):
        assert C.has(name) is False, name
    assert C.has("no-such-capability") is False


def test_has_agrees_with_pyzmq_where_we_offer_it() -> None:
    for name in ("ipc", "curve"):
        if C.has(name):
            assert zmq.has(name), name


def test_flags_combine_like_pyzmq() -> None:
    assert int(C.POLLIN | C.POLLOUT) == int(zmq.POLLIN | zmq.POLLOUT)
    assert isinstance(C.POLLIN | C.POLLOUT, C.PollEvent)
    assert C.Event(C.EVENT_CONNECTED | C.EVENT_DISCONNECTED) == 0x201
    assert C.DONTWAIT | C.SNDMORE == 3
