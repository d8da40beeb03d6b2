"""Shared fixtures: contexts that always clean up, free ports, temporary ipc paths."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

import securemq


@pytest.fixture
def ctx() -> Iterator[securemq.Context]:
    """A securemq context destroyed with linger 0 after the test."""
    c = securemq.Context()
    yield c
    c.destroy(linger=0)


@pytest.fixture
def zctx() -> Iterator[object]:
    """A pyzmq (libzmq) context for interop tests, destroyed with linger 0."""
    zmq = pytest.importorskip("zmq")
    c = zmq.Context()
    yield c
    c.destroy(linger=0)


@pytest.fixture
def ipc_path() -> Iterator[str]:
    """An ipc:// endpoint in a fresh temporary directory."""
    with tempfile.TemporaryDirectory(prefix="smq-") as d:
        yield "ipc://" + os.path.join(d, "sock")
