"""Worker processes: spawn them, talk to them, and never hang on them.

Every measurement runs in fresh processes started with the ``spawn`` method, so
that

* each side of a transfer has its own interpreter and GIL,
* no state (imported modules, I/O threads, sockets) leaks between runs or
  between pyzmq and securemq,
* a crash or a hang in the implementation under test cannot take the whole
  benchmark run down: the parent waits with timeouts and kills what is stuck.

A worker is a module-level function ``fn(zmq, chan, params)``.  It gets the
implementation module (``zmq`` or ``securemq``, imported *in the child* as
``zmq``), a duplex :class:`~multiprocessing.connection.Connection` to the
parent and a JSON-like ``params`` dict.  It reports with :func:`report` and may
wait for instructions with ``chan.recv()``.  An exception in the worker is sent
to the parent as an error message, which :meth:`Worker.recv` raises as
:class:`~benchmarks.core.BenchError`.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import multiprocessing
import os
import resource
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from types import ModuleType, TracebackType
from typing import Any

from benchmarks.core import BenchError

SPAWN = multiprocessing.get_context("spawn")

START_TIMEOUT = 60.0
"""Seconds a fresh child gets to start Python, import the module and bind."""

WorkerFn = Callable[[ModuleType, Connection, dict[str, Any]], None]

_OK = "ok"
_ERROR = "error"
_STOP = "stop"


# --------------------------------------------------------------------------- child side


def report(chan: Connection, payload: Any) -> None:
    """Send one message from a worker to the parent."""
    chan.send((_OK, payload))


def wait_for_stop(chan: Connection) -> None:
    """Block until the parent says stop (or goes away).

    Senders use this to keep their sockets open until the receiver is done, so
    that queued messages are not dropped by an early ``close``.
    """
    with contextlib.suppress(EOFError, OSError):
        chan.recv()


def raise_fd_limit() -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit; return the new soft limit.

    The ``connections`` case opens thousands of sockets in one process.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return soft
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_bytes() -> int:
    """Resident set size of the calling process, from ``/proc/self/status``.

    A full garbage collection runs first so that pending garbage from setup
    does not blur the before/after difference.
    """
    gc.collect()
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError as exc:
        raise BenchError(f"cannot read /proc/self/status: {exc}") from exc
    raise BenchError("no VmRSS line in /proc/self/status")


def _describe(exc: BaseException) -> str:
    """One-line description of a worker exception, for a table footnote.

    :class:`BenchError` is an expected, already explained failure (a timeout, a
    short count), so its message is enough; anything else gets its type and the
    innermost source location, which is usually where securemq needs work.
    """
    if isinstance(exc, BenchError):
        return str(exc)
    text = f"{type(exc).__name__}: {exc}"
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        where = frames[-1]
        filename = where.filename
        if filename.startswith(os.getcwd() + os.sep):
            filename = os.path.relpath(filename)
        text += f" (at {filename}:{where.lineno} in {where.name})"
    return text


def _child_main(fn: WorkerFn, impl: str, params: dict[str, Any], chan: Connection) -> None:
    """Entry point of every worker process (runs in the spawned child).

    Ends with ``os._exit`` so that lingering non-daemon threads of a half-done
    implementation cannot keep the child alive after it has reported.
    """
    code = 0
    try:
        raise_fd_limit()
        zmq = importlib.import_module(impl)
        fn(zmq, chan, params)
    except BaseException as exc:  # report everything, even KeyboardInterrupt
        code = 1
        with contextlib.suppress(Exception):
            chan.send((_ERROR, _describe(exc)))
    finally:
        with contextlib.suppress(Exception):
            chan.close()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


# --------------------------------------------------------------------------- parent side


class Worker:
    """Parent-side handle on one spawned worker process.

    Use it as a context manager: leaving the block stops the child, and kills
    it if it does not exit within a grace period.
    """

    def __init__(self, label: str, fn: WorkerFn, impl: str, params: dict[str, Any]) -> None:
        self.label = label
        self._conn, child_conn = SPAWN.Pipe(duplex=True)
        self._inbox: deque[Any] = deque()
        self._eof = False
        self._closed = False
        self._proc = SPAWN.Process(
            target=_child_main,
            args=(fn, impl, params, child_conn),
            name=f"bench-{label}",
            daemon=True,
        )
        self._proc.start()
        child_conn.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # After a failure nothing is worth waiting for: kill stragglers quickly.
        self.close(grace=2.0 if exc is None else 0.5)

    def send(self, obj: Any) -> None:
        """Send an instruction to the worker; a dead worker is an error."""
        try:
            self._conn.send(obj)
        except OSError as exc:
            raise BenchError(f"{self.label} is gone ({exc})") from exc

    def _pump(self) -> None:
        """Move one pending message into the inbox; raise if it is an error.

        End of file is only an error if the child exited with a failure code:
        a worker that finished its job and exited normally is fine.
        """
        try:
            kind, payload = self._conn.recv()
        except (EOFError, OSError):
            self._eof = True
            self._proc.join(2.0)
            code = self._proc.exitcode
            if code not in (0, None):
                raise BenchError(f"{self.label} died (exit code {code})") from None
            return
        if kind == _ERROR:
            raise BenchError(f"{self.label}: {payload}")
        self._inbox.append(payload)

    def recv(self, timeout: float, what: str, watch: Sequence[Worker] = ()) -> Any:
        """Return the next message of this worker, waiting at most ``timeout`` s.

        While waiting, the ``watch`` workers are monitored too, so that an error
        on the other side of a transfer aborts the wait at once instead of after
        the full timeout.  Their regular messages are kept for a later ``recv``.
        """
        deadline = time.monotonic() + timeout
        while not self._inbox:
            if self._eof:
                code = self._proc.exitcode
                raise BenchError(f"{self.label} exited (code {code}) without sending {what}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchError(f"{self.label}: no {what} within {timeout:.0f} s")
            watched = {w._conn: w for w in (self, *watch) if not (w._eof or w._closed)}
            for conn in wait(list(watched), remaining):
                assert isinstance(conn, Connection)
                watched[conn]._pump()
        return self._inbox.popleft()

    def close(self, grace: float = 2.0) -> None:
        """Ask the worker to stop, then terminate or kill it if it lingers.

        Idempotent, so a case may close a worker early with a short grace and
        still let its ``ExitStack`` close it again.
        """
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            self._conn.send(_STOP)
        self._proc.join(grace)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(2.0)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(2.0)
        self._conn.close()
