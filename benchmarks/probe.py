"""Pre-flight check of an implementation, run once per ``--impl`` before any case.

It imports the module in a spawned child (the parent never imports ``zmq`` or
``securemq`` itself) and checks that the pyzmq API subset used by the cases is
present.  If it is not, every cell of that implementation becomes an error row
with the reason, instead of each case failing separately and slowly.
"""

from __future__ import annotations

from multiprocessing.connection import Connection
from types import ModuleType
from typing import Any

from benchmarks.core import BenchError
from benchmarks.procs import START_TIMEOUT, Worker, report

REQUIRED_API: tuple[str, ...] = (
    "Context",
    "Poller",
    "Again",
    "PUSH",
    "PULL",
    "REQ",
    "REP",
    "ROUTER",
    "DEALER",
    "POLLIN",
    "SNDHWM",
    "RCVHWM",
    "LINGER",
    "RCVTIMEO",
)
"""Module attributes the benchmark cases rely on (the pyzmq subset, nothing more)."""


def probe_worker(zmq: ModuleType, chan: Connection, params: dict[str, Any]) -> None:
    """Report the module's version strings and the missing API names."""
    missing = [name for name in REQUIRED_API if not hasattr(zmq, name)]
    version = str(getattr(zmq, "__version__", "unknown"))
    backend = ""
    zmq_version = getattr(zmq, "zmq_version", None)
    if callable(zmq_version):
        try:
            backend = str(zmq_version())
        except Exception as exc:  # informational only
            backend = f"zmq_version() failed: {exc}"
    report(chan, {"version": version, "backend": backend, "missing": missing})


def probe(impl: str) -> dict[str, Any]:
    """Import ``impl`` in a child; return its version info or raise :class:`BenchError`."""
    with Worker(f"{impl} probe", probe_worker, impl, {}) as worker:
        info: dict[str, Any] = worker.recv(START_TIMEOUT, "probe result")
    if info["missing"]:
        raise BenchError(f"{impl} lacks {', '.join(info['missing'])}")
    return info
