"""End-to-end smoke tests: each transport moves messages both ways."""

from __future__ import annotations

import pytest

import securemq as zmq


@pytest.mark.parametrize("transport", ["tcp", "ipc", "inproc"])
def test_req_rep_roundtrip(ctx: zmq.Context, transport: str, ipc_path: str) -> None:
    rep = ctx.socket(zmq.REP)
    req = ctx.socket(zmq.REQ)
    rep.rcvtimeo = req.rcvtimeo = 5000
    if transport == "tcp":
        port = rep.bind_to_random_port("tcp://127.0.0.1")
        addr = f"tcp://127.0.0.1:{port}"
    elif transport == "ipc":
        rep.bind(ipc_path)
        addr = ipc_path
    else:
        addr = "inproc://smoke"
        rep.bind(addr)
    req.connect(addr)
    for i in range(5):
        req.send_multipart([b"hello", str(i).encode()])
        assert rep.recv_multipart() == [b"hello", str(i).encode()]
        rep.send(b"world")
        assert req.recv() == b"world"


def test_poller_wakes_on_arrival(ctx: zmq.Context) -> None:
    pull = ctx.socket(zmq.PULL)
    push = ctx.socket(zmq.PUSH)
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    push.connect(f"tcp://127.0.0.1:{port}")
    poller = zmq.Poller()
    poller.register(pull, zmq.POLLIN)
    assert poller.poll(50) == []
    push.send(b"x")
    assert poller.poll(5000) == [(pull, zmq.POLLIN)]
    assert pull.recv() == b"x"
