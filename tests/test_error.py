"""securemq.error: pyzmq's exception classes and texts, and the ProtocolError family."""

from __future__ import annotations

import pickle

import pytest
import zmq

from securemq import constants as C
from securemq import error as E

PYZMQ_CLASSES = [
    "ZMQBaseError",
    "ZMQError",
    "Again",
    "ContextTerminated",
    "NotDone",
    "InterruptedSystemCall",
    "ZMQBindError",
    "ZMQVersionError",
]


# -- strerror ------------------------------------------------------------------------


@pytest.mark.parametrize("member", list(zmq.Errno), ids=lambda m: m.name)
def test_strerror_matches_libzmq(member: zmq.Errno) -> None:
    assert E.strerror(int(member)) == zmq.strerror(int(member))


@pytest.mark.parametrize("number", [C.EINTR, C.ENOENT, C.EPIPE, C.EPROTO, 999])
def test_strerror_of_other_errnos_matches_libzmq(number: int) -> None:
    assert E.strerror(number) == zmq.strerror(number)


def test_strerror_zmq_specific_texts() -> None:
    assert E.strerror(C.EFSM) == "Operation cannot be accomplished in current state"
    assert E.strerror(C.ETERM) == "Context was terminated"
    assert E.strerror(C.EAGAIN) == "Resource temporarily unavailable"


# -- ZMQError and its subclasses -----------------------------------------------------


@pytest.mark.parametrize("name", PYZMQ_CLASSES)
def test_pyzmq_class_names_exist(name: str) -> None:
    assert isinstance(getattr(E, name), type)


@pytest.mark.parametrize("name", PYZMQ_CLASSES)
def test_hierarchy_matches_pyzmq(name: str) -> None:
    ours = getattr(E, name)
    theirs = getattr(zmq, name)
    for other in PYZMQ_CLASSES:
        if issubclass(theirs, getattr(zmq, other)):
            assert issubclass(ours, getattr(E, other)), (name, other)
    for builtin in (InterruptedError, OSError, NotImplementedError):
        if issubclass(theirs, builtin):
            assert issubclass(ours, builtin), (name, builtin)


@pytest.mark.parametrize(
    ("number", "cls"),
    [
        (C.EAGAIN, E.Again),
        (C.ETERM, E.ContextTerminated),
        (C.EINTR, E.InterruptedSystemCall),
    ],
)
def test_errno_selects_subclass(number: int, cls: type[E.ZMQError]) -> None:
    err = E.ZMQError(number)
    assert type(err) is cls
    assert err.errno == number
    assert type(E.zmq_error(number)) is cls
    with pytest.raises(cls):
        raise E.ZMQError(number)


def test_other_errnos_stay_zmqerror() -> None:
    for number in (C.EINVAL, C.EFSM, C.ENOTSUP, C.EHOSTUNREACH):
        assert type(E.ZMQError(number)) is E.ZMQError
        assert type(E.zmq_error(number)) is E.ZMQError


def test_explicit_subclass_is_kept() -> None:
    err = E.Again(C.EINVAL)
    assert type(err) is E.Again
    assert err.errno == C.EINVAL


def test_message_defaults_to_strerror() -> None:
    err = E.ZMQError(C.EFSM)
    assert err.strerror == zmq.strerror(C.EFSM)
    assert str(err) == err.strerror
    assert str(E.ZMQError(C.EINVAL)) == str(zmq.ZMQError(zmq.EINVAL))


def test_message_overrides() -> None:
    err = E.ZMQError(C.EINVAL, "bad endpoint")
    assert err.errno == C.EINVAL
    assert err.strerror == "bad endpoint"
    assert str(err) == "bad endpoint"


def test_message_only() -> None:
    err = E.ZMQError("boom")
    assert err.errno is None
    assert str(err) == "boom"


def test_errno_is_a_plain_int() -> None:
    err = E.ZMQError(C.Errno.EFSM)
    assert type(err.errno) is int


@pytest.mark.parametrize(
    ("cls", "number"),
    [(E.Again, C.EAGAIN), (E.ContextTerminated, C.ETERM), (E.InterruptedSystemCall, C.EINTR)],
)
def test_subclasses_without_arguments(cls: type[E.ZMQError], number: int) -> None:
    err = cls()
    assert err.errno == number
    assert str(err) == zmq.strerror(number)


def test_interrupted_system_call_is_interrupted_error() -> None:
    with pytest.raises(InterruptedError):
        raise E.InterruptedSystemCall()


@pytest.mark.parametrize(
    "err",
    [
        E.ZMQError(C.EFSM),
        E.ZMQError(C.EAGAIN, "later"),
        E.ContextTerminated(),
        E.InterruptedSystemCall(),
        E.ZMQError("only a message"),
    ],
    ids=repr,
)
def test_pickle_round_trip(err: E.ZMQError) -> None:
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is type(err)
    assert copy.errno == err.errno
    assert copy.strerror == err.strerror


def test_other_base_errors() -> None:
    assert not issubclass(E.NotDone, E.ZMQError)
    assert not issubclass(E.ZMQBindError, E.ZMQError)
    err = E.ZMQVersionError("4.4", "Frobnication")
    assert isinstance(err, NotImplementedError)
    assert err.min_version == "4.4"
    assert str(err) == "Frobnication requires libzmq >= 4.4, have 4.3.5"


def test_check_version() -> None:
    E._check_version((4, 3), "ok")
    E._check_version((4, 3, 5))
    with pytest.raises(E.ZMQVersionError, match=r"4\.3\.6"):
        E._check_version((4, 3, 6), "future")


# -- ProtocolError ---------------------------------------------------------------------

P = C.ProtocolErrorCode

EXPECTED_CODES: list[tuple[type[E.ProtocolError], int]] = [
    (E.ProtocolError, P.ZMTP_UNSPECIFIED),
    (E.UnspecifiedProtocolError, P.ZMTP_UNSPECIFIED),
    (E.UnexpectedCommand, P.ZMTP_UNEXPECTED_COMMAND),
    (E.InvalidSequence, P.ZMTP_INVALID_SEQUENCE),
    (E.KeyExchangeError, P.ZMTP_KEY_EXCHANGE),
    (E.MalformedCommand, P.ZMTP_MALFORMED_COMMAND_UNSPECIFIED),
    (E.CryptographicError, P.ZMTP_CRYPTOGRAPHIC),
    (E.MechanismMismatch, P.ZMTP_MECHANISM_MISMATCH),
    (E.InvalidMetadata, P.ZMTP_INVALID_METADATA),
    (E.ZapError, P.ZAP_UNSPECIFIED),
    (E.ZapMalformedReply, P.ZAP_MALFORMED_REPLY),
    (E.ZapBadRequestId, P.ZAP_BAD_REQUEST_ID),
    (E.ZapBadVersion, P.ZAP_BAD_VERSION),
    (E.ZapInvalidStatusCode, P.ZAP_INVALID_STATUS_CODE),
    (E.ZapInvalidMetadata, P.ZAP_INVALID_METADATA),
    (E.MessageTooLarge, P.ZMTP_UNSPECIFIED),
    (E.GreetingError, P.ZMTP_UNSPECIFIED),
    (E.AuthenticationFailed, P.ZMTP_UNSPECIFIED),
]


@pytest.mark.parametrize(("cls", "code"), EXPECTED_CODES, ids=lambda x: getattr(x, "__name__", ""))
def test_protocol_error_codes(cls: type[E.ProtocolError], code: int) -> None:
    err = cls("why")
    assert err.code == code
    assert err.reason == "why"
    assert str(err) == "why"
    assert cls.__doc__


@pytest.mark.parametrize(("cls", "code"), EXPECTED_CODES, ids=lambda x: getattr(x, "__name__", ""))
def test_protocol_error_codes_are_libzmqs(cls: type[E.ProtocolError], code: int) -> None:
    name = "PROTOCOL_ERROR_" + C.ProtocolErrorCode(cls().code).name
    assert getattr(zmq, name) == cls().code


@pytest.mark.parametrize("cls", [cls for cls, _ in EXPECTED_CODES])
def test_protocol_errors_never_look_like_api_errors(cls: type[E.ProtocolError]) -> None:
    assert not issubclass(cls, E.ZMQBaseError)
    assert issubclass(cls, E.ProtocolError)


def test_default_event_is_handshake_failed_protocol() -> None:
    err = E.UnexpectedCommand("HELLO twice")
    assert err.event == C.EVENT_HANDSHAKE_FAILED_PROTOCOL
    assert err.event_value == C.PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND
    assert err.errno == C.EPROTO


def test_zap_errors_share_a_base() -> None:
    for cls in (E.ZapMalformedReply, E.ZapBadRequestId, E.ZapBadVersion,
                E.ZapInvalidStatusCode, E.ZapInvalidMetadata):
        assert issubclass(cls, E.ZapError)


def test_malformed_command_takes_its_code() -> None:
    err = E.MalformedCommand("short HELLO", P.ZMTP_MALFORMED_COMMAND_HELLO)
    assert err.code == P.ZMTP_MALFORMED_COMMAND_HELLO
    assert err.event_value == C.PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_HELLO
    assert E.MalformedCommand("x").code == P.ZMTP_MALFORMED_COMMAND_UNSPECIFIED
    # the class default is untouched by an instance's code
    assert E.MalformedCommand.code == P.ZMTP_MALFORMED_COMMAND_UNSPECIFIED
    with pytest.raises(ValueError, match="malformed-command"):
        E.MalformedCommand("x", P.ZMTP_CRYPTOGRAPHIC)


def test_message_too_large() -> None:
    err = E.MessageTooLarge("frame of 2 GB")
    assert err.errno == C.EMSGSIZE
    assert err.code == P.ZMTP_UNSPECIFIED
    assert err.event == 0


def test_greeting_error() -> None:
    err = E.GreetingError("ZMTP 2.0 peer")
    assert err.errno == C.EPROTO
    assert err.event == C.EVENT_HANDSHAKE_FAILED_PROTOCOL


def test_authentication_failed() -> None:
    err = E.AuthenticationFailed("refused", 400)
    assert err.event == C.EVENT_HANDSHAKE_FAILED_AUTH
    assert err.status_code == 400
    assert err.event_value == 400
    assert E.AuthenticationFailed("temporary", status_code=300).event_value == 300
    assert E.AuthenticationFailed().status_code == 400
