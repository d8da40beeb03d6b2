"""An edge-to-cloud telemetry link: PUB/SUB over mutual TLS, CURVE inside, reconnecting.

Edge devices sit behind NAT, so nothing can connect *to* them: they connect out. The
cloud's collector therefore binds and the devices connect, although the data flows
from the devices to the cloud. Either side of PUB/SUB may bind in ZeroMQ, so the cloud
binds a SUB and each device connects a PUB::

    edge-berlin (PUB) --connect--.
                                  >--- tls+tcp ---> cloud collector (SUB, binds)
    edge-oslo   (PUB) --connect--'

Two independent layers guard the link (defence in depth: breaking one is not enough):

* **TLS 1.3, mutually authenticated.** A private CA (made with ``securemq.pki``) issues
  the cloud's server certificate (SAN ``127.0.0.1``, the address the devices dial) and
  one client certificate per device. The cloud sets ``tls_require_client_cert``, so a
  peer without a certificate of that CA does not get past the TLS handshake, and both
  sides set ``tls_min_version`` to TLS 1.3.
* **CURVE inside TLS.** The cloud is the CURVE server, and the devices know its public
  key. A ``ThreadAuthenticator`` admits only the devices' enrolled CURVE keys
  (``configure_curve`` on an allow-list directory) *and*, with ``configure_tls``, only
  certificates issued by our CA: both policies must pass. The TLS policy maps the
  device's certificate to the User-Id of its messages (the certificate's common name),
  so the collector knows which device sent a sample from the message's ``User-Id``, not
  from anything the device wrote in it.

Then the cloud restarts: the collector's socket is closed, and a new one binds the same
port once every device has seen the link drop (``DISCONNECTED`` on its socket monitor)
and has tried, and failed, to reconnect (``CONNECT_RETRIED``). Each PUB reconnects by
itself, every ``reconnect_ivl`` milliseconds (doubling up to ``reconnect_ivl_max``); its
monitor reports ``HANDSHAKE_SUCCEEDED`` once TLS, CURVE and ZAP have all passed again,
and telemetry resumes with no reconnection code in the device. Heartbeats
(``heartbeat_ivl``, ``heartbeat_timeout``) are on at both ends: a closed socket is
noticed at once, as its TCP connection ends, but a link that dies silently (a NAT that
forgets the mapping, a pulled cable) only heartbeats can detect, within
``heartbeat_timeout``; the device then reconnects the same way.

What PUB/SUB delivers, with no acknowledgements:

* A PUB **drops** a message that no connected subscriber has asked for: the first
  samples of each device, sent before the collector's subscription reached it, are
  lost (the "slow joiner"), and so are those beyond the send high-water mark.
* A PUB that *connects* keeps its queue to the collector while the link is down
  (``immediate`` off, the default, as in libzmq): samples taken during the outage wait
  there, up to ``sndhwm``, and flow once the link is back.
* What was in flight when the old collector closed (sent, or received but not read yet)
  is lost with it. The devices number their samples, so the collector can count.

Run it with ``python examples/telemetry.py``.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import shutil
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import securemq as zmq
from securemq import pki
from securemq.auth.certs import create_certificates, load_certificate
from securemq.auth.thread import ThreadAuthenticator
from securemq.utils.monitor import recv_monitor_message

DEVICES = ["edge-berlin", "edge-oslo"]
SAMPLE_INTERVAL = 0.02  # seconds between two samples of one device
SAMPLES = 5  # per phase, the collector reads until each device has sent this many more
TOPIC = b"telemetry"
HEARTBEAT_IVL = 250  # ms of silence before a PING...
HEARTBEAT_TIMEOUT = 1000  # ...and how long an answer may take before the link is dead
WATCHED = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED
           | zmq.EVENT_CONNECT_RETRIED)

#: What a device reports to the main thread: its name, a monitor event, its last sample.
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


def secure(sock: zmq.Socket, root: Path, name: str) -> None:
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


def open_collector(ctx: zmq.Context, root: Path, endpoint: str) -> zmq.Socket:
    """The cloud's SUB: it binds, requires client certificates, and is the CURVE server."""
    sub = ctx.socket(zmq.SUB)
    secure(sub, root, "cloud")
    sub.rcvtimeo = 5000
    sub.tls_require_client_cert = True
    sub.curve_server = True
    sub.subscribe(TOPIC)
    sub.bind(endpoint)
    return sub


def edge_device(ctx: zmq.Context, root: Path, name: str, endpoint: str,
                stop: threading.Event, reports: queue.Queue[Report]) -> None:
    """Take a sample every SAMPLE_INTERVAL and publish it, until ``stop`` is set.

    The device has no code for the link: its PUB connects, reconnects, and queues or
    drops samples by itself. The monitor only tells the operator (and the main thread
    of this example) what happened.
    """
    with ctx.socket(zmq.PUB) as pub:
        secure(pub, root, name)
        pub.curve_serverkey, _ = load_certificate(root / "curve" / "cloud.key")
        pub.reconnect_ivl = 100  # retry a lost link after 100 ms,
        pub.reconnect_ivl_max = 1000  # then 200, 400... up to once a second
        pub.sndhwm = 1000  # samples kept while the link is down: 20 s at 50 per second
        monitor = pub.get_monitor_socket(WATCHED)
        try:
            pub.connect(endpoint)
            seq = 0
            down_since: int | None = None  # the last sample before the link went down
            next_sample = time.monotonic()
            while not stop.is_set():
                wait_ms = math.ceil(max(0.0, next_sample - time.monotonic()) * 1000)
                if monitor.poll(wait_ms):  # between two samples, watch the link
                    event = recv_monitor_message(monitor)
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
                    reports.put((name, what, seq))
                    continue
                seq += 1
                sample = {"seq": seq, "celsius": 18 + 3 * DEVICES.index(name) + seq % 7 / 10}
                pub.send_multipart([TOPIC, json.dumps(sample).encode()])
                next_sample += SAMPLE_INTERVAL
            print(f"{name}: stopped after {seq} samples")
        finally:
            pub.disable_monitor()
            monitor.close()


class LinkLog:
    """The devices' link events, as the main thread learns them from ``reports``."""

    def __init__(self) -> None:
        self.reports: queue.Queue[Report] = queue.Queue()
        self.events: dict[str, list[tuple[int, int]]] = {d: [] for d in DEVICES}

    def mark(self) -> dict[str, int]:
        """A point in every device's history, to wait for what comes after it."""
        return {device: len(events) for device, events in self.events.items()}

    def wait(self, wanted: int, since: dict[str, int], times: int = 1) -> dict[str, int]:
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
                device, event, seq = self.reports.get(timeout=5)
            except queue.Empty:
                late = sorted(set(DEVICES) - set(reached))
                raise SystemExit(f"{late}: no {zmq.Event(wanted).name} in 5 s") from None
            self.events[device].append((event, seq))


def collect(sub: zmq.Socket, received: dict[str, list[int]], until: dict[str, int]) -> None:
    """Receive samples until each device's sequence number reaches ``until``.

    The sender is the message's User-Id: the authenticator set it from the device's
    certificate during the handshake; a device cannot choose it.
    """
    while any(not seqs or seqs[-1] < until[d] for d, seqs in received.items()):
        _topic, body = sub.recv_multipart(copy=False)
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


def main() -> None:
    # The authenticator's audit log: one line per decision, naming both credentials.
    audit = logging.getLogger("securemq.auth.audit")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(
        "audit: ZAP %(zap_status)s for CURVE key %(zap_identity).8s... and certificate "
        "%(zap_tls_subject)s: %(zap_reason)s"))
    audit.addHandler(handler)
    audit.setLevel(logging.INFO)
    audit.propagate = False

    with tempfile.TemporaryDirectory() as tmp, zmq.Context() as ctx:
        root = Path(tmp)
        make_credentials(root)
        # Start the ZAP handler before the collector binds; leaving the block stops it.
        with ThreadAuthenticator(ctx) as auth:
            auth.configure_curve(domain="*", location=str(root / "enrolled"))
            auth.configure_tls("*", cas=str(root / "ca.crt"),
                               user_id=lambda peer: peer.common_names[0])

            cloud = open_collector(ctx, root, "tls+tcp://127.0.0.1:*")
            endpoint = cloud.last_endpoint.decode()
            print(f"cloud: collecting on {endpoint}")

            stop = threading.Event()
            links = LinkLog()
            devices = [threading.Thread(target=edge_device, args=(ctx, root, name, endpoint,
                                                                  stop, links.reports))
                       for name in DEVICES]
            for t in devices:
                t.start()
            received: dict[str, list[int]] = {device: [] for device in DEVICES}
            try:
                up = links.wait(zmq.EVENT_HANDSHAKE_SUCCEEDED, links.mark())
                collect(cloud, received, {d: seq + SAMPLES for d, seq in up.items()})
                before = {d: len(seqs) for d, seqs in received.items()}

                restart = links.mark()
                cloud.close()  # what it has not read yet is lost with it
                print("cloud: collector stopped (restart)")
                down = links.wait(zmq.EVENT_DISCONNECTED, restart)
                # CONNECT_RETRIED comes once after the disconnection, then after every
                # refused attempt: the second one means that a device tried in vain.
                links.wait(zmq.EVENT_CONNECT_RETRIED, restart, times=2)

                cloud = open_collector(ctx, root, endpoint)  # the same port
                print(f"cloud: collector back on {endpoint}")
                up = links.wait(zmq.EVENT_HANDSHAKE_SUCCEEDED, restart)
                collect(cloud, received, {d: seq + SAMPLES for d, seq in up.items()})
            finally:
                stop.set()
                for t in devices:
                    t.join()
                cloud.close()

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
    print(f"telemetry: {len(DEVICES)} devices reconnected by themselves "
          "and resumed after the cloud restart")


if __name__ == "__main__":
    main()
