"""An edge-to-cloud telemetry link with asyncio: mutual TLS, CURVE inside, reconnecting.

The asyncio twin of ``examples/telemetry.py``; one event loop runs everything: the ZAP
handler (``AsyncioAuthenticator``, a task on the running loop), the cloud's collector,
and one task per edge device. The story is the same:

* Edge devices behind NAT connect out, so the cloud's SUB **binds** and each device's
  PUB **connects**, although the data flows from the devices to the cloud.
* **TLS 1.3, mutually authenticated**: a private CA from ``securemq.pki`` issues the
  cloud's server certificate (SAN ``127.0.0.1``) and a client certificate per device;
  the cloud sets ``tls_require_client_cert``, both ends ``tls_min_version``.
* **CURVE inside TLS**: the cloud is the CURVE server. The authenticator admits only
  enrolled CURVE keys (``configure_curve``) *and* only certificates issued by our CA
  (``configure_tls``), both policies must pass, and it maps the certificate to the
  message's User-Id (its common name): the collector learns which device sent a sample
  from the handshake, not from the sample.
* The cloud **restarts**: its SUB is closed and a new one binds the same port once each
  device's socket monitor has reported ``DISCONNECTED`` and a refused reconnection
  attempt (``CONNECT_RETRIED``). The PUBs reconnect by themselves (``reconnect_ivl``),
  report ``HANDSHAKE_SUCCEEDED``, and telemetry resumes. Heartbeats (``heartbeat_ivl``,
  ``heartbeat_timeout``) would also catch a link that dies silently.
* **What PUB/SUB delivers**: a PUB drops a sample no connected subscriber has asked
  for yet (the first ones, before the collector's subscription arrives); a PUB that
  connects keeps its queue while the link is down (``immediate`` off, as in libzmq), so
  samples taken during the outage arrive late, up to ``sndhwm``; and what the old
  collector had not read when it closed is lost. The samples are numbered, so the
  collector counts each case.

Two asyncio habits show: a device task waits on its monitor socket with an awaited
``poll`` between two samples, and the device tasks are stopped by cancellation (a
task cancelled in ``poll`` or ``send`` leaves its socket consistent, and the ``with``
block closes it).

Run it with ``python examples/asyncio/telemetry.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import shutil
import ssl
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import securemq as zmq
import securemq.asyncio as azmq
from securemq import pki
from securemq.auth.asyncio import AsyncioAuthenticator
from securemq.auth.certs import create_certificates, load_certificate
from securemq.utils.monitor import recv_monitor_message

DEVICES = ["edge-berlin", "edge-oslo"]
SAMPLE_INTERVAL = 0.02  # seconds between two samples of one device
SAMPLES = 5  # per phase, the collector reads until each device has sent this many more
TOPIC = b"telemetry"
HEARTBEAT_IVL = 250  # ms of silence before a PING...
HEARTBEAT_TIMEOUT = 1000  # ...and how long an answer may take before the link is dead
WATCHED = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED
           | zmq.EVENT_CONNECT_RETRIED)

#: What a device reports to the collector: its name, a monitor event, its last sample.
Report = tuple[str, int, int]


def make_credentials(root: Path) -> None:
    """A private CA, the cloud's server certificate, a client certificate per device,
    and everyone's CURVE key pair, in ``root``; the devices' public CURVE keys are
    enrolled in ``root/enrolled``. (In real life each party holds only its own secrets,
    and the CA's key stays offline.)"""
    ca = pki.create_ca("telemetry CA")
    pki.write_certificate(root / "ca.crt", ca.certificate)
    cloud = pki.issue_certificate(ca, "cloud", sans=["127.0.0.1"], role="server")
    pki.write_certified_key(cloud, root / "cloud.crt", root / "cloud.pem")
    for device in DEVICES:
        certified = pki.issue_certificate(ca, device, role="client")
        pki.write_certified_key(certified, root / f"{device}.crt", root / f"{device}.pem")
    (root / "curve").mkdir()
    (root / "enrolled").mkdir()
    for name in ["cloud", *DEVICES]:
        create_certificates(root / "curve", name)
    for device in DEVICES:  # enrolling a device = adding its public CURVE key
        shutil.copy(root / "curve" / f"{device}.key", root / "enrolled" / f"{device}.key")


def secure(sock: azmq.Socket, root: Path, name: str) -> None:
    """What both ends set: own certificate, our CA, TLS 1.3, heartbeats, CURVE keys."""
    sock.linger = 0
    sock.tls_ca = str(root / "ca.crt")  # the peer's certificate must come from our CA
    sock.tls_cert = str(root / f"{name}.crt")
    sock.tls_key = str(root / f"{name}.pem")
    sock.tls_min_version = ssl.TLSVersion.TLSv1_3
    sock.heartbeat_ivl = HEARTBEAT_IVL
    sock.heartbeat_timeout = HEARTBEAT_TIMEOUT
    sock.curve_publickey, sock.curve_secretkey = load_certificate(
        root / "curve" / f"{name}.key_secret")


def open_collector(ctx: azmq.Context, root: Path, endpoint: str) -> azmq.Socket:
    """The cloud's SUB: it binds, requires client certificates, and is the CURVE server."""
    sub: azmq.Socket = ctx.socket(zmq.SUB)
    secure(sub, root, "cloud")
    sub.tls_require_client_cert = True
    sub.curve_server = True
    sub.subscribe(TOPIC)
    sub.bind(endpoint)
    return sub


async def edge_device(ctx: azmq.Context, root: Path, name: str, endpoint: str,
                      reports: asyncio.Queue[Report]) -> None:
    """Take a sample every SAMPLE_INTERVAL and publish it, until cancelled.

    The device has no code for the link: its PUB connects, reconnects, and queues or
    drops samples by itself. The monitor only tells the operator (and the collector of
    this example) what happened.
    """
    loop = asyncio.get_running_loop()
    seq = 0
    with ctx.socket(zmq.PUB) as pub:
        secure(pub, root, name)
        pub.curve_serverkey, _ = load_certificate(root / "curve" / "cloud.key")
        pub.reconnect_ivl = 100  # retry a lost link after 100 ms,
        pub.reconnect_ivl_max = 1000  # then 200, 400... up to once a second
        pub.sndhwm = 1000  # samples kept while the link is down: 20 s at 50 per second
        monitor = pub.get_monitor_socket(WATCHED)
        try:
            pub.connect(endpoint)
            down_since: int | None = None  # the last sample before the link went down
            next_sample = loop.time()
            while True:
                wait_ms = math.ceil(max(0.0, next_sample - loop.time()) * 1000)
                if await monitor.poll(wait_ms):  # between two samples, watch the link
                    event = await recv_monitor_message(monitor)
                    what = zmq.Event(event["event"])
                    if what == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                        queued = "" if down_since is None else \
                            f", sending the {seq - down_since} samples queued meanwhile"
                        print(f"{name}: link up, TLS 1.3 and CURVE ({what.name}){queued}")
                        down_since = None
                    elif what == zmq.EVENT_DISCONNECTED:
                        print(f"{name}: link down ({what.name}), still sampling")
                        down_since = seq
                    elif down_since is not None:  # (quiet while connecting the first time)
                        print(f"{name}: next attempt in {event['value']} ms ({what.name})")
                    reports.put_nowait((name, what, seq))
                    continue
                seq += 1
                sample = {"seq": seq, "celsius": 18 + 3 * DEVICES.index(name) + seq % 7 / 10}
                # Never waits: a PUB queues the sample or drops it.
                await pub.send_multipart([TOPIC, json.dumps(sample).encode()])
                next_sample += SAMPLE_INTERVAL
        finally:
            pub.disable_monitor()
            monitor.close()
            print(f"{name}: stopped after {seq} samples")


class LinkLog:
    """The devices' link events, as the collector learns them from ``reports``."""

    def __init__(self) -> None:
        self.reports: asyncio.Queue[Report] = asyncio.Queue()
        self.events: dict[str, list[tuple[int, int]]] = {d: [] for d in DEVICES}

    def mark(self) -> dict[str, int]:
        """A point in every device's history, to wait for what comes after it."""
        return {device: len(events) for device, events in self.events.items()}

    async def wait(self, wanted: int, since: dict[str, int], times: int = 1
                   ) -> dict[str, int]:
        """Wait until every device has reported ``wanted`` ``times`` times after
        ``since``; return the sequence number each device had reached by then."""
        while True:
            reached = {}
            for device, events in self.events.items():
                seqs = [seq for event, seq in events[since[device]:] if event == wanted]
                if len(seqs) >= times:
                    reached[device] = seqs[times - 1]
            if len(reached) == len(DEVICES):
                return reached
            try:
                device, event, seq = await asyncio.wait_for(self.reports.get(), timeout=5)
            except asyncio.TimeoutError:
                late = sorted(set(DEVICES) - set(reached))
                raise SystemExit(f"{late}: no {zmq.Event(wanted).name} in 5 s") from None
            self.events[device].append((event, seq))


async def collect(sub: azmq.Socket, received: dict[str, list[int]],
                  until: dict[str, int]) -> None:
    """Receive samples until each device's sequence number reaches ``until``.

    The sender is the message's User-Id: the authenticator set it from the device's
    certificate during the handshake; a device cannot choose it.
    """
    while any(not seqs or seqs[-1] < until[d] for d, seqs in received.items()):
        _topic, body = await asyncio.wait_for(sub.recv_multipart(copy=False), timeout=5)
        device = body.get("User-Id")
        sample = json.loads(body.bytes)
        if not received[device]:
            print(f"cloud: first sample from {device}: #{sample['seq']}, "
                  f"{sample['celsius']:.1f} C")
        received[device].append(sample["seq"])


def numbers(seqs: Sequence[int]) -> str:
    """Sample numbers for people: "none", "#4", "#1 to #3" or "#4, #9"."""
    if not seqs:
        return "none"
    if len(seqs) > 1 and seqs[-1] - seqs[0] == len(seqs) - 1:
        return f"#{seqs[0]} to #{seqs[-1]}"
    return ", ".join(f"#{seq}" for seq in seqs)


async def main_async() -> None:
    # The authenticator's audit log: one line per decision, naming both credentials.
    audit = logging.getLogger("securemq.auth.audit")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(
        "audit: ZAP %(zap_status)s for CURVE key %(zap_identity).8s... and certificate "
        "%(zap_tls_subject)s: %(zap_reason)s"))
    audit.addHandler(handler)
    audit.setLevel(logging.INFO)
    audit.propagate = False

    ctx = azmq.Context()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_credentials(root)
        auth = AsyncioAuthenticator(ctx)
        auth.start()  # needs the running loop: its task answers ZAP requests
        auth.configure_curve(domain="*", location=str(root / "enrolled"))
        auth.configure_tls("*", cas=str(root / "ca.crt"),
                           user_id=lambda peer: peer.common_names[0])
        cloud = open_collector(ctx, root, "tls+tcp://127.0.0.1:*")
        endpoint = cloud.last_endpoint.decode()
        print(f"cloud: collecting on {endpoint}")

        links = LinkLog()
        devices = [asyncio.create_task(edge_device(ctx, root, name, endpoint, links.reports))
                   for name in DEVICES]
        received: dict[str, list[int]] = {device: [] for device in DEVICES}
        try:
            up = await links.wait(zmq.EVENT_HANDSHAKE_SUCCEEDED, links.mark())
            await collect(cloud, received, {d: seq + SAMPLES for d, seq in up.items()})
            before = {d: len(seqs) for d, seqs in received.items()}

            restart = links.mark()
            cloud.close()  # what it has not read yet is lost with it
            print("cloud: collector stopped (restart)")
            down = await links.wait(zmq.EVENT_DISCONNECTED, restart)
            # CONNECT_RETRIED comes once after the disconnection, then after every
            # refused attempt: the second one means that a device tried in vain.
            await links.wait(zmq.EVENT_CONNECT_RETRIED, restart, times=2)

            cloud = open_collector(ctx, root, endpoint)  # the same port
            print(f"cloud: collector back on {endpoint}")
            up = await links.wait(zmq.EVENT_HANDSHAKE_SUCCEEDED, restart)
            await collect(cloud, received, {d: seq + SAMPLES for d, seq in up.items()})
        finally:
            for task in devices:
                task.cancel()
            await asyncio.gather(*devices, return_exceptions=True)  # they close sockets
            cloud.close()
            auth.stop()
    ctx.term()

    for device, seqs in received.items():
        got = set(seqs)
        outage = range(down[device] + 1, up[device] + 1)  # samples taken while down
        late = sum(seq in got for seq in outage)
        lost = [seq for seq in range(seqs[0], seqs[-1]) if seq not in got]
        print(f"cloud: {device}: {before[device]} samples before the restart, "
              f"{len(seqs) - before[device]} after ({late} of the {len(outage)} taken "
              f"while the link was down); dropped by PUB before our subscription "
              f"reached it: {numbers(range(1, seqs[0]))}; lost in the restart: "
              f"{numbers(lost)}")
        if len(seqs) - before[device] < SAMPLES:
            raise SystemExit(f"{device}: telemetry did not resume")
    print(f"telemetry (asyncio): {len(DEVICES)} devices reconnected by themselves "
          "and resumed after the cloud restart")


def main() -> None:
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
