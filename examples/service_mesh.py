"""An authenticated service mesh: CURVE encryption, an allow-list of client keys, User-Ids.

Every party has its own CURVE key pair, saved as a certificate pair (``NAME.key``, the
public half you hand out, and ``NAME.key_secret``, which never leaves its owner):

* the *catalogue* service, a ROUTER with ``curve_server`` set: every connection to it is
  encrypted, and it proves its identity with its secret key;
* three client services, *orders*, *billing* and *shipping*, DEALERs that know the
  catalogue's public key (so they cannot be fooled by an impostor server);
* an *intruder* with a perfectly valid key pair that nobody has approved.

Who may connect is decided by a ZAP handler, here ``ThreadAuthenticator``: it allows
connections from 127.0.0.1 only, and admits a CURVE client only if its public
certificate is in the ``allowed/`` directory. The intruder is refused during the
handshake; its client socket reports ``HANDSHAKE_FAILED_AUTH`` with ZAP status 400 on
its monitor, and its message never reaches the catalogue.

For every admitted client the authenticator returns a User-Id (the client's public key
in Z85), which travels with each message. The catalogue reads it from the received
frames (``frame.get("User-Id")``, with ``copy=False``) and so knows which service is
asking, from its key, not from anything the client wrote in the message.

Run it with ``python examples/service_mesh.py``.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
import threading
from pathlib import Path

import securemq as zmq
from securemq.auth.certs import create_certificates, load_certificate, read_certificate
from securemq.auth.thread import ThreadAuthenticator
from securemq.utils.monitor import recv_monitor_message

CLIENTS = ["orders", "billing", "shipping"]
REQUESTS_PER_CLIENT = 2


def make_keys(root: Path) -> tuple[Path, Path]:
    """Create every party's certificates; copy the approved clients' public ones.

    Returns the directory of all certificates and the allow-list directory.
    """
    keys = root / "keys"  # in real life each party keeps its own secret file
    allowed = root / "allowed"  # the public certificates the catalogue trusts
    keys.mkdir()
    allowed.mkdir()
    for name in ["catalogue", *CLIENTS, "intruder"]:
        create_certificates(keys, name, {"service": name})
    for name in CLIENTS:  # approving a client = adding its public certificate
        shutil.copy(keys / f"{name}.key", allowed / f"{name}.key")
    return keys, allowed


def client(ctx: zmq.Context, endpoint: str, keys: Path, name: str) -> None:
    """A client service: connect with our own keys and ask the catalogue a few things."""
    server_public, _ = load_certificate(keys / "catalogue.key")
    public, secret = load_certificate(keys / f"{name}.key_secret")
    with ctx.socket(zmq.DEALER) as sock:
        sock.linger = 0
        sock.rcvtimeo = 5000
        sock.curve_serverkey = server_public  # whom we expect to reach
        sock.curve_publickey = public
        sock.curve_secretkey = secret
        sock.connect(endpoint)
        for i in range(REQUESTS_PER_CLIENT):
            sock.send_string(f"item-{i}")
            print(f"{name}: {sock.recv_string()}")


def serve(server: zmq.Socket, names: dict[str, str], count: int) -> None:
    """Answer ``count`` requests, naming each sender from its User-Id."""
    for _ in range(count):
        # copy=False gives Frame objects, which carry the connection's metadata.
        routing_id, request = server.recv_multipart(copy=False)
        user_id = request.get("User-Id")  # set by the authenticator, not by the client
        service = names.get(user_id, "unknown")
        item = request.bytes.decode()
        print(f"catalogue: {item!r} from {service} (User-Id {user_id[:8]}...)")
        server.send_multipart([routing_id, f"{item} is in stock, {service}".encode()])


def intruder(ctx: zmq.Context, endpoint: str, keys: Path, server: zmq.Socket) -> None:
    """Connect with a valid but unapproved key pair and watch the handshake fail."""
    server_public, _ = load_certificate(keys / "catalogue.key")
    public, secret = load_certificate(keys / "intruder.key_secret")
    with ctx.socket(zmq.DEALER) as sock:
        sock.linger = 0
        sock.curve_serverkey = server_public
        sock.curve_publickey = public
        sock.curve_secretkey = secret
        monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH)
        try:
            sock.connect(endpoint)
            sock.send_string("item-0")  # queued, waiting for a handshake that fails
            if not monitor.poll(5000):
                raise SystemExit("intruder: no HANDSHAKE_FAILED_AUTH event within 5 s")
            event = recv_monitor_message(monitor)
            print(f"intruder: refused, {zmq.Event(event['event']).name} "
                  f"with ZAP status {event['value']}")
        finally:
            sock.disable_monitor()
            monitor.close()
    if server.poll(300):
        raise SystemExit("catalogue: a message from the intruder got through!")
    print("catalogue: nothing from the intruder reached the service")


def main() -> None:
    # Show the authenticator's audit log: one line per decision.
    audit = logging.getLogger("securemq.auth.audit")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(
        "audit: ZAP %(zap_status)s for %(zap_mechanism)s key %(zap_identity).8s... "
        "from %(zap_address)s: %(zap_reason)s"))
    audit.addHandler(handler)
    audit.setLevel(logging.INFO)
    audit.propagate = False

    with tempfile.TemporaryDirectory() as tmp, zmq.Context() as ctx:
        keys, allowed = make_keys(Path(tmp))
        # The catalogue maps a User-Id (a Z85 public key) back to a service name, from
        # the metadata of the certificates it trusts.
        names = {}
        for path in allowed.glob("*.key"):
            cert = read_certificate(path)
            names[cert.public_key.decode()] = cert.metadata["service"]

        # Start the ZAP handler before any server socket exists (RFC 27). Leaving the
        # with block stops it.
        with ThreadAuthenticator(ctx) as auth:
            auth.allow("127.0.0.1")
            auth.configure_curve(domain="*", location=str(allowed))

            with ctx.socket(zmq.ROUTER) as server:
                server.linger = 0
                server.rcvtimeo = 5000
                server.curve_server = True
                server.curve_publickey, server.curve_secretkey = load_certificate(
                    keys / "catalogue.key_secret")
                port = server.bind_to_random_port("tcp://127.0.0.1")
                endpoint = f"tcp://127.0.0.1:{port}"
                print(f"catalogue: listening on {endpoint} (CURVE)")

                threads = [threading.Thread(target=client,
                                            args=(ctx, endpoint, keys, name))
                           for name in CLIENTS]
                for t in threads:
                    t.start()
                serve(server, names, len(CLIENTS) * REQUESTS_PER_CLIENT)
                for t in threads:
                    t.join()

                intruder(ctx, endpoint, keys, server)
        # Leaving the outer block terminates the context and deletes the certificates.
    print(f"service_mesh: {len(CLIENTS)} clients admitted, 1 refused")


if __name__ == "__main__":
    main()
