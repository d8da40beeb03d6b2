"""A link cut between hosts, for real: a network namespace joined by a veth pair.

The subscriber on the "remote host" runs in its own network namespace; taking the veth
link down leaves its TCP connection open but silent, with no RST, exactly what a pulled
cable or a dead router does. Heartbeats must notice, the publisher must never block,
and a subscriber on the healthy side must lose nothing.

Needs root and iproute2; skipped with the reason otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import securemq as zmq
from securemq.utils.monitor import recv_monitor_message

pytestmark = pytest.mark.timeout(60)

HEARTBEAT = {"heartbeat_ivl": 100, "heartbeat_timeout": 600}


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def remote_host() -> Iterator[tuple[str, str, str]]:
    """A namespace linked to us by a veth pair: (namespace, our address, its address)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2")
    tag = f"{os.getpid() % 10000}"
    ns, host_if, ns_if = f"smq-{tag}", f"smqh{tag}", f"smqn{tag}"
    octet = 1 + os.getpid() % 250
    ours, theirs = f"10.213.{octet}.1", f"10.213.{octet}.2"
    try:
        _ip("netns", "add", ns)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot create a network namespace: {exc.stderr.decode().strip()}")
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", ns)
        _ip("addr", "add", f"{ours}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", ns, "addr", "add", f"{theirs}/30", "dev", ns_if)
        _ip("-n", ns, "link", "set", ns_if, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        yield ns, ours, host_if
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10,
                       check=False)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=10,
                       check=False)


_REMOTE_SUB = textwrap.dedent("""
    import sys
    import securemq as zmq
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.linger = 0
    sub.reconnect_ivl = 100
    sub.heartbeat_ivl = 100
    sub.heartbeat_timeout = 600
    sub.subscribe(b"")
    sub.connect(sys.argv[1])
    sub.recv()
    print("ready", flush=True)
    while True:
        sub.recv()
""")


def _wait_for(mon: Any, wanted: str, timeout_ms: int = 10_000) -> None:
    seen = []
    while True:
        assert mon.poll(timeout_ms), f"no {wanted}; saw {seen}"
        name = zmq.Event(recv_monitor_message(mon)["event"]).name
        seen.append(name)
        if name == wanted:
            return


def test_cut_link_is_detected_and_nobody_else_suffers(
        ctx: zmq.Context, remote_host: tuple[str, str, str]) -> None:
    ns, ours, host_if = remote_host
    pub = ctx.socket(zmq.PUB)
    pub.linger = 0
    pub.sndhwm = 0  # the healthy subscriber must not lose anything to a full queue
    for k, v in HEARTBEAT.items():
        setattr(pub, k, v)
    port = pub.bind_to_random_port(f"tcp://{ours}")
    endpoint = f"tcp://{ours}:{port}"
    mon = pub.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED)

    remote = subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-c", _REMOTE_SUB, endpoint],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    local = ctx.socket(zmq.SUB)
    local.linger = 0
    local.rcvhwm = 0
    local.rcvtimeo = 5000
    local.subscribe(b"")
    local.connect(endpoint)
    try:
        _wait_for(mon, "HANDSHAKE_SUCCEEDED")
        _wait_for(mon, "HANDSHAKE_SUCCEEDED")
        # Publish until both are receiving (the remote one says so on its stdout).
        ready = threading.Event()
        threading.Thread(target=lambda: (remote.stdout and remote.stdout.readline(),
                                         ready.set()), daemon=True).start()
        while not ready.wait(0.01):
            pub.send(b"warm-up")
        while local.poll(100):
            local.recv()

        _ip("link", "set", host_if, "down")  # the cable is pulled: no RST, no FIN
        # The publisher goes on at full speed: it must never block on the dead link...
        n = 20_000
        for i in range(n):
            pub.send(b"%d" % i)
        # ...the healthy subscriber gets every message, in order...
        for i in range(n):
            assert local.recv() == b"%d" % i
        # ...and the heartbeats drop the silent peer.
        _wait_for(mon, "DISCONNECTED")

        _ip("link", "set", host_if, "up")  # back: the remote subscriber reconnects
        _wait_for(mon, "HANDSHAKE_SUCCEEDED", timeout_ms=20_000)
    finally:
        remote.kill()
        remote.communicate(timeout=10)  # reaps it and closes its pipes
        mon.close()
        local.close()
        pub.close()
