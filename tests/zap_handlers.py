"""ZAP handlers (RFC 27) for socket-level security tests.

A :class:`ZapHandler` is a thread serving a REP socket bound at ``inproc://zeromq.zap.01``
in a context of either implementation (securemq or pyzmq), answering each request with
whatever its policy returns. It records every request, so tests can count them and read
their frames. Policies are plain functions of a :class:`ZapRequest`; the helpers below
build the common ones (fixed status, allowlists, malformed replies).
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
REP = 4  # the same number in libzmq and securemq
POLL_MS = 20  # how often the thread looks at its stop flag


def encode_metadata(props: Iterable[tuple[bytes, bytes]]) -> bytes:
    """ZMTP 3.0 metadata: name length (1 octet), name, value length (4 octets), value."""
    out = b""
    for name, value in props:
        out += bytes([len(name)]) + name + struct.pack(">I", len(value)) + value
    return out


@dataclass(frozen=True)
class ZapRequest:
    """One request as the handler's REP socket received it (no envelope)."""

    frames: list[bytes]

    @property
    def version(self) -> bytes:
        return self.frames[0]

    @property
    def request_id(self) -> bytes:
        return self.frames[1]

    @property
    def domain(self) -> bytes:
        return self.frames[2]

    @property
    def address(self) -> bytes:
        return self.frames[3]

    @property
    def identity(self) -> bytes:
        return self.frames[4]

    @property
    def mechanism(self) -> bytes:
        return self.frames[5]

    @property
    def credentials(self) -> list[bytes]:
        return self.frames[6:]


Policy = Callable[[ZapRequest], list[bytes]]


def reply(req: ZapRequest, status: bytes = b"200", text: bytes = b"OK",
          user_id: bytes = b"", metadata: bytes = b"") -> list[bytes]:
    """A well-formed reply to ``req``."""
    return [req.version, req.request_id, status, text, user_id, metadata]


def status_policy(status: bytes, user_id: bytes = b"", metadata: bytes = b"") -> Policy:
    """Answer every request with ``status`` (the user id and metadata only on 200)."""

    def policy(req: ZapRequest) -> list[bytes]:
        if status == b"200":
            return reply(req, status, b"OK", user_id, metadata)
        return reply(req, status, b"refused")

    return policy


def allow_curve_keys(*keys: bytes, user_id: bytes = b"") -> Policy:
    """Admit CURVE clients whose raw 32-byte public key is in ``keys``; 400 otherwise."""
    allowed = set(keys)

    def policy(req: ZapRequest) -> list[bytes]:
        if req.mechanism == b"CURVE" and req.credentials[0] in allowed:
            return reply(req, b"200", b"OK", user_id)
        return reply(req, b"400", b"unknown key")

    return policy


def allow_plain(users: dict[bytes, bytes]) -> Policy:
    """Admit PLAIN clients whose user name and password match; 400 otherwise.

    The user id of an admitted client is its user name.
    """

    def policy(req: ZapRequest) -> list[bytes]:
        if req.mechanism == b"PLAIN" and len(req.credentials) == 2:
            user, password = req.credentials
            if users.get(user) == password:
                return reply(req, b"200", b"OK", user)
        return reply(req, b"400", b"bad credentials")

    return policy


class ZapHandler:
    """A ZAP handler thread bound at ``inproc://zeromq.zap.01`` in ``context``.

    The socket is bound when the constructor returns (RFC 27: the handler starts before
    the servers). Use as a context manager, or call :meth:`close` before the context is
    destroyed.
    """

    def __init__(self, context: Any, policy: Policy) -> None:
        self.context = context
        self.policy = policy
        self.requests: list[ZapRequest] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="zap-handler", daemon=True)
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("the ZAP handler did not start")
        if self.errors:
            raise self.errors[0]

    def _run(self) -> None:
        try:
            sock = self.context.socket(REP)
        except BaseException as exc:
            self.errors.append(exc)
            self._ready.set()
            return
        try:
            sock.linger = 0
            sock.bind(ZAP_ENDPOINT)
            self._ready.set()
            while not self._stop.is_set():
                if not sock.poll(POLL_MS):
                    continue
                req = ZapRequest(list(sock.recv_multipart()))
                self.requests.append(req)
                sock.send_multipart(self.policy(req))
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            self._ready.set()
            sock.close(linger=0)

    def close(self) -> None:
        """Stop the thread and close its socket (idempotent)."""
        self._stop.set()
        self._thread.join(5)

    def __enter__(self) -> ZapHandler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
